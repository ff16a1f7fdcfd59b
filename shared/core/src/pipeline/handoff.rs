//! Events this process stored, handed to a fan-out loop in the same process (`hookline dev`),
//! as the table's stream hands them to the fan-out function on AWS. The hand-off only makes
//! fan-out prompt, without a look at the outbox per event (on DynamoDB a look reads 32
//! partitions): every event is in the outbox too, and the loop's periodic look finds what the
//! hand-off dropped (a full buffer, a crash) or what a failed fan-out left. The look leaves
//! alone the events the hand-off holds, from their push until their fan-out ended, so the two
//! do not fan out the same event at once.

use crate::event::Event;
use crate::ids::EventId;
use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

/// Events held at most; beyond it new events wait for the next look at the outbox.
pub const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct Handoff {
    held: Mutex<Held>,
    ready: Notify,
}

#[derive(Default)]
struct Held {
    /// Handed over, not taken yet.
    waiting: VecDeque<Event>,
    /// Handed over, until their fan-out ended.
    ids: HashSet<EventId>,
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `events` over (up to [`CAPACITY`] held) and wakes the loop.
    pub fn push(&self, events: impl IntoIterator<Item = Event>) {
        {
            let mut held = self.lock();
            for event in events {
                if held.ids.len() < CAPACITY && held.ids.insert(event.id.clone()) {
                    held.waiting.push_back(event);
                }
            }
        }
        self.ready.notify_one();
    }

    /// Up to `n` of the events handed over, oldest first; they stay held until
    /// [`Handoff::finished`].
    pub fn take(&self, n: usize) -> Vec<Event> {
        let mut held = self.lock();
        let n = n.min(held.waiting.len());
        held.waiting.drain(..n).collect()
    }

    /// The fan-out of `events` (taken) ended, done or failed: a look may take them now.
    pub fn finished(&self, events: &[Event]) {
        let mut held = self.lock();
        for e in events {
            held.ids.remove(&e.id);
        }
    }

    /// Whether the event is handed over and its fan-out has not ended.
    pub fn holds(&self, id: &EventId) -> bool {
        self.lock().ids.contains(id)
    }

    /// Returns once events were handed over since the last return (at once if they were
    /// while nobody waited).
    pub async fn ready(&self) {
        self.ready.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::event::NewEvent;
    use crate::tenant::TenantId;
    use std::time::Duration;

    fn event(n: usize) -> Event {
        let new: NewEvent = serde_json::from_value(serde_json::json!({
            "type": "lead.created", "data": {"n": n}
        }))
        .unwrap();
        new.into_event(TenantId::parse("dealer").unwrap(), Timestamp(1))
            .unwrap()
    }

    fn numbers(events: &[Event]) -> Vec<u64> {
        events
            .iter()
            .map(|e| e.data["n"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn events_are_taken_oldest_first_in_batches() {
        let h = Handoff::default();
        h.push((0..5).map(event));
        assert_eq!(numbers(&h.take(3)), [0, 1, 2]);
        assert_eq!(numbers(&h.take(3)), [3, 4]);
        assert!(h.take(3).is_empty());
    }

    #[test]
    fn an_event_is_held_from_its_push_until_its_fan_out_ended() {
        let h = Handoff::default();
        let e = event(1);
        h.push([e.clone()]);
        assert!(h.holds(&e.id), "waiting");
        let taken = h.take(10);
        assert!(h.holds(&e.id), "being fanned out");
        h.finished(&taken);
        assert!(!h.holds(&e.id));
    }

    #[test]
    fn an_event_handed_over_twice_is_taken_once() {
        let h = Handoff::default();
        let e = event(1);
        h.push([e.clone(), e.clone()]);
        assert_eq!(h.take(10).len(), 1);
    }

    #[test]
    fn a_full_hand_off_drops_new_events_for_the_outbox_to_find() {
        let h = Handoff::default();
        h.push((0..CAPACITY + 2).map(event));
        let taken = h.take(usize::MAX);
        assert_eq!(taken.len(), CAPACITY);
        assert_eq!(taken.last().unwrap().data["n"], CAPACITY - 1);
        let dropped = event(CAPACITY + 5);
        h.push([dropped.clone()]);
        assert!(
            !h.holds(&dropped.id),
            "still full: its fan-out has not ended"
        );
        h.finished(&taken);
        h.push([dropped.clone()]);
        assert!(h.holds(&dropped.id));
    }

    #[tokio::test]
    async fn a_push_while_nobody_waits_is_not_missed() {
        let h = Handoff::default();
        h.push([event(1)]);
        tokio::time::timeout(Duration::from_secs(1), h.ready())
            .await
            .expect("the earlier push counts");
        let second = tokio::time::timeout(Duration::from_millis(50), h.ready()).await;
        assert!(second.is_err(), "one wake per push");
    }
}
