//! Storage of events, and the outbox of events not yet fanned out.

use crate::error::Result;
use crate::event::Event;
use crate::ids::EventId;
use crate::ports::{Created, KeyedResponse};
use async_trait::async_trait;

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Stores an event, with its key's response in the same write when keyed; with `fan_out`
    /// false it never enters the outbox (test events, which go to one subscription only).
    async fn insert_event(
        &self,
        event: &Event,
        fan_out: bool,
        keyed: Option<&KeyedResponse>,
    ) -> Result<Created>;
    /// Stores new events (ids never used before), every one in the outbox, in as few requests
    /// as the store allows (batch ingest). One result per event, in order: a store that writes
    /// in chunks may store some and fail others, but each event is stored whole or not at all.
    async fn insert_events(&self, events: &[Event]) -> Vec<Result<()>>;
    async fn get_event(&self, id: &EventId) -> Result<Option<Event>>;
    /// Stored events not yet fanned out, oldest first. This is the outbox that guarantees every
    /// stored event is fanned out even if the process dies right after storing it.
    async fn events_awaiting_fanout(&self, limit: usize) -> Result<Vec<Event>>;
    async fn mark_fanned_out(&self, id: &EventId) -> Result<()>;
}
