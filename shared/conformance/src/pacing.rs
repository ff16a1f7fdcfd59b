//! Checks of `PacingStore`: an idle subscription's slot is now; slots taken at once, even
//! concurrently, are distinct and one interval apart; idle time is not saved up for a burst;
//! subscriptions are paced apart.

use hookline_core::clock::Timestamp;
use hookline_core::ids::SubscriptionId;
use hookline_core::ports::PacingStore;

checks! {
    list for_each_pacing_check in pacing;

    pub async fn concurrent_slots_are_distinct_and_one_interval_apart(store: &dyn PacingStore) {
        let sub = SubscriptionId::generate();
        let now = Timestamp(1_800_000_000_000);
        assert_eq!(store.take_slot(&sub, now, 50).await.unwrap(), now, "idle: now");
        let taken = futures::future::join_all((0..10).map(|_| store.take_slot(&sub, now, 50))).await;
        let mut slots: Vec<i64> = taken.into_iter().map(|s| s.unwrap().millis() - now.millis()).collect();
        slots.sort();
        assert_eq!(slots, (1..=10).map(|i| i * 20).collect::<Vec<_>>(), "50/s: 20 ms apart");
        // another subscription is not behind this one
        let other = SubscriptionId::generate();
        assert_eq!(store.take_slot(&other, now, 50).await.unwrap(), now);
        // ten seconds idle: the next slot is then, not a saved-up burst
        let later = Timestamp(now.millis() + 10_000);
        assert_eq!(store.take_slot(&sub, later, 50).await.unwrap(), later);
        assert_eq!(store.take_slot(&sub, later, 50).await.unwrap().millis(), later.millis() + 20);
    }
}
