//! The ports: what the core needs from storage, the job queue, the HTTP client and the alert
//! topic. Storage is one small trait per resource (`subscriptions`, `events` and the outbox, `event_types`,
//! `deliveries`, `api_keys`, `idempotency`, `pacing`, `health`); [`Store`] is all of them, which is what an adapter
//! set provides. The embedded adapters (local runs) and the AWS adapters implement these; one
//! conformance suite, one file per trait, tests both.

mod api_keys;
mod deliveries;
mod event_types;
mod events;
mod health;
mod idempotency;
mod notifier;
mod pacing;
mod queue;
mod sender;
mod subscriptions;

pub use api_keys::ApiKeyStore;
pub use deliveries::{DeliveryLimits, DeliveryQuery, DeliveryStore, Written};
pub use event_types::EventTypeStore;
pub use events::EventStore;
pub use health::{HealthStore, ParkedJob};
pub use idempotency::{Created, IdempotencyRecord, IdempotencyStore, KeyedResponse};
pub use notifier::{Notification, Notifier};
pub use pacing::PacingStore;
pub use queue::{DeadLetter, Enqueue, Message, Queue, QueueLimits, QueueMessage, replace_by_send};
pub use sender::{
    HttpResponse, OutboundRequest, SendResult, Sender, TransportError, TransportErrorKind,
};
pub use subscriptions::SubscriptionStore;

/// Every store trait: what one adapter set (SQLite, or one DynamoDB table) provides.
pub trait Store:
    SubscriptionStore
    + EventStore
    + EventTypeStore
    + DeliveryStore
    + ApiKeyStore
    + IdempotencyStore
    + PacingStore
    + HealthStore
{
}

impl<T> Store for T where
    T: SubscriptionStore
        + EventStore
        + EventTypeStore
        + DeliveryStore
        + ApiKeyStore
        + IdempotencyStore
        + PacingStore
        + HealthStore
{
}
