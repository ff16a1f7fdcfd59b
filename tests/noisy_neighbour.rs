//! Isolation from a slow endpoint: one endpoint hangs every request to its timeout with a
//! backlog of jobs, beside a healthy endpoint receiving a steady stream. The healthy endpoint's
//! p99 latency (event accepted -> received) stays within 2x of a run where both endpoints are
//! healthy, whether the hanging endpoint is of the same tenant or another.
//!
//! `HOOKLINE_TEST_NOISY_EVENTS` sets the healthy stream's length (default 400 events at 40/s:
//! 10 s, which covers the time before the hanging endpoint's circuit opens, its first 5
//! attempts timing out, and after). The backlog is 2,000 jobs. `cargo bench --bench
//! noisy_neighbour` runs the full 2,000-event stream and prints the table in BENCHMARKS.md.

mod support;

use support::noisy::{self, Neighbour};

const BACKLOG: usize = 2_000;
const PER_SEC: f64 = 40.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_slow_a_healthy_one_of_the_same_or_another_tenant() {
    let events: usize = std::env::var("HOOKLINE_TEST_NOISY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let baseline = noisy::run(Neighbour::Healthy, BACKLOG, events, PER_SEC).await;
    let mut rows = vec![baseline.clone()];
    for neighbour in [Neighbour::HangingSameTenant, Neighbour::HangingOtherTenant] {
        rows.push(noisy::run(neighbour, BACKLOG, events, PER_SEC).await);
    }
    println!("{BACKLOG} hanging jobs, {events} healthy events at {PER_SEC}/s");
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
