//! Delivery of queued jobs, in small steps: load the job's delivery, build the signed request,
//! send it, classify the outcome, decide the next step, record it, and tell the queue what to do
//! with the message. A batch is delivered concurrently.

use crate::clock::Timestamp;
use crate::delivery::{
    Attempt, Delivery, DeliveryStatus, DeliveryUpdate, Job, MAX_ATTEMPTS_PER_DELIVERY,
    attempt_limit_reason,
};
use crate::error::Result;
use crate::event::{DELIVERY_FAILED, Event, reserved_namespace};
use crate::ids::EventId;
use crate::outcome::{NextStep, Outcome, classify, decide};
use crate::payload;
use crate::ports::{OutboundRequest, QueueMessage};
use crate::service::Hookline;
use crate::signing::signature_headers;
use crate::subscription::Subscription;
use std::time::{Duration, Instant};

pub const USER_AGENT: &str = concat!("Hookline/", env!("CARGO_PKG_VERSION"));

/// What to do with a job's message after handling it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done (delivered, or a duplicate of a finished delivery): delete the message.
    Delete,
    /// Hide the message for this long; it comes back for the next attempt.
    Retry(Duration),
    /// Given up: move the message to the dead-letter queue with this reason.
    DeadLetter(String),
}

/// Whether a give-up emits a `hookline.delivery.failed` notification. A tenant's own pause or
/// delete is not a failure worth alerting on; it is still recorded and dead-lettered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Notify {
    Yes,
    No,
}

impl Hookline {
    /// Handles one job message and decides its disposition. An `Err` means the outcome could not
    /// be recorded (store or queue trouble): leave the message alone and it comes back.
    pub async fn handle_job(&self, message: &QueueMessage) -> Result<Disposition> {
        let Ok(job) = serde_json::from_str::<Job>(&message.body) else {
            tracing::error!(message_id = %message.id, "malformed job message dead-lettered");
            return Ok(Disposition::DeadLetter("malformed job message".into()));
        };
        let Some(delivery) = self.store.get_delivery(&job.delivery_id).await? else {
            tracing::error!(delivery_id = %job.delivery_id, "job for an unknown delivery dead-lettered");
            return Ok(Disposition::DeadLetter("delivery not found".into()));
        };
        let mut delivery = delivery;
        match delivery.status {
            DeliveryStatus::Succeeded => return Ok(Disposition::Delete),
            // Recovery or redrive: a new round of attempts on the full schedule.
            DeliveryStatus::Failed if job.reopen => {
                if delivery.attempts.len() >= MAX_ATTEMPTS_PER_DELIVERY {
                    return Ok(Disposition::DeadLetter(attempt_limit_reason()));
                }
                delivery.attempt_base = delivery.attempts.len() as u32;
                delivery.status = DeliveryStatus::Pending;
                delivery.failure_reason = None;
            }
            // Failure was recorded but the message was not moved yet (a crash in between).
            DeliveryStatus::Failed => {
                let reason = delivery.failure_reason.unwrap_or_else(|| "failed".into());
                return Ok(Disposition::DeadLetter(reason));
            }
            DeliveryStatus::Pending => {}
        }
        let sub = match self
            .store
            .get_subscription(&delivery.subscription_id)
            .await?
        {
            None => {
                return self
                    .give_up(
                        &delivery,
                        None,
                        "subscription was deleted".into(),
                        Notify::No,
                    )
                    .await;
            }
            Some(s) if !s.enabled => {
                let why = s
                    .disabled_reason
                    .clone()
                    .unwrap_or_else(|| "subscription is paused".into());
                return self.give_up(&delivery, None, why, Notify::No).await;
            }
            Some(s) => s,
        };
        let Some(event) = self.store.get_event(&delivery.event_id).await? else {
            return self
                .give_up(
                    &delivery,
                    None,
                    "event is no longer stored".into(),
                    Notify::Yes,
                )
                .await;
        };
        if delivery.attempts.len() >= MAX_ATTEMPTS_PER_DELIVERY {
            return self
                .give_up(&delivery, None, attempt_limit_reason(), Notify::Yes)
                .await;
        }
        let in_round = delivery.next_attempt_in_round();
        if in_round > self.settings.schedule.max_attempts() {
            let reason = format!("all {} attempts were used", in_round - 1);
            return self.give_up(&delivery, None, reason, Notify::Yes).await;
        }
        self.attempt(&delivery, &sub, &event, in_round).await
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

    async fn attempt(
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
        match step {
            NextStep::Succeeded => {
                let update = DeliveryUpdate {
                    delivery_id: delivery.id.clone(),
                    at,
                    attempt: Some(attempt),
                    status: DeliveryStatus::Succeeded,
                    next_attempt_at: None,
                    failure_reason: None,
                    attempt_base,
                };
                self.store.update_delivery(&update, None).await?;
                Ok(Disposition::Delete)
            }
            NextStep::RetryIn(delay) => {
                let update = DeliveryUpdate {
                    delivery_id: delivery.id.clone(),
                    at,
                    attempt: Some(attempt),
                    status: DeliveryStatus::Pending,
                    next_attempt_at: Some(at.plus(delay)),
                    failure_reason: None,
                    attempt_base,
                };
                self.store.update_delivery(&update, None).await?;
                Ok(Disposition::Retry(delay))
            }
            NextStep::GiveUp {
                reason,
                disable_subscription,
            } => {
                if disable_subscription {
                    let mut disabled = sub.clone();
                    disabled.enabled = false;
                    disabled.disabled_reason = Some(reason.clone());
                    disabled.updated_at = self.clock.now();
                    self.store.update_subscription(&disabled).await?;
                    tracing::warn!(subscription_id = %sub.id, tenant_id = %sub.tenant_id, "subscription disabled: endpoint answered 410 Gone");
                }
                self.give_up(delivery, Some(attempt), reason, Notify::Yes)
                    .await
            }
        }
    }

    /// Records the failure (and its notification, in the same write) and dead-letters the job.
    async fn give_up(
        &self,
        delivery: &Delivery,
        attempt: Option<Attempt>,
        reason: String,
        notify: Notify,
    ) -> Result<Disposition> {
        let now = self.clock.now();
        // Failures of operational events are never notified again: no notification loops.
        let notification = (notify == Notify::Yes
            && reserved_namespace(&delivery.event_type).is_none())
        .then(|| failure_notification(delivery, attempt.as_ref(), &reason, now));
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
    ) -> Result<crate::service::AttemptReport> {
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
        Ok(crate::service::AttemptReport {
            event_id: delivery.event_id.clone(),
            delivery_id: delivery.id.clone(),
            success,
            attempt,
        })
    }

    /// Applies a disposition to the queue the job came from.
    pub async fn settle(&self, message: &QueueMessage, disposition: &Disposition) -> Result<()> {
        match disposition {
            Disposition::Delete => self.queue.delete(&message.receipt).await,
            Disposition::Retry(delay) => {
                self.queue.change_visibility(&message.receipt, *delay).await
            }
            Disposition::DeadLetter(reason) => {
                // Redriven from the dead-letter queue, the job reopens its failed delivery.
                let body = match serde_json::from_str::<Job>(&message.body) {
                    Ok(job) => serde_json::to_string(&Job {
                        reopen: true,
                        ..job
                    })
                    .expect("jobs serialize"),
                    Err(_) => message.body.clone(),
                };
                self.queue.dead_letter(message, &body, reason).await
            }
        }
    }

    /// Handles one job and settles its message. `None` means the outcome could not be recorded
    /// or applied: the message is left to come back after its visibility timeout.
    pub async fn process(&self, message: &QueueMessage) -> Option<Disposition> {
        let outcome = match self.handle_job(message).await {
            Ok(d) => self.settle(message, &d).await.map(|_| d),
            Err(e) => Err(e),
        };
        outcome
            .inspect_err(|e| {
                tracing::error!(message_id = %message.id, error = %e, "job left for redelivery")
            })
            .ok()
    }

    /// Delivers a batch concurrently; one result per message, in order (see `process`).
    pub async fn process_batch(&self, messages: &[QueueMessage]) -> Vec<Option<Disposition>> {
        futures::future::join_all(messages.iter().map(|m| self.process(m))).await
    }
}

/// The signed POST for one attempt. `webhook-id` is the event id: the same on every retry and
/// the same as the body's top-level `id`, which receivers dedupe on.
pub fn build_request(sub: &Subscription, event: &Event, at: Timestamp) -> OutboundRequest {
    let body = payload::render(event, sub.payload_format);
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("user-agent".to_string(), USER_AGENT.to_string()),
    ];
    headers.extend(signature_headers(
        &sub.signing_secrets(at),
        sub.hex_signature_header.as_deref(),
        event.id.as_str(),
        at.seconds(),
        &body,
    ));
    // Custom headers are validated never to collide with the ones above, but user-agent may be
    // overridden.
    for (k, v) in &sub.headers {
        if k.eq_ignore_ascii_case("user-agent") {
            headers.retain(|(name, _)| name != "user-agent");
        }
        headers.push((k.clone(), v.clone()));
    }
    OutboundRequest {
        url: sub.url.clone(),
        headers,
        body,
        timeout: sub.timeout(),
    }
}

/// The host (and port) of a subscription URL, for logs: paths and query strings can carry
/// receivers' tokens, so they are never logged.
fn endpoint_host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
        .unwrap_or_default()
}

fn failure_notification(
    delivery: &Delivery,
    attempt: Option<&Attempt>,
    reason: &str,
    now: Timestamp,
) -> Event {
    let last = attempt.or(delivery.attempts.last());
    let data = serde_json::json!({
        "delivery_id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "subscription_id": delivery.subscription_id,
        "attempts": delivery.attempts.len() + usize::from(attempt.is_some()),
        "reason": reason,
        "last_error": last.and_then(|a| a.error.clone()),
        "last_status_code": last.and_then(|a| a.status_code),
    });
    Event {
        id: EventId::generate(),
        tenant_id: delivery.tenant_id.clone(),
        event_type: DELIVERY_FAILED.to_string(),
        timestamp: now,
        data: data.as_object().cloned().unwrap_or_default(),
        attributes: Default::default(),
    }
}
