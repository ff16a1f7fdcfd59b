//! Fan-out: one stored event becomes one delivery and one queued job per matching subscription.
//! Safe to repeat: deliveries are unique per (event, subscription), and the event is marked done
//! only after its jobs are queued, so a crash means a repeat, never a loss. A repeat queues a job
//! only for a delivery that no job has started yet; any copy that makes is dropped by the retry
//! chain ([`super::chain`]) once the first has claimed its attempt, so a delivery that is being
//! attempted, backing off or finished never gets a second chain.

use super::job::Job;
use crate::delivery::{Delivery, DeliveryStatus};
use crate::error::Result;
use crate::event::Event;
use crate::hookline::Hookline;
use crate::matching::matches;
use crate::ports::Enqueue;

/// Whether no job has claimed an attempt of the delivery yet: only then may fan-out queue one.
fn unstarted(d: &Delivery) -> bool {
    d.status == DeliveryStatus::Pending && d.attempts.is_empty() && d.carrier.is_none()
}

impl Hookline {
    /// Fans out one event; returns how many jobs were queued.
    pub async fn fan_out(&self, event: &Event) -> Result<usize> {
        let now = self.clock.now();
        let candidates = self
            .store
            .subscriptions_for_tenant(&event.tenant_id)
            .await?;
        let mut jobs = Vec::new();
        for sub in candidates.iter().filter(|s| matches(s, event)) {
            let stored = self
                .store
                .create_delivery(&Delivery::new(event, sub, now))
                .await?;
            if unstarted(&stored) {
                jobs.push(Enqueue::now(Job::first(stored.id)));
            }
        }
        for chunk in jobs.chunks(self.queue.limits().max_batch) {
            self.queue.send_batch(chunk).await?;
        }
        // A local run publishes failure notifications here; on AWS the notify function does.
        self.notify(event).await?;
        self.store.mark_fanned_out(&event.id).await?;
        tracing::debug!(event_id = %event.id, tenant_id = %event.tenant_id, jobs = jobs.len(), "event fanned out");
        Ok(jobs.len())
    }

    /// Fans out the events that have waited in the outbox for `min_age` or longer, up to
    /// `limit`; returns how many. On AWS the table's stream triggers fan-out within seconds;
    /// this sweep catches an event whose stream record never led to it (records expire after
    /// 24 h of failures). A repeat is harmless: deliveries are created once.
    pub async fn fan_out_stale(&self, min_age: std::time::Duration, limit: usize) -> Result<usize> {
        let cutoff = self.clock.now().minus(min_age);
        // The outbox lists the oldest first.
        let events = self.store.events_awaiting_fanout(limit).await?;
        let mut swept = 0;
        for event in events.iter().filter(|e| e.timestamp <= cutoff) {
            tracing::warn!(event_id = %event.id, tenant_id = %event.tenant_id, "fanning out an event the stream did not");
            self.fan_out(event).await?;
            swept += 1;
        }
        Ok(swept)
    }

    /// Fans out every event waiting in the outbox, up to `limit`; returns how many events.
    pub async fn fan_out_pending(&self, limit: usize) -> Result<usize> {
        let events = self.store.events_awaiting_fanout(limit).await?;
        for event in &events {
            self.fan_out(event).await?;
        }
        Ok(events.len())
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
