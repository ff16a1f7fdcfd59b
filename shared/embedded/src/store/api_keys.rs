//! Tenant API keys on SQLite: the hash and metadata of each key, never the key itself, so a
//! copy of the database file grants no access.

use super::idempotency::insert_keyed;
use super::{SqliteStore, bad_value, tenant_at};
use async_trait::async_trait;
use hookline_core::TenantId;
use hookline_core::api_key::ApiKey;
use hookline_core::clock::Timestamp;
use hookline_core::error::Result;
use hookline_core::ids::ApiKeyId;
use hookline_core::ports::{ApiKeyStore, Created, KeyedResponse};
use rusqlite::{OptionalExtension, Row, params};

fn api_key_row(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let id: String = r.get(0)?;
    Ok(ApiKey {
        id: ApiKeyId::parse(&id).ok_or_else(|| bad_value("API key id", &id))?,
        tenant_id: tenant_at(r, 1)?,
        name: r.get(2)?,
        hash: r.get(3)?,
        created_at: Timestamp(r.get(4)?),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
    })
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn insert_api_key(&self, key: &ApiKey, keyed: Option<&KeyedResponse>) -> Result<Created> {
        let (k, keyed) = (key.clone(), keyed.cloned());
        self.db
            .call(move |c| {
                insert_keyed(c, keyed.as_ref(), |c| {
                    c.execute(
                        "INSERT INTO api_keys (id, tenant_id, name, hash, created_at, revoked_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            k.id.as_str(),
                            k.tenant_id.as_str(),
                            k.name,
                            k.hash,
                            k.created_at.millis(),
                            k.revoked_at.map(Timestamp::millis)
                        ],
                    )
                    .map(drop)
                })
            })
            .await
    }

    async fn get_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>> {
        let id = id.clone();
        self.db
            .call(move |c| {
                c.prepare_cached(
                    "SELECT id, tenant_id, name, hash, created_at, revoked_at FROM api_keys WHERE id = ?1",
                )?
                .query_row([id.as_str()], api_key_row)
                .optional()
            })
            .await
    }

    async fn list_api_keys(
        &self,
        tenant_id: Option<&TenantId>,
        after: Option<&ApiKeyId>,
        limit: usize,
    ) -> Result<Vec<ApiKey>> {
        let tenant = tenant_id.map(String::from);
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        self.db
            .call(move |c| {
                c.prepare_cached(
                    "SELECT id, tenant_id, name, hash, created_at, revoked_at FROM api_keys \
                     WHERE (?1 IS NULL OR tenant_id = ?1) AND id > ?2 ORDER BY id LIMIT ?3",
                )?
                .query_map(params![tenant, after, limit as i64], api_key_row)?
                .collect()
            })
            .await
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<bool> {
        let id = id.clone();
        self.db
            .call(move |c| {
                // Only an unrevoked key: revoking twice keeps the first revocation time.
                c.execute(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id.as_str(), at.millis()],
                )
            })
            .await
            .map(|n| n > 0)
    }
}
