//! The retry chain on SQS and DynamoDB (moto's server) with real receivers on loopback: a
//! backing-off job waits as a delayed message, not in flight; a replayed fan-out starts no second
//! chain; two handlers of one job send one request.

mod support;

use aws_sdk_sqs::types::QueueAttributeName;
use hookline_conformance::moto;
use hookline_core::Hookline;
use hookline_core::access::Principal;
use hookline_core::event::{Event, NewEvent};
use hookline_core::pipeline::Removal;
use hookline_core::ports::{Enqueue, QueueMessage};
use hookline_core::subscription::NewSubscription;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

struct Rig {
    hl: Hookline,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

async fn rig(schedule: &str) -> Rig {
    rig_removed_by(schedule, Removal::Hookline).await
}

async fn rig_removed_by(schedule: &str, removal: Removal) -> Rig {
    let (hl, _, queue) = support::wired_on_moto(schedule, removal).await;
    let sqs = aws_sdk_sqs::Client::new(&moto::sdk_config().await);
    let queue_url = sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    Rig { hl, sqs, queue_url }
}

impl Rig {
    async fn subscribe(&self, url: &str) {
        let sub: NewSubscription = serde_json::from_value(
            json!({"tenant_id": "ford-anytown", "url": url, "event_types": ["lead.*"]}),
        )
        .unwrap();
        self.hl
            .create_subscription(&Principal::Admin, sub, None)
            .await
            .unwrap();
    }

    async fn event(&self, n: usize) -> Event {
        let new: NewEvent = serde_json::from_value(json!({
            "tenant_id": "ford-anytown", "type": "lead.qualified", "data": {"leadId": n}
        }))
        .unwrap();
        self.hl
            .ingest(&Principal::Admin, new, None)
            .await
            .unwrap()
            .into_new()
            .unwrap()
    }

    /// The queue's approximate counts: (visible, in flight, delayed).
    async fn counts(&self) -> (u64, u64, u64) {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let attrs = out.attributes.unwrap();
        let get = |name: QueueAttributeName| -> u64 { attrs[&name].parse().unwrap() };
        (
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        )
    }

    /// Receives what is visible now, up to `n` messages, polling briefly.
    async fn receive(&self, n: usize, wait: Duration) -> Vec<QueueMessage> {
        let deadline = Instant::now() + wait;
        let mut got = Vec::new();
        while got.len() < n && Instant::now() < deadline {
            got.extend(self.hl.queue.receive(n - got.len()).await.unwrap());
            if got.len() < n {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        got
    }
}

/// The delivery function's batch concurrency and batch size in this test.
const WORKERS: usize = 4;
const BATCH: usize = 10;

impl Rig {
    /// Deletes handled messages in batches, as Lambda's SQS event source does with every
    /// message not reported as a failure.
    async fn delete_as_the_event_source(&self, handled: &[QueueMessage]) {
        for chunk in handled.chunks(BATCH) {
            let entries = chunk.iter().enumerate().map(|(i, m)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&m.receipt)
                    .build()
                    .unwrap()
            });
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries.collect()))
                .send()
                .await
                .unwrap();
            assert!(out.failed.is_empty(), "{:?}", out.failed);
        }
    }
}

/// How many jobs back off at once: 2,000 unless `HOOKLINE_TEST_BACKLOG` says otherwise. moto's
/// SQS looks through a whole queue several times on every send and receive; the moto server the
/// tests start, and `tests/run.sh`'s, do not (`shared/conformance/src/moto/fast_sqs.py`), which
/// keeps 2,000 quick (a plain moto server had not finished 2,000 after 28 minutes; 300 took 35 s).
fn backlog() -> usize {
    std::env::var("HOOKLINE_TEST_BACKLOG").map_or(2000, |v| v.parse().expect("a number of jobs"))
}

/// The queue is SQS on moto and the delivery function's handler runs as on Lambda; the store is
/// the embedded one, which keeps the 2,000 deliveries quick to set up (what is asserted is the
/// queue's in-flight count; the DynamoDB store's part of the chain is checked below and in the
/// conformance suite).
#[tokio::test]
async fn a_dead_endpoints_backlog_waits_as_delayed_messages_not_in_flight() {
    // one retry, 20 minutes out: longer than SQS's 15-minute delay, so the wait is made in hops
    let mut rig = rig_removed_by("20m", Removal::EventSource).await;
    let dir = std::env::temp_dir().join(moto::unique("hookline-backlog"));
    let db = hookline_embedded::Db::open(&dir).unwrap();
    rig.hl.store = Arc::new(hookline_embedded::SqliteStore::new(db));
    // what is measured is the retry chain's own waiting: the circuit breaker, which would park
    // this backlog after a few failures (tests/endpoint_health.rs), is kept closed
    rig.hl.settings.breaker.failures_to_open = u32::MAX;
    let rig = Arc::new(rig);
    let (url, received) = support::counting_receiver(503).await;
    rig.subscribe(&url).await;
    let jobs = backlog();
    for n in 0..jobs {
        let event = rig.event(n).await;
        rig.hl.fan_out(&event).await.unwrap();
    }
    // the delivery function: WORKERS concurrent invocations of BATCH messages each, until the
    // queue has nothing visible; the in-flight count is read after every round
    let mut most_in_flight = 0;
    loop {
        let rounds = (0..WORKERS).map(|_| {
            let rig = rig.clone();
            async move {
                let batch = rig.hl.queue.receive(BATCH).await.unwrap();
                let outcomes =
                    hookline_functions::handle_sqs(&rig.hl, support::sqs_event(&batch)).await;
                assert!(outcomes.batch_item_failures.is_empty());
                batch
            }
        });
        let handled: Vec<QueueMessage> = futures::future::join_all(rounds)
            .await
            .into_iter()
            .flatten()
            .collect();
        // read while the handled messages are still held, as before Lambda deletes them
        let (_, in_flight, _) = rig.counts().await;
        let held = handled.iter().map(|m| &m.id).collect::<HashSet<_>>().len();
        assert!(
            in_flight >= held as u64,
            "the messages the handlers hold are in flight: {in_flight} for {held}"
        );
        most_in_flight = most_in_flight.max(in_flight);
        if handled.is_empty() {
            break;
        }
        rig.delete_as_the_event_source(&handled).await;
    }
    assert_eq!(
        received.load(Ordering::SeqCst),
        jobs,
        "every job was attempted once"
    );
    let (visible, in_flight, delayed) = rig.counts().await;
    println!(
        "most in flight {most_in_flight}; now visible {visible}, in flight {in_flight}, delayed {delayed}"
    );
    assert!(
        most_in_flight <= (WORKERS * BATCH + 10) as u64,
        "in flight at most what the handlers hold: {most_in_flight}"
    );
    assert_eq!(in_flight, 0, "a backing-off job is not in flight");
    // every job waits as a delayed message; a message handed to two handlers at once (SQS may,
    // and moto's concurrent receives do) adds a delayed copy, which the chain drops later
    assert!(
        delayed >= jobs as u64 && delayed <= (jobs + jobs / 10) as u64,
        "every job waits as a delayed message: {delayed} for {jobs} jobs"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_replayed_fan_out_starts_no_second_retry_chain() {
    let rig = rig("2s,2s").await;
    let (url, received) = support::counting_receiver(500).await;
    rig.subscribe(&url).await;
    let event = rig.event(1).await;
    assert_eq!(rig.hl.fan_out(&event).await.unwrap(), 1);
    let first = rig.receive(1, Duration::from_secs(5)).await;
    rig.hl.process_batch(&first).await;
    assert_eq!(received.load(Ordering::SeqCst), 1);
    // the stream redelivers the event three times while the delivery backs off
    for _ in 0..3 {
        assert_eq!(
            rig.hl.fan_out(&event).await.unwrap(),
            0,
            "a backing-off delivery gets no job"
        );
    }
    // the chain runs to its end: one request per schedule step, each after its delay
    let mut attempts_at = vec![Instant::now()];
    while attempts_at.len() < 3 {
        let jobs = rig.receive(10, Duration::from_secs(8)).await;
        assert_eq!(jobs.len(), 1, "one job at a time: the chain's next step");
        rig.hl.process_batch(&jobs).await;
        attempts_at.push(Instant::now());
    }
    assert_eq!(received.load(Ordering::SeqCst), 3);
    for pair in attempts_at.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(1_700),
            "no attempt before its delay (2 s, -10% jitter)"
        );
    }
    assert!(rig.receive(10, Duration::from_secs(3)).await.is_empty());
    let dlq = rig.hl.queue.list_dead_letters(10).await.unwrap();
    assert_eq!(dlq.len(), 1, "the chain ended in one dead letter");
}

#[tokio::test]
async fn two_handlers_of_one_job_send_one_request_and_a_success_never_changes() {
    let rig = rig("1s").await;
    let (url, received) = support::counting_receiver(200).await;
    rig.subscribe(&url).await;
    let event = rig.event(1).await;
    rig.hl.fan_out(&event).await.unwrap();
    let first = rig.receive(1, Duration::from_secs(5)).await;
    let job = hookline_core::pipeline::Job::decode(&first[0].body).unwrap();
    // a second copy of the same job, handled at the same moment
    rig.hl
        .queue
        .send_batch(&[Enqueue::now(job.clone())])
        .await
        .unwrap();
    let copy = rig.receive(1, Duration::from_secs(5)).await;
    let (a, b) = tokio::join!(rig.hl.process_batch(&first), rig.hl.process_batch(&copy));
    assert!(a[0].is_some() && b[0].is_some(), "{a:?} {b:?}");
    assert_eq!(
        received.load(Ordering::SeqCst),
        1,
        "one request for one attempt"
    );
    let delivery = rig
        .hl
        .store
        .get_delivery(&job.delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        delivery.status,
        hookline_core::delivery::DeliveryStatus::Succeeded
    );
    // copies that come later (the waiting one, another fan-out) change nothing
    rig.hl.queue.send_batch(&[Enqueue::now(job)]).await.unwrap();
    rig.hl.fan_out(&event).await.unwrap();
    let late = rig.receive(1, Duration::from_secs(5)).await;
    rig.hl.process_batch(&late).await;
    let after = rig
        .hl
        .store
        .get_delivery(&delivery.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, delivery, "a succeeded delivery never changes again");
    assert_eq!(received.load(Ordering::SeqCst), 1);
}
