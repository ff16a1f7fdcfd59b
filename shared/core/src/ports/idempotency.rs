//! Storage of `Idempotency-Key` claims and the responses they replay.

use crate::clock::Timestamp;
use crate::error::Result;
use async_trait::async_trait;

/// The stored state of an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Hash of the request that first used the key.
    pub request_hash: String,
    /// The response, once the first request finished: status and body.
    pub response: Option<(u16, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the key now and must complete or release it.
    Claimed,
    /// Another request holds or held the key.
    Existing(IdempotencyRecord),
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims an idempotency key for a request, atomically: exactly one of concurrent callers
    /// gets `Claimed`. A key whose record expired, or whose claim was never completed and is
    /// older than `stale_before` (its request crashed), can be claimed again.
    async fn claim_idempotency(
        &self,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        stale_before: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Claim>;
    async fn complete_idempotency(&self, key: &str, status: u16, body: &str) -> Result<()>;
    /// Gives a claimed key up (the request failed and changed nothing).
    async fn release_idempotency(&self, key: &str) -> Result<()>;
}
