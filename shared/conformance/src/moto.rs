//! Test fixtures on moto's server (started by `tests/run.sh`, which sets
//! `HOOKLINE_TEST_AWS_ENDPOINT`): the endpoint, unique resource names, and an SNS topic with an
//! SQS queue subscribed to it, to read what was published; SDK clients that count the requests
//! they send.

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// moto's endpoint; panics with the way to get one when the tests run without it.
pub fn endpoint() -> String {
    std::env::var("HOOKLINE_TEST_AWS_ENDPOINT").expect(
        "HOOKLINE_TEST_AWS_ENDPOINT is not set: run `bash tests/run.sh`, which starts moto's server",
    )
}

/// A name no other test uses (tests share one moto server).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .load()
        .await
}

/// A message published to a topic, as its subscribed queue received it.
#[derive(Debug, Clone)]
pub struct Published {
    pub subject: Option<String>,
    pub message: String,
    pub attributes: HashMap<String, String>,
}

/// An SNS topic whose messages land in an SQS queue.
pub struct TopicInbox {
    pub topic_arn: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl TopicInbox {
    pub async fn create() -> TopicInbox {
        let config = sdk_config().await;
        let sns = aws_sdk_sns::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let name = unique("alerts");
        let topic_arn = sns
            .create_topic()
            .name(&name)
            .send()
            .await
            .unwrap()
            .topic_arn()
            .unwrap()
            .to_string();
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_string();
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
        TopicInbox {
            topic_arn,
            queue_url,
            sqs,
        }
    }

    /// Waits until `n` messages arrived (or `timeout` passed) and returns those that did.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Published> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        while got.len() < n && Instant::now() < deadline {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for m in out.messages() {
                // SNS wraps what was published in its own JSON envelope.
                let envelope: serde_json::Value =
                    serde_json::from_str(m.body().unwrap_or_default()).unwrap();
                let attributes = envelope["MessageAttributes"]
                    .as_object()
                    .map(|attrs| {
                        attrs
                            .iter()
                            .map(|(k, v)| (k.clone(), v["Value"].as_str().unwrap_or("").into()))
                            .collect()
                    })
                    .unwrap_or_default();
                got.push(Published {
                    subject: envelope["Subject"].as_str().map(str::to_string),
                    message: envelope["Message"].as_str().unwrap_or_default().to_string(),
                    attributes,
                });
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .unwrap();
            }
        }
        got
    }
}

/// Counts the HTTP requests SDK clients send, per `Service.Operation` (retries included: it
/// counts what goes on the wire, which is what AWS bills).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<BTreeMap<String, usize>>>);

impl RequestCounter {
    /// The counts since the last call, and starts again from zero.
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service(), m.name()))
            .unwrap_or_else(|| "unknown".to_string());
        *self.0.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}

/// DynamoDB, SQS and SNS clients on moto whose requests `counter` counts.
pub async fn counted_clients(
    counter: &RequestCounter,
) -> (
    aws_sdk_dynamodb::Client,
    aws_sdk_sqs::Client,
    aws_sdk_sns::Client,
) {
    let config = sdk_config().await;
    let dynamo = aws_sdk_dynamodb::config::Builder::from(&config)
        .interceptor(counter.clone())
        .build();
    let sqs = aws_sdk_sqs::config::Builder::from(&config)
        .interceptor(counter.clone())
        .build();
    let sns = aws_sdk_sns::config::Builder::from(&config)
        .interceptor(counter.clone())
        .build();
    (
        aws_sdk_dynamodb::Client::from_conf(dynamo),
        aws_sdk_sqs::Client::from_conf(sqs),
        aws_sdk_sns::Client::from_conf(sns),
    )
}
