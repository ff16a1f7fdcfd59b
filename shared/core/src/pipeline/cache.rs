//! A short-lived cache of subscriptions for the attempts of one process: the delivery function
//! reads a subscription once per ttl instead of once per attempt. What a
//! change to a subscription (pause, deletion, a new secret or URL) may take to reach attempts is
//! that bound; a subscription this process disables itself is forgotten at once.

use crate::clock::Timestamp;
use crate::ids::SubscriptionId;
use crate::subscription::Subscription;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Entries kept at most; a full cache starts again empty (it is a cache, not a store).
pub const MAX_ENTRIES: usize = 10_000;

/// What a store said per subscription, kept for a ttl.
pub struct TtlCache<V> {
    ttl: Duration,
    entries: Mutex<Entries<V>>,
}

struct Entries<V> {
    by_id: HashMap<SubscriptionId, (Timestamp, V)>,
    /// How many times an entry was forgotten: a read that began before a forget may not put
    /// what it read ([`TtlCache::put_read_at`]).
    forgets: u64,
}

impl<V> Entries<V> {
    fn insert(&mut self, id: &SubscriptionId, now: Timestamp, v: V) {
        if self.by_id.len() >= MAX_ENTRIES {
            self.by_id.clear();
        }
        self.by_id.insert(id.clone(), (now, v));
    }
}

/// When a store read began, as [`TtlCache::put_read_at`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct ReadStart(u64);

/// Subscriptions as attempts read them (`None`: it does not exist).
pub type SubscriptionCache = TtlCache<Option<Subscription>>;
/// Endpoint health as admission reads it, with its version.
pub type HealthCache = TtlCache<(crate::breaker::Health, u64)>;

impl<V: Clone> TtlCache<V> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            ttl,
            entries: Mutex::new(Entries {
                by_id: HashMap::new(),
                forgets: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<V>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the store said of `id`, if it said so less than the ttl before `now`.
    pub fn get(&self, id: &SubscriptionId, now: Timestamp) -> Option<V> {
        let entries = self.lock();
        let (read_at, sub) = entries.by_id.get(id)?;
        (now < read_at.plus(self.ttl) && now >= *read_at).then(|| sub.clone())
    }

    /// Remembers what the store said of `id` at `now`.
    pub fn put(&self, id: &SubscriptionId, now: Timestamp, sub: V) {
        self.lock().insert(id, now, sub);
    }

    /// Marks the start of a store read whose answer [`TtlCache::put_read_at`] keeps.
    pub fn read_start(&self) -> ReadStart {
        ReadStart(self.lock().forgets)
    }

    /// Remembers what a store read that began at `start` said of `id`, unless something was
    /// forgotten since: the read may predate that change, and would keep the old copy.
    pub fn put_read_at(&self, start: ReadStart, id: &SubscriptionId, now: Timestamp, sub: V) {
        let mut entries = self.lock();
        if entries.forgets == start.0 {
            entries.insert(id, now, sub);
        }
    }

    /// Forgets `id`: this process changed it.
    pub fn forget(&self, id: &SubscriptionId) {
        let mut entries = self.lock();
        entries.by_id.remove(id);
        entries.forgets += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_kept_for_the_ttl_and_no_longer() {
        let cache = SubscriptionCache::new(Duration::from_secs(5));
        let id = SubscriptionId::generate();
        assert_eq!(cache.get(&id, Timestamp(1_000)), None, "never read");
        cache.put(&id, Timestamp(1_000), None);
        assert_eq!(cache.get(&id, Timestamp(1_000)), Some(None));
        assert_eq!(cache.get(&id, Timestamp(5_999)), Some(None));
        assert_eq!(cache.get(&id, Timestamp(6_000)), None, "expired");
        assert_eq!(
            cache.get(&id, Timestamp(999)),
            None,
            "a clock that went back"
        );
        cache.put(&id, Timestamp(7_000), None);
        cache.forget(&id);
        assert_eq!(cache.get(&id, Timestamp(7_000)), None, "forgotten");
    }

    #[test]
    fn a_read_that_began_before_a_forget_is_not_kept() {
        let cache = SubscriptionCache::new(Duration::from_secs(5));
        let id = SubscriptionId::generate();
        let before = cache.read_start();
        cache.forget(&id);
        cache.put_read_at(before, &id, Timestamp(1_000), None);
        assert_eq!(
            cache.get(&id, Timestamp(1_000)),
            None,
            "may be older than the change"
        );
        let after = cache.read_start();
        cache.put_read_at(after, &id, Timestamp(1_000), None);
        assert_eq!(
            cache.get(&id, Timestamp(1_000)),
            Some(None),
            "began after it"
        );
    }

    #[test]
    fn a_full_cache_starts_again() {
        let cache = SubscriptionCache::new(Duration::from_secs(5));
        let first = SubscriptionId::generate();
        cache.put(&first, Timestamp(0), None);
        for _ in 1..MAX_ENTRIES {
            cache.put(&SubscriptionId::generate(), Timestamp(0), None);
        }
        assert_eq!(cache.get(&first, Timestamp(0)), Some(None));
        cache.put(&SubscriptionId::generate(), Timestamp(0), None);
        assert_eq!(cache.get(&first, Timestamp(0)), None, "cleared when full");
    }
}
