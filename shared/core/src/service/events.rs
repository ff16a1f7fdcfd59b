//! Events: ingest (the first step of the pipeline) and lookup.

use super::idempotency::{Accepted, Keyed, accepted};
use super::{Hookline, visible};
use crate::access::Principal;
use crate::error::{Error, ErrorCode, Result};
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
        self.check_event(&event).await?;
        let response = keyed.as_ref().map(|k| k.response(&event, now));
        let write = self
            .store
            .insert_event(&event, true, response.as_ref())
            .await?;
        if write == Created::Stored {
            self.hand_off([event.clone()]);
            tracing::info!(event_id = %event.id, tenant_id = %event.tenant_id, event_type = %event.event_type, "event accepted");
        }
        Ok(accepted(event, write))
    }

    pub async fn get_event(&self, principal: &Principal, id: &EventId) -> Result<Event> {
        let found = self.store.get_event(id).await?;
        visible(principal, "event", id.as_str(), found, |e| &e.tenant_id)
    }
}

/// Most events one `POST /v1/events/batch` takes.
pub const MAX_BATCH: usize = 100;

/// One event of a batch as the API read it: the event and, optionally, its own key; or why the
/// item could not be read (answered for that item alone).
pub type BatchItem<'a> = Result<(NewEvent, Option<Keyed<'a, Event>>)>;

impl Hookline {
    /// Validates and stores a batch of events, answering each in order: accepted (stored), the
    /// earlier response of its key, or why it was refused. Items without a key are stored together
    /// in as few writes as the store allows; an item with a key is stored with its key's response
    /// in one write, as a single event is. A refused item changes nothing and does not stop the
    /// others.
    pub async fn ingest_batch(
        &self,
        principal: &Principal,
        items: Vec<BatchItem<'_>>,
    ) -> Result<Vec<Result<Accepted<Event>>>> {
        if items.is_empty() || items.len() > MAX_BATCH {
            return Err(Error::invalid(
                ErrorCode::InvalidBatch,
                format!("a batch has 1 to {MAX_BATCH} events"),
            ));
        }
        let now = self.clock.now();
        let mut answers: Vec<Option<Result<Accepted<Event>>>> = Vec::new();
        let mut plain = Vec::new();
        let mut keyed = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            answers.push(None);
            match item {
                Err(e) => answers[i] = Some(Err(e)),
                Ok((new, Some(key))) => keyed.push((i, new, key)),
                Ok((mut new, None)) => {
                    let event = principal
                        .tenant_for(new.tenant_id.take())
                        .and_then(|tenant| new.into_event(tenant, now));
                    match event {
                        Ok(e) => plain.push((i, e)),
                        Err(e) => answers[i] = Some(Err(e)),
                    }
                }
            }
        }
        let checks =
            futures::future::join_all(plain.iter().map(|(_, e)| self.check_event(e))).await;
        let mut accepted_plain = Vec::with_capacity(plain.len());
        for ((i, event), check) in plain.into_iter().zip(checks) {
            match check {
                Ok(()) => accepted_plain.push((i, event)),
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        let plain = accepted_plain;
        let events: Vec<Event> = plain.iter().map(|(_, e)| e.clone()).collect();
        let (written, keyed_answers) = futures::join!(
            async {
                if events.is_empty() {
                    Vec::new()
                } else {
                    self.store.insert_events(&events).await
                }
            },
            futures::future::join_all(keyed.into_iter().map(|(i, new, key)| async move {
                (i, self.ingest(principal, new, Some(key)).await)
            }))
        );
        let stored = plain.iter().zip(&written).filter(|(_, w)| w.is_ok());
        self.hand_off(stored.map(|((_, e), _)| e.clone()));
        for ((i, event), write) in plain.into_iter().zip(written) {
            if write.is_ok() {
                tracing::info!(event_id = %event.id, tenant_id = %event.tenant_id, event_type = %event.event_type, "event accepted");
            }
            answers[i] = Some(write.map(|()| Accepted::New(event)));
        }
        for (i, answer) in keyed_answers {
            answers[i] = Some(answer);
        }
        Ok(answers
            .into_iter()
            .map(|a| a.expect("every item is answered"))
            .collect())
    }
}
