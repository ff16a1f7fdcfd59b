//! Checks of keyed creates and `IdempotencyStore`: a key's response is stored in the same write
//! as what the request creates; a second create under the key stores nothing and finds the
//! first response, also when the creates race; an expired key can be used afresh.

use crate::fixtures::{event, subscription, tenant};
use hookline_core::api_key;
use hookline_core::clock::Timestamp;
use hookline_core::ports::{Created, IdempotencyRecord, KeyedResponse, Store};

fn keyed(key: &str, hash: &str, body: &str, now: i64) -> KeyedResponse {
    KeyedResponse {
        key: key.to_string(),
        record: IdempotencyRecord {
            request_hash: hash.to_string(),
            status: 202,
            body: body.to_string(),
        },
        expires_at: Timestamp(now + 10_000),
        now: Timestamp(now),
    }
}

checks! {
    list for_each_idempotency_check in idempotency;

    pub async fn a_keyed_create_is_stored_once_with_its_response(store: &dyn Store) {
        let dealer = tenant("dealer-1");
        let first = keyed("admin POST /v1/events k1", "h1", r#"{"id":"evt_1"}"#, 1_000);
        assert_eq!(store.idempotency_record(&first.key, Timestamp(1_000)).await.unwrap(), None);
        let a = event(&dealer);
        assert_eq!(store.insert_event(&a, true, Some(&first)).await.unwrap(), Created::Stored);
        assert_eq!(
            store.idempotency_record(&first.key, Timestamp(2_000)).await.unwrap(),
            Some(first.record.clone())
        );
        // a second request under the key stores nothing, whatever it creates
        let again = keyed(&first.key, "h2", r#"{"id":"evt_2"}"#, 2_000);
        let b = event(&dealer);
        assert_eq!(
            store.insert_event(&b, true, Some(&again)).await.unwrap(),
            Created::KeyTaken(first.record.clone())
        );
        assert!(store.get_event(&b.id).await.unwrap().is_none());
        let s = subscription(&dealer);
        assert_eq!(
            store.insert_subscription(&s, Some(&again)).await.unwrap(),
            Created::KeyTaken(first.record.clone())
        );
        assert!(store.get_subscription(&s.id).await.unwrap().is_none());
        let (k, _) = api_key::generate(dealer.clone(), None, Timestamp(2_000));
        assert_eq!(
            store.insert_api_key(&k, Some(&again)).await.unwrap(),
            Created::KeyTaken(first.record.clone())
        );
        assert!(store.get_api_key(&k.id).await.unwrap().is_none());
        // once expired, the key is used afresh
        assert_eq!(store.idempotency_record(&first.key, Timestamp(11_000)).await.unwrap(), None);
        let later = keyed(&first.key, "h3", r#"{"id":"evt_3"}"#, 11_000);
        let c = event(&dealer);
        assert_eq!(store.insert_event(&c, true, Some(&later)).await.unwrap(), Created::Stored);
        assert!(store.get_event(&c.id).await.unwrap().is_some());
        // keys of every resource work alike
        let sub_key = keyed("admin POST /v1/subscriptions k1", "h", "{}", 1_000);
        assert_eq!(store.insert_subscription(&s, Some(&sub_key)).await.unwrap(), Created::Stored);
        assert!(store.get_subscription(&s.id).await.unwrap().is_some());
        let key_key = keyed("admin POST /v1/api-keys k1", "h", "{}", 1_000);
        assert_eq!(store.insert_api_key(&k, Some(&key_key)).await.unwrap(), Created::Stored);
        assert!(store.get_api_key(&k.id).await.unwrap().is_some());
    }
}

/// Racing keyed creates store exactly one, and every loser finds the winner's response.
///
/// Not in the shared suite: moto evaluates concurrent `TransactWriteItems` without isolation
/// (seen here: 4 of 8 racing transactions on one key all succeeded), so against moto this check
/// would fail for moto's sake. On DynamoDB the guarantee is its transactions' serializable
/// isolation; the embedded adapters run this check (`shared/embedded/tests/conformance.rs`).
pub async fn racing_keyed_creates_store_exactly_one(store: &dyn Store) {
    let dealer = tenant("dealer-1");
    let events: Vec<_> = (0..8).map(|_| event(&dealer)).collect();
    let writes = futures::future::join_all(events.iter().enumerate().map(|(i, e)| {
        let k = keyed("admin POST /v1/events race", &format!("h{i}"), "{}", 1_000);
        async move { store.insert_event(e, true, Some(&k)).await.unwrap() }
    }))
    .await;
    let winners: Vec<usize> = (0..8).filter(|&i| writes[i] == Created::Stored).collect();
    assert_eq!(winners.len(), 1, "{writes:?}");
    let winner = format!("h{}", winners[0]);
    for w in &writes {
        if let Created::KeyTaken(r) = w {
            assert_eq!(
                r.request_hash, winner,
                "every loser finds the winner's response"
            );
        }
    }
    let mut stored = 0;
    for e in &events {
        stored += usize::from(store.get_event(&e.id).await.unwrap().is_some());
    }
    assert_eq!(stored, 1);
}
