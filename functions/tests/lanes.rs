//! The two delivery lanes on SQS and DynamoDB (moto's server), with the delivery function's
//! handler as Lambda runs it and real receivers on loopback: the main-lane function attempts a
//! healthy endpoint's job at once, sends a failed attempt's retry to the slow lane, and forwards
//! a failing endpoint's new job to the slow lane without attempting it; the slow-lane function
//! attempts both.

mod support;

use aws_sdk_sqs::types::QueueAttributeName;
use hookline_conformance::moto;
use hookline_core::Hookline;
use hookline_core::access::Principal;
use hookline_core::event::NewEvent;
use hookline_core::pipeline::Removal;
use hookline_core::pipeline::lane::Lane;
use hookline_core::ports::QueueMessage;
use hookline_core::subscription::NewSubscription;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

async fn subscribe(hl: &Hookline, url: &str, types: &str) {
    let sub: NewSubscription = serde_json::from_value(
        json!({"tenant_id": "ford-anytown", "url": url, "event_types": [types]}),
    )
    .unwrap();
    hl.create_subscription(&Principal::Admin, sub, None)
        .await
        .unwrap();
}

async fn event(hl: &Hookline, kind: &str) {
    let new: NewEvent = serde_json::from_value(json!({
        "tenant_id": "ford-anytown", "type": kind, "data": {"leadId": 7}
    }))
    .unwrap();
    let event = hl
        .ingest(&Principal::Admin, new, None)
        .await
        .unwrap()
        .into_new()
        .unwrap();
    hl.fan_out(&event).await.unwrap();
}

/// One invocation of a delivery function in `hl`'s lane: receives up to 10 of its queue's
/// messages (waiting up to `wait` for `n`), and handles them as the event source would hand
/// them over; every job is handled (none reported as a failure).
async fn invoke(hl: &Hookline, n: usize, wait: Duration) -> Vec<QueueMessage> {
    let deadline = Instant::now() + wait;
    let mut batch = Vec::new();
    while batch.len() < n && Instant::now() < deadline {
        batch.extend(hl.queue.receive(n - batch.len()).await.unwrap());
        if batch.len() < n {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let outcomes = hookline_functions::handle_sqs(hl, support::sqs_event(&batch)).await;
    assert!(outcomes.batch_item_failures.is_empty(), "{outcomes:?}");
    batch
}

/// A queue's approximate counts: visible + in flight + delayed.
async fn messages(sqs: &aws_sdk_sqs::Client, name: &str) -> u64 {
    let url = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        QueueAttributeName::ApproximateNumberOfMessagesDelayed,
    ]
    .iter()
    .map(|a| attrs[a].parse::<u64>().unwrap())
    .sum()
}

#[tokio::test]
async fn failing_endpoints_jobs_and_retries_go_to_the_slow_lane_and_are_attempted_there() {
    let (hl, _, queue) = support::wired_on_moto("1s,1s,1s", Removal::EventSource).await;
    let schedule = hl.settings.schedule.clone();
    let slow = hookline_aws::connect_slow_lane(
        Some(&moto::endpoint()),
        &queue,
        hookline_functions::IN_FLIGHT_VISIBILITY,
        schedule.max_receive_count(),
    )
    .await
    .unwrap();
    let wired = hl.with_slow_lane(Arc::new(slow));
    // each function instance has its own caches, as separate Lambda instances do
    let instance = |lane| {
        wired
            .in_lane(lane)
            .with_subscription_cache(hookline_functions::SUBSCRIPTION_CACHE)
    };
    let sqs = aws_sdk_sqs::Client::new(&moto::sdk_config().await);
    let slow_queue = format!("{queue}-slow");

    let (down, down_hits) = support::counting_receiver(503).await;
    let (up, up_hits) = support::counting_receiver(200).await;
    subscribe(&wired, &down, "lead.*").await;
    subscribe(&wired, &up, "appointment.*").await;

    // a new job of an endpoint nobody has seen fail: attempted in the main lane; its retry is
    // sent to the slow lane
    event(&wired, "lead.qualified").await;
    assert_eq!(
        invoke(&instance(Lane::Main), 1, Duration::from_secs(5))
            .await
            .len(),
        1
    );
    assert_eq!(down_hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        messages(&sqs, &queue).await,
        1,
        "the handled job, until the event source deletes it"
    );
    assert_eq!(
        messages(&sqs, &slow_queue).await,
        1,
        "the retry waits in the slow lane"
    );

    // the endpoint is failing now: another main-lane instance forwards its next job to the
    // slow lane without attempting it, and still attempts a healthy endpoint's job at once
    event(&wired, "lead.qualified").await;
    event(&wired, "appointment.created").await;
    let main = instance(Lane::Main);
    let mut handled = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while handled < 2 && Instant::now() < deadline {
        handled += invoke(&main, 2 - handled, Duration::from_secs(2))
            .await
            .len();
    }
    assert_eq!(handled, 2, "the two new jobs");
    assert_eq!(
        up_hits.load(Ordering::SeqCst),
        1,
        "the healthy endpoint, from the main lane"
    );
    assert_eq!(
        down_hits.load(Ordering::SeqCst),
        1,
        "the failing endpoint's job was not attempted in the main lane"
    );
    assert_eq!(
        messages(&sqs, &slow_queue).await,
        2,
        "the retry and the forwarded job"
    );

    // the slow-lane function attempts both (the retry once its 1 s wait is over)
    let slow = instance(Lane::Slow);
    let mut attempted = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    while attempted < 2 && Instant::now() < deadline {
        attempted += invoke(&slow, 2 - attempted, Duration::from_secs(3))
            .await
            .len();
    }
    assert_eq!(attempted, 2);
    assert_eq!(
        down_hits.load(Ordering::SeqCst),
        3,
        "both attempted in the slow lane"
    );
    assert_eq!(up_hits.load(Ordering::SeqCst), 1);
}
