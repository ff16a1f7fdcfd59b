//! Local throughput: signed deliveries per second from `hookline dev`'s pipeline (embedded
//! SQLite store and queue, real HTTP on loopback) to a keep-alive receiver.
//!
//! Run: `cargo bench --bench throughput` (HOOKLINE_BENCH_EVENTS to change the event count,
//! HOOKLINE_BENCH_ENDPOINT_SHARE to set `hookline dev --endpoint-share`).

use axum::Router;
use axum::routing::post;
use hookline::{DevConfig, start};
use hookline_core::retry_schedule::RetrySchedule;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

async fn receiver() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let app = Router::new().route(
        "/hook",
        post(move |_body: axum::body::Bytes| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

struct Outcome {
    deliveries: usize,
    ingest: Duration,
    total: Duration,
}

async fn scenario(subscriptions: usize, events: usize, workers: usize) -> Outcome {
    let dir = std::env::temp_dir().join(format!("hookline-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = DevConfig::new(&dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.settings.allow_private_destinations = true;
    config.admin_key = Some("bench".into());
    config.delivery_workers = workers;
    if let Ok(share) = std::env::var("HOOKLINE_BENCH_ENDPOINT_SHARE") {
        config.endpoint_share = share.parse().expect("a number of attempts");
    }
    config.settings.retry_schedule = RetrySchedule::parse("1s").unwrap();
    let running = start(config).await.expect("hookline starts");
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let (url, received) = receiver().await;
    for _ in 0..subscriptions {
        let body =
            serde_json::json!({"tenant_id": "dealer-1", "url": url, "event_types": ["lead.*"]});
        let r = client
            .post(format!("{base}/v1/subscriptions"))
            .bearer_auth("bench")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let payload = serde_json::json!({
        "tenant_id": "dealer-1", "type": "lead.qualified", "attributes": {"campaign": "abc123"},
        "data": {
            "campaign": {"id": "abc123", "type": "lost-sales", "location": "Ford Anytown"},
            "customer": {"first_name": "Sarah", "last_name": "Jones", "email": "sarah.jones@example.com", "mobile": "+447700900000"},
            "summary": "Customer replied on day 3 asking about PCP options on the Kuga. Confirmed interest in a test drive on Friday afternoon.",
            "conversation_url": "https://portal.example.com/conversations/xyz789"
        }
    })
    .to_string();
    // 8 concurrent producers, each sending an equal share
    let per = events.div_ceil(8);
    let expected = subscriptions * per * 8;
    let started = Instant::now();
    let producers: Vec<_> = (0..8)
        .map(|_| {
            let (client, base, payload) = (client.clone(), base.clone(), payload.clone());
            tokio::spawn(async move {
                for _ in 0..per {
                    let r = client
                        .post(format!("{base}/v1/events"))
                        .bearer_auth("bench")
                        .body(payload.clone())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 202);
                }
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
    let ingest = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    while received.load(Ordering::Relaxed) < expected {
        assert!(
            Instant::now() < deadline,
            "deliveries stalled at {}",
            received.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total = started.elapsed();
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Outcome {
        deliveries: expected,
        ingest,
        total,
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing and expects a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let events: usize = std::env::var("HOOKLINE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 80 } else { 4000 });
    println!(
        "| subscriptions | events | deliveries | workers | ingest events/s | end-to-end deliveries/s |"
    );
    println!("|---|---|---|---|---|---|");
    for (subs, evts, workers) in [(1, events, 4), (1, events, 8), (10, events / 10, 8)] {
        let o = scenario(subs, evts, workers).await;
        println!(
            "| {subs} | {} | {} | {workers} | {:.0} | {:.0} |",
            o.deliveries / subs,
            o.deliveries,
            (o.deliveries / subs) as f64 / o.ingest.as_secs_f64(),
            o.deliveries as f64 / o.total.as_secs_f64()
        );
    }
}
