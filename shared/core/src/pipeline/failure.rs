//! `hookline.delivery.failed`: the operational event stored when a delivery is given up on, in
//! the same write as the failure. One typed record is converted to the event (for the store,
//! subscribers and the alert topic) and read back from it, so both sides agree on its fields.

use crate::clock::Timestamp;
use crate::delivery::{Attempt, Delivery};
use crate::event::{DELIVERY_FAILED, Event};
use crate::ids::{DeliveryId, EventId, SubscriptionId};
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

/// The `data` of a `hookline.delivery.failed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFailed {
    pub delivery_id: DeliveryId,
    pub event_id: EventId,
    /// The type of the event that could not be delivered.
    pub event_type: String,
    pub subscription_id: SubscriptionId,
    pub attempts: usize,
    pub reason: String,
    pub last_error: Option<String>,
    pub last_status_code: Option<u16>,
}

impl DeliveryFailed {
    /// The failure of `delivery`, whose last attempt is `attempt` if one was just made.
    pub fn of(delivery: &Delivery, attempt: Option<&Attempt>, reason: &str) -> Self {
        let last = attempt.or(delivery.attempts.last());
        DeliveryFailed {
            delivery_id: delivery.id.clone(),
            event_id: delivery.event_id.clone(),
            event_type: delivery.event_type.clone(),
            subscription_id: delivery.subscription_id.clone(),
            attempts: delivery.attempts.len() + usize::from(attempt.is_some()),
            reason: reason.to_string(),
            last_error: last.and_then(|a| a.error.clone()),
            last_status_code: last.and_then(|a| a.status_code),
        }
    }

    /// The event that carries it, for the delivery's tenant.
    pub fn into_event(self, tenant_id: TenantId, now: Timestamp) -> Event {
        let data = serde_json::to_value(self).expect("failures serialize");
        Event {
            id: EventId::generate(),
            tenant_id,
            event_type: DELIVERY_FAILED.to_string(),
            timestamp: now,
            data: data.as_object().cloned().unwrap_or_default(),
            attributes: Default::default(),
        }
    }

    /// The failure an event carries, if it is a `hookline.delivery.failed` event.
    pub fn from_event(event: &Event) -> Option<Self> {
        if event.event_type != DELIVERY_FAILED {
            return None;
        }
        serde_json::from_value(serde_json::Value::Object(event.data.clone())).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_survives_its_event_and_other_events_carry_none() {
        let failed = DeliveryFailed {
            delivery_id: DeliveryId::generate(),
            event_id: EventId::generate(),
            event_type: "lead.qualified".into(),
            subscription_id: SubscriptionId::generate(),
            attempts: 8,
            reason: "gave up after 8 attempts; last error: HTTP 500".into(),
            last_error: Some("HTTP 500".into()),
            last_status_code: Some(500),
        };
        let event = failed
            .clone()
            .into_event(TenantId::parse("ford-anytown").unwrap(), Timestamp(5));
        assert_eq!(event.event_type, DELIVERY_FAILED);
        assert_eq!(event.data["last_status_code"], 500);
        assert_eq!(DeliveryFailed::from_event(&event), Some(failed));
        let mut other = event.clone();
        other.event_type = "lead.qualified".into();
        assert_eq!(DeliveryFailed::from_event(&other), None);
    }
}
