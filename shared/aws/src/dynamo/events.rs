//! Events on the table and the outbox: an event waiting for fan-out also sits in one of gsi3's
//! 32 `OUTBOX#nn` partitions (keys only), and leaves it when its index keys are removed, so the
//! outbox costs no extra item and no partition takes every event. A batch of events is written
//! with `BatchWriteItem`, 25 items a request.

use super::DynamoStore;
use super::codec::{Item, event_item, from_json, key};
use super::keys::{self, GSI3};
use super::query::KeyRange;
use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use hookline_core::error::{Error, Result};
use hookline_core::event::Event;
use hookline_core::ids::EventId;
use hookline_core::ports::{Created, EventStore, KeyedResponse};
use std::time::Duration;

/// Items one `BatchWriteItem` takes.
const BATCH_WRITE: usize = 25;
/// Sends of a chunk's unprocessed items (throttled) before they are reported as not stored.
const BATCH_TRIES: u32 = 4;

/// The event id a write request puts.
fn id_of(w: &WriteRequest) -> Option<&str> {
    w.put_request()
        .and_then(|p| p.item().get("id"))
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

impl DynamoStore {
    /// An event item kept for the store's retention from the event's time.
    pub(super) fn stored_event_item(&self, e: &Event, fan_out: bool) -> Item {
        event_item(e, fan_out, self.expires(e.timestamp))
    }

    /// Puts up to 25 new events in one `BatchWriteItem` (no condition is needed: their ids are
    /// new), sending unprocessed items again after a short backoff; one result per event.
    async fn write_chunk(&self, events: &[Event]) -> Vec<Result<()>> {
        let mut pending: Vec<WriteRequest> = events
            .iter()
            .map(|e| {
                let put = PutRequest::builder()
                    .set_item(Some(self.stored_event_item(e, true)))
                    .build()
                    .expect("complete put");
                WriteRequest::builder().put_request(put).build()
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
        events
            .iter()
            .map(
                |e| match pending.iter().any(|w| id_of(w) == Some(e.id.as_str())) {
                    true => Err(failure.clone()),
                    false => Ok(()),
                },
            )
            .collect()
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
        self.put_new_keyed(self.stored_event_item(event, fan_out), keyed)
            .await
    }

    async fn insert_events(&self, events: &[Event]) -> Vec<Result<()>> {
        let chunks = events.chunks(BATCH_WRITE).map(|c| self.write_chunk(c));
        futures::future::join_all(chunks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>> {
        self.get(keys::event(id))
            .await?
            .map(|i| from_json(&i))
            .transpose()
    }

    async fn events_awaiting_fanout(&self, limit: usize) -> Result<Vec<Event>> {
        let entries = self
            .query_shards(GSI3, keys::outbox_partitions(), &KeyRange::default(), limit)
            .await?;
        let pks: Vec<String> = entries
            .iter()
            .filter_map(|e| e.get("pk").and_then(|v| v.as_s().ok()).cloned())
            .collect();
        // The index is eventually consistent: an event that just left it is skipped.
        let items = self.get_many(&pks).await?;
        items
            .iter()
            .filter(|i| i.contains_key("gsi3pk"))
            .map(from_json)
            .collect()
    }

    async fn mark_fanned_out(&self, id: &EventId) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::event(id))))
            .update_expression("REMOVE gsi3pk, gsi3sk")
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error("dynamodb", e))
    }
}
