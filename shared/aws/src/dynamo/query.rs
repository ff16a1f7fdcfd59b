//! Reading index partitions: in id order after a cursor, optionally filtered, and counted. A
//! filtered query cannot use DynamoDB's `Limit` (it limits items read, not matched), so it pages
//! until enough items matched.

use super::DynamoStore;
use super::codec::{Item, s};
use super::keys::{self, GSI1, GSI2};
use crate::sdk_error;
use aws_sdk_dynamodb::types::{AttributeValue as AV, Select};
use hookline_core::TenantId;
use hookline_core::error::Result;
use std::collections::HashMap;

/// A query filter: expression, attribute-name aliases, values.
pub(super) struct Filter {
    pub expression: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AV>,
}

/// The index partition that lists one kind of item: of one tenant on gsi1, of every tenant on
/// gsi2.
pub(super) fn listing(kind: keys::Listed, tenant_id: Option<&TenantId>) -> (&'static str, String) {
    match tenant_id {
        Some(t) => (GSI1, kind.of_tenant(t)),
        None => (GSI2, kind.of_everyone().to_string()),
    }
}

impl DynamoStore {
    /// Queries an index partition in order, after a cursor, with an optional filter, until
    /// `limit` items matched or the partition ends.
    pub(super) async fn query_index(
        &self,
        index: &str,
        partition: String,
        after: Option<String>,
        filter: Option<Filter>,
        limit: usize,
    ) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut values = HashMap::from([(":p".to_string(), s(partition.clone()))]);
            // DynamoDB refuses empty key values: without a cursor, the whole partition.
            let condition = match &after {
                Some(a) => {
                    values.insert(":a".to_string(), s(a.clone()));
                    format!("{index}pk = :p AND {index}sk > :a")
                }
                None => format!("{index}pk = :p"),
            };
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(condition)
                .set_exclusive_start_key(start.take());
            if let Some(f) = &filter {
                q = q
                    .filter_expression(&f.expression)
                    .set_expression_attribute_names(Some(f.names.clone()));
                values.extend(f.values.clone());
            } else {
                q = q.limit((limit - out.len()) as i32);
            }
            let page = q
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .map_err(|e| sdk_error("dynamodb", e))?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if out.len() < limit => start = Some(k.clone()),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Counts a partition's items without reading them out (`Select::Count`, paged).
    pub(super) async fn count_index(&self, index: &str, partition: String) -> Result<u64> {
        let mut total = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(format!("{index}pk = :p"))
                .expression_attribute_values(":p", s(partition.clone()))
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("dynamodb", e))?;
            total += page.count() as u64;
            match page.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(total),
            }
        }
    }
}
