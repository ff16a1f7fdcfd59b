//! `Hookline`: the core wired to its adapters (store, queue, sender, clock, notifier) with its
//! settings. The service (the API's operations) and the pipeline (fan-out and delivery) are its
//! methods, each in their own module above this one.

use crate::clock::Clock;
use crate::destination::DestinationPolicy;
use crate::ports::{Notifier, Queue, Sender, Store};
use crate::retry_schedule::RetrySchedule;
use std::sync::Arc;

/// Who removes a settled message from the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Hookline deletes it (local runs, `hookline dev`).
    Hookline,
    /// The queue's event source does, for every message not reported as a failure (Lambda).
    EventSource,
}

/// The settings the core runs with; built from [`crate::Config`], which owns their defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub destination: DestinationPolicy,
    pub schedule: RetrySchedule,
    /// Timeout of a delivery to a subscription that sets none (`timeout_ms`).
    pub default_timeout_ms: u64,
    /// Who deletes settled job messages.
    pub removal: Removal,
    /// Only declared event types may be sent and subscribed to.
    pub strict_event_types: bool,
    /// The endpoint circuit breaker's thresholds and times.
    pub breaker: crate::breaker::BreakerSettings,
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
    /// Subscriptions as attempts read them, when this process caches them
    /// ([`Hookline::with_subscription_cache`]).
    pub subscriptions: Option<Arc<crate::pipeline::cache::SubscriptionCache>>,
    /// Endpoint health as admission reads it, cached with the subscriptions.
    pub health: Option<Arc<crate::pipeline::cache::HealthCache>>,
    /// The event types ingest and rendering read, cached for
    /// [`crate::event_type::cache::TTL`].
    pub event_types: Arc<crate::event_type::cache::EventTypeCache>,
    /// The lane this process consumes and both lanes' queues ([`crate::pipeline::lane`]);
    /// `queue` is this lane's.
    pub lanes: crate::pipeline::lane::Lanes,
    /// Where this process hands the events it stores to its own fan-out loop, when it runs one
    /// ([`Hookline::with_local_fanout`]).
    pub handoff: Option<Arc<crate::pipeline::handoff::Handoff>>,
}

impl Hookline {
    /// The core over its adapters, with no subscription cache.
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        sender: Arc<dyn Sender>,
        clock: Arc<dyn Clock>,
        notifier: Option<Arc<dyn Notifier>>,
        settings: Settings,
    ) -> Self {
        Hookline {
            lanes: crate::pipeline::lane::Lanes::single(queue.clone()),
            store,
            queue,
            sender,
            clock,
            notifier,
            settings,
            subscriptions: None,
            health: None,
            event_types: Arc::default(),
            handoff: None,
        }
    }

    /// Caches endpoint health for admission for `ttl`, without caching subscriptions: for a
    /// process that is the only writer of health (`hookline dev`), whose every health write
    /// updates the cache, so the cache only spares a read per attempt.
    pub fn with_health_cache(mut self, ttl: std::time::Duration) -> Self {
        self.health = Some(Arc::new(crate::pipeline::cache::HealthCache::new(ttl)));
        self
    }

    /// This process changed or deleted subscription `id`: its own attempts see that at once.
    pub(crate) fn forget_subscription(&self, id: &crate::ids::SubscriptionId) {
        if let Some(cache) = &self.subscriptions {
            cache.forget(id);
        }
    }

    /// Hands every event this process stores for fan-out to a fan-out loop in the same process
    /// ([`crate::pipeline::handoff`]).
    pub fn with_local_fanout(mut self) -> Self {
        self.handoff = Some(Arc::default());
        self
    }

    /// Hands `events`, just stored, to this process's fan-out loop if it runs one.
    pub(crate) fn hand_off(&self, events: impl IntoIterator<Item = crate::event::Event>) {
        if let Some(handoff) = &self.handoff {
            handoff.push(events);
        }
    }

    /// Caches the subscriptions attempts read for `ttl` (the delivery function's setting): a
    /// change to a subscription reaches attempts within `ttl`.
    pub fn with_subscription_cache(mut self, ttl: std::time::Duration) -> Self {
        self.subscriptions = Some(Arc::new(crate::pipeline::cache::SubscriptionCache::new(
            ttl,
        )));
        self.health = Some(Arc::new(crate::pipeline::cache::HealthCache::new(ttl)));
        self
    }
}
