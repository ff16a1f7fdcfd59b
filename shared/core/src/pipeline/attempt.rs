//! One attempt: build the signed request, send it, classify the result, decide the next step
//! and record it (with the failure notification, when giving up, in the same write).

use super::budget::{AttemptBudget, GiveUp};
use super::chain::wait_until;
use super::dispatch::CLAIM_MARGIN;
use super::failure::DeliveryFailed;
use super::job::Job;
use super::lane::Lane;
use super::outcome::{NextStep, Outcome, classify, decide};
use super::request::{build_request, endpoint_host};
use super::settle::Disposition;
use crate::delivery::{Attempt, Claim, Delivery, DeliveryStatus, DeliveryUpdate};
use crate::error::{Error, ErrorCode, Result};
use crate::event::{Event, reserved_namespace};
use crate::hookline::Hookline;
use crate::ids::{DeliveryId, EventId};
use crate::ports::Written;
use crate::retry_schedule::RetrySchedule;
use crate::subscription::Subscription;
use serde::Serialize;
use std::time::Instant;

/// The result of a one-off attempt (test event, manual retry).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AttemptReport {
    pub event_id: EventId,
    pub delivery_id: DeliveryId,
    pub success: bool,
    pub attempt: Attempt,
}

impl Hookline {
    /// The attempt budget of this deployment's schedule (a subscription's own policy can only
    /// shorten a round; the lifetime limit is the store's).
    pub fn budget(&self) -> AttemptBudget {
        AttemptBudget::of(&self.settings.schedule, self.store.limits())
    }

    /// Sends one attempt and returns it as recorded, with what its result means.
    async fn send_attempt(
        &self,
        delivery: &Delivery,
        sub: &Subscription,
        event: &Event,
    ) -> Result<(Attempt, Outcome)> {
        let version = self.payload_version(sub, event).await?;
        let at = self.clock.now();
        let number = delivery.attempts.len() as u32 + 1;
        let request = build_request(sub, event, version.as_ref(), at);
        let started = Instant::now();
        let result = self.sender.send(request).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let outcome = classify(&result, self.clock.now());
        let error = match (&result, &outcome) {
            (Err(e), _) => Some(e.message.clone()),
            (Ok(_), Outcome::Retryable { error, .. } | Outcome::Permanent { error }) => {
                Some(error.clone())
            }
            (Ok(r), Outcome::Gone) => Some(format!("HTTP {}", r.status)),
            (Ok(_), Outcome::Success) => None,
        };
        let attempt = Attempt {
            number,
            at,
            status_code: result.as_ref().ok().map(|r| r.status),
            error,
            duration_ms,
            response_body: result
                .as_ref()
                .ok()
                .filter(|r| !r.body.is_empty())
                .map(|r| r.body.clone()),
        };
        tracing::info!(
            tenant_id = %delivery.tenant_id, event_id = %delivery.event_id,
            subscription_id = %delivery.subscription_id, delivery_id = %delivery.id,
            attempt = number, endpoint = endpoint_host(&sub.url), status_code = attempt.status_code,
            duration_ms, error = attempt.error.as_deref(), "delivery attempt"
        );
        Ok((attempt, outcome))
    }

    /// Attempt number `in_round` of a queued delivery on `schedule` (its subscription's), claimed
    /// by `carrier` and admitted on `health`, recorded, and what its message becomes.
    pub(super) async fn attempt(
        &self,
        delivery: &Delivery,
        sub: &Subscription,
        event: &Event,
        (in_round, schedule): (u32, &RetrySchedule),
        (carrier, health): (&str, &crate::breaker::Health),
    ) -> Result<Disposition> {
        let (attempt, outcome) = self.send_attempt(delivery, sub, event).await?;
        self.record_health(sub, &attempt, outcome == Outcome::Success, Some(health))
            .await;
        let at = attempt.at;
        let step = decide(in_round, &outcome, schedule, rand::random::<f64>());
        let attempt_base = (delivery.attempt_base > 0).then_some(delivery.attempt_base);
        let made = delivery.version().attempts + 1;
        let (status, next_attempt_at, disposition) = match step {
            NextStep::Succeeded => (DeliveryStatus::Succeeded, None, Disposition::Delete),
            NextStep::RetryIn(delay) => {
                let due = at.plus(delay);
                let next = Job::next(delivery.id.clone(), made + 1, None);
                let max_delay = self.queue.limits().max_delay;
                // a retry follows a failure: it waits and is attempted in the slow lane
                let retry = wait_until(&next, due, at, max_delay).to(Lane::Slow);
                let requeue = Disposition::Requeue(retry);
                (DeliveryStatus::Pending, Some(due), requeue)
            }
            NextStep::GiveUp(give_up) => {
                if give_up == GiveUp::Gone {
                    let _ = self.disable(sub, give_up.reason()).await?;
                }
                return self
                    .give_up(delivery, Some(attempt), give_up, Some(carrier))
                    .await;
            }
        };
        let update = DeliveryUpdate {
            delivery_id: delivery.id.clone(),
            subscription_id: delivery.subscription_id.clone(),
            expected: delivery.version(),
            carrier: Some(carrier.to_string()),
            at,
            attempt: Some(attempt),
            status,
            next_attempt_at,
            failure_reason: None,
            attempt_base,
        };
        if self.store.update_delivery(&update, None).await? == Written::Stale {
            tracing::warn!(delivery_id = %delivery.id, attempt = made, "attempt not recorded: its claim lapsed and another handler carries the delivery");
            return Ok(Disposition::Delete);
        }
        Ok(disposition)
    }

    /// Disables `sub` with `reason`, unless it changed its URL meanwhile; whether it did.
    pub(super) async fn disable(&self, sub: &Subscription, reason: String) -> Result<bool> {
        // From the store, not the copy the attempt used (which may be the cache's): a change
        // made meanwhile (a new URL or secret) is kept.
        let Some(mut disabled) = self.store.get_subscription(&sub.id).await? else {
            return Ok(false);
        };
        if disabled.url != sub.url || !disabled.enabled {
            // The endpoint that failed is no longer the subscription's, or it is off already.
            return Ok(false);
        }
        disabled.enabled = false;
        disabled.disabled_reason = Some(reason);
        disabled.updated_at = self.clock.now();
        self.store.update_subscription(&disabled).await?;
        self.forget_subscription(&sub.id);
        tracing::warn!(subscription_id = %sub.id, tenant_id = %sub.tenant_id, reason = %disabled.disabled_reason.as_deref().unwrap_or(""), "subscription disabled");
        Ok(true)
    }

    /// Records the failure (and its notification, in the same write) and dead-letters the job.
    /// `carrier` holds the claim when an attempt was made; without one, no claim may be live.
    pub(super) async fn give_up(
        &self,
        delivery: &Delivery,
        attempt: Option<Attempt>,
        give_up: GiveUp,
        carrier: Option<&str>,
    ) -> Result<Disposition> {
        let now = self.clock.now();
        let reason = give_up.reason();
        // Failures of operational events are never notified again: no notification loops.
        let notification =
            (give_up.notifies() && reserved_namespace(&delivery.event_type).is_none()).then(|| {
                DeliveryFailed::of(delivery, attempt.as_ref(), &reason)
                    .into_event(delivery.tenant_id.clone(), now)
            });
        let attempts = delivery.version().attempts + u32::from(attempt.is_some());
        let update = DeliveryUpdate {
            delivery_id: delivery.id.clone(),
            subscription_id: delivery.subscription_id.clone(),
            expected: delivery.version(),
            carrier: carrier.map(str::to_string),
            at: now,
            attempt,
            status: DeliveryStatus::Failed,
            next_attempt_at: None,
            failure_reason: Some(reason.clone()),
            attempt_base: (delivery.attempt_base > 0).then_some(delivery.attempt_base),
        };
        if self
            .store
            .update_delivery(&update, notification.as_ref())
            .await?
            == Written::Stale
        {
            tracing::info!(delivery_id = %delivery.id, "give-up not recorded: the delivery moved on");
            return Ok(Disposition::Delete);
        }
        self.hand_off(notification.clone());
        tracing::warn!(
            tenant_id = %delivery.tenant_id, event_id = %delivery.event_id,
            subscription_id = %delivery.subscription_id, delivery_id = %delivery.id,
            attempts, reason = %reason,
            notification_event_id = notification.as_ref().map(|n| n.id.to_string()),
            "delivery failed"
        );
        Ok(Disposition::DeadLetter {
            reason,
            redrive: Some(Job::reopen(delivery.id.clone(), attempts)),
        })
    }

    /// One attempt outside the queue (a test event, a manual retry): recorded like any other,
    /// never retried or dead-lettered. A success completes the delivery; a failure leaves a
    /// pending delivery on its schedule, and marks a test delivery failed with `failed_reason`.
    pub(crate) async fn attempt_once(
        &self,
        delivery: &Delivery,
        sub: &Subscription,
        event: &Event,
        failed_reason: Option<&str>,
    ) -> Result<AttemptReport> {
        let now = self.clock.now();
        let claim = Claim {
            delivery_id: delivery.id.clone(),
            expected: delivery.version(),
            by: format!("api_{}", ulid::Ulid::new()),
            until: now.plus(sub.timeout() + CLAIM_MARGIN),
            at: now,
        };
        let in_progress = || {
            Error::conflict(
                ErrorCode::AttemptInProgress,
                "another attempt of this delivery is in progress; try again in a few seconds",
            )
        };
        if self.store.claim_delivery(&claim).await? == Written::Stale {
            return Err(in_progress());
        }
        let (attempt, outcome) = self.send_attempt(delivery, sub, event).await?;
        let success = outcome == Outcome::Success;
        // a test or manual retry that succeeds proves the endpoint works: it closes the circuit
        self.record_health(sub, &attempt, success, None).await;
        let (status, next_attempt_at, failure_reason) = match (success, failed_reason) {
            (true, _) => (DeliveryStatus::Succeeded, None, None),
            (false, Some(reason)) => (DeliveryStatus::Failed, None, Some(reason.to_string())),
            (false, None) => (
                delivery.status,
                delivery.next_attempt_at,
                delivery.failure_reason.clone(),
            ),
        };
        if status == DeliveryStatus::Pending {
            // The queued job of this attempt number is now behind the chain and will be dropped:
            // this attempt hands the chain on, before it is recorded, so a crash cannot end it.
            let made = delivery.version().attempts + 1;
            let next = Job::next(delivery.id.clone(), made + 1, None);
            let due = next_attempt_at.unwrap_or(attempt.at);
            let max_delay = self.queue.limits().max_delay;
            self.send(&[wait_until(&next, due, attempt.at, max_delay).to(Lane::Slow)])
                .await?;
        }
        let update = DeliveryUpdate {
            delivery_id: delivery.id.clone(),
            subscription_id: delivery.subscription_id.clone(),
            expected: delivery.version(),
            carrier: Some(claim.by),
            at: attempt.at,
            attempt: Some(attempt.clone()),
            status,
            next_attempt_at,
            failure_reason,
            attempt_base: None,
        };
        if self.store.update_delivery(&update, None).await? == Written::Stale {
            return Err(in_progress());
        }
        Ok(AttemptReport {
            event_id: delivery.event_id.clone(),
            delivery_id: delivery.id.clone(),
            success,
            attempt,
        })
    }
}
