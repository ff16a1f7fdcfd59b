//! Hookline's Lambda functions, each a thin shell over the core on DynamoDB and SQS:
//! - `api`: the same axum router as `hookline dev`, through `lambda_http`;
//! - `fanout`: the table's DynamoDB stream, turning each newly stored event into jobs;
//! - `delivery`: the SQS event source, delivering a batch concurrently with partial failures;
//! - `notify`: the same stream, filtered to `hookline.delivery.failed` events, publishing each to
//!   the SNS topic ops subscribe to (the failed jobs themselves stay in the DLQ for review).
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
use hookline_core::notify::Notifier;
use hookline_core::ports::QueueMessage;
use hookline_core::retry_schedule::RetrySchedule;
use hookline_core::subscription::{DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, MIN_TIMEOUT_MS};
use hookline_core::{Hookline, Settings};
use std::sync::Arc;
use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a received job stays hidden while a delivery function works on it; the delivery
/// function's timeout must be shorter (the templates set 30 s).
pub const IN_FLIGHT_VISIBILITY: Duration = Duration::from_secs(60);

/// Logs as Lambda's advanced logging controls ask, from `AWS_LAMBDA_LOG_FORMAT` and
/// `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`): see [`log_subscriber`].
pub fn init_logging() {
    let format = std::env::var("AWS_LAMBDA_LOG_FORMAT").ok();
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    tracing::subscriber::set_global_default(log_subscriber(
        format.as_deref(),
        level.as_deref(),
        std::io::stdout,
    ))
    .expect("logging is initialised once");
}

/// With format `JSON`, one JSON object per line with `timestamp` (RFC 3339, which Lambda needs
/// to filter by level), `level`, `message` and the line's fields at the top level (`tenant_id`,
/// `event_id`, `subscription_id`, `delivery_id`, `attempt`, ...), which CloudWatch Logs
/// Insights discovers as fields; text otherwise. `level` is a tracing level; `FATAL` counts
/// as `ERROR`; none or an unknown one is `INFO`.
pub fn log_subscriber<W>(
    format: Option<&str>,
    level: Option<&str>,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::filter::LevelFilter;
    let level = match level.unwrap_or_default().to_ascii_uppercase().as_str() {
        "FATAL" => LevelFilter::ERROR,
        // (tracing reads "" as ERROR)
        "" => LevelFilter::INFO,
        other => other.parse().unwrap_or(LevelFilter::INFO),
    };
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(false)
        .with_max_level(level)
        .with_writer(writer);
    if format.is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        )
    } else {
        Box::new(builder.without_time().finish())
    }
}

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
/// `HOOKLINE_DELIVERY_TIMEOUT_MS`, `HOOKLINE_RETENTION_DAYS`, and for the delivery function
/// `HOOKLINE_MAX_RECEIVE_COUNT` (the queue's redrive threshold, checked against the schedule);
/// `config` comes from [`hookline_aws::sdk_config`] (region, credentials and
/// `AWS_ENDPOINT_URL` from the environment). `event_source_deletes`: the queue is the delivery
/// function's event source, which deletes handled jobs (see
/// [`hookline_aws::SqsQueue::leave_deletes_to_event_source`]).
pub async fn hookline_from_env(
    config: &hookline_aws::SdkConfig,
    event_source_deletes: bool,
) -> Result<Hookline, BoxError> {
    let schedule = RetrySchedule::parse(&env_or(
        "HOOKLINE_RETRY_SCHEDULE",
        hookline_core::retry_schedule::DEFAULT_SCHEDULE,
    ))
    .map_err(|e| format!("HOOKLINE_RETRY_SCHEDULE: {}", e.message))?;
    if let Ok(max) = env("HOOKLINE_MAX_RECEIVE_COUNT") {
        check_max_receive_count(&max, &schedule)?;
    }
    let destination = DestinationPolicy {
        allow_private: env_or("HOOKLINE_ALLOW_PRIVATE_DESTINATIONS", "false") == "true",
        require_https: env_or("HOOKLINE_REQUIRE_HTTPS", "false") == "true",
    };
    let default_timeout_ms: u64 = env_or(
        "HOOKLINE_DELIVERY_TIMEOUT_MS",
        &DEFAULT_TIMEOUT_MS.to_string(),
    )
    .parse()
    .ok()
    .filter(|ms| (MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(ms))
    .ok_or_else(|| {
        format!(
            "HOOKLINE_DELIVERY_TIMEOUT_MS must be milliseconds from {MIN_TIMEOUT_MS} to {MAX_TIMEOUT_MS}"
        )
    })?;
    let retention_days: u64 = env_or("HOOKLINE_RETENTION_DAYS", "30")
        .parse()
        .map_err(|_| "HOOKLINE_RETENTION_DAYS must be a number of days")?;
    let store = hookline_aws::DynamoStore::new(
        hookline_aws::DynamoClient::new(config),
        env("HOOKLINE_TABLE")?,
        Duration::from_secs(retention_days * 24 * 3600),
    );
    let queue = hookline_aws::SqsQueue::new(
        hookline_aws::SqsClient::new(config),
        hookline_aws::QueueUrls {
            queue: env("HOOKLINE_QUEUE_URL")?,
            dead_letter: env("HOOKLINE_DLQ_URL")?,
        },
        IN_FLIGHT_VISIBILITY,
        Duration::ZERO,
    );
    let queue = if event_source_deletes {
        queue.leave_deletes_to_event_source()
    } else {
        queue
    };
    Ok(wire(
        store,
        queue,
        Settings {
            destination,
            schedule,
            default_timeout_ms,
        },
    ))
}

/// The queue's redrive threshold must leave room for every attempt of the schedule: SQS would
/// otherwise move a job to the DLQ before its last attempt, with no failure recorded.
pub fn check_max_receive_count(value: &str, schedule: &RetrySchedule) -> Result<(), BoxError> {
    let max: u32 = value
        .parse()
        .map_err(|_| format!("HOOKLINE_MAX_RECEIVE_COUNT must be a number, not {value:?}"))?;
    if max <= schedule.max_attempts() {
        return Err(format!(
            "HOOKLINE_MAX_RECEIVE_COUNT ({max}) must be above the schedule's {} attempts \
             (recommended: {}); the queue's redrive policy must say the same",
            schedule.max_attempts(),
            schedule.max_receive_count()
        )
        .into());
    }
    Ok(())
}

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

/// The admin key of the API function: read from Secrets Manager at start
/// (`HOOKLINE_ADMIN_KEY_SECRET_ARN`, as the templates deploy it), or given directly in
/// `HOOKLINE_ADMIN_KEY` (local runs such as `cargo lambda watch`).
pub async fn admin_key_from_env(config: &hookline_aws::SdkConfig) -> Result<String, BoxError> {
    if let Ok(arn) = env("HOOKLINE_ADMIN_KEY_SECRET_ARN") {
        return Ok(hookline_aws::secret_string(config, &arn).await?);
    }
    env("HOOKLINE_ADMIN_KEY").map_err(|_| {
        "set HOOKLINE_ADMIN_KEY_SECRET_ARN (or HOOKLINE_ADMIN_KEY) for the admin key".into()
    })
}

/// The notifier of the notify function: the SNS topic `HOOKLINE_NOTIFY_TOPIC_ARN`.
pub fn notifier_from_env(
    config: &hookline_aws::SdkConfig,
) -> Result<hookline_aws::SnsNotifier, BoxError> {
    Ok(hookline_aws::SnsNotifier::new(
        hookline_aws::SnsClient::new(config),
        env("HOOKLINE_NOTIFY_TOPIC_ARN")?,
    ))
}

/// The core over the AWS adapters, with the shared HTTP client. Failure notifications are the
/// notify function's job, so this core publishes none itself.
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
        notifier: None,
        settings,
    }
}

/// The delivery function: every job of the batch concurrently. A job to retry gets its
/// visibility set to the backoff delay and is reported as a batch item failure, so Lambda leaves
/// it in the queue; delivered and dead-lettered jobs are not reported, so Lambda deletes them.
/// A job whose handling failed (store or queue trouble) is reported too and comes back after
/// its visibility timeout.
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

/// The stored event a stream record inserts or updates, if the record is about an event item:
/// `Ok(None)` for other items and removals, `Err` for an event item that cannot be read.
fn stored_event(
    record: &aws_lambda_events::event::dynamodb::EventRecord,
) -> Result<Option<(Event, bool)>, String> {
    let image = serde_json::to_value(&record.change.new_image).unwrap_or_default();
    let is_event = image["pk"]["S"]
        .as_str()
        .is_some_and(|pk| pk.starts_with("EVT#"));
    if record.event_name == "REMOVE" || !is_event {
        return Ok(None);
    }
    let waiting = image["gsi1pk"]["S"] == "OUTBOX";
    match image["body"]["S"]
        .as_str()
        .map(serde_json::from_str::<Event>)
    {
        Some(Ok(e)) => Ok(Some((e, waiting))),
        Some(Err(e)) => Err(format!("stored event is not valid: {e}")),
        None => Err("stream record has no event body".to_string()),
    }
}

/// Runs `step` on each record in order; the first failure is reported by sequence number and
/// ends the batch, so the stream retries from it (records after it are retried with it).
async fn each_record<F, Fut>(event: DynamoDbEvent, what: &str, mut step: F) -> DynamoDbEventResponse
where
    F: FnMut(aws_lambda_events::event::dynamodb::EventRecord) -> Fut,
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

/// The fan-out function: each stream record that stores an event still waiting in the outbox
/// is fanned out. A record that fails is reported (by sequence number), so the stream retries
/// from it; fan-out is idempotent, so the retry creates no second delivery.
pub async fn handle_stream(hookline: &Hookline, event: DynamoDbEvent) -> DynamoDbEventResponse {
    each_record(event, "fan-out", |record| async move {
        match stored_event(&record)? {
            Some((e, true)) => hookline
                .fan_out(&e)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    })
    .await
}

/// The notify function: each newly stored `hookline.delivery.failed` event is published to the
/// notification topic. A failed publish is reported, so the stream retries it (at least once:
/// subscribers can deduplicate on the event id in the message).
pub async fn handle_notify(notifier: &dyn Notifier, event: DynamoDbEvent) -> DynamoDbEventResponse {
    each_record(event, "notification", |record| async move {
        if record.event_name != "INSERT" {
            return Ok(());
        }
        let Some((e, _)) = stored_event(&record)? else {
            return Ok(());
        };
        hookline_core::notify::publish(notifier, &e)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_receive_count_must_leave_room_for_every_attempt() {
        let schedule =
            RetrySchedule::parse(hookline_core::retry_schedule::DEFAULT_SCHEDULE).unwrap();
        assert_eq!(schedule.max_attempts(), 8);
        assert!(check_max_receive_count("11", &schedule).is_ok());
        assert!(check_max_receive_count("9", &schedule).is_ok());
        let err = check_max_receive_count("8", &schedule)
            .unwrap_err()
            .to_string();
        assert!(err.contains("recommended: 11"), "{err}");
        assert!(check_max_receive_count("eleven", &schedule).is_err());
    }
}
