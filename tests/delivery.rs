//! End to end through the real HTTP API, the embedded adapters and a real receiver on loopback.

mod support;

use serde_json::json;
use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(10);

fn lead_qualified(tenant: &str, campaign: &str) -> serde_json::Value {
    json!({
        "tenant_id": tenant,
        "type": "lead.qualified",
        "attributes": {"campaign": campaign},
        "data": {
            "campaign": {"id": campaign, "type": "lost-sales", "location": "Ford Anytown"},
            "customer": {"first_name": "Sarah", "last_name": "Jones", "email": "sarah.jones@example.com"},
            "summary": "Customer asked about PCP options on the Kuga; test drive Friday afternoon."
        }
    })
}

#[tokio::test]
async fn signed_event_reaches_matching_subscriptions_only() {
    let (hl, api) = hookline("1s").await;
    let crm = Receiver::ok().await;
    let other = Receiver::ok().await;
    let sub = api
        .subscribe(json!({
            "tenant_id": "dealer-1", "url": crm.url("/hooks/crm"), "event_types": ["lead.*"],
            "name": "CRM", "filter": {"campaign": ["abc123", "def456"]},
            "headers": {"Authorization": "Bearer receiver-token"},
            "hex_signature_header": "X-CarBuddy-Signature"
        }))
        .await;
    // Each of these must receive nothing: wrong event type, paused, other tenant, other campaign.
    for body in [
        json!({"tenant_id": "dealer-1", "url": other.url("/appt"), "event_types": ["appointment.created"]}),
        json!({"tenant_id": "dealer-1", "url": other.url("/paused"), "event_types": ["*"], "enabled": false}),
        json!({"tenant_id": "dealer-2", "url": other.url("/tenant2"), "event_types": ["*"]}),
        json!({"tenant_id": "dealer-1", "url": other.url("/scoped"), "event_types": ["*"], "filter": {"campaign": ["zzz"]}}),
    ] {
        api.subscribe(body).await;
    }

    let event_id = api.send_event(lead_qualified("dealer-1", "abc123")).await;
    let got = crm.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.path, "/hooks/crm");
    assert_eq!(req.header("content-type"), "application/json");
    assert_eq!(req.header("authorization"), "Bearer receiver-token");
    assert_eq!(req.header("webhook-id"), event_id);

    // An independent Standard Webhooks verifier accepts the request as received.
    let secret = sub["secret"].as_str().unwrap();
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&req.body, &req.header_map())
        .expect("standardwebhooks verifies the delivery");
    // The simple scheme: hex HMAC-SHA256 of the raw body keyed with the secret string.
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&req.body);
    assert_eq!(
        req.header("x-carbuddy-signature"),
        hex::encode(mac.finalize().into_bytes())
    );

    let body = req.json();
    assert_eq!(body["id"], event_id);
    assert_eq!(body["type"], "lead.qualified");
    assert_eq!(body["tenant_id"], "dealer-1");
    assert_eq!(body["data"]["customer"]["first_name"], "Sarah");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    let ds = api
        .wait_deliveries(&event_id, WAIT, |d| all_status(d, "succeeded"))
        .await;
    assert_eq!(
        ds.len(),
        1,
        "only the matching subscription got a delivery: {ds:#?}"
    );
    assert_eq!(ds[0]["subscription_id"], sub["id"]);
    let attempt = &ds[0]["attempts"][0];
    assert_eq!(attempt["status_code"], 200);
    assert!(attempt["duration_ms"].is_u64());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        other.received().is_empty(),
        "non-matching subscriptions received {:?}",
        other.received()
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn raw_format_sends_data_alone() {
    let (hl, api) = hookline("1s").await;
    let rx = Receiver::ok().await;
    api.subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["lead.qualified"], "payload_format": "raw"}))
        .await;
    let data = json!({"id": 138559, "source": "Website", "prospect": {"first_name": "xcvxcvdcz"}});
    api.send_event(json!({"tenant_id": "d", "type": "lead.qualified", "data": data}))
        .await;
    let got = rx.wait_for(1, WAIT).await;
    assert_eq!(got[0].json(), data);
    hl.shutdown().await;
}

#[tokio::test]
async fn failures_are_retried_with_the_same_webhook_id_until_success() {
    let (hl, api) = hookline("200ms,200ms,200ms").await;
    let rx = Receiver::start(
        vec![
            Reply::StatusWith(500, vec![], "database down".into()),
            Reply::Reset,
            Reply::StatusWith(
                302,
                vec![("location", "https://elsewhere.example.com/".into())],
                String::new(),
            ),
        ],
        Reply::Status(204),
    )
    .await;
    api.subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"]}))
        .await;
    let event_id = api
        .send_event(json!({"tenant_id": "d", "type": "appointment.created", "data": {}}))
        .await;
    let ds = api
        .wait_deliveries(&event_id, WAIT, |d| all_status(d, "succeeded"))
        .await;
    let attempts = ds[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4, "{attempts:#?}");
    assert_eq!(attempts[0]["status_code"], 500);
    assert_eq!(attempts[0]["response_body"], "database down");
    assert!(attempts[1].get("status_code").is_none());
    assert!(
        attempts[1]["error"].as_str().unwrap().contains("reset"),
        "{}",
        attempts[1]
    );
    assert_eq!(attempts[2]["status_code"], 302);
    assert!(
        attempts[2]["error"]
            .as_str()
            .unwrap()
            .contains("redirect to https://elsewhere.example.com/ not followed")
    );
    assert_eq!(attempts[3]["status_code"], 204);
    let got = rx.received();
    assert_eq!(got.len(), 4, "the redirect was not followed");
    assert!(got.iter().all(|r| r.header("webhook-id") == event_id));
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "the body is identical on every retry"
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn retry_after_stretches_the_next_delay() {
    let (hl, api) = hookline("100ms,3s").await;
    let rx = Receiver::start(
        vec![Reply::StatusWith(
            429,
            vec![("retry-after", "2".into())],
            String::new(),
        )],
        Reply::Status(200),
    )
    .await;
    api.subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"]}))
        .await;
    let event_id = api
        .send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    let got = rx.wait_for(2, WAIT).await;
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(1_900),
        "Retry-After: 2 was honoured, not the 100ms schedule: {gap:?}"
    );
    api.wait_deliveries(&event_id, WAIT, |d| all_status(d, "succeeded"))
        .await;
    hl.shutdown().await;
}

#[tokio::test]
async fn timeout_is_recorded_and_retried() {
    let (hl, api) = hookline("100ms").await;
    let rx = Receiver::start(vec![Reply::Hang], Reply::Status(200)).await;
    api.subscribe(
        json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"], "timeout_ms": 500}),
    )
    .await;
    let event_id = api
        .send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    let ds = api
        .wait_deliveries(&event_id, WAIT, |d| all_status(d, "succeeded"))
        .await;
    let first = &ds[0]["attempts"][0];
    assert_eq!(first["error"], "timed out after 500 ms");
    let took = first["duration_ms"].as_u64().unwrap();
    assert!(
        (450..3_000).contains(&took),
        "the timeout cut the attempt short: {took} ms"
    );
    hl.shutdown().await;
}

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
    cfg.destination.allow_private = false;
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
        .send_batch(&[dlq[0].body.clone()])
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
