//! Hookline's AWS adapters: the store traits on one DynamoDB table (`dynamo`, one file per
//! trait, plus the table's stream records in `dynamo::stream`), the queue port on SQS (`sqs`)
//! and the notifier port on SNS (`sns`). The conformance suite that holds the embedded adapters
//! holds these too, against moto's server in tests and AWS in production.

pub mod dynamo;
pub mod sns;
pub mod sqs;

pub use aws_config::SdkConfig;
pub use aws_sdk_dynamodb::Client as DynamoClient;
pub use aws_sdk_secretsmanager::Client as SecretsClient;
pub use aws_sdk_sns::Client as SnsClient;
pub use aws_sdk_sqs::Client as SqsClient;
pub use dynamo::DynamoStore;
pub use sns::SnsNotifier;
pub use sqs::{QueueUrls, SqsQueue};

use hookline_core::Error;

/// An SDK error as a core error, with the SDK's full context for the logs.
pub(crate) fn sdk_error<E, R>(service: &str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> Error
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    Error::internal(format!(
        "{service}: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(&e)
    ))
}

/// The AWS SDK configuration from the environment (region, credentials), pointed at
/// `endpoint` when given: moto's server in tests and local runs, AWS otherwise.
pub async fn sdk_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(ep) = endpoint {
        loader = loader.endpoint_url(ep);
    }
    loader.load().await
}

/// Store and queue on AWS for a long-running process (`hookline dev --backend aws`). With an
/// `endpoint` (an emulator such as moto) the table and queues are created if missing, with the
/// settings the templates declare; against AWS they must exist already.
pub async fn connect(
    endpoint: Option<&str>,
    table: &str,
    queue: &str,
    visibility_timeout: std::time::Duration,
    max_receive_count: u32,
    retention: std::time::Duration,
) -> hookline_core::error::Result<(DynamoStore, SqsQueue)> {
    let config = sdk_config(endpoint).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let urls = if endpoint.is_some() {
        DynamoStore::ensure_table(&dynamo, table).await?;
        SqsQueue::ensure(&sqs, queue, visibility_timeout, max_receive_count).await?
    } else {
        SqsQueue::lookup(&sqs, queue).await?
    };
    let store = DynamoStore::new(dynamo, table, retention);
    let queue = SqsQueue::new(
        sqs,
        urls,
        visibility_timeout,
        std::time::Duration::from_secs(1),
    );
    Ok((store, queue))
}

/// The slow lane's queue of the delivery queue `queue`: `{queue}-slow`, dead-lettering to
/// `{queue}-dlq` like the main lane (created if missing when `endpoint` is given).
pub async fn connect_slow_lane(
    endpoint: Option<&str>,
    queue: &str,
    visibility_timeout: std::time::Duration,
    max_receive_count: u32,
) -> hookline_core::error::Result<SqsQueue> {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(endpoint).await);
    let (name, dlq) = (format!("{queue}-slow"), format!("{queue}-dlq"));
    let urls = if endpoint.is_some() {
        SqsQueue::ensure_with(&sqs, &name, &dlq, visibility_timeout, max_receive_count).await?
    } else {
        SqsQueue::lookup_with(&sqs, &name, &dlq).await?
    };
    Ok(SqsQueue::new(
        sqs,
        urls,
        visibility_timeout,
        std::time::Duration::from_secs(1),
    ))
}

/// The failure notifier for `topic_arn` (`hookline dev --backend aws --notify-topic`).
pub async fn sns_notifier(endpoint: Option<&str>, topic_arn: &str) -> SnsNotifier {
    SnsNotifier::new(SnsClient::new(&sdk_config(endpoint).await), topic_arn)
}

/// Reads a secret's string value (the admin key, kept in Secrets Manager by the templates).
pub async fn secret_string(
    config: &SdkConfig,
    secret_id: &str,
) -> hookline_core::error::Result<String> {
    let out = SecretsClient::new(config)
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| sdk_error("secretsmanager", e))?;
    out.secret_string()
        .map(str::to_string)
        .ok_or_else(|| Error::internal(format!("secretsmanager: {secret_id} has no string value")))
}
