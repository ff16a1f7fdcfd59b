//! Endpoint health in the pipeline: the circuit breaker ([`crate::breaker`]) carried out.
//!
//! - **Admission**: before a job is attempted, its subscription's health says attempt, probe
//!   (one job, recorded with a conditional write) or park. A parked job leaves the queue: it is
//!   kept in the store under its subscription, keyed by delivery, and its message is deleted, so
//!   it holds no in-flight capacity and its delivery keeps its attempts.
//! - **Recording**: each attempt's outcome updates the health with a conditional write on the
//!   version read. A healthy endpoint's successes write nothing (the cached health says there
//!   is nothing to change).
//! - **Wakes**: while a circuit is open, one wake message per open period (carrying its
//!   `epoch`) comes back at each time something is due: a probe (the oldest parked job is sent
//!   to be the probe), a `disabling_soon` warning, disabling. When the circuit closes, a wake
//!   releases the parked jobs oldest first, a page at a time, at `release_per_sec`.
//! - **Lifecycle events** for the subscription's tenant: `hookline.endpoint.failing` (opened),
//!   `.recovered` (closed), `.disabling_soon`, `.disabled`. Stored and fanned out like any event
//!   (never to the subscription they are about) and published to the alert topic.

use super::job::Job;
use super::lane::Lane;
use super::request::endpoint_host;
use super::settle::Disposition;
use crate::breaker::{self, Admit, Change, Circuit, Health};
use crate::clock::Timestamp;
use crate::delivery::Attempt;
use crate::error::Result;
use crate::event::Event;
use crate::hookline::Hookline;
use crate::ids::{EventId, SubscriptionId};
use crate::ports::{Enqueue, Message, ParkedJob, Written};
use crate::subscription::Subscription;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const ENDPOINT_FAILING: &str = "hookline.endpoint.failing";
pub const ENDPOINT_RECOVERED: &str = "hookline.endpoint.recovered";
pub const ENDPOINT_DISABLING_SOON: &str = "hookline.endpoint.disabling_soon";
pub const ENDPOINT_DISABLED: &str = "hookline.endpoint.disabled";
/// Every endpoint lifecycle event type.
pub const ENDPOINT_EVENTS: [&str; 4] = [
    ENDPOINT_FAILING,
    ENDPOINT_RECOVERED,
    ENDPOINT_DISABLING_SOON,
    ENDPOINT_DISABLED,
];

/// What admission decided: attempt (with the health it read), or what the message becomes.
pub(super) enum Admission {
    Go(Health),
    Done(Disposition),
}

/// Parked jobs one wake releases.
pub const RELEASE_PAGE: usize = 100;
/// Conditional health writes tried before an outcome is left unrecorded (logged).
const WRITE_TRIES: usize = 5;

/// The message that brings an open circuit's subscription back to the pipeline's attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wake {
    pub wake: SubscriptionId,
    /// The open period it belongs to ([`Health::epoch`]).
    pub epoch: u64,
}

impl Wake {
    /// `{"wake":"sub_...","epoch":3}`
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("wakes serialize")
    }

    pub fn decode(body: &str) -> Option<Self> {
        serde_json::from_str(body).ok()
    }

    fn after(self, delay: Duration) -> Enqueue {
        // a wake concerns a failing endpoint: the slow lane's
        Enqueue {
            message: Message::Wake(self),
            delay,
            lane: Some(Lane::Slow),
        }
    }
}

/// The `data` of an endpoint lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointHealthEvent {
    pub subscription_id: SubscriptionId,
    pub url_host: String,
    /// `closed`, `open` or `probing`.
    pub circuit: String,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_status_code: Option<u16>,
    pub last_success_at: Option<Timestamp>,
    pub last_failure_at: Option<Timestamp>,
    pub open_since: Option<Timestamp>,
    /// When the subscription is disabled if its circuit stays open.
    pub disable_at: Option<Timestamp>,
    /// Jobs parked when the event was made.
    pub parked: u64,
}

impl EndpointHealthEvent {
    /// The event that carries it, of `event_type`, for the subscription's tenant.
    pub fn into_event(self, sub: &Subscription, event_type: &str, now: Timestamp) -> Event {
        let data = serde_json::to_value(self).expect("health events serialize");
        Event {
            id: EventId::generate(),
            tenant_id: sub.tenant_id.clone(),
            event_type: event_type.to_string(),
            timestamp: now,
            data: data.as_object().cloned().unwrap_or_default(),
            attributes: Default::default(),
        }
    }

    /// The health event an event carries, if it is one.
    pub fn from_event(event: &Event) -> Option<Self> {
        if !ENDPOINT_EVENTS.contains(&event.event_type.as_str()) {
            return None;
        }
        serde_json::from_value(serde_json::Value::Object(event.data.clone())).ok()
    }
}

/// A parked delivery's parking, as its log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Parking {
    #[schema(value_type = String)]
    pub since: Timestamp,
    pub reason: String,
}

/// A subscription's endpoint health as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthView {
    /// `closed` (attempts go out), `open` (jobs are parked; a probe is made at `next_probe_at`)
    /// or `probing` (one job is being attempted as the probe).
    pub circuit: String,
    pub consecutive_failures: u32,
    #[schema(value_type = Option<String>)]
    pub last_success_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub last_failure_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub open_since: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub next_probe_at: Option<Timestamp>,
    /// When the subscription is disabled if the circuit stays open.
    #[schema(value_type = Option<String>)]
    pub disable_at: Option<Timestamp>,
    /// Jobs parked, waiting for the circuit to close.
    pub parked: u64,
}

impl HealthView {
    pub fn of(health: &Health, parked: u64, settings: &breaker::BreakerSettings) -> Self {
        let next_probe_at = match health.circuit {
            Circuit::Open { next_probe, .. } => Some(next_probe),
            _ => None,
        };
        HealthView {
            circuit: circuit_name(&health.circuit).to_string(),
            consecutive_failures: health.consecutive_failures,
            last_success_at: health.last_success,
            last_failure_at: health.last_failure,
            open_since: health.open_since(),
            next_probe_at,
            disable_at: health.open_since().map(|s| s.plus(settings.disable_after)),
            parked,
        }
    }
}

/// The circuit's state by name.
pub fn circuit_name(circuit: &Circuit) -> &'static str {
    match circuit {
        Circuit::Closed => "closed",
        Circuit::Open { .. } => "open",
        Circuit::Probing { .. } => "probing",
    }
}

/// Why a job is parked, as the delivery log shows it.
fn park_reason(health: &Health) -> String {
    format!(
        "circuit open after {} consecutive failed attempts; parked until a probe succeeds",
        health.consecutive_failures
    )
}

/// The delay from `now` until `at`, at least zero and at most `max`.
fn until(at: Timestamp, now: Timestamp, max: Duration) -> Duration {
    Duration::from_millis(at.millis().saturating_sub(now.millis()).max(0) as u64).min(max)
}

impl Hookline {
    /// A subscription's health as admission reads it: from this process's cache within its
    /// ttl, else from the store.
    pub(super) async fn cached_health(
        &self,
        id: &SubscriptionId,
        now: Timestamp,
    ) -> Result<(Health, u64)> {
        if let Some(cached) = self.health.as_ref().and_then(|c| c.get(id, now)) {
            return Ok(cached);
        }
        self.fresh_health(id, now).await
    }

    async fn fresh_health(&self, id: &SubscriptionId, now: Timestamp) -> Result<(Health, u64)> {
        let read = self.store.get_health(id).await?;
        if let Some(cache) = &self.health {
            cache.put(id, now, read);
        }
        Ok(read)
    }

    fn remember_health(&self, id: &SubscriptionId, health: Health, version: u64) {
        if let Some(cache) = &self.health {
            cache.put(id, self.clock.now(), (health, version));
        }
    }

    /// Whether `job` of `sub` may be attempted now: `None` to go ahead (as a probe, when the
    /// circuit is open and one is due), or what becomes of its message (parked, or looked at
    /// again in a moment when another handler's probe write won).
    pub(super) async fn admit(
        &self,
        job: &Job,
        sub: &Subscription,
        now: Timestamp,
    ) -> Result<Admission> {
        let (health, version) = self.cached_health(&sub.id, now).await?;
        match health.admit(now, &self.settings.breaker) {
            Admit::Attempt => Ok(Admission::Go(health)),
            Admit::Park { .. } => self.park(job, sub, &health, now).await.map(Admission::Done),
            Admit::Probe(probing) => {
                if self.store.put_health(&sub.id, &probing, version).await? == Written::Stale {
                    // another handler changed it: look again with what the store says now
                    let (health, _) = self.fresh_health(&sub.id, now).await?;
                    if health.admit(now, &self.settings.breaker) == Admit::Attempt {
                        return Ok(Admission::Go(health));
                    }
                    return self.park(job, sub, &health, now).await.map(Admission::Done);
                }
                self.remember_health(&sub.id, probing, version + 1);
                tracing::info!(subscription_id = %sub.id, delivery_id = %job.delivery_id, "circuit probe");
                Ok(Admission::Go(probing))
            }
        }
    }

    /// Parks `job`: kept in the store until its circuit closes, its message deleted.
    pub(super) async fn park(
        &self,
        job: &Job,
        sub: &Subscription,
        health: &Health,
        now: Timestamp,
    ) -> Result<Disposition> {
        let mut kept = job.clone();
        kept.paced = false;
        let parked = ParkedJob {
            job: kept,
            parked_at: now,
            reason: park_reason(health),
            token: ulid::Ulid::new().to_string(),
        };
        self.store.park(&sub.id, &parked).await?;
        // The circuit may have closed since it was read, and its release may have listed the
        // parked jobs before this one: read it again (after the park, strongly), and take the
        // job back if it is closed.
        let (fresh, _) = self.fresh_health(&sub.id, now).await?;
        if fresh.circuit == Circuit::Closed {
            if self.store.unpark(&sub.id, &parked).await? == Written::Stale {
                return Ok(Disposition::Delete); // released meanwhile
            }
            return Ok(Disposition::Requeue(Enqueue::now(parked.job)));
        }
        tracing::info!(subscription_id = %sub.id, delivery_id = %job.delivery_id, "job parked: circuit open");
        Ok(Disposition::Delete)
    }

    /// Records an attempt's outcome in its subscription's health, and carries out what changed
    /// (a wake, a lifecycle event). Health is advisory to the delivery: trouble here is logged,
    /// never fails the attempt (which is recorded already or about to be).
    /// `read` is the health admission read for the attempt, if it did: a success on a healthy
    /// endpoint then costs no read either.
    pub(super) async fn record_health(
        &self,
        sub: &Subscription,
        attempt: &Attempt,
        ok: bool,
        read: Option<&Health>,
    ) {
        if let Err(e) = self.try_record_health(sub, attempt, ok, read).await {
            tracing::warn!(subscription_id = %sub.id, error = %e, "attempt outcome not recorded in endpoint health");
        }
    }

    async fn try_record_health(
        &self,
        sub: &Subscription,
        attempt: &Attempt,
        ok: bool,
        read: Option<&Health>,
    ) -> Result<()> {
        let outcome = if ok {
            breaker::Outcome::Succeeded
        } else {
            breaker::Outcome::Failed
        };
        let settings = &self.settings.breaker;
        let now = self.clock.now();
        if ok {
            let known = match read {
                Some(h) => *h,
                None => self.cached_health(&sub.id, now).await?.0,
            };
            if known.circuit == Circuit::Closed && known.consecutive_failures == 0 {
                return Ok(()); // healthy: nothing to write
            }
        }
        for _ in 0..WRITE_TRIES {
            let (health, version) = self.store.get_health(&sub.id).await?;
            let (mut next, change) = health.record(outcome, attempt.at, settings);
            if ok && health.circuit == Circuit::Closed && health.consecutive_failures == 0 {
                self.remember_health(&sub.id, health, version);
                return Ok(());
            }
            if change.is_some() {
                next.epoch = version + 1;
            }
            if self.store.put_health(&sub.id, &next, version).await? == Written::Stale {
                continue;
            }
            self.remember_health(&sub.id, next, version + 1);
            match change {
                Some(Change::Opened) => {
                    tracing::warn!(subscription_id = %sub.id, tenant_id = %sub.tenant_id,
                        failures = next.consecutive_failures, "circuit opened: jobs are parked");
                    let wake = Wake {
                        wake: sub.id.clone(),
                        epoch: next.epoch,
                    };
                    let delay = until(
                        next.next_check(settings).unwrap_or(now),
                        now,
                        self.queue.limits().max_delay,
                    );
                    self.send(&[wake.after(delay)]).await?;
                    self.emit(sub, ENDPOINT_FAILING, &next, Some(attempt))
                        .await?;
                }
                Some(Change::Recovered) => {
                    tracing::info!(subscription_id = %sub.id, tenant_id = %sub.tenant_id, "circuit closed: parked jobs are released");
                    let wake = Wake {
                        wake: sub.id.clone(),
                        epoch: next.epoch,
                    };
                    self.send(&[wake.after(Duration::ZERO)]).await?;
                    self.emit(sub, ENDPOINT_RECOVERED, &next, Some(attempt))
                        .await?;
                }
                None => {}
            }
            return Ok(());
        }
        tracing::warn!(subscription_id = %sub.id, "endpoint health: lost every race to record an outcome");
        Ok(())
    }

    /// Stores a lifecycle event about `sub` for its tenant (fanned out like any event).
    async fn emit(
        &self,
        sub: &Subscription,
        event_type: &str,
        health: &Health,
        attempt: Option<&Attempt>,
    ) -> Result<()> {
        let now = self.clock.now();
        let data = EndpointHealthEvent {
            subscription_id: sub.id.clone(),
            url_host: endpoint_host(&sub.url),
            circuit: circuit_name(&health.circuit).to_string(),
            consecutive_failures: health.consecutive_failures,
            last_error: attempt.and_then(|a| a.error.clone()),
            last_status_code: attempt.and_then(|a| a.status_code),
            last_success_at: health.last_success,
            last_failure_at: health.last_failure,
            open_since: health.open_since(),
            disable_at: health
                .open_since()
                .map(|s| s.plus(self.settings.breaker.disable_after)),
            parked: self.store.parked_count(&sub.id).await?,
        };
        let event = data.into_event(sub, event_type, now);
        self.store.insert_event(&event, true, None).await?;
        self.hand_off([event.clone()]);
        tracing::info!(subscription_id = %sub.id, event_id = %event.id, event_type, "endpoint lifecycle event");
        Ok(())
    }

    /// Handles a wake message: drops a wake of an earlier period; releases parked jobs of a
    /// closed circuit (or a deleted subscription, whose jobs then fail with that reason);
    /// for an open circuit sends out a due probe, warns, or disables, and comes back when the
    /// next of those is due.
    pub(super) async fn handle_wake(&self, wake: Wake) -> Result<Disposition> {
        let now = self.clock.now();
        let settings = self.settings.breaker;
        let max_delay = self.queue.limits().max_delay;
        let (health, version) = self.store.get_health(&wake.wake).await?;
        if health.epoch != wake.epoch {
            return Ok(Disposition::Delete);
        }
        let sub = match self.store.get_subscription(&wake.wake).await? {
            None => return self.release_page(wake).await,
            Some(s) if !s.enabled => return Ok(Disposition::Delete), // parked until re-enabled
            Some(s) => s,
        };
        if health.circuit == Circuit::Closed {
            return self.release_page(wake).await;
        }
        if breaker::disable_due(&health, now, &settings) {
            let reason = format!(
                "circuit open since {} ({} consecutive failed attempts): disabled after {}s; parked jobs are released when it is enabled again",
                health.open_since().unwrap_or(now),
                health.consecutive_failures,
                settings.disable_after.as_secs()
            );
            if self.disable(&sub, reason).await? {
                self.emit(&sub, ENDPOINT_DISABLED, &health, None).await?;
            }
            return Ok(Disposition::Delete);
        }
        if let Some(warned) = health.warning_due(now, &settings) {
            let next = Health { warned, ..health };
            if self.store.put_health(&sub.id, &next, version).await? == Written::Applied {
                self.emit(&sub, ENDPOINT_DISABLING_SOON, &next, None)
                    .await?;
            }
            return Ok(Disposition::Requeue(wake.after(Duration::ZERO)));
        }
        if let Admit::Probe(_) = health.admit(now, &settings) {
            // the oldest parked job becomes the probe when it arrives (its admission records it)
            if let Some(probe) = self.store.parked(&sub.id, None, 1).await?.pop() {
                self.send(&[Enqueue::now(probe.job.clone()).to(Lane::Slow)])
                    .await?;
                let _ = self.store.unpark(&sub.id, &probe).await?;
            }
            // back when the probe has had its time (its interval, at most its lease), or
            // sooner for a warning or disabling
            let Some(since) = health.open_since() else {
                return Ok(Disposition::Delete);
            };
            let interval_ms = match health.circuit {
                Circuit::Open { interval_ms, .. } | Circuit::Probing { interval_ms, .. } => {
                    interval_ms
                }
                Circuit::Closed => 0,
            };
            let back = Duration::from_millis(interval_ms).min(settings.probe_lease);
            let after_probe = Health {
                circuit: Circuit::Open {
                    since,
                    next_probe: now.plus(back),
                    interval_ms,
                },
                ..health
            };
            let next = after_probe.next_check(&settings).unwrap_or(now.plus(back));
            return Ok(Disposition::Requeue(
                wake.after(until(next, now, max_delay)),
            ));
        }
        let next = health.next_check(&settings).unwrap_or(now);
        Ok(Disposition::Requeue(
            wake.after(until(next, now, max_delay)),
        ))
    }

    /// Releases a page of parked jobs, oldest first, spread at `release_per_sec`; another wake
    /// follows for the next page.
    async fn release_page(&self, wake: Wake) -> Result<Disposition> {
        let page = self.store.parked(&wake.wake, None, RELEASE_PAGE).await?;
        if page.is_empty() {
            return Ok(Disposition::Delete);
        }
        let per_sec = self.settings.breaker.release_per_sec.max(1) as usize;
        let jobs: Vec<Enqueue> = page
            .iter()
            .enumerate()
            .map(|(i, p)| {
                // a closed circuit's work is back in the main lane
                let delay = Duration::from_secs((i / per_sec) as u64);
                Enqueue::after(p.job.clone(), delay).to(Lane::Main)
            })
            .collect();
        self.send(&jobs).await?;
        for parked in &page {
            // a job parked again meanwhile (its circuit reopened) keeps its new parking
            let _ = self.store.unpark(&wake.wake, parked).await?;
        }
        tracing::info!(subscription_id = %wake.wake, released = page.len(), "parked jobs released");
        if page.len() < RELEASE_PAGE {
            return Ok(Disposition::Delete);
        }
        let pause = Duration::from_secs(RELEASE_PAGE.div_ceil(per_sec) as u64);
        Ok(Disposition::Requeue(wake.after(pause)))
    }

    /// Releases the jobs a deleted subscription parked (they then fail with that reason).
    pub async fn release_parked(&self, id: &SubscriptionId) -> Result<()> {
        if self.store.parked(id, None, 1).await?.is_empty() {
            return Ok(());
        }
        let (health, _) = self.store.get_health(id).await?;
        let wake = Wake {
            wake: id.clone(),
            epoch: health.epoch,
        };
        self.send(&[wake.after(Duration::ZERO)]).await
    }

    /// Whether a pending delivery is parked by its subscription's open circuit, since when and why.
    pub async fn parking(&self, delivery: &crate::delivery::Delivery) -> Result<Option<Parking>> {
        if delivery.status != crate::delivery::DeliveryStatus::Pending {
            return Ok(None);
        }
        let parked = self
            .store
            .parked_job(&delivery.subscription_id, &delivery.id)
            .await?;
        Ok(parked.map(|p| Parking {
            since: p.parked_at,
            reason: p.reason,
        }))
    }

    /// What `GET /v1/subscriptions/{id}` shows of a subscription's endpoint health.
    pub async fn health_view(&self, id: &SubscriptionId) -> Result<HealthView> {
        let (health, _) = self.store.get_health(id).await?;
        let parked = self.store.parked_count(id).await?;
        Ok(HealthView::of(&health, parked, &self.settings.breaker))
    }

    /// Closes the circuit of a subscription enabled again by hand and releases what it parked.
    pub async fn close_circuit(&self, id: &SubscriptionId) -> Result<()> {
        for _ in 0..WRITE_TRIES {
            let (health, version) = self.store.get_health(id).await?;
            if health.circuit == Circuit::Closed && self.store.parked(id, None, 1).await?.is_empty()
            {
                return Ok(());
            }
            let next = Health {
                epoch: version + 1,
                ..health.reset()
            };
            if self.store.put_health(id, &next, version).await? == Written::Applied {
                self.remember_health(id, next, version + 1);
                let wake = Wake {
                    wake: id.clone(),
                    epoch: next.epoch,
                };
                return self.send(&[wake.after(Duration::ZERO)]).await;
            }
        }
        Err(crate::error::Error::internal(
            "endpoint health: lost every race to close the circuit",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_is_told_apart_from_a_job() {
        let wake = Wake {
            wake: SubscriptionId::generate(),
            epoch: 3,
        };
        let body = wake.encode();
        assert_eq!(body, format!("{{\"wake\":\"{}\",\"epoch\":3}}", wake.wake));
        assert_eq!(Wake::decode(&body), Some(wake));
        assert_eq!(Job::decode(&body), None);
        let job = Job::first(crate::ids::DeliveryId::generate()).encode();
        assert_eq!(Wake::decode(&job), None);
    }

    #[test]
    fn delays_are_clamped_between_zero_and_the_queue_maximum() {
        let max = Duration::from_secs(900);
        assert_eq!(
            until(Timestamp(1_000), Timestamp(5_000), max),
            Duration::ZERO
        );
        assert_eq!(
            until(Timestamp(6_000), Timestamp(5_000), max),
            Duration::from_secs(1)
        );
        assert_eq!(until(Timestamp(5_000_000), Timestamp(0), max), max);
    }
}
