//! Items as DynamoDB stores them, and back: the attribute helpers and one codec per item kind.
//! Subscriptions and events are stored whole as a JSON `body`; deliveries and keys as attributes,
//! because updates and filters address their fields.

use super::keys;
use aws_sdk_dynamodb::types::AttributeValue as AV;
use hookline_core::TenantId;
use hookline_core::api_key::ApiKey;
use hookline_core::clock::Timestamp;
use hookline_core::delivery::{Attempt, Delivery, DeliveryStatus};
use hookline_core::error::{Error, Result};
use hookline_core::event::Event;
use hookline_core::ids::{ApiKeyId, DeliveryId, EventId, SubscriptionId};
use hookline_core::subscription::Subscription;
use std::collections::HashMap;

pub(super) type Item = HashMap<String, AV>;

pub(super) fn s(v: impl Into<String>) -> AV {
    AV::S(v.into())
}

pub(super) fn n(v: i64) -> AV {
    AV::N(v.to_string())
}

pub(super) fn get_s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

pub(super) fn get_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub(super) fn corrupt(what: &str) -> Error {
    Error::internal(format!("dynamodb: stored {what} is not valid"))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T> {
    let body = get_s(item, "body").ok_or_else(|| corrupt("item body"))?;
    serde_json::from_str(&body).map_err(|e| Error::internal(format!("dynamodb: {e}")))
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("stored types serialize")
}

/// The primary key of an item alone in its partition.
pub(super) fn key(pk: String) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(keys::ITEM))])
}

pub(super) fn subscription_item(sub: &Subscription) -> Item {
    let mut item = key(keys::subscription(&sub.id));
    item.insert("body".into(), s(to_json(sub)));
    item.insert(
        "gsi1pk".into(),
        s(keys::tenant_subscriptions(&sub.tenant_id)),
    );
    item.insert("gsi1sk".into(), s(sub.id.as_str()));
    item.insert(
        "gsi2pk".into(),
        s(keys::Listed::Subscriptions.of_everyone()),
    );
    item.insert("gsi2sk".into(), s(sub.id.as_str()));
    item
}

/// An event item; with `fan_out` it is marked for the fan-out (and gets an outbox entry, written
/// with it). `ttl` is when DynamoDB may drop it.
pub(super) fn event_item(e: &Event, fan_out: bool, ttl: AV) -> Item {
    let mut item = key(keys::event(&e.id));
    item.insert("body".into(), s(to_json(e)));
    // For the notify function's stream filter (failure events only).
    item.insert("event_type".into(), s(&e.event_type));
    item.insert("ttl".into(), ttl);
    // The stream's filter sends the event to fan-out by this attribute; it stays (an event is
    // never rewritten), the outbox entry is what fan-out deletes.
    if fan_out {
        item.insert("outbox".into(), s(keys::outbox(&e.id)));
    }
    item
}

/// An event's outbox entry: a small item of its own in one of the outbox partitions.
pub(super) fn outbox_item(e: &Event, ttl: AV) -> Item {
    HashMap::from([
        ("pk".to_string(), s(keys::outbox(&e.id))),
        ("sk".to_string(), s(e.id.as_str())),
        ("ttl".to_string(), ttl),
    ])
}

/// The key of an event's outbox entry.
pub(super) fn outbox_key(id: &EventId) -> Item {
    HashMap::from([
        ("pk".to_string(), s(keys::outbox(id))),
        ("sk".to_string(), s(id.as_str())),
    ])
}

pub(super) fn delivery_item(d: &Delivery, ttl: AV) -> Item {
    let mut item = key(keys::delivery(&d.id));
    for (k, v) in [
        ("id", s(d.id.as_str())),
        ("event_id", s(d.event_id.as_str())),
        ("subscription_id", s(d.subscription_id.as_str())),
        ("tenant_id", s(d.tenant_id.as_str())),
        ("event_type", s(&d.event_type)),
        ("status", s(d.status.as_str())),
        ("created_at", n(d.created_at.millis())),
        ("updated_at", n(d.updated_at.millis())),
        ("attempt_base", n(d.attempt_base as i64)),
        ("attempts", AV::L(vec![])),
        (
            "gsi2pk",
            s(keys::subscription_deliveries(&d.subscription_id, &d.id)),
        ),
        ("gsi2sk", s(d.id.as_str())),
        ("ttl", ttl),
    ] {
        item.insert(k.to_string(), v);
    }
    if let Some(t) = d.next_attempt_at {
        item.insert("next_attempt_at".into(), n(t.millis()));
    }
    if d.status == DeliveryStatus::Failed {
        item.insert(
            "gsi3pk".into(),
            s(keys::failed_deliveries(&d.subscription_id, &d.id)),
        );
        item.insert("gsi3sk".into(), s(d.id.as_str()));
    }
    item
}

fn tenant_from(item: &Item, what: &str) -> Result<TenantId> {
    get_s(item, "tenant_id")
        .and_then(|t| TenantId::parse(t).ok())
        .ok_or_else(|| corrupt(what))
}

pub(super) fn delivery_from(item: &Item) -> Result<Delivery> {
    let parse_id = |k: &str| get_s(item, k).ok_or_else(|| corrupt(k));
    let attempts = match item.get("attempts") {
        Some(AV::L(list)) => list
            .iter()
            .map(|v| {
                v.as_s()
                    .ok()
                    .and_then(|j| serde_json::from_str::<Attempt>(j).ok())
                    .ok_or_else(|| corrupt("attempt"))
            })
            .collect::<Result<Vec<_>>>()?,
        _ => Vec::new(),
    };
    Ok(Delivery {
        id: DeliveryId::parse(&parse_id("id")?).ok_or_else(|| corrupt("delivery id"))?,
        event_id: EventId::parse(&parse_id("event_id")?).ok_or_else(|| corrupt("event id"))?,
        subscription_id: SubscriptionId::parse(&parse_id("subscription_id")?)
            .ok_or_else(|| corrupt("subscription id"))?,
        tenant_id: tenant_from(item, "tenant_id")?,
        event_type: parse_id("event_type")?,
        status: DeliveryStatus::parse(&parse_id("status")?).ok_or_else(|| corrupt("status"))?,
        created_at: Timestamp(get_n(item, "created_at").ok_or_else(|| corrupt("created_at"))?),
        updated_at: Timestamp(get_n(item, "updated_at").ok_or_else(|| corrupt("updated_at"))?),
        next_attempt_at: get_n(item, "next_attempt_at").map(Timestamp),
        failure_reason: get_s(item, "failure_reason"),
        attempts,
        attempt_base: get_n(item, "attempt_base").unwrap_or(0) as u32,
        carrier: get_s(item, "carrier"),
        claimed_until: get_n(item, "claimed_until").map(Timestamp),
    })
}

pub(super) fn api_key_item(k: &ApiKey) -> Item {
    let mut item = key(keys::api_key(&k.id));
    for (name, v) in [
        ("id", s(k.id.as_str())),
        ("tenant_id", s(k.tenant_id.as_str())),
        ("hash", s(&k.hash)),
        ("created_at", n(k.created_at.millis())),
        ("gsi1pk", s(keys::Listed::ApiKeys.of_tenant(&k.tenant_id))),
        ("gsi1sk", s(k.id.as_str())),
        ("gsi2pk", s(keys::Listed::ApiKeys.of_everyone())),
        ("gsi2sk", s(k.id.as_str())),
    ] {
        item.insert(name.to_string(), v);
    }
    if let Some(name) = &k.name {
        item.insert("name".into(), s(name));
    }
    if let Some(r) = k.revoked_at {
        item.insert("revoked_at".into(), n(r.millis()));
    }
    item
}

pub(super) fn api_key_from(item: &Item) -> Result<ApiKey> {
    Ok(ApiKey {
        id: get_s(item, "id")
            .and_then(|i| ApiKeyId::parse(&i))
            .ok_or_else(|| corrupt("key id"))?,
        tenant_id: tenant_from(item, "tenant")?,
        name: get_s(item, "name"),
        hash: get_s(item, "hash").ok_or_else(|| corrupt("hash"))?,
        created_at: Timestamp(get_n(item, "created_at").ok_or_else(|| corrupt("created_at"))?),
        revoked_at: get_n(item, "revoked_at").map(Timestamp),
    })
}
