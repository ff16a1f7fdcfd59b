//! Hookline's Lambda functions, each a thin shell over the core on DynamoDB and SQS:
//! - `api`: the same axum router as `hookline dev`, through `lambda_http`;
//! - `fanout` ([`fanout`]): the table's DynamoDB stream, turning each newly stored event into jobs;
//! - `delivery` ([`delivery`]): the SQS event source, delivering a batch concurrently with
//!   partial batch failures;
//! - `notify` ([`notify`]): the same stream, filtered to `hookline.delivery.failed` events,
//!   publishing each to the SNS topic ops subscribe to (the failed jobs stay in the DLQ).
//!
//! Settings come from the environment through the core's one [`Config`] (one table in the
//! README); this file wires the adapters. The handlers are plain functions of their
//! dependencies, tested with the `events/` samples against moto.

pub mod delivery;
pub mod fanout;
mod logging;
pub mod notify;
mod stream;

pub use delivery::handle_sqs;
pub use fanout::{SWEEP_MIN_AGE, handle_fanout, handle_stream};
pub use logging::{init_logging, log_subscriber};
pub use notify::handle_notify;

use hookline_core::Config;
use hookline_core::clock::SystemClock;
use hookline_core::pipeline::Removal;
use hookline_core::pipeline::lane::Lane;
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

/// Builds the core from the environment: the settings of [`Config`] (`HOOKLINE_RETRY_SCHEDULE`,
/// `HOOKLINE_REQUIRE_HTTPS`, `HOOKLINE_DELIVERY_TIMEOUT_MS`, `HOOKLINE_RETENTION_DAYS`, and for
/// the delivery function `HOOKLINE_MAX_RECEIVE_COUNT`, checked against the schedule) and the
/// resources `HOOKLINE_TABLE`, `HOOKLINE_QUEUE_URL` (the main lane's), `HOOKLINE_DLQ_URL`, and
/// for the delivery functions `HOOKLINE_SLOW_QUEUE_URL` (the slow lane's queue) with
/// `HOOKLINE_LANE` (`main` or `slow`: the lane this function consumes); `sdk` comes from
/// [`hookline_aws::sdk_config`] (region, credentials and `AWS_ENDPOINT_URL` from the
/// environment). `removal`: the delivery function's event source deletes handled jobs.
/// How long the delivery function keeps a subscription it read: a pause, deletion, new secret
/// or URL reaches its attempts within this time, and it reads a busy subscription once per
/// period instead of once per attempt.
pub const SUBSCRIPTION_CACHE: Duration = Duration::from_secs(5);

pub async fn hookline_from_env(
    sdk: &hookline_aws::SdkConfig,
    removal: Removal,
) -> Result<Hookline, BoxError> {
    let config = Config::from_env()?;
    let store = hookline_aws::DynamoStore::new(
        hookline_aws::DynamoClient::new(sdk),
        env("HOOKLINE_TABLE")?,
        config.retention(),
    );
    let sqs = |queue: String| -> Result<hookline_aws::SqsQueue, BoxError> {
        Ok(hookline_aws::SqsQueue::new(
            hookline_aws::SqsClient::new(sdk),
            hookline_aws::QueueUrls {
                queue,
                dead_letter: env("HOOKLINE_DLQ_URL")?,
            },
            IN_FLIGHT_VISIBILITY,
            Duration::ZERO,
        ))
    };
    let hookline = wire(
        store,
        sqs(env("HOOKLINE_QUEUE_URL")?)?,
        config.settings(removal),
    );
    let Ok(slow) = env("HOOKLINE_SLOW_QUEUE_URL") else {
        return Ok(hookline);
    };
    let lane = match std::env::var("HOOKLINE_LANE") {
        Ok(name) => Lane::parse(&name).ok_or("HOOKLINE_LANE must be `main` or `slow`")?,
        Err(_) => Lane::Main,
    };
    Ok(hookline.with_slow_lane(Arc::new(sqs(slow)?)).in_lane(lane))
}

/// The admin key of the API function: read from Secrets Manager at start
/// (`HOOKLINE_ADMIN_KEY_SECRET_ARN`, as the templates deploy it), or given directly in
/// `HOOKLINE_ADMIN_KEY` (local runs such as `cargo lambda watch`).
pub async fn admin_key_from_env(sdk: &hookline_aws::SdkConfig) -> Result<String, BoxError> {
    if let Ok(arn) = env("HOOKLINE_ADMIN_KEY_SECRET_ARN") {
        return Ok(hookline_aws::secret_string(sdk, &arn).await?);
    }
    env("HOOKLINE_ADMIN_KEY").map_err(|_| {
        "set HOOKLINE_ADMIN_KEY_SECRET_ARN (or HOOKLINE_ADMIN_KEY) for the admin key".into()
    })
}

/// The notifier of the notify function: the SNS topic `HOOKLINE_NOTIFY_TOPIC_ARN`.
pub fn notifier_from_env(
    sdk: &hookline_aws::SdkConfig,
) -> Result<hookline_aws::SnsNotifier, BoxError> {
    Ok(hookline_aws::SnsNotifier::new(
        hookline_aws::SnsClient::new(sdk),
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
    Hookline::new(
        Arc::new(store),
        Arc::new(queue),
        Arc::new(hookline_sender::HttpSender::new(settings.destination)),
        Arc::new(SystemClock),
        None,
        settings,
    )
}
