//! Live chat over WebSockets: the player's widget (`/chat/widget`, opened by the script on the
//! casino's website; the chat's token is its credential) and the agent's console (one socket per
//! chat the agent has open, behind the guard like any page). Frames are JSON objects with a
//! `type`:
//!
//! - from the widget: `start` (`name`, `message`), `say` (`body`), `typing`, `read`, `end`;
//! - from the console: `take`, `say` (`body`), `typing`, `read`, `transfer` (`to`), `end`;
//! - to both: `started` (the widget's `chat` and `token`), `history` (`messages`), `message`
//!   (`side`, `author`, `body`, `at`), `typing` (`side`), `read` (`side`, `at`), `state`
//!   (`chat`), `error` (`detail`).
//!
//! Every line is stored before it is broadcast; an agent's every step is audited.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use pitboss_auth::policy::Action;
use pitboss_auth::{Caller, audit};
use pitboss_helpdesk::TicketMessage;
use pitboss_helpdesk::chat::{self, Chat, Side};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::extract::Path;
use crate::guard::Authenticated;
use crate::routes::tickets::authorized_ticket;
use crate::{AppState, Problem};

/// Largest frame taken from a socket.
const MAX_FRAME_BYTES: usize = 16 * 1024;

/// A frame from either side.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Incoming {
    Start {
        #[serde(default)]
        name: String,
        message: String,
        /// A signed-in player's external id, as the casino's page gives it to the widget.
        #[serde(default)]
        player: Option<String>,
        /// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<player>">` with `chat_widget_secret`.
        #[serde(default)]
        player_signature: Option<String>,
    },
    Take,
    Say {
        body: String,
    },
    Typing,
    Read,
    Transfer {
        to: String,
    },
    End,
}

fn message_frame(m: &TicketMessage) -> Value {
    let side = if m.kind == pitboss_helpdesk::MessageKind::Player { "player" } else { "agent" };
    json!({"type": "message", "id": m.id, "side": side, "kind": m.kind.as_str(), "author": m.author,
        "body": m.body, "at": m.created_at})
}

fn error_frame(p: &Problem) -> Value {
    json!({"type": "error", "status": p.status, "detail": p.detail})
}

async fn send(socket: &mut WebSocket, frame: &Value) -> bool {
    socket.send(Message::Text(frame.to_string().into())).await.is_ok()
}

/// The next frame of a chat's channel; never, while there is no chat yet.
async fn next(feed: &mut Option<broadcast::Receiver<String>>) -> Result<String, broadcast::error::RecvError> {
    match feed {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// What to resume.
#[derive(Debug, Deserialize)]
pub struct Resume {
    pub chat: Option<Uuid>,
    pub token: Option<String>,
}

/// The widget's socket: a new chat, or the one its token resumes.
pub async fn widget(State(s): State<AppState>, Query(q): Query<Resume>, ws: WebSocketUpgrade) -> Response {
    let resumed = match (q.chat, q.token.as_deref()) {
        (Some(id), Some(token)) => match chat::by_token(&s.db, id, token).await {
            Ok(Some(c)) => Some(c),
            Ok(None) => {
                return Problem::new(axum::http::StatusCode::UNAUTHORIZED, "unauthenticated", "not this chat's token")
                    .into_response();
            }
            Err(e) => return Problem::from(e).into_response(),
        },
        _ => None,
    };
    ws.max_message_size(MAX_FRAME_BYTES).on_upgrade(move |socket| widget_session(s, socket, resumed))
}

async fn history(s: &AppState, chat: &Chat, with_notes: bool) -> Value {
    let messages = pitboss_helpdesk::tickets::messages(&s.db, chat.ticket_id, with_notes).await.unwrap_or_default();
    let lines: Vec<Value> = messages.iter().map(message_frame).collect();
    json!({"type": "history", "chat": chat, "messages": lines})
}

async fn widget_session(s: AppState, mut socket: WebSocket, current: Option<Chat>) {
    if let Some(c) = &current
        && !send(&mut socket, &history(&s, c, false).await).await
    {
        return;
    }
    serve_socket(&s, socket, Role::Widget(current)).await;
}

/// Whose socket it is.
enum Role {
    /// The widget, and its chat once there is one.
    Widget(Option<Chat>),
    /// An agent on one chat.
    Agent(Box<Caller>, Chat),
}

impl Role {
    fn chat(&self) -> Option<Uuid> {
        match self {
            Role::Widget(c) => c.as_ref().map(|c| c.id),
            Role::Agent(_, c) => Some(c.id),
        }
    }

    /// Acts on a frame from the client; the reply for this client alone, if any.
    async fn act(&mut self, s: &AppState, frame: Incoming) -> Result<Option<Value>, Problem> {
        match self {
            Role::Widget(current) => player_frame(s, current, frame).await,
            Role::Agent(caller, c) => agent_frame(s, caller, c.id, frame).await.map(|()| None),
        }
    }
}

/// Runs one socket until it closes: each frame from the client is acted on as its role says
/// (a reply goes back to this client alone), and the chat's frames from the hub go to the
/// client once there is a chat.
async fn serve_socket(s: &AppState, mut socket: WebSocket, mut role: Role) {
    let mut feed = role.chat().map(|id| s.chat.subscribe(id));
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let outcome = match serde_json::from_str::<Incoming>(&text) {
                    Ok(frame) => role.act(s, frame).await,
                    Err(e) => Err(Problem::bad_request(format!("not a chat frame: {e}"))),
                };
                if feed.is_none() && let Some(id) = role.chat() {
                    feed = Some(s.chat.subscribe(id));
                }
                let reply = outcome.unwrap_or_else(|p| Some(error_frame(&p)));
                if let Some(reply) = reply && !send(&mut socket, &reply).await {
                    break;
                }
            }
            frame = next(&mut feed) => match frame {
                Ok(frame) => {
                    if socket.send(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}

/// Acts on a frame from the player; the reply for the widget alone, if any.
async fn player_frame(s: &AppState, current: &mut Option<Chat>, frame: Incoming) -> Result<Option<Value>, Problem> {
    let now = Utc::now();
    let Some(c) = current.clone() else {
        let Incoming::Start { name, message, player, player_signature } = frame else {
            return Err(Problem::bad_request("start the chat first: {\"type\": \"start\", \"message\": \"...\"}"));
        };
        let mut tx = s.db.begin().await?;
        let player = match player.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(external) => Some(signed_player(s, &mut tx, external, player_signature.as_deref()).await?),
            None => None,
        };
        let (started, token) = chat::start(&mut tx, &s.helpdesk, player, &name, &message, now).await?;
        tx.commit().await?;
        s.sla_wake.notify_one();
        let first = history(s, &started, false).await;
        *current = Some(started.clone());
        return Ok(Some(json!({"type": "started", "chat": started, "token": token, "history": first})));
    };
    match frame {
        Incoming::Say { body } => {
            let mut tx = s.db.begin().await?;
            let said = chat::say(&mut tx, &s.helpdesk, c.id, &Side::Player, &body, now).await?;
            tx.commit().await?;
            s.chat.publish(c.id, &message_frame(&said));
        }
        Incoming::Typing => s.chat.publish(c.id, &json!({"type": "typing", "side": "player"})),
        Incoming::Read => {
            let mut tx = s.db.begin().await?;
            chat::read(&mut tx, c.id, &Side::Player, now).await?;
            tx.commit().await?;
            s.chat.publish(c.id, &json!({"type": "read", "side": "player", "at": now}));
        }
        Incoming::End => {
            let mut tx = s.db.begin().await?;
            let ended = chat::end(&mut tx, &s.helpdesk, c.id, &Side::Player, now).await?;
            tx.commit().await?;
            s.chat.publish(c.id, &json!({"type": "state", "chat": ended}));
        }
        Incoming::Start { .. } => return Err(Problem::bad_request("this chat has started already")),
        Incoming::Take | Incoming::Transfer { .. } => return Err(Problem::bad_request("only an agent can do that")),
    }
    Ok(None)
}

/// How long the casino's signature of a player's id holds: a page may stay open that long.
const PLAYER_SIGNATURE_SECONDS: i64 = 24 * 3600;

/// The player the casino's website says is chatting, its signature checked.
async fn signed_player(
    s: &AppState,
    tx: &mut pitboss_store::Tx,
    external: &str,
    signature: Option<&str>,
) -> Result<pitboss_players::Player, Problem> {
    let refused = |why: String| Problem::new(axum::http::StatusCode::UNAUTHORIZED, "unauthenticated", why);
    let Some(secret) = s.webhooks.chat_widget.as_deref() else {
        return Err(refused("players cannot be identified in chats: chat_widget_secret is not set".into()));
    };
    let now = Utc::now().timestamp();
    pitboss_core::signature::verify_within(secret, signature, external.as_bytes(), now, PLAYER_SIGNATURE_SECONDS)
        .map_err(|why| refused(format!("the player's identity: {why}")))?;
    let Some((id, _)) = pitboss_players::id_by_external(tx, external).await? else {
        return Err(Problem::not_found(format!("there is no player '{external}'")));
    };
    Ok(pitboss_players::get_in(tx, id).await?)
}

/// An agent's socket on one chat.
pub async fn console(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    ws: WebSocketUpgrade,
) -> Result<Response, Problem> {
    let c = chat::get(&s.db, id).await.map_err(|_| Problem::not_found(format!("there is no chat {id}")))?;
    authorized_ticket(&s, &auth.caller, Action::TicketHandle, c.ticket_id).await?;
    let caller = auth.caller.clone();
    Ok(ws.max_message_size(MAX_FRAME_BYTES).on_upgrade(move |socket| console_session(s, socket, caller, c)))
}

async fn console_session(s: AppState, mut socket: WebSocket, caller: Caller, c: Chat) {
    if !send(&mut socket, &history(&s, &c, true).await).await {
        return;
    }
    serve_socket(&s, socket, Role::Agent(Box::new(caller), c)).await;
}

async fn agent_frame(s: &AppState, caller: &Caller, id: Uuid, frame: Incoming) -> Result<(), Problem> {
    let now = Utc::now();
    let agent = caller.actor();
    let side = Side::Agent(agent.clone());
    if matches!(frame, Incoming::Typing) {
        s.chat.publish(id, &json!({"type": "typing", "side": "agent", "author": agent}));
        return Ok(());
    }
    let mut tx = s.db.begin().await?;
    let (action, frame, details) = match frame {
        Incoming::Take => {
            let taken = chat::take(&mut tx, &s.helpdesk, id, &agent, now).await?;
            ("chat.take", json!({"type": "state", "chat": taken}), json!({}))
        }
        Incoming::Say { body } => {
            let said = chat::say(&mut tx, &s.helpdesk, id, &side, &body, now).await?;
            ("chat.say", message_frame(&said), json!({ "message": said.id }))
        }
        Incoming::Read => {
            chat::read(&mut tx, id, &side, now).await?;
            tx.commit().await?;
            s.chat.publish(id, &json!({"type": "read", "side": "agent", "at": now}));
            return Ok(());
        }
        Incoming::Transfer { to } => {
            let moved = chat::transfer(&mut tx, &s.helpdesk, id, &agent, &to, now).await?;
            ("chat.transfer", json!({"type": "state", "chat": moved}), json!({ "to": moved.agent }))
        }
        Incoming::End => {
            let ended = chat::end(&mut tx, &s.helpdesk, id, &side, now).await?;
            ("chat.end", json!({"type": "state", "chat": ended}), json!({}))
        }
        Incoming::Start { .. } | Incoming::Typing => return Err(Problem::bad_request("an agent does not start chats")),
    };
    audit::record(&mut tx, &caller.audit(action, "chat", id).details(details)).await?;
    tx.commit().await?;
    s.sla_wake.notify_one();
    s.chat.publish(id, &frame);
    if action == "chat.say" {
        // Answering a waiting chat takes it: both sides see who holds it now.
        s.chat.publish(id, &json!({"type": "state", "chat": chat::get(&s.db, id).await?}));
    }
    Ok(())
}
