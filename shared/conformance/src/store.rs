//! Store checks.

use hookline_core::api_key;
use hookline_core::clock::Timestamp;
use hookline_core::delivery::{Attempt, Delivery, DeliveryStatus, DeliveryUpdate};
use hookline_core::destination::DestinationPolicy;
use hookline_core::event::{Event, NewEvent};
use hookline_core::ids::{DeliveryId, SubscriptionId};
use hookline_core::ports::{Claim, DeliveryQuery, IdempotencyRecord, Store};
use hookline_core::subscription::{NewSubscription, Subscription};
use serde_json::json;

pub fn subscription(tenant: &str) -> Subscription {
    serde_json::from_value::<NewSubscription>(json!({
        "url": "https://crm.example.com/hooks",
        "event_types": ["lead.*"], "name": "CRM", "filter": {"campaign": ["abc123"]},
        "headers": {"Authorization": "Bearer t0k3n"}, "hex_signature_header": "X-CarBuddy-Signature"
    }))
    .unwrap()
    .into_subscription(
        tenant.to_string(),
        Timestamp(1_000),
        &DestinationPolicy::default(),
    )
    .unwrap()
}

pub fn event(tenant: &str) -> Event {
    serde_json::from_value::<NewEvent>(json!({
        "type": "lead.qualified",
        "data": {"customer": {"first_name": "Sarah", "last_name": "Jones"}},
        "attributes": {"campaign": "abc123"}
    }))
    .unwrap()
    .into_event(tenant.to_string(), Timestamp(2_000))
    .unwrap()
}

pub fn delivery(e: &Event, s: &Subscription) -> Delivery {
    Delivery::new(e, s, Timestamp(3_000))
}

fn query() -> DeliveryQuery {
    DeliveryQuery {
        event_id: None,
        subscription_id: None,
        status: None,
        since: None,
        until: None,
        after: None,
        limit: 100,
    }
}

pub async fn subscription_round_trip(store: &dyn Store) {
    let s = subscription("dealer-1");
    store.insert_subscription(&s).await.unwrap();
    let got = store
        .get_subscription(&s.id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(got, s, "every field, the secret included, survives storage");
    assert_eq!(
        store
            .get_subscription(&SubscriptionId::generate())
            .await
            .unwrap(),
        None
    );
}

pub async fn subscriptions_list_by_tenant_with_cursor(store: &dyn Store) {
    let mut mine = Vec::new();
    for _ in 0..5 {
        let s = subscription("dealer-a");
        store.insert_subscription(&s).await.unwrap();
        mine.push(s.id);
    }
    store
        .insert_subscription(&subscription("dealer-b"))
        .await
        .unwrap();
    let first = store
        .list_subscriptions(Some("dealer-a"), None, 3)
        .await
        .unwrap();
    let ids: Vec<_> = first.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids, mine[..3]);
    let rest = store
        .list_subscriptions(Some("dealer-a"), Some(&ids[2]), 3)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        mine[3..]
    );
    assert_eq!(
        store
            .list_subscriptions(None, None, 100)
            .await
            .unwrap()
            .len(),
        6
    );
    assert_eq!(
        store
            .subscriptions_for_tenant("dealer-b")
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn update_and_delete_missing_subscription(store: &dyn Store) {
    let mut s = subscription("dealer-1");
    assert!(
        store.update_subscription(&s).await.is_err(),
        "updating a missing subscription fails"
    );
    store.insert_subscription(&s).await.unwrap();
    s.enabled = false;
    s.disabled_reason = Some("paused".into());
    store.update_subscription(&s).await.unwrap();
    assert_eq!(store.get_subscription(&s.id).await.unwrap().unwrap(), s);
    assert!(store.delete_subscription(&s.id).await.unwrap());
    assert!(!store.delete_subscription(&s.id).await.unwrap());
    assert_eq!(store.get_subscription(&s.id).await.unwrap(), None);
}

pub async fn events_wait_in_the_outbox_until_fanned_out(store: &dyn Store) {
    let (a, b) = (event("dealer-1"), event("dealer-1"));
    store.insert_event(&a, true).await.unwrap();
    store.insert_event(&b, true).await.unwrap();
    assert_eq!(store.get_event(&a.id).await.unwrap().unwrap(), a);
    let waiting = store.events_awaiting_fanout(10).await.unwrap();
    assert_eq!(
        waiting.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        vec![a.id.clone(), b.id.clone()]
    );
    store.mark_fanned_out(&a.id).await.unwrap();
    let waiting = store.events_awaiting_fanout(10).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].id, b.id);
    let direct = event("dealer-1");
    store.insert_event(&direct, false).await.unwrap();
    assert_eq!(store.get_event(&direct.id).await.unwrap().unwrap(), direct);
    assert_eq!(
        store.events_awaiting_fanout(10).await.unwrap().len(),
        1,
        "a test event skips the outbox"
    );
}

pub async fn delivery_is_created_once_per_event_and_subscription(store: &dyn Store) {
    let (e, s) = (event("dealer-1"), subscription("dealer-1"));
    let first = store.create_delivery(&delivery(&e, &s)).await.unwrap();
    let again = store.create_delivery(&delivery(&e, &s)).await.unwrap();
    assert_eq!(
        again.id, first.id,
        "a second fan-out returns the existing delivery"
    );
    let all = store
        .list_deliveries(&DeliveryQuery {
            event_id: Some(e.id.clone()),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
}

pub async fn delivery_update_records_attempts_and_notification_together(store: &dyn Store) {
    let (e, s) = (event("dealer-1"), subscription("dealer-1"));
    let d = store.create_delivery(&delivery(&e, &s)).await.unwrap();
    let attempt = |n: u32, code: Option<u16>| Attempt {
        number: n,
        at: Timestamp(4_000 + n as i64),
        status_code: code,
        error: Some(format!("HTTP {}", code.unwrap_or(0))),
        duration_ms: 12,
        response_body: Some("upstream down".into()),
    };
    let retry = DeliveryUpdate {
        delivery_id: d.id.clone(),
        at: Timestamp(4_001),
        attempt: Some(attempt(1, Some(503))),
        status: DeliveryStatus::Pending,
        next_attempt_at: Some(Timestamp(9_000)),
        failure_reason: None,
        attempt_base: None,
    };
    store.update_delivery(&retry, None).await.unwrap();
    let notification = event("dealer-1");
    let fail = DeliveryUpdate {
        delivery_id: d.id.clone(),
        at: Timestamp(9_001),
        attempt: Some(attempt(2, Some(500))),
        status: DeliveryStatus::Failed,
        next_attempt_at: None,
        failure_reason: Some("gave up".into()),
        attempt_base: Some(1),
    };
    store
        .update_delivery(&fail, Some(&notification))
        .await
        .unwrap();
    let got = store.get_delivery(&d.id).await.unwrap().unwrap();
    assert_eq!(got.status, DeliveryStatus::Failed);
    assert_eq!(got.failure_reason.as_deref(), Some("gave up"));
    assert_eq!(got.updated_at, Timestamp(9_001));
    assert_eq!(got.next_attempt_at, None);
    assert_eq!(
        got.attempts,
        vec![attempt(1, Some(503)), attempt(2, Some(500))]
    );
    assert_eq!(got.attempt_base, 1, "a new round's base is kept");
    assert_eq!(
        store.get_event(&notification.id).await.unwrap().unwrap(),
        notification
    );
    let missing = DeliveryUpdate {
        delivery_id: DeliveryId::generate(),
        ..fail
    };
    assert!(store.update_delivery(&missing, None).await.is_err());
}

pub async fn deliveries_list_filters_and_pages(store: &dyn Store) {
    let (s1, s2) = (subscription("dealer-1"), subscription("dealer-1"));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let e = event("dealer-1");
        ids.push(store.create_delivery(&delivery(&e, &s1)).await.unwrap().id);
        store.create_delivery(&delivery(&e, &s2)).await.unwrap();
    }
    let by_sub = DeliveryQuery {
        subscription_id: Some(s1.id.clone()),
        limit: 2,
        ..query()
    };
    let page1 = store.list_deliveries(&by_sub).await.unwrap();
    assert_eq!(
        page1.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        ids[..2]
    );
    let page2 = store
        .list_deliveries(&DeliveryQuery {
            after: Some(ids[1].clone()),
            ..by_sub.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        ids[2..]
    );
    let failed = DeliveryQuery {
        status: Some(DeliveryStatus::Failed),
        ..by_sub.clone()
    };
    assert!(store.list_deliveries(&failed).await.unwrap().is_empty());
    // every delivery here was created at 3000 ms: a window is [since, until)
    let window = |since, until| DeliveryQuery {
        since: Some(Timestamp(since)),
        until: Some(Timestamp(until)),
        limit: 100,
        ..by_sub.clone()
    };
    assert_eq!(
        store
            .list_deliveries(&window(3_000, 3_001))
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(
        store
            .list_deliveries(&window(3_001, 9_000))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_deliveries(&window(0, 3_000))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn subscriptions_are_counted_per_tenant(store: &dyn Store) {
    for _ in 0..3 {
        store
            .insert_subscription(&subscription("dealer-x"))
            .await
            .unwrap();
    }
    store
        .insert_subscription(&subscription("dealer-y"))
        .await
        .unwrap();
    assert_eq!(store.count_subscriptions("dealer-x").await.unwrap(), 3);
    assert_eq!(store.count_subscriptions("dealer-z").await.unwrap(), 0);
}

pub async fn api_keys_round_trip_and_revoke(store: &dyn Store) {
    let (k1, _) = api_key::generate("dealer-1".into(), Some("CRM".into()), Timestamp(5));
    let (k2, _) = api_key::generate("dealer-2".into(), None, Timestamp(6));
    store.insert_api_key(&k1).await.unwrap();
    store.insert_api_key(&k2).await.unwrap();
    assert_eq!(store.get_api_key(&k1.id).await.unwrap().unwrap(), k1);
    assert_eq!(
        store
            .list_api_keys(Some("dealer-1"), None, 10)
            .await
            .unwrap(),
        vec![k1.clone()]
    );
    assert_eq!(store.list_api_keys(None, None, 10).await.unwrap().len(), 2);
    assert_eq!(
        store.list_api_keys(None, Some(&k1.id), 10).await.unwrap(),
        vec![k2.clone()]
    );
    assert!(store.revoke_api_key(&k1.id, Timestamp(7)).await.unwrap());
    assert!(
        !store.revoke_api_key(&k1.id, Timestamp(8)).await.unwrap(),
        "revoking twice finds nothing"
    );
    assert_eq!(
        store.get_api_key(&k1.id).await.unwrap().unwrap().revoked_at,
        Some(Timestamp(7))
    );
}

pub async fn idempotency_keys_are_claimed_once(store: &dyn Store) {
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
