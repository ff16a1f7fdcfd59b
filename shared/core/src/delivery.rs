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
}

impl Delivery {
    /// A new, pending delivery of `event` to `sub`.
    pub fn new(
        event: &crate::event::Event,
        sub: &crate::subscription::Subscription,
        now: Timestamp,
    ) -> Self {
        Delivery {
            id: DeliveryId::generate(),
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
        }
    }

    /// The number the next attempt will have, counted within the current round.
    pub fn next_attempt_in_round(&self) -> u32 {
        (self.attempts.len() as u32 + 1).saturating_sub(self.attempt_base)
    }
}

/// The change an attempt (or a decision to give up without one) makes to its delivery, recorded
/// in one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    pub delivery_id: DeliveryId,
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
