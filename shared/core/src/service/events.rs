//! Events: ingest (the first step of the pipeline) and lookup.

use super::{Hookline, visible};
use crate::access::Principal;
use crate::error::Result;
use crate::event::{Event, NewEvent};
use crate::ids::EventId;

impl Hookline {
    /// Validates and stores a producer's event; the store's outbox hands it to fan-out.
    pub async fn ingest(&self, principal: &Principal, mut new: NewEvent) -> Result<Event> {
        let tenant = principal.tenant_for(new.tenant_id.take())?;
        let event = new.into_event(tenant, self.clock.now())?;
        self.store.insert_event(&event, true).await?;
        tracing::info!(event_id = %event.id, tenant_id = %event.tenant_id, event_type = %event.event_type, "event accepted");
        Ok(event)
    }

    pub async fn get_event(&self, principal: &Principal, id: &EventId) -> Result<Event> {
        let found = self.store.get_event(id).await?;
        visible(principal, "event", id.as_str(), found, |e| &e.tenant_id)
    }
}
