//! The noisy-neighbour benchmark: a healthy endpoint's delivery latency (event accepted ->
//! received) while another endpoint, with 2,000 jobs queued, hangs every request to its 5 s
//! timeout, against a run where both are healthy. Same scenario as `tests/noisy_neighbour.rs`,
//! at full length.
//!
//! Run: `cargo bench --bench noisy_neighbour` (HOOKLINE_BENCH_EVENTS: healthy events, default
//! 2,000 at 40/s; HOOKLINE_BENCH_ENDPOINT_SHARE: `hookline dev --endpoint-share`).

#[path = "../tests/support/mod.rs"]
mod support;

use support::noisy::{self, Neighbour};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events: usize = std::env::var("HOOKLINE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    println!("2000 hanging jobs, {events} healthy events at 40/s");
    println!("{}", noisy::TABLE_HEAD);
    for neighbour in [
        Neighbour::Healthy,
        Neighbour::HangingSameTenant,
        Neighbour::HangingOtherTenant,
    ] {
        println!(
            "{}",
            noisy::run(noisy::embedded(), neighbour, 2_000, events, 40.0)
                .await
                .row()
        );
    }
}
