//! Fan-out: one stored event becomes one delivery and one queued job per matching subscription.
//! Safe to repeat: deliveries are unique per (event, subscription), and an event is marked done
//! only after its jobs are queued, so a crash means a repeat, never a loss. A repeat queues a job
//! only for a delivery that no job has started yet; any copy that makes is dropped by the retry
//! chain ([`super::chain`]) once the first has claimed its attempt, so a delivery that is being
//! attempted, backing off or finished never gets a second chain.
//!
//! A batch of events (a stream batch, a poll of the outbox) is fanned out together: each
//! tenant's subscriptions are read once, matched in memory, the deliveries created
//! [`CREATE_CONCURRENCY`] at a time, and the jobs of the whole batch sent in full batches.

use super::job::Job;
use crate::delivery::{Delivery, DeliveryStatus};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::hookline::Hookline;
use crate::matching::matches;
use crate::ports::Enqueue;
use crate::subscription::Subscription;
use crate::tenant::TenantId;
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;

/// Deliveries created at once, and job batches sent at once: 10,000 deliveries of one event
/// take 10,000 / 64 round trips of a few milliseconds (BENCHMARKS.md, fan-out).
pub const CREATE_CONCURRENCY: usize = 64;

/// Whether no job has claimed an attempt of the delivery yet: only then may fan-out queue one
/// (a repeated fan-out gets the stored delivery back and queues nothing for one under way).
pub fn unstarted(d: &Delivery) -> bool {
    d.status == DeliveryStatus::Pending && d.attempts.is_empty() && d.carrier.is_none()
}

/// What fanning out a batch did: the first `done` events are fanned out (their jobs queued and
/// their outbox entries removed); `error` stopped the next one, which is retried with every
/// event after it.
#[derive(Debug)]
pub struct FanOutReport {
    pub done: usize,
    pub jobs: usize,
    pub error: Option<Error>,
}

/// Whether `event` is a lifecycle event about `sub`'s own endpoint: never sent to it (it is
/// failing, or has just come back), so an alert subscription cannot feed its own alerts.
fn about_itself(sub: &crate::subscription::Subscription, event: &Event) -> bool {
    super::health::EndpointHealthEvent::from_event(event)
        .is_some_and(|h| h.subscription_id == sub.id)
}

impl Hookline {
    /// Fans out one event; returns how many jobs were queued.
    pub async fn fan_out(&self, event: &Event) -> Result<usize> {
        let report = self.fan_out_batch(std::slice::from_ref(event)).await;
        match report.error {
            Some(e) => Err(e),
            None => Ok(report.jobs),
        }
    }

    /// Fans out `events` in order, as far as it can (see [`FanOutReport`]).
    pub async fn fan_out_batch(&self, events: &[Event]) -> FanOutReport {
        let now = self.clock.now();
        let mut error = None;
        // Each tenant's subscriptions, once per batch.
        let mut by_tenant: HashMap<&TenantId, Vec<Subscription>> = HashMap::new();
        let mut limit = events.len();
        for (i, e) in events.iter().enumerate() {
            if by_tenant.contains_key(&e.tenant_id) {
                continue;
            }
            match self.store.subscriptions_for_tenant(&e.tenant_id).await {
                Ok(subs) => {
                    by_tenant.insert(&e.tenant_id, subs);
                }
                Err(err) => {
                    (limit, error) = (i, Some(err));
                    break;
                }
            }
        }
        let wanted: Vec<(usize, Delivery)> = events[..limit]
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                by_tenant[&e.tenant_id]
                    .iter()
                    .filter(|s| matches(s, e) && !about_itself(s, e))
                    .map(move |s| (i, Delivery::new(e, s, now)))
            })
            .collect();
        let (of_event, new): (Vec<usize>, Vec<Delivery>) = wanted.into_iter().unzip();
        let created: Vec<(usize, Result<Delivery>)> = of_event
            .into_iter()
            .zip(self.store.create_deliveries(&new).await)
            .collect();
        if let Some((i, Err(_))) = created
            .iter()
            .filter(|(i, r)| r.is_err() && *i < limit)
            .min_by_key(|(i, _)| *i)
        {
            limit = *i;
        }
        let mut jobs = Vec::new();
        for (i, result) in created {
            match result {
                Ok(stored) if i < limit && unstarted(&stored) => jobs.push(Enqueue::now(
                    Job::first(stored.id).of(stored.subscription_id),
                )),
                Ok(_) => {}
                Err(e) if i == limit => error = Some(e),
                Err(_) => {}
            }
        }
        let chunks: Vec<Vec<Enqueue>> = jobs
            .chunks(self.queue.limits().max_batch)
            .map(<[Enqueue]>::to_vec)
            .collect();
        let sent = futures::stream::iter(chunks)
            .map(|chunk| async move { self.queue.send_batch(&chunk).await })
            .buffer_unordered(CREATE_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await;
        if let Err(e) = sent {
            return FanOutReport {
                done: 0,
                jobs: 0,
                error: Some(e),
            };
        }
        // Marked in order: a failure leaves it and every later event to the retry.
        for (i, event) in events[..limit].iter().enumerate() {
            // A local run publishes failure notifications here; on AWS the notify function does.
            let marked = match self.notify(event).await {
                Ok(_) => self.store.mark_fanned_out(&event.id).await,
                Err(e) => Err(e),
            };
            if let Err(e) = marked {
                return FanOutReport {
                    done: i,
                    jobs: jobs.len(),
                    error: Some(e),
                };
            }
        }
        tracing::debug!(events = limit, jobs = jobs.len(), "events fanned out");
        FanOutReport {
            done: limit,
            jobs: jobs.len(),
            error,
        }
    }

    /// Leaves out of `events` those this process's hand-off holds: they are being fanned out.
    fn leave_held(&self, events: &mut Vec<Event>) {
        if let Some(handoff) = &self.handoff {
            events.retain(|e| !handoff.holds(&e.id));
        }
    }

    /// Fans out the events that have waited in the outbox for `min_age` or longer, up to
    /// `limit`; returns how many. On AWS the table's stream triggers fan-out within seconds;
    /// this sweep catches an event whose stream record never led to it (records expire after
    /// 24 h of failures). A repeat is harmless: deliveries are created once.
    pub async fn fan_out_stale(&self, min_age: std::time::Duration, limit: usize) -> Result<usize> {
        let cutoff = self.clock.now().minus(min_age);
        // The outbox lists the oldest first.
        let mut stale: Vec<Event> = self
            .store
            .events_awaiting_fanout(limit)
            .await?
            .into_iter()
            .filter(|e| e.timestamp <= cutoff)
            .collect();
        self.leave_held(&mut stale);
        for event in &stale {
            tracing::warn!(event_id = %event.id, tenant_id = %event.tenant_id, "fanning out an event the stream did not");
        }
        let report = self.fan_out_batch(&stale).await;
        match report.error {
            Some(e) => Err(e),
            None => Ok(stale.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::test_delivery;

    #[test]
    fn only_a_delivery_no_job_has_started_gets_a_job() {
        assert!(unstarted(&test_delivery(DeliveryStatus::Pending, 0, 0)));
        let mut claimed = test_delivery(DeliveryStatus::Pending, 0, 0);
        claimed.carrier = Some("m1".into());
        assert!(!unstarted(&claimed), "being attempted");
        assert!(
            !unstarted(&test_delivery(DeliveryStatus::Pending, 1, 0)),
            "backing off"
        );
        assert!(!unstarted(&test_delivery(DeliveryStatus::Succeeded, 0, 0)));
        assert!(!unstarted(&test_delivery(DeliveryStatus::Failed, 0, 0)));
    }
}
