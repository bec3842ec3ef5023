//! Email: inbound mail read by mail-parser and threaded onto its ticket, and agents' replies
//! sent through SMTP (lettre) with the headers that thread them in the player's mailbox.
//!
//! Inbound, a message joins the ticket whose sent or received mail it answers (In-Reply-To,
//! then References), or the ticket whose token (`[#1042]`) its subject carries when it comes
//! from that ticket's requester; otherwise it opens a ticket, for the player with that address
//! if there is one. A reply to a closed ticket opens a follow-up. A message seen before (by its
//! Message-ID) is not added twice. What cannot become a ticket message (unreadable, too large,
//! no sender, an auto-reply, a bounce, our own mail come back) is quarantined with the reason,
//! for an operator to see: nothing is dropped unseen.
//!
//! Outbound, a public reply on an email ticket is queued in its transaction with its
//! Message-ID, In-Reply-To and References, and `helpdesk.mail.due` goes on the outbox; the
//! consumer sends it outside any transaction and records the outcome, and a failed try is
//! retried from a timer (kind [`RETRY_TIMER`]) with a growing pause, up to [`MAX_ATTEMPTS`]
//! tries, after which the ticket gets a note saying the mail could not be delivered.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mail_parser::{MessageParser, MimeHeaders};
use pitboss_bus::{BusError, Handler, Message};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::config::DeskConfig;
use crate::error::HelpdeskError;
use crate::tickets::{self, Channel, MessageKind, NewTicket, Status, Ticket, TicketMessage};

/// The largest inbound message taken.
pub const MAX_MAIL_BYTES: usize = 10 * 1024 * 1024;
/// How much of a quarantined message is kept to look at.
const EXCERPT_BYTES: usize = 64 * 1024;

/// The outbox topic that asks the consumer to send one queued reply.
pub const MAIL_DUE: &str = "helpdesk.mail.due";
/// Retries of failed sends.
pub const RETRY_TIMER: &str = "helpdesk.mail";
/// Tries before a reply is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// The consumer's name on the bus.
pub const CONSUMER: &str = "helpdesk-mail";

/// An attachment as read: kept on the ticket, or refused with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub size: usize,
    pub refused: Option<String>,
    /// The bytes, for a file that is kept.
    pub content: Vec<u8>,
}

/// An inbound message, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    pub message_id: Option<String>,
    /// The ids it answers: In-Reply-To first, then References, newest first.
    pub answers: Vec<String>,
    /// The sender's address, lower-cased.
    pub from: String,
    pub from_name: Option<String>,
    pub subject: String,
    /// The text: the plain part, or the HTML part turned into text (scripts and styles dropped).
    pub body: String,
    pub attachments: Vec<Attachment>,
}

/// Reads a raw message from `ours` (our own sending address) point of view; the reason it
/// cannot become a ticket message otherwise.
pub fn read(raw: &[u8], ours: &str) -> Result<InboundMail, String> {
    if raw.len() > MAX_MAIL_BYTES {
        return Err(format!("too large: {} bytes, at most {MAX_MAIL_BYTES}", raw.len()));
    }
    let message = MessageParser::default().parse(raw).ok_or("not an email message: no headers could be read")?;
    let sender = message.from().and_then(|a| a.first());
    let from = sender.and_then(|a| a.address()).map(|a| a.trim().to_lowercase()).filter(|a| a.contains('@'));
    let Some(from) = from else { return Err("no sender address (From)".into()) };
    if from == ours.to_lowercase() {
        return Err("a mail loop: it comes from the help desk's own address".into());
    }
    let local = from.split('@').next().unwrap_or_default();
    if ["mailer-daemon", "postmaster"].contains(&local) || message.return_address() == Some("") {
        return Err("a bounce (delivery status notification)".into());
    }
    let header = |name: &str| message.header_raw(name).map(|v| v.trim().to_lowercase());
    if let Some(auto) = header("Auto-Submitted").filter(|v| v != "no") {
        return Err(format!("an automatic reply (Auto-Submitted: {auto})"));
    }
    if let Some(precedence) =
        header("Precedence").filter(|v| ["bulk", "junk", "list", "auto_reply"].contains(&v.as_str()))
    {
        return Err(format!("an automatic or bulk message (Precedence: {precedence})"));
    }
    if header("X-Autoreply").is_some() || header("X-Autorespond").is_some() {
        return Err("an automatic reply (X-Autoreply)".into());
    }
    let ids = |v: &mail_parser::HeaderValue| -> Vec<String> {
        v.as_text_list().map(|l| l.iter().map(|s| s.trim().to_string()).collect()).unwrap_or_default()
    };
    let mut answers = ids(message.in_reply_to());
    let mut references = ids(message.references());
    references.reverse();
    answers.extend(references);
    answers.dedup();
    let body = message.body_text(0).map(|b| b.trim().to_string()).unwrap_or_default();
    let attachments = message
        .attachments()
        .map(|part| {
            let name = part.attachment_name().unwrap_or("unnamed").to_string();
            let content_type = part
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream")))
                .unwrap_or_else(|| "application/octet-stream".into());
            let size = part.contents().len();
            let refused = crate::attachments::refusal(&name, size);
            let content = if refused.is_none() { part.contents().to_vec() } else { Vec::new() };
            Attachment { name, content_type, size, refused, content }
        })
        .collect::<Vec<_>>();
    if body.is_empty() && attachments.is_empty() {
        return Err("no text and no attachment".into());
    }
    Ok(InboundMail {
        message_id: message.message_id().map(|id| id.trim().to_string()).filter(|id| !id.is_empty()),
        answers,
        from,
        from_name: sender.and_then(|a| a.name()).map(str::to_string),
        subject: message.subject().map(str::trim).filter(|s| !s.is_empty()).unwrap_or("(no subject)").to_string(),
        body,
        attachments,
    })
}

impl InboundMail {
    /// The message as the ticket keeps it: the text, then what became of each attachment.
    pub fn text(&self) -> String {
        let mut text = if self.body.is_empty() { "(no text)".to_string() } else { self.body.clone() };
        if !self.attachments.is_empty() {
            text.push_str("\n\nAttachments:");
            for a in &self.attachments {
                let state = a.refused.as_deref().map_or_else(|| "received".to_string(), |r| format!("refused: {r}"));
                text.push_str(&format!("\n- {} ({}, {} bytes): {state}", a.name, a.content_type, a.size));
            }
        }
        if text.len() > tickets::MAX_BODY {
            let mut cut = tickets::MAX_BODY - 100;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("\n\n[the message was longer; the rest was cut]");
        }
        text
    }
}

/// What became of an inbound message.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A new ticket (or a follow-up of a closed one).
    Opened(Ticket),
    /// Added to an open ticket.
    Added(Ticket),
    /// This message was taken before; nothing changed.
    Duplicate(Uuid),
    /// Set aside, with the reason.
    Quarantined { id: Uuid, reason: String },
}

/// Takes one inbound message: threads it onto its ticket, opens one, or quarantines it.
pub async fn receive(
    tx: &mut Tx,
    desk: &DeskConfig,
    raw: &[u8],
    now: DateTime<Utc>,
) -> Result<Received, HelpdeskError> {
    let ours = desk.mail_from.email.to_string();
    let mail = match read(raw, &ours) {
        Ok(mail) => mail,
        Err(reason) => return quarantine(tx, raw, &reason, now).await,
    };
    if let Some(id) = &mail.message_id
        && let Some(ticket) = ticket_of_message(tx, std::slice::from_ref(id)).await?
    {
        return Ok(Received::Duplicate(ticket));
    }
    let threaded = match ticket_of_message(tx, &mail.answers).await? {
        Some(id) => Some(id),
        None => by_token(tx, &mail).await?,
    };
    let text = mail.text();
    if let Some(id) = threaded {
        let ticket = tickets::get_in(tx, id).await?;
        if ticket.status != Status::Closed {
            let (ticket, message) =
                tickets::player_message(tx, desk, id, MessageKind::Player, &text, mail.message_id.as_deref(), now)
                    .await?;
            keep_files(tx, &mail, ticket.id, Some(message.id), now).await?;
            return Ok(Received::Added(ticket));
        }
        let follow_up = format!("{text}\n\n(A reply to the closed ticket #{}.)", ticket.number);
        return open(tx, desk, &mail, &follow_up, now).await;
    }
    open(tx, desk, &mail, &text, now).await
}

async fn open(
    tx: &mut Tx,
    desk: &DeskConfig,
    mail: &InboundMail,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Received, HelpdeskError> {
    let player_id: Option<Uuid> =
        tx!(tx, |c| sqlx::query_scalar("SELECT id FROM players WHERE email = $1 ORDER BY registered_at LIMIT 1")
            .bind(&mail.from)
            .fetch_optional(c)
            .await)?;
    let player = match player_id {
        Some(id) => Some(pitboss_players::get_in(tx, id).await?),
        None => None,
    };
    let new = NewTicket {
        subject: mail.subject.chars().take(tickets::MAX_SUBJECT).collect(),
        player,
        requester: mail.from.clone(),
        channel: Channel::Email,
        priority: crate::Priority::Normal,
        tags: Vec::new(),
        body: text.to_string(),
        first_kind: MessageKind::Player,
        author: mail.from.clone(),
        received_at: None,
        email_message_id: mail.message_id.clone(),
        language: None,
    };
    let ticket = tickets::create(tx, desk, &new, &mail.from, now).await?;
    let first: Option<Uuid> = tx!(tx, |c| sqlx::query_scalar(
        "SELECT id FROM ticket_messages WHERE ticket_id = $1 ORDER BY created_at, id LIMIT 1"
    )
    .bind(ticket.id)
    .fetch_optional(c)
    .await)?;
    keep_files(tx, mail, ticket.id, first, now).await?;
    Ok(Received::Opened(ticket))
}

/// Keeps the mail's accepted attachments on the ticket, with the message they came with.
async fn keep_files(
    tx: &mut Tx,
    mail: &InboundMail,
    ticket: Uuid,
    message: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), HelpdeskError> {
    for a in mail.attachments.iter().filter(|a| a.refused.is_none() && !a.content.is_empty()) {
        let file = crate::attachments::NewFile { name: &a.name, content_type: &a.content_type, content: &a.content };
        crate::attachments::add(tx, ticket, message, &file, &mail.from, now).await?;
    }
    Ok(())
}

/// The ticket one of these Message-IDs was sent or received on.
async fn ticket_of_message(tx: &mut Tx, ids: &[String]) -> Result<Option<Uuid>, HelpdeskError> {
    for id in ids.iter().take(20) {
        let found: Option<Uuid> = tx!(tx, |c| sqlx::query_scalar(
            "SELECT ticket_id FROM ticket_messages WHERE email_message_id = $1 ORDER BY created_at LIMIT 1"
        )
        .bind(id.as_str())
        .fetch_optional(c)
        .await)?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The ticket whose token (`[#1042]`) the subject carries, if the mail comes from its
/// requester: a token alone is easy to guess, so a stranger's mail opens a ticket of its own.
async fn by_token(tx: &mut Tx, mail: &InboundMail) -> Result<Option<Uuid>, HelpdeskError> {
    let Some(number) = token_number(&mail.subject) else { return Ok(None) };
    let found: Option<(Uuid, String)> =
        tx!(tx, |c| sqlx::query_as("SELECT id, requester FROM tickets WHERE number = $1")
            .bind(number)
            .fetch_optional(c)
            .await)?;
    Ok(found.filter(|(_, requester)| requester.eq_ignore_ascii_case(&mail.from)).map(|(id, _)| id))
}

/// The number in a subject's `[#1042]`.
fn token_number(subject: &str) -> Option<i64> {
    let start = subject.find("[#")? + 2;
    let end = subject[start..].find(']')? + start;
    subject[start..end].parse().ok()
}

async fn quarantine(tx: &mut Tx, raw: &[u8], reason: &str, now: DateTime<Utc>) -> Result<Received, HelpdeskError> {
    let headers = MessageParser::default().parse_headers(raw);
    let sender = headers
        .as_ref()
        .and_then(|m| m.from().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_string))
        .unwrap_or_default();
    let subject = headers.as_ref().and_then(|m| m.subject().map(str::to_string)).unwrap_or_default();
    let mut cut = raw.len().min(EXCERPT_BYTES);
    let excerpt = loop {
        match std::str::from_utf8(&raw[..cut]) {
            Ok(s) => break s.to_string(),
            Err(e) if e.valid_up_to() > 0 && e.error_len().is_none() => cut = e.valid_up_to(),
            Err(_) => break String::from_utf8_lossy(&raw[..cut]).into_owned(),
        }
    };
    let id = new_id();
    exec!(
        tx,
        "INSERT INTO helpdesk_quarantine (id, received_at, sender, subject, reason, size, excerpt) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id,
        to_micros(now),
        sender.chars().take(300).collect::<String>(),
        subject.chars().take(300).collect::<String>(),
        reason,
        raw.len() as i64,
        excerpt.replace('\0', ""),
    )?;
    tracing::warn!(%id, reason, "inbound mail quarantined");
    Ok(Received::Quarantined { id, reason: reason.to_string() })
}

/// A quarantined message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Quarantined {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    pub sender: String,
    pub subject: String,
    pub reason: String,
    pub size: i64,
}

/// The quarantined messages, newest first.
pub async fn quarantined(db: &Db, limit: u32, offset: u32) -> Result<Vec<Quarantined>, HelpdeskError> {
    let rows: Vec<(Uuid, i64, String, String, String, i64)> = db!(db, |c| {
        sqlx::query_as(
        "SELECT id, received_at, sender, subject, reason, size FROM helpdesk_quarantine ORDER BY received_at DESC, id \
         LIMIT $1 OFFSET $2"
    )
    .bind(i64::from(limit.clamp(1, 500)))
    .bind(i64::from(offset))
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(id, at, sender, subject, reason, size)| Quarantined {
            id,
            received_at: from_micros(at),
            sender,
            subject,
            reason,
            size,
        })
        .collect())
}

/// Queues an agent's public reply on an email ticket: its Message-ID (kept on the message),
/// threading headers from the ticket's mail, and `helpdesk.mail.due` on the outbox.
pub(crate) async fn queue_reply(
    tx: &mut Tx,
    desk: &DeskConfig,
    ticket: &Ticket,
    reply: &TicketMessage,
    now: DateTime<Utc>,
) -> Result<(), HelpdeskError> {
    if ticket.channel != Channel::Email || reply.kind != MessageKind::Reply || !ticket.requester.contains('@') {
        return Ok(());
    }
    let thread: Vec<(String, String)> = tx!(tx, |c| sqlx::query_as(
        "SELECT email_message_id, kind FROM ticket_messages WHERE ticket_id = $1 AND email_message_id IS NOT NULL \
         ORDER BY created_at, id"
    )
    .bind(ticket.id)
    .fetch_all(c)
    .await)?;
    let in_reply_to =
        thread.iter().rev().find(|(_, kind)| kind == MessageKind::Player.as_str()).map(|(id, _)| id.clone());
    let references: Vec<String> = thread.iter().rev().take(20).rev().map(|(id, _)| id.clone()).collect();
    let domain = desk.mail_from.email.domain().to_string();
    let message_id = format!("{}@{domain}", reply.id.simple());
    let subject = match ticket.subject.to_lowercase().starts_with("re:") {
        true => format!("{} {}", ticket.subject, ticket.token()),
        false => format!("Re: {} {}", ticket.subject, ticket.token()),
    };
    let body = format!(
        "{}\n\n--\nTicket {} · answer this email to reply; please keep the subject as it is.",
        reply.body,
        ticket.token()
    );
    exec!(tx, "UPDATE ticket_messages SET email_message_id = $1 WHERE id = $2", message_id.as_str(), reply.id)?;
    let id = reply.id;
    exec!(
        tx,
        "INSERT INTO ticket_mail_out (id, ticket_id, to_address, subject, body, message_id, in_reply_to, references_ids, \
         state, attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9)",
        id,
        ticket.id,
        ticket.requester.as_str(),
        subject,
        body,
        message_id.as_str(),
        in_reply_to,
        serde_json::to_string(&references).unwrap_or_else(|_| "[]".into()),
        to_micros(now),
    )?;
    // The files agents added since the last reply go out with this one.
    exec!(
        tx,
        "UPDATE ticket_attachments SET message_id = $1 WHERE ticket_id = $2 AND message_id IS NULL",
        id,
        ticket.id,
    )?;
    due(tx, id, now).await
}

async fn due(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<(), HelpdeskError> {
    let payload = serde_json::json!({ "type": MAIL_DUE, "mail_id": id }).to_string();
    let message = Message { id: new_id(), topic: MAIL_DUE.into(), key: id.to_string(), payload };
    pitboss_bus::outbox::enqueue(tx, &message, to_micros(now)).await?;
    Ok(())
}

/// An outgoing reply and how its sending went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OutboundMail {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub to_address: String,
    pub subject: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    #[serde(skip)]
    pub body: String,
}

/// A ticket's outgoing mail, oldest first.
pub async fn outbound(db: &Db, ticket: Uuid) -> Result<Vec<OutboundMail>, HelpdeskError> {
    let rows: Vec<OutRow> =
        db!(db, |c| sqlx::query_as(&format!("{OUT} WHERE ticket_id = $1 ORDER BY created_at, id"))
            .bind(ticket)
            .fetch_all(c)
            .await)?;
    Ok(rows.into_iter().map(out_from_row).collect())
}

const OUT: &str = "SELECT id, ticket_id, to_address, subject, body, message_id, in_reply_to, references_ids, state, \
                   attempts, last_error FROM ticket_mail_out";
type OutRow = (Uuid, Uuid, String, String, String, String, Option<String>, String, String, i64, Option<String>);

fn out_from_row(r: OutRow) -> OutboundMail {
    let (id, ticket_id, to_address, subject, body, message_id, in_reply_to, references, state, attempts, last_error) =
        r;
    OutboundMail {
        id,
        ticket_id,
        to_address,
        subject,
        message_id,
        in_reply_to,
        references: serde_json::from_str(&references).unwrap_or_default(),
        state,
        attempts,
        last_error,
        body,
    }
}

/// Sends the help desk's mail.
pub struct MailSender {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl MailSender {
    /// A sender through `smtp_url` (`smtp://host:port`, `smtps://...`), if mail is configured.
    pub fn new(smtp_url: Option<&str>, from: Mailbox) -> Result<MailSender, HelpdeskError> {
        let smtp = match smtp_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| HelpdeskError::invalid("smtp_url", e.to_string()))?
                    .timeout(Some(std::time::Duration::from_secs(10)))
                    .build(),
            ),
            None => None,
        };
        Ok(MailSender { smtp, from })
    }

    async fn send(&self, mail: &OutboundMail, files: &[(crate::attachments::FileInfo, Vec<u8>)]) -> Result<(), String> {
        let Some(smtp) = &self.smtp else { return Err("no SMTP server is configured (setting smtp_url)".into()) };
        let to: Mailbox = mail.to_address.parse().map_err(|e| format!("{}: {e}", mail.to_address))?;
        let angle = |id: &str| format!("<{}>", id.trim_matches(['<', '>']));
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(angle(&mail.message_id)));
        if let Some(parent) = &mail.in_reply_to {
            builder = builder.in_reply_to(angle(parent));
        }
        if !mail.references.is_empty() {
            builder = builder.references(mail.references.iter().map(|r| angle(r)).collect::<Vec<_>>().join(" "));
        }
        let message = if files.is_empty() {
            builder.header(ContentType::TEXT_PLAIN).body(mail.body.clone())
        } else {
            let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(mail.body.clone()));
            for (file, bytes) in files {
                let kind = ContentType::parse(&file.content_type)
                    .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("a valid type"));
                parts = parts.singlepart(lettre::message::Attachment::new(file.name.clone()).body(bytes.clone(), kind));
            }
            builder.multipart(parts)
        }
        .map_err(|e| e.to_string())?;
        smtp.send(message).await.map(|_| ()).map_err(|e| format!("SMTP: {e}"))
    }
}

/// Sends one queued reply if it is still pending, and records the outcome: sent; or a failed
/// try, retried later, or given up after [`MAX_ATTEMPTS`] with a note on the ticket.
pub async fn deliver(db: &Db, sender: &MailSender, id: Uuid, now: DateTime<Utc>) -> Result<(), HelpdeskError> {
    let row: Option<OutRow> =
        db!(db, |c| sqlx::query_as(&format!("{OUT} WHERE id = $1")).bind(id).fetch_optional(c).await)?;
    let Some(mail) = row.map(out_from_row) else { return Ok(()) };
    if mail.state != "pending" {
        return Ok(());
    }
    let files = crate::attachments::of_message(db, mail.ticket_id, mail.id).await?;
    let outcome = sender.send(&mail, &files).await;
    let mut tx = db.begin().await?;
    match outcome {
        Ok(()) => {
            exec!(
                &mut tx,
                "UPDATE ticket_mail_out SET state = 'sent', attempts = attempts + 1, last_error = NULL, sent_at = $1 \
                 WHERE id = $2 AND state = 'pending'",
                to_micros(now),
                id,
            )?;
        }
        Err(error) => {
            let attempts = mail.attempts + 1;
            let given_up = attempts >= MAX_ATTEMPTS;
            exec!(
                &mut tx,
                "UPDATE ticket_mail_out SET state = $1, attempts = $2, last_error = $3 WHERE id = $4 AND state = 'pending'",
                if given_up { "failed" } else { "pending" },
                attempts,
                error.as_str(),
                id,
            )?;
            if given_up {
                let note =
                    format!("The reply to {} could not be delivered after {attempts} tries: {error}", mail.to_address);
                tickets::add_message(&mut tx, mail.ticket_id, MessageKind::Note, "mail", &note, None, now).await?;
            } else {
                // One minute, then doubling, up to four hours.
                let pause = Duration::minutes((1_i64 << (attempts - 1).clamp(0, 8)).min(240));
                let due_at = to_micros(now + pause);
                pitboss_bus::timers::set(&mut tx, RETRY_TIMER, &id.to_string(), due_at, to_micros(now)).await?;
            }
            tracing::warn!(%id, attempts, %error, "a reply could not be sent");
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Sends queued replies as `helpdesk.mail.due` arrives.
pub struct MailConsumer {
    db: Db,
    sender: Arc<MailSender>,
}

impl MailConsumer {
    pub fn new(db: Db, sender: Arc<MailSender>) -> Arc<MailConsumer> {
        Arc::new(MailConsumer { db, sender })
    }
}

#[async_trait]
impl Handler for MailConsumer {
    async fn handle(&self, message: &Message) -> Result<(), BusError> {
        if message.topic != MAIL_DUE {
            return Ok(());
        }
        let failed = |reason: String| BusError::Handler { consumer: CONSUMER.into(), message: message.id, reason };
        let body: serde_json::Value = serde_json::from_str(&message.payload).map_err(|e| failed(e.to_string()))?;
        let Some(id) = body["mail_id"].as_str().and_then(|v| v.parse::<Uuid>().ok()) else {
            return Err(failed(format!("the message names no mail: {}", message.payload)));
        };
        deliver(&self.db, &self.sender, id, Utc::now()).await.map_err(|e| failed(e.to_string()))
    }
}

/// Fires the retry timers: each puts its mail back on the outbox for the consumer.
pub struct MailRetries;

#[async_trait]
impl pitboss_bus::timers::TimerHandler for MailRetries {
    async fn fire(&self, tx: &mut Tx, keys: &[String], now: i64) -> Result<(), BusError> {
        for key in keys {
            let Ok(id) = key.parse::<Uuid>() else { continue };
            due(tx, id, from_micros(now)).await.map_err(|e| BusError::Handler {
                consumer: RETRY_TIMER.into(),
                message: id,
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "support@casino.test";

    fn mail(headers: &str, body: &str) -> Vec<u8> {
        format!("{headers}\r\n\r\n{body}").into_bytes()
    }

    #[test]
    fn a_reply_is_read_with_its_thread() {
        let raw = mail(
            "From: Ann Player <Ann@Example.com>\r\nTo: support@casino.test\r\nSubject: Re: Withdrawal [#1042]\r\n\
             Message-ID: <m2@example.com>\r\nIn-Reply-To: <r1@casino.test>\r\nReferences: <m1@example.com> <r1@casino.test>",
            "Still nothing.\r\n",
        );
        let m = read(&raw, OURS).unwrap();
        assert_eq!(m.from, "ann@example.com");
        assert_eq!(m.from_name.as_deref(), Some("Ann Player"));
        assert_eq!(m.message_id.as_deref(), Some("m2@example.com"));
        assert_eq!(m.answers, vec!["r1@casino.test", "m1@example.com"]);
        assert_eq!(m.body, "Still nothing.");
        assert_eq!(token_number(&m.subject), Some(1042));
    }

    #[test]
    fn html_is_read_as_text_without_its_scripts() {
        let raw = mail(
            "From: a@example.com\r\nSubject: Hi\r\nContent-Type: text/html",
            "<p>Hello <b>there</b></p><script>alert('x')</script>",
        );
        let m = read(&raw, OURS).unwrap();
        assert!(m.body.contains("Hello") && m.body.contains("there"), "{}", m.body);
        assert!(!m.body.contains("alert"), "{}", m.body);
    }

    #[test]
    fn what_cannot_become_a_message_says_why() {
        let reason = |raw: Vec<u8>| read(&raw, OURS).unwrap_err();
        assert!(
            reason(b"\x00\x01\x02".to_vec()).contains("sender") || reason(b"\x00\x01\x02".to_vec()).contains("headers")
        );
        assert!(reason(mail("Subject: x", "body")).contains("no sender"));
        assert!(reason(mail("From: support@casino.test\r\nSubject: x", "body")).contains("loop"));
        assert!(reason(mail("From: MAILER-DAEMON@example.com\r\nSubject: failure", "body")).contains("bounce"));
        assert!(
            reason(mail("From: a@example.com\r\nAuto-Submitted: auto-replied\r\nSubject: Away", "body"))
                .contains("automatic")
        );
        assert!(reason(mail("From: a@example.com\r\nPrecedence: bulk\r\nSubject: News", "body")).contains("bulk"));
        assert!(reason(mail("From: a@example.com\r\nSubject: empty", "")).contains("no text"));
        let huge = vec![b'a'; MAX_MAIL_BYTES + 1];
        assert!(reason(huge).contains("too large"));
    }

    #[test]
    fn forbidden_and_oversized_attachments_are_refused_by_name() {
        let raw = mail(
            "From: a@example.com\r\nSubject: Docs\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX",
            "--XX\r\nContent-Type: text/plain\r\n\r\nMy documents.\r\n\
             --XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"id.pdf\"\r\n\r\n%PDF-1.4\r\n\
             --XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"tool.exe\"\r\n\r\nMZ\r\n\
             --XX--\r\n",
        );
        let m = read(&raw, OURS).unwrap();
        assert_eq!(m.attachments.len(), 2, "{:?}", m.attachments);
        assert_eq!(m.attachments[0].refused, None);
        assert!(m.attachments[1].refused.as_deref().unwrap().contains(".exe"));
        let text = m.text();
        assert!(text.contains("id.pdf") && text.contains("refused: a forbidden type (.exe)"), "{text}");
    }
}
