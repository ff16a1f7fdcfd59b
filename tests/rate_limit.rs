//! `rate_limit_per_sec`: a burst beyond a subscription's limit waits for its turn (it is neither
//! failed nor dropped) and reaches the receiver at no more than the limit in any second, while
//! another subscription of the same events is not held back.

mod support;

use serde_json::json;
use std::time::{Duration, Instant};
use support::*;

/// The most requests in any window of `width` (sliding, from each arrival).
pub fn busiest(at: &[Instant], width: Duration) -> usize {
    let mut at = at.to_vec();
    at.sort();
    (0..at.len())
        .map(|i| at[i..].iter().take_while(|t| **t - at[i] < width).count())
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_burst_reaches_a_rate_limited_endpoint_at_its_limit_and_all_of_it_arrives() {
    const EVENTS: usize = 1_000;
    const LIMIT: usize = 50;
    let (hl, api) = hookline("1s").await;
    let (limited, free) = (Receiver::ok().await, Receiver::ok().await);
    let sub = api
        .subscribe(
            json!({"tenant_id": "d", "url": limited.url("/"), "event_types": ["lead.*"],
            "rate_limit_per_sec": LIMIT}),
        )
        .await;
    assert_eq!(sub["rate_limit_per_sec"], LIMIT);
    api.subscribe(json!({"tenant_id": "d", "url": free.url("/"), "event_types": ["lead.*"]}))
        .await;
    let started = Instant::now();
    for chunk in 0..EVENTS / 100 {
        let events: Vec<_> = (0..100)
            .map(|i| {
                json!({"tenant_id": "d", "type": "lead.created",
                "data": {"leadId": format!("L-{}", chunk * 100 + i)}})
            })
            .collect();
        let (status, answer) = api
            .post("/v1/events/batch", json!({"events": events}))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let unlimited = free.wait_for(EVENTS, Duration::from_secs(30)).await;
    assert_eq!(unlimited.len(), EVENTS);
    let got = limited.wait_for(EVENTS, Duration::from_secs(60)).await;
    let took = started.elapsed();
    assert_eq!(got.len(), EVENTS, "every event arrives");
    let at: Vec<Instant> = got.iter().map(|r| r.at).collect();
    let peak = busiest(&at, Duration::from_secs(1));
    println!(
        "{EVENTS} events at {LIMIT}/s: busiest second {peak} requests, all in {:.1} s; \
         the unlimited endpoint's busiest second {}",
        took.as_secs_f64(),
        busiest(
            &unlimited.iter().map(|r| r.at).collect::<Vec<_>>(),
            Duration::from_secs(1)
        )
    );
    assert!(
        peak <= LIMIT + LIMIT / 10,
        "busiest second {peak} > {LIMIT} + 10%"
    );
    assert!(
        took >= Duration::from_secs_f64((EVENTS / LIMIT) as f64 * 0.9),
        "paced, not sent at once ({took:?})"
    );
    let mut ids: Vec<_> = got
        .iter()
        .map(|r| r.json()["data"]["leadId"].clone())
        .collect();
    ids.sort_by_key(|v| v.to_string());
    ids.dedup();
    assert_eq!(ids.len(), EVENTS, "each event once");
    hl.shutdown().await;
}

#[tokio::test]
async fn a_rate_limit_is_between_1_and_500_per_second() {
    let (hl, api) = hookline("1s").await;
    for bad in [0, 501] {
        let (status, e) = api
            .post(
                "/v1/subscriptions",
                json!({"tenant_id": "d", "url": "https://crm.example.com/h",
                "event_types": ["*"], "rate_limit_per_sec": bad}),
            )
            .await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (400, Some("invalid_rate_limit")),
            "{bad}"
        );
    }
    let sub = api
        .subscribe(
            json!({"tenant_id": "d", "url": "https://crm.example.com/h", "event_types": ["*"],
            "rate_limit_per_sec": 500}),
        )
        .await;
    let path = format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap());
    let (status, off) = api
        .call("PATCH", &path, Some(r#"{"rate_limit_per_sec": null}"#))
        .await;
    assert_eq!(
        (status, &off["rate_limit_per_sec"]),
        (200, &json!(null)),
        "{off}"
    );
    hl.shutdown().await;
}
