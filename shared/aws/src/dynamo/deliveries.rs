//! Deliveries on the table: created once per (event, subscription) through a guard item written
//! in the same transaction, claimed and updated in place with each attempt appended, every change
//! conditional on the status and attempt count it was computed from; listed per event on gsi1 and
//! per subscription on gsi2.

use super::DynamoStore;
use super::codec::{
    Item, corrupt, delivery_from, delivery_guard_item, delivery_guard_key, delivery_item, get_s,
    key, n, s, to_json,
};
use super::keys::{self, GSI1, GSI2};
use super::query::Filter;
use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue as AV, Put, TransactWriteItem, Update};
use hookline_core::delivery::{Claim, Delivery, DeliveryUpdate, DeliveryVersion};
use hookline_core::error::{Error, Result};
use hookline_core::event::Event;
use hookline_core::ids::DeliveryId;
use hookline_core::ports::{DeliveryLimits, DeliveryQuery, DeliveryStore, Written};
use std::collections::HashMap;

/// The condition that the delivery is still at `v`: its status and its number of attempts.
fn at_version(v: DeliveryVersion, values: &mut HashMap<String, AV>) -> &'static str {
    values.insert(":exp_status".into(), s(v.status.as_str()));
    values.insert(":exp_attempts".into(), n(v.attempts as i64));
    "#status = :exp_status AND size(attempts) = :exp_attempts"
}

/// No claim is live at `:at`.
const UNCLAIMED: &str = "(attribute_not_exists(claimed_until) OR claimed_until <= :at)";

/// Which item of a cancelled transaction failed its condition, read from the cancellation
/// reasons; `None` when the transaction failed for another reason (throttling, a conflict
/// with a concurrent transaction), which is an error to retry, not an outcome.
fn failed_condition<R>(e: &SdkError<TransactWriteItemsError, R>) -> Option<usize> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .iter()
            .position(|r| r.code() == Some("ConditionalCheckFailed")),
        _ => None,
    }
}

/// The `UpdateItem` expression, condition and values that apply `u`: what is unset in the update
/// is removed, the attempt (if any) appended, the claim ended.
fn update_expression(u: &DeliveryUpdate) -> (String, String, HashMap<String, AV>) {
    let mut set = vec!["#status = :status", "updated_at = :at"];
    let mut remove = vec!["claimed_until"];
    let mut values = HashMap::from([
        (":status".to_string(), s(u.status.as_str())),
        (":at".to_string(), n(u.at.millis())),
    ]);
    let version = at_version(u.expected, &mut values);
    let condition = match &u.carrier {
        Some(c) => {
            values.insert(":carrier".into(), s(c));
            format!("{version} AND carrier = :carrier")
        }
        None => format!("{version} AND {UNCLAIMED}"),
    };
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
    let expr = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
    (expr, condition, values)
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

    /// One conditional `UpdateItem` of a delivery: `Stale` when its condition fails.
    async fn update_if(
        &self,
        id: &DeliveryId,
        expr: String,
        condition: String,
        values: HashMap<String, AV>,
    ) -> Result<Written> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::delivery(id))))
            .update_expression(expr)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match out {
            Ok(_) => Ok(Written::Applied),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(Written::Stale)
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
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
            // The guard exists: already fanned out; return the delivery it points at.
            Err(e) if failed_condition(&e) == Some(0) => self.guarded_delivery(d).await,
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>> {
        self.get(keys::delivery(id))
            .await?
            .map(|i| delivery_from(&i))
            .transpose()
    }

    async fn claim_delivery(&self, c: &Claim) -> Result<Written> {
        let mut values = HashMap::from([
            (":by".to_string(), s(&c.by)),
            (":until".to_string(), n(c.until.millis())),
            (":at".to_string(), n(c.at.millis())),
        ]);
        let version = at_version(c.expected, &mut values);
        let condition = format!("{version} AND ({UNCLAIMED} OR carrier = :by)");
        let expr = "SET carrier = :by, claimed_until = :until";
        self.update_if(&c.delivery_id, expr.into(), condition, values)
            .await
    }

    async fn update_delivery(
        &self,
        u: &DeliveryUpdate,
        notification: Option<&Event>,
    ) -> Result<Written> {
        let (expr, condition, values) = update_expression(u);
        let dkey = key(keys::delivery(&u.delivery_id));
        match notification {
            None => {
                self.update_if(&u.delivery_id, expr, condition, values)
                    .await
            }
            Some(event) => {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(dkey))
                    .update_expression(expr)
                    .condition_expression(condition)
                    .expression_attribute_names("#status", "status")
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .expect("complete update");
                let put = self.put_if_new(self.stored_event_item(event, true));
                let out = self
                    .client
                    .transact_write_items()
                    .transact_items(TransactWriteItem::builder().update(update).build())
                    .transact_items(TransactWriteItem::builder().put(put).build())
                    .send()
                    .await;
                match out {
                    Ok(_) => Ok(Written::Applied),
                    Err(e) if failed_condition(&e) == Some(0) => Ok(Written::Stale),
                    Err(e) => Err(sdk_error("dynamodb", e)),
                }
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
