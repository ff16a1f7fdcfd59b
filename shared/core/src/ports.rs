//! The ports: what the core needs from storage, the job queue and the HTTP client. The embedded
//! adapters (local runs) and the AWS adapters implement these; one conformance suite tests both.

use crate::api_key::ApiKey;
use crate::clock::Timestamp;
use crate::delivery::{Delivery, DeliveryStatus, DeliveryUpdate};
use crate::error::Result;
use crate::event::Event;
use crate::ids::{ApiKeyId, DeliveryId, EventId, SubscriptionId};
use crate::outcome::SendResult;
use crate::subscription::Subscription;
use async_trait::async_trait;
use std::time::Duration;

pub use crate::notify::Notifier;

/// Which deliveries to list: those of one event or of one subscription, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub event_id: Option<EventId>,
    pub subscription_id: Option<SubscriptionId>,
    pub status: Option<DeliveryStatus>,
    /// Created at or after this time.
    pub since: Option<Timestamp>,
    /// Created before this time.
    pub until: Option<Timestamp>,
    pub after: Option<DeliveryId>,
    pub limit: usize,
}

/// The stored state of an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Hash of the request that first used the key.
    pub request_hash: String,
    /// The response, once the first request finished: status and body.
    pub response: Option<(u16, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the key now and must complete or release it.
    Claimed,
    /// Another request holds or held the key.
    Existing(IdempotencyRecord),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn insert_subscription(&self, sub: &Subscription) -> Result<()>;
    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>>;
    /// Replaces a stored subscription; `not_found` if it no longer exists.
    async fn update_subscription(&self, sub: &Subscription) -> Result<()>;
    /// Returns whether a subscription was deleted.
    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool>;
    /// Subscriptions ordered by id, after the cursor, optionally of one tenant.
    async fn list_subscriptions(
        &self,
        tenant_id: Option<&str>,
        after: Option<&SubscriptionId>,
        limit: usize,
    ) -> Result<Vec<Subscription>>;
    /// Candidates for fan-out: every subscription of the tenant (the core does the matching).
    async fn subscriptions_for_tenant(&self, tenant_id: &str) -> Result<Vec<Subscription>>;
    async fn count_subscriptions(&self, tenant_id: &str) -> Result<u64>;

    /// Stores an event; with `fan_out` false it never enters the outbox (test events, which
    /// go to one subscription only).
    async fn insert_event(&self, event: &Event, fan_out: bool) -> Result<()>;
    async fn get_event(&self, id: &EventId) -> Result<Option<Event>>;
    /// Stored events not yet fanned out, oldest first. This is the outbox that guarantees every
    /// stored event is fanned out even if the process dies right after storing it.
    async fn events_awaiting_fanout(&self, limit: usize) -> Result<Vec<Event>>;
    async fn mark_fanned_out(&self, id: &EventId) -> Result<()>;

    /// Stores the delivery unless one exists for the same (event, subscription), and returns
    /// the stored one: fan-out can run twice without creating a second delivery.
    async fn create_delivery(&self, delivery: &Delivery) -> Result<Delivery>;
    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>>;
    /// Records an attempt and the delivery's new status in one write; when the delivery failed,
    /// the failure notification event is stored in the same write.
    async fn update_delivery(
        &self,
        update: &DeliveryUpdate,
        notification: Option<&Event>,
    ) -> Result<()>;
    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>>;

    async fn insert_api_key(&self, key: &ApiKey) -> Result<()>;
    async fn get_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>>;
    async fn list_api_keys(
        &self,
        tenant_id: Option<&str>,
        after: Option<&ApiKeyId>,
        limit: usize,
    ) -> Result<Vec<ApiKey>>;
    /// Marks a key revoked; returns whether an unrevoked key was found.
    async fn revoke_api_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<bool>;

    /// Claims an idempotency key for a request, atomically: exactly one of concurrent callers
    /// gets `Claimed`. A key whose record expired, or whose claim was never completed and is
    /// older than `stale_before` (its request crashed), can be claimed again.
    async fn claim_idempotency(
        &self,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        stale_before: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Claim>;
    async fn complete_idempotency(&self, key: &str, status: u16, body: &str) -> Result<()>;
    /// Gives a claimed key up (the request failed and changed nothing).
    async fn release_idempotency(&self, key: &str) -> Result<()>;
}

/// A received job message. `receipt` identifies this receive (as an SQS receipt handle does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: String,
    pub body: String,
    pub receipt: String,
    pub receive_count: u32,
}

/// A dead-lettered message, as ops see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: String,
    pub body: String,
    pub reason: String,
}

/// The job queue, with SQS semantics: received messages are hidden for a visibility timeout and
/// come back unless deleted; the receive count grows with each receive; a message received more
/// than the maximum receive count is redriven to the dead-letter queue.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    async fn send_batch(&self, bodies: &[String]) -> Result<()>;
    async fn receive(&self, max: usize) -> Result<Vec<QueueMessage>>;
    async fn delete(&self, receipt: &str) -> Result<()>;
    async fn change_visibility(&self, receipt: &str, hide_for: Duration) -> Result<()>;
    /// Moves a message to the dead-letter queue as `body` (what a redrive will deliver), with
    /// the reason it was given up on.
    async fn dead_letter(&self, message: &QueueMessage, body: &str, reason: &str) -> Result<()>;
    async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>>;
}

/// One signed POST, exactly as it will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
}

#[async_trait]
pub trait Sender: Send + Sync + 'static {
    async fn send(&self, request: OutboundRequest) -> SendResult;
}
