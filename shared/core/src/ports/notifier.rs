//! The alert topic: where failure notifications are published (SNS on AWS).

use crate::error::Result;
use async_trait::async_trait;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// One line for e-mail subscribers.
    pub subject: String,
    /// The failure event as JSON: what a program subscribed to the topic parses.
    pub message: String,
    /// `tenant_id`, `event_type` (of the failure event), `subscription_id`, `failed_event_type`.
    pub attributes: BTreeMap<String, String>,
}

/// Publishes notifications (the SNS topic on AWS).
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    async fn publish(&self, notification: &Notification) -> Result<()>;
}
