//! The records the store checks write: one realistic subscription, event and delivery, built
//! through the core's own constructors so that what is stored is what the API would store.

use hookline_core::TenantId;
use hookline_core::clock::Timestamp;
use hookline_core::delivery::Delivery;
use hookline_core::destination::DestinationPolicy;
use hookline_core::event::{Event, NewEvent};
use hookline_core::ports::DeliveryQuery;
use hookline_core::subscription::{NewSubscription, Subscription};
use serde_json::json;

pub fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("fixture tenant ids are valid")
}

/// Every optional field set, so a store that drops one fails the round trip.
pub fn subscription(tenant: &TenantId) -> Subscription {
    serde_json::from_value::<NewSubscription>(json!({
        "url": "https://crm.example.com/hooks",
        "event_types": ["lead.*"], "name": "CRM", "filter": {"campaign": ["abc123"]},
        "headers": {"X-Dealer-Id": "4821"}, "hex_signature_header": "X-CarBuddy-Signature",
        "method": "PUT", "auth": {"type": "bearer", "token": "t0k3n"}
    }))
    .unwrap()
    .into_subscription(
        tenant.clone(),
        Timestamp(1_000),
        &DestinationPolicy::default(),
    )
    .unwrap()
}

pub fn event(tenant: &TenantId) -> Event {
    serde_json::from_value::<NewEvent>(json!({
        "type": "lead.qualified",
        "data": {"customer": {"first_name": "Sarah", "last_name": "Jones"}},
        "attributes": {"campaign": "abc123"}
    }))
    .unwrap()
    .into_event(tenant.clone(), Timestamp(2_000))
    .unwrap()
}

/// Created at 3000 ms, which the delivery window checks rely on.
pub fn delivery(e: &Event, s: &Subscription) -> Delivery {
    Delivery::new(e, s, Timestamp(3_000))
}

/// A query with no filter; checks set the fields they test.
pub fn query() -> DeliveryQuery {
    DeliveryQuery {
        event_id: None,
        subscription_id: None,
        status: None,
        since: None,
        until: None,
        after: None,
        limit: 100,
    }
}
