//! Test events, secret rotation, replay and recovery, and the attempt limit.

mod support;

use serde_json::json;
use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn test_event_is_signed_sent_once_and_logged() {
    let (hl, api) = hookline("1s").await;
    let rx = Receiver::start(
        vec![Reply::StatusWith(200, vec![], "pong".into())],
        Reply::Status(503),
    )
    .await;
    let other = Receiver::ok().await;
    let sub = api.subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["lead.*"], "enabled": false})).await;
    api.subscribe(
        json!({"tenant_id": "d", "url": other.url("/"), "event_types": ["*", "webhook.*"]}),
    )
    .await;
    let id = sub["id"].as_str().unwrap();

    let (status, report) = api
        .post(&format!("/v1/subscriptions/{id}/test"), json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["success"], true);
    assert_eq!(report["attempt"]["status_code"], 200);
    assert_eq!(report["attempt"]["response_body"], "pong");
    let got = rx.received();
    assert_eq!(got.len(), 1, "a paused subscription can still be tested");
    assert_eq!(got[0].json()["type"], "webhook.test");
    standardwebhooks::Webhook::new(sub["secret"].as_str().unwrap())
        .unwrap()
        .verify(&got[0].body, &got[0].header_map())
        .unwrap();

    // a failing test is reported, logged as failed, and never retried or dead-lettered
    let (_, report) = api
        .post(&format!("/v1/subscriptions/{id}/test"), json!({}))
        .await;
    assert_eq!(report["success"], false);
    assert_eq!(report["attempt"]["status_code"], 503);
    let (_, d) = api
        .get(&format!(
            "/v1/deliveries/{}",
            report["delivery_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(d["status"], "failed");
    assert_eq!(d["failure_reason"], "test event; not retried");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(rx.received().len(), 2);
    assert!(
        other.received().is_empty(),
        "a test event goes to its subscription only"
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
async fn a_test_event_can_be_one_of_the_subscriptions_types() {
    let (hl, api) = hookline("1s").await;
    let schema = json!({"type": "object", "required": ["leadId"],
        "properties": {"leadId": {"type": "string"}},
        "examples": [{"leadId": "138559", "dealerId": "4471"}]});
    let (status, t) = api
        .post(
            "/v1/event-types",
            json!({"name": "lead.qualified", "schema": schema}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let rx = Receiver::ok().await;
    let sub = api
        .subscribe(
            json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["lead.*"],
            "payload_format": "raw"}),
        )
        .await;
    let path = format!("/v1/subscriptions/{}/test", sub["id"].as_str().unwrap());
    // the type's schema example, when no data is given
    let (status, report) = api
        .post(&path, json!({"event_type": "lead.qualified"}))
        .await;
    assert_eq!(
        (status, &report["success"]),
        (200, &json!(true)),
        "{report}"
    );
    let sent = rx.wait_for(1, WAIT).await.remove(0);
    assert_eq!(sent.json(), json!({"leadId": "138559", "dealerId": "4471"}));
    // given data, checked against the schema
    let data = json!({"leadId": "9001"});
    let (status, _) = api
        .post(&path, json!({"event_type": "lead.qualified", "data": data}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(rx.wait_for(2, WAIT).await[1].json(), data);
    // refused, and nothing sent: bad data, a type it does not receive, one of Hookline's own,
    // data without a type
    for (body, status, code) in [
        (
            json!({"event_type": "lead.qualified", "data": {"leadId": 9001}}),
            422,
            "schema_validation_failed",
        ),
        (
            json!({"event_type": "appointment.created"}),
            400,
            "invalid_event_type",
        ),
        (
            json!({"event_type": "hookline.delivery.failed"}),
            400,
            "reserved_event_type",
        ),
        (json!({"data": {"leadId": "1"}}), 400, "invalid_request"),
    ] {
        let (got, e) = api.post(&path, body.clone()).await;
        assert_eq!(
            (got, e["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {e}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.received().len(), 2);
    hl.shutdown().await;
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_during_grace() {
    let (hl, api) = hookline("1s").await;
    let rx = Receiver::ok().await;
    let sub = api
        .subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"], "hex_signature_header": "X-CarBuddy-Signature"}))
        .await;
    let id = sub["id"].as_str().unwrap();
    let old = sub["secret"].as_str().unwrap().to_string();
    let (status, rotated) = api
        .post(
            &format!("/v1/subscriptions/{id}/rotate-secret"),
            json!({"grace_period_secs": 2}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(old, new);
    assert!(rotated["previous_secret_expires_at"].is_string());
    assert!(
        api.get(&format!("/v1/subscriptions/{id}"))
            .await
            .1
            .get("secret")
            .is_none()
    );

    api.send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    let got = rx.wait_for(1, WAIT).await;
    let sigs = got[0].header("webhook-signature");
    assert_eq!(sigs.split(' ').count(), 2, "{sigs}");
    // receivers holding only the old secret, or only the new one, both verify
    for secret in [&old, &new] {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&got[0].body, &got[0].header_map())
            .expect("verifies during grace");
    }
    // the hex header is signed with the new secret only
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(new.as_bytes()).unwrap();
    mac.update(&got[0].body);
    assert_eq!(
        got[0].header("x-carbuddy-signature"),
        hex::encode(mac.finalize().into_bytes())
    );

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    api.send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    let got = rx.wait_for(2, WAIT).await;
    assert_eq!(
        got[1].header("webhook-signature").split(' ').count(),
        1,
        "after the grace period only the new secret signs"
    );
    assert!(
        standardwebhooks::Webhook::new(&old)
            .unwrap()
            .verify(&got[1].body, &got[1].header_map())
            .is_err()
    );
    standardwebhooks::Webhook::new(&new)
        .unwrap()
        .verify(&got[1].body, &got[1].header_map())
        .unwrap();

    let (status, err) = api
        .post(
            &format!("/v1/subscriptions/{id}/rotate-secret"),
            json!({"grace_period_secs": 700_000}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (400, json!("invalid_grace_period"))
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn failed_delivery_can_be_retried_and_recovered() {
    let (hl, api) = hookline("").await; // one attempt, then dead-letter
    let rx = Receiver::start(vec![], Reply::Status(500)).await;
    let sub = api
        .subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"]}))
        .await;
    let sid = sub["id"].as_str().unwrap();
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(
            api.send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
                .await,
        );
    }
    for e in &events {
        api.wait_deliveries(e, WAIT, |d| all_status(d, "failed"))
            .await;
    }
    rx.set_default(Reply::Status(200));

    // replay one: a new attempt on the same delivery with the same webhook-id
    let first = api.deliveries_of_event(&events[0]).await.remove(0);
    let (status, report) = api
        .post(
            &format!("/v1/deliveries/{}/retry", first["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["success"], true);
    assert_eq!(report["attempt"]["number"], 2);
    let got = rx.received();
    assert_eq!(got.last().unwrap().header("webhook-id"), events[0]);
    assert_eq!(
        api.deliveries_of_event(&events[0]).await[0]["status"],
        "succeeded"
    );

    // recover the rest within a window
    let since = "2020-01-01T00:00:00Z";
    let (status, report) = api
        .post(
            &format!("/v1/subscriptions/{sid}/recover"),
            json!({"since": since}),
        )
        .await;
    assert_eq!(status, 202, "{report}");
    assert_eq!(
        report,
        json!({"queued": 2, "more": false, "next_cursor": null})
    );
    for e in &events[1..] {
        let ds = api
            .wait_deliveries(e, WAIT, |d| all_status(d, "succeeded"))
            .await;
        let attempts = ds[0]["attempts"].as_array().unwrap();
        assert_eq!(
            attempts.len(),
            2,
            "the first failed attempt and the recovered one"
        );
        assert_eq!(attempts[1]["status_code"], 200);
    }
    // an empty window queues nothing; an inverted one is refused
    let (_, none) = api
        .post(
            &format!("/v1/subscriptions/{sid}/recover"),
            json!({"since": since}),
        )
        .await;
    assert_eq!(none["queued"], 0);
    let (status, err) = api
        .post(
            &format!("/v1/subscriptions/{sid}/recover"),
            json!({"since": since, "after": "not-a-cursor"}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "invalid_cursor");
    let (status, err) = api
        .post(
            &format!("/v1/subscriptions/{sid}/recover"),
            json!({"since": "2030-01-01T00:00:00Z", "until": "2029-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (400, json!("invalid_window"))
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn delivery_listing_filters_by_time_window() {
    let (hl, api) = hookline("1s").await;
    let rx = Receiver::ok().await;
    let sub = api
        .subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"]}))
        .await;
    let e = api
        .send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    api.wait_deliveries(&e, WAIT, |d| all_status(d, "succeeded"))
        .await;
    let path = format!(
        "/v1/subscriptions/{}/deliveries",
        sub["id"].as_str().unwrap()
    );
    let count = |q: &'static str| {
        let (api, path) = (api.clone(), path.clone());
        async move {
            api.get(&format!("{path}{q}")).await.1["data"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count("?since=2020-01-01T00:00:00Z").await, 1);
    assert_eq!(count("?until=2020-01-01T00:00:00Z").await, 0);
    assert_eq!(
        count("?since=2999-01-01T00:00:00Z&status=succeeded").await,
        0
    );
    assert_eq!(api.get(&format!("{path}?since=yesterday")).await.0, 400);
    hl.shutdown().await;
}

#[tokio::test]
async fn a_delivery_has_at_most_100_attempts() {
    let (hl, api) = hookline("").await; // one attempt per round
    let rx = Receiver::start(vec![], Reply::Status(500)).await;
    let sub = api
        .subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"]}))
        .await;
    let event = api
        .send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    let ds = api
        .wait_deliveries(&event, WAIT, |d| all_status(d, "failed"))
        .await;
    let retry = format!("/v1/deliveries/{}/retry", ds[0]["id"].as_str().unwrap());
    for n in 2..=100 {
        let (status, report) = api.post(&retry, json!({})).await;
        assert_eq!((status, &report["attempt"]["number"]), (200, &json!(n)));
    }
    let (status, err) = api.post(&retry, json!({})).await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (409, json!("attempt_limit_reached"))
    );
    // a recovery round is refused too: the job is dead-lettered with the reason
    let (status, _) = api
        .post(
            &format!("/v1/subscriptions/{}/recover", sub["id"].as_str().unwrap()),
            json!({"since": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 202);
    let deadline = std::time::Instant::now() + WAIT;
    let reasons = loop {
        let dl = hl.hookline.queue.list_dead_letters(10).await.unwrap();
        if dl.len() == 2 || std::time::Instant::now() > deadline {
            break dl.into_iter().map(|d| d.reason).collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(
        reasons.iter().any(|r| r.contains("limit of 100 attempts")),
        "{reasons:?}"
    );
    let ds = api.deliveries_of_event(&event).await;
    assert_eq!(ds[0]["status"], "failed");
    assert_eq!(ds[0]["attempts"].as_array().unwrap().len(), 100);
    assert_eq!(rx.received().len(), 100);
    hl.shutdown().await;
}
