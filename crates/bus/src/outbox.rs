//! The outbox: messages written in the same transaction as the change that causes them.

use pitboss_store::{Arg, StoreError, Tx, exec_values};

use crate::Message;

/// Writes `message` to the outbox inside `tx`; the relay publishes it after commit.
pub async fn enqueue(tx: &mut Tx, message: &Message, now_micros: i64) -> Result<(), StoreError> {
    enqueue_many(tx, std::slice::from_ref(message), now_micros).await
}

/// Writes many messages to the outbox inside `tx`, in order, with one statement.
pub async fn enqueue_many(tx: &mut Tx, messages: &[Message], now_micros: i64) -> Result<(), StoreError> {
    let rows: Vec<Vec<Arg>> = messages
        .iter()
        .map(|m| {
            vec![
                Arg::Id(m.id),
                Arg::Text(m.topic.clone()),
                Arg::Text(m.key.clone()),
                Arg::Text(m.payload.clone()),
                Arg::Int(now_micros),
            ]
        })
        .collect();
    exec_values(tx, "INSERT INTO outbox (id, topic, partition_key, payload, created_at) VALUES {values}", &rows)
        .await?;
    Ok(())
}
