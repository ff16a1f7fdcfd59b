//! Deliveries on the table: created once per (event, subscription) through a guard item written
//! in the same transaction, updated in place with each attempt appended, listed per event on
//! gsi1 and per subscription on gsi2.

use super::DynamoStore;
use super::codec::{
    Item, corrupt, delivery_from, delivery_guard_item, delivery_guard_key, delivery_item, get_s,
    key, n, s, to_json,
};
use super::keys::{self, GSI1, GSI2};
use super::query::Filter;
use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue as AV, Put, TransactWriteItem, Update};
use hookline_core::delivery::{Delivery, DeliveryUpdate};
use hookline_core::error::{Error, Result};
use hookline_core::event::Event;
use hookline_core::ids::DeliveryId;
use hookline_core::ports::{DeliveryLimits, DeliveryQuery, DeliveryStore};
use std::collections::HashMap;

/// The `UpdateItem` expression and values that apply `u`: what is unset in the update is
/// removed, the attempt (if any) appended.
fn update_expression(u: &DeliveryUpdate) -> (String, HashMap<String, AV>) {
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
    (expr, values)
}

/// The filter of a delivery listing: the subscription when listing an event's deliveries, then
/// status and time window; `None` when nothing narrows the partition.
fn listing_filter(q: &DeliveryQuery) -> Option<Filter> {
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
    (!conds.is_empty()).then(|| Filter {
        expression: conds.join(" AND "),
        names,
        values,
    })
}

impl DynamoStore {
    fn put_if_new(&self, item: Item) -> Put {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("complete put")
    }

    /// The delivery an existing guard admitted (the losing side of a repeated fan-out).
    async fn guarded_delivery(&self, d: &Delivery) -> Result<Delivery> {
        let guard = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(delivery_guard_key(d)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        let existing = guard
            .item()
            .and_then(|g| get_s(g, "delivery_id"))
            .and_then(|id| DeliveryId::parse(&id))
            .ok_or_else(|| corrupt("delivery guard"))?;
        self.get_delivery(&existing)
            .await?
            .ok_or_else(|| corrupt("guarded delivery"))
    }
}

#[async_trait]
impl DeliveryStore for DynamoStore {
    /// An attempt is stored with at most a 1 KiB response excerpt, so 100 of them keep a
    /// delivery far below DynamoDB's 400 KB item limit; a longer history would make the record
    /// unwritable.
    fn limits(&self) -> DeliveryLimits {
        DeliveryLimits {
            max_attempts_per_delivery: 100,
        }
    }

    async fn create_delivery(&self, d: &Delivery) -> Result<Delivery> {
        let guard = delivery_guard_item(d, self.expires(d.created_at));
        let item = delivery_item(d, self.expires(d.created_at));
        let out = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .put(self.put_if_new(guard))
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .put(self.put_if_new(item))
                    .build(),
            )
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
                self.guarded_delivery(d).await
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>> {
        self.get(keys::delivery(id))
            .await?
            .map(|i| delivery_from(&i))
            .transpose()
    }

    async fn update_delivery(
        &self,
        u: &DeliveryUpdate,
        notification: Option<&Event>,
    ) -> Result<()> {
        let (expr, values) = update_expression(u);
        let dkey = key(keys::delivery(&u.delivery_id));
        let missing = || Error::not_found("delivery", u.delivery_id.as_str());
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
                        missing()
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
                let put = self.put_if_new(self.stored_event_item(event, true));
                self.client
                    .transact_write_items()
                    .transact_items(TransactWriteItem::builder().update(update).build())
                    .transact_items(TransactWriteItem::builder().put(put).build())
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| match e.as_service_error() {
                        Some(TransactWriteItemsError::TransactionCanceledException(_)) => missing(),
                        _ => sdk_error("dynamodb", e),
                    })
            }
        }
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>> {
        let (index, partition) = match (&q.event_id, &q.subscription_id) {
            (Some(e), _) => (GSI1, keys::event_deliveries(e)),
            (None, Some(sid)) => (GSI2, keys::subscription_deliveries(sid)),
            (None, None) => {
                return Err(Error::internal(
                    "listing deliveries needs an event or a subscription",
                ));
            }
        };
        let items = self
            .query_index(
                index,
                partition,
                q.after.as_ref().map(|a| a.to_string()),
                listing_filter(q),
                q.limit,
            )
            .await?;
        items.iter().map(delivery_from).collect()
    }
}
