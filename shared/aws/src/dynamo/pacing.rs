//! Pacing state on the table: one small item per rate-limited subscription, `PACE#{sub}`,
//! holding `next` (its next free send slot, in microseconds). A slot is one conditional
//! `UpdateItem`: while the subscription is busy (`next` at or after now) it moves `next` on by
//! one interval and the slot is the old `next`; when it is idle (or has no item yet) it sets
//! `next` to now + one interval and the slot is now. Concurrent callers each get their own
//! slot; a caller that loses a race between the two cases tries again. The same outcome as the
//! core's `pacing::take_slot`, made atomic in one partition per subscription (at most
//! `MAX_RATE_PER_SEC` writes/s of ~1,000). The item expires a day after its last use.

use super::DynamoStore;
use super::codec::{key, n};
use super::keys;
use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use hookline_core::clock::Timestamp;
use hookline_core::error::{Error, Result};
use hookline_core::ids::SubscriptionId;
use hookline_core::pacing::interval_us;
use hookline_core::ports::PacingStore;

/// Races lost to other callers before giving up (the job then comes back and tries again).
const TRIES: usize = 5;
const KEEP_SECS: i64 = 24 * 3600;

fn conditional_failed<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .is_some_and(|se| se.code() == Some("ConditionalCheckFailedException"))
}

#[async_trait]
impl PacingStore for DynamoStore {
    async fn take_slot(
        &self,
        subscription: &SubscriptionId,
        now: Timestamp,
        per_sec: u32,
    ) -> Result<Timestamp> {
        let now_us = now.millis() * 1_000;
        let interval = interval_us(per_sec);
        let ttl = n(now.seconds() + KEEP_SECS);
        for _ in 0..TRIES {
            let busy = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(keys::pacing(subscription))))
                .update_expression("SET #next = #next + :interval, #ttl = :ttl")
                .condition_expression("#next >= :now")
                .expression_attribute_names("#next", "next")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":interval", n(interval))
                .expression_attribute_values(":now", n(now_us))
                .expression_attribute_values(":ttl", ttl.clone())
                .return_values(ReturnValue::UpdatedOld)
                .send()
                .await;
            match busy {
                Ok(out) => {
                    let slot = out
                        .attributes()
                        .and_then(|a| a.get("next"))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse::<i64>().ok())
                        .ok_or_else(|| Error::internal("pacing item without `next`"))?;
                    return Ok(Timestamp(slot / 1_000));
                }
                Err(e) if conditional_failed(&e) => {}
                Err(e) => return Err(sdk_error("dynamodb", e)),
            }
            let idle = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(keys::pacing(subscription))))
                .update_expression("SET #next = :after, #ttl = :ttl")
                .condition_expression("attribute_not_exists(#next) OR #next < :now")
                .expression_attribute_names("#next", "next")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":after", n(now_us + interval))
                .expression_attribute_values(":now", n(now_us))
                .expression_attribute_values(":ttl", ttl.clone())
                .send()
                .await;
            match idle {
                Ok(_) => return Ok(now),
                Err(e) if conditional_failed(&e) => {}
                Err(e) => return Err(sdk_error("dynamodb", e)),
            }
        }
        Err(Error::internal(
            "pacing: lost every race for a send slot; the job is tried again",
        ))
    }
}
