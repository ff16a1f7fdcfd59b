//! The retry chain: which step a received job is of its delivery, decided from the job and the
//! delivery alone (pure). A delivery has exactly one chain of jobs: each job carries one attempt,
//! and the job that made attempt `n` sends the job of attempt `n + 1`. Copies (a repeated
//! fan-out, a message SQS delivered twice, a retry after a crash) are recognised by their
//! attempt number and by who carries the chain, and dropped or sent on; none is attempted early
//! or twice.
//!
//! | delivery | job's attempt (`n` = attempts so far) | step |
//! |---|---|---|
//! | succeeded | any | drop |
//! | pending | `n + 1`, not due yet | wait until due |
//! | pending | `n + 1`, claimed by another handler | wait until the claim lapses |
//! | pending | `n + 1`, due | attempt |
//! | pending | `n`, this message carried it | resume: send attempt `n + 1` (a crash after recording) |
//! | pending | `n + 2`, an attempt claimed | wait until the claim ends (sent on before its attempt was recorded) |
//! | pending | anything else | drop (a stale copy) |
//! | failed | any, with `reopen` | reopen and attempt |
//! | failed | `n + 1`, or `n` carried by this message | dead-letter (a crash before the move) |
//! | failed | anything else | drop |
//!
//! A job numbered 0 (queued before jobs were numbered) counts as `n + 1`.

use super::job::Job;
use crate::clock::Timestamp;
use crate::delivery::{Delivery, DeliveryStatus};
use crate::ports::Enqueue;
use std::time::Duration;

/// What to do with a received job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing: the delivery is finished, or this job is a copy the chain has left behind.
    Drop(&'static str),
    /// Send the job on to arrive later (not due yet, or another handler is attempting it).
    Wait(Enqueue),
    /// This job's attempt is recorded but the job that follows it may never have been sent.
    Resume(Enqueue),
    /// The failure is recorded but the job was not moved to the dead-letter queue yet.
    DeadLetter,
    /// A new round of attempts for a failed delivery (recovery, redrive), then an attempt.
    Reopen,
    Attempt,
}

/// The job sent on so that it arrives at `due`, in hops of at most `max_delay`: a long wait is
/// several sends, each received only when its delay is over.
pub fn wait_until(job: &Job, due: Timestamp, now: Timestamp, max_delay: Duration) -> Enqueue {
    let left = Duration::from_millis(due.millis().saturating_sub(now.millis()).max(0) as u64);
    Enqueue::after(job.clone().due_at(due), left.min(max_delay))
}

/// A job that arrived before its due time, sent on without reading the store.
pub fn early(job: &Job, now: Timestamp, max_delay: Duration) -> Option<Enqueue> {
    job.due
        .filter(|due| *due > now)
        .map(|due| wait_until(job, due, now, max_delay))
}

/// The step `job` is of `delivery`'s chain at `now`, for the receive `holder` (a
/// [`crate::delivery::claim_holder`]) of queue message `message_id`.
pub fn step(
    job: &Job,
    delivery: &Delivery,
    (message_id, holder): (&str, &str),
    now: Timestamp,
    max_delay: Duration,
) -> Step {
    let made = delivery.attempts.len() as u32;
    let attempt = if job.attempt == 0 {
        made + 1
    } else {
        job.attempt
    };
    let carried_by_me = delivery.carried_by(message_id);
    match delivery.status {
        DeliveryStatus::Succeeded => Step::Drop("the delivery succeeded"),
        DeliveryStatus::Pending if attempt == made + 1 => {
            if let Some(due) = delivery.next_attempt_at.filter(|due| *due > now) {
                Step::Wait(wait_until(job, due, now, max_delay))
            } else if delivery.claimed_by_other(holder, now) {
                let until = delivery.claimed_until.unwrap_or(now);
                Step::Wait(wait_until(job, until, now, max_delay))
            } else {
                Step::Attempt
            }
        }
        DeliveryStatus::Pending if attempt == made && carried_by_me => {
            let next = Job::next(delivery.id.clone(), made + 1, None);
            let due = delivery.next_attempt_at.unwrap_or(now);
            Step::Resume(wait_until(&next, due, now, max_delay))
        }
        // One ahead while an attempt is claimed: the job that attempt sent on before recording
        // it (a manual retry does); it becomes the next attempt once that is recorded.
        DeliveryStatus::Pending if attempt == made + 2 && delivery.claimed(now) => {
            let until = delivery.claimed_until.unwrap_or(now);
            Step::Wait(wait_until(job, until, now, max_delay))
        }
        DeliveryStatus::Pending => Step::Drop("a copy the retry chain has left behind"),
        // Recovery or a redrive asks for a new round whatever the count is now (a manual retry
        // may have added attempts since the job was made); the reopening write is conditional,
        // so two such jobs reopen once.
        DeliveryStatus::Failed if job.reopen => Step::Reopen,
        DeliveryStatus::Failed if attempt == made + 1 || (attempt == made && carried_by_me) => {
            Step::DeadLetter
        }
        DeliveryStatus::Failed => Step::Drop("a copy of a job already dead-lettered"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DeliveryId;

    const NOW: Timestamp = Timestamp(1_000_000);
    const MAX: Duration = Duration::from_secs(900);

    fn delivery(status: DeliveryStatus, attempts: u32) -> Delivery {
        crate::delivery::test_delivery(status, attempts, 0)
    }

    fn job(d: &Delivery, attempt: u32) -> Job {
        Job::next(d.id.clone(), attempt, None)
    }

    #[test]
    fn a_due_unclaimed_next_attempt_is_attempted() {
        let d = delivery(DeliveryStatus::Pending, 2);
        assert_eq!(step(&job(&d, 3), &d, ("m1", "m1"), NOW, MAX), Step::Attempt);
        // a job from before numbering is the next attempt
        assert_eq!(step(&job(&d, 0), &d, ("m1", "m1"), NOW, MAX), Step::Attempt);
    }

    #[test]
    fn a_job_that_arrives_before_its_delivery_is_due_waits_in_hops() {
        let mut d = delivery(DeliveryStatus::Pending, 1);
        d.next_attempt_at = Some(NOW.plus(Duration::from_secs(3_600)));
        let Step::Wait(sent) = step(&job(&d, 2), &d, ("m1", "m1"), NOW, MAX) else {
            panic!("an early job is never attempted");
        };
        assert_eq!(
            sent.delay, MAX,
            "a wait beyond the queue's delay is made in hops"
        );
        assert_eq!(sent.job().unwrap().due, d.next_attempt_at);
        assert_eq!(sent.job().unwrap().attempt, 2);
        d.next_attempt_at = Some(NOW.plus(Duration::from_secs(5)));
        let Step::Wait(sent) = step(&job(&d, 2), &d, ("m1", "m1"), NOW, MAX) else {
            panic!()
        };
        assert_eq!(sent.delay, Duration::from_secs(5));
    }

    #[test]
    fn a_job_claimed_by_another_handler_waits_for_the_claim() {
        let mut d = delivery(DeliveryStatus::Pending, 0);
        d.carrier = Some("m1".into());
        d.claimed_until = Some(NOW.plus(Duration::from_secs(20)));
        let Step::Wait(sent) = step(&job(&d, 1), &d, ("m2", "m2"), NOW, MAX) else {
            panic!("a second handler never sends the same attempt");
        };
        assert_eq!(sent.delay, Duration::from_secs(20));
        // the holder itself, received again, and anyone after the claim lapsed, may attempt
        assert_eq!(step(&job(&d, 1), &d, ("m1", "m1"), NOW, MAX), Step::Attempt);
        let later = NOW.plus(Duration::from_secs(21));
        assert_eq!(
            step(&job(&d, 1), &d, ("m2", "m2"), later, MAX),
            Step::Attempt
        );
    }

    #[test]
    fn the_carrier_of_a_recorded_attempt_resumes_the_chain() {
        let mut d = delivery(DeliveryStatus::Pending, 2);
        d.carrier = Some("m1".into());
        d.next_attempt_at = Some(NOW.plus(Duration::from_secs(300)));
        let Step::Resume(next) = step(&job(&d, 2), &d, ("m1", "m1"), NOW, MAX) else {
            panic!("a crash between recording and sending on must not end the chain");
        };
        assert_eq!(next.job().unwrap().attempt, 3);
        assert_eq!(next.job().unwrap().due, d.next_attempt_at);
        assert_eq!(next.delay, Duration::from_secs(300));
        // any other copy of that attempt's job is left behind
        assert!(matches!(
            step(&job(&d, 2), &d, ("m2", "m2"), NOW, MAX),
            Step::Drop(_)
        ));
    }

    #[test]
    fn copies_behind_or_ahead_of_the_chain_are_dropped() {
        let d = delivery(DeliveryStatus::Pending, 3);
        for attempt in [1, 2, 5] {
            assert!(
                matches!(
                    step(&job(&d, attempt), &d, ("m1", "m1"), NOW, MAX),
                    Step::Drop(_)
                ),
                "{attempt}"
            );
        }
        let done = delivery(DeliveryStatus::Succeeded, 1);
        for attempt in [0, 1, 2] {
            assert!(matches!(
                step(&job(&done, attempt), &done, ("m1", "m1"), NOW, MAX),
                Step::Drop(_)
            ));
        }
    }

    #[test]
    fn a_failed_delivery_reopens_for_any_reopening_job() {
        let d = delivery(DeliveryStatus::Failed, 8);
        let reopen = Job::reopen(d.id.clone(), 8);
        assert_eq!(step(&reopen, &d, ("m1", "m1"), NOW, MAX), Step::Reopen);
        // made before a manual retry added a ninth attempt: the operator still asked for a round
        let older = Job::reopen(d.id.clone(), 7);
        assert_eq!(step(&older, &d, ("m1", "m1"), NOW, MAX), Step::Reopen);
    }

    #[test]
    fn the_job_sent_on_before_a_claimed_attempt_is_recorded_waits_for_it() {
        let mut d = delivery(DeliveryStatus::Pending, 3);
        d.carrier = Some("api_1".into());
        d.claimed_until = Some(NOW.plus(Duration::from_secs(15)));
        let Step::Wait(sent) = step(&job(&d, 5), &d, ("m7", "m7#a"), NOW, MAX) else {
            panic!("the only job of the chain must not be dropped while its attempt is recorded");
        };
        assert_eq!(sent.delay, Duration::from_secs(15));
        d.claimed_until = None;
        assert!(matches!(
            step(&job(&d, 5), &d, ("m7", "m7#a"), NOW, MAX),
            Step::Drop(_)
        ));
    }

    #[test]
    fn two_receives_of_one_message_are_two_claim_holders() {
        let mut d = delivery(DeliveryStatus::Pending, 0);
        d.carrier = Some("m1#first".into());
        d.claimed_until = Some(NOW.plus(Duration::from_secs(15)));
        assert!(matches!(
            step(&job(&d, 1), &d, ("m1", "m1#second"), NOW, MAX),
            Step::Wait(_)
        ));
        assert_eq!(
            step(&job(&d, 1), &d, ("m1", "m1#first"), NOW, MAX),
            Step::Attempt
        );
        // after recording, any receive of the carrying message may resume the chain
        let mut done = delivery(DeliveryStatus::Pending, 1);
        done.carrier = Some("m1#first".into());
        assert!(matches!(
            step(&job(&done, 1), &done, ("m1", "m1#second"), NOW, MAX),
            Step::Resume(_)
        ));
    }

    #[test]
    fn a_failure_recorded_before_a_crash_is_dead_lettered_by_its_job_only() {
        // given up without an attempt (the subscription went away): the job of attempt n + 1
        let d = delivery(DeliveryStatus::Failed, 2);
        assert_eq!(
            step(&job(&d, 3), &d, ("m9", "m9"), NOW, MAX),
            Step::DeadLetter
        );
        // given up after the last attempt: the job that made it
        let mut d = delivery(DeliveryStatus::Failed, 8);
        d.carrier = Some("m1".into());
        assert_eq!(
            step(&job(&d, 8), &d, ("m1", "m1"), NOW, MAX),
            Step::DeadLetter
        );
        assert!(matches!(
            step(&job(&d, 8), &d, ("m2", "m2"), NOW, MAX),
            Step::Drop(_)
        ));
        assert!(matches!(
            step(&job(&d, 4), &d, ("m1", "m1"), NOW, MAX),
            Step::Drop(_)
        ));
    }

    #[test]
    fn an_early_job_is_sent_on_without_reading_the_store() {
        let id = DeliveryId::generate();
        let j = Job::next(id, 2, Some(NOW.plus(Duration::from_secs(7_200))));
        let sent = early(&j, NOW, MAX).unwrap();
        assert_eq!((sent.delay, sent.job().unwrap().clone()), (MAX, j.clone()));
        assert_eq!(early(&j, NOW.plus(Duration::from_secs(7_200)), MAX), None);
        assert_eq!(early(&Job::first(DeliveryId::generate()), NOW, MAX), None);
    }
}
