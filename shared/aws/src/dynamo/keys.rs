//! Every key the table holds, in one place: the `pk`/`sk` of each item kind and the index
//! partitions that list them. Nothing else in the crate formats a key, so the table in the module
//! doc, the writes, the queries and the stream decoder cannot drift apart.

use hookline_core::TenantId;
use hookline_core::ids::{ApiKeyId, DeliveryId, EventId, SubscriptionId};

/// The index partitioned by owner: a tenant's subscriptions and keys, an event's deliveries,
/// the outbox.
pub const GSI1: &str = "gsi1";
/// The second index: every tenant's subscriptions and keys, a subscription's deliveries.
pub const GSI2: &str = "gsi2";

/// The sort key of every item that is alone in its partition (all but the delivery guard).
pub const ITEM: &str = "#";

const SUBSCRIPTION: &str = "SUB#";
const EVENT: &str = "EVT#";
const DELIVERY: &str = "DLV#";
const API_KEY: &str = "KEY#";
const IDEMPOTENCY: &str = "IDEM#";

pub fn subscription(id: &SubscriptionId) -> String {
    format!("{SUBSCRIPTION}{id}")
}

pub fn event(id: &EventId) -> String {
    format!("{EVENT}{id}")
}

pub fn delivery(id: &DeliveryId) -> String {
    format!("{DELIVERY}{id}")
}

pub fn api_key(id: &ApiKeyId) -> String {
    format!("{API_KEY}{id}")
}

/// An `Idempotency-Key` header value, as the caller sent it.
pub fn idempotency(key: &str) -> String {
    format!("{IDEMPOTENCY}{key}")
}

/// `pk` and `sk` of the item that lets one delivery exist per (event, subscription). It shares
/// the event's partition, so only its sort key tells it from the event.
pub fn delivery_guard(event_id: &EventId, subscription_id: &SubscriptionId) -> (String, String) {
    (event(event_id), format!("{DELIVERY}{subscription_id}"))
}

/// Whether an item's keys are an event's (and not, say, a delivery guard in its partition).
pub fn is_event(pk: &str, sk: &str) -> bool {
    pk.starts_with(EVENT) && sk == ITEM
}

/// The gsi1 partition of events not yet fanned out.
pub const OUTBOX: &str = "OUTBOX";

/// The gsi1 partition of an event's deliveries.
pub fn event_deliveries(event_id: &EventId) -> String {
    format!("{EVENT}{event_id}#DLV")
}

/// The gsi2 partition of a subscription's deliveries.
pub fn subscription_deliveries(subscription_id: &SubscriptionId) -> String {
    format!("{SUBSCRIPTION}{subscription_id}#DLV")
}

/// What the API lists per tenant and across tenants: listed on gsi1 by tenant and on gsi2 for
/// everyone, ordered by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Subscriptions,
    ApiKeys,
}

impl Listed {
    fn kind(self) -> &'static str {
        match self {
            Listed::Subscriptions => "SUB",
            Listed::ApiKeys => "KEY",
        }
    }

    /// The gsi1 partition of one tenant's items: `T#{tenant}#SUB`, `T#{tenant}#KEY`.
    pub fn of_tenant(self, tenant_id: &TenantId) -> String {
        format!("T#{tenant_id}#{}", self.kind())
    }

    /// The gsi2 partition of every tenant's items: `SUB`, `KEY`.
    pub fn of_everyone(self) -> &'static str {
        self.kind()
    }
}

/// The gsi1 partition of a tenant's subscriptions (fan-out candidates, the per-tenant count).
pub fn tenant_subscriptions(tenant_id: &TenantId) -> String {
    Listed::Subscriptions.of_tenant(tenant_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ULID: &str = "01M8D3WKVYHV6BK3RRJNSK3WT6";

    fn ids() -> (SubscriptionId, EventId, DeliveryId, ApiKeyId) {
        (
            SubscriptionId::parse(&format!("sub_{ULID}")).unwrap(),
            EventId::parse(&format!("evt_{ULID}")).unwrap(),
            DeliveryId::parse(&format!("dlv_{ULID}")).unwrap(),
            ApiKeyId::parse(&format!("key_{ULID}")).unwrap(),
        )
    }

    #[test]
    fn each_item_kind_has_its_own_partition_key() {
        let (sub, evt, dlv, key) = ids();
        assert_eq!(subscription(&sub), format!("SUB#sub_{ULID}"));
        assert_eq!(event(&evt), format!("EVT#evt_{ULID}"));
        assert_eq!(delivery(&dlv), format!("DLV#dlv_{ULID}"));
        assert_eq!(api_key(&key), format!("KEY#key_{ULID}"));
        assert_eq!(idempotency("order-42"), "IDEM#order-42");
        assert_eq!(ITEM, "#");
    }

    #[test]
    fn the_delivery_guard_lives_in_its_events_partition() {
        let (sub, evt, _, _) = ids();
        let (pk, sk) = delivery_guard(&evt, &sub);
        assert_eq!(pk, event(&evt));
        assert_eq!(sk, format!("DLV#sub_{ULID}"));
    }

    #[test]
    fn only_an_events_own_item_is_recognised_as_an_event() {
        let (sub, evt, dlv, _) = ids();
        assert!(is_event(&event(&evt), ITEM));
        let (guard_pk, guard_sk) = delivery_guard(&evt, &sub);
        assert!(!is_event(&guard_pk, &guard_sk));
        assert!(!is_event(&delivery(&dlv), ITEM));
        assert!(!is_event(&subscription(&sub), ITEM));
    }

    #[test]
    fn index_partitions_group_items_by_owner() {
        let (sub, evt, _, _) = ids();
        let tenant = TenantId::parse("ford-anytown").unwrap();
        assert_eq!(OUTBOX, "OUTBOX");
        assert_eq!(event_deliveries(&evt), format!("EVT#evt_{ULID}#DLV"));
        assert_eq!(subscription_deliveries(&sub), format!("SUB#sub_{ULID}#DLV"));
        assert_eq!(tenant_subscriptions(&tenant), "T#ford-anytown#SUB");
        assert_eq!(
            Listed::Subscriptions.of_tenant(&tenant),
            "T#ford-anytown#SUB"
        );
        assert_eq!(Listed::ApiKeys.of_tenant(&tenant), "T#ford-anytown#KEY");
        assert_eq!(Listed::Subscriptions.of_everyone(), "SUB");
        assert_eq!(Listed::ApiKeys.of_everyone(), "KEY");
    }
}
