//! The store port on SQLite. Subscriptions and events are kept as JSON documents; deliveries
//! and attempts as rows, since they are updated and queried by column.

use crate::db::Db;
use async_trait::async_trait;
use hookline_core::api_key::ApiKey;
use hookline_core::clock::Timestamp;
use hookline_core::delivery::{Attempt, Delivery, DeliveryStatus, DeliveryUpdate};
use hookline_core::error::{Error, Result};
use hookline_core::event::Event;
use hookline_core::ids::{ApiKeyId, DeliveryId, EventId, SubscriptionId};
use hookline_core::ports::{Claim, DeliveryQuery, IdempotencyRecord, Store};
use hookline_core::subscription::Subscription;
use rusqlite::{Connection, OptionalExtension, Row, params};

#[derive(Clone)]
pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
    pub fn new(db: Db) -> Self {
        SqliteStore { db }
    }

    /// How many events are stored (for ops and tests).
    pub async fn count_events(&self) -> Result<u64> {
        self.db
            .call(|c| c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0)))
            .await
            .map(|n| n as u64)
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> rusqlite::Result<String> {
    serde_json::to_string(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn bad_value(what: &str, v: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("stored {what} `{v}` is not valid").into(),
    )
}

const DELIVERY_COLUMNS: &str = "id, event_id, subscription_id, tenant_id, event_type, status, \
     created_at, updated_at, next_attempt_at, failure_reason, attempt_base";

fn delivery_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let id: String = row.get(0)?;
    let event_id: String = row.get(1)?;
    let sub_id: String = row.get(2)?;
    let status: String = row.get(5)?;
    Ok(Delivery {
        id: DeliveryId::parse(&id).ok_or_else(|| bad_value("delivery id", &id))?,
        event_id: EventId::parse(&event_id).ok_or_else(|| bad_value("event id", &event_id))?,
        subscription_id: SubscriptionId::parse(&sub_id)
            .ok_or_else(|| bad_value("subscription id", &sub_id))?,
        tenant_id: row.get(3)?,
        event_type: row.get(4)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| bad_value("status", &status))?,
        created_at: Timestamp(row.get(6)?),
        updated_at: Timestamp(row.get(7)?),
        next_attempt_at: row.get::<_, Option<i64>>(8)?.map(Timestamp),
        failure_reason: row.get(9)?,
        attempts: Vec::new(),
        attempt_base: row.get(10)?,
    })
}

fn load_attempts(conn: &Connection, d: &mut Delivery) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT number, at, status_code, error, duration_ms, response_body \
         FROM attempts WHERE delivery_id = ?1 ORDER BY number",
    )?;
    d.attempts = stmt
        .query_map([d.id.as_str()], |r| {
            Ok(Attempt {
                number: r.get(0)?,
                at: Timestamp(r.get(1)?),
                status_code: r.get(2)?,
                error: r.get(3)?,
                duration_ms: r.get::<_, i64>(4)? as u64,
                response_body: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(())
}

fn get_delivery(
    conn: &Connection,
    sql_where: &str,
    args: &[&str],
) -> rusqlite::Result<Option<Delivery>> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE {sql_where}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt
        .query_row(rusqlite::params_from_iter(args), delivery_row)
        .optional()?;
    match found {
        Some(mut d) => {
            load_attempts(conn, &mut d)?;
            Ok(Some(d))
        }
        None => Ok(None),
    }
}

fn insert_event(conn: &Connection, e: &Event, fan_out: bool) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO events (id, body, fanned_out) VALUES (?1, ?2, ?3)")?
        .execute(params![e.id.as_str(), to_json(e)?, !fan_out])?;
    Ok(())
}

fn api_key_row(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let id: String = r.get(0)?;
    Ok(ApiKey {
        id: ApiKeyId::parse(&id).ok_or_else(|| bad_value("API key id", &id))?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        hash: r.get(3)?,
        created_at: Timestamp(r.get(4)?),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_subscription(&self, sub: &Subscription) -> Result<()> {
        let sub = sub.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO subscriptions (id, tenant_id, body) VALUES (?1, ?2, ?3)",
                    params![sub.id.as_str(), sub.tenant_id, to_json(&sub)?],
                )
                .map(drop)
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
        tenant_id: Option<&str>,
        after: Option<&SubscriptionId>,
        limit: usize,
    ) -> Result<Vec<Subscription>> {
        let tenant = tenant_id.map(str::to_string);
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

    async fn subscriptions_for_tenant(&self, tenant_id: &str) -> Result<Vec<Subscription>> {
        let tenant = tenant_id.to_string();
        self.db
            .call(move |c| {
                let mut stmt =
                    c.prepare_cached("SELECT body FROM subscriptions WHERE tenant_id = ?1")?;
                let rows = stmt.query_map([tenant], |r| r.get::<_, String>(0))?;
                rows.map(|b| from_json(&b?)).collect()
            })
            .await
    }

    async fn count_subscriptions(&self, tenant_id: &str) -> Result<u64> {
        let tenant = tenant_id.to_string();
        self.db
            .call(move |c| {
                c.prepare_cached("SELECT COUNT(*) FROM subscriptions WHERE tenant_id = ?1")?
                    .query_row([tenant], |r| r.get::<_, i64>(0))
            })
            .await
            .map(|n| n as u64)
    }

    async fn insert_event(&self, event: &Event, fan_out: bool) -> Result<()> {
        let event = event.clone();
        self.db
            .call(move |c| insert_event(c, &event, fan_out))
            .await
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>> {
        let id = id.clone();
        self.db
            .call(move |c| {
                let body: Option<String> = c
                    .prepare_cached("SELECT body FROM events WHERE id = ?1")?
                    .query_row([id.as_str()], |r| r.get(0))
                    .optional()?;
                body.map(|b| from_json(&b)).transpose()
            })
            .await
    }

    async fn events_awaiting_fanout(&self, limit: usize) -> Result<Vec<Event>> {
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT body FROM events WHERE fanned_out = 0 ORDER BY id LIMIT ?1",
                )?;
                let rows = stmt.query_map([limit as i64], |r| r.get::<_, String>(0))?;
                rows.map(|b| from_json(&b?)).collect()
            })
            .await
    }

    async fn mark_fanned_out(&self, id: &EventId) -> Result<()> {
        let id = id.clone();
        self.db
            .call(move |c| {
                c.prepare_cached("UPDATE events SET fanned_out = 1 WHERE id = ?1")?
                    .execute([id.as_str()])
                    .map(drop)
            })
            .await
    }

    async fn create_delivery(&self, d: &Delivery) -> Result<Delivery> {
        let d = d.clone();
        let stored = self
            .db
            .call(move |c| {
                c.prepare_cached(
                    "INSERT OR IGNORE INTO deliveries (id, event_id, subscription_id, tenant_id, \
                     event_type, status, created_at, updated_at, next_attempt_at, failure_reason) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(params![
                    d.id.as_str(),
                    d.event_id.as_str(),
                    d.subscription_id.as_str(),
                    d.tenant_id,
                    d.event_type,
                    d.status.as_str(),
                    d.created_at.millis(),
                    d.updated_at.millis(),
                    d.next_attempt_at.map(Timestamp::millis),
                    d.failure_reason,
                ])?;
                get_delivery(
                    c,
                    "event_id = ?1 AND subscription_id = ?2",
                    &[d.event_id.as_str(), d.subscription_id.as_str()],
                )
            })
            .await?;
        stored.ok_or_else(|| Error::internal("delivery vanished right after it was stored"))
    }

    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>> {
        let id = id.clone();
        self.db
            .call(move |c| get_delivery(c, "id = ?1", &[id.as_str()]))
            .await
    }

    async fn update_delivery(
        &self,
        u: &DeliveryUpdate,
        notification: Option<&Event>,
    ) -> Result<()> {
        let u = u.clone();
        let notification = notification.cloned();
        let id = u.delivery_id.to_string();
        let changed = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                if let Some(a) = &u.attempt {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO attempts (delivery_id, number, at, status_code, error, \
                         duration_ms, response_body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        u.delivery_id.as_str(),
                        a.number,
                        a.at.millis(),
                        a.status_code,
                        a.error,
                        a.duration_ms as i64,
                        a.response_body,
                    ])?;
                }
                let changed = tx
                    .prepare_cached(
                        "UPDATE deliveries SET status = ?2, next_attempt_at = ?3, failure_reason = ?4, \
                         updated_at = ?5, attempt_base = COALESCE(?6, attempt_base) WHERE id = ?1",
                    )?
                    .execute(params![
                        u.delivery_id.as_str(),
                        u.status.as_str(),
                        u.next_attempt_at.map(Timestamp::millis),
                        u.failure_reason,
                        u.at.millis(),
                        u.attempt_base,
                    ])?;
                if let Some(n) = &notification {
                    insert_event(&tx, n, true)?;
                }
                tx.commit()?;
                Ok(changed)
            })
            .await?;
        if changed == 0 {
            Err(Error::not_found("delivery", &id))
        } else {
            Ok(())
        }
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>> {
        let q = q.clone();
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries \
                     WHERE (?1 IS NULL OR event_id = ?1) AND (?2 IS NULL OR subscription_id = ?2) \
                     AND (?3 IS NULL OR status = ?3) AND id > ?4 \
                     AND (?6 IS NULL OR created_at >= ?6) AND (?7 IS NULL OR created_at < ?7) \
                     ORDER BY id LIMIT ?5"
                ))?;
                let mut items: Vec<Delivery> = stmt
                    .query_map(
                        params![
                            q.event_id.as_ref().map(|e| e.as_str()),
                            q.subscription_id.as_ref().map(|s| s.as_str()),
                            q.status.map(|s| s.as_str()),
                            q.after.as_ref().map(|a| a.as_str()).unwrap_or(""),
                            q.limit as i64,
                            q.since.map(Timestamp::millis),
                            q.until.map(Timestamp::millis),
                        ],
                        delivery_row,
                    )?
                    .collect::<rusqlite::Result<_>>()?;
                for d in &mut items {
                    load_attempts(c, d)?;
                }
                Ok(items)
            })
            .await
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        let k = key.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO api_keys (id, tenant_id, name, hash, created_at, revoked_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        k.id.as_str(),
                        k.tenant_id,
                        k.name,
                        k.hash,
                        k.created_at.millis(),
                        k.revoked_at.map(Timestamp::millis)
                    ],
                )
                .map(drop)
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
        tenant_id: Option<&str>,
        after: Option<&ApiKeyId>,
        limit: usize,
    ) -> Result<Vec<ApiKey>> {
        let tenant = tenant_id.map(str::to_string);
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
                c.execute(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id.as_str(), at.millis()],
                )
            })
            .await
            .map(|n| n > 0)
    }

    async fn claim_idempotency(
        &self,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        stale_before: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Claim> {
        let (key, hash) = (key.to_string(), request_hash.to_string());
        self.db
            .call(move |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let existing: Option<(String, i64, i64, Option<u16>, Option<String>)> = tx
                    .prepare_cached(
                        "SELECT request_hash, claimed_at, expires_at, status, body \
                         FROM idempotency_keys WHERE key = ?1",
                    )?
                    .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                    .optional()?;
                let claimable = match &existing {
                    None => true,
                    Some((_, claimed_at, expires, status, _)) => {
                        *expires <= now.millis() || (status.is_none() && *claimed_at < stale_before.millis())
                    }
                };
                if !claimable {
                    let (request_hash, _, _, status, body) = existing.expect("checked above");
                    tx.commit()?;
                    return Ok(Claim::Existing(IdempotencyRecord {
                        request_hash,
                        response: status.map(|s| (s, body.unwrap_or_default())),
                    }));
                }
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO idempotency_keys (key, request_hash, claimed_at, expires_at, status, body) \
                     VALUES (?1, ?2, ?3, ?4, NULL, NULL)",
                )?
                .execute(params![key, hash, now.millis(), expires_at.millis()])?;
                tx.commit()?;
                Ok(Claim::Claimed)
            })
            .await
    }

    async fn complete_idempotency(&self, key: &str, status: u16, body: &str) -> Result<()> {
        let (key, body) = (key.to_string(), body.to_string());
        self.db
            .call(move |c| {
                c.prepare_cached(
                    "UPDATE idempotency_keys SET status = ?2, body = ?3 WHERE key = ?1",
                )?
                .execute(params![key, status, body])
                .map(drop)
            })
            .await
    }

    async fn release_idempotency(&self, key: &str) -> Result<()> {
        let key = key.to_string();
        self.db
            .call(move |c| {
                c.prepare_cached("DELETE FROM idempotency_keys WHERE key = ?1 AND status IS NULL")?
                    .execute([key])
                    .map(drop)
            })
            .await
    }
}
