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
            "headers": {"X-Dealer-Id": "4821"}, "auth": {"type": "bearer", "token": "receiver-token"},
            "hex_signature_header": "X-CarBuddy-Signature"
        }))
        .await;
    assert_eq!(sub["auth"]["type"], "bearer");
    assert!(
        !sub.to_string().contains("receiver-token"),
        "the credential is never shown: {sub}"
    );
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
    assert_eq!(req.header("x-dealer-id"), "4821");
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
async fn a_subscription_chooses_post_put_or_patch() {
    let (hl, api) = hookline("1s").await;
    let rx = Receiver::ok().await;
    let put = api
        .subscribe(json!({"tenant_id": "d", "url": rx.url("/put"), "event_types": ["vehicle.*"], "method": "PUT"}))
        .await;
    assert_eq!(put["method"], "PUT");
    let patched = api
        .subscribe(json!({"tenant_id": "d", "url": rx.url("/patch"), "event_types": ["vehicle.*"]}))
        .await;
    assert_eq!(patched["method"], "POST", "POST unless chosen");
    let id = patched["id"].as_str().unwrap();
    let (status, body) = api
        .call(
            "PATCH",
            &format!("/v1/subscriptions/{id}"),
            Some(&json!({"method": "PATCH"}).to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["method"], "PATCH");
    let (status, body) = api
        .post(
            "/v1/subscriptions",
            json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"], "method": "DELETE"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    api.send_event(
        json!({"tenant_id": "d", "type": "vehicle.updated", "data": {"vin": "1HGCM82633A004352"}}),
    )
    .await;
    let got = rx.wait_for(2, WAIT).await;
    let mut seen: Vec<(String, String)> = got
        .iter()
        .map(|r| (r.path.clone(), r.method.clone()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("/patch".into(), "PATCH".into()),
            ("/put".into(), "PUT".into())
        ]
    );
    for r in &got {
        assert_eq!(
            r.json()["data"]["vin"],
            "1HGCM82633A004352",
            "the same signed body"
        );
    }
    hl.shutdown().await;
}

#[tokio::test]
async fn outbound_credentials_are_sent_replaceable_and_never_shown() {
    let (hl, api) = hookline("1s").await;
    let rx = Receiver::ok().await;
    // a credential as a custom header is refused, pointing at `auth`
    let (status, body) = api
        .post("/v1/subscriptions", json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"], "headers": {"X-Api-Key": "k-1"}}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "credential_header", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("auth"));
    let key = api
        .subscribe(
            json!({"tenant_id": "d", "url": rx.url("/key"), "event_types": ["deal.*"],
            "auth": {"type": "header", "name": "X-Api-Key", "value": "k-1"}}),
        )
        .await;
    let basic = api
        .subscribe(
            json!({"tenant_id": "d", "url": rx.url("/basic"), "event_types": ["deal.*"],
            "auth": {"type": "basic", "username": "dms", "password": "s3cret"}}),
        )
        .await;
    let id = key["id"].as_str().unwrap();
    let (_, shown) = api.get(&format!("/v1/subscriptions/{id}")).await;
    assert_eq!(shown["auth"]["type"], "header");
    assert_eq!(shown["auth"]["fingerprint"].as_str().unwrap().len(), 8);
    assert!(!shown.to_string().contains("k-1"), "{shown}");
    let before = shown["auth"]["fingerprint"].clone();
    // replaced by PATCH: the new credential goes out, the fingerprint changes
    let (status, patched) = api
        .call(
            "PATCH",
            &format!("/v1/subscriptions/{id}"),
            Some(
                &json!({"auth": {"type": "header", "name": "X-Api-Key", "value": "k-2"}})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_ne!(patched["auth"]["fingerprint"], before);
    api.send_event(json!({"tenant_id": "d", "type": "deal.closed", "data": {"dealId": "D-1"}}))
        .await;
    let got = rx.wait_for(2, WAIT).await;
    let at = |path: &str| got.iter().find(|r| r.path == path).unwrap();
    assert_eq!(at("/key").header("x-api-key"), "k-2");
    assert_eq!(
        at("/basic").header("authorization"),
        "Basic ZG1zOnMzY3JldA=="
    );
    assert!(!basic.to_string().contains("s3cret"));
    hl.shutdown().await;
}

#[tokio::test]
async fn a_delivery_shows_the_request_it_sent_with_secrets_redacted() {
    let (hl, api) = hookline("1s").await;
    let rx = Receiver::ok().await;
    api.subscribe(json!({"tenant_id": "d", "url": rx.url("/dms"), "event_types": ["deal.*"],
        "method": "PUT", "headers": {"X-Dealer-Id": "4821"}, "hex_signature_header": "X-DMS-Signature",
        "auth": {"type": "header", "name": "X-Api-Key", "value": "k-secret"}}))
        .await;
    let event_id = api
        .send_event(json!({"tenant_id": "d", "type": "deal.closed", "data": {"dealId": "D-7"}}))
        .await;
    let got = rx.wait_for(1, WAIT).await;
    let ds = api
        .wait_deliveries(&event_id, WAIT, |d| {
            !d.is_empty() && d.iter().all(|d| d["status"] == "succeeded")
        })
        .await;
    let id = ds[0]["id"].as_str().unwrap();
    let (status, plain) = api.get(&format!("/v1/deliveries/{id}")).await;
    assert_eq!(status, 200);
    assert!(plain.get("request").is_none(), "only when asked for");
    let (status, d) = api
        .get(&format!("/v1/deliveries/{id}?include=request"))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["id"], ds[0]["id"]);
    assert_eq!(d["attempts"][0]["status_code"], 200);
    let r = &d["request"];
    assert_eq!(r["method"], "PUT");
    assert_eq!(r["url"], rx.url("/dms"));
    assert_eq!(r["body"], got[0].json(), "the body the receiver got");
    assert_eq!(r["headers"]["webhook-id"], event_id);
    assert_eq!(r["headers"]["x-dealer-id"], "4821");
    for secret in ["webhook-signature", "x-dms-signature", "x-api-key"] {
        assert_eq!(r["headers"][secret], "[redacted]", "{secret}: {r}");
    }
    assert!(!d.to_string().contains("k-secret"));
    let (status, body) = api
        .get(&format!("/v1/deliveries/{id}?include=everything"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query");
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
