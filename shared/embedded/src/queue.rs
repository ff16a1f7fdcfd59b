//! The queue port on SQLite, keeping the SQS semantics (and SQS's limits) the pipeline relies on,
//! so that local runs behave as deployed ones do.
//!
//! A sent message can be delayed; a received message is hidden for the visibility timeout and
//! returns unless deleted; each
//! receive counts; a message already received `max_receive_count` times is moved to the
//! dead-letter queue instead of being handed out again (SQS's redrive policy); receipts are per
//! receive, so only the latest receive can delete or re-hide a message.

use crate::db::Db;
use async_trait::async_trait;
use hookline_core::clock::{Clock, SystemClock};
use hookline_core::error::Result;
use hookline_core::ports::{
    DeadLetter, Enqueue, Queue, QueueLimits, QueueMessage, replace_by_send,
};
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;
use std::time::Duration;

/// SQLite could take any batch and any delay; the embedded queue keeps SQS's (10 messages a
/// batch, 15 minutes of delay) so that a local run takes the same path through the core as a
/// deployed one, long waits in hops included.
pub const EMBEDDED_LIMITS: QueueLimits = QueueLimits {
    max_batch: 10,
    max_delay: Duration::from_secs(900),
    delay_step: Duration::from_millis(1),
};

#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub name: String,
    pub dead_letter_name: String,
    pub visibility_timeout: Duration,
    pub max_receive_count: u32,
}

#[derive(Clone)]
pub struct SqliteQueue {
    db: Db,
    config: Arc<QueueConfig>,
    clock: Arc<dyn Clock>,
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// A message to send as stored: its body and its delay in milliseconds (at most SQS's).
fn stored(e: &Enqueue) -> (String, i64) {
    (
        e.message.encode(),
        ms(e.delay.min(EMBEDDED_LIMITS.max_delay)),
    )
}

const INSERT_MESSAGE: &str = "INSERT INTO queue_messages (id, queue, body, sent_at, visible_at) \
                              VALUES (?1, ?2, ?3, ?4, ?5)";

impl SqliteQueue {
    pub fn new(db: Db, config: QueueConfig) -> Self {
        SqliteQueue {
            db,
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
        }
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    fn limits(&self) -> QueueLimits {
        EMBEDDED_LIMITS
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    /// Takes any number of jobs, in one transaction: the batch limit is SQS's, not SQLite's.
    async fn send_batch(&self, jobs: &[Enqueue]) -> Result<()> {
        let bodies: Vec<(String, i64)> = jobs.iter().map(stored).collect();
        let name = self.config.name.clone();
        let now = self.clock.now().millis();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                {
                    let mut stmt = tx.prepare_cached(INSERT_MESSAGE)?;
                    for (body, delay) in &bodies {
                        stmt.execute(params![
                            format!("msg_{}", ulid::Ulid::new()),
                            name,
                            body,
                            now,
                            now + delay
                        ])?;
                    }
                }
                tx.commit()
            })
            .await
    }

    async fn receive(&self, max: usize) -> Result<Vec<QueueMessage>> {
        let cfg = self.config.clone();
        let now = self.clock.now().millis();
        self.db
            .call(move |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let ready: Vec<(i64, String, String, u32)> = tx
                    .prepare_cached(
                        "SELECT seq, id, body, receive_count FROM queue_messages \
                         WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3",
                    )?
                    .query_map(params![cfg.name, now, max as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                let mut out = Vec::with_capacity(ready.len());
                for (seq, id, body, count) in ready {
                    if count >= cfg.max_receive_count {
                        tx.prepare_cached(
                            "UPDATE queue_messages SET queue = ?2, receive_count = receive_count + 1, \
                             receipt = NULL, visible_at = ?3, \
                             reason = COALESCE(reason, 'maximum receive count exceeded') WHERE seq = ?1",
                        )?
                        .execute(params![seq, cfg.dead_letter_name, now])?;
                        continue;
                    }
                    let receipt = format!("rcpt_{}", ulid::Ulid::new());
                    tx.prepare_cached(
                        "UPDATE queue_messages SET receive_count = receive_count + 1, receipt = ?2, \
                         visible_at = ?3 WHERE seq = ?1",
                    )?
                    .execute(params![seq, receipt, now + ms(cfg.visibility_timeout)])?;
                    out.push(QueueMessage { id, body, receipt, receive_count: count + 1 });
                }
                tx.commit()?;
                Ok(out)
            })
            .await
    }

    /// Deleting by a receipt that matches nothing (the message is gone, was dead-lettered, or
    /// was received again since) succeeds and changes nothing, as on SQS.
    async fn delete(&self, receipt: &str) -> Result<()> {
        let receipt = receipt.to_string();
        self.db
            .call(move |c| {
                c.prepare_cached("DELETE FROM queue_messages WHERE receipt = ?1")?
                    .execute([receipt])
                    .map(drop)
            })
            .await
    }

    async fn delete_batch(&self, receipts: &[String]) -> Result<()> {
        let receipts = receipts.to_vec();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                for receipt in &receipts {
                    tx.prepare_cached("DELETE FROM queue_messages WHERE receipt = ?1")?
                        .execute([receipt])?;
                }
                tx.commit()
            })
            .await
    }

    /// Into a queue of the same database, each message is moved in place: one `UPDATE` makes it
    /// the new message (new id, body, queue, delay; never received), in one transaction for
    /// the lot, so a crash leaves either the old message or the new one, never both. A receipt
    /// that matches nothing (the message was received again meanwhile) still sends its new
    /// message, as the send would have. Into any other queue: send, then delete.
    async fn replace(&self, moves: &[(String, Enqueue)], to: &dyn Queue) -> Result<()> {
        let Some(target) = to
            .as_any()
            .downcast_ref::<SqliteQueue>()
            .filter(|t| t.db.same(&self.db))
        else {
            return replace_by_send(self, moves, to).await;
        };
        let moves: Vec<(String, String, i64)> = moves
            .iter()
            .map(|(receipt, e)| {
                let (body, delay) = stored(e);
                (receipt.clone(), body, delay)
            })
            .collect();
        let name = target.config.name.clone();
        let now = self.clock.now().millis();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                for (receipt, body, delay) in &moves {
                    let id = format!("msg_{}", ulid::Ulid::new());
                    let moved = tx
                        .prepare_cached(
                            "UPDATE queue_messages SET id = ?2, queue = ?3, body = ?4, sent_at = ?5, \
                             visible_at = ?6, receive_count = 0, receipt = NULL, reason = NULL \
                             WHERE receipt = ?1",
                        )?
                        .execute(params![receipt, id, name, body, now, now + delay])?;
                    if moved == 0 {
                        tx.prepare_cached(INSERT_MESSAGE)?
                            .execute(params![id, name, body, now, now + delay])?;
                    }
                }
                tx.commit()
            })
            .await
    }

    /// Moves the message to the dead-letter queue in one transaction rather than putting a copy
    /// there and leaving the original for a later delete: a crash in between can then neither
    /// lose it nor hand it out again. The receipt goes with the move, so the `delete` the core
    /// issues next finds nothing and succeeds.
    async fn dead_letter(&self, message: &QueueMessage, body: &str, reason: &str) -> Result<()> {
        let (message, body, reason) = (message.clone(), body.to_string(), reason.to_string());
        let dlq = self.config.dead_letter_name.clone();
        let now = self.clock.now().millis();
        self.db
            .call(move |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let moved = tx
                    .prepare_cached(
                        "UPDATE queue_messages SET queue = ?2, reason = ?3, receipt = NULL, visible_at = ?4, body = ?5 \
                         WHERE receipt = ?1",
                    )?
                    .execute(params![message.receipt, dlq, reason, now, body])?;
                if moved == 0 {
                    // The receipt is stale (the message was received again meanwhile, or is
                    // gone): dead-letter a copy, as a send to the dead-letter queue does on SQS.
                    let exists: Option<i64> = tx
                        .query_row(
                            "SELECT seq FROM queue_messages WHERE id = ?1 AND queue = ?2",
                            params![message.id, dlq],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if exists.is_none() {
                        tx.execute(
                            "INSERT INTO queue_messages (id, queue, body, sent_at, visible_at, reason) \
                             VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                            params![format!("msg_{}", ulid::Ulid::new()), dlq, body, now, reason],
                        )?;
                    }
                }
                tx.commit()
            })
            .await
    }

    async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        let dlq = self.config.dead_letter_name.clone();
        self.db
            .call(move |c| {
                c.prepare_cached(
                    "SELECT id, body, COALESCE(reason, '') FROM queue_messages WHERE queue = ?1 \
                     ORDER BY seq LIMIT ?2",
                )?
                .query_map(params![dlq, limit as i64], |r| {
                    Ok(DeadLetter {
                        id: r.get(0)?,
                        body: r.get(1)?,
                        reason: r.get(2)?,
                    })
                })?
                .collect()
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::ids::DeliveryId;
    use hookline_core::pipeline::Job;

    fn queue(db: &Db, name: &str) -> SqliteQueue {
        SqliteQueue::new(
            db.clone(),
            QueueConfig {
                name: name.into(),
                dead_letter_name: format!("{name}-dlq"),
                visibility_timeout: Duration::from_millis(50),
                max_receive_count: 10,
            },
        )
    }

    fn temp_db() -> Db {
        let dir = std::env::temp_dir().join(format!("hookline-queue-{}", ulid::Ulid::new()));
        Db::open(&dir).unwrap()
    }

    async fn rows(db: &Db) -> i64 {
        db.call(|c| c.query_row("SELECT COUNT(*) FROM queue_messages", [], |r| r.get(0)))
            .await
            .unwrap()
    }

    /// Both lanes on one database: a message moves to the other queue in place (one row
    /// throughout); on another database's queue it is sent there and deleted here.
    #[tokio::test]
    async fn a_replaced_message_moves_to_the_other_queue_in_place_or_by_send_and_delete() {
        let db = temp_db();
        let (main, slow) = (queue(&db, "main"), queue(&db, "slow"));
        let job = Job::first(DeliveryId::generate());
        main.send_batch(&[Enqueue::now(job.clone())]).await.unwrap();
        let got = main.receive(1).await.unwrap().remove(0);
        let moves = [(got.receipt.clone(), Enqueue::now(job.clone()))];
        main.replace(&moves, &slow).await.unwrap();
        assert_eq!(rows(&db).await, 1, "moved, not copied");
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(main.receive(10).await.unwrap().is_empty(), "gone from main");
        let moved = slow.receive(10).await.unwrap();
        assert_eq!(moved.len(), 1);
        assert_eq!(Job::decode(&moved[0].body), Some(job.clone()));
        assert_eq!(moved[0].receive_count, 1);
        assert_ne!(moved[0].id, got.id, "a new message");

        let other_db = temp_db();
        let elsewhere = queue(&other_db, "slow");
        let moves = [(moved[0].receipt.clone(), Enqueue::now(job.clone()))];
        slow.replace(&moves, &elsewhere).await.unwrap();
        assert_eq!(rows(&db).await, 0, "deleted here");
        assert_eq!(rows(&other_db).await, 1, "sent there");
        let there = elsewhere.receive(10).await.unwrap();
        assert_eq!(Job::decode(&there[0].body), Some(job));
    }
}
