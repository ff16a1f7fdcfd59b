//! CarBuddy's documented webhooks, powered by Hookline end to end: its three events, its raw
//! payload, `X-CarBuddy-Signature` checked by the verification snippet from CarBuddy's own
//! documentation (run in Node), a 5-second acknowledgement window and "up to 3 retries on
//! non-2xx responses" as the subscription's own retry policy (`max_attempts: 4`, on a
//! deployment whose schedule has more steps).

mod support;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::*;

/// CarBuddy's verification function, as its documentation gives it, called on the request as
/// received: exit status 0 when the signature matches.
const VERIFY_JS: &str = r#"
const crypto = require('crypto');
function verifyWebhook(rawBody, signature, secret) {
  const expected = crypto
    .createHmac('sha256', secret)
    .update(rawBody, 'utf8')
    .digest('hex');
  return crypto.timingSafeEqual(
    Buffer.from(signature),
    Buffer.from(expected)
  );
}
const [body, signature, secret] = process.argv.slice(1).map((a) => Buffer.from(a, 'hex').toString('utf8'));
process.exit(verifyWebhook(body, signature, secret) ? 0 : 1);
"#;

/// Runs CarBuddy's snippet on a received request; whether it accepts the signature.
fn carbuddy_accepts(body: &[u8], signature: &str, secret: &str) -> bool {
    let status = std::process::Command::new("node")
        .arg("-e")
        .arg(VERIFY_JS)
        .arg(hex::encode(body))
        .arg(hex::encode(signature))
        .arg(hex::encode(secret))
        .status()
        .expect("node runs (it is installed with the CDK toolchain)");
    status.success()
}

/// The documented `lead.qualified` payload; the other two events carry the same envelope.
fn payload(event: &str) -> Value {
    json!({
        "event": event,
        "timestamp": "2025-06-12T10:34:11Z",
        "campaign": {"id": "abc123", "type": "lost-sales", "location": "Ford Anytown"},
        "customer": {"first_name": "Sarah", "last_name": "Jones",
                     "email": "sarah.jones@example.com", "mobile": "+447700900000"},
        "summary": "Customer replied on day 3 asking about PCP options on the Kuga. Confirmed interest in test drive on Friday afternoon.",
        "conversation_url": "https://portal.carbuddyai.com/conversations/xyz789"
    })
}

/// Six retries: more than CarBuddy's three, which each subscription sets for itself.
const DEPLOYMENT_SCHEDULE: &str = "200ms,200ms,200ms,200ms,200ms,200ms";

const EVENTS: [&str; 3] = [
    "lead.qualified",
    "lead.unsubscribed",
    "conversation.completed",
];

#[tokio::test]
async fn carbuddy_webhooks_are_delivered_as_documented() {
    // the deployment retries six times; CarBuddy's webhooks "up to 3 retries"
    let (hl, api) = hookline(DEPLOYMENT_SCHEDULE).await;
    // the dealer's CRM: slow past 5 s once, then an error, then it acknowledges
    let crm = Receiver::start(vec![Reply::Hang, Reply::Status(503)], Reply::Status(200)).await;
    let sub = api
        .subscribe(json!({
            "tenant_id": "ford-anytown", "url": crm.url("/carbuddy"), "event_types": EVENTS,
            "payload_format": "raw", "hex_signature_header": "X-CarBuddy-Signature",
            "timeout_ms": 5000, "max_attempts": 4, "name": "CarBuddy -> Dealer CRM"
        }))
        .await;
    assert_eq!(sub["max_attempts"], 4);
    let secret = sub["secret"].as_str().unwrap().to_string();

    let started = Instant::now();
    for event in EVENTS {
        api.send_event(json!({"tenant_id": "ford-anytown", "type": event, "data": payload(event)}))
            .await;
    }
    // 3 events + the hung attempt's retry + the 503's retry
    let got = crm.wait_for(5, Duration::from_secs(30)).await;
    assert_eq!(
        got.len(),
        5,
        "{:?}",
        got.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "the hung attempt waited its 5 s"
    );
    let mut delivered: Vec<String> = Vec::new();
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), "application/json");
        let body = r.json();
        assert_eq!(
            body,
            payload(body["event"].as_str().unwrap()),
            "the raw payload, as documented"
        );
        let signature = r.header("x-carbuddy-signature");
        assert!(
            carbuddy_accepts(&r.body, signature, &secret),
            "CarBuddy's snippet accepts the signature"
        );
        assert!(!carbuddy_accepts(&r.body, signature, "another-secret"));
        delivered.push(body["event"].as_str().unwrap().to_string());
    }
    delivered.sort();
    delivered.dedup();
    assert_eq!(delivered.len(), 3, "each of the three events arrived");
    hl.shutdown().await;
}

#[tokio::test]
async fn carbuddy_gives_up_after_three_retries() {
    let (hl, api) = hookline(DEPLOYMENT_SCHEDULE).await;
    let down = Receiver::start(vec![], Reply::Status(500)).await;
    api.subscribe(json!({
        "tenant_id": "ford-anytown", "url": down.url("/"), "event_types": ["lead.qualified"],
        "payload_format": "raw", "hex_signature_header": "X-CarBuddy-Signature", "timeout_ms": 5000,
        "max_attempts": 4
    }))
    .await;
    let event_id = api
        .send_event(json!({"tenant_id": "ford-anytown", "type": "lead.qualified", "data": payload("lead.qualified")}))
        .await;
    let ds = api
        .wait_deliveries(&event_id, Duration::from_secs(20), |d| {
            !d.is_empty() && d.iter().all(|d| d["status"] == "failed")
        })
        .await;
    assert_eq!(
        ds[0]["attempts"].as_array().unwrap().len(),
        4,
        "the first attempt and 3 retries"
    );
    assert_eq!(down.received().len(), 4);
    hl.shutdown().await;
}
