//! Storage of tenant API keys (their hashes, never the keys).

use crate::api_key::ApiKey;
use crate::clock::Timestamp;
use crate::error::Result;
use crate::ids::ApiKeyId;
use crate::ports::{Created, KeyedResponse};
use crate::tenant::TenantId;
use async_trait::async_trait;

#[async_trait]
pub trait ApiKeyStore: Send + Sync + 'static {
    /// Stores a new key's record, with the request's response in the same write when keyed.
    async fn insert_api_key(&self, key: &ApiKey, keyed: Option<&KeyedResponse>) -> Result<Created>;
    async fn get_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>>;
    async fn list_api_keys(
        &self,
        tenant_id: Option<&TenantId>,
        after: Option<&ApiKeyId>,
        limit: usize,
    ) -> Result<Vec<ApiKey>>;
    /// Marks a key revoked; returns whether an unrevoked key was found.
    async fn revoke_api_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<bool>;
}
