//! Deliveries: one per (event, subscription), with every attempt recorded so the API and ops can
//! answer "what happened to event X at endpoint Y".

use crate::clock::Timestamp;
use crate::ids::{DeliveryId, EventId, SubscriptionId};
use serde::{Deserialize, Serialize};

/// How much of a receiver's response body is kept per attempt.
pub const RESPONSE_BODY_LIMIT: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "succeeded" => Some(DeliveryStatus::Succeeded),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
    pub fn is_terminal(self) -> bool {
        self != DeliveryStatus::Pending
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    pub at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub subscription_id: SubscriptionId,
    pub tenant_id: crate::tenant::TenantId,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the next attempt is due, while pending and backing off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    /// Why the delivery failed, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub attempts: Vec<Attempt>,
    /// Attempts made before the current round: a recovered delivery gets a fresh schedule.
    #[serde(skip)]
    pub attempt_base: u32,
    /// Who holds or last held the claim on an attempt (a queue message id, or the API for a
    /// one-off attempt): the job that carries the delivery's retry chain.
    #[serde(skip)]
    pub carrier: Option<String>,
    /// Until when the carrier's claim on the next attempt is live (set while it is attempted).
    #[serde(skip)]
    pub claimed_until: Option<Timestamp>,
}

impl Delivery {
    /// A new, pending delivery of `event` to `sub`.
    pub fn new(
        event: &crate::event::Event,
        sub: &crate::subscription::Subscription,
        now: Timestamp,
    ) -> Self {
        Delivery {
            id: DeliveryId::of(&event.id, &sub.id),
            event_id: event.id.clone(),
            subscription_id: sub.id.clone(),
            tenant_id: event.tenant_id.clone(),
            event_type: event.event_type.clone(),
            status: DeliveryStatus::Pending,
            created_at: now,
            updated_at: now,
            next_attempt_at: Some(now),
            failure_reason: None,
            attempts: Vec::new(),
            attempt_base: 0,
            carrier: None,
            claimed_until: None,
        }
    }

    /// The state a change is computed from, which the store checks before it writes.
    pub fn version(&self) -> DeliveryVersion {
        DeliveryVersion {
            status: self.status,
            attempts: self.attempts.len() as u32,
        }
    }

    /// Whether anyone holds a live claim on the next attempt at `now`.
    pub fn claimed(&self, now: Timestamp) -> bool {
        self.claimed_until.is_some_and(|until| until > now)
    }

    /// Whether someone other than `who` (a [`Claim::by`]) holds a live claim at `now`.
    pub fn claimed_by_other(&self, who: &str, now: Timestamp) -> bool {
        self.claimed(now) && self.carrier.as_deref() != Some(who)
    }

    /// Whether queue message `message_id` made (or is making) the delivery's latest attempt: the
    /// claim's holder is that message, whichever receive of it claimed.
    pub fn carried_by(&self, message_id: &str) -> bool {
        self.carrier
            .as_deref()
            .is_some_and(|c| c.split_once(RECEIVE_SEPARATOR).map_or(c, |(m, _)| m) == message_id)
    }

    /// The number the next attempt will have, counted within the current round.
    pub fn next_attempt_in_round(&self) -> u32 {
        (self.attempts.len() as u32 + 1).saturating_sub(self.attempt_base)
    }
}

/// A delivery's state as a writer read it: its status and how many attempts it had. Every change
/// is written only if the delivery is still in this state, so no writer overwrites a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryVersion {
    pub status: DeliveryStatus,
    pub attempts: u32,
}

/// Separates a queue message's id from its receive in a claim's holder (`msg#receive`).
pub const RECEIVE_SEPARATOR: char = '#';

/// The holder of a claim taken by one receive of a queue message: the message id and a tag of
/// the receipt, so two receives of the same message (SQS delivers at least once) are two holders
/// and cannot both send the attempt.
pub fn claim_holder(message_id: &str, receipt: &str) -> String {
    use sha2::Digest;
    let tag = hex::encode(&sha2::Sha256::digest(receipt.as_bytes())[..6]);
    format!("{message_id}{RECEIVE_SEPARATOR}{tag}")
}

/// A claim on a delivery's next attempt, taken before the request is sent, so that two handlers
/// of one job never both send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub delivery_id: DeliveryId,
    pub expected: DeliveryVersion,
    /// The receive of the job that claims ([`claim_holder`]), or the API's one-off id.
    pub by: String,
    /// When the claim lapses: the attempt's timeout plus a margin, so a crashed handler's claim
    /// is free again by the time its message comes back.
    pub until: Timestamp,
    /// When the claim is taken: a claim that lapsed before this is free.
    pub at: Timestamp,
}

/// The change an attempt (or a decision to give up without one) makes to its delivery, recorded
/// in one write, and only if the delivery is still at `expected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    pub delivery_id: DeliveryId,
    /// The delivery's subscription (a store may index failed deliveries under it).
    pub subscription_id: SubscriptionId,
    pub expected: DeliveryVersion,
    /// The claim holder the update comes from: the write also requires it still holds the
    /// claim. `None`: the update needs no claim, and is refused while anyone holds a live one.
    pub carrier: Option<String>,
    /// When the update happened.
    pub at: Timestamp,
    pub attempt: Option<Attempt>,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<Timestamp>,
    pub failure_reason: Option<String>,
    /// Starts a new round of attempts (a recovered delivery) at this many prior attempts.
    pub attempt_base: Option<u32>,
}

/// Keeps the first bytes of a response body, cut on a character boundary.
pub fn body_slice(body: &[u8]) -> String {
    let cut = &body[..body.len().min(RESPONSE_BODY_LIMIT)];
    let s = String::from_utf8_lossy(cut);
    s.trim_end_matches('\u{FFFD}').to_string()
}

/// A delivery with `attempts` failed attempts, for the core's unit tests.
#[cfg(test)]
pub(crate) fn test_delivery(status: DeliveryStatus, attempts: u32, base: u32) -> Delivery {
    Delivery {
        id: DeliveryId::generate(),
        event_id: EventId::generate(),
        subscription_id: SubscriptionId::generate(),
        tenant_id: crate::tenant::TenantId::parse("t").unwrap(),
        event_type: "lead.qualified".into(),
        status,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
        next_attempt_at: None,
        failure_reason: None,
        attempts: (1..=attempts)
            .map(|number| Attempt {
                number,
                at: Timestamp(0),
                status_code: Some(500),
                error: None,
                duration_ms: 1,
                response_body: None,
            })
            .collect(),
        attempt_base: base,
        carrier: None,
        claimed_until: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_slice_is_bounded_and_utf8_safe() {
        let long = "é".repeat(RESPONSE_BODY_LIMIT);
        let s = body_slice(long.as_bytes());
        assert!(s.len() <= RESPONSE_BODY_LIMIT);
        assert!(s.chars().all(|c| c == 'é'));
        assert_eq!(body_slice(b"ok"), "ok");
    }
}
