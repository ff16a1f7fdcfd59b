//! The DMS's documented webhooks, powered by Hookline end to end, in the order its set-up
//! screen goes: a named webhook, a target URL, events chosen from the vehicle, deal, job and
//! customer families (the DMS's names in dotted form), `PUT` as the HTTP method and an API key
//! in `X-Api-Key` (sent on every request, never shown by the API); then "test webhook" and
//! "enable webhook". Its payload (event type, timestamp, the related record, the user who
//! triggered it) is signed; failed deliveries are retried with backoff up to a maximum and then
//! notified to the dealer's second webhook, subscribed to `hookline.delivery.failed`; and the
//! webhook log shows every delivery with its status, the payload sent and the response codes.
//!
//! "Maximum retry attempts" is the webhook's own `max_attempts` (three here, on a deployment
//! whose schedule makes six).

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(10);
const TENANT: &str = "hallam-motors";
const API_KEY: &str = "dms-live-7f3a91c2e4b8";

/// The DMS's events, in dotted form.
const EVENTS: [&str; 12] = [
    "vehicle.created",        // Vehicle added to inventory
    "vehicle.status_changed", // Vehicle status changed
    "vehicle.sold",           // Vehicle sold
    "deal.enquiry_created",   // New enquiry created
    "deal.created",           // Deal created
    "deal.status_changed",    // Deal status changed
    "deal.completed",         // Deal completed
    "job.created",            // Job created
    "job.invoiced",           // Job invoiced
    "job.completed",          // Job completed
    "customer.created",       // New customer created
    "customer.updated",       // Customer updated
];

/// The webhook's choice: two vehicle events, every deal event, invoiced jobs, new customers.
const CHOSEN: [&str; 5] = [
    "vehicle.created",
    "vehicle.sold",
    "deal.*",
    "job.invoiced",
    "customer.created",
];

/// What the choice delivers of [`EVENTS`].
const DELIVERED: [&str; 8] = [
    "customer.created",
    "deal.completed",
    "deal.created",
    "deal.enquiry_created",
    "deal.status_changed",
    "job.invoiced",
    "vehicle.created",
    "vehicle.sold",
];

/// An event's data: the sample of `events/samples/dms/`, the related record and the user who
/// triggered it, valid against the catalogue's schema.
fn data(event: &str) -> Value {
    samples("dms")
        .into_iter()
        .find(|s| s["type"] == event)
        .unwrap_or_else(|| panic!("a sample of {event}"))["data"]
        .clone()
}

async fn send(api: &Api, event: &str) -> String {
    api.send_event(json!({"tenant_id": TENANT, "type": event, "data": data(event)}))
        .await
}

/// The event's deliveries once fanned out: when its delivery to `witness` exists.
async fn fanned_out(api: &Api, event: &str, witness: &Value) -> Vec<Value> {
    api.wait_deliveries(event, WAIT, |d| {
        d.iter().any(|d| d["subscription_id"] == witness["id"])
    })
    .await
}

fn to<'a>(ds: &'a [Value], sub: &Value) -> Option<&'a Value> {
    ds.iter().find(|d| d["subscription_id"] == sub["id"])
}

/// Checks one request as the DMS sends it: `PUT`, the API key, a signed JSON body.
fn check(r: &Received, secret: &str) -> Value {
    assert_eq!((r.method.as_str(), r.path.as_str()), ("PUT", "/dms/events"));
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("x-api-key"), API_KEY);
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&r.body, &r.header_map())
        .expect("the signature verifies");
    r.json()
}

#[tokio::test]
async fn dms_webhooks_are_delivered_as_documented() {
    let (hl, api) = hookline("200ms,200ms,200ms,200ms,200ms").await;
    // the DMS's catalogue: its events' schemas, checked at ingest
    api.import("dms").await;
    let crm = Receiver::start(vec![], Reply::StatusWith(200, vec![], "accepted".into())).await;
    let (audit, ops) = (Receiver::ok().await, Receiver::ok().await);
    let sub = api
        .subscribe(
            json!({"tenant_id": TENANT, "name": "Stock and sales to the CRM",
            "url": crm.url("/dms/events"), "event_types": CHOSEN, "method": "PUT",
            "auth": {"type": "header", "name": "X-Api-Key", "value": API_KEY}, "enabled": false,
            "max_attempts": 3}),
        )
        .await;
    // every event, to know when one has been fanned out; and the failure notifications
    let witness = api
        .subscribe(
            json!({"tenant_id": TENANT, "name": "Audit log", "url": audit.url("/"),
            "event_types": ["*"]}),
        )
        .await;
    api.subscribe(
        json!({"tenant_id": TENANT, "name": "Webhook failures", "url": ops.url("/alerts"),
        "event_types": ["hookline.delivery.failed"]}),
    )
    .await;
    let path = format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap());
    let secret = sub["secret"].as_str().unwrap().to_string();
    let (_, shown) = api.get(&path).await;
    assert_eq!(shown["name"], "Stock and sales to the CRM");
    assert_eq!(shown["method"], "PUT");
    assert_eq!(shown["enabled"], false, "enabled once tested");
    assert_eq!(shown["max_attempts"], 3);
    assert_eq!(shown["auth"]["type"], "header");
    assert!(!format!("{sub}{shown}").contains(API_KEY), "never shown");

    // test webhook
    let (status, report) = api.post(&format!("{path}/test"), json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["success"], true);
    assert_eq!(report["attempt"]["status_code"], 200);
    assert_eq!(report["attempt"]["response_body"], "accepted");
    let test = check(&crm.wait_for(1, WAIT).await[0], &secret);
    assert_eq!(test["type"], "webhook.test");

    // not enabled yet: an event now is not delivered to it, then or later
    let early = send(&api, "vehicle.created").await;
    assert!(to(&fanned_out(&api, &early, &witness).await, &sub).is_none());
    // enable webhook
    let (status, on) = api.call("PATCH", &path, Some(r#"{"enabled": true}"#)).await;
    assert_eq!((status, &on["enabled"]), (200, &json!(true)), "{on}");

    let mut ids = Vec::new();
    for event in EVENTS {
        ids.push((send(&api, event).await, event));
    }
    for (id, event) in &ids {
        let ds = fanned_out(&api, id, &witness).await;
        let expected = DELIVERED.contains(event);
        assert_eq!(to(&ds, &sub).is_some(), expected, "{event}");
    }
    let got = crm.wait_for(1 + DELIVERED.len(), WAIT).await;
    assert_eq!(got.len(), 1 + DELIVERED.len(), "test + chosen");
    let mut types = Vec::new();
    for r in &got[1..] {
        let body = check(r, &secret);
        let event = body["type"].as_str().unwrap();
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'), "{body}");
        assert_eq!(body["data"], data(event), "the related record and the user");
        // an id to be idempotent on, the same on every retry
        assert_eq!(body["id"], r.header("webhook-id"));
        types.push(event.to_string());
    }
    types.sort();
    assert_eq!(types, DELIVERED);

    // the CRM fails: retried with backoff to the maximum, then the failure is notified
    let down = Reply::StatusWith(500, vec![], "database unavailable".into());
    crm.set_default(down);
    let invoiced = send(&api, "job.invoiced").await;
    let ds = api
        .wait_deliveries(&invoiced, WAIT, |d| {
            to(d, &sub).is_some_and(|d| d["status"] == "failed")
        })
        .await;
    let failed = to(&ds, &sub).unwrap().clone();
    let reason = failed["failure_reason"].as_str().unwrap();
    assert!(reason.contains("gave up after 3 attempts"), "{reason}");
    let alerts = ops.wait_for(1, WAIT).await;
    assert_eq!(alerts.len(), 1);
    let n = alerts[0].json();
    assert_eq!(n["type"], "hookline.delivery.failed");
    assert_eq!(n["tenant_id"], TENANT);
    assert_eq!(n["data"]["delivery_id"], failed["id"]);
    assert_eq!(n["data"]["subscription_id"], sub["id"]);
    assert_eq!(n["data"]["event_type"], "job.invoiced");
    assert_eq!(n["data"]["attempts"], 3);
    assert_eq!(n["data"]["last_status_code"], 500);

    // the webhook log: every delivery and its status; the payload sent and the response codes
    let (_, log) = api.get(&format!("{path}/deliveries")).await;
    let log = log["data"].as_array().unwrap();
    let count = |s: &str| log.iter().filter(|d| d["status"] == s).count();
    let counts = (count("succeeded"), count("failed"));
    assert_eq!(counts, (1 + DELIVERED.len(), 1), "{log:#?}");
    let view = format!(
        "/v1/deliveries/{}?include=request",
        failed["id"].as_str().unwrap()
    );
    let (status, d) = api.get(&view).await;
    assert_eq!(status, 200, "{d}");
    let attempts = d["attempts"].as_array().unwrap();
    let codes: Vec<_> = attempts.iter().map(|a| &a["status_code"]).collect();
    assert_eq!(codes, vec![&json!(500); 3]);
    assert_eq!(d["attempts"][2]["response_body"], "database unavailable");
    let sent = crm.received().pop().unwrap();
    let request = &d["request"];
    assert_eq!(request["method"], "PUT");
    assert_eq!(request["url"], crm.url("/dms/events"));
    assert_eq!(request["body"], check(&sent, &secret), "the payload sent");
    assert_eq!(request["body"]["data"], data("job.invoiced"));
    assert_eq!(request["headers"]["x-api-key"], "[redacted]");
    assert!(!d.to_string().contains(API_KEY));
    hl.shutdown().await;
}
