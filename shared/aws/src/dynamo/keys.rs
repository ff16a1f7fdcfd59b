//! Every key the table holds, in one place: the `pk`/`sk` of each item kind and the index
//! partitions that list them. Nothing else in the crate formats a key, so the table in the module
//! doc, the writes, the queries and the stream decoder cannot drift apart.

use hookline_core::TenantId;
use hookline_core::ids::{ApiKeyId, DeliveryId, EventId, SubscriptionId};

/// The index partitioned by owner: a tenant's subscriptions and keys. It projects only what
/// listing them reads.
pub const GSI1: &str = "gsi1";
/// The second index: every tenant's subscriptions and keys, a subscription's deliveries; the
/// same projection as gsi1, of which a delivery has only attributes that never change, so
/// recording an attempt writes no copy of it.
pub const GSI2: &str = "gsi2";
/// The sparse, keys-only index of failed deliveries: a delivery is in it only while failed.
pub const GSI3: &str = "gsi3";
/// The attributes gsi1 and gsi2 project besides the keys: a subscription's `body`, an API
/// key's fields, and a delivery's immutable `id`, `tenant_id` and `created_at`.
pub const PROJECTED: [&str; 7] = [
    "body",
    "id",
    "tenant_id",
    "name",
    "hash",
    "created_at",
    "revoked_at",
];

/// The sort key of every item that is alone in its partition.
pub const ITEM: &str = "#";

const SUBSCRIPTION: &str = "SUB#";
const EVENT: &str = "EVT#";
const DELIVERY: &str = "DLV#";
const API_KEY: &str = "KEY#";
const IDEMPOTENCY: &str = "IDEM#";
const OUTBOX: &str = "OUTBOX#";
const EVENT_TYPES: &str = "ETYPE#";
const PACING: &str = "PACE#";
const HEALTH: &str = "HEALTH#";
const PARKED: &str = "PARK#";

/// Partitions the outbox's entries are spread over: each takes ~1,000 writes/s and an event
/// makes two (its entry put and deleted), so 32 carry 16,000 events/s (BENCHMARKS.md).
pub const OUTBOX_SHARDS: u32 = 32;
/// Partitions one subscription's deliveries (and its failed ones) are spread over: 4,000
/// deliveries/s to one subscription.
pub const SUBSCRIPTION_SHARDS: u32 = 4;

/// A stable spread of `key` over `shards` (32-bit FNV-1a): the same key always lands in the
/// same shard, on every machine and version.
pub fn shard(key: &str, shards: u32) -> u32 {
    let hash = key.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % shards
}

/// A subscription's endpoint health item.
pub fn health(id: &SubscriptionId) -> String {
    format!("{HEALTH}{id}")
}

/// The partition of a subscription's parked jobs (sort key: delivery id).
pub fn parked(id: &SubscriptionId) -> String {
    format!("{PARKED}{id}")
}

/// A rate-limited subscription's pacing item.
pub fn pacing(id: &SubscriptionId) -> String {
    format!("{PACING}{id}")
}

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

/// The partition of a scope's event types (sort key: the type's name): the deployment's, or
/// one tenant's. It is read once per cache ttl by each process and written only by the API.
pub fn event_types(tenant: Option<&TenantId>) -> String {
    match tenant {
        None => format!("{EVENT_TYPES}*"),
        Some(t) => format!("{EVENT_TYPES}T#{t}"),
    }
}

/// The event id in an event item's partition key.
pub fn event_id_in(pk: &str) -> Option<&str> {
    pk.strip_prefix(EVENT)
}

/// Whether an item's keys are an event's.
pub fn is_event(pk: &str, sk: &str) -> bool {
    pk.starts_with(EVENT) && sk == ITEM
}

/// The partition of an event's outbox entry (an item of its own, sort key the event id), which
/// lives until the event is fanned out.
pub fn outbox(event_id: &EventId) -> String {
    format!("{OUTBOX}{:02}", shard(event_id.as_str(), OUTBOX_SHARDS))
}

/// Every outbox partition.
pub fn outbox_partitions() -> Vec<String> {
    (0..OUTBOX_SHARDS)
        .map(|i| format!("{OUTBOX}{i:02}"))
        .collect()
}

/// Whether an event item's `outbox` attribute says it was stored to be fanned out.
pub fn in_outbox(outbox: &str) -> bool {
    outbox.starts_with(OUTBOX)
}

fn subscription_shard(subscription_id: &SubscriptionId, what: &str, shard: u32) -> String {
    format!("{SUBSCRIPTION}{subscription_id}#{what}#{shard}")
}

/// The gsi2 partition of a subscription's delivery (spread by delivery).
pub fn subscription_deliveries(subscription_id: &SubscriptionId, id: &DeliveryId) -> String {
    subscription_shard(
        subscription_id,
        "DLV",
        shard(id.as_str(), SUBSCRIPTION_SHARDS),
    )
}

/// The gsi3 partition of a subscription's failed delivery (spread by delivery).
pub fn failed_deliveries(subscription_id: &SubscriptionId, id: &DeliveryId) -> String {
    subscription_shard(
        subscription_id,
        "FAILED",
        shard(id.as_str(), SUBSCRIPTION_SHARDS),
    )
}

/// Every gsi2 partition of a subscription's deliveries, or (`failed`) every gsi3 partition of
/// its failed ones.
pub fn subscription_delivery_partitions(
    subscription_id: &SubscriptionId,
    failed: bool,
) -> Vec<String> {
    let what = if failed { "FAILED" } else { "DLV" };
    (0..SUBSCRIPTION_SHARDS)
        .map(|i| subscription_shard(subscription_id, what, i))
        .collect()
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
    fn only_an_events_own_item_is_recognised_as_an_event() {
        let (sub, evt, dlv, _) = ids();
        assert!(is_event(&event(&evt), ITEM));
        assert!(!is_event(&event(&evt), "DLV#x"));
        assert!(!is_event(&delivery(&dlv), ITEM));
        assert!(!is_event(&subscription(&sub), ITEM));
    }

    #[test]
    fn the_templates_project_what_the_store_reads() {
        let template = include_str!("../../../../infra/template.yaml");
        let cdk = include_str!("../../../../infra/cdk/lib/hookline.ts");
        let want = PROJECTED.join(", ");
        let in_sam = template
            .lines()
            .filter_map(|l| l.trim().strip_prefix("NonKeyAttributes: ["))
            .map(|l| l.trim_end_matches(']'))
            .collect::<Vec<_>>();
        assert_eq!(
            in_sam,
            [want.as_str(), want.as_str()],
            "gsi1 and gsi2 in SAM"
        );
        let quoted = PROJECTED.map(|a| format!("'{a}'")).join(", ");
        assert!(
            cdk.contains(&format!("LISTED_ATTRIBUTES = [{quoted}]")),
            "CDK"
        );
    }

    #[test]
    fn shards_are_stable_and_spread_evenly() {
        // Fixed values: a change of the hash would move items between partitions.
        assert_eq!(shard("", 32), 0x811c_9dc5 % 32);
        assert_eq!(shard("a", 1 << 31), 0xe40c_292c % (1 << 31));
        let mut counts = [0u32; 16];
        for _ in 0..16_000 {
            counts[shard(EventId::generate().as_str(), 16) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn index_partitions_are_spread_over_their_shards() {
        let (sub, evt, dlv, _) = ids();
        let tenant = TenantId::parse("ford-anytown").unwrap();
        assert!(outbox_partitions().contains(&outbox(&evt)));
        assert_eq!(outbox_partitions().len(), OUTBOX_SHARDS as usize);
        assert!(in_outbox(&outbox(&evt)));
        assert!(!in_outbox(&failed_deliveries(&sub, &dlv)));
        assert!(
            subscription_delivery_partitions(&sub, false)
                .contains(&subscription_deliveries(&sub, &dlv))
        );
        assert!(
            subscription_delivery_partitions(&sub, true).contains(&failed_deliveries(&sub, &dlv))
        );
        assert_eq!(tenant_subscriptions(&tenant), "T#ford-anytown#SUB");
        assert_eq!(Listed::ApiKeys.of_tenant(&tenant), "T#ford-anytown#KEY");
        assert_eq!(Listed::Subscriptions.of_everyone(), "SUB");
        assert_eq!(Listed::ApiKeys.of_everyone(), "KEY");
    }
}
