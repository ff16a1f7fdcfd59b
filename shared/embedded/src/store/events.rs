//! Events on SQLite, and the outbox: an event row carries a `fanned_out` flag, so the events
//! still to fan out are found by a partial index and survive a crash right after the insert.

use super::idempotency::insert_keyed;
use super::{SqliteStore, from_json, insert_event};
use async_trait::async_trait;
use hookline_core::error::Result;
use hookline_core::event::Event;
use hookline_core::ids::EventId;
use hookline_core::ports::{Created, EventStore, KeyedResponse};
use rusqlite::OptionalExtension;

#[async_trait]
impl EventStore for SqliteStore {
    async fn insert_event(
        &self,
        event: &Event,
        fan_out: bool,
        keyed: Option<&KeyedResponse>,
    ) -> Result<Created> {
        let (event, keyed) = (event.clone(), keyed.cloned());
        self.db
            .call(move |c| insert_keyed(c, keyed.as_ref(), |c| insert_event(c, &event, fan_out)))
            .await
    }

    /// One transaction: the whole batch is stored, or none of it.
    async fn insert_events(&self, events: &[Event]) -> Vec<Result<()>> {
        let batch = events.to_vec();
        let written = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                for e in &batch {
                    insert_event(&tx, e, true)?;
                }
                tx.commit()
            })
            .await;
        events.iter().map(|_| written.clone()).collect()
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
}
