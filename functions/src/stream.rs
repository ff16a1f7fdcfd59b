//! Reading the table's stream: which records store an event, and the batch rule both stream
//! functions follow (stop at the first failure and report it, so the stream retries from it).

use aws_lambda_events::event::dynamodb::{Event as DynamoDbEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use hookline_aws::dynamo::stream::StoredEvent;

/// The stored event a record inserts or updates, if the record is about an event item:
/// `Ok(None)` for other items and removals, `Err` for an event item that cannot be read. The
/// item's shape is the store's business ([`hookline_aws::dynamo::stream`]).
pub(crate) fn stored_event(record: &EventRecord) -> Result<Option<StoredEvent>, String> {
    if record.event_name == "REMOVE" {
        return Ok(None);
    }
    let image = serde_json::to_value(&record.change.new_image).unwrap_or_default();
    hookline_aws::dynamo::stream::stored_event(&image)
}

/// Runs `step` on each record in order; the first failure is reported by sequence number and
/// ends the batch, so the stream retries from it (records after it are retried with it).
pub(crate) async fn each_record<F, Fut>(
    event: DynamoDbEvent,
    what: &str,
    mut step: F,
) -> DynamoDbEventResponse
where
    F: FnMut(EventRecord) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut response = DynamoDbEventResponse::default();
    for record in event.records {
        let sequence_number = record.change.sequence_number.clone();
        if let Err(e) = step(record).await {
            tracing::error!(error = %e, sequence_number = ?sequence_number, "{what} failed; the stream will retry");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = sequence_number;
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}
