//! One attempt: build the signed request, send it, classify the result, decide the next step
//! and record it (with the failure notification, when giving up, in the same write).

use super::budget::{AttemptBudget, GiveUp};
use super::failure::DeliveryFailed;
use super::outcome::{NextStep, Outcome, classify, decide};
use super::request::{build_request, endpoint_host};
use super::settle::Disposition;
use crate::delivery::{Attempt, Delivery, DeliveryStatus, DeliveryUpdate};
use crate::error::Result;
use crate::event::{Event, reserved_namespace};
use crate::hookline::Hookline;
use crate::ids::{DeliveryId, EventId};
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
    /// The attempt budget of this deployment's schedule.
    pub fn budget(&self) -> AttemptBudget {
        AttemptBudget::of(&self.settings.schedule, self.store.limits())
    }

    /// Sends one attempt and returns it as recorded, with what its result means.
    async fn send_attempt(
        &self,
        delivery: &Delivery,
        sub: &Subscription,
        event: &Event,
    ) -> (Attempt, Outcome) {
        let at = self.clock.now();
        let number = delivery.attempts.len() as u32 + 1;
        let request = build_request(sub, event, at);
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
        (attempt, outcome)
    }

    /// Attempt number `in_round` of a queued delivery, recorded, and what its message becomes.
    pub(super) async fn attempt(
        &self,
        delivery: &Delivery,
        sub: &Subscription,
        event: &Event,
        in_round: u32,
    ) -> Result<Disposition> {
        let (attempt, outcome) = self.send_attempt(delivery, sub, event).await;
        let at = attempt.at;
        let step = decide(
            in_round,
            &outcome,
            &self.settings.schedule,
            rand::random::<f64>(),
        );
        let attempt_base = (delivery.attempt_base > 0).then_some(delivery.attempt_base);
        let (status, next_attempt_at, disposition) = match step {
            NextStep::Succeeded => (DeliveryStatus::Succeeded, None, Disposition::Delete),
            NextStep::RetryIn(delay) => (
                DeliveryStatus::Pending,
                Some(at.plus(delay)),
                Disposition::Retry(delay),
            ),
            NextStep::GiveUp(give_up) => {
                if give_up == GiveUp::Gone {
                    self.disable(sub, give_up.reason()).await?;
                }
                return self.give_up(delivery, Some(attempt), give_up).await;
            }
        };
        let update = DeliveryUpdate {
            delivery_id: delivery.id.clone(),
            at,
            attempt: Some(attempt),
            status,
            next_attempt_at,
            failure_reason: None,
            attempt_base,
        };
        self.store.update_delivery(&update, None).await?;
        Ok(disposition)
    }

    async fn disable(&self, sub: &Subscription, reason: String) -> Result<()> {
        let mut disabled = sub.clone();
        disabled.enabled = false;
        disabled.disabled_reason = Some(reason);
        disabled.updated_at = self.clock.now();
        self.store.update_subscription(&disabled).await?;
        tracing::warn!(subscription_id = %sub.id, tenant_id = %sub.tenant_id, "subscription disabled: endpoint answered 410 Gone");
        Ok(())
    }

    /// Records the failure (and its notification, in the same write) and dead-letters the job.
    pub(super) async fn give_up(
        &self,
        delivery: &Delivery,
        attempt: Option<Attempt>,
        give_up: GiveUp,
    ) -> Result<Disposition> {
        let now = self.clock.now();
        let reason = give_up.reason();
        // Failures of operational events are never notified again: no notification loops.
        let notification =
            (give_up.notifies() && reserved_namespace(&delivery.event_type).is_none()).then(|| {
                DeliveryFailed::of(delivery, attempt.as_ref(), &reason)
                    .into_event(delivery.tenant_id.clone(), now)
            });
        let attempts = delivery.attempts.len() + usize::from(attempt.is_some());
        let update = DeliveryUpdate {
            delivery_id: delivery.id.clone(),
            at: now,
            attempt,
            status: DeliveryStatus::Failed,
            next_attempt_at: None,
            failure_reason: Some(reason.clone()),
            attempt_base: (delivery.attempt_base > 0).then_some(delivery.attempt_base),
        };
        self.store
            .update_delivery(&update, notification.as_ref())
            .await?;
        tracing::warn!(
            tenant_id = %delivery.tenant_id, event_id = %delivery.event_id,
            subscription_id = %delivery.subscription_id, delivery_id = %delivery.id,
            attempts, reason = %reason,
            notification_event_id = notification.as_ref().map(|n| n.id.to_string()),
            "delivery failed"
        );
        Ok(Disposition::DeadLetter(reason))
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
        let (attempt, outcome) = self.send_attempt(delivery, sub, event).await;
        let success = outcome == Outcome::Success;
        let (status, next_attempt_at, failure_reason) = match (success, failed_reason) {
            (true, _) => (DeliveryStatus::Succeeded, None, None),
            (false, Some(reason)) => (DeliveryStatus::Failed, None, Some(reason.to_string())),
            (false, None) => (
                delivery.status,
                delivery.next_attempt_at,
                delivery.failure_reason.clone(),
            ),
        };
        let update = DeliveryUpdate {
            delivery_id: delivery.id.clone(),
            at: attempt.at,
            attempt: Some(attempt.clone()),
            status,
            next_attempt_at,
            failure_reason,
            attempt_base: None,
        };
        self.store.update_delivery(&update, None).await?;
        Ok(AttemptReport {
            event_id: delivery.event_id.clone(),
            delivery_id: delivery.id.clone(),
            success,
            attempt,
        })
    }
}
