//! Email on both engines: inbound mail opening tickets for the player who wrote, threaded by
//! its headers, taken once, quarantined with its reason when it cannot be a ticket message;
//! replies queued with their threading headers, a failed send retried and at last given up
//! with a note. One test sends a reply through a real SMTP server (aiosmtpd, started by
//! `.ci/run`: `PITBOSS_TEST_SMTP_URL`, `PITBOSS_TEST_MAILDIR`), reads it from the server's
//! Maildir, and threads the player's answer to it back onto the ticket.

use std::sync::Arc;

use chrono::Utc;
use pitboss_bus::Transport;
use pitboss_bus::in_process::InProcess;
use pitboss_bus::relay::Relay;
use pitboss_helpdesk::email::{self, CONSUMER, MAX_ATTEMPTS, MailConsumer, MailSender, Received};
use pitboss_helpdesk::tickets::{self, TicketFilter};
use pitboss_helpdesk::{AgentMessage, DeskConfig, MessageKind, Status, Ticket};
use pitboss_store::{Db, both_engines};

async fn setup(db: &Db) -> DeskConfig {
    let desk =
        DeskConfig::from_toml(&pitboss_helpdesk::config::SHIPPED.replace("support@localhost", "support@casino.test"))
            .unwrap();
    pitboss_helpdesk::queues::install_default(db, &desk, Utc::now()).await.unwrap();
    desk
}

async fn player(db: &Db, email: &str) -> uuid::Uuid {
    let mut new =
        pitboss_players::NewPlayer::new(&format!("ext-{}", uuid::Uuid::now_v7()), "MT", "EUR".parse().unwrap());
    new.email = Some(email.into());
    let mut tx = db.begin().await.unwrap();
    let p = pitboss_players::create(&mut tx, new, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    p.id
}

async fn take(db: &Db, desk: &DeskConfig, raw: &str) -> Received {
    let mut tx = db.begin().await.unwrap();
    let r = email::receive(&mut tx, desk, raw.as_bytes(), Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    r
}

fn opened(r: Received) -> Ticket {
    match r {
        Received::Opened(t) => t,
        other => panic!("expected a new ticket, got {other:?}"),
    }
}

async fn answer(db: &Db, desk: &DeskConfig, ticket: uuid::Uuid, text: &str) {
    let mut tx = db.begin().await.unwrap();
    let m = AgentMessage { kind: MessageKind::Reply, body: text.into(), then: None };
    tickets::reply(&mut tx, desk, ticket, &m, "operator:anna", Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
}

both_engines!(inbound_mail_opens_threads_and_quarantines, |db| async move {
    let desk = setup(&db).await;
    let ann = player(&db, "ann@example.com").await;
    let first = "From: Ann <ANN@example.com>\r\nTo: support@casino.test\r\nSubject: Withdrawal missing\r\n\
                 Message-ID: <a1@example.com>\r\n\r\nMy withdrawal did not arrive.\r\n";
    let t = opened(take(&db, &desk, first).await);
    assert_eq!((t.player_id, t.requester.as_str(), t.channel.as_str()), (Some(ann), "ann@example.com", "email"));
    assert_eq!(take(&db, &desk, first).await, Received::Duplicate(t.id), "the same message is taken once");

    // The agent answers; the player's answer to that reply joins the ticket.
    answer(&db, &desk, t.id, "We are looking into it.").await;
    let queued = email::outbound(&db, t.id).await.unwrap();
    assert_eq!(queued.len(), 1);
    let reply = &queued[0];
    assert_eq!(reply.in_reply_to.as_deref(), Some("a1@example.com"));
    assert_eq!(reply.references, vec!["a1@example.com"]);
    assert!(reply.subject.starts_with("Re: Withdrawal missing [#"), "{}", reply.subject);
    assert_eq!(reply.state, "pending");
    let second = format!(
        "From: ann@example.com\r\nSubject: Re: Withdrawal missing\r\nMessage-ID: <a2@example.com>\r\n\
         In-Reply-To: <{}>\r\n\r\nThank you, still waiting.\r\n",
        reply.message_id
    );
    match take(&db, &desk, &second).await {
        Received::Added(again) => assert_eq!((again.id, again.status), (t.id, Status::Open)),
        other => panic!("expected the answer on the ticket, got {other:?}"),
    }

    // The subject's token threads mail from the requester, not from a stranger.
    let token = format!(
        "From: ann@example.com\r\nSubject: About {}\r\nMessage-ID: <a3@example.com>\r\n\r\nOne more thing.\r\n",
        t.token()
    );
    assert!(matches!(take(&db, &desk, &token).await, Received::Added(x) if x.id == t.id));
    let stranger = format!(
        "From: eve@example.net\r\nSubject: Re: {}\r\nMessage-ID: <e1@example.net>\r\n\r\nGive me the money.\r\n",
        t.token()
    );
    let other = opened(take(&db, &desk, &stranger).await);
    assert_ne!(other.id, t.id);
    assert_eq!(other.player_id, None, "an unknown sender's ticket has no player");

    // What cannot be a ticket message is kept with its reason.
    let away =
        "From: ann@example.com\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\nAway until Monday.\r\n";
    assert!(
        matches!(take(&db, &desk, away).await, Received::Quarantined { reason, .. } if reason.contains("automatic"))
    );
    let looped = "From: Casino support <support@casino.test>\r\nSubject: Re: x\r\n\r\nx\r\n";
    assert!(matches!(take(&db, &desk, looped).await, Received::Quarantined { reason, .. } if reason.contains("loop")));
    assert!(matches!(take(&db, &desk, "\u{1}\u{2}garbage").await, Received::Quarantined { .. }));
    let kept = email::quarantined(&db, 10, 0).await.unwrap();
    assert_eq!(kept.len(), 3);
    assert!(kept.iter().any(|q| q.sender == "ann@example.com" && q.subject == "Out of office"));

    // A closed ticket takes no more mail: the answer opens a follow-up.
    let mut tx = db.begin().await.unwrap();
    for status in [Status::Solved, Status::Closed] {
        let change = pitboss_helpdesk::TicketUpdate { status: Some(status), ..Default::default() };
        tickets::update(&mut tx, &desk, t.id, &change, "operator:anna", Utc::now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    let late = "From: ann@example.com\r\nSubject: Re: Withdrawal missing\r\nMessage-ID: <a4@example.com>\r\nIn-Reply-To: <a2@example.com>\r\n\r\nIt arrived, thanks.\r\n";
    let follow_up = opened(take(&db, &desk, late).await);
    assert_eq!(follow_up.player_id, Some(ann));
    let text = tickets::messages(&db, follow_up.id, false).await.unwrap().remove(0).body;
    assert!(text.contains(&format!("closed ticket #{}", t.number)), "{text}");
    let all = tickets::list(
        &db,
        &TicketFilter { player: Some(ann), statuses: Status::ALL.to_vec(), ..Default::default() },
        10,
        0,
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 2);
});

both_engines!(a_reply_that_cannot_be_sent_is_retried_then_given_up_with_a_note, |db| async move {
    let desk = setup(&db).await;
    player(&db, "bo@example.com").await;
    let t = opened(
        take(
            &db,
            &desk,
            "From: bo@example.com\r\nSubject: Bonus\r\nMessage-ID: <b1@example.com>\r\n\r\nWhere is my bonus?\r\n",
        )
        .await,
    );
    answer(&db, &desk, t.id, "Credited.").await;
    let id = email::outbound(&db, t.id).await.unwrap()[0].id;
    // Nothing listens on port 9: every try fails.
    let sender = MailSender::new(Some("smtp://127.0.0.1:9"), desk.mail_from.clone()).unwrap();
    email::deliver(&db, &sender, id, Utc::now()).await.unwrap();
    let after_one = email::outbound(&db, t.id).await.unwrap().remove(0);
    assert_eq!((after_one.state.as_str(), after_one.attempts), ("pending", 1));
    assert!(after_one.last_error.as_deref().unwrap_or_default().contains("SMTP"), "{:?}", after_one.last_error);
    let retry = pitboss_bus::timers::due_at(&db, email::RETRY_TIMER, &id.to_string()).await.unwrap();
    assert!(retry.is_some(), "a retry is set");
    for _ in 1..MAX_ATTEMPTS {
        email::deliver(&db, &sender, id, Utc::now()).await.unwrap();
    }
    let given_up = email::outbound(&db, t.id).await.unwrap().remove(0);
    assert_eq!((given_up.state.as_str(), given_up.attempts), ("failed", MAX_ATTEMPTS));
    let notes = tickets::messages(&db, t.id, true).await.unwrap();
    assert!(
        notes.iter().any(|m| m.kind == MessageKind::Note && m.body.contains("could not be delivered")),
        "{notes:?}"
    );
    // A given-up mail is not sent again.
    email::deliver(&db, &sender, id, Utc::now()).await.unwrap();
    assert_eq!(email::outbound(&db, t.id).await.unwrap()[0].attempts, MAX_ATTEMPTS);
});

#[tokio::test]
#[ignore = "needs an SMTP server (PITBOSS_TEST_SMTP_URL, PITBOSS_TEST_MAILDIR); run by .ci/run"]
async fn a_reply_goes_out_through_smtp_threaded_and_the_answer_comes_back_to_its_ticket() {
    let smtp = std::env::var("PITBOSS_TEST_SMTP_URL").unwrap_or_else(|_| "smtp://127.0.0.1:2525".into());
    let maildir = std::env::var("PITBOSS_TEST_MAILDIR").unwrap_or_else(|_| "/tmp/pitboss-maildir".into());
    let db = pitboss_store::testing::sqlite().await.unwrap();
    let desk = setup(&db).await;
    let address = format!("p{}@example.com", uuid::Uuid::now_v7().simple());
    player(&db, &address).await;
    let first = format!(
        "From: {address}\r\nSubject: KYC documents\r\nMessage-ID: <k1-{address}>\r\n\r\nWhich documents do you need?\r\n"
    );
    let t = opened(take(&db, &desk, &first).await);
    // The reply goes out through the outbox, the consumer and the SMTP server.
    let transport = Arc::new(InProcess::new());
    let sender = MailSender::new(Some(&smtp), desk.mail_from.clone()).unwrap();
    transport.subscribe(CONSUMER, MailConsumer::new(db.clone(), Arc::new(sender))).await.unwrap();
    // The agent adds a checklist before answering: it goes out with the reply.
    let mut tx = db.begin().await.unwrap();
    let checklist = pitboss_helpdesk::attachments::NewFile {
        name: "checklist.pdf",
        content_type: "application/pdf",
        content: b"%PDF-1.4 checklist",
    };
    pitboss_helpdesk::attachments::add(&mut tx, t.id, None, &checklist, "operator:lena", Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    answer(&db, &desk, t.id, "A passport or an identity card, and a utility bill.").await;
    Relay::new(db.clone(), transport).flush().await.unwrap();
    let sent = email::outbound(&db, t.id).await.unwrap().remove(0);
    assert_eq!(sent.state, "sent", "{:?}", sent.last_error);

    let mut found = None;
    for _ in 0..50 {
        found = std::fs::read_dir(std::path::Path::new(&maildir).join("new"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .find(|m| m.contains(&address) && m.contains("utility bill"));
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let delivered = found.expect("the SMTP server kept the reply");
    let parsed = mail_parser::MessageParser::default().parse(delivered.as_bytes()).unwrap();
    assert_eq!(parsed.message_id(), Some(sent.message_id.as_str()));
    assert_eq!(parsed.in_reply_to().as_text(), Some(format!("k1-{address}").as_str()));
    assert!(parsed.subject().unwrap().contains(&t.token()), "{:?}", parsed.subject());
    assert_eq!(parsed.from().and_then(|a| a.first()).and_then(|a| a.address()), Some("support@casino.test"));
    use mail_parser::MimeHeaders;
    let attached = parsed.attachments().next().expect("the checklist went out with the reply");
    assert_eq!((attached.attachment_name(), attached.contents()), (Some("checklist.pdf"), &b"%PDF-1.4 checklist"[..]));
    assert!(parsed.body_text(0).unwrap().contains("utility bill"));

    // The player's mail program answers it: the answer lands on the same ticket.
    let answer_mail = format!(
        "From: {address}\r\nSubject: Re: {}\r\nMessage-ID: <k2-{address}>\r\nIn-Reply-To: <{}>\r\nReferences: <k1-{address}> <{}>\r\n\r\nAttached, thanks.\r\n",
        parsed.subject().unwrap(),
        sent.message_id,
        sent.message_id
    );
    match take(&db, &desk, &answer_mail).await {
        Received::Added(again) => assert_eq!(again.id, t.id),
        other => panic!("expected the answer on the ticket, got {other:?}"),
    }
}
