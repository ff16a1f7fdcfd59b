//! The fan-out function's handler: each stream record that stores an event still waiting in the
//! outbox is fanned out; every 5 minutes the sweep schedule fans out what the stream did not.

use crate::BoxError;
use crate::stream::{each_record, stored_event};
use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use hookline_core::Hookline;
use std::time::Duration;

/// How long an event must have waited in the outbox before the sweep fans it out: the stream
/// handles it within seconds normally.
pub const SWEEP_MIN_AGE: Duration = Duration::from_secs(600);
const SWEEP_BATCH: usize = 100;
const SWEEP_ROUNDS: usize = 20;

/// The fan-out function's input: a batch of the table's stream, or the sweep schedule's
/// constant `{"sweep": true}` (every 5 minutes), which fans out events the stream did not.
pub async fn handle_fanout(
    hookline: &Hookline,
    input: serde_json::Value,
) -> Result<serde_json::Value, BoxError> {
    if input.get("sweep") == Some(&serde_json::Value::Bool(true)) {
        let mut swept = 0;
        for _ in 0..SWEEP_ROUNDS {
            let n = hookline.fan_out_stale(SWEEP_MIN_AGE, SWEEP_BATCH).await?;
            swept += n;
            if n < SWEEP_BATCH {
                break;
            }
        }
        tracing::info!(swept, "outbox swept");
        return Ok(serde_json::json!({ "swept": swept }));
    }
    let event: DynamoDbEvent = serde_json::from_value(input)?;
    Ok(serde_json::to_value(handle_stream(hookline, event).await)?)
}

/// A record that fails is reported (by sequence number), so the stream retries from it;
/// fan-out is idempotent, so the retry creates no second delivery.
pub async fn handle_stream(hookline: &Hookline, event: DynamoDbEvent) -> DynamoDbEventResponse {
    each_record(event, "fan-out", |record| async move {
        match stored_event(&record)? {
            Some(stored) if stored.awaiting_fanout => hookline
                .fan_out(&stored.event)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    })
    .await
}
