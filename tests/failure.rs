//! End to end when deliveries fail: exhaustion to the dead-letter queue with its notification,
//! 410 Gone, pauses, refused destinations and redrives, through the real HTTP API, the embedded
//! adapters and a real receiver on loopback.

mod support;

use serde_json::json;
use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn exhausted_delivery_is_dead_lettered_and_notified() {
    let (hl, api) = hookline("100ms,100ms").await;
    let broken = Receiver::start(vec![], Reply::Status(503)).await;
    let ops = Receiver::ok().await;
    let sub = api
        .subscribe(json!({"tenant_id": "dealer-9", "url": broken.url("/"), "event_types": ["*"]}))
        .await;
    api.subscribe(json!({"tenant_id": "dealer-9", "url": ops.url("/alerts"), "event_types": ["hookline.delivery.failed"]}))
        .await;
    let event_id = api.send_event(json!({"tenant_id": "dealer-9", "type": "conversation.replied", "data": {"conversationId": "c-1"}})).await;

    let ds = api
        .wait_deliveries(&event_id, WAIT, |d| all_status(d, "failed"))
        .await;
    assert_eq!(
        ds.len(),
        1,
        "the ops subscription does not match the producer's event"
    );
    assert_eq!(ds[0]["attempts"].as_array().unwrap().len(), 3);
    assert!(
        ds[0]["failure_reason"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts; last error: HTTP 503")
    );
    assert_eq!(broken.received().len(), 3);

    let dlq = hl.hookline.queue.list_dead_letters(10).await.unwrap();
    assert_eq!(dlq.len(), 1);
    assert!(dlq[0].body.contains(ds[0]["id"].as_str().unwrap()));
    assert!(dlq[0].reason.contains("HTTP 503"));

    let alerts = ops.wait_for(1, WAIT).await;
    assert_eq!(alerts.len(), 1);
    let n = alerts[0].json();
    assert_eq!(n["type"], "hookline.delivery.failed");
    assert_eq!(n["tenant_id"], "dealer-9");
    assert_eq!(n["data"]["subscription_id"], sub["id"]);
    assert_eq!(n["data"]["event_id"], event_id);
    assert_eq!(n["data"]["delivery_id"], ds[0]["id"]);
    assert_eq!(n["data"]["last_error"], "HTTP 503");
    assert_eq!(n["data"]["attempts"], 3);
    hl.shutdown().await;
}

#[tokio::test]
async fn failed_notifications_do_not_notify_again() {
    let (hl, api) = hookline("").await;
    let broken = Receiver::start(vec![], Reply::Status(500)).await;
    api.subscribe(
        json!({"tenant_id": "d", "url": broken.url("/all"), "event_types": ["*", "hookline.*"]}),
    )
    .await;
    api.send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    // the event fails, its notification is delivered to the same broken endpoint and fails too;
    // that failure must not produce a third request
    broken.wait_for(2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        broken.received().len(),
        2,
        "{:?}",
        broken
            .received()
            .iter()
            .map(|r| r.json()["type"].clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        hl.hookline.queue.list_dead_letters(10).await.unwrap().len(),
        2
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn gone_disables_the_subscription() {
    let (hl, api) = hookline("100ms").await;
    let rx = Receiver::start(vec![], Reply::Status(410)).await;
    let sub = api
        .subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"]}))
        .await;
    let first = api
        .send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    let ds = api
        .wait_deliveries(&first, WAIT, |d| all_status(d, "failed"))
        .await;
    assert_eq!(
        ds[0]["attempts"].as_array().unwrap().len(),
        1,
        "410 is not retried"
    );
    let (_, s) = api
        .get(&format!(
            "/v1/subscriptions/{}",
            sub["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s["enabled"], false);
    assert!(s["disabled_reason"].as_str().unwrap().contains("410"));
    // a disabled subscription receives nothing new
    let second = api
        .send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(api.deliveries_of_event(&second).await.is_empty());
    assert_eq!(rx.received().len(), 1);
    hl.shutdown().await;
}

#[tokio::test]
async fn pausing_dead_letters_pending_retries_with_the_reason() {
    let (hl, api) = hookline("1s").await;
    let rx = Receiver::start(vec![Reply::Status(500)], Reply::Status(200)).await;
    let sub = api
        .subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"]}))
        .await;
    let event_id = api
        .send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    rx.wait_for(1, WAIT).await;
    let (status, _) = api
        .call(
            "PATCH",
            &format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap()),
            Some(r#"{"enabled": false}"#),
        )
        .await;
    assert_eq!(status, 200);
    let ds = api
        .wait_deliveries(&event_id, WAIT, |d| all_status(d, "failed"))
        .await;
    assert_eq!(ds[0]["failure_reason"], "subscription is paused");
    assert_eq!(rx.received().len(), 1, "the paused endpoint got no retry");
    assert_eq!(
        hl.hookline.queue.list_dead_letters(10).await.unwrap()[0].reason,
        "subscription is paused"
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn private_destinations_are_refused_at_creation_and_at_delivery() {
    let rx = Receiver::ok().await;
    let mut cfg = config("100ms");
    cfg.settings.allow_private_destinations = false;
    // a public-looking name that resolves to loopback: must be refused when delivering
    cfg.fixed_dns.insert(
        "crm.dealer.example".into(),
        vec!["127.0.0.1".parse().unwrap()],
    );
    let (hl, api) = start(cfg).await;

    let (status, err) = api
        .post(
            "/v1/subscriptions",
            json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "destination_not_allowed");

    let url = format!("http://crm.dealer.example:{}/", rx.addr.port());
    api.subscribe(json!({"tenant_id": "d", "url": url, "event_types": ["*"]}))
        .await;
    let event_id = api
        .send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    let ds = api
        .wait_deliveries(&event_id, WAIT, |d| all_status(d, "failed"))
        .await;
    let attempts = ds[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "a refused destination is not retried");
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("resolves to 127.0.0.1"),
        "{}",
        attempts[0]
    );
    assert!(
        rx.received().is_empty(),
        "nothing reached the private address"
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn a_redriven_dead_letter_gets_a_new_round_of_attempts() {
    let (hl, api) = hookline("100ms").await;
    let rx = Receiver::start(vec![], Reply::Status(500)).await;
    api.subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"]}))
        .await;
    let event_id = api
        .send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    api.wait_deliveries(&event_id, WAIT, |d| all_status(d, "failed"))
        .await;
    // the endpoint is fixed; ops move the dead letter back to the queue, as an SQS redrive does
    rx.set_default(Reply::Status(200));
    let dlq = hl.hookline.queue.list_dead_letters(10).await.unwrap();
    assert_eq!(dlq.len(), 1);
    hl.hookline
        .queue
        .send_batch(&[hookline_core::ports::Enqueue::now(
            hookline_core::pipeline::Job::decode(&dlq[0].body).unwrap(),
        )])
        .await
        .unwrap();
    let ds = api
        .wait_deliveries(&event_id, WAIT, |d| all_status(d, "succeeded"))
        .await;
    let codes: Vec<_> = ds[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, vec![json!(500), json!(500), json!(200)]);
    hl.shutdown().await;
}
