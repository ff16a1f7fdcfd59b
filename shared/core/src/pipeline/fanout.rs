//! Fan-out: one stored event becomes one delivery and one queued job per matching subscription.
//! Safe to repeat: deliveries are unique per (event, subscription), and the event is marked done
//! only after its jobs are queued, so a crash means a repeat, never a loss.

use super::job::Job;
use crate::delivery::{Delivery, DeliveryStatus};
use crate::error::Result;
use crate::event::Event;
use crate::hookline::Hookline;
use crate::matching::matches;

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
            if stored.status == DeliveryStatus::Pending {
                jobs.push(Job::deliver(stored.id));
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
