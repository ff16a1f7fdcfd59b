//! Event types on SQLite: one JSON document per type, keyed by scope (`""` for the deployment,
//! else the tenant id) and name; the revision in a column of its own for conditional updates.

use super::{SqliteStore, from_json, to_json};
use async_trait::async_trait;
use hookline_core::TenantId;
use hookline_core::error::Result;
use hookline_core::event_type::EventType;
use hookline_core::ports::EventTypeStore;
use rusqlite::{OptionalExtension, params};

fn scope(tenant: Option<&TenantId>) -> String {
    tenant.map(|t| t.to_string()).unwrap_or_default()
}

#[async_trait]
impl EventTypeStore for SqliteStore {
    async fn insert_event_type(&self, t: &EventType) -> Result<bool> {
        let t = t.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO event_types (scope, name, revision, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (scope, name) DO NOTHING",
                    params![
                        scope(t.tenant_id.as_ref()),
                        t.name,
                        t.revision as i64,
                        to_json(&t)?
                    ],
                )
            })
            .await
            .map(|n| n > 0)
    }

    async fn get_event_type(
        &self,
        tenant: Option<&TenantId>,
        name: &str,
    ) -> Result<Option<EventType>> {
        let (scope, name) = (scope(tenant), name.to_string());
        self.db
            .call(move |c| {
                let body: Option<String> = c
                    .prepare_cached("SELECT body FROM event_types WHERE scope = ?1 AND name = ?2")?
                    .query_row(params![scope, name], |r| r.get(0))
                    .optional()?;
                body.map(|b| from_json(&b)).transpose()
            })
            .await
    }

    async fn update_event_type(&self, t: &EventType, revision: u64) -> Result<bool> {
        let t = t.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE event_types SET revision = ?3, body = ?4
                     WHERE scope = ?1 AND name = ?2 AND revision = ?5",
                    params![
                        scope(t.tenant_id.as_ref()),
                        t.name,
                        t.revision as i64,
                        to_json(&t)?,
                        revision as i64
                    ],
                )
            })
            .await
            .map(|n| n > 0)
    }

    async fn delete_event_type(&self, tenant: Option<&TenantId>, name: &str) -> Result<bool> {
        let (scope, name) = (scope(tenant), name.to_string());
        self.db
            .call(move |c| {
                c.execute(
                    "DELETE FROM event_types WHERE scope = ?1 AND name = ?2",
                    params![scope, name],
                )
            })
            .await
            .map(|n| n > 0)
    }

    async fn list_event_types(&self, tenant: Option<&TenantId>) -> Result<Vec<EventType>> {
        let scope = scope(tenant);
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT body FROM event_types WHERE scope = ?1 ORDER BY name",
                )?;
                let rows = stmt.query_map([scope], |r| r.get::<_, String>(0))?;
                rows.map(|b| from_json(&b?)).collect()
            })
            .await
    }
}
