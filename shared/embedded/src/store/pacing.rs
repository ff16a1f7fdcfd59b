//! Pacing state in memory: the embedded adapters serve one process, and a slot is worth keeping
//! only for the second or so it spaces attempts over (a restart forgets it, which at worst lets
//! one burst of `rate_limit_per_sec` through).

use super::SqliteStore;
use async_trait::async_trait;
use hookline_core::clock::Timestamp;
use hookline_core::error::Result;
use hookline_core::ids::SubscriptionId;
use hookline_core::pacing::{interval_us, take_slot};
use hookline_core::ports::PacingStore;

#[async_trait]
impl PacingStore for SqliteStore {
    async fn take_slot(
        &self,
        subscription: &SubscriptionId,
        now: Timestamp,
        per_sec: u32,
    ) -> Result<Timestamp> {
        let mut next_free = self.pacing.lock().expect("pacing state");
        let entry = next_free.get(subscription).copied();
        let (slot, after) = take_slot(entry, now.millis() * 1_000, interval_us(per_sec));
        next_free.insert(subscription.clone(), after);
        Ok(Timestamp(slot / 1_000))
    }
}
