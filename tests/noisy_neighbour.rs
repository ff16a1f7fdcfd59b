//! Isolation from a slow endpoint: one endpoint hangs every request to its timeout with a
//! backlog of jobs, beside a healthy endpoint receiving a steady stream. The healthy endpoint's
//! p99 latency (event accepted -> received) stays within 2x of a run where both endpoints are
//! healthy, whether the hanging endpoint is of the same tenant or another.
//!
//! On the embedded adapters, the scenario at full length: a backlog of 2,000 hanging jobs, and
//! 2,000 healthy events at 40/s (50 s a run, three runs), which covers the time before the
//! hanging endpoint's circuit opens, its first attempts timing out, and long after. The
//! both-healthy run is itself a busy neighbour: its 2,000 queued jobs are delivered alongside.
//!
//! On the AWS adapters (`hookline dev --backend aws`: DynamoDB and the main and slow SQS queues
//! on moto's server), a backlog of 200 hanging jobs (five times the main lane's 40 attempt
//! slots, so without lanes they would hold every slot) and 300 healthy events at 5/s: moto
//! applies one DynamoDB request at a time, so the stream is kept to a rate it serves with room
//! to spare, and the comparison measures the lanes rather than moto's queue. The lanes'
//! mechanism on the functions is tested in `functions/tests/lanes.rs`.
//!
//! `HOOKLINE_TEST_NOISY_EVENTS` (embedded) and `HOOKLINE_TEST_NOISY_MOTO_EVENTS`,
//! `HOOKLINE_TEST_NOISY_MOTO_BACKLOG` (moto) resize a run. `cargo bench --bench noisy_neighbour`
//! runs the embedded scenario on a release build and prints the table in BENCHMARKS.md.

mod support;

use support::noisy::{self, Neighbour};

const BACKLOG: usize = 2_000;
const PER_SEC: f64 = 40.0;
const MOTO_BACKLOG: usize = 200;
const MOTO_EVENTS: usize = 300;
const MOTO_PER_SEC: f64 = 5.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_slow_a_healthy_one_of_the_same_or_another_tenant() {
    let events = env("HOOKLINE_TEST_NOISY_EVENTS", 2_000);
    compare(noisy::embedded, BACKLOG, events, PER_SEC).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_moto_a_hanging_endpoint_does_not_slow_a_healthy_one() {
    let backlog = env("HOOKLINE_TEST_NOISY_MOTO_BACKLOG", MOTO_BACKLOG);
    let events = env("HOOKLINE_TEST_NOISY_MOTO_EVENTS", MOTO_EVENTS);
    compare(noisy::on_moto, backlog, events, MOTO_PER_SEC).await;
}

/// A size from the environment, or `default`.
fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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
            "{}: p99 {:?} > 2 x {:?}; slowest (latency, sent at): {:?}; both healthy: {:?}",
            noisy.neighbour.label(),
            noisy.p99,
            baseline.p99,
            noisy.slowest,
            baseline.slowest
        );
    }
}
