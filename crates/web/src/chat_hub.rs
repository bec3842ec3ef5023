//! The live side of chats: each chat's connections (the widget, the agents' consoles) share a
//! broadcast channel, so a line, a typing mark or a read mark from one side reaches the other at
//! once. Everything said is stored first (`pitboss_helpdesk::chat`); only typing lives here
//! alone. One process holds the channels: a deployment with several web processes routes a
//! chat's connections to one of them (sticky by chat id).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Frames buffered per chat for a slow connection before it misses some (it then reloads).
const BUFFER: usize = 64;

#[derive(Default)]
pub struct ChatHub {
    chats: Mutex<HashMap<Uuid, broadcast::Sender<String>>>,
}

impl ChatHub {
    /// Listens to a chat's frames.
    pub fn subscribe(&self, chat: Uuid) -> broadcast::Receiver<String> {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        chats.entry(chat).or_insert_with(|| broadcast::channel(BUFFER).0).subscribe()
    }

    /// Sends a frame to everyone connected to the chat; forgets chats nobody listens to.
    pub fn publish(&self, chat: Uuid, frame: &Value) {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = chats.get(&chat)
            && sender.send(frame.to_string()).is_err()
        {
            chats.remove(&chat);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_reaches_every_listener_of_its_chat_only() {
        let hub = ChatHub::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let (mut widget, mut console, mut other) = (hub.subscribe(a), hub.subscribe(a), hub.subscribe(b));
        hub.publish(a, &serde_json::json!({"type": "typing"}));
        assert_eq!(widget.recv().await.unwrap(), r#"{"type":"typing"}"#);
        assert_eq!(console.recv().await.unwrap(), r#"{"type":"typing"}"#);
        assert!(other.try_recv().is_err());
    }
}
