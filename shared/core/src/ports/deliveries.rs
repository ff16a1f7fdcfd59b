//! Storage of deliveries and their attempts.

use crate::clock::Timestamp;
use crate::delivery::{Claim, Delivery, DeliveryStatus, DeliveryUpdate};
use crate::error::Result;
use crate::event::Event;
use crate::ids::{DeliveryId, EventId, SubscriptionId};
use async_trait::async_trait;

/// Which deliveries to list: those of one event or of one subscription, oldest first. Delivery
/// ids sort by the time their event was accepted, so `since` and `until` select deliveries of
/// events accepted in that window: a range of ids, which every store reads as a key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub event_id: Option<EventId>,
    pub subscription_id: Option<SubscriptionId>,
    pub status: Option<DeliveryStatus>,
    /// Of events accepted at or after this time.
    pub since: Option<Timestamp>,
    /// Of events accepted before this time.
    pub until: Option<Timestamp>,
    pub after: Option<DeliveryId>,
    pub limit: usize,
}

/// What a delivery store can hold, declared by its adapter: attempts are kept in the
/// delivery's record, so a store with an item size limit bounds how many one delivery may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryLimits {
    /// Attempts one delivery may have in all, across recovery rounds, redrives and manual
    /// retries.
    pub max_attempts_per_delivery: usize,
}

/// Whether a conditional write of a delivery happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Written {
    Applied,
    /// The delivery is not in the state the change was computed from (another writer moved it
    /// on, a claim is held, or it is gone): nothing was written.
    Stale,
}

#[async_trait]
pub trait DeliveryStore: Send + Sync + 'static {
    fn limits(&self) -> DeliveryLimits;
    /// Stores the delivery unless one exists for the same (event, subscription), and returns
    /// the stored one: fan-out can run twice without creating a second delivery.
    async fn create_delivery(&self, delivery: &Delivery) -> Result<Delivery>;
    /// [`DeliveryStore::create_delivery`] of each, one answer per delivery in order. By
    /// default up to `CREATE_CONCURRENCY` at once; a store that can write them together (SQLite, in
    /// one transaction) overrides it.
    async fn create_deliveries(&self, deliveries: &[Delivery]) -> Vec<Result<Delivery>> {
        use futures::StreamExt;
        // the calls, made before the stream polls them: a lazy `map` inside it would not be Send
        let creates: Vec<_> = deliveries.iter().map(|d| self.create_delivery(d)).collect();
        futures::stream::iter(creates)
            .buffered(crate::pipeline::fanout::CREATE_CONCURRENCY)
            .collect()
            .await
    }
    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>>;
    /// Takes the claim on the delivery's next attempt if the delivery is still at
    /// `claim.expected` and nobody else's claim is live at `claim.at`.
    async fn claim_delivery(&self, claim: &Claim) -> Result<Written>;
    /// Records an attempt and the delivery's new status in one write, if the delivery is still
    /// at `update.expected` (and, with a carrier, still claimed by it); when the delivery failed,
    /// the failure notification event is stored in the same write. Ends any live claim.
    async fn update_delivery(
        &self,
        update: &DeliveryUpdate,
        notification: Option<&Event>,
    ) -> Result<Written>;
    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>>;
}
