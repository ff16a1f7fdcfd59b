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
use hookline_core::ports::{DeadLetter, Enqueue, Queue, QueueLimits, QueueMessage};
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

    /// Takes any number of jobs, in one transaction: the batch limit is SQS's, not SQLite's.
    async fn send_batch(&self, jobs: &[Enqueue]) -> Result<()> {
        let bodies: Vec<(String, i64)> = jobs
            .iter()
            .map(|e| {
                (
                    e.message.encode(),
                    ms(e.delay.min(EMBEDDED_LIMITS.max_delay)),
                )
            })
            .collect();
        let name = self.config.name.clone();
        let now = self.clock.now().millis();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                {
                    let mut stmt = tx.prepare_cached(
                        "INSERT INTO queue_messages (id, queue, body, sent_at, visible_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?;
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
