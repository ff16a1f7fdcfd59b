//! The delivery function's handler: the SQS event source hands over a batch; every job is
//! handled concurrently and settled by the core; the jobs that stay in the queue are reported
//! as batch item failures, so Lambda deletes exactly the others.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use hookline_core::Hookline;
use hookline_core::pipeline::stays_in_queue;
use hookline_core::ports::QueueMessage;

/// Only a job whose handling failed (store or queue trouble) stays, and comes back after its
/// visibility timeout; a retry is a new, delayed message the core has already sent. The core
/// decides which ([`stays_in_queue`]); this only translates.
pub async fn handle_sqs(hookline: &Hookline, event: SqsEvent) -> SqsBatchResponse {
    let messages: Vec<QueueMessage> = event
        .records
        .into_iter()
        .map(|record| QueueMessage {
            id: record.message_id.unwrap_or_default(),
            body: record.body.unwrap_or_default(),
            receipt: record.receipt_handle.unwrap_or_default(),
            receive_count: record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
        })
        .collect();
    let outcomes = hookline.process_batch(&messages).await;
    let mut response = SqsBatchResponse::default();
    for (message, outcome) in messages.into_iter().zip(outcomes) {
        if stays_in_queue(outcome.as_ref()) {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
