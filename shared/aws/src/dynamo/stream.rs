//! Reading the table's stream: a record's new image, in DynamoDB's attribute-value JSON, back
//! into the stored event. The fan-out and notify functions decide from it, so it recognises
//! events and the outbox by the same keys the store writes.

use super::keys;
use hookline_core::event::Event;
use serde_json::Value;

/// An event as a stream record shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event: Event,
    /// Whether the event is still in the outbox (not yet fanned out).
    pub awaiting_fanout: bool,
}

/// The event a stream record's `NewImage` stores: `Ok(None)` for items that are not events
/// (and for removals, which have no new image), `Err` for an event item that cannot be read.
pub fn stored_event(new_image: &Value) -> Result<Option<StoredEvent>, String> {
    let string = |name: &str| new_image[name]["S"].as_str();
    let is_event = match (string("pk"), string("sk")) {
        (Some(pk), Some(sk)) => keys::is_event(pk, sk),
        _ => false,
    };
    if !is_event {
        return Ok(None);
    }
    let awaiting_fanout = string("outbox").is_some_and(keys::in_outbox);
    match string("body").map(serde_json::from_str::<Event>) {
        Some(Ok(event)) => Ok(Some(StoredEvent {
            event,
            awaiting_fanout,
        })),
        Some(Err(e)) => Err(format!("stored event is not valid: {e}")),
        None => Err("stream record has no event body".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::codec::{self, Item, n};
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue as AV;
    use hookline_core::TenantId;
    use hookline_core::clock::Timestamp;
    use hookline_core::delivery::{Delivery, DeliveryStatus};
    use hookline_core::ids::{DeliveryId, EventId, SubscriptionId};
    use serde_json::json;

    fn event() -> Event {
        Event {
            id: EventId::generate(),
            tenant_id: TenantId::parse("ford-anytown").unwrap(),
            event_type: "lead.qualified".into(),
            timestamp: Timestamp(1_795_736_620_926),
            data: json!({"summary": "Test drive on Friday afternoon"})
                .as_object()
                .cloned()
                .unwrap(),
            attributes: [("campaign".to_string(), "abc123".to_string())].into(),
        }
    }

    /// An item as the stream's `NewImage` carries it.
    fn image(item: &Item) -> Value {
        let attribute = |v: &AV| match v {
            AV::S(s) => json!({ "S": s }),
            AV::N(n) => json!({ "N": n }),
            AV::L(l) => {
                json!({ "L": l.iter().map(|v| json!({"S": v.as_s().unwrap()})).collect::<Vec<_>>() })
            }
            other => panic!("no stored item has {other:?}"),
        };
        Value::Object(
            item.iter()
                .map(|(k, v)| (k.clone(), attribute(v)))
                .collect(),
        )
    }

    #[test]
    fn an_event_in_the_outbox_is_awaiting_fanout() {
        let e = event();
        let stored = stored_event(&image(&codec::event_item(&e, true, n(0)))).unwrap();
        assert_eq!(
            stored,
            Some(StoredEvent {
                event: e,
                awaiting_fanout: true
            })
        );
    }

    #[test]
    fn an_event_out_of_the_outbox_is_already_fanned_out() {
        let e = event();
        let stored = stored_event(&image(&codec::event_item(&e, false, n(0)))).unwrap();
        assert_eq!(
            stored,
            Some(StoredEvent {
                event: e,
                awaiting_fanout: false
            })
        );
    }

    #[test]
    fn items_that_are_not_events_are_skipped() {
        let e = event();
        let d = Delivery {
            id: DeliveryId::generate(),
            event_id: e.id.clone(),
            subscription_id: SubscriptionId::generate(),
            tenant_id: e.tenant_id.clone(),
            event_type: e.event_type.clone(),
            status: DeliveryStatus::Pending,
            created_at: e.timestamp,
            updated_at: e.timestamp,
            next_attempt_at: None,
            failure_reason: None,
            attempts: Vec::new(),
            attempt_base: 0,
            carrier: None,
            claimed_until: None,
        };
        let delivery = codec::delivery_item(&d, n(0));
        assert_eq!(stored_event(&image(&delivery)), Ok(None));
        // A removal's record has no new image.
        assert_eq!(stored_event(&json!({})), Ok(None));
        assert_eq!(stored_event(&Value::Null), Ok(None));
    }

    #[test]
    fn an_event_item_that_cannot_be_read_is_an_error() {
        let mut item = codec::event_item(&event(), true, n(0));
        item.insert("body".into(), AV::S("{\"id\":".into()));
        let e = stored_event(&image(&item)).unwrap_err();
        assert!(e.starts_with("stored event is not valid"), "{e}");
        item.remove("body");
        assert_eq!(
            stored_event(&image(&item)),
            Err("stream record has no event body".to_string())
        );
    }
}
