//! An endpoint's circuit breaker, as a pure state machine: what a subscription's health becomes
//! after an attempt's outcome, whether a job may be attempted now, and when a circuit open for
//! too long disables the subscription. Storage and the pipeline only carry out its answers.
//!
//! Closed: every job is attempted; `failures_to_open` consecutive failed attempts open it.
//! Open: jobs are parked (neither attempted nor held in flight); once `next_probe` is due, one
//! job becomes the probe (a real pending delivery) and the circuit is probing. Probing: other
//! jobs stay parked; the probe's success closes the circuit, its failure opens it again with
//! the probe interval doubled (up to `max_probe`). Any success closes the circuit (an attempt
//! that was under way when it opened proves the endpoint works as well as a probe does).

use crate::clock::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A deployment's breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failed attempts that open the circuit.
    pub failures_to_open: u32,
    /// The wait before the first probe after the circuit opens.
    pub first_probe: Duration,
    /// The longest wait between probes (each failed probe doubles the wait up to this).
    pub max_probe: Duration,
    /// How long a probe may take before another job may probe in its place (it was lost).
    pub probe_lease: Duration,
    /// How long a circuit may stay open before the subscription is disabled.
    pub disable_after: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures_to_open: 5,
            first_probe: Duration::from_secs(30),
            max_probe: Duration::from_secs(15 * 60),
            probe_lease: Duration::from_secs(60),
            disable_after: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Circuit {
    Closed,
    Open {
        since: Timestamp,
        next_probe: Timestamp,
        interval_ms: u64,
    },
    Probing {
        since: Timestamp,
        probe_started: Timestamp,
        interval_ms: u64,
    },
}

/// A subscription's health: its circuit and the counts a tenant is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub circuit: Circuit,
    pub consecutive_failures: u32,
    pub last_success: Option<Timestamp>,
    pub last_failure: Option<Timestamp>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            circuit: Circuit::Closed,
            consecutive_failures: 0,
            last_success: None,
            last_failure: None,
        }
    }
}

/// An attempt's outcome as the breaker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
}

/// What a change of health means to the subscription's tenant (a lifecycle event to emit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The circuit opened: `hookline.endpoint.failing`.
    Opened,
    /// The circuit closed: `hookline.endpoint.recovered`.
    Recovered,
}

/// Whether a job of the subscription may be attempted at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Closed: attempt it.
    Attempt,
    /// Open and a probe is due: attempt it as the probe, after recording `Health` (probing) with
    /// a conditional write, so that one job probes.
    Probe(Health),
    /// Park it; the circuit may let work through again at this time.
    Park { until: Timestamp },
}

/// Whether a subscription whose circuit is open at `at` has been open long enough to disable.
pub fn disable_due(health: &Health, at: Timestamp, settings: &BreakerSettings) -> bool {
    match health.circuit {
        Circuit::Closed => false,
        Circuit::Open { since, .. } | Circuit::Probing { since, .. } => {
            at >= since.plus(settings.disable_after)
        }
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

impl Health {
    /// Health after an attempt that ended at `at` with `outcome`, and what changed.
    pub fn record(
        &self,
        outcome: Outcome,
        at: Timestamp,
        settings: &BreakerSettings,
    ) -> (Health, Option<Change>) {
        let mut next = *self;
        match outcome {
            Outcome::Succeeded => {
                next.consecutive_failures = 0;
                next.last_success = Some(at);
                next.circuit = Circuit::Closed;
                let change = (self.circuit != Circuit::Closed).then_some(Change::Recovered);
                (next, change)
            }
            Outcome::Failed => {
                next.consecutive_failures = self.consecutive_failures.saturating_add(1);
                next.last_failure = Some(at);
                match self.circuit {
                    Circuit::Closed if next.consecutive_failures >= settings.failures_to_open => {
                        let interval = ms(settings.first_probe);
                        next.circuit = Circuit::Open {
                            since: at,
                            next_probe: at.plus(settings.first_probe),
                            interval_ms: interval,
                        };
                        (next, Some(Change::Opened))
                    }
                    Circuit::Closed | Circuit::Open { .. } => (next, None),
                    Circuit::Probing {
                        since, interval_ms, ..
                    } => {
                        let interval = interval_ms.saturating_mul(2).min(ms(settings.max_probe));
                        next.circuit = Circuit::Open {
                            since,
                            next_probe: at.plus(Duration::from_millis(interval)),
                            interval_ms: interval,
                        };
                        (next, None)
                    }
                }
            }
        }
    }

    /// Whether a job may be attempted at `at`.
    pub fn admit(&self, at: Timestamp, settings: &BreakerSettings) -> Admit {
        match self.circuit {
            Circuit::Closed => Admit::Attempt,
            Circuit::Open {
                since,
                next_probe,
                interval_ms,
            } => {
                if at < next_probe {
                    return Admit::Park { until: next_probe };
                }
                let mut probing = *self;
                probing.circuit = Circuit::Probing {
                    since,
                    probe_started: at,
                    interval_ms,
                };
                Admit::Probe(probing)
            }
            Circuit::Probing {
                since,
                probe_started,
                interval_ms,
            } => {
                let lapses = probe_started.plus(settings.probe_lease);
                if at < lapses {
                    return Admit::Park { until: lapses };
                }
                let mut probing = *self;
                probing.circuit = Circuit::Probing {
                    since,
                    probe_started: at,
                    interval_ms,
                };
                Admit::Probe(probing)
            }
        }
    }

    /// Health after the subscription is enabled again by hand: closed, counts kept.
    pub fn reset(&self) -> Health {
        Health {
            circuit: Circuit::Closed,
            consecutive_failures: 0,
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: BreakerSettings = BreakerSettings {
        failures_to_open: 3,
        first_probe: Duration::from_secs(30),
        max_probe: Duration::from_secs(100),
        probe_lease: Duration::from_secs(60),
        disable_after: Duration::from_secs(3600),
    };

    fn t(secs: i64) -> Timestamp {
        Timestamp(1_000_000 + secs * 1000)
    }

    fn failed(h: Health, times: u32, at: Timestamp) -> (Health, Option<Change>) {
        let mut out = (h, None);
        for _ in 0..times {
            out = out.0.record(Outcome::Failed, at, &S);
        }
        out
    }

    fn open_at(at: Timestamp) -> Health {
        failed(Health::default(), S.failures_to_open, at).0
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let d = BreakerSettings::default();
        assert_eq!(d.failures_to_open, 5);
        assert_eq!(d.first_probe, Duration::from_secs(30));
        assert_eq!(d.max_probe, Duration::from_secs(900));
        assert_eq!(d.disable_after, Duration::from_secs(259_200));
    }

    #[test]
    fn a_closed_circuit_counts_failures_and_a_success_resets_them() {
        let (h, change) = failed(Health::default(), 2, t(0));
        assert_eq!(
            (h.circuit, h.consecutive_failures, change),
            (Circuit::Closed, 2, None)
        );
        assert_eq!(h.last_failure, Some(t(0)));
        assert_eq!(h.admit(t(1), &S), Admit::Attempt);
        let (h, change) = h.record(Outcome::Succeeded, t(2), &S);
        assert_eq!(
            (h.circuit, h.consecutive_failures, change),
            (Circuit::Closed, 0, None)
        );
        assert_eq!((h.last_success, h.last_failure), (Some(t(2)), Some(t(0))));
    }

    #[test]
    fn the_nth_consecutive_failure_opens_the_circuit() {
        let (h, change) = failed(Health::default(), 3, t(0));
        assert_eq!(change, Some(Change::Opened));
        assert_eq!(
            h.circuit,
            Circuit::Open {
                since: t(0),
                next_probe: t(30),
                interval_ms: 30_000
            }
        );
    }

    #[test]
    fn an_open_circuit_parks_until_the_probe_is_due_and_lets_one_probe() {
        let h = open_at(t(0));
        assert_eq!(h.admit(t(29), &S), Admit::Park { until: t(30) });
        let Admit::Probe(probing) = h.admit(t(30), &S) else {
            panic!("a probe is due");
        };
        assert_eq!(
            probing.circuit,
            Circuit::Probing {
                since: t(0),
                probe_started: t(30),
                interval_ms: 30_000
            }
        );
        // while the probe is out, the rest stays parked
        assert_eq!(probing.admit(t(31), &S), Admit::Park { until: t(90) });
    }

    #[test]
    fn a_lost_probe_lets_another_job_probe_after_its_lease() {
        let Admit::Probe(probing) = open_at(t(0)).admit(t(30), &S) else {
            panic!("a probe is due");
        };
        let Admit::Probe(again) = probing.admit(t(90), &S) else {
            panic!("the lease lapsed");
        };
        assert!(
            matches!(again.circuit, Circuit::Probing { probe_started, .. } if probe_started == t(90))
        );
    }

    #[test]
    fn a_failed_probe_reopens_with_the_interval_doubled_up_to_the_longest() {
        let Admit::Probe(probing) = open_at(t(0)).admit(t(30), &S) else {
            panic!("a probe is due");
        };
        let (h, change) = probing.record(Outcome::Failed, t(31), &S);
        assert_eq!(change, None, "still failing: no new event");
        assert_eq!(
            h.circuit,
            Circuit::Open {
                since: t(0),
                next_probe: t(91),
                interval_ms: 60_000
            }
        );
        let Admit::Probe(probing) = h.admit(t(91), &S) else {
            panic!("a probe is due");
        };
        let (h, _) = probing.record(Outcome::Failed, t(92), &S);
        assert!(
            matches!(h.circuit, Circuit::Open { interval_ms: 100_000, next_probe, .. } if next_probe == t(192))
        );
    }

    #[test]
    fn a_successful_probe_closes_the_circuit() {
        let Admit::Probe(probing) = open_at(t(0)).admit(t(30), &S) else {
            panic!("a probe is due");
        };
        let (h, change) = probing.record(Outcome::Succeeded, t(31), &S);
        assert_eq!(change, Some(Change::Recovered));
        assert_eq!((h.circuit, h.consecutive_failures), (Circuit::Closed, 0));
        assert_eq!(h.admit(t(32), &S), Admit::Attempt);
    }

    #[test]
    fn stragglers_while_open_count_failures_but_do_not_move_the_probe() {
        let h = open_at(t(0));
        let (after, change) = h.record(Outcome::Failed, t(5), &S);
        assert_eq!(change, None);
        assert_eq!(after.circuit, h.circuit);
        assert_eq!(after.consecutive_failures, 4);
        // a straggler's success proves the endpoint works: closed
        let (after, change) = h.record(Outcome::Succeeded, t(6), &S);
        assert_eq!(
            (after.circuit, change),
            (Circuit::Closed, Some(Change::Recovered))
        );
    }

    #[test]
    fn a_circuit_open_too_long_is_due_to_disable() {
        let h = open_at(t(0));
        assert!(!disable_due(&Health::default(), t(10_000), &S));
        assert!(!disable_due(&h, t(3599), &S));
        assert!(disable_due(&h, t(3600), &S));
        // probing counts from when the circuit first opened
        let Admit::Probe(probing) = h.admit(t(3000), &S) else {
            panic!("a probe is due");
        };
        assert!(disable_due(&probing, t(3600), &S));
    }

    #[test]
    fn re_enabling_closes_the_circuit_and_keeps_the_times() {
        let h = open_at(t(0)).reset();
        assert_eq!((h.circuit, h.consecutive_failures), (Circuit::Closed, 0));
        assert_eq!(h.last_failure, Some(t(0)));
    }

    #[test]
    fn health_serializes_with_its_state_named() {
        let h = open_at(t(0));
        let json = serde_json::to_value(h).unwrap();
        assert_eq!(json["circuit"]["state"], "open");
        assert_eq!(serde_json::from_value::<Health>(json).unwrap(), h);
    }
}
