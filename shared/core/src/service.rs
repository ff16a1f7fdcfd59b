//! The operations the API offers, over the ports. Handlers (local server or Lambda) parse the
//! request, call one of these, and render the result.

use crate::clock::Clock;
use crate::delivery::{Delivery, DeliveryStatus};
use crate::destination::DestinationPolicy;
use crate::error::{Error, Result};
use crate::event::{Event, NewEvent};
use crate::ids::{DeliveryId, EventId, SubscriptionId};
use crate::ports::{DeliveryQuery, Queue, Sender, Store};
use crate::retry_schedule::RetrySchedule;
use crate::subscription::{NewSubscription, Subscription, SubscriptionPatch};
use serde::Serialize;
use std::sync::Arc;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 250;

#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub destination: DestinationPolicy,
    pub schedule: RetrySchedule,
}

/// Hookline's core, wired to its adapters.
#[derive(Clone)]
pub struct Hookline {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub sender: Arc<dyn Sender>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A page request as the API receives it: an opaque cursor and a size.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

impl PageRequest {
    fn limit(&self) -> Result<usize> {
        match self.limit {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            Some(_) => Err(Error::invalid(
                "invalid_limit",
                format!("`limit` must be between 1 and {MAX_PAGE_SIZE}"),
            )),
        }
    }

    fn cursor<T>(&self, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>> {
        match &self.cursor {
            None => Ok(None),
            Some(c) => parse(c).map(Some).ok_or_else(|| {
                Error::invalid(
                    "invalid_cursor",
                    "`cursor` is not a cursor from a previous page",
                )
            }),
        }
    }
}

/// Fetches one more than asked to learn whether another page exists.
fn paginate<T>(mut items: Vec<T>, limit: usize, id: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(id)
    } else {
        None
    };
    Page {
        data: items,
        next_cursor,
    }
}

fn subscription_id(id: &str) -> Result<SubscriptionId> {
    SubscriptionId::parse(id).ok_or_else(|| Error::not_found("subscription", id))
}

impl Hookline {
    pub async fn ingest(&self, new: NewEvent) -> Result<Event> {
        let event = new.into_event(self.clock.now())?;
        self.store.insert_event(&event).await?;
        tracing::info!(event_id = %event.id, tenant_id = %event.tenant_id, event_type = %event.event_type, "event accepted");
        Ok(event)
    }

    pub async fn create_subscription(&self, new: NewSubscription) -> Result<Subscription> {
        let sub = new.into_subscription(self.clock.now(), &self.settings.destination)?;
        self.store.insert_subscription(&sub).await?;
        tracing::info!(subscription_id = %sub.id, tenant_id = %sub.tenant_id, "subscription created");
        Ok(sub)
    }

    pub async fn get_subscription(&self, id: &str) -> Result<Subscription> {
        let sid = subscription_id(id)?;
        self.store
            .get_subscription(&sid)
            .await?
            .ok_or_else(|| Error::not_found("subscription", id))
    }

    pub async fn list_subscriptions(
        &self,
        tenant_id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let limit = page.limit()?;
        let after = page.cursor(SubscriptionId::parse)?;
        let items = self
            .store
            .list_subscriptions(tenant_id, after.as_ref(), limit + 1)
            .await?;
        Ok(paginate(items, limit, |s| s.id.to_string()))
    }

    pub async fn update_subscription(
        &self,
        id: &str,
        patch: SubscriptionPatch,
    ) -> Result<Subscription> {
        let current = self.get_subscription(id).await?;
        let next = patch.apply(&current, self.clock.now(), &self.settings.destination)?;
        self.store.update_subscription(&next).await?;
        Ok(next)
    }

    pub async fn delete_subscription(&self, id: &str) -> Result<()> {
        let sid = subscription_id(id)?;
        if self.store.delete_subscription(&sid).await? {
            Ok(())
        } else {
            Err(Error::not_found("subscription", id))
        }
    }

    pub async fn get_event(&self, id: &str) -> Result<Event> {
        let eid = EventId::parse(id).ok_or_else(|| Error::not_found("event", id))?;
        self.store
            .get_event(&eid)
            .await?
            .ok_or_else(|| Error::not_found("event", id))
    }

    pub async fn event_deliveries(
        &self,
        id: &str,
        status: Option<DeliveryStatus>,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let event = self.get_event(id).await?;
        self.deliveries(Some(event.id), None, status, page).await
    }

    pub async fn subscription_deliveries(
        &self,
        id: &str,
        status: Option<DeliveryStatus>,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let sub = self.get_subscription(id).await?;
        self.deliveries(None, Some(sub.id), status, page).await
    }

    async fn deliveries(
        &self,
        event_id: Option<EventId>,
        subscription_id: Option<SubscriptionId>,
        status: Option<DeliveryStatus>,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let limit = page.limit()?;
        let query = DeliveryQuery {
            event_id,
            subscription_id,
            status,
            after: page.cursor(DeliveryId::parse)?,
            limit: limit + 1,
        };
        let items = self.store.list_deliveries(&query).await?;
        Ok(paginate(items, limit, |d| d.id.to_string()))
    }
}
