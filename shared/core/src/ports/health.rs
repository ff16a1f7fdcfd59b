//! Storage of endpoint health: per subscription, its circuit breaker state ([`crate::breaker`])
//! under a version, and the jobs parked while its circuit is open, keyed by delivery (parking a
//! delivery again replaces its entry) and listed oldest delivery first.

use crate::breaker::Health;
use crate::clock::Timestamp;
use crate::error::Result;
use crate::ids::{DeliveryId, SubscriptionId};
use crate::pipeline::Job;
use crate::ports::Written;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A job kept out of the queue while its subscription's circuit is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedJob {
    pub job: Job,
    pub parked_at: Timestamp,
    /// Why it is parked, as the delivery log shows it.
    pub reason: String,
    /// Identifies this parking: a release removes the entry only if it is still this one.
    pub token: String,
}

impl ParkedJob {
    pub fn delivery_id(&self) -> &DeliveryId {
        &self.job.delivery_id
    }
}

#[async_trait]
pub trait HealthStore: Send + Sync + 'static {
    /// The subscription's health and its version (the default health at version 0 when none
    /// was written). Read strongly: the breaker's conditional writes start from it.
    async fn get_health(&self, subscription: &SubscriptionId) -> Result<(Health, u64)>;
    /// Writes `health` as version `expected + 1` if the stored version is still `expected`.
    async fn put_health(
        &self,
        subscription: &SubscriptionId,
        health: &Health,
        expected: u64,
    ) -> Result<Written>;
    /// Parks a job (replacing an earlier parking of the same delivery).
    async fn park(&self, subscription: &SubscriptionId, parked: &ParkedJob) -> Result<()>;
    /// At most `limit` parked jobs, oldest delivery first, after delivery `after` when given.
    async fn parked(
        &self,
        subscription: &SubscriptionId,
        after: Option<&DeliveryId>,
        limit: usize,
    ) -> Result<Vec<ParkedJob>>;
    /// The parking of one delivery, if it is parked.
    async fn parked_job(
        &self,
        subscription: &SubscriptionId,
        delivery: &DeliveryId,
    ) -> Result<Option<ParkedJob>>;
    /// Removes `parked` if its entry is still that parking (same token): `Stale` if it was
    /// released or parked again meanwhile.
    async fn unpark(&self, subscription: &SubscriptionId, parked: &ParkedJob) -> Result<Written>;
    /// How many jobs are parked.
    async fn parked_count(&self, subscription: &SubscriptionId) -> Result<u64>;
}
