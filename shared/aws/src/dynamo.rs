//! The store port on one DynamoDB table.
//!
//! Key design (`pk`, `sk` strings; two GSIs with `gsi1pk`/`gsi1sk`, `gsi2pk`/`gsi2sk`, both
//! projecting all attributes; `ttl` in epoch seconds):
//!
//! | item | pk | sk | gsi1 | gsi2 |
//! |---|---|---|---|---|
//! | subscription | `SUB#{id}` | `#` | `T#{tenant}#SUB`, id | `SUB`, id |
//! | event | `EVT#{id}` | `#` | `OUTBOX`, id (only until fanned out) | |
//! | delivery | `DLV#{id}` | `#` | `EVT#{event}#DLV`, id | `SUB#{sub}#DLV`, id |
//! | delivery guard | `EVT#{event}` | `DLV#{sub}` | | |
//! | API key | `KEY#{id}` | `#` | `T#{tenant}#KEY`, id | `KEY`, id |
//! | idempotency key | `IDEM#{key}` | `#` | | |
//!
//! Event items also carry `event_type`, which the notify function's stream filter matches.
//!
//! Access patterns and what each costs:
//! - get a subscription, event, delivery or key by id: one `GetItem` (strongly consistent);
//! - fan-out candidates of a tenant, list/count a tenant's subscriptions: one `Query` on gsi1;
//! - deliveries of an event / of a subscription, oldest first after a cursor: `Query` on gsi1 /
//!   gsi2 (status and time window as filters);
//! - create a delivery exactly once per (event, subscription): one `TransactWriteItems` of the
//!   guard (conditional) and the delivery; a repeat costs one more `GetItem` of the guard and one
//!   of the delivery;
//! - record an attempt: one `UpdateItem` appending to the delivery's attempts (the failure
//!   notification, when there is one, in the same `TransactWriteItems`);
//! - claim an idempotency key: one conditional `PutItem`.
//!
//! The event outbox index (gsi1 `OUTBOX`) lets a poller find events not yet fanned out, as the
//! local AWS mode does; on AWS the table's stream triggers fan-out.

use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue as AV, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType, Select,
    StreamSpecification, StreamViewType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use hookline_core::api_key::ApiKey;
use hookline_core::clock::Timestamp;
use hookline_core::delivery::{Attempt, Delivery, DeliveryStatus, DeliveryUpdate};
use hookline_core::error::{Error, Result};
use hookline_core::event::Event;
use hookline_core::ids::{ApiKeyId, DeliveryId, EventId, SubscriptionId};
use hookline_core::ports::{Claim, DeliveryQuery, IdempotencyRecord, Store};
use hookline_core::subscription::Subscription;
use std::collections::HashMap;
use std::time::Duration;

type Item = HashMap<String, AV>;

/// A query filter: expression, attribute-name aliases, values.
struct Filter {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AV>,
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// How long events and deliveries are kept (DynamoDB TTL).
    retention: Duration,
}

fn s(v: impl Into<String>) -> AV {
    AV::S(v.into())
}

fn n(v: i64) -> AV {
    AV::N(v.to_string())
}

fn get_s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn corrupt(what: &str) -> Error {
    Error::internal(format!("dynamodb: stored {what} is not valid"))
}

fn from_json<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T> {
    let body = get_s(item, "body").ok_or_else(|| corrupt("item body"))?;
    serde_json::from_str(&body).map_err(|e| Error::internal(format!("dynamodb: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("stored types serialize")
}

fn key(pk: String) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s("#"))])
}

fn subscription_item(sub: &Subscription) -> Item {
    let mut item = key(format!("SUB#{}", sub.id));
    item.insert("body".into(), s(to_json(sub)));
    item.insert("gsi1pk".into(), s(format!("T#{}#SUB", sub.tenant_id)));
    item.insert("gsi1sk".into(), s(sub.id.as_str()));
    item.insert("gsi2pk".into(), s("SUB"));
    item.insert("gsi2sk".into(), s(sub.id.as_str()));
    item
}

fn delivery_from(item: &Item) -> Result<Delivery> {
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
        tenant_id: parse_id("tenant_id")?,
        event_type: parse_id("event_type")?,
        status: DeliveryStatus::parse(&parse_id("status")?).ok_or_else(|| corrupt("status"))?,
        created_at: Timestamp(get_n(item, "created_at").ok_or_else(|| corrupt("created_at"))?),
        updated_at: Timestamp(get_n(item, "updated_at").ok_or_else(|| corrupt("updated_at"))?),
        next_attempt_at: get_n(item, "next_attempt_at").map(Timestamp),
        failure_reason: get_s(item, "failure_reason"),
        attempts,
        attempt_base: get_n(item, "attempt_base").unwrap_or(0) as u32,
    })
}

fn api_key_from(item: &Item) -> Result<ApiKey> {
    Ok(ApiKey {
        id: get_s(item, "id")
            .and_then(|i| ApiKeyId::parse(&i))
            .ok_or_else(|| corrupt("key id"))?,
        tenant_id: get_s(item, "tenant_id").ok_or_else(|| corrupt("tenant"))?,
        name: get_s(item, "name"),
        hash: get_s(item, "hash").ok_or_else(|| corrupt("hash"))?,
        created_at: Timestamp(get_n(item, "created_at").ok_or_else(|| corrupt("created_at"))?),
        revoked_at: get_n(item, "revoked_at").map(Timestamp),
    })
}

/// The index partition that lists one kind of item (`SUB`, `KEY`): of one tenant on gsi1, of
/// every tenant on gsi2.
fn listing(kind: &str, tenant_id: Option<&str>) -> (&'static str, String) {
    match tenant_id {
        Some(t) => ("gsi1", format!("T#{t}#{kind}")),
        None => ("gsi2", kind.to_string()),
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            retention,
        }
    }

    fn expires(&self, from: Timestamp) -> AV {
        n(from.plus(self.retention).seconds())
    }

    /// Creates the table as the templates declare it (local runs and tests).
    pub async fn ensure_table(client: &Client, table: &str) -> Result<()> {
        let exists = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .is_ok();
        if exists {
            return Ok(());
        }
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("complete attribute definition")
        };
        let key = |name: &str, kt: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kt)
                .build()
                .expect("complete key")
        };
        let gsi = |name: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(&format!("{name}pk"), KeyType::Hash))
                .key_schema(key(&format!("{name}sk"), KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("complete index")
        };
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(
                ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"]
                    .map(attr)
                    .to_vec(),
            ))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .global_secondary_indexes(gsi("gsi1"))
            .global_secondary_indexes(gsi("gsi2"))
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .expect("complete stream spec"),
            )
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("ttl")
                    .build()
                    .expect("complete TTL spec"),
            )
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn get(&self, pk: String) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(out.item().cloned())
    }

    async fn put_new(&self, item: Item) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error("dynamodb", e))
    }

    /// Queries an index partition in order, after a cursor, with an optional filter, until
    /// `limit` items matched or the partition ends.
    async fn query_index(
        &self,
        index: &str,
        partition: String,
        after: Option<String>,
        filter: Option<Filter>,
        limit: usize,
    ) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut values = HashMap::from([(":p".to_string(), s(partition.clone()))]);
            // DynamoDB refuses empty key values: without a cursor, the whole partition.
            let condition = match &after {
                Some(a) => {
                    values.insert(":a".to_string(), s(a.clone()));
                    format!("{index}pk = :p AND {index}sk > :a")
                }
                None => format!("{index}pk = :p"),
            };
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(condition)
                .set_exclusive_start_key(start.take());
            if let Some(f) = &filter {
                q = q
                    .filter_expression(&f.expression)
                    .set_expression_attribute_names(Some(f.names.clone()));
                values.extend(f.values.clone());
            } else {
                q = q.limit((limit - out.len()) as i32);
            }
            let page = q
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .map_err(|e| sdk_error("dynamodb", e))?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if out.len() < limit => start = Some(k.clone()),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn count_index(&self, index: &str, partition: String) -> Result<u64> {
        let mut total = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(format!("{index}pk = :p"))
                .expression_attribute_values(":p", s(partition.clone()))
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("dynamodb", e))?;
            total += page.count() as u64;
            match page.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(total),
            }
        }
    }

    fn event_item(&self, e: &Event, fan_out: bool) -> Item {
        let mut item = key(format!("EVT#{}", e.id));
        item.insert("body".into(), s(to_json(e)));
        // For the notify function's stream filter (failure events only).
        item.insert("event_type".into(), s(&e.event_type));
        item.insert("ttl".into(), self.expires(e.timestamp));
        if fan_out {
            item.insert("gsi1pk".into(), s("OUTBOX"));
            item.insert("gsi1sk".into(), s(e.id.as_str()));
        }
        item
    }

    async fn get_delivery_by_id(&self, id: &str) -> Result<Option<Delivery>> {
        self.get(format!("DLV#{id}"))
            .await?
            .map(|i| delivery_from(&i))
            .transpose()
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn insert_subscription(&self, sub: &Subscription) -> Result<()> {
        self.put_new(subscription_item(sub)).await
    }

    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>> {
        self.get(format!("SUB#{id}"))
            .await?
            .map(|i| from_json(&i))
            .transpose()
    }

    async fn update_subscription(&self, sub: &Subscription) -> Result<()> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(subscription_item(sub)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Err(Error::not_found("subscription", sub.id.as_str()))
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("SUB#{id}"))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }

    async fn list_subscriptions(
        &self,
        tenant_id: Option<&str>,
        after: Option<&SubscriptionId>,
        limit: usize,
    ) -> Result<Vec<Subscription>> {
        let (index, partition) = listing("SUB", tenant_id);
        let items = self
            .query_index(index, partition, after.map(|a| a.to_string()), None, limit)
            .await?;
        items.iter().map(from_json).collect()
    }

    async fn subscriptions_for_tenant(&self, tenant_id: &str) -> Result<Vec<Subscription>> {
        let items = self
            .query_index("gsi1", format!("T#{tenant_id}#SUB"), None, None, usize::MAX)
            .await?;
        items.iter().map(from_json).collect()
    }

    async fn count_subscriptions(&self, tenant_id: &str) -> Result<u64> {
        self.count_index("gsi1", format!("T#{tenant_id}#SUB")).await
    }

    async fn insert_event(&self, event: &Event, fan_out: bool) -> Result<()> {
        self.put_new(self.event_item(event, fan_out)).await
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>> {
        self.get(format!("EVT#{id}"))
            .await?
            .map(|i| from_json(&i))
            .transpose()
    }

    async fn events_awaiting_fanout(&self, limit: usize) -> Result<Vec<Event>> {
        let items = self
            .query_index("gsi1", "OUTBOX".into(), None, None, limit)
            .await?;
        items.iter().map(from_json).collect()
    }

    async fn mark_fanned_out(&self, id: &EventId) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("EVT#{id}"))))
            .update_expression("REMOVE gsi1pk, gsi1sk")
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error("dynamodb", e))
    }

    async fn create_delivery(&self, d: &Delivery) -> Result<Delivery> {
        let guard_key = HashMap::from([
            ("pk".to_string(), s(format!("EVT#{}", d.event_id))),
            ("sk".to_string(), s(format!("DLV#{}", d.subscription_id))),
        ]);
        let mut guard = guard_key.clone();
        guard.insert("delivery_id".into(), s(d.id.as_str()));
        guard.insert("ttl".into(), self.expires(d.created_at));
        let mut item = key(format!("DLV#{}", d.id));
        for (k, v) in [
            ("id", s(d.id.as_str())),
            ("event_id", s(d.event_id.as_str())),
            ("subscription_id", s(d.subscription_id.as_str())),
            ("tenant_id", s(&d.tenant_id)),
            ("event_type", s(&d.event_type)),
            ("status", s(d.status.as_str())),
            ("created_at", n(d.created_at.millis())),
            ("updated_at", n(d.updated_at.millis())),
            ("attempt_base", n(d.attempt_base as i64)),
            ("attempts", AV::L(vec![])),
            ("gsi1pk", s(format!("EVT#{}#DLV", d.event_id))),
            ("gsi1sk", s(d.id.as_str())),
            ("gsi2pk", s(format!("SUB#{}#DLV", d.subscription_id))),
            ("gsi2sk", s(d.id.as_str())),
            ("ttl", self.expires(d.created_at)),
        ] {
            item.insert(k.to_string(), v);
        }
        if let Some(t) = d.next_attempt_at {
            item.insert("next_attempt_at".into(), n(t.millis()));
        }
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .expect("complete put")
        };
        let out = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put(guard)).build())
            .transact_items(TransactWriteItem::builder().put(put(item)).build())
            .send()
            .await;
        match out {
            Ok(_) => Ok(d.clone()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(_))
                ) =>
            {
                // Already fanned out: return the delivery the guard points at.
                let guard = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(guard_key))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| sdk_error("dynamodb", e))?;
                let existing = guard
                    .item()
                    .and_then(|g| get_s(g, "delivery_id"))
                    .ok_or_else(|| corrupt("delivery guard"))?;
                self.get_delivery_by_id(&existing)
                    .await?
                    .ok_or_else(|| corrupt("guarded delivery"))
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>> {
        self.get_delivery_by_id(id.as_str()).await
    }

    async fn update_delivery(
        &self,
        u: &DeliveryUpdate,
        notification: Option<&Event>,
    ) -> Result<()> {
        let mut set = vec!["#status = :status", "updated_at = :at"];
        let mut remove = Vec::new();
        let mut values = HashMap::from([
            (":status".to_string(), s(u.status.as_str())),
            (":at".to_string(), n(u.at.millis())),
        ]);
        match u.next_attempt_at {
            Some(t) => {
                set.push("next_attempt_at = :next");
                values.insert(":next".into(), n(t.millis()));
            }
            None => remove.push("next_attempt_at"),
        }
        match &u.failure_reason {
            Some(r) => {
                set.push("failure_reason = :reason");
                values.insert(":reason".into(), s(r));
            }
            None => remove.push("failure_reason"),
        }
        if let Some(base) = u.attempt_base {
            set.push("attempt_base = :base");
            values.insert(":base".into(), n(base as i64));
        }
        if let Some(a) = &u.attempt {
            set.push("attempts = list_append(if_not_exists(attempts, :empty), :attempt)");
            values.insert(":empty".into(), AV::L(vec![]));
            values.insert(":attempt".into(), AV::L(vec![s(to_json(a))]));
        }
        let mut expr = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let dkey = key(format!("DLV#{}", u.delivery_id));
        match notification {
            None => self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(dkey))
                .update_expression(expr)
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#status", "status")
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .map(drop)
                .map_err(|e| {
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception())
                    {
                        Error::not_found("delivery", u.delivery_id.as_str())
                    } else {
                        sdk_error("dynamodb", e)
                    }
                }),
            Some(event) => {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(dkey))
                    .update_expression(expr)
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_names("#status", "status")
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .expect("complete update");
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(self.event_item(event, true)))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .expect("complete put");
                self.client
                    .transact_write_items()
                    .transact_items(TransactWriteItem::builder().update(update).build())
                    .transact_items(TransactWriteItem::builder().put(put).build())
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| match e.as_service_error() {
                        Some(TransactWriteItemsError::TransactionCanceledException(_)) => {
                            Error::not_found("delivery", u.delivery_id.as_str())
                        }
                        _ => sdk_error("dynamodb", e),
                    })
            }
        }
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>> {
        let (index, partition) = match (&q.event_id, &q.subscription_id) {
            (Some(e), _) => ("gsi1", format!("EVT#{e}#DLV")),
            (None, Some(sid)) => ("gsi2", format!("SUB#{sid}#DLV")),
            (None, None) => {
                return Err(Error::internal(
                    "listing deliveries needs an event or a subscription",
                ));
            }
        };
        let mut conds = Vec::new();
        let mut values = HashMap::new();
        if let (Some(_), Some(sid)) = (&q.event_id, &q.subscription_id) {
            conds.push("subscription_id = :sid");
            values.insert(":sid".to_string(), s(sid.as_str()));
        }
        if let Some(st) = q.status {
            conds.push("#status = :st");
            values.insert(":st".to_string(), s(st.as_str()));
        }
        if let Some(t) = q.since {
            conds.push("created_at >= :since");
            values.insert(":since".to_string(), n(t.millis()));
        }
        if let Some(t) = q.until {
            conds.push("created_at < :until");
            values.insert(":until".to_string(), n(t.millis()));
        }
        let names = match q.status {
            Some(_) => HashMap::from([("#status".to_string(), "status".to_string())]),
            None => HashMap::new(),
        };
        let filter = (!conds.is_empty()).then(|| Filter {
            expression: conds.join(" AND "),
            names,
            values,
        });
        let items = self
            .query_index(
                index,
                partition,
                q.after.as_ref().map(|a| a.to_string()),
                filter,
                q.limit,
            )
            .await?;
        items.iter().map(delivery_from).collect()
    }

    async fn insert_api_key(&self, k: &ApiKey) -> Result<()> {
        let mut item = key(format!("KEY#{}", k.id));
        for (name, v) in [
            ("id", s(k.id.as_str())),
            ("tenant_id", s(&k.tenant_id)),
            ("hash", s(&k.hash)),
            ("created_at", n(k.created_at.millis())),
            ("gsi1pk", s(format!("T#{}#KEY", k.tenant_id))),
            ("gsi1sk", s(k.id.as_str())),
            ("gsi2pk", s("KEY")),
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
        self.put_new(item).await
    }

    async fn get_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>> {
        self.get(format!("KEY#{id}"))
            .await?
            .map(|i| api_key_from(&i))
            .transpose()
    }

    async fn list_api_keys(
        &self,
        tenant_id: Option<&str>,
        after: Option<&ApiKeyId>,
        limit: usize,
    ) -> Result<Vec<ApiKey>> {
        let (index, partition) = listing("KEY", tenant_id);
        let items = self
            .query_index(index, partition, after.map(|a| a.to_string()), None, limit)
            .await?;
        items.iter().map(api_key_from).collect()
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<bool> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("KEY#{id}"))))
            .update_expression("SET revoked_at = :at")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
            .expression_attribute_values(":at", n(at.millis()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn claim_idempotency(
        &self,
        idem_key: &str,
        request_hash: &str,
        now: Timestamp,
        stale_before: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Claim> {
        let mut item = key(format!("IDEM#{idem_key}"));
        item.insert("request_hash".into(), s(request_hash));
        item.insert("claimed_at".into(), n(now.millis()));
        item.insert("expires_at".into(), n(expires_at.millis()));
        item.insert("ttl".into(), n(expires_at.seconds() + 1));
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at <= :now OR (attribute_not_exists(#st) AND claimed_at < :stale)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":now", n(now.millis()))
            .expression_attribute_values(":stale", n(stale_before.millis()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(Claim::Claimed),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                let existing = self
                    .get(format!("IDEM#{idem_key}"))
                    .await?
                    .ok_or_else(|| corrupt("idempotency key"))?;
                Ok(Claim::Existing(IdempotencyRecord {
                    request_hash: get_s(&existing, "request_hash").unwrap_or_default(),
                    response: get_n(&existing, "status")
                        .map(|st| (st as u16, get_s(&existing, "body").unwrap_or_default())),
                }))
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn complete_idempotency(&self, idem_key: &str, status: u16, body: &str) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("IDEM#{idem_key}"))))
            .update_expression("SET #st = :st, body = :body")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":st", n(status as i64))
            .expression_attribute_values(":body", s(body))
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error("dynamodb", e))
    }

    async fn release_idempotency(&self, idem_key: &str) -> Result<()> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("IDEM#{idem_key}"))))
            .condition_expression("attribute_not_exists(#st)")
            .expression_attribute_names("#st", "status")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }
}
