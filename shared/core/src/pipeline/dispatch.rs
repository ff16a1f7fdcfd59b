//! Dispatch: a received job becomes at most one attempt. A job that is not due yet is sent on
//! without reading the store; otherwise its delivery is loaded and the retry chain ([`chain`])
//! says which step the job is: dropped (a finished delivery, a stale copy), sent on to wait,
//! resumed, dead-lettered, reopened or attempted. An attempt needs the subscription, the event
//! and the budget to allow it and a claim on the delivery, so two handlers never send one
//! attempt. A batch is handled concurrently and settled together.

use super::budget::{AttemptBudget, GiveUp};
use super::chain::{self, Step};
use super::job::Job;
use super::settle::Disposition;
use crate::delivery::{Claim, DeliveryStatus, DeliveryUpdate, claim_holder};
use crate::error::Result;
use crate::hookline::Hookline;
use crate::pacing::{self, Turn};
use crate::ports::{Enqueue, QueueMessage, Written};
use std::time::Duration;

/// A paced job back to the queue until (just before) its slot.
fn requeue_paced(job: Job, delay: Duration, max_delay: Duration) -> Disposition {
    Disposition::Requeue(Enqueue::after(job, delay.min(max_delay)))
}

/// How much longer than the delivery timeout a claim lasts: a crashed handler's claim is free
/// again well before its message returns (the queue's visibility timeout is longer still).
pub const CLAIM_MARGIN: Duration = Duration::from_secs(10);

impl Hookline {
    /// Handles one job message and decides its disposition. An `Err` means the outcome could not
    /// be recorded (store or queue trouble): leave the message alone and it comes back.
    pub async fn handle_job(&self, message: &QueueMessage) -> Result<Disposition> {
        if let Some(wake) = super::health::Wake::decode(&message.body) {
            return self.handle_wake(wake).await;
        }
        let Some(job) = Job::decode(&message.body) else {
            tracing::error!(message_id = %message.id, "malformed job message dead-lettered");
            return Ok(Disposition::dead_letter(GiveUp::MalformedJob.reason()));
        };
        let now = self.clock.now();
        let max_delay = self.queue.limits().max_delay;
        let step = self.queue.limits().delay_step;
        let mut job = job;
        // The send slot of a rate-limited subscription this attempt holds: waited for just
        // before the request goes out, so slow reads on the way do not bunch requests up.
        let mut send_at = None;
        if job.paced {
            // It holds a send slot of its rate-limited subscription, at `due`.
            let slot = job.due.unwrap_or(now);
            match pacing::turn(slot, now, step) {
                Turn::Wait(delay) => return Ok(requeue_paced(job, delay, max_delay)),
                Turn::Hold(_) | Turn::Go => send_at = Some(slot),
                Turn::Retake => job.paced = false,
            }
        }
        if !job.paced
            && let Some(wait) = chain::early(&job, now, max_delay)
        {
            return Ok(Disposition::Requeue(wait));
        }
        if let Some(forwarded) = self.forward_early(&job, now) {
            return Ok(forwarded);
        }
        let Some(mut delivery) = self.store.get_delivery(&job.delivery_id).await? else {
            tracing::error!(delivery_id = %job.delivery_id, "job for an unknown delivery dead-lettered");
            return Ok(Disposition::dead_letter(GiveUp::DeliveryMissing.reason()));
        };
        let holder = claim_holder(&message.id, &message.receipt);
        match chain::step(&job, &delivery, (&message.id, &holder), now, max_delay) {
            Step::Drop(why) => {
                tracing::debug!(delivery_id = %delivery.id, attempt = job.attempt, why, "job dropped");
                return Ok(Disposition::Delete);
            }
            Step::Wait(next) | Step::Resume(next) => return Ok(Disposition::Requeue(next)),
            Step::DeadLetter => {
                return Ok(Disposition::DeadLetter {
                    reason: delivery.failure_reason.clone().unwrap_or("failed".into()),
                    redrive: Some(Job::reopen(
                        delivery.id.clone(),
                        delivery.version().attempts,
                    )),
                });
            }
            Step::Reopen => {
                if let Err(give_up) = self.budget().may_reopen(&delivery) {
                    return Ok(Disposition::DeadLetter {
                        reason: give_up.reason(),
                        redrive: Some(job),
                    });
                }
                let reopened = DeliveryUpdate {
                    delivery_id: delivery.id.clone(),
                    subscription_id: delivery.subscription_id.clone(),
                    expected: delivery.version(),
                    carrier: None,
                    at: now,
                    attempt: None,
                    status: DeliveryStatus::Pending,
                    next_attempt_at: Some(now),
                    failure_reason: None,
                    attempt_base: Some(delivery.version().attempts),
                };
                if self.store.update_delivery(&reopened, None).await? == Written::Stale {
                    return Ok(Disposition::Delete);
                }
                delivery.attempt_base = delivery.version().attempts;
                delivery.status = DeliveryStatus::Pending;
                delivery.failure_reason = None;
                delivery.next_attempt_at = Some(now);
            }
            Step::Attempt => {}
        }
        let sub = match self
            .subscription_for_attempt(&delivery.subscription_id, now)
            .await?
        {
            None => {
                return self
                    .give_up(&delivery, None, GiveUp::SubscriptionDeleted, None)
                    .await;
            }
            Some(s) if !s.enabled => {
                // disabled by its open circuit: its work stays parked until it is enabled again
                let (health, _) = self.cached_health(&s.id, now).await?;
                if health.circuit != crate::breaker::Circuit::Closed {
                    return self.park(&job, &s, &health, now).await;
                }
                let why = GiveUp::SubscriptionDisabled(s.disabled_reason.clone());
                return self.give_up(&delivery, None, why, None).await;
            }
            Some(s) => s,
        };
        // An open circuit parks the job (out of the queue) unless it is the probe.
        let health = match self.admit(&job, &sub, now).await? {
            super::health::Admission::Go(health) => health,
            super::health::Admission::Done(parked) => return Ok(parked),
        };
        // A failing endpoint's job leaves the main lane; none holds more than its share.
        let _in_progress = match self.enter_lane(&job, &sub, &health).await {
            Ok(entered) => entered,
            Err(elsewhere) => return Ok(elsewhere),
        };
        let Some(event) = self.store.get_event(&delivery.event_id).await? else {
            return self
                .give_up(&delivery, None, GiveUp::EventMissing, None)
                .await;
        };
        let schedule = sub.retry_policy().schedule(&self.settings.schedule);
        let budget = AttemptBudget::of(&schedule, self.store.limits());
        let in_round = match budget.next_attempt(&delivery) {
            Ok(in_round) => in_round,
            Err(give_up) => return self.give_up(&delivery, None, give_up, None).await,
        };
        if let Some(per_sec) = sub.rate_limit_per_sec
            && !job.paced
        {
            // Over its rate limit the job waits for its slot as a delayed message, holding it.
            let slot = self.store.take_slot(&sub.id, now, per_sec).await?;
            match pacing::turn(slot, now, step) {
                Turn::Wait(delay) => {
                    return Ok(requeue_paced(job.paced_at(slot), delay, max_delay));
                }
                Turn::Hold(_) | Turn::Go | Turn::Retake => send_at = Some(slot),
            }
        }
        let lease = sub.timeout() + CLAIM_MARGIN;
        // the time again: the reads above may have been slow, and the claim runs from now
        let now = self.clock.now();
        let claim = Claim {
            delivery_id: delivery.id.clone(),
            expected: delivery.version(),
            by: holder.clone(),
            until: now.plus(lease),
            at: now,
        };
        if self.store.claim_delivery(&claim).await? == Written::Stale {
            // Someone else is attempting it, or moved it on: look again when their claim lapses.
            return Ok(Disposition::Requeue(Enqueue::after(job, lease)));
        }
        if let Some(slot) = send_at
            && let Some(wait) = self.keep_slot(&job, &sub, slot, &claim).await?
        {
            return Ok(wait);
        }
        self.attempt(
            &delivery,
            &sub,
            &event,
            (in_round, &schedule),
            (&holder, &health),
        )
        .await
    }

    /// Waits, claimed, for the send slot `slot` just before the request goes out, so slow
    /// reads and writes on the way do not bunch requests up. A claim that came too late for
    /// its slot takes a new one; when that is a queue delay step or more away, the claim is let
    /// go and the job waits for it in the queue (`Some`).
    async fn keep_slot(
        &self,
        job: &Job,
        sub: &crate::subscription::Subscription,
        mut slot: crate::clock::Timestamp,
        claim: &Claim,
    ) -> Result<Option<Disposition>> {
        let now = self.clock.now();
        let limits = self.queue.limits();
        if let Some(per_sec) = sub.rate_limit_per_sec
            && pacing::turn(slot, now, limits.delay_step) == Turn::Retake
        {
            slot = self.store.take_slot(&sub.id, now, per_sec).await?;
            if let Turn::Wait(delay) = pacing::turn(slot, now, limits.delay_step) {
                let release = Claim {
                    until: now,
                    at: now,
                    ..claim.clone()
                };
                // a claim that cannot be let go lapses by itself; the job comes back after it
                let _ = self.store.claim_delivery(&release).await?;
                let job = job.clone().paced_at(slot);
                return Ok(Some(requeue_paced(job, delay, limits.max_delay)));
            }
        }
        let ahead = slot.millis() - self.clock.now().millis();
        if ahead > 0 {
            // under two queue delay steps (on SQS, under two seconds more in flight)
            tokio::time::sleep(Duration::from_millis(ahead as u64)).await;
        }
        Ok(None)
    }

    /// The subscription an attempt works from: from the cache while it is fresh, if this
    /// process keeps one and it says the subscription is enabled; else from the store.
    async fn subscription_for_attempt(
        &self,
        id: &crate::ids::SubscriptionId,
        now: crate::clock::Timestamp,
    ) -> Result<Option<crate::subscription::Subscription>> {
        // Only an answer that lets the attempt go ahead is taken from the cache: giving up on
        // a delivery (deleted or disabled) is decided on what the store says now, so a
        // subscription re-enabled a moment ago does not fail new deliveries.
        if let Some(Some(sub)) = self.subscriptions.as_ref().and_then(|c| c.get(id, now))
            && sub.enabled
        {
            return Ok(Some(sub));
        }
        let start = self.subscriptions.as_ref().map(|c| c.read_start());
        let sub = self.store.get_subscription(id).await?;
        if let (Some(cache), Some(start)) = (&self.subscriptions, start) {
            cache.put_read_at(start, id, now, sub.clone());
        }
        Ok(sub)
    }

    /// Handles one job and settles its message. `None` means the outcome could not be recorded
    /// or applied: the message is left to come back after its visibility timeout.
    pub async fn process(&self, message: &QueueMessage) -> Option<Disposition> {
        self.process_batch(std::slice::from_ref(message))
            .await
            .pop()
            .flatten()
    }

    /// Delivers a batch concurrently and settles it; one result per message, in order (see
    /// `process`).
    pub async fn process_batch(&self, messages: &[QueueMessage]) -> Vec<Option<Disposition>> {
        let handled = futures::future::join_all(messages.iter().map(|m| async move {
            self.handle_job(m)
                .await
                .inspect_err(
                    |e| tracing::error!(message_id = %m.id, error = %e, "job left for redelivery"),
                )
                .ok()
        }))
        .await;
        self.settle_batch(messages, handled).await
    }
}
