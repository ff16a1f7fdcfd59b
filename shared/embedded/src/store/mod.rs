//! The store ports on SQLite, one file per resource trait. Subscriptions and events are kept as
//! JSON documents; deliveries and attempts as rows, since they are updated and queried by column.

mod api_keys;
mod deliveries;
mod event_types;
mod events;
mod health;
mod idempotency;
mod pacing;
mod subscriptions;

use crate::db::Db;
use hookline_core::TenantId;
use hookline_core::error::Result;
use hookline_core::event::Event;
use hookline_core::ids::SubscriptionId;
use rusqlite::{Connection, Row, params};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct SqliteStore {
    db: Db,
    /// Each paced subscription's next free send slot, in microseconds.
    pacing: Arc<Mutex<HashMap<SubscriptionId, i64>>>,
}

impl SqliteStore {
    pub fn new(db: Db) -> Self {
        SqliteStore {
            db,
            pacing: Default::default(),
        }
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

/// Reads a tenant column back as a validated id; a row written by anything other than this
/// store could hold a string that is not one, and that must fail loudly rather than pass on.
fn tenant_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<TenantId> {
    let t: String = row.get(idx)?;
    TenantId::parse(t.as_str()).map_err(|_| bad_value("tenant id", &t))
}

/// Shared by the event store and by delivery updates, which store the failure notification in
/// the same transaction as the failed delivery.
fn insert_event(conn: &Connection, e: &Event, fan_out: bool) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO events (id, body, fanned_out) VALUES (?1, ?2, ?3)")?
        .execute(params![e.id.as_str(), to_json(e)?, !fan_out])?;
    Ok(())
}
