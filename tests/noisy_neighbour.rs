//! Isolation from a slow endpoint: one endpoint hangs every request to its timeout with a
//! backlog of jobs, beside a healthy endpoint receiving a steady stream. The healthy endpoint's
//! p99 latency (event accepted -> received) stays within 2x of a run where both endpoints are
//! healthy, whether the hanging endpoint is of the same tenant or another.
//!
//! On the embedded adapters, the scenario at full length: a backlog of 2,000 hanging jobs, and
//! 2,000 healthy events at 40/s (50 s a run, three runs), which covers the time before the
//! hanging endpoint's circuit opens, its first attempts timing out, and long after. The
//! both-healthy run is itself a busy neighbour: its 2,000 queued jobs are delivered alongside.
//! On DynamoDB and SQS the lanes are tested in `functions/tests/lanes.rs`. `HOOKLINE_TEST_NOISY_EVENTS` shortens
//! the stream for a quick local run. `cargo bench --bench noisy_neighbour` runs the same
//! scenario on a release build and prints the table in BENCHMARKS.md.

mod support;

use support::noisy::{self, Neighbour};

const BACKLOG: usize = 2_000;
const PER_SEC: f64 = 40.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_slow_a_healthy_one_of_the_same_or_another_tenant() {
    let events: usize = std::env::var("HOOKLINE_TEST_NOISY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    compare(noisy::embedded, BACKLOG, events, PER_SEC).await;
}

/// Runs the scenario with both endpoints healthy, then with the neighbour hanging in the same
/// tenant and in another, prints the table and asserts the healthy endpoint's p99.
async fn compare(cfg: fn() -> hookline::DevConfig, backlog: usize, events: usize, per_sec: f64) {
    let baseline = noisy::run(cfg(), Neighbour::Healthy, backlog, events, per_sec).await;
    let mut rows = vec![baseline.clone()];
    for neighbour in [Neighbour::HangingSameTenant, Neighbour::HangingOtherTenant] {
        rows.push(noisy::run(cfg(), neighbour, backlog, events, per_sec).await);
    }
    println!("{backlog} hanging jobs, {events} healthy events at {per_sec}/s");
    println!("{}", noisy::TABLE_HEAD);
    for row in &rows {
        println!("{}", row.row());
    }
    for noisy in &rows[1..] {
        assert!(
            noisy.neighbour_requests > 0,
            "the neighbour was attempted: {noisy:?}"
        );
        assert!(
            noisy.p99 <= baseline.p99 * 2,
            "{}: p99 {:?} > 2 x {:?}",
            noisy.neighbour.label(),
            noisy.p99,
            baseline.p99
        );
    }
}
