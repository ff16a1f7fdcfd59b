//! Subscriptions on the table: stored whole as JSON under `SUB#{id}`, listed per tenant on gsi1
//! (which is also how fan-out finds its candidates) and across tenants on gsi2.

use super::DynamoStore;
use super::codec::{from_json, key, subscription_item};
use super::keys::{self, GSI1, Listed};
use super::query::{KeyRange, listing};
use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use hookline_core::TenantId;
use hookline_core::error::{Error, Result};
use hookline_core::ids::SubscriptionId;
use hookline_core::ports::{Created, KeyedResponse, SubscriptionStore};
use hookline_core::subscription::Subscription;

#[async_trait]
impl SubscriptionStore for DynamoStore {
    async fn insert_subscription(
        &self,
        sub: &Subscription,
        keyed: Option<&KeyedResponse>,
    ) -> Result<Created> {
        self.put_new_keyed(subscription_item(sub), keyed).await
    }

    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>> {
        self.get(keys::subscription(id), true)
            .await?
            .map(|i| from_json(&i))
            .transpose()
    }

    async fn update_subscription(&self, sub: &Subscription) -> Result<()> {
        if self
            .put_if(subscription_item(sub), "attribute_exists(pk)", None)
            .await?
        {
            Ok(())
        } else {
            Err(Error::not_found("subscription", sub.id.as_str()))
        }
    }

    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::subscription(id))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }

    async fn list_subscriptions(
        &self,
        tenant_id: Option<&TenantId>,
        after: Option<&SubscriptionId>,
        limit: usize,
    ) -> Result<Vec<Subscription>> {
        let (index, partition) = listing(Listed::Subscriptions, tenant_id);
        let items = self
            .query_index(
                index,
                partition,
                &KeyRange::after(after.map(|a| a.to_string())),
                limit,
            )
            .await?;
        items.iter().map(from_json).collect()
    }

    async fn subscriptions_for_tenant(&self, tenant_id: &TenantId) -> Result<Vec<Subscription>> {
        let items = self
            .query_index(
                GSI1,
                keys::tenant_subscriptions(tenant_id),
                &KeyRange::default(),
                usize::MAX,
            )
            .await?;
        items.iter().map(from_json).collect()
    }

    async fn count_subscriptions(&self, tenant_id: &TenantId) -> Result<u64> {
        self.count_index(GSI1, keys::tenant_subscriptions(tenant_id))
            .await
    }
}
