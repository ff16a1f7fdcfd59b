//! The real `hookline dev` process: state survives a kill during backoff, and Ctrl-C/SIGTERM
//! stops it without losing queued work.

mod support;

use serde_json::json;
use std::time::Duration;
use support::*;

#[tokio::test]
async fn delivery_backing_off_completes_after_a_kill_and_restart() {
    let dir = temp_dir("restart");
    let rx = Receiver::start(vec![Reply::Status(500)], Reply::Status(200)).await;
    let mut dev = spawn_dev(&dir, "2s", &[]).await;
    dev.api
        .subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"]}))
        .await;
    let event_id = dev
        .api
        .send_event(json!({"tenant_id": "d", "type": "lead.qualified", "data": {"n": 1}}))
        .await;
    let ds = dev
        .api
        .wait_deliveries(&event_id, Duration::from_secs(10), |d| {
            d.len() == 1 && d[0]["attempts"].as_array().unwrap().len() == 1
        })
        .await;
    assert_eq!(ds[0]["status"], "pending", "backing off after the 500");
    dev.child.kill().unwrap(); // SIGKILL: no chance to clean up
    dev.child.wait().unwrap();

    let mut dev = spawn_dev(&dir, "2s", &[]).await;
    let ds = dev
        .api
        .wait_deliveries(&event_id, Duration::from_secs(15), |d| {
            all_status(d, "succeeded")
        })
        .await;
    let attempts = ds[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status_code"], 500);
    assert_eq!(attempts[1]["status_code"], 200);
    let got = rx.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    dev.child.kill().unwrap();
    dev.child.wait().unwrap();
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_work_and_keeps_the_queue() {
    let dir = temp_dir("graceful");
    // The first request hangs past the 1 s timeout; the rest succeed.
    let rx = Receiver::start(vec![Reply::Hang], Reply::Status(200)).await;
    let mut dev = spawn_dev(&dir, "1s", &[]).await;
    dev.api
        .subscribe(
            json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"], "timeout_ms": 1000}),
        )
        .await;
    let event_id = dev
        .api
        .send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    rx.wait_for(1, Duration::from_secs(10)).await;
    signal(&dev.child, "-TERM"); // as Ctrl-C does, while the attempt is in flight
    let status = wait_exit(&mut dev.child);
    assert!(status.success(), "clean exit: {status:?}");

    let mut dev = spawn_dev(&dir, "1s", &[]).await;
    let ds = dev
        .api
        .wait_deliveries(&event_id, Duration::from_secs(15), |d| {
            all_status(d, "succeeded")
        })
        .await;
    let attempts = ds[0]["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.len(),
        2,
        "the in-flight attempt was recorded before exit: {attempts:#?}"
    );
    assert_eq!(attempts[0]["error"], "timed out after 1000 ms");
    signal(&dev.child, "-INT");
    assert!(wait_exit(&mut dev.child).success());
}
