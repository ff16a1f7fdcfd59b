//! The whole pipeline on the AWS adapters (`hookline dev --backend aws`): DynamoDB and SQS on
//! moto's server (started by `tests/run.sh`), a real receiver on loopback.

mod support;

use hookline::Backend;
use hookline_conformance::moto;
use hookline_core::ports::QueueMessage;
use serde_json::json;
use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(20);

fn on_moto_config(schedule: &str, notify_topic: Option<String>) -> hookline::DevConfig {
    let mut cfg = config(schedule);
    cfg.backend = Backend::Aws {
        endpoint: Some(moto::endpoint()),
        table: moto::unique("hookline"),
        queue: moto::unique("deliveries"),
        notify_topic,
    };
    cfg
}

async fn on_moto(schedule: &str) -> (hookline::Running, Api) {
    start(on_moto_config(schedule, None)).await
}

/// Hookline on moto with no delivery workers: the test receives and processes jobs itself, as
/// the SQS event source mapping would hand them to the delivery function. Received jobs stay
/// hidden for 5 s.
async fn on_moto_without_workers() -> (hookline::Running, Api) {
    let mut cfg = on_moto_config("1s", None);
    cfg.delivery_workers = 0;
    cfg.in_flight_visibility = Duration::from_secs(5);
    start(cfg).await
}

/// Receives from the delivery queue until `n` jobs arrived or `within` passed.
/// Receives from the delivery queue until `n` distinct jobs arrived or `within` passed.
async fn receive_jobs(hl: &hookline::Running, n: usize, within: Duration) -> Vec<QueueMessage> {
    receive_until(hl, within, |jobs| jobs.len() >= n).await
}

/// Receives distinct jobs (a job seen again keeps its latest receipt) until `done` holds for
/// them or `within` passed.
async fn receive_until(
    hl: &hookline::Running,
    within: Duration,
    done: impl Fn(&[QueueMessage]) -> bool,
) -> Vec<QueueMessage> {
    let deadline = std::time::Instant::now() + within;
    let mut jobs: Vec<QueueMessage> = Vec::new();
    while !done(&jobs) && std::time::Instant::now() < deadline {
        let batch = hl.hookline.queue.receive(10).await.unwrap();
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for m in batch {
            jobs.retain(|j| j.id != m.id);
            jobs.push(m);
        }
    }
    jobs
}

fn delivery_id_of(job: &QueueMessage) -> String {
    serde_json::from_str::<serde_json::Value>(&job.body).unwrap()["delivery_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn retried_delivery_succeeds_on_dynamodb_and_sqs() {
    let (hl, api) = on_moto("1s").await;
    let rx = Receiver::start(vec![Reply::Status(500)], Reply::Status(200)).await;
    let sub = api
        .subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["lead.*"]}))
        .await;
    let event_id = api
        .send_event(
            json!({"tenant_id": "d", "type": "lead.qualified", "data": {"leadId": "138559"}}),
        )
        .await;
    let ds = api
        .wait_deliveries(&event_id, WAIT, |d| all_status(d, "succeeded"))
        .await;
    let attempts = ds[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    assert_eq!(attempts[0]["status_code"], 500);
    let got = rx.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(900),
        "the retry waited for its visibility timeout"
    );
    standardwebhooks::Webhook::new(sub["secret"].as_str().unwrap())
        .unwrap()
        .verify(&got[1].body, &got[1].header_map())
        .unwrap();
    hl.shutdown().await;
}

#[tokio::test]
async fn exhausted_delivery_lands_in_the_sqs_dead_letter_queue_and_is_notified() {
    let inbox = moto::TopicInbox::create().await;
    let (hl, api) = start(on_moto_config("1s", Some(inbox.topic_arn.clone()))).await;
    let broken = Receiver::start(vec![], Reply::Status(503)).await;
    let ops = Receiver::ok().await;
    let sub = api
        .subscribe(json!({"tenant_id": "d", "url": broken.url("/"), "event_types": ["*"]}))
        .await;
    api.subscribe(json!({"tenant_id": "d", "url": ops.url("/alerts"), "event_types": ["hookline.delivery.failed"]})).await;
    let event_id = api
        .send_event(json!({"tenant_id": "d", "type": "appointment.created", "data": {}}))
        .await;
    let ds = api
        .wait_deliveries(&event_id, WAIT, |d| all_status(d, "failed"))
        .await;
    assert_eq!(ds[0]["attempts"].as_array().unwrap().len(), 2);
    // The record is written before the job moves to the dead-letter queue: wait for it there.
    let mut dlq = Vec::new();
    for _ in 0..50 {
        dlq = hl.hookline.queue.list_dead_letters(10).await.unwrap();
        if !dlq.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dlq.len(), 1, "{dlq:?}");
    assert!(dlq[0].body.contains(ds[0]["id"].as_str().unwrap()));
    assert!(dlq[0].reason.contains("HTTP 503"), "{}", dlq[0].reason);
    let alerts = ops.wait_for(1, WAIT).await;
    assert_eq!(alerts[0].json()["data"]["subscription_id"], sub["id"]);
    assert_eq!(alerts[0].json()["data"]["event_id"], event_id);
    // and ops were told on the SNS topic, with attributes to filter on
    let published = inbox.wait_for(1, WAIT).await;
    assert_eq!(published.len(), 1, "{published:?}");
    let message: serde_json::Value = serde_json::from_str(&published[0].message).unwrap();
    assert_eq!(message["type"], "hookline.delivery.failed");
    assert_eq!(message["data"]["delivery_id"], ds[0]["id"]);
    assert_eq!(published[0].attributes["tenant_id"], "d");
    assert_eq!(
        published[0].attributes["subscription_id"],
        sub["id"].as_str().unwrap()
    );
    assert_eq!(
        published[0].attributes["failed_event_type"],
        "appointment.created"
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn each_subscription_follows_its_own_retry_policy_on_dynamodb_and_sqs() {
    // the deployment makes four attempts a second apart
    let (hl, api) = on_moto("1s,1s,1s").await;
    let capped = Receiver::start(vec![], Reply::Status(503)).await;
    let slower = Receiver::start(vec![], Reply::Status(503)).await;
    api.subscribe(
        json!({"tenant_id": "d", "url": capped.url("/"), "event_types": ["*"],
        "max_attempts": 2}),
    )
    .await;
    api.subscribe(
        json!({"tenant_id": "d", "url": slower.url("/"), "event_types": ["*"],
        "retry_schedule": "5s"}),
    )
    .await;
    let event_id = api
        .send_event(json!({"tenant_id": "d", "type": "lead.qualified", "data": {}}))
        .await;
    let ds = api
        .wait_deliveries(&event_id, WAIT, |d| d.len() == 2 && all_status(d, "failed"))
        .await;
    for d in &ds {
        assert_eq!(d["attempts"].as_array().unwrap().len(), 2, "{d:#}");
        assert!(
            d["failure_reason"]
                .as_str()
                .unwrap()
                .contains("after 2 attempts"),
            "{d:#}"
        );
    }
    let (a, b) = (capped.received(), slower.received());
    assert_eq!((a.len(), b.len()), (2, 2));
    // (margins for a loaded machine: each attempt on moto is several serialised requests)
    assert!(
        a[1].at - a[0].at < Duration::from_millis(3500),
        "the deployment's 1 s: {:?}",
        a[1].at - a[0].at
    );
    assert!(
        b[1].at - b[0].at >= Duration::from_millis(4500),
        "its own 5 s (-10% jitter)"
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn a_rate_limited_subscription_is_paced_on_dynamodb_and_sqs() {
    // SQS delays in whole seconds: a paced job comes back before its slot and waits the rest
    const EVENTS: usize = 100;
    const LIMIT: usize = 20;
    let (hl, api) = on_moto("1s").await;
    let rx = Receiver::ok().await;
    api.subscribe(
        json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"],
        "rate_limit_per_sec": LIMIT}),
    )
    .await;
    let events: Vec<_> = (0..EVENTS)
        .map(|i| json!({"tenant_id": "d", "type": "lead.created", "data": {"n": i}}))
        .collect();
    let (status, answer) = api
        .post("/v1/events/batch", json!({"events": events}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let got = rx.wait_for(EVENTS, Duration::from_secs(60)).await;
    assert_eq!(got.len(), EVENTS, "every event arrives");
    let mut at: Vec<std::time::Instant> = got.iter().map(|r| r.at).collect();
    at.sort();
    let peak = (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|t| **t - at[i] < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    println!("{EVENTS} events at {LIMIT}/s on moto: busiest second {peak}");
    assert!(peak <= LIMIT + LIMIT / 10, "busiest second {peak}");
    hl.shutdown().await;
}

#[tokio::test]
async fn a_crash_mid_batch_loses_nothing_and_the_unfinished_jobs_come_back() {
    let (hl, api) = on_moto_without_workers().await;
    // the first three requests are answered, the next three hang until the crash
    let rx = Receiver::start(
        vec![
            Reply::Status(200),
            Reply::Status(200),
            Reply::Status(200),
            Reply::Hang,
            Reply::Hang,
            Reply::Hang,
        ],
        Reply::Status(200),
    )
    .await;
    // (the hanging requests wait for the crash, well within their 15 s timeout)
    api.subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["lead.*"], "timeout_ms": 15000}))
        .await;
    let mut event_ids = Vec::new();
    for i in 0..6 {
        event_ids.push(
            api.send_event(
                json!({"tenant_id": "d", "type": "lead.qualified", "data": {"leadId": i}}),
            )
            .await,
        );
    }
    let batch = receive_jobs(&hl, 6, WAIT).await;
    assert_eq!(batch.len(), 6);

    // the handler delivers the batch concurrently and is killed while three requests hang
    let core = hl.hookline.clone();
    let running = {
        let batch = batch.clone();
        tokio::spawn(async move { core.process_batch(&batch).await })
    };
    assert_eq!(rx.wait_for(6, WAIT).await.len(), 6);
    let mut succeeded = 0;
    for _ in 0..100 {
        succeeded = 0;
        for id in &event_ids {
            succeeded += usize::from(all_status(&api.deliveries_of_event(id).await, "succeeded"));
        }
        if succeeded == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(succeeded, 3, "three deliveries finished before the crash");
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());

    // the three unfinished jobs come back after their visibility timeout (a finished job whose
    // delete the crash interrupted may come back too: it must then send nothing)
    let mut unfinished = Vec::new();
    let mut unfinished_events = Vec::new();
    for id in &event_ids {
        let ds = api.deliveries_of_event(id).await;
        if all_status(&ds, "pending") {
            assert!(ds[0]["attempts"].as_array().unwrap().is_empty());
            unfinished.push(ds[0]["id"].as_str().unwrap().to_string());
            unfinished_events.push(id.clone());
        }
    }
    assert_eq!(unfinished.len(), 3);
    let back = receive_until(&hl, WAIT, |jobs| {
        let ids: Vec<String> = jobs.iter().map(delivery_id_of).collect();
        unfinished.iter().all(|u| ids.contains(u))
    })
    .await;
    let back_ids: Vec<String> = back.iter().map(delivery_id_of).collect();
    for u in &unfinished {
        assert!(back_ids.contains(u), "{u} came back: {back_ids:?}");
    }
    assert!(back.iter().all(|m| m.receive_count >= 2));

    // handled again, they are delivered with the webhook-id of their first, unanswered, request.
    // Their messages came back (5 s visibility here) before the crashed handler's claims lapsed
    // (the 15 s timeout + 10 s), so they first wait for the claims, as delayed messages; a
    // deployment's visibility timeout (60 s locally, 180 s on AWS) outlasts every claim.
    hl.hookline.process_batch(&back).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut done = 0;
        for id in &event_ids {
            done += usize::from(all_status(&api.deliveries_of_event(id).await, "succeeded"));
        }
        if done == event_ids.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "every delivery succeeds"
        );
        let jobs = receive_jobs(&hl, 10, Duration::from_secs(1)).await;
        hl.hookline.process_batch(&jobs).await;
    }
    let got = rx.received();
    assert_eq!(got.len(), 9);
    for id in &event_ids {
        let n = got.iter().filter(|r| r.header("webhook-id") == id).count();
        let expected = if unfinished_events.contains(id) { 2 } else { 1 };
        assert_eq!(n, expected, "requests with webhook-id {id}");
    }
    assert!(
        receive_jobs(&hl, 1, Duration::from_secs(3))
            .await
            .is_empty()
    );
    assert!(
        hl.hookline
            .queue
            .list_dead_letters(10)
            .await
            .unwrap()
            .is_empty()
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn a_duplicated_sqs_message_reaches_the_receiver_with_the_same_webhook_id() {
    let (hl, api) = on_moto_without_workers().await;
    let rx = Receiver::ok().await;
    let sub = api
        .subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["appointment.*"]}))
        .await;
    let event_id = api
        .send_event(json!({"tenant_id": "d", "type": "appointment.created", "data": {"appointmentId": "a-77"}}))
        .await;
    let first = receive_jobs(&hl, 1, WAIT).await;
    // SQS delivers at least once: the same job arrives twice, and both copies are handled at
    // the same time by two invocations
    hl.hookline
        .queue
        .send_batch(&[hookline_core::ports::Enqueue::now(
            hookline_core::pipeline::Job::decode(&first[0].body).unwrap(),
        )])
        .await
        .unwrap();
    let copy = receive_jobs(&hl, 1, WAIT).await;
    assert_eq!(delivery_id_of(&copy[0]), delivery_id_of(&first[0]));
    let (a, b) = tokio::join!(
        hl.hookline.process_batch(&first),
        hl.hookline.process_batch(&copy)
    );
    assert!(a[0].is_some() && b[0].is_some(), "{a:?} {b:?}");
    let ds = api
        .wait_deliveries(&event_id, WAIT, |d| all_status(d, "succeeded"))
        .await;
    assert_eq!(ds.len(), 1);
    let got = rx.received();
    assert_eq!(
        got.len(),
        1,
        "the second handler found the attempt claimed and sent nothing"
    );
    let verifier = standardwebhooks::Webhook::new(sub["secret"].as_str().unwrap()).unwrap();
    for r in &got {
        assert_eq!(r.header("webhook-id"), event_id);
        verifier.verify(&r.body, &r.header_map()).unwrap();
    }
    // a copy arriving after the delivery succeeded is deleted without a request
    hl.hookline
        .queue
        .send_batch(&[hookline_core::ports::Enqueue::now(
            hookline_core::pipeline::Job::decode(&first[0].body).unwrap(),
        )])
        .await
        .unwrap();
    let late = receive_jobs(&hl, 1, WAIT).await;
    assert_eq!(late.len(), 1);
    assert_eq!(
        hl.hookline.process_batch(&late).await,
        vec![Some(hookline_core::pipeline::Disposition::Delete)]
    );
    assert_eq!(rx.received().len(), got.len());
    assert!(
        receive_jobs(&hl, 1, Duration::from_secs(3))
            .await
            .is_empty()
    );
    hl.shutdown().await;
}
