//! DealerAI's webhooks, powered by Hookline end to end: its catalogue of event types (common
//! fields `dealerId`, `leadId`, `timestamp` shared by `$ref`) on a deployment that accepts
//! declared types only, every type's sample validated and delivered, a bad payload refused with
//! the pointer of each problem, http endpoints refused on an HTTPS-only deployment, and "3
//! retries, then failed" as the subscription's own retry policy.

mod support;

use serde_json::json;
use std::time::Duration;
use support::*;

const TENANT: &str = "dealer-4471";

#[tokio::test]
async fn every_dealerai_event_type_is_validated_and_delivered() {
    let mut config = config("100ms,100ms,100ms");
    config.settings.strict_event_types = true;
    let (_hl, api) = start(config).await;
    api.import("dealerai").await;

    // declared types only: a typo in a subscription's or an event's type is refused
    let crm = Receiver::ok().await;
    let (status, err) = api
        .post(
            "/v1/subscriptions",
            json!({"tenant_id": TENANT, "url": crm.url("/x"),
            "event_types": ["lead.creatd"]}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("unknown_event_type")),
        "{err}"
    );
    let (status, err) = api
        .post(
            "/v1/events",
            json!({"tenant_id": TENANT, "type": "lead.creatd", "data": {}}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("unknown_event_type")),
        "{err}"
    );

    let samples = samples("dealerai");
    assert_eq!(samples.len(), 23);
    let families = [
        "lead.*",
        "appointment.*",
        "contact.*",
        "conversation.*",
        "sequence.*",
    ];
    api.subscribe(json!({"tenant_id": TENANT, "url": crm.url("/dealerai"),
        "event_types": families, "payload_format": "raw"}))
        .await;
    for s in &samples {
        api.send_event(json!({"tenant_id": TENANT, "type": s["type"], "data": s["data"]}))
            .await;
    }
    let got = crm.wait_for(23, Duration::from_secs(20)).await;
    for s in &samples {
        assert!(
            got.iter().any(|r| r.json() == s["data"]),
            "{} delivered as sent",
            s["type"]
        );
    }

    // a producer's typo (`leadID`) and a wrong type are refused with their pointers
    let mut bad = samples
        .iter()
        .find(|s| s["type"] == "lead.created")
        .unwrap()["data"]
        .clone();
    let id = bad.as_object_mut().unwrap().remove("leadId").unwrap();
    bad["leadID"] = id;
    bad["dealerId"] = json!(4471);
    let (status, err) = api
        .post(
            "/v1/events",
            json!({"tenant_id": TENANT, "type": "lead.created", "data": bad}),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["code"], "schema_validation_failed");
    let details = err["error"]["details"].as_array().unwrap();
    assert!(
        details.iter().any(|d| d["pointer"] == "/data/dealerId"),
        "{err}"
    );
    assert!(
        details
            .iter()
            .any(|d| d["pointer"] == "/data" && d["message"].as_str().unwrap().contains("leadId")),
        "{err}"
    );
}

#[tokio::test]
async fn dealerai_endpoints_are_https_only() {
    let mut config = config("1s");
    config.settings.require_https = true;
    let (_hl, api) = start(config).await;
    let (status, err) = api
        .post(
            "/v1/subscriptions",
            json!({"tenant_id": TENANT, "url": "http://crm.example.com/hooks",
            "event_types": ["lead.*"]}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "invalid_url");
    api.subscribe(
        json!({"tenant_id": TENANT, "url": "https://crm.example.com/hooks",
        "event_types": ["lead.*"]}),
    )
    .await;
}

#[tokio::test]
async fn a_dealerai_delivery_is_retried_three_times_then_failed() {
    // the deployment's schedule has seven retries; this webhook makes three, 200 ms apart
    let (_hl, api) = hookline("100ms,100ms,100ms,100ms,100ms,100ms,100ms").await;
    api.import("dealerai").await;
    let crm = Receiver::start(vec![], Reply::Status(500)).await;
    let sub = api
        .subscribe(json!({"tenant_id": TENANT, "url": crm.url("/dealerai"),
            "event_types": ["appointment.*"], "payload_format": "raw",
            "retry_schedule": "200ms,200ms,200ms"}))
        .await;
    assert_eq!(sub["retry_schedule"], "200ms,200ms,200ms");
    let sample = samples("dealerai")
        .into_iter()
        .find(|s| s["type"] == "appointment.created")
        .unwrap();
    let event = api
        .send_event(
            json!({"tenant_id": TENANT, "type": "appointment.created", "data": sample["data"]}),
        )
        .await;
    let ds = api
        .wait_deliveries(&event, Duration::from_secs(10), |d| all_status(d, "failed"))
        .await;
    assert_eq!(
        ds[0]["attempts"].as_array().unwrap().len(),
        4,
        "the first attempt and 3 retries"
    );
    assert_eq!(crm.received().len(), 4);
}
