//! Deliveries on the table: created once per (event, subscription) by one conditional `PutItem`
//! of the id both determine, claimed and updated in place with each attempt appended, every
//! change conditional on the status and attempt count it was computed from. Listed per
//! subscription on gsi2 (spread over shards, projecting only what never changes, so an attempt
//! rewrites no index copy) and, while failed, on the sparse gsi3: a listing reads the index in
//! id (time) order within a key range, then the items. An event's deliveries need no index:
//! their ids follow from the event and its tenant's subscriptions.

use super::DynamoStore;
use super::codec::{Item, delivery_from, delivery_item, get_s, key, n, outbox_item, s, to_json};
use super::keys::{self, GSI2, GSI3};
use super::query::KeyRange;
use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue as AV, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use hookline_core::delivery::DeliveryStatus;
use hookline_core::delivery::{Claim, Delivery, DeliveryUpdate, DeliveryVersion};
use hookline_core::error::{Error, Result};
use hookline_core::event::Event;
use hookline_core::ids::{DeliveryId, EventId};
use hookline_core::ports::{
    DeliveryLimits, DeliveryQuery, DeliveryStore, EventStore, SubscriptionStore, Written,
};
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
    // Only a failed delivery is in the failed index, where `recover` finds it.
    if u.status == DeliveryStatus::Failed {
        set.push("gsi3pk = :failed, gsi3sk = :id");
        values.insert(
            ":failed".into(),
            s(keys::failed_deliveries(&u.subscription_id, &u.delivery_id)),
        );
        values.insert(":id".into(), s(u.delivery_id.as_str()));
    } else {
        remove.extend(["gsi3pk", "gsi3sk"]);
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

/// The key range of a delivery listing: ids are in the time order of their events, so the
/// time window is a range of ids.
fn listing_range(q: &DeliveryQuery) -> KeyRange {
    KeyRange {
        after: q.after.as_ref().map(|a| a.to_string()),
        from: q
            .since
            .map(|t| DeliveryId::lower_bound(t.millis()).to_string()),
        to: q
            .until
            .map(|t| DeliveryId::last_before(t.millis()).to_string()),
    }
}

/// Whether a listed delivery is one the query asks for (the index narrows by partition and
/// time; the item, read strongly consistent, decides status and subscription).
fn wanted(q: &DeliveryQuery, d: &Delivery) -> bool {
    q.status.is_none_or(|st| d.status == st)
        && q.subscription_id
            .as_ref()
            .is_none_or(|sid| &d.subscription_id == sid)
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

    /// A subscription's deliveries (or failed ones) from the shards of `index`, a page of ids
    /// at a time, until `q.limit` match or the range ends.
    async fn indexed_deliveries(
        &self,
        index: &str,
        partitions: Vec<String>,
        q: &DeliveryQuery,
    ) -> Result<Vec<Delivery>> {
        let mut range = listing_range(q);
        let mut out = Vec::new();
        let page = q.limit.max(1);
        loop {
            let entries = self
                .query_shards(index, partitions.clone(), &range, page)
                .await?;
            let pks: Vec<String> = entries.iter().filter_map(|e| get_s(e, "pk")).collect();
            self.keep_wanted(&pks, q, &mut out).await?;
            match entries.last() {
                Some(last) if entries.len() == page && out.len() < q.limit => {
                    range.after = Some(super::query::sort_key(last, index).to_string());
                }
                _ => break,
            }
        }
        out.truncate(q.limit);
        Ok(out)
    }

    /// An event's deliveries, without an index: their ids are fixed by (event, subscription),
    /// so they are the ids of the event with each of its tenant's subscriptions (a deleted
    /// subscription's deliveries are no longer listed under the event), read in id order.
    async fn event_deliveries(&self, e: &EventId, q: &DeliveryQuery) -> Result<Vec<Delivery>> {
        let mut ids: Vec<DeliveryId> = match &q.subscription_id {
            Some(sid) => vec![DeliveryId::of(e, sid)],
            None => {
                let Some(event) = self.get_event(e).await? else {
                    return Ok(Vec::new());
                };
                self.subscriptions_for_tenant(&event.tenant_id)
                    .await?
                    .iter()
                    .map(|s| DeliveryId::of(e, &s.id))
                    .collect()
            }
        };
        ids.sort();
        let range = listing_range(q);
        ids.retain(|id| range.contains(id.as_str()));
        let mut out = Vec::new();
        for chunk in ids.chunks(q.limit.max(1)) {
            let pks: Vec<String> = chunk.iter().map(keys::delivery).collect();
            self.keep_wanted(&pks, q, &mut out).await?;
            if out.len() >= q.limit {
                break;
            }
        }
        out.truncate(q.limit);
        Ok(out)
    }

    /// Reads the deliveries `pks` and keeps those the query asks for.
    async fn keep_wanted(
        &self,
        pks: &[String],
        q: &DeliveryQuery,
        out: &mut Vec<Delivery>,
    ) -> Result<()> {
        for item in self.get_many(pks).await? {
            let d = delivery_from(&item)?;
            if wanted(q, &d) {
                out.push(d);
            }
        }
        Ok(())
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
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(delivery_item(d, self.expires(d.created_at))))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(_) => Ok(d.clone()),
            // Its id is fixed by (event, subscription): it exists, from an earlier fan-out.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                let existing = e.as_service_error().and_then(|se| match se {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
                    _ => None,
                });
                match existing {
                    Some(item) => delivery_from(&item),
                    None => self
                        .get_delivery(&d.id)
                        .await?
                        .ok_or_else(|| Error::internal("dynamodb: a delivery vanished")),
                }
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>> {
        self.get(keys::delivery(id), true)
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
                let entry = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(outbox_item(event, self.expires(event.timestamp))))
                    .build()
                    .expect("complete put");
                let out = self
                    .client
                    .transact_write_items()
                    .transact_items(TransactWriteItem::builder().update(update).build())
                    .transact_items(TransactWriteItem::builder().put(put).build())
                    .transact_items(TransactWriteItem::builder().put(entry).build())
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
        match (&q.event_id, &q.subscription_id) {
            (Some(e), _) => self.event_deliveries(e, q).await,
            (None, Some(sid)) => {
                let (index, partitions) = match q.status {
                    Some(DeliveryStatus::Failed) => {
                        (GSI3, keys::subscription_delivery_partitions(sid, true))
                    }
                    _ => (GSI2, keys::subscription_delivery_partitions(sid, false)),
                };
                self.indexed_deliveries(index, partitions, q).await
            }
            (None, None) => Err(Error::internal(
                "listing deliveries needs an event or a subscription",
            )),
        }
    }
}
