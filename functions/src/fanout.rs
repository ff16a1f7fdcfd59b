//! The fan-out function's handler: each stream record that stores an event still waiting in the
//! outbox is fanned out; every 5 minutes the sweep schedule fans out what the stream did not.

use crate::BoxError;
use crate::stream::stored_event;
use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
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

/// The batch's events are fanned out together ([`Hookline::fan_out_batch`]); the first record
/// that fails (unreadable, or its event not fanned out) is reported by sequence number, so the
/// stream retries from it. Fan-out is idempotent, so the retry creates no second delivery.
pub async fn handle_stream(hookline: &Hookline, event: DynamoDbEvent) -> DynamoDbEventResponse {
    let mut events = Vec::new();
    let mut unreadable = None;
    for record in event.records {
        let sequence_number = record.change.sequence_number.clone();
        match stored_event(&record) {
            Ok(Some(stored)) if stored.awaiting_fanout => {
                events.push((sequence_number, stored.event))
            }
            Ok(_) => {}
            Err(e) => {
                unreadable = Some((sequence_number, e));
                break;
            }
        }
    }
    let batch: Vec<_> = events.iter().map(|(_, e)| e.clone()).collect();
    let report = hookline.fan_out_batch(&batch).await;
    let failed = match report.error {
        Some(e) => Some((events[report.done].0.clone(), e.to_string())),
        None => unreadable,
    };
    let mut response = DynamoDbEventResponse::default();
    if let Some((sequence_number, error)) = failed {
        tracing::error!(%error, sequence_number = ?sequence_number, "fan-out failed; the stream will retry");
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = sequence_number;
        response.batch_item_failures.push(failure);
    }
    response
}
