//! `Idempotency-Key` claims on the table: one conditional `PutItem` claims a key that is new,
//! expired or stale, so exactly one of concurrent requests wins; the response is stored on the
//! same item for replays, and DynamoDB's TTL drops it after expiry.

use super::DynamoStore;
use super::codec::{corrupt, get_n, get_s, key, n, s};
use super::keys;
use crate::sdk_error;
use async_trait::async_trait;
use hookline_core::clock::Timestamp;
use hookline_core::error::Result;
use hookline_core::ports::{Claim, IdempotencyRecord, IdempotencyStore};

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn claim_idempotency(
        &self,
        idem_key: &str,
        request_hash: &str,
        now: Timestamp,
        stale_before: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Claim> {
        let mut item = key(keys::idempotency(idem_key));
        item.insert("request_hash".into(), s(request_hash));
        item.insert("claimed_at".into(), n(now.millis()));
        item.insert("expires_at".into(), n(expires_at.millis()));
        item.insert("ttl".into(), n(expires_at.seconds() + 1));
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at <= :now OR (attribute_not_exists(#st) AND claimed_at < :stale)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":now", n(now.millis()))
            .expression_attribute_values(":stale", n(stale_before.millis()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(Claim::Claimed),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                let existing = self
                    .get(keys::idempotency(idem_key))
                    .await?
                    .ok_or_else(|| corrupt("idempotency key"))?;
                Ok(Claim::Existing(IdempotencyRecord {
                    request_hash: get_s(&existing, "request_hash").unwrap_or_default(),
                    response: get_n(&existing, "status")
                        .map(|st| (st as u16, get_s(&existing, "body").unwrap_or_default())),
                }))
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn complete_idempotency(&self, idem_key: &str, status: u16, body: &str) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::idempotency(idem_key))))
            .update_expression("SET #st = :st, body = :body")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":st", n(status as i64))
            .expression_attribute_values(":body", s(body))
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error("dynamodb", e))
    }

    async fn release_idempotency(&self, idem_key: &str) -> Result<()> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::idempotency(idem_key))))
            .condition_expression("attribute_not_exists(#st)")
            .expression_attribute_names("#st", "status")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }
}
