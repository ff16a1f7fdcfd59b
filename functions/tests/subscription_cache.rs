//! The delivery function's subscription cache, on moto: attempts to one subscription read it
//! once per period, a pause reaches attempts once the period has passed, and a resume at once.

mod support;

use hookline_conformance::moto::RequestCounter;
use hookline_core::access::Principal;
use hookline_core::delivery::DeliveryStatus;
use hookline_core::event::Event;
use hookline_core::ports::QueueMessage;
use hookline_core::{Hookline, ids::SubscriptionId};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{sqs_event, stream_of_stored};

const TTL: Duration = Duration::from_millis(1_500);

async fn receiver(hits: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new().fallback(move || {
        hits.fetch_add(1, Ordering::SeqCst);
        async { axum::http::StatusCode::OK }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Ingests an event, fans it out, and returns its one job.
async fn one_job(hl: &Hookline, table: &str) -> (Event, Vec<QueueMessage>) {
    let new = serde_json::from_value(
        json!({"tenant_id": "ford-anytown", "type": "lead.qualified", "data": {}}),
    )
    .unwrap();
    let event = hl
        .ingest(&Principal::Admin, new, None)
        .await
        .unwrap()
        .into_new()
        .unwrap();
    hookline_functions::handle_stream(hl, stream_of_stored(table, &[&event]).await).await;
    for _ in 0..50 {
        let jobs = hl.queue.receive(10).await.unwrap();
        if !jobs.is_empty() {
            return (event, jobs);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no job for {}", event.id);
}

#[tokio::test]
async fn attempts_read_a_subscription_once_per_period_and_see_a_pause_after_it() {
    let counter = RequestCounter::default();
    let (hl, table, _, _) = support::counted_on_moto("1s", &counter).await;
    let hl = hl.with_subscription_cache(TTL);
    let hits = Arc::new(AtomicUsize::new(0));
    let url = receiver(hits.clone()).await;
    let sub = hl
        .create_subscription(
            &Principal::Admin,
            serde_json::from_value(
                json!({"tenant_id": "ford-anytown", "url": url, "event_types": ["lead.*"]}),
            )
            .unwrap(),
            None,
        )
        .await
        .unwrap()
        .into_new()
        .unwrap();

    let (_, first) = one_job(&hl, &table).await;
    let (_, second) = one_job(&hl, &table).await;
    // queued before the pause, attempted after it
    let (event, paused) = one_job(&hl, &table).await;
    counter.take();
    for jobs in [&first, &second] {
        let resp = hookline_functions::handle_sqs(&hl, sqs_event(jobs)).await;
        assert!(resp.batch_item_failures.is_empty());
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(
        counter.take().get("DynamoDB.GetItem"),
        Some(&6),
        "two deliveries and two events, and the subscription and its endpoint health once"
    );

    let patch = serde_json::from_value(json!({"enabled": false})).unwrap();
    let id = SubscriptionId::parse(sub.id.as_str()).unwrap();
    hl.update_subscription(&Principal::Admin, &id, patch)
        .await
        .unwrap();
    tokio::time::sleep(TTL).await;
    let resp = hookline_functions::handle_sqs(&hl, sqs_event(&paused)).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(hits.load(Ordering::SeqCst), 2, "paused: nothing sent");
    let page = hl
        .event_deliveries(
            &Principal::Admin,
            &event.id,
            &Default::default(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.data[0].status, DeliveryStatus::Failed);

    // resumed: the cache now holds the paused subscription, but a giving-up answer is never
    // taken from it, so the next delivery goes out at once
    let patch = serde_json::from_value(json!({"enabled": true})).unwrap();
    hl.update_subscription(&Principal::Admin, &id, patch)
        .await
        .unwrap();
    let (_, resumed) = one_job(&hl, &table).await;
    let resp = hookline_functions::handle_sqs(&hl, sqs_event(&resumed)).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(hits.load(Ordering::SeqCst), 3, "resumed: delivered");
}
