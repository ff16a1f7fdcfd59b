//! Shared by the functions' tests: the `events/` samples, filled with what really happened on
//! moto (stored items, received messages).
#![allow(dead_code)]

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use hookline_aws::dynamo::keys;
use hookline_conformance::moto;
use hookline_core::event::Event;
use hookline_core::ports::QueueMessage;
use serde_json::{Value, json};

/// A sample from `events/`.
pub fn sample(name: &str) -> Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The SQS sample carrying messages really received from the queue.
pub fn sqs_event(jobs: &[QueueMessage]) -> SqsEvent {
    let template = sample("sqs-delivery.json")["Records"][0].clone();
    let records: Vec<Value> = jobs
        .iter()
        .map(|m| {
            let mut r = template.clone();
            r["messageId"] = json!(m.id);
            r["receiptHandle"] = json!(m.receipt);
            r["body"] = json!(m.body);
            r["attributes"]["ApproximateReceiveCount"] = json!(m.receive_count.to_string());
            r
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// An attribute value as a DynamoDB stream image writes it.
fn stream_json(v: &aws_sdk_dynamodb::types::AttributeValue) -> Value {
    match v {
        aws_sdk_dynamodb::types::AttributeValue::S(s) => json!({"S": s}),
        aws_sdk_dynamodb::types::AttributeValue::N(n) => json!({"N": n}),
        other => panic!("unexpected attribute type in an event item: {other:?}"),
    }
}

/// A stream batch of INSERT records carrying the event items as they are really stored (read
/// back with the store's own keys).
pub async fn stream_of_stored(table: &str, events: &[&Event]) -> DynamoDbEvent {
    let dynamo = aws_sdk_dynamodb::Client::new(&moto::sdk_config().await);
    let template = sample("dynamodb-stream.json")["Records"][0].clone();
    let mut records = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let item = dynamo
            .get_item()
            .table_name(table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(keys::event(&e.id)),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(keys::ITEM.into()),
            )
            .send()
            .await
            .unwrap()
            .item
            .expect("the event is stored");
        let image: serde_json::Map<String, Value> = item
            .iter()
            .map(|(k, v)| (k.clone(), stream_json(v)))
            .collect();
        let mut r = template.clone();
        r["dynamodb"]["NewImage"] = Value::Object(image);
        r["dynamodb"]["Keys"]["pk"]["S"] = json!(keys::event(&e.id));
        r["dynamodb"]["SequenceNumber"] = json!(format!("1111000000000000000000{:02}", i + 1));
        records.push(r);
    }
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// The core on a fresh table and queue on moto, as the functions wire it, with `schedule` and
/// `removal`; and the table's and the queue's names.
pub async fn wired_on_moto(
    schedule: &str,
    removal: hookline_core::pipeline::Removal,
) -> (hookline_core::Hookline, String, String) {
    let (table, queue) = (moto::unique("hookline"), moto::unique("deliveries"));
    let schedule = hookline_core::retry_schedule::RetrySchedule::parse(schedule).unwrap();
    let (store, sqs) = hookline_aws::connect(
        Some(&moto::endpoint()),
        &table,
        &queue,
        hookline_functions::IN_FLIGHT_VISIBILITY,
        schedule.max_receive_count(),
        std::time::Duration::from_secs(30 * 24 * 3600),
    )
    .await
    .unwrap();
    let settings = hookline_core::Settings {
        destination: hookline_core::destination::DestinationPolicy {
            allow_private: true,
            require_https: false,
        },
        schedule,
        default_timeout_ms: hookline_core::subscription::DEFAULT_TIMEOUT_MS,
        removal,
        strict_event_types: false,
        breaker: Default::default(),
    };
    (hookline_functions::wire(store, sqs, settings), table, queue)
}

/// The core as the functions wire it, on a fresh table and queue on moto whose requests
/// `counter` counts, delivering to loopback receivers: the core, the table's name, the SQS
/// client and the queue's URL.
pub async fn counted_on_moto(
    schedule: &str,
    counter: &hookline_conformance::moto::RequestCounter,
) -> (
    hookline_core::Hookline,
    String,
    hookline_aws::SqsClient,
    String,
) {
    let (dynamo, sqs, _) = moto::counted_clients(counter).await;
    let table = moto::unique("hookline");
    let schedule = hookline_core::retry_schedule::RetrySchedule::parse(schedule).unwrap();
    hookline_aws::DynamoStore::ensure_table(&dynamo, &table)
        .await
        .unwrap();
    let timeout = std::time::Duration::from_secs(30);
    let urls = hookline_aws::SqsQueue::ensure(
        &sqs,
        &moto::unique("deliveries"),
        timeout,
        schedule.max_receive_count(),
    )
    .await
    .unwrap();
    let queue_url = urls.queue.clone();
    let store = hookline_aws::DynamoStore::new(
        dynamo,
        table.clone(),
        std::time::Duration::from_secs(86_400),
    );
    let queue = hookline_aws::SqsQueue::new(sqs.clone(), urls, timeout, std::time::Duration::ZERO);
    let settings = hookline_core::Settings {
        destination: hookline_core::destination::DestinationPolicy {
            allow_private: true,
            require_https: false,
        },
        schedule,
        default_timeout_ms: 5000,
        removal: hookline_core::pipeline::Removal::EventSource,
        strict_event_types: false,
        breaker: Default::default(),
    };
    let hl = hookline_functions::wire(store, queue, settings);
    (hl, table, sqs, queue_url)
}

/// A receiver on loopback that answers `status` to every request: its URL, and the count of
/// requests it received.
pub async fn counting_receiver(
    status: u16,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let app = axum::Router::new().fallback(move || {
        let c = c.clone();
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            axum::http::StatusCode::from_u16(status).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}
