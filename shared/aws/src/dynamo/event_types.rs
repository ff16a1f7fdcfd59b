//! Event types on the table: one item per type under its scope's partition (`ETYPE#*` for the
//! deployment, `ETYPE#T#{tenant}`), sort key the name, stored whole as JSON with its revision
//! beside it for conditional writes. Never on the hot path's write side: processes read a
//! scope with one `Query` per cache ttl.

use super::DynamoStore;
use super::codec::{from_json, n, s, to_json};
use super::keys;
use super::query::{KeyRange, TABLE};
use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use hookline_core::TenantId;
use hookline_core::error::Result;
use hookline_core::event_type::EventType;
use hookline_core::ports::EventTypeStore;
use std::collections::HashMap;

fn type_key(tenant: Option<&TenantId>, name: &str) -> super::codec::Item {
    HashMap::from([
        ("pk".to_string(), s(keys::event_types(tenant))),
        ("sk".to_string(), s(name)),
    ])
}

fn type_item(t: &EventType) -> super::codec::Item {
    let mut item = type_key(t.tenant_id.as_ref(), &t.name);
    item.insert("body".into(), s(to_json(t)));
    item.insert("revision".into(), n(t.revision as i64));
    item
}

#[async_trait]
impl EventTypeStore for DynamoStore {
    async fn insert_event_type(&self, t: &EventType) -> Result<bool> {
        self.put_if(type_item(t), "attribute_not_exists(pk)", None)
            .await
    }

    async fn get_event_type(
        &self,
        tenant: Option<&TenantId>,
        name: &str,
    ) -> Result<Option<EventType>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(type_key(tenant, name)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        out.item().map(from_json).transpose()
    }

    async fn update_event_type(&self, t: &EventType, revision: u64) -> Result<bool> {
        let values = HashMap::from([(":r".to_string(), n(revision as i64))]);
        self.put_if(type_item(t), "revision = :r", Some(values))
            .await
    }

    async fn delete_event_type(&self, tenant: Option<&TenantId>, name: &str) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(type_key(tenant, name)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }

    async fn list_event_types(&self, tenant: Option<&TenantId>) -> Result<Vec<EventType>> {
        let items = self
            .query_index(
                TABLE,
                keys::event_types(tenant),
                &KeyRange::default(),
                usize::MAX,
            )
            .await?;
        items.iter().map(from_json).collect()
    }
}
