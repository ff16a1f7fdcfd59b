//! The noisy-neighbour scenario: a healthy endpoint receives events at a steady rate while
//! another endpoint (of the same tenant or another) has a backlog of jobs and hangs every
//! request to its timeout. Measures the healthy endpoint's delivery latency, from the event's
//! acceptance (the ingest API's answer) to its arrival at the receiver.

use super::*;
use serde_json::json;

/// The endpoint beside the healthy one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neighbour {
    /// It answers at once: the run to compare with.
    Healthy,
    /// It hangs every request; it belongs to the healthy endpoint's tenant.
    HangingSameTenant,
    /// It hangs every request; it belongs to another tenant.
    HangingOtherTenant,
}

impl Neighbour {
    pub fn label(self) -> &'static str {
        match self {
            Neighbour::Healthy => "both endpoints healthy",
            Neighbour::HangingSameTenant => "neighbour hangs, same tenant",
            Neighbour::HangingOtherTenant => "neighbour hangs, other tenant",
        }
    }
}

/// The healthy endpoint's latencies in one run.
#[derive(Debug, Clone)]
pub struct Latencies {
    pub neighbour: Neighbour,
    pub delivered: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Requests the hanging neighbour received during the run.
    pub neighbour_requests: usize,
    /// The ten slowest deliveries: latency, and when in the stream the event was sent.
    pub slowest: Vec<(Duration, Duration)>,
}

impl Latencies {
    pub fn row(&self) -> String {
        format!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {} |",
            self.neighbour.label(),
            self.delivered,
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.neighbour_requests
        )
    }
}

pub const TABLE_HEAD: &str = "| run | healthy deliveries | p50 ms | p99 ms | max ms | requests to the neighbour |\n|---|---|---|---|---|---|";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `q` quantile of sorted `xs` (nearest rank).
pub fn quantile(xs: &[Duration], q: f64) -> Duration {
    let rank = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

/// `hookline dev` on the embedded adapters as the scenario runs it: default workers and lanes,
/// a short schedule.
pub fn embedded() -> DevConfig {
    let mut cfg = config("5s,5m,30m");
    cfg.delivery_workers = 4;
    if let Ok(share) = std::env::var("HOOKLINE_BENCH_ENDPOINT_SHARE") {
        cfg.endpoint_share = share.parse().expect("a number of attempts");
    }
    cfg
}

/// The same on the AWS adapters: DynamoDB and SQS (a main and a slow delivery queue) on moto's
/// server, as `hookline dev --backend aws` runs them.
pub fn on_moto() -> DevConfig {
    let mut cfg = embedded();
    cfg.backend = hookline::Backend::Aws {
        endpoint: Some(hookline_conformance::moto::endpoint()),
        table: hookline_conformance::moto::unique("noisy"),
        queue: hookline_conformance::moto::unique("noisy-deliveries"),
        notify_topic: None,
    };
    cfg
}

/// One run on a fresh `hookline dev` started with `cfg`: `backlog` events to the neighbour
/// first, fanned out into queued jobs, then `events` to the healthy endpoint at `per_sec`.
pub async fn run(
    cfg: DevConfig,
    neighbour: Neighbour,
    backlog: usize,
    events: usize,
    per_sec: f64,
) -> Latencies {
    let (hl, api) = start(cfg).await;
    let healthy = Receiver::ok().await;
    let reply = match neighbour {
        Neighbour::Healthy => Reply::Status(200),
        _ => Reply::Hang,
    };
    let other = Receiver::start(vec![], reply).await;
    let other_tenant = match neighbour {
        Neighbour::HangingOtherTenant => "other",
        _ => "dealer",
    };
    api.subscribe(json!({"tenant_id": "dealer", "url": healthy.url("/"),
        "event_types": ["lead.created"]}))
        .await;
    api.subscribe(json!({"tenant_id": other_tenant, "url": other.url("/"),
        "event_types": ["inventory.updated"]}))
        .await;
    for chunk in 0..backlog.div_ceil(100) {
        let n = (backlog - chunk * 100).min(100);
        let batch: Vec<_> = (0..n)
            .map(|i| {
                json!({"tenant_id": other_tenant, "type": "inventory.updated",
                    "data": {"vin": format!("VIN{}", chunk * 100 + i)}})
            })
            .collect();
        let (status, answer) = api.post("/v1/events/batch", json!({"events": batch})).await;
        assert_eq!(status, 200, "{answer}");
    }
    // the backlog is queued (fanned out into jobs) before the stream starts, so the stream
    // measures the lanes, not a wait behind the backlog's fan-out
    let queued_by = Instant::now() + Duration::from_secs(60);
    while !hl
        .hookline
        .store
        .events_awaiting_fanout(1)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            Instant::now() < queued_by,
            "the backlog is fanned out within 60 s"
        );
        // a look at DynamoDB's outbox reads its 32 partitions: not too often on moto
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // the steady stream, each event sent on its own tick and timed at its acceptance
    let accepted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..events {
        let at = started + Duration::from_secs_f64(i as f64 / per_sec);
        tokio::time::sleep_until(at.into()).await;
        let (api, accepted) = (api.clone(), accepted.clone());
        sends.spawn(async move {
            let lead = format!("L{i}");
            api.send_event(json!({"tenant_id": "dealer", "type": "lead.created",
                "data": {"leadId": lead}}))
                .await;
            accepted.lock().unwrap().insert(lead, Instant::now());
        });
    }
    while sends.join_next().await.is_some() {}
    let got = healthy.wait_for(events, Duration::from_secs(120)).await;
    let accepted = accepted.lock().unwrap().clone();
    // each latency with when in the stream its event was sent
    let mut timed: Vec<(Duration, Duration)> = got
        .iter()
        .filter_map(|r| {
            let lead = r.json()["data"]["leadId"].as_str()?.to_string();
            let at = accepted.get(&lead)?;
            // an event can arrive before its producer has read the answer
            Some((
                r.at.saturating_duration_since(*at),
                at.duration_since(started),
            ))
        })
        .collect();
    timed.sort();
    let slowest = timed.iter().rev().take(10).copied().collect();
    let latencies: Vec<Duration> = timed.iter().map(|(l, _)| *l).collect();
    let neighbour_requests = other.received().len();
    hl.shutdown().await;
    assert_eq!(latencies.len(), events, "every healthy event arrives");
    Latencies {
        neighbour,
        delivered: latencies.len(),
        p50: quantile(&latencies, 0.50),
        p99: quantile(&latencies, 0.99),
        max: *latencies.last().expect("some latencies"),
        neighbour_requests,
        slowest,
    }
}
