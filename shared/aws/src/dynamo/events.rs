//! Events on the table and the outbox: an event waiting for fan-out also sits in gsi1's `OUTBOX`
//! partition, and leaves it when its index keys are removed, so the outbox costs no extra item.

use super::DynamoStore;
use super::codec::{Item, event_item, from_json, key};
use super::keys::{self, GSI1};
use crate::sdk_error;
use async_trait::async_trait;
use hookline_core::error::Result;
use hookline_core::event::Event;
use hookline_core::ids::EventId;
use hookline_core::ports::{Created, EventStore, KeyedResponse};

impl DynamoStore {
    /// An event item kept for the store's retention from the event's time.
    pub(super) fn stored_event_item(&self, e: &Event, fan_out: bool) -> Item {
        event_item(e, fan_out, self.expires(e.timestamp))
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

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>> {
        self.get(keys::event(id))
            .await?
            .map(|i| from_json(&i))
            .transpose()
    }

    async fn events_awaiting_fanout(&self, limit: usize) -> Result<Vec<Event>> {
        let items = self
            .query_index(GSI1, keys::OUTBOX.into(), None, None, limit)
            .await?;
        items.iter().map(from_json).collect()
    }

    async fn mark_fanned_out(&self, id: &EventId) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::event(id))))
            .update_expression("REMOVE gsi1pk, gsi1sk")
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error("dynamodb", e))
    }
}
