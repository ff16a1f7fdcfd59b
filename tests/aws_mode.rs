//! The whole pipeline on the AWS adapters (`hookline dev --backend aws`): DynamoDB and SQS on
//! moto's server (started by `tests/run.sh`), a real receiver on loopback.

mod support;

use hookline::Backend;
use serde_json::json;
use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(20);

async fn on_moto(schedule: &str) -> (hookline::Running, Api) {
    let endpoint = std::env::var("HOOKLINE_TEST_AWS_ENDPOINT").expect(
        "HOOKLINE_TEST_AWS_ENDPOINT is not set: run `bash tests/run.sh`, which starts moto's server",
    );
    let mut cfg = config(schedule);
    let unique = ulid::Ulid::new().to_string().to_lowercase();
    cfg.backend = Backend::Aws {
        endpoint: Some(endpoint),
        table: format!("hookline-{unique}"),
        queue: format!("deliveries-{unique}"),
    };
    start(cfg).await
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
    let (hl, api) = on_moto("1s").await;
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
    let dlq = hl.hookline.queue.list_dead_letters(10).await.unwrap();
    assert_eq!(dlq.len(), 1, "{dlq:?}");
    assert!(dlq[0].body.contains(ds[0]["id"].as_str().unwrap()));
    assert!(dlq[0].reason.contains("HTTP 503"), "{}", dlq[0].reason);
    let alerts = ops.wait_for(1, WAIT).await;
    assert_eq!(alerts[0].json()["data"]["subscription_id"], sub["id"]);
    assert_eq!(alerts[0].json()["data"]["event_id"], event_id);
    hl.shutdown().await;
}
