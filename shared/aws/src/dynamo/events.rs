//! Events on the table and the outbox: an event to be fanned out is written with a small outbox
//! entry of its own in one of 32 `OUTBOX#nn` partitions (sort key the event id), which fan-out
//! deletes. The event item is never rewritten: marking it done costs one delete of a small
//! item, and no partition takes every event. Events (with their entries) are written with
//! `BatchWriteItem`, 12 events (24 items) a request.

use super::DynamoStore;
use super::codec::{Item, event_item, from_json, get_s, outbox_item, outbox_key};
use super::keys;
use super::query::{KeyRange, TABLE};
use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use hookline_core::clock::{Clock, SystemClock};
use hookline_core::error::{Error, Result};
use hookline_core::event::Event;
use hookline_core::ids::EventId;
use hookline_core::ports::{Created, EventStore, KeyedResponse};
use std::time::Duration;

/// Events one `BatchWriteItem` takes: 25 items, two per event.
const BATCH_EVENTS: usize = 12;
/// How old an outbox entry whose event was never stored must be before it is deleted: the
/// entry is written first, so a younger one may belong to an event being written.
const ORPHAN_AGE_MS: i64 = 60_000;
/// Sends of a chunk's unprocessed items (throttled) before they are reported as not stored.
const BATCH_TRIES: u32 = 4;

/// The event a write request puts (its item, or its outbox entry).
fn event_of(w: &WriteRequest) -> Option<String> {
    let item = w.put_request()?.item();
    let pk = get_s(item, "pk")?;
    match keys::event_id_in(&pk) {
        Some(id) => Some(id.to_string()),
        None => get_s(item, "sk"),
    }
}

impl DynamoStore {
    /// An event item kept for the store's retention from the event's time.
    pub(super) fn stored_event_item(&self, e: &Event, fan_out: bool) -> Item {
        event_item(e, fan_out, self.expires(e.timestamp))
    }

    /// Puts up to 12 new events and their outbox entries in one `BatchWriteItem` (no condition
    /// is needed: their ids are new), sending unprocessed items again after a short backoff;
    /// one result per event, which is stored only if both its items are.
    async fn write_chunk(&self, events: &[Event]) -> Vec<Result<()>> {
        let put = |item: Item| {
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .expect("complete put");
            WriteRequest::builder().put_request(put).build()
        };
        let mut pending: Vec<WriteRequest> = events
            .iter()
            .flat_map(|e| {
                [
                    put(outbox_item(e, self.expires(e.timestamp))),
                    put(self.stored_event_item(e, true)),
                ]
            })
            .collect();
        let mut failure = Error::internal("dynamodb: throttled; the event was not stored");
        for attempt in 0..BATCH_TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending.clone())
                .send()
                .await;
            match out {
                Ok(o) => {
                    pending = o
                        .unprocessed_items()
                        .and_then(|u| u.get(&self.table))
                        .cloned()
                        .unwrap_or_default();
                    if pending.is_empty() {
                        break;
                    }
                }
                Err(e) => {
                    failure = sdk_error("dynamodb", e);
                    break;
                }
            }
        }
        // An event is stored when its item is: the stream fans it out. An entry left behind is
        // written once more on its own (only the sweep needs it); an entry without its event is
        // an orphan the outbox's readers delete.
        let mut results = Vec::with_capacity(events.len());
        for e in events {
            let left: Vec<&WriteRequest> = pending
                .iter()
                .filter(|w| event_of(w).as_deref() == Some(e.id.as_str()))
                .collect();
            let item_left = left.iter().any(|w| {
                w.put_request()
                    .and_then(|p| get_s(p.item(), "pk"))
                    .is_some_and(|pk| keys::event_id_in(&pk).is_some())
            });
            if item_left {
                results.push(Err(failure.clone()));
                continue;
            }
            if !left.is_empty()
                && let Err(err) = self.put(outbox_item(e, self.expires(e.timestamp))).await
            {
                tracing::warn!(event_id = %e.id, error = %err, "event stored without its outbox entry: only the stream fans it out");
            }
            results.push(Ok(()));
        }
        results
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn insert_event(
        &self,
        event: &Event,
        fan_out: bool,
        keyed: Option<&KeyedResponse>,
    ) -> Result<Created> {
        match (fan_out, keyed) {
            (false, _) => {
                self.put_new_keyed(self.stored_event_item(event, false), keyed)
                    .await
            }
            (true, None) => {
                let stored = self.write_chunk(std::slice::from_ref(event)).await;
                stored
                    .into_iter()
                    .next()
                    .expect("one result")
                    .map(|_| Created::Stored)
            }
            // The entry first: if the keyed write then fails, the sweep deletes the orphan.
            (true, Some(_)) => {
                self.put(outbox_item(event, self.expires(event.timestamp)))
                    .await?;
                self.put_new_keyed(self.stored_event_item(event, true), keyed)
                    .await
            }
        }
    }

    async fn insert_events(&self, events: &[Event]) -> Vec<Result<()>> {
        let chunks = events.chunks(BATCH_EVENTS).map(|c| self.write_chunk(c));
        futures::future::join_all(chunks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// An event never changes once stored, so it is read eventually consistent (half a read
    /// unit); only when that read does not find it yet is it read again strongly consistent.
    async fn get_event(&self, id: &EventId) -> Result<Option<Event>> {
        let item = match self.get(keys::event(id), false).await? {
            Some(item) => Some(item),
            None => self.get(keys::event(id), true).await?,
        };
        item.map(|i| from_json(&i)).transpose()
    }

    async fn events_awaiting_fanout(&self, limit: usize) -> Result<Vec<Event>> {
        let entries = self
            .query_shards(
                TABLE,
                keys::outbox_partitions(),
                &KeyRange::default(),
                limit,
            )
            .await?;
        let ids: Vec<EventId> = entries
            .iter()
            .filter_map(|e| get_s(e, "sk").and_then(|id| EventId::parse(&id)))
            .collect();
        let pks: Vec<String> = ids.iter().map(keys::event).collect();
        let items = self.get_many(&pks).await?;
        let stored: Vec<String> = items.iter().filter_map(|i| get_s(i, "pk")).collect();
        // An event that cannot be read is logged and left out, so it cannot hold back the rest.
        let events: Vec<Event> = items
            .iter()
            .filter_map(|item| match from_json::<Event>(item) {
                Ok(e) => Some(e),
                Err(err) => {
                    tracing::error!(pk = ?get_s(item, "pk"), error = %err, "stored event cannot be read; left in the outbox");
                    None
                }
            })
            .collect();
        // An entry whose event was never stored (its write failed after the entry's) is
        // deleted once it is old enough not to be an event still being written.
        let now = SystemClock.now().millis();
        for id in &ids {
            if !stored.contains(&keys::event(id)) && now - id.millis() > ORPHAN_AGE_MS {
                self.mark_fanned_out(id).await?;
            }
        }
        Ok(events)
    }

    async fn mark_fanned_out(&self, id: &EventId) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(outbox_key(id)))
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error("dynamodb", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::TenantId;
    use hookline_core::clock::Timestamp;

    fn request(item: Item) -> WriteRequest {
        let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
        WriteRequest::builder().put_request(put).build()
    }

    #[test]
    fn an_unprocessed_item_names_its_event() {
        let e = Event {
            id: EventId::generate(),
            tenant_id: TenantId::parse("ford-anytown").unwrap(),
            event_type: "lead.qualified".into(),
            timestamp: Timestamp(1_795_736_620_926),
            data: Default::default(),
            attributes: Default::default(),
        };
        let ttl = super::super::codec::n(0);
        let item = request(event_item(&e, true, ttl.clone()));
        let entry = request(outbox_item(&e, ttl));
        assert_eq!(event_of(&item).as_deref(), Some(e.id.as_str()));
        assert_eq!(event_of(&entry).as_deref(), Some(e.id.as_str()));
    }
}
