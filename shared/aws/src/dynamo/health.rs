//! Endpoint health on the table, in the subscription's own partitions: its health item
//! `HEALTH#{sub}` (the breaker's state as a JSON `body` and a `version` every write is
//! conditional on), and its parked jobs `PARK#{sub}` sorted by delivery id (oldest first),
//! each with the `token` of its parking, which a release's delete is conditional on. Parked
//! items expire with the deliveries (retention).
//!
//! Cost: a health write is one small conditional `PutItem` (1 write unit), made on failed
//! attempts and on the first success after them; parking is one `PutItem`, a release reads a
//! page with one `Query` and deletes each with a conditional `DeleteItem`. One failing
//! subscription's parking takes at most its own partition's ~1,000 writes/s.

use super::DynamoStore;
use super::codec::{Item, get_n, key, n, s, to_json};
use super::keys;
use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as AV;
use hookline_core::breaker::Health;
use hookline_core::error::{Error, Result};
use hookline_core::ids::{DeliveryId, SubscriptionId};
use hookline_core::ports::{HealthStore, ParkedJob, Written};
use std::collections::HashMap;

fn parked_key(subscription: &SubscriptionId, delivery: &DeliveryId) -> Item {
    HashMap::from([
        ("pk".to_string(), s(keys::parked(subscription))),
        ("sk".to_string(), s(delivery.to_string())),
    ])
}

fn parked_of(item: &Item) -> Result<ParkedJob> {
    super::codec::from_json(item)
}

#[async_trait]
impl HealthStore for DynamoStore {
    async fn get_health(&self, subscription: &SubscriptionId) -> Result<(Health, u64)> {
        let Some(item) = self.get(keys::health(subscription), true).await? else {
            return Ok((Health::default(), 0));
        };
        let version = get_n(&item, "version")
            .ok_or_else(|| Error::internal("health item without a version"))?;
        Ok((super::codec::from_json(&item)?, version as u64))
    }

    async fn put_health(
        &self,
        subscription: &SubscriptionId,
        health: &Health,
        expected: u64,
    ) -> Result<Written> {
        let mut item = key(keys::health(subscription));
        item.insert("body".into(), s(to_json(health)));
        item.insert("version".into(), n(expected as i64 + 1));
        let applied = if expected == 0 {
            self.put_if(item, "attribute_not_exists(pk)", None).await?
        } else {
            let values = HashMap::from([(":v".to_string(), n(expected as i64))]);
            self.put_if(item, "version = :v", Some(values)).await?
        };
        Ok(if applied {
            Written::Applied
        } else {
            Written::Stale
        })
    }

    async fn park(&self, subscription: &SubscriptionId, parked: &ParkedJob) -> Result<()> {
        let mut item = parked_key(subscription, parked.delivery_id());
        item.insert("body".into(), s(to_json(parked)));
        item.insert("token".into(), s(parked.token.clone()));
        item.insert("ttl".into(), self.expires(parked.parked_at));
        self.put(item).await
    }

    async fn parked(
        &self,
        subscription: &SubscriptionId,
        after: Option<&DeliveryId>,
        limit: usize,
    ) -> Result<Vec<ParkedJob>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(keys::parked(subscription)))
            .consistent_read(true)
            .scan_index_forward(true)
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(after.map(|d| parked_key(subscription, d)))
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        out.items().iter().map(parked_of).collect()
    }

    async fn parked_job(
        &self,
        subscription: &SubscriptionId,
        delivery: &DeliveryId,
    ) -> Result<Option<ParkedJob>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(parked_key(subscription, delivery)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        out.item().map(parked_of).transpose()
    }

    async fn unpark(&self, subscription: &SubscriptionId, parked: &ParkedJob) -> Result<Written> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(parked_key(subscription, parked.delivery_id())))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", AV::S(parked.token.clone()))
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

    async fn parked_count(&self, subscription: &SubscriptionId) -> Result<u64> {
        self.count_index(super::query::TABLE, keys::parked(subscription))
            .await
    }
}
