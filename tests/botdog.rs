//! Botdog's documented webhooks, powered by Hookline end to end: its event types and payload
//! (`id`, `eventType`, `campaignId`, the contact fields) as the raw body, a scope of specific
//! campaigns, the secret shown once, `X-Webhook-Signature`, the top-level `id` to deduplicate
//! retries, six attempts before a delivery fails while the webhook stays active, recent
//! deliveries with status code, response body and attempts, pause and resume, a test event of
//! a Botdog event type (so the endpoint can validate the shape it will get) and a rotation for
//! an exposed secret.
//!
//! `X-Webhook-Signature` is "an HMAC signature over the request body", as Botdog documents it:
//! the lowercase hex HMAC-SHA256 of the raw body keyed with the secret
//! (`hex_signature_header`). Every request also carries Standard Webhooks' timestamped
//! `webhook-signature`, for receivers that want replay protection.

mod support;

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(10);
const TENANT: &str = "anytown-ford";
/// Botdog retries failures "with exponential backoff" (its page of figures is not part of the
/// reference); six attempts on a shortened schedule here.
const SCHEDULE: &str = "200ms,200ms,200ms,200ms,200ms";

/// Botdog's event types with their `humanReadableEventName`.
const EVENTS: [(&str, &str); 5] = [
    ("LEAD_PROFILE_VISITED", "Profile visited"),
    ("LEAD_INVITATION_SENT", "Invitation sent"),
    ("LEAD_INVITATION_ACCEPTED", "Invitation accepted"),
    ("LEAD_MESSAGE_SENT", "Message sent"),
    ("LEAD_MESSAGE_REPLIED", "Received a reply"),
];

/// A Botdog payload: the shared fields and a lead event's contact fields.
fn payload(id: &str, event: &str, campaign: &str) -> Value {
    let label = EVENTS.iter().find(|(e, _)| *e == event).unwrap().1;
    json!({
        "id": id, "timestamp": "2026-05-28T12:34:56.000Z", "eventType": event,
        "humanReadableEventName": label, "campaignId": campaign, "campaignName": "Lost sales Q2",
        "botdogUserId": "usr_81f2", "botdogUserEmail": "sam.price@anytown-ford.example",
        "botdogUserLinkedinPublicUrl": "https://www.linkedin.com/in/sam-price",
        "contactName": "Sarah Jones",
        "contactLinkedinUrl": "https://www.linkedin.com/in/sarah-jones",
        "contactEmails": ["sarah.jones@example.com"], "contactPhones": [],
        "contactCompanyName": "Jones Logistics"
    })
}

/// The Hookline event type of a Botdog `eventType` (`LEAD_MESSAGE_REPLIED` is
/// `lead.message.replied`, as `events/catalog/botdog.json` declares it), so `lead.message.*`
/// picks a family.
fn dotted(event: &str) -> String {
    event.to_lowercase().replace('_', ".")
}

/// Botdog posts the event to Hookline with its campaign as the attribute webhooks are scoped by.
async fn send(api: &Api, event: &str, campaign: &str, id: &str) -> String {
    api.send_event(json!({"tenant_id": TENANT, "type": dotted(event),
        "attributes": {"campaign": campaign}, "data": payload(id, event, campaign)}))
        .await
}

/// A webhook for `events`; `filter` scopes it to specific campaigns.
async fn webhook(api: &Api, rx: &Receiver, events: &[&str], filter: Option<Value>) -> Value {
    api.subscribe(
        json!({"tenant_id": TENANT, "name": "Botdog -> CRM", "url": rx.url("/botdog"),
        "event_types": events.iter().map(|e| dotted(e)).collect::<Vec<_>>(), "filter": filter, "payload_format": "raw",
        "hex_signature_header": "X-Webhook-Signature"}),
    )
    .await
}

/// Whether `X-Webhook-Signature` is the HMAC-SHA256 of the raw body under `secret`.
fn signed_with(r: &Received, secret: &str) -> bool {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&r.body);
    r.header("x-webhook-signature") == hex::encode(mac.finalize().into_bytes())
}

/// The event's deliveries once fanned out: when its delivery to `witness` exists.
async fn fanned_out(api: &Api, event: &str, witness: &Value) -> Vec<Value> {
    api.wait_deliveries(event, WAIT, |d| {
        d.iter().any(|d| d["subscription_id"] == witness["id"])
    })
    .await
}

/// Pauses (`false`) or resumes (`true`) the webhook at `path`.
async fn set_enabled(api: &Api, path: &str, on: bool) {
    let (status, sub) = api
        .call("PATCH", path, Some(&json!({"enabled": on}).to_string()))
        .await;
    assert_eq!((status, &sub["enabled"]), (200, &json!(on)), "{sub}");
}

/// A delivery's attempts, each as `number status_code response_body`.
fn attempts(d: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for a in d["attempts"].as_array().unwrap() {
        let (n, code, body) = (&a["number"], &a["status_code"], &a["response_body"]);
        out.push(format!("{n} {code} {body}"));
    }
    out
}

#[tokio::test]
async fn botdog_webhooks_are_delivered_as_documented() {
    let (hl, api) = hookline(SCHEDULE).await;
    api.import("botdog").await;
    let reply = |s, b: &str| Reply::StatusWith(s, vec![], b.into());
    let crm = Receiver::start(vec![reply(503, "busy")], reply(200, "ok")).await;
    let dashboard = Receiver::ok().await;
    let picked = ["LEAD_INVITATION_ACCEPTED", "LEAD_MESSAGE_REPLIED"];
    let sub = webhook(&api, &crm, &picked, Some(json!({"campaign": ["cmp_1"]}))).await;
    let everything = webhook(&api, &dashboard, &EVENTS.map(|e| e.0), None).await; // all campaigns
    let id = sub["id"].as_str().unwrap();
    let secret = sub["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "shown at creation");
    let (_, shown) = api.get(&format!("/v1/subscriptions/{id}")).await;
    let (_, list) = api
        .get(&format!("/v1/subscriptions?tenant_id={TENANT}"))
        .await;
    assert_eq!(shown["filter"], json!({"campaign": ["cmp_1"]}));
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(!format!("{shown}{list}").contains(&secret), "never again");

    let other_campaign = send(&api, "LEAD_MESSAGE_REPLIED", "cmp_2", "wh_1").await;
    let not_picked = send(&api, "LEAD_PROFILE_VISITED", "cmp_1", "wh_2").await;
    let replied = send(&api, "LEAD_MESSAGE_REPLIED", "cmp_1", "wh_3").await;
    let accepted = send(&api, "LEAD_INVITATION_ACCEPTED", "cmp_1", "wh_4").await;
    let mut reach = Vec::new();
    for e in [&other_campaign, &not_picked, &replied, &accepted] {
        reach.push(fanned_out(&api, e, &everything).await.len());
    }
    // webhooks per event: only cmp_1's picked events reach the scoped one
    assert_eq!(reach, [1, 1, 2, 2]);
    let got = crm.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3, "two events, one retried after the 503");
    let mut by_id: HashMap<String, Vec<&Received>> = HashMap::new();
    for r in &got {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/botdog"));
        assert_eq!(r.header("content-type"), "application/json");
        let body = r.json();
        let bid = body["id"].as_str().unwrap();
        let expected = payload(bid, body["eventType"].as_str().unwrap(), "cmp_1");
        assert_eq!(body, expected, "Botdog's payload as the body");
        assert!(signed_with(r, &secret) && !signed_with(r, "whsec_someone-else"));
        by_id.entry(bid.to_string()).or_default().push(r);
    }
    // the receiver deduplicates on `id`: the retry carried the same id and the same bytes
    let mut ids: Vec<_> = by_id.keys().cloned().collect();
    ids.sort();
    assert_eq!(ids, ["wh_3", "wh_4"]);
    let (retried, copies) = by_id.iter().find(|(_, rs)| rs.len() == 2).unwrap();
    assert_eq!(copies[0].body, copies[1].body);

    // recent deliveries: status code, response body and each attempt
    let (_, recent) = api.get(&format!("/v1/subscriptions/{id}/deliveries")).await;
    let recent = recent["data"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    assert!(all_status(recent, "succeeded"));
    let (twice, once): (Vec<&Value>, _) = recent.iter().partition(|d| attempts(d).len() == 2);
    assert_eq!(attempts(twice[0]), [r#"1 503 "busy""#, r#"2 200 "ok""#]);
    assert_eq!(attempts(once[0]), [r#"1 200 "ok""#]);
    let event_of = HashMap::from([("wh_3", &replied), ("wh_4", &accepted)]);
    assert_eq!(twice[0]["event_id"], json!(event_of[retried.as_str()]));
    hl.shutdown().await;
}

#[tokio::test]
async fn botdog_gives_up_after_six_attempts_and_the_webhook_stays_active() {
    // a longer first wait, to look at the delivery between attempts; the circuit opens after
    // the fifth failure, so the sixth attempt is its probe, a second later (not 30 s)
    let mut c = config("1s,100ms,100ms,100ms,100ms");
    c.settings.circuit_first_probe_secs = 1;
    let (hl, api) = start(c).await;
    api.import("botdog").await;
    let crm = Receiver::start(vec![], Reply::StatusWith(500, vec![], "down".into())).await;
    let sub = webhook(&api, &crm, &["LEAD_MESSAGE_REPLIED"], None).await;
    let event = send(&api, "LEAD_MESSAGE_REPLIED", "cmp_1", "wh_1").await;
    let one = |d: &[Value]| d.first().is_some_and(|d| attempts(d).len() == 1);
    let ds = api.wait_deliveries(&event, WAIT, one).await;
    assert_eq!(ds[0]["status"], "pending", "retrying");
    assert!(
        ds[0]["next_attempt_at"].is_string(),
        "and when it is next tried"
    );
    let failed = |d: &[Value]| all_status(d, "failed");
    let ds = api.wait_deliveries(&event, WAIT, failed).await;
    let six: Vec<_> = (1..=6).map(|n| format!(r#"{n} 500 "down""#)).collect();
    assert_eq!(attempts(&ds[0]), six);
    let reason = ds[0]["failure_reason"].as_str().unwrap();
    assert!(reason.contains("gave up after 6 attempts"), "{reason}");

    let path = format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap());
    let (_, shown) = api.get(&path).await;
    assert_eq!(shown["enabled"], true, "the webhook stays active");
    assert_eq!(
        shown["health"]["circuit"], "open",
        "its circuit is open: {shown}"
    );
    crm.set_default(Reply::Status(200));
    let next = send(&api, "LEAD_MESSAGE_REPLIED", "cmp_1", "wh_2").await;
    let succeeded = |d: &[Value]| all_status(d, "succeeded");
    // parked until the next probe, which succeeds and closes the circuit
    api.wait_deliveries(&next, WAIT, succeeded).await;
    assert_eq!(crm.received().len(), 7);
    assert_eq!(api.get(&path).await.1["health"]["circuit"], "closed");
    hl.shutdown().await;
}

#[tokio::test]
async fn a_botdog_webhook_is_paused_resumed_tested_and_rotated() {
    let (hl, api) = hookline(SCHEDULE).await;
    api.import("botdog").await;
    let (crm, other) = (Receiver::ok().await, Receiver::ok().await);
    let all = EVENTS.map(|e| e.0);
    let sub = webhook(&api, &crm, &all, None).await;
    let witness = webhook(&api, &other, &all, None).await;
    let path = format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap());
    let old = sub["secret"].as_str().unwrap().to_string();

    set_enabled(&api, &path, false).await;
    let paused = send(&api, "LEAD_MESSAGE_SENT", "cmp_1", "wh_1").await;
    let ds = fanned_out(&api, &paused, &witness).await;
    assert_eq!(ds.len(), 1, "not to the paused one");
    // a test event reaches the endpoint now, signed like any delivery, shaped like a reply
    let sample = samples("botdog")
        .into_iter()
        .find(|s| s["type"] == "lead.message.replied")
        .unwrap();
    let test = json!({"event_type": "lead.message.replied", "data": sample["data"]});
    let (status, report) = api.post(&format!("{path}/test"), test).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["attempt"]["status_code"], 200, "{report}");
    let test = crm.wait_for(1, WAIT).await.remove(0);
    assert_eq!(test.json(), sample["data"], "Botdog's payload as the body");
    assert!(signed_with(&test, &old));
    // checked against the type's schema like any event: a reply without its campaign refused
    let mut bad = sample["data"].clone();
    bad.as_object_mut().unwrap().remove("campaignId");
    let test = json!({"event_type": "lead.message.replied", "data": bad});
    let (status, e) = api.post(&format!("{path}/test"), test).await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (422, &json!("schema_validation_failed")),
        "{e}"
    );

    set_enabled(&api, &path, true).await;
    let resumed = send(&api, "LEAD_MESSAGE_SENT", "cmp_1", "wh_2").await;
    let both = |d: &[Value]| d.len() == 2 && all_status(d, "succeeded");
    api.wait_deliveries(&resumed, WAIT, both).await;
    assert_eq!(api.deliveries_of_event(&paused).await.len(), 1, "nor later");
    let got = crm.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].json()["id"], "wh_2");

    // the secret may have been exposed: rotated with no grace period
    let grace = json!({"grace_period_secs": 0});
    let (status, rotated) = api.post(&format!("{path}/rotate-secret"), grace).await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let (_, view) = api.get(&path).await;
    assert!(!view.to_string().contains(&new), "shown once");
    send(&api, "LEAD_MESSAGE_REPLIED", "cmp_1", "wh_3").await;
    let after = crm.wait_for(3, WAIT).await.remove(2);
    assert_eq!(after.json()["id"], "wh_3");
    // the old secret no longer verifies new deliveries
    assert!(signed_with(&after, &new) && !signed_with(&after, &old));
    let webhook = |s: &str| standardwebhooks::Webhook::new(s).unwrap();
    let standard = |s: &str| webhook(s).verify(&after.body, &after.header_map()).is_ok();
    assert!(standard(&new) && !standard(&old), "Standard Webhooks' too");
    hl.shutdown().await;
}
