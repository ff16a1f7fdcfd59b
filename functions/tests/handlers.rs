//! The functions' handlers fed the `events/` samples, against DynamoDB and SQS on moto's server
//! (started by `tests/run.sh`) and a real receiver on loopback.

mod support;

use aws_sdk_dynamodb::types::AttributeValue as AV;
use hookline_aws::dynamo::keys;
use hookline_conformance::moto;
use hookline_core::Hookline;
use hookline_core::access::Principal;
use hookline_core::event::Event;
use hookline_core::ids::EventId;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::*;

async fn hookline_on_moto() -> Hookline {
    hookline_and_table().await.0
}

/// The core on a fresh table and queue on moto, and the table's name.
async fn hookline_and_table() -> (Hookline, String) {
    let (hl, table, _) = wired_on_moto("1s", hookline_core::pipeline::Removal::Hookline).await;
    (hl, table)
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

#[tokio::test]
async fn stream_record_fans_out_and_sqs_batch_delivers_with_partial_failures() {
    let (hl, table) = hookline_and_table().await;
    let (url, received) = receiver().await;
    let admin = Principal::Admin;
    let sub: hookline_core::subscription::NewSubscription = serde_json::from_value(
        json!({"tenant_id": "ford-anytown", "url": url, "event_types": ["lead.*"]}),
    )
    .unwrap();
    hl.create_subscription(&admin, sub, None)
        .await
        .unwrap()
        .into_new()
        .unwrap();
    let new: hookline_core::event::NewEvent = serde_json::from_value(json!({
        "tenant_id": "ford-anytown", "type": "lead.qualified", "data": {"summary": "Test drive on Friday"}
    }))
    .unwrap();
    let event = hl
        .ingest(&admin, new, None)
        .await
        .unwrap()
        .into_new()
        .unwrap();

    // fan-out from the stream record of the stored item
    let stream = stream_of_stored(&table, &[&event]).await;
    let resp = hookline_functions::handle_stream(&hl, stream.clone()).await;
    assert!(resp.batch_item_failures.is_empty());
    assert!(
        hl.store
            .events_awaiting_fanout(10)
            .await
            .unwrap()
            .is_empty(),
        "the event left the outbox"
    );
    // a replayed stream record, before any job has started the delivery, may queue a copy
    hookline_functions::handle_stream(&hl, stream).await;

    // first delivery: the receiver answers 500; the retry is a new, delayed message, so the
    // received one is not reported
    let batch = hl.queue.receive(10).await.unwrap();
    assert_eq!(batch.len(), 2, "one job per fan-out run");
    let resp = hookline_functions::handle_sqs(&hl, sqs_event(&batch[..1])).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(received.load(Ordering::SeqCst), 1);
    // the copy finds its attempt made by another job and is dropped without a request
    let resp = hookline_functions::handle_sqs(&hl, sqs_event(&batch[1..2])).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(received.load(Ordering::SeqCst), 1);
    // nor does a later replay of the stream record queue anything: the delivery is backing off
    let stream = stream_of_stored(&table, &[&event]).await;
    hookline_functions::handle_stream(&hl, stream).await;

    // after the backoff (1 s ±10%, rounded up to whole seconds by SQS) the next attempt's job
    // arrives; this time it is delivered
    let mut jobs = Vec::new();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        jobs.extend(hl.queue.receive(10).await.unwrap());
        if !jobs.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            jobs.extend(hl.queue.receive(10).await.unwrap());
            break;
        }
    }
    assert_eq!(
        jobs.len(),
        1,
        "one retry chain: the next attempt's job and nothing else"
    );
    let resp = hookline_functions::handle_sqs(&hl, sqs_event(&jobs)).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(received.load(Ordering::SeqCst), 2);

    let page = hl
        .event_deliveries(&admin, &event.id, &Default::default(), &Default::default())
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

/// Whether a Lambda event filter pattern matches a record, for the forms
/// `events/stream-filters.json` uses: nested objects, lists of exact values and `prefix`.
fn filter_matches(pattern: &Value, record: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(k, p)| filter_matches(p, record.get(k).unwrap_or(&Value::Null))),
        Value::Array(allowed) => allowed.iter().any(|a| match a["prefix"].as_str() {
            Some(prefix) => record.as_str().is_some_and(|v| v.starts_with(prefix)),
            None => a == record,
        }),
        _ => false,
    }
}

/// A stored `hookline.delivery.failed` event as the delivery step writes it (through the
/// outbox, like every event).
async fn store_failure_event(hl: &Hookline, subscription_id: &str) -> Event {
    let e = Event {
        id: EventId::generate(),
        tenant_id: hookline_core::TenantId::parse("ford-anytown").unwrap(),
        event_type: hookline_core::event::DELIVERY_FAILED.into(),
        timestamp: hookline_core::clock::Timestamp::from_millis(1_795_736_620_000),
        data: json!({
            "delivery_id": "dlv_01M8D3WKWSKTNPZJG0B4GJCPY2",
            "event_id": "evt_01M8D3WKVYHV6BK3RRJNSK3WT6",
            "event_type": "lead.qualified",
            "subscription_id": subscription_id,
            "attempts": 8,
            "reason": "attempts exhausted: HTTP 503",
        })
        .as_object()
        .cloned()
        .unwrap(),
        attributes: Default::default(),
    };
    hl.store.insert_event(&e, true, None).await.unwrap();
    e
}

#[tokio::test]
async fn stream_filters_select_the_records_each_function_needs() {
    let (hl, table) = hookline_and_table().await;
    let admin = Principal::Admin;
    let new: hookline_core::event::NewEvent = serde_json::from_value(json!({
        "tenant_id": "ford-anytown", "type": "lead.qualified", "data": {"summary": "Test drive"}
    }))
    .unwrap();
    let ordinary = hl
        .ingest(&admin, new, None)
        .await
        .unwrap()
        .into_new()
        .unwrap();
    let failure = store_failure_event(&hl, "sub_01M8D3WKVYHV6BK3RRJNSK3WT7").await;
    let mut failing = failure.clone();
    failing.id = EventId::generate();
    failing.event_type = hookline_core::pipeline::health::ENDPOINT_FAILING.into();
    hl.store.insert_event(&failing, true, None).await.unwrap();
    let filters = sample("stream-filters.json");
    let stream =
        serde_json::to_value(stream_of_stored(&table, &[&ordinary, &failure, &failing]).await)
            .unwrap();
    let records = stream["Records"].as_array().unwrap();
    let selected = |f: &str| -> Vec<bool> {
        records
            .iter()
            .map(|r| filter_matches(&filters[f], r))
            .collect()
    };
    // every event waits in the outbox; the failure and the endpoint event are for notify
    assert_eq!(selected("fanout"), [true, true, true]);
    assert_eq!(selected("notify"), [false, true, true]);
    // the outbox entry written with the event is for neither function; fan-out deletes it
    let entry = || async {
        aws_sdk_dynamodb::Client::new(&moto::sdk_config().await)
            .get_item()
            .table_name(&table)
            .key("pk", AV::S(keys::outbox(&ordinary.id)))
            .key("sk", AV::S(ordinary.id.to_string()))
            .send()
            .await
            .unwrap()
            .item
    };
    let item = entry().await.expect("the event's outbox entry");
    let mut record = records[0].clone();
    record["dynamodb"]["NewImage"] = Value::Object(
        item.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!({ "S": v.as_s().cloned().unwrap_or_default() }),
                )
            })
            .collect(),
    );
    assert!(!filter_matches(&filters["fanout"], &record));
    assert!(!filter_matches(&filters["notify"], &record));
    hl.fan_out(&ordinary).await.unwrap();
    assert_eq!(entry().await, None, "fanned out: its entry is gone");
}

#[tokio::test]
async fn notify_function_publishes_failure_events_to_the_sns_topic() {
    let (hl, table) = hookline_and_table().await;
    let inbox = moto::TopicInbox::create().await;
    let config = moto::sdk_config().await;
    let notifier =
        hookline_aws::SnsNotifier::new(hookline_aws::SnsClient::new(&config), &inbox.topic_arn);
    let admin = Principal::Admin;
    let new: hookline_core::event::NewEvent = serde_json::from_value(json!({
        "tenant_id": "ford-anytown", "type": "lead.qualified", "data": {}
    }))
    .unwrap();
    let ordinary = hl
        .ingest(&admin, new, None)
        .await
        .unwrap()
        .into_new()
        .unwrap();
    let failure = store_failure_event(&hl, "sub_01M8D3WKVYHV6BK3RRJNSK3WT7").await;

    let resp = hookline_functions::handle_notify(
        &notifier,
        stream_of_stored(&table, &[&ordinary, &failure]).await,
    )
    .await;
    assert!(resp.batch_item_failures.is_empty());
    let got = inbox.wait_for(2, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 1, "only the failure is published: {got:?}");
    let message: Event = serde_json::from_str(&got[0].message).unwrap();
    assert_eq!(message, failure);
    assert_eq!(
        got[0].subject.as_deref(),
        Some("Hookline: delivery to sub_01M8D3WKVYHV6BK3RRJNSK3WT7 failed for tenant ford-anytown")
    );
    assert_eq!(got[0].attributes["tenant_id"], "ford-anytown");
    assert_eq!(got[0].attributes["failed_event_type"], "lead.qualified");
}

#[tokio::test]
async fn a_failed_publish_is_reported_so_the_stream_retries_it() {
    let (hl, table) = hookline_and_table().await;
    let config = moto::sdk_config().await;
    let missing = format!(
        "arn:aws:sns:us-east-1:123456789012:{}",
        moto::unique("missing")
    );
    let notifier = hookline_aws::SnsNotifier::new(hookline_aws::SnsClient::new(&config), missing);
    let first = store_failure_event(&hl, "sub_01M8D3WKVYHV6BK3RRJNSK3WT7").await;
    let second = store_failure_event(&hl, "sub_01M8D3WKVYHV6BK3RRJNSK3WT8").await;
    let stream = stream_of_stored(&table, &[&first, &second]).await;
    let first_sequence = stream.records[0].change.sequence_number.clone();
    let resp = hookline_functions::handle_notify(&notifier, stream).await;
    assert_eq!(resp.batch_item_failures.len(), 1);
    assert_eq!(
        resp.batch_item_failures[0].item_identifier, first_sequence,
        "the stream retries from the first failure"
    );
}

#[tokio::test]
async fn the_sweep_fans_out_events_the_stream_missed() {
    let (hl, table) = hookline_and_table().await;
    let (url, received) = receiver().await;
    let admin = Principal::Admin;
    let sub: hookline_core::subscription::NewSubscription = serde_json::from_value(
        json!({"tenant_id": "ford-anytown", "url": url, "event_types": ["lead.*"]}),
    )
    .unwrap();
    hl.create_subscription(&admin, sub, None)
        .await
        .unwrap()
        .into_new()
        .unwrap();
    // stored 20 minutes ago and never fanned out (its stream record was lost)
    let missed = Event {
        id: EventId::generate(),
        tenant_id: hookline_core::TenantId::parse("ford-anytown").unwrap(),
        event_type: "lead.qualified".into(),
        timestamp: hookline_core::clock::Clock::now(&hookline_core::clock::SystemClock)
            .minus(Duration::from_secs(1200)),
        data: Default::default(),
        attributes: Default::default(),
    };
    hl.store.insert_event(&missed, true, None).await.unwrap();
    // just stored: the stream will handle it
    let new: hookline_core::event::NewEvent = serde_json::from_value(json!({
        "tenant_id": "ford-anytown", "type": "lead.qualified", "data": {}
    }))
    .unwrap();
    let fresh = hl
        .ingest(&admin, new, None)
        .await
        .unwrap()
        .into_new()
        .unwrap();

    let out = hookline_functions::handle_fanout(&hl, sample("schedule-sweep.json"))
        .await
        .unwrap();
    assert_eq!(out, json!({"swept": 1}));
    let waiting: Vec<_> = hl
        .store
        .events_awaiting_fanout(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(waiting, vec![fresh.id.clone()]);
    let jobs = hl.queue.receive(10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let delivery = serde_json::from_str::<Value>(&jobs[0].body).unwrap()["delivery_id"].clone();
    let page = hl
        .event_deliveries(&admin, &missed.id, &Default::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(json!(page.data[0].id), delivery);
    assert_eq!(received.load(Ordering::SeqCst), 0);

    // the same function still takes stream batches
    let out = hookline_functions::handle_fanout(
        &hl,
        serde_json::to_value(stream_of_stored(&table, &[&fresh]).await).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(out["batchItemFailures"], json!([]));
    assert!(
        hl.store
            .events_awaiting_fanout(10)
            .await
            .unwrap()
            .is_empty()
    );
}
