//! Storage of event types: one small item per type, keyed by scope (the deployment, or one
//! tenant) and name.

use crate::error::Result;
use crate::event_type::EventType;
use crate::tenant::TenantId;
use async_trait::async_trait;

#[async_trait]
pub trait EventTypeStore: Send + Sync + 'static {
    /// Stores a new type; `false` (and nothing written) if its scope already has that name.
    async fn insert_event_type(&self, t: &EventType) -> Result<bool>;
    async fn get_event_type(
        &self,
        scope: Option<&TenantId>,
        name: &str,
    ) -> Result<Option<EventType>>;
    /// Replaces a type if it is still at `revision` (conditional write); `false` if it changed
    /// or was deleted since it was read.
    async fn update_event_type(&self, t: &EventType, revision: u64) -> Result<bool>;
    /// Returns whether a type was deleted.
    async fn delete_event_type(&self, scope: Option<&TenantId>, name: &str) -> Result<bool>;
    /// Every type of a scope, by name (a scope holds at most
    /// [`crate::event_type::MAX_EVENT_TYPES`]).
    async fn list_event_types(&self, scope: Option<&TenantId>) -> Result<Vec<EventType>>;
}
