//! Failure notifications: what ops are told when a delivery is given up on. Each stored
//! `hookline.delivery.failed` event becomes one message to the notification topic (SNS on AWS),
//! carrying the event as JSON and attributes subscribers can filter on. Publishing is at least
//! once: a retried publish repeats the same event id, which consumers can deduplicate on.

use super::failure::DeliveryFailed;
use super::health::EndpointHealthEvent;
use crate::error::Result;
use crate::event::Event;
use std::collections::BTreeMap;

pub use crate::ports::{Notification, Notifier};

/// SNS subjects must be shorter than 100 characters.
pub const MAX_SUBJECT_LEN: usize = 99;

/// The notification for `event`, if it is one ops are told about (a failed delivery, an
/// endpoint's circuit opening, closing, nearing or reaching auto-disable).
pub fn notification(event: &Event) -> Option<Notification> {
    let (subject, subscription_id, extra) = if let Some(failed) = DeliveryFailed::from_event(event)
    {
        let subject = format!(
            "Hookline: delivery to {} failed for tenant {}",
            failed.subscription_id, event.tenant_id
        );
        let extra = ("failed_event_type".to_string(), failed.event_type.clone());
        (subject, failed.subscription_id, Some(extra))
    } else {
        let health = EndpointHealthEvent::from_event(event)?;
        let what = event.event_type.trim_start_matches("hookline.endpoint.");
        let subject = format!(
            "Hookline: endpoint {} of tenant {} {what}",
            health.subscription_id, event.tenant_id
        );
        (subject, health.subscription_id, None)
    };
    // SNS accepts printable ASCII only in subjects: tenant and subscription ids are, by type.
    let subject: String = subject.chars().take(MAX_SUBJECT_LEN).collect();
    let mut attributes = BTreeMap::from([
        ("tenant_id".to_string(), event.tenant_id.to_string()),
        ("event_type".to_string(), event.event_type.clone()),
        ("subscription_id".to_string(), subscription_id.to_string()),
    ]);
    attributes.extend(extra);
    Some(Notification {
        subject,
        message: serde_json::to_string(event).expect("events serialize"),
        attributes,
    })
}

/// Publishes the notification for `event` with `notifier`, if the event needs one; returns
/// whether it did.
pub async fn publish(notifier: &dyn Notifier, event: &Event) -> Result<bool> {
    let Some(n) = notification(event) else {
        return Ok(false);
    };
    notifier.publish(&n).await?;
    tracing::info!(event_id = %event.id, tenant_id = %event.tenant_id, event_type = %event.event_type, "notification published");
    Ok(true)
}

impl crate::hookline::Hookline {
    /// Publishes the notification for `event`, if it needs one and this process has a notifier.
    pub async fn notify(&self, event: &Event) -> Result<bool> {
        match &self.notifier {
            Some(notifier) => publish(notifier.as_ref(), event).await,
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::event::DELIVERY_FAILED;
    use crate::ids::EventId;

    fn event(event_type: &str, tenant: &str) -> Event {
        Event {
            id: EventId::generate(),
            tenant_id: crate::tenant::TenantId::parse(tenant).unwrap(),
            event_type: event_type.to_string(),
            timestamp: Timestamp::from_millis(1_795_736_620_000),
            data: serde_json::json!({
                "delivery_id": "dlv_01M8D3WKVYHV6BK3RRJNSK3WT6",
                "event_id": "evt_01M8D3WKVYHV6BK3RRJNSK3WT5",
                "subscription_id": "sub_01M8D3WKVYHV6BK3RRJNSK3WT7",
                "event_type": "lead.qualified",
                "attempts": 8,
                "reason": "attempts exhausted",
                "last_error": "HTTP 500",
                "last_status_code": 500,
            })
            .as_object()
            .cloned()
            .unwrap(),
            attributes: Default::default(),
        }
    }

    #[test]
    fn only_failed_deliveries_notify() {
        assert!(notification(&event("lead.qualified", "ford-anytown")).is_none());
        assert!(notification(&event("webhook.test", "ford-anytown")).is_none());
        assert!(notification(&event(DELIVERY_FAILED, "ford-anytown")).is_some());
    }

    #[test]
    fn carries_the_event_and_filterable_attributes() {
        let e = event(DELIVERY_FAILED, "ford-anytown");
        let n = notification(&e).unwrap();
        assert_eq!(
            n.subject,
            "Hookline: delivery to sub_01M8D3WKVYHV6BK3RRJNSK3WT7 failed for tenant ford-anytown"
        );
        let back: Event = serde_json::from_str(&n.message).unwrap();
        assert_eq!(back, e);
        assert_eq!(n.attributes["tenant_id"], "ford-anytown");
        assert_eq!(n.attributes["event_type"], DELIVERY_FAILED);
        assert_eq!(n.attributes["failed_event_type"], "lead.qualified");
        assert_eq!(
            n.attributes["subscription_id"],
            "sub_01M8D3WKVYHV6BK3RRJNSK3WT7"
        );
    }

    #[test]
    fn subject_is_short_printable_ascii() {
        let e = event(DELIVERY_FAILED, &format!("dealer-{}", "x".repeat(120)));
        let n = notification(&e).unwrap();
        assert_eq!(n.subject.chars().count(), MAX_SUBJECT_LEN);
        assert!(n.subject.len() < 100);
        assert!(n.subject.chars().all(|c| c.is_ascii_graphic() || c == ' '));
    }
}
