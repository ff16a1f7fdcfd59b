//! The embedded adapters Hookline runs on locally: one SQLite database (WAL mode) in the data
//! directory holds the store and the job queues, so state survives a restart and a message
//! that was backing off when the process died comes back on time.
//!
//! SQLite was chosen over a key-value engine (redb, sled) because the access patterns are
//! queries: "visible messages of this queue, oldest first", "deliveries of this subscription
//! after this cursor, with this status". WAL gives crash-safe commits that do not block readers.
//!
//! Layout: `db` opens the database and holds the schema; `store/` implements the store traits,
//! one file per resource (`subscriptions`, `events` and the outbox, `deliveries`, `api_keys`,
//! `idempotency`) on one [`SqliteStore`]; `queue` is the job queue with SQS semantics.

mod db;
mod queue;
mod store;

pub use db::Db;
pub use queue::{QueueConfig, SqliteQueue};
pub use store::SqliteStore;
