//! Recovering a large backlog of failed deliveries: `POST .../recover` re-queues them a page at a
//! time (1,000 per call, oldest first), each call going on from the last one's `next_cursor`,
//! every failed delivery exactly once, each call well inside the API function's 29 s. On the
//! embedded adapters and on the AWS adapters (DynamoDB and SQS on moto's server), 10,000 each.

mod support;

use futures::StreamExt;
use hookline::Backend;
use hookline_conformance::moto;
use hookline_core::clock::Timestamp;
use hookline_core::delivery::{Delivery, DeliveryStatus, DeliveryUpdate, DeliveryVersion};
use hookline_core::event::Event;
use hookline_core::ids::{EventId, SubscriptionId};
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use support::*;

/// How the failed deliveries are written: created pending and then failed, as the pipeline
/// does, or created failed in one write (on moto, whose UpdateItem costs ~30 of its PutItems: a
/// failed delivery is put in the failed index the same way either way).
#[derive(Clone, Copy, PartialEq)]
enum Seeding {
    PendingThenFailed,
    CreatedFailed,
}

/// `n` failed deliveries of the subscription and their events, written straight to the store,
/// 32 at a time.
async fn failed_deliveries(
    hl: &hookline::Running,
    sub: &str,
    n: usize,
    seeding: Seeding,
) -> HashSet<String> {
    let store = hl.hookline.store.clone();
    let sub = store
        .get_subscription(&SubscriptionId::parse(sub).unwrap())
        .await
        .unwrap()
        .unwrap();
    let made = futures::stream::iter(0..n)
        .map(|i| {
            let (store, sub) = (store.clone(), sub.clone());
            async move {
                let event = Event {
                    id: EventId::generate(),
                    tenant_id: sub.tenant_id.clone(),
                    event_type: "lead.created".into(),
                    timestamp: Timestamp::from_millis(1_795_736_620_000 + i as i64),
                    data: json!({"n": i}).as_object().cloned().unwrap(),
                    attributes: Default::default(),
                };
                store.insert_event(&event, false, None).await.unwrap();
                let mut new = Delivery::new(&event, &sub, event.timestamp);
                if seeding == Seeding::CreatedFailed {
                    new.status = DeliveryStatus::Failed;
                    new.next_attempt_at = None;
                    new.failure_reason = Some("gave up".into());
                    let d = store.create_delivery(&new).await.unwrap();
                    assert_eq!(d.status, DeliveryStatus::Failed);
                    return d.id.to_string();
                }
                let d = store.create_delivery(&new).await.unwrap();
                let failed = DeliveryUpdate {
                    delivery_id: d.id.clone(),
                    subscription_id: sub.id.clone(),
                    expected: DeliveryVersion {
                        status: DeliveryStatus::Pending,
                        attempts: 0,
                    },
                    carrier: None,
                    at: event.timestamp,
                    attempt: None,
                    status: DeliveryStatus::Failed,
                    next_attempt_at: None,
                    failure_reason: Some("gave up".into()),
                    attempt_base: None,
                };
                let written = store.update_delivery(&failed, None).await.unwrap();
                assert_eq!(written, hookline_core::ports::Written::Applied);
                d.id.to_string()
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    made.into_iter().collect()
}

async fn recovered_in_pages(mut c: hookline::DevConfig, n: usize, seeding: Seeding) {
    c.delivery_workers = 0; // the re-queued jobs stay in the queue to be counted
    let (hl, api) = start(c).await;
    let sub = api
        .subscribe(json!({"tenant_id": "dealer-3", "url": "http://127.0.0.1:9/hooks", "event_types": ["lead.*"]}))
        .await;
    let sid = sub["id"].as_str().unwrap();
    let writing = Instant::now();
    let failed = failed_deliveries(&hl, sid, n, seeding).await;
    println!("{n} failed deliveries written in {:?}", writing.elapsed());
    let (mut after, mut calls, mut slowest, mut queued) = (None::<String>, 0, Duration::ZERO, 0);
    loop {
        let mut body = json!({"since": "2026-11-30T00:00:00Z"});
        if let Some(a) = &after {
            body["after"] = json!(a);
        }
        let started = Instant::now();
        let (status, report) = api
            .post(&format!("/v1/subscriptions/{sid}/recover"), body)
            .await;
        let took = started.elapsed();
        println!("recover call {}: {took:?} ({report})", calls + 1);
        slowest = slowest.max(took);
        assert_eq!(status, 202, "{report}");
        calls += 1;
        queued += report["queued"].as_u64().unwrap() as usize;
        assert!(report["queued"].as_u64().unwrap() <= 1000);
        if report["more"] == false {
            assert!(report["next_cursor"].is_null());
            break;
        }
        after = Some(report["next_cursor"].as_str().unwrap().to_string());
        assert!(calls <= n / 1000 + 1, "pages never end: {report}");
    }
    println!("recover of {n} failed deliveries: {calls} calls, slowest {slowest:?}");
    assert_eq!(queued, n);
    assert_eq!(calls, n.div_ceil(1000));
    // about half the API function's 29 s: on moto a call takes ~3.5 s on two cores (slower
    // under the suite's load), on SQLite ~70 ms; moto before its patches took 90 s and more
    assert!(slowest < Duration::from_secs(15), "a call took {slowest:?}");
    // every failed delivery was re-queued once
    let receiving = Instant::now();
    let mut jobs = Vec::new();
    while jobs.len() < n {
        let batch = hl.hookline.queue.receive(10).await.unwrap();
        assert!(!batch.is_empty(), "{} of {n} jobs queued", jobs.len());
        for m in batch {
            let job = hookline_core::pipeline::Job::decode(&m.body).unwrap();
            assert!(job.reopen);
            jobs.push(job.delivery_id.to_string());
        }
    }
    println!("{n} jobs received in {:?}", receiving.elapsed());
    let distinct: HashSet<String> = jobs.iter().cloned().collect();
    assert_eq!(distinct.len(), n, "no delivery queued twice");
    assert_eq!(distinct, failed);
    hl.shutdown().await;
}

#[tokio::test]
async fn recover_of_10000_failed_deliveries_goes_in_pages_with_a_cursor() {
    recovered_in_pages(config("1s"), 10_000, Seeding::PendingThenFailed).await;
}

#[tokio::test]
async fn recover_of_10000_failed_deliveries_on_dynamodb_and_sqs_goes_in_pages_with_a_cursor() {
    let mut c = config("1s");
    c.backend = Backend::Aws {
        endpoint: Some(moto::endpoint()),
        table: moto::unique("hookline"),
        queue: moto::unique("deliveries"),
        notify_topic: None,
    };
    recovered_in_pages(c, 10_000, Seeding::CreatedFailed).await;
}
