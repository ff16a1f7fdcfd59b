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
    /// Parked jobs released per second once the circuit closes (oldest first).
    pub release_per_sec: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures_to_open: 5,
            first_probe: Duration::from_secs(30),
            max_probe: Duration::from_secs(15 * 60),
            probe_lease: Duration::from_secs(60),
            disable_after: Duration::from_secs(3 * 24 * 3600),
            release_per_sec: 50,
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
    /// Which open period this is: set (to the health's version) each time the circuit opens or
    /// closes, and carried by the wake messages of that period, so a wake of an earlier period
    /// is recognised and dropped.
    #[serde(default)]
    pub epoch: u64,
    /// How many of the period's `disabling_soon` warnings were sent.
    #[serde(default)]
    pub warned: u8,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            circuit: Circuit::Closed,
            consecutive_failures: 0,
            last_success: None,
            last_failure: None,
            epoch: 0,
            warned: 0,
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

/// The `hookline.endpoint.disabling_soon` warnings of an open period: at half the disable time,
/// and a day before it (when that is later than half).
pub fn warning_times(since: Timestamp, settings: &BreakerSettings) -> Vec<Timestamp> {
    let half = since.plus(settings.disable_after / 2);
    let mut times = vec![half];
    let day = Duration::from_secs(24 * 3600);
    if let Some(before) = settings.disable_after.checked_sub(day) {
        let day_before = since.plus(before);
        if day_before > half {
            times.push(day_before);
        }
    }
    times
}

impl Health {
    /// The warning due at `at`, if one is: its number (from 1) among the period's warnings.
    pub fn warning_due(&self, at: Timestamp, settings: &BreakerSettings) -> Option<u8> {
        let since = self.open_since()?;
        let times = warning_times(since, settings);
        let next = *times.get(usize::from(self.warned))?;
        (at >= next && !disable_due(self, at, settings)).then_some(self.warned + 1)
    }

    /// When the circuit was opened, if it is not closed.
    pub fn open_since(&self) -> Option<Timestamp> {
        match self.circuit {
            Circuit::Closed => None,
            Circuit::Open { since, .. } | Circuit::Probing { since, .. } => Some(since),
        }
    }

    /// The next time after `at` something is due for an open circuit (a probe, a lapsed probe
    /// lease, a warning, disabling): when its wake should come back. `None` when closed.
    pub fn next_check(&self, settings: &BreakerSettings) -> Option<Timestamp> {
        let since = self.open_since()?;
        let probe = match self.circuit {
            Circuit::Open { next_probe, .. } => next_probe,
            Circuit::Probing { probe_started, .. } => probe_started.plus(settings.probe_lease),
            Circuit::Closed => return None,
        };
        let warning = warning_times(since, settings)
            .get(usize::from(self.warned))
            .copied();
        let disable = since.plus(settings.disable_after);
        [Some(probe), warning, Some(disable)]
            .into_iter()
            .flatten()
            .min()
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
                next.warned = 0;
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
                        next.warned = 0;
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
            warned: 0,
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
        release_per_sec: 10,
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

    #[test]
    fn warnings_come_at_half_the_disable_time_and_a_day_before_once_each() {
        let three_days = BreakerSettings::default();
        let since = t(0);
        let times = warning_times(since, &three_days);
        assert_eq!(
            times,
            vec![
                since.plus(Duration::from_secs(36 * 3600)),
                since.plus(Duration::from_secs(48 * 3600))
            ]
        );
        // an hour-long disable time: the day before is before half, so one warning
        assert_eq!(
            warning_times(since, &S),
            vec![since.plus(Duration::from_secs(1800))]
        );
        let open = open_at(since);
        assert_eq!(open.warning_due(t(1799), &S), None);
        assert_eq!(open.warning_due(t(1800), &S), Some(1));
        let warned = Health { warned: 1, ..open };
        assert_eq!(warned.warning_due(t(3000), &S), None, "each warning once");
        assert_eq!(
            open.warning_due(t(3600), &S),
            None,
            "disabling, not warning"
        );
        assert_eq!(
            Health::default().warning_due(t(5000), &S),
            None,
            "closed: none"
        );
    }

    #[test]
    fn the_next_check_is_the_earliest_of_probe_warning_and_disable() {
        assert_eq!(Health::default().next_check(&S), None);
        let open = open_at(t(0));
        assert_eq!(open.next_check(&S), Some(t(30)), "the first probe");
        let Admit::Probe(probing) = open.admit(t(30), &S) else {
            panic!("a probe is due")
        };
        assert_eq!(probing.next_check(&S), Some(t(90)), "the probe's lease");
        let late = Health {
            circuit: Circuit::Open {
                since: t(0),
                next_probe: t(3000),
                interval_ms: 100_000,
            },
            ..open
        };
        assert_eq!(late.next_check(&S), Some(t(1800)), "the warning");
        let warned = Health { warned: 1, ..late };
        assert_eq!(warned.next_check(&S), Some(t(3000)));
        let later = Health {
            circuit: Circuit::Open {
                since: t(0),
                next_probe: t(5000),
                interval_ms: 100_000,
            },
            ..warned
        };
        assert_eq!(later.next_check(&S), Some(t(3600)), "disabling");
    }

    #[test]
    fn opening_and_closing_start_the_warnings_again() {
        let warned = Health {
            warned: 2,
            ..open_at(t(0))
        };
        let (closed, _) = warned.record(Outcome::Succeeded, t(10), &S);
        assert_eq!(closed.warned, 0);
        let (reopened, change) = failed(closed, 3, t(20));
        assert_eq!((reopened.warned, change), (0, Some(Change::Opened)));
    }
}
