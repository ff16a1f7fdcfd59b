//! Hookline's Lambda functions, each a thin shell over the core on DynamoDB and SQS:
//! - `api`: the same axum router as `hookline dev`, through `lambda_http`;
//! - `fanout`: the table's DynamoDB stream, turning each newly stored event into jobs;
//! - `delivery`: the SQS event source, delivering a batch concurrently with partial failures.
//!
//! Configuration is by environment variables (one table in the README). The handlers are plain
//! functions of their dependencies, tested with the `events/` samples against moto.

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use hookline_core::clock::SystemClock;
use hookline_core::destination::DestinationPolicy;
use hookline_core::dispatch::Disposition;
use hookline_core::event::Event;
use hookline_core::ports::QueueMessage;
use hookline_core::retry_schedule::RetrySchedule;
use hookline_core::{Hookline, Settings};
use std::sync::Arc;
use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a received job stays hidden while a delivery function works on it; the delivery
/// function's timeout must be shorter (the templates set 30 s).
pub const IN_FLIGHT_VISIBILITY: Duration = Duration::from_secs(60);

fn env(name: &str) -> Result<String, BoxError> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set").into())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// Builds the core from the environment: `HOOKLINE_TABLE`, `HOOKLINE_QUEUE_URL`,
/// `HOOKLINE_DLQ_URL`, `HOOKLINE_RETRY_SCHEDULE`, `HOOKLINE_REQUIRE_HTTPS`,
/// `HOOKLINE_RETENTION_DAYS`; the SDK reads region, credentials and `AWS_ENDPOINT_URL`.
pub async fn hookline_from_env() -> Result<Hookline, BoxError> {
    let schedule = RetrySchedule::parse(&env_or(
        "HOOKLINE_RETRY_SCHEDULE",
        hookline_core::retry_schedule::DEFAULT_SCHEDULE,
    ))
    .map_err(|e| format!("HOOKLINE_RETRY_SCHEDULE: {}", e.message))?;
    let destination = DestinationPolicy {
        allow_private: env_or("HOOKLINE_ALLOW_PRIVATE_DESTINATIONS", "false") == "true",
        require_https: env_or("HOOKLINE_REQUIRE_HTTPS", "false") == "true",
    };
    let retention_days: u64 = env_or("HOOKLINE_RETENTION_DAYS", "30").parse()?;
    let config = hookline_aws::sdk_config(None).await;
    let store = hookline_aws::DynamoStore::new(
        hookline_aws::DynamoClient::new(&config),
        env("HOOKLINE_TABLE")?,
        Duration::from_secs(retention_days * 24 * 3600),
    );
    let queue = hookline_aws::SqsQueue::new(
        hookline_aws::SqsClient::new(&config),
        hookline_aws::QueueUrls {
            queue: env("HOOKLINE_QUEUE_URL")?,
            dead_letter: env("HOOKLINE_DLQ_URL")?,
        },
        IN_FLIGHT_VISIBILITY,
        Duration::ZERO,
    );
    Ok(wire(
        store,
        queue,
        Settings {
            destination,
            schedule,
        },
    ))
}

/// The core over the AWS adapters, with the shared HTTP client.
pub fn wire(
    store: hookline_aws::DynamoStore,
    queue: hookline_aws::SqsQueue,
    settings: Settings,
) -> Hookline {
    Hookline {
        store: Arc::new(store),
        queue: Arc::new(queue),
        sender: Arc::new(hookline_sender::HttpSender::new(settings.destination)),
        clock: Arc::new(SystemClock),
        settings,
    }
}

/// The delivery function: every job of the batch concurrently. A job to retry gets its
/// visibility set to the backoff delay and is reported as a batch item failure, so Lambda leaves
/// it in the queue; delivered and dead-lettered jobs are deleted. A job whose handling failed
/// (store or queue trouble) is reported too and comes back after its visibility timeout.
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
    // Jobs to retry stay in the queue (their visibility is already the backoff delay), and so
    // do jobs whose handling failed.
    let results = messages
        .into_iter()
        .zip(outcomes)
        .map(|(m, outcome)| match outcome {
            Some(Disposition::Retry(_)) | None => Some(m.id),
            Some(_) => None,
        });
    let mut response = SqsBatchResponse::default();
    for id in results.into_iter().flatten() {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// The fan-out function: each stream record that stores an event still waiting in the outbox
/// is fanned out. A record that fails is reported (by sequence number), so the stream retries
/// from it; fan-out is idempotent, so the retry creates no second delivery.
pub async fn handle_stream(hookline: &Hookline, event: DynamoDbEvent) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in event.records {
        let image = serde_json::to_value(&record.change.new_image).unwrap_or_default();
        let waiting = image["gsi1pk"]["S"] == "OUTBOX"
            && image["pk"]["S"]
                .as_str()
                .is_some_and(|pk| pk.starts_with("EVT#"));
        if record.event_name == "REMOVE" || !waiting {
            continue;
        }
        let outcome = match image["body"]["S"]
            .as_str()
            .map(serde_json::from_str::<Event>)
        {
            Some(Ok(e)) => hookline
                .fan_out(&e)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Some(Err(e)) => Err(format!("stored event is not valid: {e}")),
            None => Err("stream record has no event body".to_string()),
        };
        if let Err(e) = outcome {
            tracing::error!(error = %e, sequence_number = ?record.change.sequence_number, "fan-out failed; the stream will retry");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            // Records after a failure are retried with it, in order.
            break;
        }
    }
    response
}
