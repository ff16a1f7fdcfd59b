//! Lanes: isolation from slow and failing endpoints.
//!
//! Delivery capacity is split in two lanes, each a queue with its own consumers: the **main**
//! lane, where fan-out puts every new job, and the **slow** lane, for endpoints that fail or
//! time out. A job whose endpoint's last attempt failed, and every retry (a retry follows a
//! failure), goes to the slow lane, so a dead or hanging endpoint holds the slow lane's
//! capacity, never the main lane's. Within a lane, no endpoint holds more than `share` of the
//! lane's attempts at once: beyond it, a main-lane job overflows to the slow lane, and a
//! slow-lane job waits in the queue (a delayed message, not held in flight) for about one
//! attempt's time.
//!
//! The decision is [`route`], pure; [`InFlight`] counts each endpoint's attempts in progress
//! in this process.

use super::job::Job;
use super::settle::Disposition;
use crate::breaker::{Circuit, Health};
use crate::error::Result;
use crate::hookline::Hookline;
use crate::ids::SubscriptionId;
use crate::ports::{Enqueue, Queue};
use crate::subscription::Subscription;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A delivery lane: a queue and its consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lane {
    #[default]
    Main,
    Slow,
}

impl Lane {
    /// `main` or `slow` (`HOOKLINE_LANE`).
    pub fn parse(s: &str) -> Option<Lane> {
        match s {
            "main" => Some(Lane::Main),
            "slow" => Some(Lane::Slow),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Main => "main",
            Lane::Slow => "slow",
        }
    }
}

/// What a job admitted for an attempt does in the lane it was received in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Attempt it here.
    Attempt,
    /// Forward it to the slow lane at once.
    ToSlow,
    /// Its endpoint has its share of this lane in progress: send it on to come back after
    /// this delay, out of the in-flight window.
    Defer(Duration),
}

/// The endpoint as the lanes see it when a job of it is received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Its last attempt failed (or timed out), and its circuit is closed.
    pub failing: bool,
    /// The job is its circuit's probe: one job, attempted where it is, or the circuit would
    /// wait for a probe that never comes.
    pub probe: bool,
    /// Its attempts in progress in this lane (in this process).
    pub in_flight: usize,
    /// Its request timeout: the longest an attempt of it holds a share.
    pub timeout: Duration,
}

/// Where a job goes, in `lane` (`has_slow`: whether the deployment has a slow lane), given its
/// endpoint and the most attempts one endpoint may have in progress in a lane (`share`).
pub fn route(lane: Lane, has_slow: bool, endpoint: Endpoint, share: usize) -> Route {
    if endpoint.probe {
        return Route::Attempt;
    }
    let full = endpoint.in_flight >= share;
    match lane {
        Lane::Main if has_slow && (endpoint.failing || full) => Route::ToSlow,
        _ if full => Route::Defer(defer_for(endpoint.timeout)),
        _ => Route::Attempt,
    }
}

/// How long a job waits for its endpoint's share: an attempt ends within its timeout, so a
/// share is free again by then (at least a second, a queue's delay step).
pub fn defer_for(timeout: Duration) -> Duration {
    timeout.max(Duration::from_secs(1))
}

/// This process's lane, the queues of both lanes, and its endpoints' attempts in progress.
#[derive(Clone)]
pub struct Lanes {
    /// The lane this process consumes (fan-out and the API send to the main lane).
    pub lane: Lane,
    pub main: Arc<dyn Queue>,
    /// The slow lane's queue, when the deployment has one.
    pub slow: Option<Arc<dyn Queue>>,
    /// Most attempts one endpoint has in progress in this lane at once.
    pub share: usize,
    pub in_flight: Arc<InFlight>,
}

impl Lanes {
    /// One lane, `main`, with no bound on an endpoint's share.
    pub fn single(main: Arc<dyn Queue>) -> Self {
        Lanes {
            lane: Lane::Main,
            main,
            slow: None,
            share: usize::MAX,
            in_flight: Arc::default(),
        }
    }

    /// The queue of `lane` (`None`: this process's own); the main one when there is no slow
    /// lane.
    pub fn queue(&self, lane: Option<Lane>) -> &Arc<dyn Queue> {
        match (lane.unwrap_or(self.lane), &self.slow) {
            (Lane::Slow, Some(slow)) => slow,
            _ => &self.main,
        }
    }

    /// Which lane's queue `lane` ends up on.
    pub(crate) fn resolve(&self, lane: Option<Lane>) -> Lane {
        match (lane.unwrap_or(self.lane), &self.slow) {
            (Lane::Slow, Some(_)) => Lane::Slow,
            _ => Lane::Main,
        }
    }
}

impl Hookline {
    /// Adds a slow lane with its queue: failing endpoints' jobs and all retries go there.
    pub fn with_slow_lane(mut self, slow: Arc<dyn Queue>) -> Self {
        self.lanes.slow = Some(slow);
        self
    }

    /// Bounds the attempts one endpoint has in progress in a lane of this process.
    pub fn with_endpoint_share(mut self, share: usize) -> Self {
        self.lanes.share = share.max(1);
        self
    }

    /// The same core consuming `lane`: it receives from that lane's queue, and counts its
    /// endpoints' attempts apart from the other lane's.
    pub fn in_lane(&self, lane: Lane) -> Self {
        let mut this = self.clone();
        this.lanes.lane = lane;
        this.lanes.in_flight = Arc::default();
        this.queue = this.lanes.queue(Some(lane)).clone();
        this
    }

    /// Whether `job` of `sub` (admitted on `health`) is attempted in this lane now: counted as
    /// in progress until the returned guard drops; else what its message becomes (forwarded to
    /// the slow lane, or sent on to wait for its endpoint's share).
    pub(crate) fn enter_lane(
        &self,
        job: &Job,
        sub: &Subscription,
        health: &Health,
    ) -> std::result::Result<Entered, Disposition> {
        let lanes = &self.lanes;
        let decide = |in_flight| {
            let endpoint = Endpoint {
                failing: health.consecutive_failures > 0,
                probe: health.circuit != Circuit::Closed,
                in_flight,
                timeout: sub.timeout(),
            };
            route(lanes.lane, lanes.slow.is_some(), endpoint, lanes.share)
        };
        lanes.in_flight.enter(&sub.id, decide).map_err(|route| {
            tracing::debug!(subscription_id = %sub.id, delivery_id = %job.delivery_id, lane = lanes.lane.as_str(), ?route, "job not attempted in this lane");
            let max_delay = self.queue.limits().max_delay;
            Disposition::Requeue(match route {
                Route::Defer(wait) => {
                    // spread over up to twice the wait, so that a backlog deferred together
                    // does not come back together
                    let wait = wait.mul_f64(1.0 + rand::random::<f64>());
                    Enqueue::after(job.clone(), wait.min(max_delay))
                }
                Route::ToSlow | Route::Attempt => Enqueue::now(job.clone()).to(Lane::Slow),
            })
        })
    }

    /// Sends messages, each to its lane's queue, in full batches.
    pub async fn send(&self, messages: &[Enqueue]) -> Result<()> {
        for lane in [Lane::Main, Lane::Slow] {
            let queue = self.lanes.queue(Some(lane));
            let these: Vec<Enqueue> = messages
                .iter()
                .filter(|m| self.lanes.resolve(m.lane) == lane)
                .cloned()
                .collect();
            for chunk in these.chunks(queue.limits().max_batch) {
                queue.send_batch(chunk).await?;
            }
        }
        Ok(())
    }
}

/// Each endpoint's attempts in progress in this process, in one lane.
#[derive(Debug, Default)]
pub struct InFlight {
    counts: Mutex<HashMap<SubscriptionId, usize>>,
}

/// One attempt in progress: counted until it is dropped.
#[derive(Debug)]
pub struct Entered {
    in_flight: Arc<InFlight>,
    sub: SubscriptionId,
}

impl InFlight {
    /// Routes a job of `sub` with `decide` (given the count now) and, when it is to be
    /// attempted, counts it in the same step, so two jobs never take the last share.
    pub fn enter(
        self: &Arc<Self>,
        sub: &SubscriptionId,
        decide: impl FnOnce(usize) -> Route,
    ) -> Result<Entered, Route> {
        let mut counts = self.counts.lock().expect("in-flight counts");
        let count = counts.get(sub).copied().unwrap_or(0);
        match decide(count) {
            Route::Attempt => {
                counts.insert(sub.clone(), count + 1);
                Ok(Entered {
                    in_flight: self.clone(),
                    sub: sub.clone(),
                })
            }
            other => Err(other),
        }
    }

    /// Attempts of `sub` in progress.
    pub fn count(&self, sub: &SubscriptionId) -> usize {
        let counts = self.counts.lock().expect("in-flight counts");
        counts.get(sub).copied().unwrap_or(0)
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let mut counts = self.in_flight.counts.lock().expect("in-flight counts");
        if let Some(n) = counts.get_mut(&self.sub) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.sub);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    fn endpoint(failing: bool, in_flight: usize) -> Endpoint {
        Endpoint {
            failing,
            probe: false,
            in_flight,
            timeout: T,
        }
    }

    #[test]
    fn a_healthy_endpoint_under_its_share_is_attempted_in_either_lane() {
        for lane in [Lane::Main, Lane::Slow] {
            for has_slow in [true, false] {
                assert_eq!(route(lane, has_slow, endpoint(false, 3), 4), Route::Attempt);
            }
        }
    }

    #[test]
    fn a_failing_endpoint_leaves_the_main_lane() {
        assert_eq!(route(Lane::Main, true, endpoint(true, 0), 4), Route::ToSlow);
        // in the slow lane it is attempted, within its share
        assert_eq!(
            route(Lane::Slow, true, endpoint(true, 0), 4),
            Route::Attempt
        );
        // without a slow lane it stays, within its share
        assert_eq!(
            route(Lane::Main, false, endpoint(true, 0), 4),
            Route::Attempt
        );
    }

    #[test]
    fn an_endpoint_at_its_share_overflows_or_waits() {
        assert_eq!(
            route(Lane::Main, true, endpoint(false, 4), 4),
            Route::ToSlow
        );
        assert_eq!(
            route(Lane::Slow, true, endpoint(false, 4), 4),
            Route::Defer(T)
        );
        assert_eq!(
            route(Lane::Main, false, endpoint(false, 5), 4),
            Route::Defer(T)
        );
    }

    #[test]
    fn a_probe_is_attempted_where_it_is() {
        let probe = Endpoint {
            probe: true,
            ..endpoint(true, 9)
        };
        assert_eq!(route(Lane::Main, true, probe, 4), Route::Attempt);
        assert_eq!(route(Lane::Slow, true, probe, 4), Route::Attempt);
    }

    #[test]
    fn a_wait_for_a_share_is_at_least_a_second() {
        assert_eq!(
            defer_for(Duration::from_millis(200)),
            Duration::from_secs(1)
        );
        assert_eq!(defer_for(T), T);
    }

    #[test]
    fn in_flight_counts_each_endpoint_until_its_attempt_ends() {
        let in_flight = Arc::new(InFlight::default());
        let (a, b) = (SubscriptionId::generate(), SubscriptionId::generate());
        let share = |n| {
            move |count| {
                if count < n {
                    Route::Attempt
                } else {
                    Route::ToSlow
                }
            }
        };
        let first = in_flight.enter(&a, share(2)).unwrap();
        let second = in_flight.enter(&a, share(2)).unwrap();
        assert_eq!(in_flight.enter(&a, share(2)).unwrap_err(), Route::ToSlow);
        let other = in_flight.enter(&b, share(2)).unwrap();
        assert_eq!((in_flight.count(&a), in_flight.count(&b)), (2, 1));
        drop(first);
        assert_eq!(in_flight.count(&a), 1);
        let third = in_flight.enter(&a, share(2)).unwrap();
        drop((second, third, other));
        assert_eq!((in_flight.count(&a), in_flight.count(&b)), (0, 0));
        assert!(in_flight.counts.lock().unwrap().is_empty());
    }
}
