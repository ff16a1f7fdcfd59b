//! Lanes: isolation from slow and failing endpoints.
//!
//! Delivery capacity is split in two lanes, each a queue with its own consumers: the **main**
//! lane, where fan-out puts every new job, and the **slow** lane, for endpoints that fail or
//! time out. A job whose endpoint's last attempt failed, and every retry (a retry follows a
//! failure), goes to the slow lane, so a dead or hanging endpoint holds the slow lane's
//! capacity, never the main lane's. Within a lane, no endpoint has more than `share` attempts in
//! progress at once. A job beyond it waits in this process for its endpoint's share while the
//! endpoint's attempts are quick (none has been in progress for [`STALL`]): a busy, fast
//! endpoint is fed at its share without its jobs going round the queue. Once an attempt of it
//! has run that long, its next job overflows to the slow lane from the main lane, and from the
//! slow lane goes back to the queue (a delayed message, not held in flight) for about one
//! attempt's time.
//!
//! The decision is [`route`], pure; [`InFlight`] counts each endpoint's attempts in progress
//! in this process and when each began.

use super::job::Job;
use super::settle::Disposition;
use crate::breaker::{Circuit, Health};
use crate::clock::Timestamp;
use crate::error::Result;
use crate::hookline::Hookline;
use crate::ids::SubscriptionId;
use crate::ports::{Enqueue, Queue};
use crate::subscription::Subscription;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an endpoint's attempt may be in progress before jobs stop waiting for its share:
/// an endpoint that answers within it is fed at its share; one that does not (it hangs, or is
/// slow) has its further jobs sent elsewhere. It bounds how long a newly hanging endpoint's
/// waiting jobs hold a lane's receive slots.
pub const STALL: Duration = Duration::from_millis(250);

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
    /// Its endpoint has its share in progress, all of it quick so far: wait here for one of
    /// them to end.
    Wait,
}

/// The endpoint as the lanes see it when a job of it is received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Its last attempt failed (or timed out), and its circuit is closed.
    pub failing: bool,
    /// The job is its circuit's probe: one job, attempted where it is, or the circuit would
    /// wait for a probe that never comes.
    pub probe: bool,
    /// Its attempts and waiting jobs in this lane (in this process).
    pub load: Load,
    /// Its request timeout: the longest an attempt of it holds a share.
    pub timeout: Duration,
}

impl Endpoint {
    /// The endpoint of a subscription with `health`, `load` in this lane and `timeout`.
    pub fn of(health: &Health, load: Load, timeout: Duration) -> Self {
        Endpoint {
            failing: health.consecutive_failures > 0,
            probe: health.circuit != Circuit::Closed,
            load,
            timeout,
        }
    }
}

/// Where a job goes, in `lane` (`has_slow`: whether the deployment has a slow lane), given its
/// endpoint and the most attempts one endpoint may have in progress in a lane (`share`).
pub fn route(lane: Lane, has_slow: bool, endpoint: Endpoint, share: usize) -> Route {
    if endpoint.probe {
        return Route::Attempt;
    }
    let to_slow = lane == Lane::Main && has_slow;
    if to_slow && endpoint.failing {
        return Route::ToSlow;
    }
    let load = endpoint.load;
    if load.in_progress < share {
        return Route::Attempt;
    }
    // in the main lane an endpoint's jobs wait up to its share again (it holds at most twice
    // its share of the lane's slots); the slow lane is where the rest of it is fed
    if !load.stalled && (lane == Lane::Slow || !has_slow || load.waiting < share) {
        return Route::Wait;
    }
    if to_slow {
        Route::ToSlow
    } else {
        Route::Defer(defer_for(endpoint.timeout))
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

    /// `items` grouped by the queue their lane (`None`: this process's own) ends up on, each
    /// group in the order given.
    pub(crate) fn by_queue<T>(
        &self,
        items: impl IntoIterator<Item = (Option<Lane>, T)>,
    ) -> Vec<(&Arc<dyn Queue>, Vec<T>)> {
        let mut groups: Vec<(&Arc<dyn Queue>, Vec<T>)> = Vec::new();
        for (lane, item) in items {
            let queue = self.queue(lane);
            match groups.iter_mut().find(|(q, _)| Arc::ptr_eq(q, queue)) {
                Some((_, group)) => group.push(item),
                None => groups.push((queue, vec![item])),
            }
        }
        groups
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

    /// Whether `job` of `sub` (admitted on `health`) is attempted in this lane (after waiting
    /// for its endpoint's share, while that is quick): counted as in progress until the
    /// returned guard drops; else what its message becomes (forwarded to the slow lane, or sent
    /// on to wait for its endpoint's share).
    pub(crate) async fn enter_lane(
        &self,
        job: &Job,
        sub: &Subscription,
        health: &Health,
    ) -> std::result::Result<Entered, Disposition> {
        let lanes = &self.lanes;
        let decide = |load| {
            let endpoint = Endpoint::of(health, load, sub.timeout());
            route(lanes.lane, lanes.slow.is_some(), endpoint, lanes.share)
        };
        lanes.in_flight.enter(&sub.id, decide).await.map_err(|route| {
            tracing::debug!(subscription_id = %sub.id, delivery_id = %job.delivery_id, lane = lanes.lane.as_str(), ?route, "job not attempted in this lane");
            let max_delay = self.queue.limits().max_delay;
            Disposition::Requeue(match route {
                Route::Defer(wait) => {
                    // spread over up to twice the wait, so that a backlog deferred together
                    // does not come back together
                    let wait = wait.mul_f64(1.0 + rand::random::<f64>());
                    Enqueue::after(job.clone(), wait.min(max_delay))
                }
                Route::ToSlow | Route::Attempt | Route::Wait => {
                    Enqueue::now(job.clone()).to(Lane::Slow)
                }
            })
        })
    }

    /// A delivery's first job, received in the main lane, whose endpoint is failing (as this
    /// process's health cache knows it) or has its share stalled here: forwarded to the slow
    /// lane before anything is read, so a newly dead endpoint's queued backlog leaves the main
    /// lane at a queue write per job (on AWS without a DynamoDB read), and the jobs queued
    /// behind it wait less. The slow lane takes it on the full path: a stale copy is dropped
    /// there, a deleted or disabled subscription's job given up or parked. Anything else (an
    /// open circuit, a job that may be attempted or wait here) takes the full path here.
    pub(crate) fn forward_early(&self, job: &Job, now: Timestamp) -> Option<Disposition> {
        let lanes = &self.lanes;
        let id = job.subscription_id.as_ref()?;
        if lanes.lane != Lane::Main || lanes.slow.is_none() || job.paced || job.reopen {
            return None;
        }
        // unknown here: a closed circuit with no failures, which routes on the load alone
        let (health, _) = self
            .health
            .as_ref()
            .and_then(|c| c.get(id, now))
            .unwrap_or_default();
        if health.circuit != Circuit::Closed {
            return None;
        }
        // only a lane without a slow lane defers by the timeout
        let endpoint = Endpoint::of(&health, lanes.in_flight.load(id), Duration::ZERO);
        match route(Lane::Main, true, endpoint, lanes.share) {
            Route::ToSlow => {
                tracing::debug!(subscription_id = %id, delivery_id = %job.delivery_id, "job forwarded to the slow lane on receipt");
                Some(Disposition::Requeue(
                    Enqueue::now(job.clone()).to(Lane::Slow),
                ))
            }
            Route::Attempt | Route::Wait | Route::Defer(_) => None,
        }
    }

    /// Sends messages, each to its lane's queue, in full batches.
    pub async fn send(&self, messages: &[Enqueue]) -> Result<()> {
        let groups = self
            .lanes
            .by_queue(messages.iter().map(|m| (m.lane, m.clone())));
        for (queue, these) in groups {
            for chunk in these.chunks(queue.limits().max_batch) {
                queue.send_batch(chunk).await?;
            }
        }
        Ok(())
    }
}

/// Each endpoint's attempts in progress in this process, in one lane, by when each began, and
/// its jobs waiting for its share.
#[derive(Debug, Default)]
pub struct InFlight {
    endpoints: Mutex<HashMap<SubscriptionId, Attempts>>,
    /// Signalled whenever an attempt ends, for jobs waiting for their endpoint's share.
    ended: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Attempts {
    started: Vec<Instant>,
    waiting: usize,
}

impl Attempts {
    /// The load at `now`, not counting `mine` of the waiting jobs (the asking job's own wait),
    /// and how long the oldest attempt has run.
    fn load(&self, now: Instant, mine: usize) -> (Load, Duration) {
        let ran = self
            .started
            .iter()
            .min()
            .map_or(Duration::ZERO, |at| now - *at);
        let load = Load {
            in_progress: self.started.len(),
            stalled: ran >= STALL,
            waiting: self.waiting - mine,
        };
        (load, ran)
    }
}

/// An endpoint's attempts in a lane, as [`InFlight::enter`] tells its `decide`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Its attempts in progress.
    pub in_progress: usize,
    /// One of them has run for [`STALL`] or longer.
    pub stalled: bool,
    /// Its other jobs waiting for a share.
    pub waiting: usize,
}

/// One attempt in progress: counted until it is dropped.
#[derive(Debug)]
pub struct Entered {
    in_flight: Arc<InFlight>,
    sub: SubscriptionId,
    at: Instant,
}

/// A job waiting for its endpoint's share: counted until it is dropped.
struct Waiting<'a> {
    in_flight: &'a InFlight,
    sub: &'a SubscriptionId,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.in_flight.update(self.sub, |a| a.waiting -= 1);
    }
}

impl InFlight {
    /// Routes a job of `sub` with `decide` (given its endpoint's [`Load`] now) and, when it is
    /// to be attempted, counts it in the same step, so two jobs never take the last share. On
    /// [`Route::Wait`] it waits for an attempt to end, or for the oldest to reach [`STALL`],
    /// and decides again.
    pub async fn enter(
        self: &Arc<Self>,
        sub: &SubscriptionId,
        decide: impl Fn(Load) -> Route,
    ) -> Result<Entered, Route> {
        let mut waiting: Option<Waiting> = None;
        loop {
            // registered before the check, so an attempt that ends after it is not missed
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            let until_stalled = {
                let mut endpoints = self.endpoints.lock().expect("in-flight attempts");
                let now = Instant::now();
                let (load, ran) = endpoints
                    .get(sub)
                    .map(|a| a.load(now, usize::from(waiting.is_some())))
                    .unwrap_or_default();
                match decide(load) {
                    Route::Attempt => {
                        endpoints.entry(sub.clone()).or_default().started.push(now);
                        drop(endpoints);
                        drop(waiting);
                        return Ok(Entered {
                            in_flight: self.clone(),
                            sub: sub.clone(),
                            at: now,
                        });
                    }
                    Route::Wait => {
                        if waiting.is_none() {
                            endpoints.entry(sub.clone()).or_default().waiting += 1;
                            waiting = Some(Waiting {
                                in_flight: self,
                                sub,
                            });
                        }
                        STALL.saturating_sub(ran)
                    }
                    other => {
                        drop(endpoints);
                        return Err(other);
                    }
                }
            };
            let _ = tokio::time::timeout(until_stalled, ended).await;
        }
    }

    /// `sub`'s load now, as a job that has not entered would be routed on.
    pub fn load(&self, sub: &SubscriptionId) -> Load {
        let endpoints = self.endpoints.lock().expect("in-flight attempts");
        endpoints
            .get(sub)
            .map(|a| a.load(Instant::now(), 0).0)
            .unwrap_or_default()
    }

    /// Changes `sub`'s counts, and forgets it when nothing of it is left.
    fn update(&self, sub: &SubscriptionId, change: impl FnOnce(&mut Attempts)) {
        let mut endpoints = self.endpoints.lock().expect("in-flight attempts");
        if let Some(attempts) = endpoints.get_mut(sub) {
            change(attempts);
            if attempts.started.is_empty() && attempts.waiting == 0 {
                endpoints.remove(sub);
            }
        }
    }

    /// Attempts of `sub` in progress.
    #[cfg(test)]
    fn count(&self, sub: &SubscriptionId) -> usize {
        let endpoints = self.endpoints.lock().expect("in-flight attempts");
        endpoints.get(sub).map_or(0, |a| a.started.len())
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let at = self.at;
        self.in_flight.update(&self.sub, |a| {
            if let Some(i) = a.started.iter().position(|t| *t == at) {
                a.started.swap_remove(i);
            }
        });
        self.in_flight.ended.notify_waiters();
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
            load: Load {
                in_progress: in_flight,
                ..Load::default()
            },
            timeout: T,
        }
    }

    fn stalled(failing: bool, in_flight: usize) -> Endpoint {
        let mut endpoint = endpoint(failing, in_flight);
        endpoint.load.stalled = true;
        endpoint
    }

    #[test]
    fn a_healthy_endpoint_under_its_share_is_attempted_in_either_lane() {
        for lane in [Lane::Main, Lane::Slow] {
            for has_slow in [true, false] {
                assert_eq!(route(lane, has_slow, endpoint(false, 3), 4), Route::Attempt);
                assert_eq!(route(lane, has_slow, stalled(false, 3), 4), Route::Attempt);
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
    fn at_its_share_a_quick_endpoints_job_waits_for_it_in_either_lane() {
        for lane in [Lane::Main, Lane::Slow] {
            for has_slow in [true, false] {
                assert_eq!(route(lane, has_slow, endpoint(false, 4), 4), Route::Wait);
            }
        }
        assert_eq!(route(Lane::Slow, true, endpoint(true, 4), 4), Route::Wait);
    }

    #[test]
    fn in_the_main_lane_an_endpoint_waits_for_at_most_its_share_again() {
        let queueing = |waiting| {
            let mut endpoint = endpoint(false, 4);
            endpoint.load.waiting = waiting;
            endpoint
        };
        assert_eq!(route(Lane::Main, true, queueing(3), 4), Route::Wait);
        assert_eq!(route(Lane::Main, true, queueing(4), 4), Route::ToSlow);
        // the slow lane, and a deployment without one, feed it at its share however many wait
        assert_eq!(route(Lane::Slow, true, queueing(40), 4), Route::Wait);
        assert_eq!(route(Lane::Main, false, queueing(40), 4), Route::Wait);
    }

    #[test]
    fn at_its_share_a_stalled_endpoint_overflows_or_goes_back_to_the_queue() {
        assert_eq!(route(Lane::Main, true, stalled(false, 4), 4), Route::ToSlow);
        assert_eq!(
            route(Lane::Slow, true, stalled(false, 4), 4),
            Route::Defer(T)
        );
        assert_eq!(
            route(Lane::Main, false, stalled(false, 5), 4),
            Route::Defer(T)
        );
    }

    #[test]
    fn a_probe_is_attempted_where_it_is() {
        let probe = Endpoint {
            probe: true,
            ..stalled(true, 9)
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

    /// At most `n` at once, waiting for a share while no attempt has stalled.
    fn share(n: usize) -> impl Fn(Load) -> Route {
        move |s: Load| match (s.in_progress < n, s.stalled) {
            (true, _) => Route::Attempt,
            (false, false) => Route::Wait,
            (false, true) => Route::ToSlow,
        }
    }

    #[tokio::test]
    async fn in_flight_counts_each_endpoint_until_its_attempt_ends() {
        let in_flight = Arc::new(InFlight::default());
        let (a, b) = (SubscriptionId::generate(), SubscriptionId::generate());
        let no_wait = |n| {
            move |s: Load| {
                if s.in_progress < n {
                    Route::Attempt
                } else {
                    Route::ToSlow
                }
            }
        };
        let first = in_flight.enter(&a, no_wait(2)).await.unwrap();
        let second = in_flight.enter(&a, no_wait(2)).await.unwrap();
        assert_eq!(
            in_flight.enter(&a, no_wait(2)).await.unwrap_err(),
            Route::ToSlow
        );
        let other = in_flight.enter(&b, no_wait(2)).await.unwrap();
        assert_eq!((in_flight.count(&a), in_flight.count(&b)), (2, 1));
        drop(first);
        assert_eq!(in_flight.count(&a), 1);
        let third = in_flight.enter(&a, no_wait(2)).await.unwrap();
        drop((second, third, other));
        assert_eq!((in_flight.count(&a), in_flight.count(&b)), (0, 0));
        assert!(in_flight.endpoints.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_load_a_job_is_routed_on_before_it_enters_shows_attempts_waits_and_a_stall() {
        let in_flight = Arc::new(InFlight::default());
        let a = SubscriptionId::generate();
        assert_eq!(
            in_flight.load(&a),
            Load::default(),
            "an endpoint with nothing here"
        );
        let first = in_flight.enter(&a, share(1)).await.unwrap();
        let waiting = {
            let (in_flight, a) = (in_flight.clone(), a.clone());
            tokio::spawn(async move { in_flight.enter(&a, share(1)).await.is_ok() })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let load = in_flight.load(&a);
        assert_eq!(
            (load.in_progress, load.waiting, load.stalled),
            (1, 1, false)
        );
        tokio::time::sleep(STALL).await;
        assert!(in_flight.load(&a).stalled, "its attempt has run for STALL");
        // a stalled share in the main lane with a slow lane: the job is forwarded on receipt
        let endpoint = Endpoint {
            failing: false,
            probe: false,
            load: in_flight.load(&a),
            timeout: Duration::ZERO,
        };
        assert_eq!(route(Lane::Main, true, endpoint, 1), Route::ToSlow);
        drop(first);
        waiting.await.unwrap();
    }

    #[tokio::test]
    async fn a_waiting_job_takes_the_share_its_endpoint_frees() {
        let in_flight = Arc::new(InFlight::default());
        let a = SubscriptionId::generate();
        let first = in_flight.enter(&a, share(1)).await.unwrap();
        let waiting = {
            let (in_flight, a) = (in_flight.clone(), a.clone());
            tokio::spawn(async move { in_flight.enter(&a, share(1)).await.map(|_| Instant::now()) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "it waits while the share is taken");
        let freed = Instant::now();
        drop(first);
        let entered = waiting.await.unwrap().expect("it takes the freed share");
        assert!(entered - freed < STALL, "at once, not after the stall time");
    }

    #[tokio::test]
    async fn decide_sees_the_other_jobs_waiting_and_nothing_is_left_counted() {
        let in_flight = Arc::new(InFlight::default());
        let a = SubscriptionId::generate();
        let first = in_flight.enter(&a, share(1)).await.unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let waiter = |seen: Arc<Mutex<Vec<usize>>>| {
            let (in_flight, a) = (in_flight.clone(), a.clone());
            tokio::spawn(async move {
                let decide = |s: Load| {
                    seen.lock().unwrap().push(s.waiting);
                    share(1)(s)
                };
                in_flight.enter(&a, decide).await.is_ok()
            })
        };
        let one = waiter(seen.clone());
        tokio::time::sleep(Duration::from_millis(20)).await;
        let two = waiter(seen.clone());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            seen.lock().unwrap()[..2],
            [0, 1],
            "the second sees the first waiting"
        );
        drop(first);
        // each takes the share in turn
        let (one, two) = tokio::join!(one, two);
        assert!(one.unwrap() && two.unwrap());
        tokio::time::sleep(STALL).await;
        assert!(in_flight.endpoints.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_wait_ends_when_the_endpoints_attempt_has_stalled() {
        let in_flight = Arc::new(InFlight::default());
        let a = SubscriptionId::generate();
        let hanging = in_flight.enter(&a, share(1)).await.unwrap();
        let waited = Instant::now();
        assert_eq!(
            in_flight.enter(&a, share(1)).await.unwrap_err(),
            Route::ToSlow
        );
        let took = waited.elapsed();
        assert!(
            took >= STALL - Duration::from_millis(5) && took < STALL * 4,
            "{took:?}"
        );
        // later jobs of it do not wait at all
        let again = Instant::now();
        assert_eq!(
            in_flight.enter(&a, share(1)).await.unwrap_err(),
            Route::ToSlow
        );
        assert!(again.elapsed() < Duration::from_millis(50));
        drop(hanging);
    }
}
