//! Endpoint health on SQLite: one row per subscription holding its breaker state as JSON, with
//! the version in a column of its own for conditional writes (no row is version 0), and one row
//! per parked job, keyed by (subscription, delivery) so that parking a delivery again replaces
//! it. Delivery ids sort by time, so listing by id lists the oldest parking first; a job's token
//! is a column too, so a release deletes it only if it is still the same parking.

use super::{SqliteStore, from_json, to_json};
use async_trait::async_trait;
use hookline_core::breaker::Health;
use hookline_core::error::Result;
use hookline_core::ids::{DeliveryId, SubscriptionId};
use hookline_core::ports::{HealthStore, ParkedJob, Written};
use rusqlite::{OptionalExtension, params};

fn written(changed: usize) -> Written {
    if changed == 1 {
        Written::Applied
    } else {
        Written::Stale
    }
}

#[async_trait]
impl HealthStore for SqliteStore {
    async fn get_health(&self, subscription: &SubscriptionId) -> Result<(Health, u64)> {
        let sub = subscription.clone();
        self.db
            .call(move |c| {
                let row: Option<(i64, String)> = c
                    .prepare_cached("SELECT version, body FROM health WHERE subscription_id = ?1")?
                    .query_row([sub.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                match row {
                    Some((version, body)) => Ok((from_json(&body)?, version as u64)),
                    None => Ok((Health::default(), 0)),
                }
            })
            .await
    }

    async fn put_health(
        &self,
        subscription: &SubscriptionId,
        health: &Health,
        expected: u64,
    ) -> Result<Written> {
        let (sub, health) = (subscription.clone(), *health);
        self.db
            .call(move |c| {
                let body = to_json(&health)?;
                let version = expected as i64 + 1;
                let changed = if expected == 0 {
                    c.prepare_cached(
                        "INSERT INTO health (subscription_id, version, body) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (subscription_id) DO NOTHING",
                    )?
                    .execute(params![sub.as_str(), version, body])?
                } else {
                    c.prepare_cached(
                        "UPDATE health SET version = ?2, body = ?3 \
                         WHERE subscription_id = ?1 AND version = ?4",
                    )?
                    .execute(params![
                        sub.as_str(),
                        version,
                        body,
                        expected as i64
                    ])?
                };
                Ok(written(changed))
            })
            .await
    }

    async fn park(&self, subscription: &SubscriptionId, parked: &ParkedJob) -> Result<()> {
        let (sub, parked) = (subscription.clone(), parked.clone());
        self.db
            .call(move |c| {
                c.prepare_cached(
                    "INSERT INTO parked (subscription_id, delivery_id, body, token) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (subscription_id, delivery_id) \
                     DO UPDATE SET body = excluded.body, token = excluded.token",
                )?
                .execute(params![
                    sub.as_str(),
                    parked.delivery_id().as_str(),
                    to_json(&parked)?,
                    parked.token
                ])
                .map(drop)
            })
            .await
    }

    async fn parked(
        &self,
        subscription: &SubscriptionId,
        after: Option<&DeliveryId>,
        limit: usize,
    ) -> Result<Vec<ParkedJob>> {
        let sub = subscription.clone();
        // Every delivery id sorts after "".
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT body FROM parked WHERE subscription_id = ?1 AND delivery_id > ?2 \
                     ORDER BY delivery_id LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![sub.as_str(), after, limit], |r| {
                    r.get::<_, String>(0)
                })?;
                rows.map(|b| from_json(&b?)).collect()
            })
            .await
    }

    async fn parked_job(
        &self,
        subscription: &SubscriptionId,
        delivery: &DeliveryId,
    ) -> Result<Option<ParkedJob>> {
        let (sub, delivery) = (subscription.clone(), delivery.clone());
        self.db
            .call(move |c| {
                let body: Option<String> = c
                    .prepare_cached(
                        "SELECT body FROM parked WHERE subscription_id = ?1 AND delivery_id = ?2",
                    )?
                    .query_row([sub.as_str(), delivery.as_str()], |r| r.get(0))
                    .optional()?;
                body.map(|b| from_json(&b)).transpose()
            })
            .await
    }

    async fn unpark(&self, subscription: &SubscriptionId, parked: &ParkedJob) -> Result<Written> {
        let (sub, parked) = (subscription.clone(), parked.clone());
        self.db
            .call(move |c| {
                c.prepare_cached(
                    "DELETE FROM parked \
                     WHERE subscription_id = ?1 AND delivery_id = ?2 AND token = ?3",
                )?
                .execute(params![
                    sub.as_str(),
                    parked.delivery_id().as_str(),
                    parked.token
                ])
                .map(written)
            })
            .await
    }

    async fn parked_count(&self, subscription: &SubscriptionId) -> Result<u64> {
        let sub = subscription.clone();
        self.db
            .call(move |c| {
                c.prepare_cached("SELECT COUNT(*) FROM parked WHERE subscription_id = ?1")?
                    .query_row([sub.as_str()], |r| r.get::<_, i64>(0))
            })
            .await
            .map(|n| n as u64)
    }
}
