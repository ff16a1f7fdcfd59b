//! Deliveries and their attempts on SQLite, as rows: they are updated and filtered by column.
//! An attempt, the delivery's new status and a failure notification commit in one transaction,
//! and only if the delivery is still at the status and attempt count the change was computed from.

use super::{SqliteStore, bad_value, insert_event, tenant_at};
use async_trait::async_trait;
use hookline_core::clock::Timestamp;
use hookline_core::delivery::{Attempt, Claim, Delivery, DeliveryStatus, DeliveryUpdate};
use hookline_core::error::{Error, Result};
use hookline_core::event::Event;
use hookline_core::ids::{DeliveryId, EventId, SubscriptionId};
use hookline_core::ports::{DeliveryLimits, DeliveryQuery, DeliveryStore, Written};
use rusqlite::{Connection, OptionalExtension, Row, params};

const DELIVERY_COLUMNS: &str = "id, event_id, subscription_id, tenant_id, event_type, status, \
     created_at, updated_at, next_attempt_at, failure_reason, attempt_base, carrier, claimed_until";

/// The delivery `?1` is at status `?2` with `?3` attempts.
const AT_VERSION: &str = "id = ?1 AND status = ?2 \
     AND (SELECT COUNT(*) FROM attempts WHERE delivery_id = ?1) = ?3";

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
        tenant_id: tenant_at(row, 3)?,
        event_type: row.get(4)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| bad_value("status", &status))?,
        created_at: Timestamp(row.get(6)?),
        updated_at: Timestamp(row.get(7)?),
        next_attempt_at: row.get::<_, Option<i64>>(8)?.map(Timestamp),
        failure_reason: row.get(9)?,
        attempts: Vec::new(),
        attempt_base: row.get(10)?,
        carrier: row.get(11)?,
        claimed_until: row.get::<_, Option<i64>>(12)?.map(Timestamp),
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

/// Stores `d` unless a delivery of its (event, subscription) exists; the stored one.
fn create(c: &Connection, d: Delivery) -> rusqlite::Result<Option<Delivery>> {
    let inserted = c
        .prepare_cached(
            "INSERT OR IGNORE INTO deliveries (id, event_id, subscription_id, tenant_id, \
             event_type, status, created_at, updated_at, next_attempt_at, failure_reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            d.id.as_str(),
            d.event_id.as_str(),
            d.subscription_id.as_str(),
            d.tenant_id.as_str(),
            d.event_type,
            d.status.as_str(),
            d.created_at.millis(),
            d.updated_at.millis(),
            d.next_attempt_at.map(Timestamp::millis),
            d.failure_reason,
        ])?;
    if inserted == 1 && d.attempts.is_empty() {
        // new: the row is `d` as its columns hold it, no need to read it back
        return Ok(Some(Delivery {
            attempt_base: 0,
            carrier: None,
            claimed_until: None,
            ..d
        }));
    }
    // Read back by (event, subscription), not by id: when fan-out ran before, the stored
    // delivery is the earlier one and keeps its id.
    get_delivery(
        c,
        "event_id = ?1 AND subscription_id = ?2",
        &[d.event_id.as_str(), d.subscription_id.as_str()],
    )
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    /// SQLite rows have no such limit; local runs keep DynamoDB's, so a delivery behaves the
    /// same locally as deployed.
    fn limits(&self) -> DeliveryLimits {
        DeliveryLimits {
            max_attempts_per_delivery: 100,
        }
    }

    async fn create_delivery(&self, d: &Delivery) -> Result<Delivery> {
        self.create_deliveries(std::slice::from_ref(d))
            .await
            .pop()
            .expect("one answer per delivery")
    }

    /// All in one transaction: one commit for a fan-out batch's deliveries.
    async fn create_deliveries(&self, deliveries: &[Delivery]) -> Vec<Result<Delivery>> {
        let new = deliveries.to_vec();
        let n = new.len();
        let stored = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                let stored = new
                    .into_iter()
                    .map(|d| create(&tx, d))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                tx.commit()?;
                Ok(stored)
            })
            .await;
        match stored {
            Ok(stored) => stored
                .into_iter()
                .map(|d| {
                    d.ok_or_else(|| Error::internal("delivery vanished right after it was stored"))
                })
                .collect(),
            Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
        }
    }

    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>> {
        let id = id.clone();
        self.db
            .call(move |c| get_delivery(c, "id = ?1", &[id.as_str()]))
            .await
    }

    async fn claim_delivery(&self, c: &Claim) -> Result<Written> {
        let c = c.clone();
        let changed = self
            .db
            .call(move |conn| {
                conn.prepare_cached(&format!(
                    "UPDATE deliveries SET carrier = ?4, claimed_until = ?5 WHERE {AT_VERSION} \
                     AND (claimed_until IS NULL OR claimed_until <= ?6 OR carrier = ?4)"
                ))?
                .execute(params![
                    c.delivery_id.as_str(),
                    c.expected.status.as_str(),
                    c.expected.attempts,
                    c.by,
                    c.until.millis(),
                    c.at.millis(),
                ])
            })
            .await?;
        Ok(if changed == 1 {
            Written::Applied
        } else {
            Written::Stale
        })
    }

    async fn update_delivery(
        &self,
        u: &DeliveryUpdate,
        notification: Option<&Event>,
    ) -> Result<Written> {
        let u = u.clone();
        let notification = notification.cloned();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let changed = tx
                    .prepare_cached(&format!(
                        "UPDATE deliveries SET status = ?4, next_attempt_at = ?5, failure_reason = ?6, \
                         updated_at = ?7, attempt_base = COALESCE(?8, attempt_base), claimed_until = NULL \
                         WHERE {AT_VERSION} AND (CASE WHEN ?9 IS NULL \
                           THEN claimed_until IS NULL OR claimed_until <= ?7 ELSE carrier = ?9 END)"
                    ))?
                    .execute(params![
                        u.delivery_id.as_str(),
                        u.expected.status.as_str(),
                        u.expected.attempts,
                        u.status.as_str(),
                        u.next_attempt_at.map(Timestamp::millis),
                        u.failure_reason,
                        u.at.millis(),
                        u.attempt_base,
                        u.carrier,
                    ])?;
                if changed == 0 {
                    return Ok(Written::Stale);
                }
                if let Some(a) = &u.attempt {
                    tx.prepare_cached(
                        "INSERT INTO attempts (delivery_id, number, at, status_code, error, \
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
                if let Some(n) = &notification {
                    insert_event(&tx, n, true)?;
                }
                tx.commit()?;
                Ok(Written::Applied)
            })
            .await
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>> {
        let q = q.clone();
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries \
                     WHERE (?1 IS NULL OR event_id = ?1) AND (?2 IS NULL OR subscription_id = ?2) \
                     AND (?3 IS NULL OR status = ?3) AND id > ?4 \
                     AND (?6 IS NULL OR id >= ?6) AND (?7 IS NULL OR id <= ?7) \
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
                            q.since
                                .map(|t| DeliveryId::lower_bound(t.millis()).to_string()),
                            q.until
                                .map(|t| DeliveryId::last_before(t.millis()).to_string()),
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
}
