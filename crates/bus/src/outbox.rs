//! The outbox: messages written in the same transaction as the change that causes them.

use pitboss_store::{StoreError, Tx, exec};

use crate::Message;

/// Writes `message` to the outbox inside `tx`; the relay publishes it after commit.
pub async fn enqueue(tx: &mut Tx, message: &Message, now_micros: i64) -> Result<(), StoreError> {
    exec!(
        tx,
        "INSERT INTO outbox (id, topic, partition_key, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
        message.id,
        &message.topic,
        &message.key,
        &message.payload,
        now_micros,
    )?;
    Ok(())
}
