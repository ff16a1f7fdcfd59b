//! `Idempotency-Key` responses on the table. A keyed create is one `TransactWriteItems` of the
//! new item and the key's response (conditional on the key holding no unexpired response), so
//! of racing duplicates one write wins and the others replay it, and a crash leaves both or
//! neither; DynamoDB's TTL drops the response after expiry. An unkeyed create stays one
//! `PutItem`.

use super::DynamoStore;
use super::codec::{Item, get_n, get_s, key, n, s};
use super::keys;
use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use hookline_core::clock::Timestamp;
use hookline_core::error::{Error, Result};
use hookline_core::ports::{Created, IdempotencyRecord, IdempotencyStore, KeyedResponse};

/// The record an item holds, if it holds an unexpired response. Items without a status are
/// claims of an earlier version, which never completed: they hold nothing.
fn record_of(item: &Item, now: Timestamp) -> Option<IdempotencyRecord> {
    let status = get_n(item, "status")?;
    if get_n(item, "expires_at")? <= now.millis() {
        return None;
    }
    Some(IdempotencyRecord {
        request_hash: get_s(item, "request_hash").unwrap_or_default(),
        status: status as u16,
        body: get_s(item, "body").unwrap_or_default(),
    })
}

fn response_item(k: &KeyedResponse) -> Item {
    let mut item = key(keys::idempotency(&k.key));
    item.insert("request_hash".into(), s(&k.record.request_hash));
    item.insert("claimed_at".into(), n(k.now.millis()));
    item.insert("expires_at".into(), n(k.expires_at.millis()));
    item.insert("ttl".into(), n(k.expires_at.seconds() + 1));
    item.insert("status".into(), n(k.record.status as i64));
    item.insert("body".into(), s(&k.record.body));
    item
}

impl DynamoStore {
    /// Writes an item that must not exist yet and, when keyed, the key's response with it.
    pub(super) async fn put_new_keyed(
        &self,
        item: Item,
        keyed: Option<&KeyedResponse>,
    ) -> Result<Created> {
        let Some(k) = keyed else {
            self.put_new(item).await?;
            return Ok(Created::Stored);
        };
        let new_item = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("complete put");
        let response = Put::builder()
            .table_name(&self.table)
            .set_item(Some(response_item(k)))
            .condition_expression(
                "attribute_not_exists(pk) OR attribute_not_exists(#st) OR expires_at <= :now",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":now", n(k.now.millis()))
            .build()
            .expect("complete put");
        let out = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(new_item).build())
            .transact_items(TransactWriteItem::builder().put(response).build())
            .send()
            .await;
        match out {
            Ok(_) => Ok(Created::Stored),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(_))
                ) =>
            {
                // Either the key holds a response (another request won) or the write met
                // something else (throttling, or a racing transaction still committing: read
                // again shortly). Only a stored response is an answer; anything else is an
                // error the caller may retry, having created nothing.
                for wait_ms in [0, 25, 100] {
                    tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
                    if let Some(earlier) = self.idempotency_record(&k.key, k.now).await? {
                        return Ok(Created::KeyTaken(earlier));
                    }
                }
                Err(Error::internal(format!(
                    "dynamodb: keyed write cancelled: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )))
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn idempotency_record(
        &self,
        idem_key: &str,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>> {
        Ok(self
            .get(keys::idempotency(idem_key), true)
            .await?
            .and_then(|item| record_of(&item, now)))
    }
}
