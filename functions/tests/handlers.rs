//! The functions' handlers fed the `events/` samples, against DynamoDB and SQS on moto's server
//! (started by `tests/run.sh`) and a real receiver on loopback.

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use hookline_core::access::Principal;
use hookline_core::destination::DestinationPolicy;
use hookline_core::retry_schedule::RetrySchedule;
use hookline_core::{Hookline, Settings};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn sample(name: &str) -> Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn hookline_on_moto() -> Hookline {
    let endpoint = std::env::var("HOOKLINE_TEST_AWS_ENDPOINT").expect(
        "HOOKLINE_TEST_AWS_ENDPOINT is not set: run `bash tests/run.sh`, which starts moto's server",
    );
    let unique = ulid::Ulid::new().to_string().to_lowercase();
    let schedule = RetrySchedule::parse("1s").unwrap();
    let (store, queue) = hookline_aws::connect(
        Some(&endpoint),
        &format!("hookline-{unique}"),
        &format!("deliveries-{unique}"),
        hookline_functions::IN_FLIGHT_VISIBILITY,
        schedule.max_receive_count(),
    )
    .await
    .unwrap();
    let destination = DestinationPolicy {
        allow_private: true,
        require_https: false,
    };
    hookline_functions::wire(
        store,
        queue,
        Settings {
            destination,
            schedule,
        },
    )
}

/// A receiver answering 500 to the first request and 200 after; counts requests.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let app = axum::Router::new().fallback(move || {
        let c = c.clone();
        async move {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                axum::http::StatusCode::INTERNAL_SERVER_ERROR
            } else {
                axum::http::StatusCode::OK
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

/// The stream sample with its NewImage replaced by the stored event's item.
fn stream_event_for(event: &hookline_core::event::Event) -> DynamoDbEvent {
    let mut v = sample("dynamodb-stream.json");
    let image = &mut v["Records"][0]["dynamodb"]["NewImage"];
    image["pk"]["S"] = json!(format!("EVT#{}", event.id));
    image["gsi1sk"]["S"] = json!(event.id.as_str());
    image["body"]["S"] = json!(serde_json::to_string(event).unwrap());
    v["Records"][0]["dynamodb"]["Keys"]["pk"]["S"] = json!(format!("EVT#{}", event.id));
    serde_json::from_value(v).unwrap()
}

/// The SQS sample carrying a message really received from the queue.
fn sqs_event_for(m: &hookline_core::ports::QueueMessage) -> SqsEvent {
    let mut v = sample("sqs-delivery.json");
    let r = &mut v["Records"][0];
    r["messageId"] = json!(m.id);
    r["receiptHandle"] = json!(m.receipt);
    r["body"] = json!(m.body);
    r["attributes"]["ApproximateReceiveCount"] = json!(m.receive_count.to_string());
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn stream_record_fans_out_and_sqs_batch_delivers_with_partial_failures() {
    let hl = hookline_on_moto().await;
    let (url, received) = receiver().await;
    let admin = Principal::Admin;
    let sub: hookline_core::subscription::NewSubscription = serde_json::from_value(
        json!({"tenant_id": "ford-anytown", "url": url, "event_types": ["lead.*"]}),
    )
    .unwrap();
    hl.create_subscription(&admin, sub).await.unwrap();
    let new: hookline_core::event::NewEvent = serde_json::from_value(json!({
        "tenant_id": "ford-anytown", "type": "lead.qualified", "data": {"summary": "Test drive on Friday"}
    }))
    .unwrap();
    let event = hl.ingest(&admin, new).await.unwrap();

    // fan-out from the stream record
    let resp = hookline_functions::handle_stream(&hl, stream_event_for(&event)).await;
    assert!(resp.batch_item_failures.is_empty());
    assert!(
        hl.store
            .events_awaiting_fanout(10)
            .await
            .unwrap()
            .is_empty(),
        "the event left the outbox"
    );
    // a replayed stream record creates no second job
    hookline_functions::handle_stream(&hl, stream_event_for(&event)).await;

    // first delivery: the receiver answers 500, the item is reported and hidden for the backoff
    let batch = hl.queue.receive(10).await.unwrap();
    assert_eq!(
        batch.len(),
        2,
        "one job per fan-out run; the duplicate is harmless"
    );
    let resp = hookline_functions::handle_sqs(&hl, sqs_event_for(&batch[0])).await;
    assert_eq!(resp.batch_item_failures.len(), 1);
    assert_eq!(resp.batch_item_failures[0].item_identifier, batch[0].id);
    assert_eq!(received.load(Ordering::SeqCst), 1);

    // after the backoff (1 s ±10%, rounded up to whole seconds by SQS) the job comes back; this
    // time it is delivered and not reported
    let mut job = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        job = hl
            .queue
            .receive(10)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.id == batch[0].id);
        if job.is_some() {
            break;
        }
    }
    let job = job.expect("the retried job came back");
    let job = &job;
    let resp = hookline_functions::handle_sqs(&hl, sqs_event_for(job)).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(received.load(Ordering::SeqCst), 2);
    // the duplicate job finds the delivery done and is deleted without a request
    let resp = hookline_functions::handle_sqs(&hl, sqs_event_for(&batch[1])).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(received.load(Ordering::SeqCst), 2);

    let page = hl
        .event_deliveries(
            &admin,
            event.id.as_str(),
            &Default::default(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        page.data[0].status,
        hookline_core::delivery::DeliveryStatus::Succeeded
    );
    assert_eq!(page.data[0].attempts.len(), 2);
}

#[tokio::test]
async fn api_function_serves_an_api_gateway_request() {
    use tower::ServiceExt;
    let hl = hookline_on_moto().await;
    let router = hookline_api::router(hookline_api::ApiState {
        hookline: hl,
        admin_key: "k".into(),
    });
    let raw = std::fs::read_to_string(format!(
        "{}/../events/apigw-http-healthz.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let request = lambda_http::request::from_str(&raw).unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
}
