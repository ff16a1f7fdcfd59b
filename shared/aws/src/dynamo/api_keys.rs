//! Tenant API keys on the table (hashes only), listed per tenant on gsi1 and across tenants on
//! gsi2; revoking is a conditional update, so a key is revoked once.

use super::DynamoStore;
use super::codec::{api_key_from, api_key_item, key, n};
use super::keys::{self, Listed};
use super::query::{KeyRange, listing};
use crate::sdk_error;
use async_trait::async_trait;
use hookline_core::TenantId;
use hookline_core::api_key::ApiKey;
use hookline_core::clock::Timestamp;
use hookline_core::error::Result;
use hookline_core::ids::ApiKeyId;
use hookline_core::ports::{ApiKeyStore, Created, KeyedResponse};

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn insert_api_key(&self, k: &ApiKey, keyed: Option<&KeyedResponse>) -> Result<Created> {
        self.put_new_keyed(api_key_item(k), keyed).await
    }

    async fn get_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>> {
        self.get(keys::api_key(id), true)
            .await?
            .map(|i| api_key_from(&i))
            .transpose()
    }

    async fn list_api_keys(
        &self,
        tenant_id: Option<&TenantId>,
        after: Option<&ApiKeyId>,
        limit: usize,
    ) -> Result<Vec<ApiKey>> {
        let (index, partition) = listing(Listed::ApiKeys, tenant_id);
        let items = self
            .query_index(
                index,
                partition,
                &KeyRange::after(after.map(|a| a.to_string())),
                limit,
            )
            .await?;
        items.iter().map(api_key_from).collect()
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<bool> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::api_key(id))))
            .update_expression("SET revoked_at = :at")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
            .expression_attribute_values(":at", n(at.millis()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }
}
