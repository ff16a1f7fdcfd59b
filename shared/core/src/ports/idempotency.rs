//! Storage of `Idempotency-Key` responses. A keyed request's response is stored in the same
//! write as what the request creates (the event, the subscription, the API key), so a key is
//! never taken without its result: a crash leaves both or neither, and of two racing duplicates
//! one write wins and the other replays it.

use crate::clock::Timestamp;
use crate::error::Result;
use async_trait::async_trait;

/// The stored response of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Hash of the request that first used the key.
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

/// What a keyed request answers, written with what it creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedResponse {
    /// The key, scoped to its caller and route.
    pub key: String,
    pub record: IdempotencyRecord,
    /// Until when the key replays this response; after that it may be used afresh.
    pub expires_at: Timestamp,
    /// The time of the write (an expired record is replaced).
    pub now: Timestamp,
}

/// What a create under a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Stored (with the key's response, if keyed).
    Stored,
    /// The key already holds a response, written first by another request: nothing was stored.
    KeyTaken(IdempotencyRecord),
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// The response a key holds, unless it expired by `now`.
    async fn idempotency_record(
        &self,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>>;
}
