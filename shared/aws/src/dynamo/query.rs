//! Reading index partitions: in sort-key order within a key range, one partition or several
//! (the shards of one listing) merged, and counted; and reading the items an index lists with
//! `BatchGetItem`.

use super::DynamoStore;
use super::codec::{Item, key, s};
use super::keys::{self, GSI1, GSI2};
use crate::sdk_error;
use aws_sdk_dynamodb::types::{AttributeValue as AV, KeysAndAttributes, Select};
use futures::{StreamExt, TryStreamExt};
use hookline_core::TenantId;
use hookline_core::error::{Error, Result};
use std::collections::HashMap;

/// Items one `Query` page is asked for: DynamoDB needs a positive `Limit`.
const PAGE: usize = 1000;
/// Keys one `BatchGetItem` takes.
const BATCH_GET: usize = 100;
/// `BatchGetItem`s of one page in flight at once: a page of 1,000 in about one round trip.
const GET_CONCURRENCY: usize = 10;

/// A range of sort keys: after a cursor (exclusive), from a bound (inclusive), up to a bound
/// (inclusive). Empty bounds read the whole partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct KeyRange {
    pub after: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl KeyRange {
    pub fn after(cursor: Option<String>) -> Self {
        KeyRange {
            after: cursor,
            ..KeyRange::default()
        }
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &str) -> bool {
        self.lower()
            .is_none_or(|(lo, exclusive)| if exclusive { key > lo } else { key >= lo })
            && self.to.as_ref().is_none_or(|hi| key <= hi.as_str())
    }

    /// The lower bound, and whether it is exclusive (a cursor).
    fn lower(&self) -> Option<(&str, bool)> {
        match (&self.after, &self.from) {
            (Some(a), Some(f)) if a < f => Some((f, false)),
            (Some(a), _) => Some((a, true)),
            (None, Some(f)) => Some((f, false)),
            (None, None) => None,
        }
    }

    /// The key condition on `{index}sk` and its values; `None` when the range is empty.
    fn condition(&self, sk: &str) -> Option<(Option<String>, HashMap<String, AV>)> {
        let mut values = HashMap::new();
        let condition = match (self.lower(), &self.to) {
            (None, None) => None,
            (Some((lo, exclusive)), None) => {
                values.insert(":lo".to_string(), s(lo));
                Some(format!("{sk} {} :lo", if exclusive { ">" } else { ">=" }))
            }
            (None, Some(hi)) => {
                values.insert(":hi".to_string(), s(hi.clone()));
                Some(format!("{sk} <= :hi"))
            }
            (Some((lo, _)), Some(hi)) if lo > hi.as_str() => return None,
            (Some((lo, _)), Some(hi)) => {
                // BETWEEN is inclusive: an exclusive cursor is dropped from the page.
                values.insert(":lo".to_string(), s(lo));
                values.insert(":hi".to_string(), s(hi.clone()));
                Some(format!("{sk} BETWEEN :lo AND :hi"))
            }
        };
        Some((condition, values))
    }
}

/// The index partition that lists one kind of item: of one tenant on gsi1, of every tenant on
/// gsi2.
pub(super) fn listing(kind: keys::Listed, tenant_id: Option<&TenantId>) -> (&'static str, String) {
    match tenant_id {
        Some(t) => (GSI1, kind.of_tenant(t)),
        None => (GSI2, kind.of_everyone().to_string()),
    }
}

/// The key attributes of `index`; the table's own for [`TABLE`].
fn key_names(index: &str) -> (String, String) {
    match index {
        TABLE => ("pk".into(), "sk".into()),
        _ => (format!("{index}pk"), format!("{index}sk")),
    }
}

/// Queries the table itself rather than an index.
pub(super) const TABLE: &str = "";

/// The sort key an entry has on `index`.
pub(super) fn sort_key<'a>(entry: &'a Item, index: &str) -> &'a str {
    entry
        .get(&key_names(index).1)
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

impl DynamoStore {
    /// Queries an index partition in sort-key order within `range`, until `limit` entries or
    /// the partition ends.
    pub(super) async fn query_index(
        &self,
        index: &str,
        partition: String,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<Item>> {
        let (pk, sk) = key_names(index);
        let Some((on_sort_key, mut values)) = range.condition(&sk) else {
            return Ok(Vec::new());
        };
        values.insert(":p".to_string(), s(partition));
        let condition = match on_sort_key {
            Some(c) => format!("{pk} = :p AND {c}"),
            None => format!("{pk} = :p"),
        };
        let exclusive = range.lower().filter(|(_, x)| *x).map(|(lo, _)| lo);
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name((index != TABLE).then(|| index.to_string()))
                // the table itself can be read strongly consistent (an index cannot)
                .set_consistent_read((index == TABLE).then_some(true))
                .key_condition_expression(&condition)
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start.take())
                .limit((limit - out.len()).min(PAGE) as i32 + 1)
                .send()
                .await
                .map_err(|e| sdk_error("dynamodb", e))?;
            out.extend(
                page.items()
                    .iter()
                    .filter(|i| Some(sort_key(i, index)) != exclusive)
                    .cloned(),
            );
            match page.last_evaluated_key() {
                Some(k) if out.len() < limit => start = Some(k.clone()),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The first `limit` entries of several partitions of `index` (the shards of one listing)
    /// within `range`, merged in sort-key order. Each shard is read concurrently, at most
    /// `limit` entries from each.
    pub(super) async fn query_shards(
        &self,
        index: &str,
        partitions: Vec<String>,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<Item>> {
        let pages = futures::future::try_join_all(
            partitions
                .into_iter()
                .map(|p| self.query_index(index, p, range, limit)),
        )
        .await?;
        let mut merged: Vec<Item> = pages.into_iter().flatten().collect();
        merged.sort_by(|a, b| sort_key(a, index).cmp(sort_key(b, index)));
        merged.truncate(limit);
        Ok(merged)
    }

    /// The items alone in partitions `pks`, in that order, read strongly consistent with
    /// `BatchGetItem` (100 keys a request, unprocessed keys asked again); a missing item (gone
    /// with its TTL) is left out.
    pub(super) async fn get_many(&self, pks: &[String]) -> Result<Vec<Item>> {
        // a page's BatchGetItems (100 keys each) go out together, a few at a time
        let gets: Vec<_> = pks
            .chunks(BATCH_GET)
            .map(|chunk| self.get_batch(chunk))
            .collect();
        let batches: Vec<Vec<Item>> = futures::stream::iter(gets)
            .buffer_unordered(GET_CONCURRENCY)
            .try_collect()
            .await?;
        let mut found: HashMap<String, Item> = batches
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let pk = item.get("pk").and_then(|v| v.as_s().ok())?.clone();
                Some((pk, item))
            })
            .collect();
        Ok(pks.iter().filter_map(|pk| found.remove(pk)).collect())
    }

    /// One `BatchGetItem` of up to 100 keys, strongly consistent, asked again (with a growing
    /// pause) for the keys DynamoDB left unprocessed.
    async fn get_batch(&self, chunk: &[String]) -> Result<Vec<Item>> {
        let mut items = Vec::with_capacity(chunk.len());
        let mut wanted = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|pk| key(pk.clone())).collect()))
                .consistent_read(true)
                .build()
                .expect("complete keys"),
        );
        let mut rounds = 0;
        while let Some(keys) = wanted.take() {
            rounds += 1;
            if rounds > 8 {
                return Err(Error::internal(
                    "dynamodb: BatchGetItem kept keys unprocessed",
                ));
            }
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys)
                .send()
                .await
                .map_err(|e| sdk_error("dynamodb", e))?;
            items.extend(
                out.responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            wanted = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .filter(|k| !k.keys().is_empty())
                .cloned();
            if wanted.is_some() {
                tokio::time::sleep(std::time::Duration::from_millis(20 << rounds)).await;
            }
        }
        Ok(items)
    }

    /// Counts a partition's items without reading them out (`Select::Count`, paged), of an
    /// index or of the table itself (`TABLE`, read strongly consistent).
    pub(super) async fn count_index(&self, index: &str, partition: String) -> Result<u64> {
        let (pk, _) = key_names(index);
        let mut total = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name((index != TABLE).then(|| index.to_string()))
                .set_consistent_read((index == TABLE).then_some(true))
                .key_condition_expression(format!("{pk} = :p"))
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
