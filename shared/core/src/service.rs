//! The operations the API offers, over the ports. Handlers (local server or Lambda) parse the
//! request, call one of these with the caller's `Principal`, and render the result. Every
//! lookup checks the tenant: another tenant's resource is "not found".

use crate::access::Principal;
use crate::api_key::{self, ApiKey};
use crate::clock::{Clock, Timestamp};
use crate::delivery::{Delivery, DeliveryStatus, Job};
use crate::destination::DestinationPolicy;
use crate::error::{Error, ErrorKind, Result};
use crate::event::{Event, NewEvent};
use crate::ids::{ApiKeyId, DeliveryId, EventId, SubscriptionId};
use crate::ports::{DeliveryQuery, Notifier, Queue, Sender, Store};
use crate::retry_schedule::RetrySchedule;
use crate::subscription::{
    DEFAULT_ROTATION_GRACE_SECS, DEFAULT_TIMEOUT_MS, MAX_SUBSCRIPTIONS_PER_TENANT, NewSubscription,
    Subscription, SubscriptionPatch,
};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 250;
/// Most failed deliveries one `recover` call re-queues.
pub const MAX_RECOVER: usize = 1000;

#[derive(Debug, Clone)]
pub struct Settings {
    pub destination: DestinationPolicy,
    pub schedule: RetrySchedule,
    /// Timeout of a delivery to a subscription that sets none (`timeout_ms`).
    pub default_timeout_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            destination: DestinationPolicy::default(),
            schedule: RetrySchedule::default(),
            default_timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }
}

/// Hookline's core, wired to its adapters.
#[derive(Clone)]
pub struct Hookline {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub sender: Arc<dyn Sender>,
    pub clock: Arc<dyn Clock>,
    /// Where failure notifications go when this process publishes them itself (local runs);
    /// on AWS the notify function publishes them from the table's stream instead.
    pub notifier: Option<Arc<dyn Notifier>>,
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

/// Which deliveries to list, beyond whose they are.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
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

/// The result of a one-off attempt (test event, manual retry).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AttemptReport {
    pub event_id: EventId,
    pub delivery_id: DeliveryId,
    pub success: bool,
    pub attempt: crate::delivery::Attempt,
}

/// What a recovery queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecoverReport {
    pub queued: usize,
    /// More failed deliveries remain in the window than one call re-queues.
    pub more: bool,
}

/// Whether a stored tenant id is visible to the caller; hides it as "not found" otherwise.
fn visible<T>(principal: &Principal, what: &str, id: &str, found: Option<(T, &str)>) -> Result<T> {
    match found {
        Some((item, tenant)) if principal.sees(tenant) => Ok(item),
        _ => Err(Error::not_found(what, id)),
    }
}

impl Hookline {
    pub async fn ingest(&self, principal: &Principal, mut new: NewEvent) -> Result<Event> {
        let tenant = principal.tenant_for(new.tenant_id.take())?;
        let event = new.into_event(tenant, self.clock.now())?;
        self.store.insert_event(&event, true).await?;
        tracing::info!(event_id = %event.id, tenant_id = %event.tenant_id, event_type = %event.event_type, "event accepted");
        Ok(event)
    }

    pub async fn create_subscription(
        &self,
        principal: &Principal,
        mut new: NewSubscription,
    ) -> Result<Subscription> {
        let tenant = principal.tenant_for(new.tenant_id.take())?;
        let default_timeout = new.timeout_ms.is_none();
        let mut sub =
            new.into_subscription(tenant, self.clock.now(), &self.settings.destination)?;
        if default_timeout {
            sub.timeout_ms = self.settings.default_timeout_ms;
        }
        if self.store.count_subscriptions(&sub.tenant_id).await? >= MAX_SUBSCRIPTIONS_PER_TENANT {
            return Err(Error {
                kind: ErrorKind::Conflict,
                code: "too_many_subscriptions",
                message: format!(
                    "a tenant has at most {MAX_SUBSCRIPTIONS_PER_TENANT} subscriptions"
                ),
            });
        }
        self.store.insert_subscription(&sub).await?;
        tracing::info!(subscription_id = %sub.id, tenant_id = %sub.tenant_id, "subscription created");
        Ok(sub)
    }

    pub async fn get_subscription(&self, principal: &Principal, id: &str) -> Result<Subscription> {
        let found = match SubscriptionId::parse(id) {
            Some(sid) => self.store.get_subscription(&sid).await?,
            None => None,
        };
        let pair = found.as_ref().map(|s| (s.clone(), s.tenant_id.as_str()));
        visible(principal, "subscription", id, pair)
    }

    pub async fn list_subscriptions(
        &self,
        principal: &Principal,
        tenant_id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let scope = principal.list_scope(tenant_id)?;
        let limit = page.limit()?;
        let after = page.cursor(SubscriptionId::parse)?;
        let items = self
            .store
            .list_subscriptions(scope.as_deref(), after.as_ref(), limit + 1)
            .await?;
        Ok(paginate(items, limit, |s| s.id.to_string()))
    }

    pub async fn update_subscription(
        &self,
        principal: &Principal,
        id: &str,
        patch: SubscriptionPatch,
    ) -> Result<Subscription> {
        let current = self.get_subscription(principal, id).await?;
        let default_timeout = patch.timeout_ms == Some(None);
        let mut next = patch.apply(&current, self.clock.now(), &self.settings.destination)?;
        if default_timeout {
            next.timeout_ms = self.settings.default_timeout_ms;
        }
        self.store.update_subscription(&next).await?;
        Ok(next)
    }

    pub async fn delete_subscription(&self, principal: &Principal, id: &str) -> Result<()> {
        let sub = self.get_subscription(principal, id).await?;
        if self.store.delete_subscription(&sub.id).await? {
            Ok(())
        } else {
            Err(Error::not_found("subscription", id))
        }
    }

    /// Replaces the secret; the old one keeps signing for the grace period (default 24 h).
    pub async fn rotate_secret(
        &self,
        principal: &Principal,
        id: &str,
        grace_period_secs: Option<u64>,
    ) -> Result<Subscription> {
        let mut sub = self.get_subscription(principal, id).await?;
        let grace = Duration::from_secs(grace_period_secs.unwrap_or(DEFAULT_ROTATION_GRACE_SECS));
        sub.rotate_secret(grace, self.clock.now())?;
        self.store.update_subscription(&sub).await?;
        tracing::info!(subscription_id = %sub.id, tenant_id = %sub.tenant_id, grace_secs = grace.as_secs(), "secret rotated");
        Ok(sub)
    }

    pub async fn get_event(&self, principal: &Principal, id: &str) -> Result<Event> {
        let found = match EventId::parse(id) {
            Some(eid) => self.store.get_event(&eid).await?,
            None => None,
        };
        let pair = found.as_ref().map(|e| (e.clone(), e.tenant_id.as_str()));
        visible(principal, "event", id, pair)
    }

    pub async fn get_delivery(&self, principal: &Principal, id: &str) -> Result<Delivery> {
        let found = match DeliveryId::parse(id) {
            Some(did) => self.store.get_delivery(&did).await?,
            None => None,
        };
        let pair = found.as_ref().map(|d| (d.clone(), d.tenant_id.as_str()));
        visible(principal, "delivery", id, pair)
    }

    pub async fn event_deliveries(
        &self,
        principal: &Principal,
        id: &str,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let event = self.get_event(principal, id).await?;
        self.deliveries(Some(event.id), None, filter, page).await
    }

    pub async fn subscription_deliveries(
        &self,
        principal: &Principal,
        id: &str,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let sub = self.get_subscription(principal, id).await?;
        self.deliveries(None, Some(sub.id), filter, page).await
    }

    async fn deliveries(
        &self,
        event_id: Option<EventId>,
        subscription_id: Option<SubscriptionId>,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let limit = page.limit()?;
        let query = DeliveryQuery {
            event_id,
            subscription_id,
            status: filter.status,
            since: filter.since,
            until: filter.until,
            after: page.cursor(DeliveryId::parse)?,
            limit: limit + 1,
        };
        let items = self.store.list_deliveries(&query).await?;
        Ok(paginate(items, limit, |d| d.id.to_string()))
    }

    /// Sends a signed `webhook.test` event to this one subscription now and reports the attempt.
    /// It is logged like any delivery but never retried or dead-lettered.
    pub async fn send_test_event(&self, principal: &Principal, id: &str) -> Result<AttemptReport> {
        let sub = self.get_subscription(principal, id).await?;
        let now = self.clock.now();
        let data = serde_json::json!({
            "message": "This is a test event from Hookline.",
            "subscription_id": sub.id,
        });
        let event = Event {
            id: EventId::generate(),
            tenant_id: sub.tenant_id.clone(),
            event_type: crate::event::TEST_EVENT.to_string(),
            timestamp: now,
            data: data.as_object().cloned().unwrap_or_default(),
            attributes: Default::default(),
        };
        self.store.insert_event(&event, false).await?;
        let delivery = self
            .store
            .create_delivery(&Delivery::new(&event, &sub, now))
            .await?;
        self.attempt_once(&delivery, &sub, &event, Some("test event; not retried"))
            .await
    }

    /// Re-sends one delivery now: a new attempt on the same delivery, with the same `webhook-id`.
    pub async fn retry_delivery(&self, principal: &Principal, id: &str) -> Result<AttemptReport> {
        let delivery = self.get_delivery(principal, id).await?;
        if delivery.attempts.len() >= crate::delivery::MAX_ATTEMPTS_PER_DELIVERY {
            return Err(Error {
                kind: ErrorKind::Conflict,
                code: "attempt_limit_reached",
                message: crate::delivery::attempt_limit_reason(),
            });
        }
        let sub = match self
            .store
            .get_subscription(&delivery.subscription_id)
            .await?
        {
            Some(s) => s,
            None => {
                return Err(Error {
                    kind: ErrorKind::Conflict,
                    code: "subscription_deleted",
                    message: "the delivery's subscription was deleted".into(),
                });
            }
        };
        let event = self
            .store
            .get_event(&delivery.event_id)
            .await?
            .ok_or_else(|| Error::internal("the delivery's event is no longer stored"))?;
        self.attempt_once(&delivery, &sub, &event, None).await
    }

    /// Re-queues every failed delivery of a subscription created in `[since, until)`, up to
    /// `MAX_RECOVER` per call. Each gets a new round of attempts on the full schedule.
    pub async fn recover(
        &self,
        principal: &Principal,
        id: &str,
        since: Timestamp,
        until: Option<Timestamp>,
    ) -> Result<RecoverReport> {
        let sub = self.get_subscription(principal, id).await?;
        if until.is_some_and(|u| u <= since) {
            return Err(Error::invalid(
                "invalid_window",
                "`until` must be after `since`",
            ));
        }
        let query = DeliveryQuery {
            event_id: None,
            subscription_id: Some(sub.id.clone()),
            status: Some(DeliveryStatus::Failed),
            since: Some(since),
            until,
            after: None,
            limit: MAX_RECOVER + 1,
        };
        let mut failed = self.store.list_deliveries(&query).await?;
        let more = failed.len() > MAX_RECOVER;
        failed.truncate(MAX_RECOVER);
        let jobs: Vec<String> = failed
            .iter()
            .map(|d| {
                serde_json::to_string(&Job {
                    delivery_id: d.id.clone(),
                    reopen: true,
                })
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::internal(e.to_string()))?;
        for chunk in jobs.chunks(10) {
            self.queue.send_batch(chunk).await?;
        }
        tracing::info!(subscription_id = %sub.id, tenant_id = %sub.tenant_id, queued = jobs.len(), more, "failed deliveries re-queued");
        Ok(RecoverReport {
            queued: jobs.len(),
            more,
        })
    }

    pub async fn create_api_key(
        &self,
        principal: &Principal,
        tenant_id: String,
        name: Option<String>,
    ) -> Result<(ApiKey, String)> {
        principal.require_admin()?;
        crate::event::validate_tenant_id(&tenant_id)?;
        if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err(Error::invalid(
                "invalid_text",
                "`name` is longer than 200 characters",
            ));
        }
        let (record, key) = api_key::generate(tenant_id, name, self.clock.now());
        self.store.insert_api_key(&record).await?;
        tracing::info!(api_key_id = %record.id, tenant_id = %record.tenant_id, "API key created");
        Ok((record, key))
    }

    pub async fn list_api_keys(
        &self,
        principal: &Principal,
        tenant_id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>> {
        principal.require_admin()?;
        let limit = page.limit()?;
        let after = page.cursor(ApiKeyId::parse)?;
        let items = self
            .store
            .list_api_keys(tenant_id, after.as_ref(), limit + 1)
            .await?;
        Ok(paginate(items, limit, |k| k.id.to_string()))
    }

    pub async fn revoke_api_key(&self, principal: &Principal, id: &str) -> Result<()> {
        principal.require_admin()?;
        let kid = ApiKeyId::parse(id).ok_or_else(|| Error::not_found("API key", id))?;
        if self.store.revoke_api_key(&kid, self.clock.now()).await? {
            tracing::info!(api_key_id = %kid, "API key revoked");
            Ok(())
        } else {
            Err(Error::not_found("API key", id))
        }
    }

    /// The principal a presented tenant key stands for, if it is a valid, unrevoked key.
    pub async fn authenticate_tenant_key(&self, presented: &str) -> Result<Option<Principal>> {
        let Some(id) = api_key::claimed_id(presented) else {
            return Ok(None);
        };
        Ok(self
            .store
            .get_api_key(&id)
            .await?
            .filter(|k| api_key::matches(k, presented))
            .map(|k| Principal::Tenant(k.tenant_id)))
    }
}
