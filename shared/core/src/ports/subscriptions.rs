//! Storage of subscriptions.

use crate::error::Result;
use crate::ids::SubscriptionId;
use crate::ports::{Created, KeyedResponse};
use crate::subscription::Subscription;
use crate::tenant::TenantId;
use async_trait::async_trait;

#[async_trait]
pub trait SubscriptionStore: Send + Sync + 'static {
    /// Stores a new subscription, with its key's response in the same write when keyed.
    async fn insert_subscription(
        &self,
        sub: &Subscription,
        keyed: Option<&KeyedResponse>,
    ) -> Result<Created>;
    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>>;
    /// Replaces a stored subscription; `not_found` if it no longer exists.
    async fn update_subscription(&self, sub: &Subscription) -> Result<()>;
    /// Returns whether a subscription was deleted.
    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool>;
    /// Subscriptions ordered by id, after the cursor, optionally of one tenant.
    async fn list_subscriptions(
        &self,
        tenant_id: Option<&TenantId>,
        after: Option<&SubscriptionId>,
        limit: usize,
    ) -> Result<Vec<Subscription>>;
    /// Candidates for fan-out: every subscription of the tenant (the core does the matching).
    async fn subscriptions_for_tenant(&self, tenant_id: &TenantId) -> Result<Vec<Subscription>>;
    async fn count_subscriptions(&self, tenant_id: &TenantId) -> Result<u64>;
}
