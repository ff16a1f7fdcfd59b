//! Checks of `IdempotencyStore`: a key is claimed by one request, replays its response once
//! completed, and becomes claimable again when it expires, goes stale or is released.

use hookline_core::clock::Timestamp;
use hookline_core::ports::{Claim, IdempotencyRecord, IdempotencyStore};

checks! {
    list for_each_idempotency_check in idempotency;

    pub async fn idempotency_keys_are_claimed_once(store: &dyn IdempotencyStore) {
        let (now, stale, expires) = (Timestamp(10_000), Timestamp(9_000), Timestamp(20_000));
        let claim = |key: &'static str, hash: &'static str, now, stale, expires| async move {
            store
                .claim_idempotency(key, hash, now, stale, expires)
                .await
                .unwrap()
        };
        assert_eq!(claim("k1", "h1", now, stale, expires).await, Claim::Claimed);
        let pending = IdempotencyRecord {
            request_hash: "h1".into(),
            response: None,
        };
        assert_eq!(
            claim("k1", "h1", now, stale, expires).await,
            Claim::Existing(pending)
        );
        store
            .complete_idempotency("k1", 202, r#"{"id":"evt_1"}"#)
            .await
            .unwrap();
        let done = IdempotencyRecord {
            request_hash: "h1".into(),
            response: Some((202, r#"{"id":"evt_1"}"#.into())),
        };
        assert_eq!(
            claim("k1", "h2", now, stale, expires).await,
            Claim::Existing(done)
        );
        // an expired record can be claimed again
        assert_eq!(
            claim("k1", "h3", expires, stale, Timestamp(30_000)).await,
            Claim::Claimed
        );
        // a never-completed claim older than `stale_before` (its request crashed) is taken over
        assert_eq!(
            claim("k2", "h", Timestamp(1_000), Timestamp(0), expires).await,
            Claim::Claimed
        );
        assert_eq!(claim("k2", "h", now, stale, expires).await, Claim::Claimed);
        // a released claim frees the key
        store.release_idempotency("k2").await.unwrap();
        assert_eq!(claim("k2", "h9", now, stale, expires).await, Claim::Claimed);
    }
}
