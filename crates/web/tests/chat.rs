//! Live chat over real WebSockets on both engines: a visitor starts a chat from the widget's
//! socket, an agent's console socket sees it, typing and read marks cross, the agent's answer
//! takes the chat, a flood is refused with the reason, the widget resumes with its token (and
//! only with it), a transfer and the end reach both sides, and the ticket keeps the transcript.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pitboss_auth::api_key;
use pitboss_bus::in_process::InProcess;
use pitboss_ingest::Ingestor;
use pitboss_store::{Db, both_engines, db, sqlx};
use pitboss_web::{AppState, Target};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WIDGET_SECRET: &str = "casino-site-secret";

async fn serve(db: &Db) -> (SocketAddr, String) {
    let mut state = AppState::new(
        db.clone(),
        Ingestor::new(db.clone()),
        Arc::new(InProcess::new()),
        Target::parse_list("all").unwrap(),
    );
    state.webhooks =
        Arc::new(pitboss_web::WebhookSecrets { chat_widget: Some(WIDGET_SECRET.into()), ..Default::default() });
    pitboss_helpdesk::queues::install_default(db, &state.helpdesk, chrono::Utc::now()).await.unwrap();
    let (_, key) = api_key::create(db, "desk", "admin".parse().unwrap(), "system").await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = pitboss_web::app(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, key)
}

async fn connect(url: &str, key: Option<&str>) -> Result<Socket, tungstenite::Error> {
    let mut request = url.into_client_request().unwrap();
    if let Some(key) = key {
        request.headers_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.map(|(socket, _)| socket)
}

async fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::Text(frame.to_string().into())).await.unwrap();
}

/// The next frame of `kind`, skipping others.
async fn expect(socket: &mut Socket, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next()).await;
        let Ok(Some(Ok(Message::Text(text)))) = next else { panic!("no {kind} frame: {next:?}") };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame["type"] == kind {
            return frame;
        }
    }
}

async fn count(db: &Db, sql: &str, id: &str) -> i64 {
    let id: uuid::Uuid = id.parse().unwrap();
    db!(db, |c| sqlx::query_scalar(sql).bind(id).fetch_one(c).await).unwrap()
}

both_engines!(a_visitor_and_an_agent_chat_live_and_the_ticket_keeps_the_transcript, |db| async move {
    let (addr, key) = serve(&db).await;
    let mut widget = connect(&format!("ws://{addr}/chat/widget"), None).await.unwrap();
    send(&mut widget, json!({"type": "say", "body": "hello?"})).await;
    assert!(expect(&mut widget, "error").await["detail"].as_str().unwrap().contains("start the chat"));
    send(&mut widget, json!({"type": "start", "name": "Zoe", "message": "My deposit is missing"})).await;
    let started = expect(&mut widget, "started").await;
    let (chat, token) = (started["chat"]["id"].as_str().unwrap(), started["token"].as_str().unwrap());
    let ticket = started["chat"]["ticket_id"].as_str().unwrap().to_string();
    assert_eq!(started["chat"]["state"], "waiting");
    assert_eq!(started["history"]["messages"][0]["body"], "My deposit is missing");

    // The console needs a caller the policies let handle tickets.
    let console_url = format!("ws://{addr}/chat/console/{chat}/ws");
    assert!(connect(&console_url, None).await.is_err());
    let mut agent = connect(&console_url, Some(&key)).await.unwrap();
    let seen = expect(&mut agent, "history").await;
    assert_eq!(seen["messages"].as_array().unwrap().len(), 1);

    send(&mut widget, json!({"type": "typing"})).await;
    assert_eq!(expect(&mut agent, "typing").await["side"], "player");
    send(&mut agent, json!({"type": "say", "body": "Hello Zoe, let me look."})).await;
    for socket in [&mut widget, &mut agent] {
        let said = expect(socket, "message").await;
        assert_eq!((said["side"].as_str(), said["body"].as_str()), (Some("agent"), Some("Hello Zoe, let me look.")));
    }
    send(&mut widget, json!({"type": "read"})).await;
    assert_eq!(expect(&mut agent, "read").await["side"], "player");

    // A flood: the lines over the limit are refused with the reason, never stored and dropped.
    for i in 0..8 {
        send(&mut widget, json!({"type": "say", "body": format!("line {i}")})).await;
    }
    let refused = expect(&mut widget, "error").await;
    assert_eq!(refused["status"], 429, "{refused}");
    assert!(refused["detail"].as_str().unwrap().contains("too fast"));
    let stored =
        count(&db, "SELECT COUNT(*) FROM ticket_messages WHERE ticket_id = $1 AND kind = 'player'", &ticket).await;
    assert_eq!(stored, pitboss_helpdesk::chat::FLOOD_MESSAGES);

    // The widget comes back with its token; a wrong token opens nothing.
    drop(widget);
    assert!(connect(&format!("ws://{addr}/chat/widget?chat={chat}&token=wrong"), None).await.is_err());
    let mut widget = connect(&format!("ws://{addr}/chat/widget?chat={chat}&token={token}"), None).await.unwrap();
    let resumed = expect(&mut widget, "history").await;
    assert_eq!(resumed["chat"]["agent"], "api-key:desk");
    assert!(resumed["messages"].as_array().unwrap().iter().all(|m| m["kind"] != "note"));

    send(&mut agent, json!({"type": "transfer", "to": "lena"})).await;
    assert_eq!(expect(&mut widget, "state").await["chat"]["agent"], "operator:lena");
    send(&mut agent, json!({"type": "end"})).await;
    assert_eq!(expect(&mut widget, "state").await["chat"]["state"], "ended");
    send(&mut widget, json!({"type": "say", "body": "one more thing"})).await;
    assert!(expect(&mut widget, "error").await["detail"].as_str().unwrap().contains("ended"));

    // The chat is a ticket: its transcript, solved, assigned to whom it was transferred.
    let (status, assignee): (String, Option<String>) = {
        let id: uuid::Uuid = ticket.parse().unwrap();
        db!(&db, |c| sqlx::query_as("SELECT status, assignee FROM tickets WHERE id = $1").bind(id).fetch_one(c).await)
            .unwrap()
    };
    assert_eq!((status.as_str(), assignee.as_deref()), ("solved", Some("operator:lena")));
    let lines = count(
        &db,
        "SELECT COUNT(*) FROM ticket_messages WHERE ticket_id = $1 AND kind IN ('player', 'reply')",
        &ticket,
    )
    .await;
    assert_eq!(lines, pitboss_helpdesk::chat::FLOOD_MESSAGES + 1);
    for action in ["chat.take", "chat.say", "chat.transfer", "chat.end"] {
        let n: i64 = db!(&db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(c)
            .await)
        .unwrap();
        assert_eq!(n, i64::from(action != "chat.take"), "{action}");
    }
});

both_engines!(a_signed_in_players_chat_is_linked_to_their_profile, |db| async move {
    let (addr, _) = serve(&db).await;
    let mut tx = db.begin().await.unwrap();
    let mut new = pitboss_players::NewPlayer::new("p-42", "MT", "EUR".parse().unwrap());
    new.first_name = Some("Ada".into());
    let player = pitboss_players::create(&mut tx, new, chrono::Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    let now = chrono::Utc::now().timestamp();
    let start =
        |signature: String| json!({"type": "start", "message": "Hi", "player": "p-42", "player_signature": signature});

    // A forged or missing signature opens nothing.
    let mut widget = connect(&format!("ws://{addr}/chat/widget"), None).await.unwrap();
    send(&mut widget, start(pitboss_core::signature::sign("guess", now, b"p-42"))).await;
    let refused = expect(&mut widget, "error").await;
    assert_eq!(refused["status"], 401, "{refused}");
    let chats: i64 =
        db!(&db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM helpdesk_chats").fetch_one(c).await).unwrap();
    assert_eq!(chats, 0);

    // Signed by the casino's page an hour ago: the player's own chat, in their name.
    send(&mut widget, start(pitboss_core::signature::sign(WIDGET_SECRET, now - 3_600, b"p-42"))).await;
    let started = expect(&mut widget, "started").await;
    assert_eq!(started["chat"]["player_id"], json!(player.id));
    assert_eq!(started["chat"]["visitor"], "Ada");
});
