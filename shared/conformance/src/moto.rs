//! Test fixtures on moto's server: the endpoint (the one `tests/run.sh` starts, named by
//! `HOOKLINE_TEST_AWS_ENDPOINT`, else one started for this process), unique resource names, an
//! SNS topic with an SQS queue subscribed to it to read what was published, and SDK clients that
//! count the requests they send.

mod server;

use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The moto this process talks to, and the account settings every SDK client uses with it.
struct Moto {
    endpoint: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    /// Only when this process started the server; kept so that it lives as long as we do.
    _server: Option<server::Server>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

/// The dummy account moto is used with, set in the environment where unset.
const DEFAULT_ENV: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

fn moto() -> &'static Moto {
    MOTO.get_or_init(|| {
        set_default_env();
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (endpoint, server) = match env("HOOKLINE_TEST_AWS_ENDPOINT") {
            Some(endpoint) => (endpoint, None),
            None => {
                let server = server::start().unwrap_or_else(|why| {
                    panic!(
                        "cannot start moto's server for the AWS tests ({why}); \
                         set HOOKLINE_TEST_AWS_ENDPOINT to use one already running"
                    )
                });
                (server.endpoint.clone(), Some(server))
            }
        };
        Moto {
            endpoint,
            region: env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .expect("set above"),
            access_key_id: env("AWS_ACCESS_KEY_ID").expect("set above"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY").expect("set above"),
            _server: server,
        }
    })
}

/// Tests that build their SDK config with `hookline_aws::sdk_config` read the account from the
/// environment, so it must be there; values already set (by `tests/run.sh`, or a developer) win.
fn set_default_env() {
    let unset = |name: &str| std::env::var_os(name).is_none_or(|v| v.is_empty());
    for (name, value) in DEFAULT_ENV {
        let region_given = name == "AWS_REGION" && !unset("AWS_DEFAULT_REGION");
        if unset(name) && !region_given {
            // SAFETY: `set_var` races only with environment reads that bypass std's own lock,
            // that is C code calling `getenv` on another thread. Here the other threads are
            // test threads, whose reads go through std (the SDK's included); C readers such as
            // a DNS lookup in a concurrent test are the remaining risk, accepted for test
            // fixtures. It runs once, before this process starts any SDK client or server.
            unsafe { std::env::set_var(name, value) };
        }
    }
}

/// moto's endpoint: `HOOKLINE_TEST_AWS_ENDPOINT` when set, else a server started (and moto
/// installed into `target/pytools`, or `HOOKLINE_PYTOOLS`) on first use by this process.
pub fn endpoint() -> String {
    moto().endpoint.clone()
}

/// A name no other test uses (tests share one moto server).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// An SDK config for moto, with the region and dummy credentials given outright so that no
/// profile or instance metadata lookup can pick others.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let moto = moto();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(aws_config::Region::new(moto.region.clone()))
        .credentials_provider(Credentials::new(
            &moto.access_key_id,
            &moto.secret_access_key,
            None,
            None,
            "moto",
        ))
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
/// counts what goes on the wire, which is what AWS bills), and keeps DynamoDB's request bodies
/// for the tests that read what was written.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
    bodies: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl RequestCounter {
    /// The counts since the last call, and starts again from zero.
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.counts.lock().unwrap())
    }

    /// The DynamoDB requests since the last call, as (operation, JSON body).
    pub fn take_dynamodb_bodies(&self) -> Vec<(String, serde_json::Value)> {
        std::mem::take(&mut *self.bodies.lock().unwrap())
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, name) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        if service == "DynamoDB" {
            let body = context
                .request()
                .body()
                .bytes()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            self.bodies.lock().unwrap().push((name.clone(), body));
        }
        *self
            .counts
            .lock()
            .unwrap()
            .entry(format!("{service}.{name}"))
            .or_default() += 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Without `HOOKLINE_TEST_AWS_ENDPOINT` this starts (and may first install) moto; run it
    /// with `env -u HOOKLINE_TEST_AWS_ENDPOINT` to test that path.
    #[tokio::test]
    async fn the_endpoint_answers_with_or_without_a_server_given() {
        let endpoint = endpoint();
        let port = endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .expect("the endpoint ends with a port");
        assert!(server::answers(port), "{endpoint}/moto-api/ answers");
        assert_eq!(endpoint, super::endpoint(), "one server per process");
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk_config().await);
        dynamo
            .list_tables()
            .send()
            .await
            .expect("the SDK reaches moto with the configured account");
    }
}
