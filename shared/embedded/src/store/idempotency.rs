//! `Idempotency-Key` responses on SQLite. A keyed create writes its row and the key's response in
//! one immediate transaction, which takes the write lock first: of racing duplicates exactly one
//! writes, and the others find its response.

use super::SqliteStore;
use async_trait::async_trait;
use hookline_core::clock::Timestamp;
use hookline_core::error::Result;
use hookline_core::ports::{Created, IdempotencyRecord, IdempotencyStore, KeyedResponse};
use rusqlite::{Connection, OptionalExtension, params};

/// The unexpired response `key` holds. Rows without a status are claims of an earlier version,
/// which never completed: they hold nothing.
fn record(
    c: &Connection,
    key: &str,
    now: Timestamp,
) -> rusqlite::Result<Option<IdempotencyRecord>> {
    c.prepare_cached(
        "SELECT request_hash, status, body FROM idempotency_keys \
         WHERE key = ?1 AND expires_at > ?2 AND status IS NOT NULL",
    )?
    .query_row(params![key, now.millis()], |r| {
        Ok(IdempotencyRecord {
            request_hash: r.get(0)?,
            status: r.get(1)?,
            body: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        })
    })
    .optional()
}

/// Runs `insert` and, when keyed, stores the key's response, in one immediate transaction;
/// writes nothing when the key already holds a response.
pub(super) fn insert_keyed(
    c: &mut Connection,
    keyed: Option<&KeyedResponse>,
    insert: impl FnOnce(&Connection) -> rusqlite::Result<()>,
) -> rusqlite::Result<Created> {
    let Some(k) = keyed else {
        insert(c)?;
        return Ok(Created::Stored);
    };
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let Some(earlier) = record(&tx, &k.key, k.now)? {
        return Ok(Created::KeyTaken(earlier));
    }
    tx.prepare_cached(
        "INSERT OR REPLACE INTO idempotency_keys \
         (key, request_hash, claimed_at, expires_at, status, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        k.key,
        k.record.request_hash,
        k.now.millis(),
        k.expires_at.millis(),
        k.record.status,
        k.record.body
    ])?;
    insert(&tx)?;
    tx.commit()?;
    Ok(Created::Stored)
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn idempotency_record(
        &self,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>> {
        let key = key.to_string();
        self.db.call(move |c| record(c, &key, now)).await
    }
}
