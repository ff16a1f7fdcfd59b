//! One SQLite connection shared by the store and the queues. Calls run on the calling thread,
//! one at a time (BENCHMARKS.md: cheaper than handing each to another thread).

use hookline_core::Error;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_by_tenant ON subscriptions (tenant_id, id);

CREATE TABLE IF NOT EXISTS event_types (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    revision INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (scope, name)
);

CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    fanned_out INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_awaiting_fanout ON events (id) WHERE fanned_out = 0;

CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    next_attempt_at INTEGER,
    failure_reason TEXT,
    attempt_base INTEGER NOT NULL DEFAULT 0,
    carrier TEXT,
    claimed_until INTEGER,
    UNIQUE (event_id, subscription_id)
);
CREATE INDEX IF NOT EXISTS deliveries_by_subscription ON deliveries (subscription_id, id);

CREATE TABLE IF NOT EXISTS attempts (
    delivery_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    at INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL,
    response_body TEXT,
    PRIMARY KEY (delivery_id, number)
);

CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT,
    hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    claimed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    status INTEGER,
    body TEXT
);

CREATE TABLE IF NOT EXISTS health (
    subscription_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS parked (
    subscription_id TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    token TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (subscription_id, delivery_id)
);

CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT UNIQUE,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS queue_ready ON queue_messages (queue, visible_at, seq);
"#;

/// Columns added since a table was first created: added to a database file made before them.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("deliveries", "carrier", "TEXT"),
    ("deliveries", "claimed_until", "INTEGER"),
];

fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, decl) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
            [table, column],
            |r| r.get(0),
        )?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("embedded store: {e}"))
}

impl Db {
    /// Opens (creating if needed) `hookline.db` in `dir`.
    pub fn open(dir: &Path) -> Result<Db, Error> {
        std::fs::create_dir_all(dir).map_err(internal)?;
        Db::open_file(&dir.join("hookline.db"))
    }

    pub fn open_file(path: &Path) -> Result<Db, Error> {
        let conn = Connection::open(path).map_err(internal)?;
        // WAL + NORMAL: commits survive a process crash; only an OS crash can lose the last few.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(internal)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(internal)?;
        conn.pragma_update(None, "busy_timeout", 5000)
            .map_err(internal)?;
        conn.execute_batch(SCHEMA).map_err(internal)?;
        add_missing_columns(&conn).map_err(internal)?;
        // Every statement the adapters use stays prepared.
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Whether `other` is this same database (a clone of this handle).
    pub(crate) fn same(&self, other: &Db) -> bool {
        Arc::ptr_eq(&self.conn, &other.conn)
    }

    /// Runs `f` with the connection, on the calling thread. Each call is a few tens of
    /// microseconds of SQLite work (WAL appends, no fsync per commit), less than handing it to
    /// another thread and waking this one again would cost; measured in BENCHMARKS.md.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard).map_err(internal)
    }
}
