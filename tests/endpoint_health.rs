//! End to end, endpoint health: a failing endpoint's circuit opens after N consecutive failed
//! attempts, its work is parked (out of the queue, its attempts kept), one probe at a time
//! finds it back, and the parked work is released oldest first; a circuit open too long
//! disables the subscription with warnings, and enabling it again releases what it parked.
//! Through the real HTTP API, the embedded adapters and real receivers on loopback.

mod support;

use hookline_conformance::moto;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::*;

const WAIT: Duration = Duration::from_secs(20);

/// Circuits open after 3 failures and first probe after `first_probe_secs`.
fn breaker_config(disable_after_secs: u64, first_probe_secs: u64) -> hookline::DevConfig {
    let mut c = config("200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms");
    c.settings.circuit_failures = 3;
    c.settings.circuit_first_probe_secs = first_probe_secs;
    c.settings.circuit_max_probe_secs = 1;
    c.settings.circuit_disable_after_secs = disable_after_secs;
    c.settings.circuit_release_per_sec = 1;
    c
}

async fn health(api: &Api, sub: &Value) -> Value {
    let (status, view) = api
        .get(&format!(
            "/v1/subscriptions/{}",
            sub["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200, "{view}");
    view
}

/// Polls the subscription until `done` holds for its view, or panics after `within`.
async fn wait_sub(
    api: &Api,
    sub: &Value,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let view = health(api, sub).await;
        if done(&view) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "subscription never got there: {view:#}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn types(alerts: &Receiver) -> Vec<String> {
    alerts
        .received()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect()
}

async fn send_leads(api: &Api, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let body = json!({"tenant_id": "dealer-7", "type": "lead.created", "data": {"n": i}});
        ids.push(api.send_event(body).await);
        // one millisecond apart: ids (and deliveries) then sort in the order they were sent
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    ids
}

/// The same config on the AWS adapters: DynamoDB, SQS and SNS on moto's server.
fn on_moto(mut c: hookline::DevConfig, topic: &moto::TopicInbox) -> hookline::DevConfig {
    c.backend = hookline::Backend::Aws {
        endpoint: Some(moto::endpoint()),
        table: moto::unique("hookline"),
        queue: moto::unique("deliveries"),
        notify_topic: Some(topic.topic_arn.clone()),
    };
    c
}

/// The endpoint events published to the alert topic, by type.
async fn published(topic: &moto::TopicInbox, n: usize) -> Vec<String> {
    topic
        .wait_for(n, WAIT)
        .await
        .iter()
        .map(|m| {
            serde_json::from_str::<Value>(&m.message).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_failing_endpoint_is_parked_probed_and_released_oldest_first() {
    parked_probed_and_released(breaker_config(3600, 3)).await;
}

#[tokio::test]
async fn a_failing_endpoint_is_parked_probed_and_released_on_dynamodb_sqs_and_sns() {
    let topic = moto::TopicInbox::create().await;
    parked_probed_and_released(on_moto(breaker_config(3600, 3), &topic)).await;
    assert_eq!(
        published(&topic, 2).await,
        ["hookline.endpoint.failing", "hookline.endpoint.recovered"]
    );
}

#[tokio::test]
async fn a_circuit_open_too_long_warns_then_disables_and_enabling_releases_the_parked_work() {
    disabled_then_enabled(breaker_config(4, 1)).await;
}

#[tokio::test]
async fn a_circuit_open_too_long_disables_and_enabling_releases_on_dynamodb_sqs_and_sns() {
    let topic = moto::TopicInbox::create().await;
    disabled_then_enabled(on_moto(breaker_config(5, 1), &topic)).await;
    assert_eq!(
        published(&topic, 3).await,
        [
            "hookline.endpoint.failing",
            "hookline.endpoint.disabling_soon",
            "hookline.endpoint.disabled"
        ]
    );
}

async fn parked_probed_and_released(c: hookline::DevConfig) {
    let (hl, api) = start(c).await;
    let endpoint = Receiver::start(vec![], Reply::Status(503)).await;
    let alerts = Receiver::ok().await;
    // it also asks for endpoint events: none about itself may reach it
    let sub = api
        .subscribe(
            json!({"tenant_id": "dealer-7", "url": endpoint.url("/hooks"),
            "event_types": ["lead.*", "hookline.endpoint.*"]}),
        )
        .await;
    api.subscribe(json!({"tenant_id": "dealer-7", "url": alerts.url("/ops"),
        "event_types": ["hookline.endpoint.*"]}))
        .await;
    let before = health(&api, &sub).await;
    assert_eq!(before["health"]["circuit"], "closed");
    assert_eq!(before["health"]["parked"], 0);

    let first = send_leads(&api, 1).await;
    let opened = wait_sub(&api, &sub, WAIT, |v| v["health"]["circuit"] != "closed").await;
    assert!(
        opened["health"]["consecutive_failures"].as_u64().unwrap() >= 3,
        "{opened:#}"
    );
    assert!(opened["health"]["open_since"].is_string());
    assert!(
        opened["enabled"].as_bool().unwrap(),
        "an open circuit does not disable at once"
    );
    let failing = alerts.wait_for(1, WAIT).await;
    let failing = failing[0].json();
    assert_eq!(failing["type"], "hookline.endpoint.failing");
    assert_eq!(failing["data"]["subscription_id"], sub["id"]);
    assert_eq!(failing["data"]["last_error"], "HTTP 503");
    assert_eq!(failing["data"]["url_host"], endpoint.addr.to_string());
    let about = api
        .deliveries_of_event(failing["id"].as_str().unwrap())
        .await;
    assert_eq!(
        about.len(),
        1,
        "the failing endpoint is not told of itself: {about:#?}"
    );

    // new work while the circuit is open is parked, not attempted
    let later = send_leads(&api, 4).await;
    let parked = wait_sub(&api, &sub, WAIT, |v| {
        v["health"]["parked"].as_u64() >= Some(4)
    })
    .await;
    assert_eq!(parked["health"]["circuit"], "open", "{parked:#}");
    let ds = api.deliveries_of_event(&later[0]).await;
    let (status, one) = api
        .get(&format!("/v1/deliveries/{}", ds[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["status"], "pending");
    assert_eq!(
        one["attempts"].as_array().unwrap().len(),
        0,
        "parked time uses no attempt"
    );
    assert!(
        one["parked"]["reason"]
            .as_str()
            .unwrap()
            .contains("circuit open"),
        "{one:#}"
    );
    assert!(one["parked"]["since"].is_string());

    // the endpoint comes back: a probe closes the circuit and the parked work follows, oldest first
    let failed_so_far = endpoint.received().len();
    endpoint.set_default(Reply::Status(200));
    for id in first.iter().chain(&later) {
        api.wait_deliveries(id, WAIT, |d| all_status(d, "succeeded"))
            .await;
    }
    let closed = wait_sub(&api, &sub, WAIT, |v| v["health"]["circuit"] == "closed").await;
    assert_eq!(closed["health"]["consecutive_failures"], 0);
    assert_eq!(closed["health"]["parked"], 0);
    assert!(closed["health"]["last_success_at"].is_string());
    for id in &later {
        let ds = api.deliveries_of_event(id).await;
        assert_eq!(
            ds[0]["attempts"].as_array().unwrap().len(),
            1,
            "one attempt each: {ds:#?}"
        );
    }
    let delivered: Vec<String> = endpoint.received()[failed_so_far..]
        .iter()
        .filter(|r| r.json()["type"] == "lead.created")
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    let mut oldest_first = delivered.clone();
    oldest_first.sort();
    assert_eq!(delivered.len(), 5, "{delivered:?}");
    assert_eq!(delivered, oldest_first, "released oldest first");
    let seen = alerts.wait_for(2, WAIT).await;
    assert_eq!(
        types(&alerts)[..2],
        ["hookline.endpoint.failing", "hookline.endpoint.recovered"],
        "{seen:?}"
    );
    hl.shutdown().await;
}

async fn disabled_then_enabled(c: hookline::DevConfig) {
    let (hl, api) = start(c).await;
    let endpoint = Receiver::start(vec![], Reply::Status(500)).await;
    let alerts = Receiver::ok().await;
    let sub = api
        .subscribe(json!({"tenant_id": "dealer-7", "url": endpoint.url("/hooks"), "event_types": ["lead.*"]}))
        .await;
    api.subscribe(json!({"tenant_id": "dealer-7", "url": alerts.url("/ops"),
        "event_types": ["hookline.endpoint.*"]}))
        .await;
    let ids = send_leads(&api, 1).await;
    wait_sub(&api, &sub, WAIT, |v| v["health"]["circuit"] != "closed").await;
    let more = send_leads(&api, 3).await;

    let disabled = wait_sub(&api, &sub, WAIT, |v| v["enabled"] == false).await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("circuit open"),
        "{disabled:#}"
    );
    assert!(
        disabled["health"]["parked"].as_u64().unwrap() >= 3,
        "parked work stays parked: {disabled:#}"
    );
    alerts.wait_for(3, WAIT).await;
    assert_eq!(
        types(&alerts),
        [
            "hookline.endpoint.failing",
            "hookline.endpoint.disabling_soon",
            "hookline.endpoint.disabled"
        ]
    );
    let warned = alerts.received()[1].json();
    assert!(warned["data"]["disable_at"].is_string(), "{warned:#}");
    for id in &more {
        let ds = api.deliveries_of_event(id).await;
        assert_eq!(ds[0]["status"], "pending", "parked, not failed: {ds:#?}");
    }

    // fixed and enabled again: what was parked is delivered without a manual replay
    endpoint.set_default(Reply::Status(204));
    let (status, view) = api
        .call(
            "PATCH",
            &format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap()),
            Some(r#"{"enabled": true}"#),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    for id in &more {
        api.wait_deliveries(id, WAIT, |d| all_status(d, "succeeded"))
            .await;
    }
    // the first delivery was the probe: released too, it succeeds or ends failed on its attempts
    api.wait_deliveries(&ids[0], WAIT, |d| d[0]["status"] != "pending")
        .await;
    let after = wait_sub(&api, &sub, WAIT, |v| v["health"]["parked"] == 0).await;
    assert_eq!(after["health"]["circuit"], "closed");
    hl.shutdown().await;
}

#[tokio::test]
async fn deleting_a_subscription_with_parked_work_dead_letters_it_with_the_reason() {
    let (hl, api) = start(breaker_config(3600, 30)).await;
    let endpoint = Receiver::start(vec![], Reply::Status(503)).await;
    let sub = api
        .subscribe(json!({"tenant_id": "dealer-7", "url": endpoint.url("/hooks"), "event_types": ["lead.*"]}))
        .await;
    send_leads(&api, 1).await;
    wait_sub(&api, &sub, WAIT, |v| v["health"]["circuit"] == "open").await;
    let parked = send_leads(&api, 2).await;
    wait_sub(&api, &sub, WAIT, |v| {
        v["health"]["parked"].as_u64() >= Some(3)
    })
    .await;
    let mut ids = Vec::new();
    for id in &parked {
        ids.push(
            api.deliveries_of_event(id).await[0]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let (status, _) = api
        .call(
            "DELETE",
            &format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    // nothing parked is lost: each ends in the dead-letter queue with the reason
    let deadline = Instant::now() + WAIT;
    let dlq = loop {
        let dlq = hl.hookline.queue.list_dead_letters(10).await.unwrap();
        if dlq.len() >= 3 || Instant::now() > deadline {
            break dlq;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for id in &ids {
        let letter = dlq.iter().find(|l| l.body.contains(id.as_str()));
        let letter = letter.unwrap_or_else(|| panic!("{id} not dead-lettered: {dlq:#?}"));
        assert_eq!(letter.reason, "subscription was deleted");
    }
    hl.shutdown().await;
}
