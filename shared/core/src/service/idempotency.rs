//! Creating under an `Idempotency-Key`: the same key with the same body within 24 hours answers
//! the first response and creates nothing more. The response is stored in the same write as
//! what the request creates, so there is no claim that a crash could leave behind: a retry after
//! a crash finds either nothing (and creates) or the response (and replays it), at once. Keys are
//! scoped to the caller and the route.

use super::Hookline;
use crate::access::Principal;
use crate::clock::Timestamp;
use crate::error::Result;
use crate::ports::{Created, IdempotencyRecord, KeyedResponse};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a key replays its response.
pub const KEY_TTL: Duration = Duration::from_secs(24 * 3600);

/// A create request's key, with what it answers once it has created a `T`.
pub struct Keyed<'a, T> {
    /// The key, scoped to the caller and the route.
    pub key: String,
    /// SHA-256 of the request body: the same key with another body is refused.
    pub request_hash: String,
    /// The response to the request that creates `T`: status and JSON body.
    pub render: &'a (dyn Fn(&T) -> (u16, String) + Send + Sync),
}

impl<'a, T> Keyed<'a, T> {
    pub fn new(
        principal: &Principal,
        route: &str,
        key: &str,
        body: &[u8],
        render: &'a (dyn Fn(&T) -> (u16, String) + Send + Sync),
    ) -> Self {
        let who = match principal {
            Principal::Admin => "admin".to_string(),
            Principal::Tenant(t) => format!("tenant:{t}"),
        };
        Keyed {
            key: format!("{who} {route} {key}"),
            request_hash: hex::encode(Sha256::digest(body)),
            render,
        }
    }

    /// The response to store with `created`.
    pub(super) fn response(&self, created: &T, now: Timestamp) -> KeyedResponse {
        let (status, body) = (self.render)(created);
        KeyedResponse {
            key: self.key.clone(),
            record: IdempotencyRecord {
                request_hash: self.request_hash.clone(),
                status,
                body,
            },
            expires_at: now.plus(KEY_TTL),
            now,
        }
    }
}

/// What a create did: made something new, or found its key's earlier response (which the
/// caller replays, or refuses if it was for another body).
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted<T> {
    New(T),
    Replayed(IdempotencyRecord),
}

impl<T> Accepted<T> {
    /// What was created, if this request created it (always so without a key).
    pub fn into_new(self) -> Option<T> {
        match self {
            Accepted::New(created) => Some(created),
            Accepted::Replayed(_) => None,
        }
    }
}

impl Hookline {
    /// The response the key already holds, if any: a replay does no work at all.
    pub(super) async fn earlier_response<T>(
        &self,
        keyed: Option<&Keyed<'_, T>>,
    ) -> Result<Option<IdempotencyRecord>> {
        match keyed {
            Some(k) => {
                self.store
                    .idempotency_record(&k.key, self.clock.now())
                    .await
            }
            None => Ok(None),
        }
    }
}

/// What a keyed write of `created` did.
pub(super) fn accepted<T>(created: T, write: Created) -> Accepted<T> {
    match write {
        Created::Stored => Accepted::New(created),
        Created::KeyTaken(record) => Accepted::Replayed(record),
    }
}
