//! Events: ingest (the first step of the pipeline) and lookup.

use super::idempotency::{Accepted, Keyed, accepted};
use super::{Hookline, visible};
use crate::access::Principal;
use crate::error::Result;
use crate::event::{Event, NewEvent};
use crate::ids::EventId;
use crate::ports::Created;

impl Hookline {
    /// Validates and stores a producer's event; the store's outbox hands it to fan-out.
    pub async fn ingest(
        &self,
        principal: &Principal,
        mut new: NewEvent,
        keyed: Option<Keyed<'_, Event>>,
    ) -> Result<Accepted<Event>> {
        if let Some(earlier) = self.earlier_response(keyed.as_ref()).await? {
            return Ok(Accepted::Replayed(earlier));
        }
        let tenant = principal.tenant_for(new.tenant_id.take())?;
        let now = self.clock.now();
        let event = new.into_event(tenant, now)?;
        let response = keyed.as_ref().map(|k| k.response(&event, now));
        let write = self
            .store
            .insert_event(&event, true, response.as_ref())
            .await?;
        if write == Created::Stored {
            tracing::info!(event_id = %event.id, tenant_id = %event.tenant_id, event_type = %event.event_type, "event accepted");
        }
        Ok(accepted(event, write))
    }

    pub async fn get_event(&self, principal: &Principal, id: &EventId) -> Result<Event> {
        let found = self.store.get_event(id).await?;
        visible(principal, "event", id.as_str(), found, |e| &e.tenant_id)
    }
}
