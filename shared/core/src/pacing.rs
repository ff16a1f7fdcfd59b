//! Pacing: a subscription's `rate_limit_per_sec` as evenly spaced send slots (the generic cell
//! rate algorithm). A subscription's pacing state is one number, the time its next free slot
//! starts (in microseconds); taking a slot gives the later of that time and now, and moves the
//! next free slot on by one interval. A job whose slot is in the future waits for it as a
//! delayed message (never in flight), so work beyond the limit waits: it is not failed or
//! dropped. Slots spaced by `1 s / limit` put at most `limit` attempts (+1) in any second.

use crate::clock::Timestamp;
use std::time::Duration;

/// The highest limit a subscription may set: a slot is one conditional write to the
/// subscription's own pacing item, and one DynamoDB partition takes ~1,000 writes/s.
pub const MAX_RATE_PER_SEC: u32 = 500;

/// A slot this close ahead is taken now rather than waited for.
pub const TOLERANCE: Duration = Duration::from_millis(5);

/// A job this late for its slot takes a new one: sending it now could crowd the next slots.
pub const LATE: Duration = Duration::from_millis(50);

/// What a job holding the send slot `slot` does at `now`, on a queue that delays in whole
/// `step`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Attempt now.
    Go,
    /// Wait this long in process, then attempt: less than two queue delay steps (on SQS, under
    /// two seconds of being in flight).
    Hold(Duration),
    /// Go back to the queue for this delay: whole steps, so it comes back one to two steps
    /// before its slot, time enough for the reads and the claim on the way to the send.
    Wait(Duration),
    /// Missed its slot: take a new one.
    Retake,
}

pub fn turn(slot: Timestamp, now: Timestamp, step: Duration) -> Turn {
    let ahead = slot.millis() - now.millis();
    if ahead < -(LATE.as_millis() as i64) {
        return Turn::Retake;
    }
    if ahead <= TOLERANCE.as_millis() as i64 {
        return Turn::Go;
    }
    let step_ms = step.as_millis().max(1) as i64;
    let whole_steps = ahead / step_ms - 1;
    if whole_steps < 1 {
        Turn::Hold(Duration::from_millis(ahead as u64))
    } else {
        Turn::Wait(Duration::from_millis((whole_steps * step_ms) as u64))
    }
}

/// The spacing of slots at `per_sec` (at least 1), in microseconds.
pub fn interval_us(per_sec: u32) -> i64 {
    1_000_000 / i64::from(per_sec.max(1))
}

/// The slot taken at `now_us` when the next free slot starts at `next_free_us` (`None`: never
/// paced), and the next free slot after it.
pub fn take_slot(next_free_us: Option<i64>, now_us: i64, interval_us: i64) -> (i64, i64) {
    let slot = next_free_us.map_or(now_us, |t| t.max(now_us));
    (slot, slot + interval_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_subscription_gets_a_slot_now() {
        assert_eq!(take_slot(None, 1_000, 20_000), (1_000, 21_000));
        // a next free slot in the past is idle time: not saved up for a burst
        assert_eq!(take_slot(Some(500), 1_000, 20_000), (1_000, 21_000));
    }

    #[test]
    fn a_burst_is_spaced_one_interval_apart() {
        let interval = interval_us(50);
        assert_eq!(interval, 20_000);
        let mut next = None;
        let slots: Vec<i64> = (0..5)
            .map(|_| {
                let (slot, after) = take_slot(next, 0, interval);
                next = Some(after);
                slot
            })
            .collect();
        assert_eq!(slots, [0, 20_000, 40_000, 60_000, 80_000]);
        // fifty slots in one second, the fifty-first in the next
        let mut next = None;
        let last = (0..51).map(|_| {
            let (slot, after) = take_slot(next, 0, interval);
            next = Some(after);
            slot
        });
        assert_eq!(last.last(), Some(1_000_000));
    }

    #[test]
    fn a_job_waits_in_whole_queue_steps_then_holds_the_rest() {
        let (s, ms) = (Duration::from_secs(1), Duration::from_millis(1));
        let at = |ms: i64| Timestamp(10_000 + ms);
        let now = at(0);
        assert_eq!(turn(at(3), now, s), Turn::Go, "within the tolerance");
        assert_eq!(turn(at(-40), now, s), Turn::Go, "a little late");
        assert_eq!(turn(at(-60), now, s), Turn::Retake, "too late");
        // SQS: whole seconds in the queue, back one to two seconds early, the rest held
        assert_eq!(
            turn(at(600), now, s),
            Turn::Hold(Duration::from_millis(600))
        );
        assert_eq!(
            turn(at(1_900), now, s),
            Turn::Hold(Duration::from_millis(1_900))
        );
        assert_eq!(turn(at(2_000), now, s), Turn::Wait(Duration::from_secs(1)));
        assert_eq!(turn(at(3_600), now, s), Turn::Wait(Duration::from_secs(2)));
        // a queue with millisecond delays: held for a millisecond or two at most
        assert_eq!(
            turn(at(600), now, ms),
            Turn::Wait(Duration::from_millis(599))
        );
        assert_eq!(turn(at(1), now, ms), Turn::Go);
        assert_eq!(turn(at(6), now, ms), Turn::Wait(Duration::from_millis(5)));
    }

    #[test]
    fn limits_at_the_bounds() {
        assert_eq!(interval_us(MAX_RATE_PER_SEC), 2_000);
        assert_eq!(interval_us(1), 1_000_000);
        assert_eq!(interval_us(0), 1_000_000, "never divides by zero");
    }
}
