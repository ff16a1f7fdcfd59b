//! Subscriptions on SQLite: each is one JSON document, with its tenant in a column of its own so
//! that listing and fan-out can select by tenant through an index.

use super::idempotency::insert_keyed;
use super::{SqliteStore, from_json, to_json};
use async_trait::async_trait;
use hookline_core::TenantId;
use hookline_core::error::{Error, Result};
use hookline_core::ids::SubscriptionId;
use hookline_core::ports::{Created, KeyedResponse, SubscriptionStore};
use hookline_core::subscription::Subscription;
use rusqlite::{OptionalExtension, params};

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn insert_subscription(
        &self,
        sub: &Subscription,
        keyed: Option<&KeyedResponse>,
    ) -> Result<Created> {
        let (sub, keyed) = (sub.clone(), keyed.cloned());
        self.db
            .call(move |c| {
                insert_keyed(c, keyed.as_ref(), |c| {
                    c.execute(
                        "INSERT INTO subscriptions (id, tenant_id, body) VALUES (?1, ?2, ?3)",
                        params![sub.id.as_str(), sub.tenant_id.as_str(), to_json(&sub)?],
                    )
                    .map(drop)
                })
            })
            .await
    }

    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>> {
        let id = id.clone();
        self.db
            .call(move |c| {
                let body: Option<String> = c
                    .prepare_cached("SELECT body FROM subscriptions WHERE id = ?1")?
                    .query_row([id.as_str()], |r| r.get(0))
                    .optional()?;
                body.map(|b| from_json(&b)).transpose()
            })
            .await
    }

    async fn update_subscription(&self, sub: &Subscription) -> Result<()> {
        let sub = sub.clone();
        let id = sub.id.to_string();
        let changed = self
            .db
            .call(move |c| {
                c.execute(
                    "UPDATE subscriptions SET body = ?2 WHERE id = ?1",
                    params![sub.id.as_str(), to_json(&sub)?],
                )
            })
            .await?;
        if changed == 0 {
            Err(Error::not_found("subscription", &id))
        } else {
            Ok(())
        }
    }

    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool> {
        let id = id.clone();
        self.db
            .call(move |c| c.execute("DELETE FROM subscriptions WHERE id = ?1", [id.as_str()]))
            .await
            .map(|n| n > 0)
    }

    async fn list_subscriptions(
        &self,
        tenant_id: Option<&TenantId>,
        after: Option<&SubscriptionId>,
        limit: usize,
    ) -> Result<Vec<Subscription>> {
        let tenant = tenant_id.map(String::from);
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT body FROM subscriptions WHERE (?1 IS NULL OR tenant_id = ?1) AND id > ?2 \
                     ORDER BY id LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![tenant, after, limit as i64], |r| r.get::<_, String>(0))?;
                rows.map(|b| from_json(&b?)).collect()
            })
            .await
    }

    async fn subscriptions_for_tenant(&self, tenant_id: &TenantId) -> Result<Vec<Subscription>> {
        let tenant = String::from(tenant_id);
        self.db
            .call(move |c| {
                let mut stmt =
                    c.prepare_cached("SELECT body FROM subscriptions WHERE tenant_id = ?1")?;
                let rows = stmt.query_map([tenant], |r| r.get::<_, String>(0))?;
                rows.map(|b| from_json(&b?)).collect()
            })
            .await
    }

    async fn count_subscriptions(&self, tenant_id: &TenantId) -> Result<u64> {
        let tenant = String::from(tenant_id);
        self.db
            .call(move |c| {
                c.prepare_cached("SELECT COUNT(*) FROM subscriptions WHERE tenant_id = ?1")?
                    .query_row([tenant], |r| r.get::<_, i64>(0))
            })
            .await
            .map(|n| n as u64)
    }
}
