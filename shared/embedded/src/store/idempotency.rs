//! `Idempotency-Key` claims on SQLite. A claim reads and writes the key in one immediate
//! transaction, which takes the write lock first, so of concurrent callers exactly one claims.

use super::SqliteStore;
use async_trait::async_trait;
use hookline_core::clock::Timestamp;
use hookline_core::error::Result;
use hookline_core::ports::{Claim, IdempotencyRecord, IdempotencyStore};
use rusqlite::{OptionalExtension, params};

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_idempotency(
        &self,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        stale_before: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Claim> {
        let (key, hash) = (key.to_string(), request_hash.to_string());
        self.db
            .call(move |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let existing: Option<(String, i64, i64, Option<u16>, Option<String>)> = tx
                    .prepare_cached(
                        "SELECT request_hash, claimed_at, expires_at, status, body \
                         FROM idempotency_keys WHERE key = ?1",
                    )?
                    .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                    .optional()?;
                let claimable = match &existing {
                    None => true,
                    Some((_, claimed_at, expires, status, _)) => {
                        *expires <= now.millis() || (status.is_none() && *claimed_at < stale_before.millis())
                    }
                };
                if !claimable {
                    let (request_hash, _, _, status, body) = existing.expect("checked above");
                    tx.commit()?;
                    return Ok(Claim::Existing(IdempotencyRecord {
                        request_hash,
                        response: status.map(|s| (s, body.unwrap_or_default())),
                    }));
                }
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO idempotency_keys (key, request_hash, claimed_at, expires_at, status, body) \
                     VALUES (?1, ?2, ?3, ?4, NULL, NULL)",
                )?
                .execute(params![key, hash, now.millis(), expires_at.millis()])?;
                tx.commit()?;
                Ok(Claim::Claimed)
            })
            .await
    }

    async fn complete_idempotency(&self, key: &str, status: u16, body: &str) -> Result<()> {
        let (key, body) = (key.to_string(), body.to_string());
        self.db
            .call(move |c| {
                c.prepare_cached(
                    "UPDATE idempotency_keys SET status = ?2, body = ?3 WHERE key = ?1",
                )?
                .execute(params![key, status, body])
                .map(drop)
            })
            .await
    }

    async fn release_idempotency(&self, key: &str) -> Result<()> {
        let key = key.to_string();
        self.db
            .call(move |c| {
                // Only an uncompleted claim: a finished response stays to be replayed.
                c.prepare_cached("DELETE FROM idempotency_keys WHERE key = ?1 AND status IS NULL")?
                    .execute([key])
                    .map(drop)
            })
            .await
    }
}
