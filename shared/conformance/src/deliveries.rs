//! Checks of `DeliveryStore`: one delivery per (event, subscription) however often fan-out runs,
//! attempts and the failure notification recorded in one write, every change conditional on the
//! state it was computed from, claims that exclude a second handler, and listing by subscription
//! with status, time window and cursor.

use crate::fixtures::{delivery, event, query, subscription, tenant};
use hookline_core::clock::Timestamp;
use hookline_core::delivery::{
    Attempt, Claim, Delivery, DeliveryStatus, DeliveryUpdate, DeliveryVersion,
};
use hookline_core::ids::DeliveryId;
use hookline_core::pipeline::fanout::unstarted;
use hookline_core::ports::{DeliveryQuery, DeliveryStore, Store, Written};

fn attempt(n: u32, code: Option<u16>) -> Attempt {
    Attempt {
        number: n,
        at: Timestamp(4_000 + n as i64),
        status_code: code,
        error: Some(format!("HTTP {}", code.unwrap_or(0))),
        duration_ms: 12,
        response_body: Some("upstream down".into()),
    }
}

fn version(status: DeliveryStatus, attempts: u32) -> DeliveryVersion {
    DeliveryVersion { status, attempts }
}

/// The update recording attempt `n` (a 503) from the delivery's state after `n - 1` attempts.
fn retry(d: &Delivery, n: u32, carrier: Option<&str>) -> DeliveryUpdate {
    DeliveryUpdate {
        delivery_id: d.id.clone(),
        subscription_id: d.subscription_id.clone(),
        expected: version(DeliveryStatus::Pending, n - 1),
        carrier: carrier.map(str::to_string),
        at: Timestamp(4_000 + n as i64),
        attempt: Some(attempt(n, Some(503))),
        status: DeliveryStatus::Pending,
        next_attempt_at: Some(Timestamp(9_000)),
        failure_reason: None,
        attempt_base: None,
    }
}

fn claim(id: &DeliveryId, attempts: u32, by: &str, at: i64) -> Claim {
    Claim {
        delivery_id: id.clone(),
        expected: version(DeliveryStatus::Pending, attempts),
        by: by.into(),
        until: Timestamp(at + 20_000),
        at: Timestamp(at),
    }
}

checks! {
    list for_each_delivery_check in deliveries;

    /// Needs the whole store: an event's deliveries are those of its tenant's subscriptions.
    pub async fn delivery_is_created_once_per_event_and_subscription(store: &dyn Store) {
        let dealer = tenant("dealer-1");
        let (e, s) = (event(&dealer), subscription(&dealer));
        store.insert_event(&e, true, None).await.unwrap();
        store.insert_subscription(&s, None).await.unwrap();
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

    /// Needs the whole store: the notification is an event, stored in the delivery's write.
    pub async fn delivery_update_records_attempts_and_notification_together(store: &dyn Store) {
        let dealer = tenant("dealer-1");
        let (e, s) = (event(&dealer), subscription(&dealer));
        let d = store.create_delivery(&delivery(&e, &s)).await.unwrap();
        let first = retry(&d, 1, None);
        assert_eq!(store.update_delivery(&first, None).await.unwrap(), Written::Applied);
        let notification = event(&dealer);
        let fail = DeliveryUpdate {
            delivery_id: d.id.clone(),
            subscription_id: d.subscription_id.clone(),
            expected: version(DeliveryStatus::Pending, 1),
            carrier: None,
            at: Timestamp(9_001),
            attempt: Some(attempt(2, Some(500))),
            status: DeliveryStatus::Failed,
            next_attempt_at: None,
            failure_reason: Some("gave up".into()),
            attempt_base: Some(1),
        };
        assert_eq!(
            store.update_delivery(&fail, Some(&notification)).await.unwrap(),
            Written::Applied
        );
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
        assert_eq!(
            store.update_delivery(&missing, None).await.unwrap(),
            Written::Stale,
            "a delivery that does not exist is never written"
        );
    }

    /// No writer overwrites a newer state: an update computed from an older status or attempt
    /// count writes nothing, with or without a notification, and a succeeded delivery stays so.
    pub async fn updates_apply_only_to_the_state_they_were_computed_from(store: &dyn Store) {
        let dealer = tenant("dealer-1");
        let (e, s) = (event(&dealer), subscription(&dealer));
        let d = store.create_delivery(&delivery(&e, &s)).await.unwrap();
        assert_eq!(store.update_delivery(&retry(&d, 1, None), None).await.unwrap(), Written::Applied);
        // a second handler that read the delivery before attempt 1 was recorded
        assert_eq!(
            store.update_delivery(&retry(&d, 1, None), None).await.unwrap(),
            Written::Stale
        );
        let succeeded = DeliveryUpdate {
            status: DeliveryStatus::Succeeded,
            next_attempt_at: None,
            attempt: Some(attempt(2, Some(200))),
            ..retry(&d, 2, None)
        };
        assert_eq!(store.update_delivery(&succeeded, None).await.unwrap(), Written::Applied);
        let late_failure = DeliveryUpdate {
            status: DeliveryStatus::Failed,
            failure_reason: Some("gave up".into()),
            ..retry(&d, 2, None)
        };
        let notification = event(&dealer);
        assert_eq!(
            store.update_delivery(&late_failure, Some(&notification)).await.unwrap(),
            Written::Stale
        );
        assert_eq!(
            store.get_event(&notification.id).await.unwrap(),
            None,
            "a refused failure stores no notification"
        );
        let wrong_status = DeliveryUpdate {
            expected: version(DeliveryStatus::Pending, 2),
            ..retry(&d, 3, None)
        };
        assert_eq!(store.update_delivery(&wrong_status, None).await.unwrap(), Written::Stale);
        let got = store.get_delivery(&d.id).await.unwrap().unwrap();
        assert_eq!(got.status, DeliveryStatus::Succeeded);
        assert_eq!(got.attempts, vec![attempt(1, Some(503)), attempt(2, Some(200))]);
    }

    /// One retry chain under replay: a repeated fan-out's create gets the delivery back as it
    /// progressed (claimed, then attempted and waiting, then finished), never as new, so the
    /// core's fan-out queues no second job for it at any of those points.
    pub async fn a_replayed_create_sees_the_delivery_as_it_progressed(store: &dyn Store) {
        let dealer = tenant("dealer-1");
        let (e, s) = (event(&dealer), subscription(&dealer));
        let new = delivery(&e, &s);
        let d = store.create_delivery(&new).await.unwrap();
        assert!(unstarted(&store.create_delivery(&new).await.unwrap()), "not yet claimed: queued");
        assert_eq!(store.claim_delivery(&claim(&d.id, 0, "h1", 1_000)).await.unwrap(), Written::Applied);
        let replay = store.create_delivery(&new).await.unwrap();
        assert_eq!(replay.carrier.as_deref(), Some("h1"));
        assert!(!unstarted(&replay), "claimed: no second job");
        let waiting = retry(&d, 1, Some("h1"));
        assert_eq!(store.update_delivery(&waiting, None).await.unwrap(), Written::Applied);
        let replay = store.create_delivery(&new).await.unwrap();
        assert_eq!((replay.attempts.len(), replay.next_attempt_at), (1, Some(Timestamp(9_000))));
        assert!(!unstarted(&replay), "backing off: no second job");
        let done = DeliveryUpdate {
            status: DeliveryStatus::Succeeded,
            next_attempt_at: None,
            attempt: Some(attempt(2, Some(200))),
            ..retry(&d, 2, None)
        };
        assert_eq!(store.update_delivery(&done, None).await.unwrap(), Written::Applied);
        let replay = store.create_delivery(&new).await.unwrap();
        assert_eq!(replay.status, DeliveryStatus::Succeeded, "a replay never resets it");
        assert!(!unstarted(&replay));
    }

    /// Deliveries created together (a fan-out batch) are each created once and answered in
    /// order: a new one as given, one that exists as stored (here: claimed meanwhile).
    pub async fn deliveries_created_together_are_answered_in_order(store: &dyn DeliveryStore) {
        let dealer = tenant("dealer-1");
        let (e1, e2, e3) = (event(&dealer), event(&dealer), event(&dealer));
        let s = subscription(&dealer);
        let (d1, d2, d3) = (delivery(&e1, &s), delivery(&e2, &s), delivery(&e3, &s));
        let first: Vec<Delivery> = store
            .create_deliveries(&[d1.clone(), d2.clone()])
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!((first[0].id.clone(), first[1].id.clone()), (d1.id.clone(), d2.id.clone()));
        assert!(first.iter().all(unstarted), "new: not yet claimed");
        assert_eq!(store.claim_delivery(&claim(&d2.id, 0, "h1", 1_000)).await.unwrap(), Written::Applied);
        let again: Vec<Delivery> = store
            .create_deliveries(&[d2.clone(), d3.clone(), d1.clone()])
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let ids: Vec<&DeliveryId> = again.iter().map(|d| &d.id).collect();
        assert_eq!(ids, [&d2.id, &d3.id, &d1.id], "one answer per delivery, in order");
        assert_eq!(again[0].carrier.as_deref(), Some("h1"), "the stored one, claimed");
        assert!(unstarted(&again[1]) && unstarted(&again[2]));
        assert!(store.create_deliveries(&[]).await.is_empty());
    }

    /// A claim on the next attempt excludes every other handler until it lapses or its holder
    /// records the attempt; the holder may claim again (its message came back).
    pub async fn a_claim_excludes_other_handlers_until_it_lapses(store: &dyn DeliveryStore) {
        let dealer = tenant("dealer-1");
        let d = store
            .create_delivery(&delivery(&event(&dealer), &subscription(&dealer)))
            .await
            .unwrap();
        assert_eq!(store.claim_delivery(&claim(&d.id, 0, "m1", 10_000)).await.unwrap(), Written::Applied);
        assert_eq!(
            store.claim_delivery(&claim(&d.id, 0, "m2", 10_001)).await.unwrap(),
            Written::Stale,
            "a live claim excludes a second handler"
        );
        assert_eq!(store.claim_delivery(&claim(&d.id, 0, "m1", 10_002)).await.unwrap(), Written::Applied);
        let got = store.get_delivery(&d.id).await.unwrap().unwrap();
        assert_eq!(got.carrier.as_deref(), Some("m1"));
        assert_eq!(got.claimed_until, Some(Timestamp(30_002)));
        // neither another carrier nor a claimless update may record while the claim is live
        let mut other = retry(&d, 1, Some("m2"));
        other.at = Timestamp(10_003);
        assert_eq!(store.update_delivery(&other, None).await.unwrap(), Written::Stale);
        let mut claimless = retry(&d, 1, None);
        claimless.at = Timestamp(10_003);
        assert_eq!(store.update_delivery(&claimless, None).await.unwrap(), Written::Stale);
        let mut mine = retry(&d, 1, Some("m1"));
        mine.at = Timestamp(10_004);
        assert_eq!(store.update_delivery(&mine, None).await.unwrap(), Written::Applied);
        let got = store.get_delivery(&d.id).await.unwrap().unwrap();
        assert_eq!(got.attempts.len(), 1);
        assert_eq!(got.carrier.as_deref(), Some("m1"), "the chain's carrier is kept");
        assert_eq!(got.claimed_until, None, "recording ends the claim");
        // the next attempt: a claim at the old count is refused; a lapsed claim is free
        assert_eq!(store.claim_delivery(&claim(&d.id, 0, "m3", 20_000)).await.unwrap(), Written::Stale);
        assert_eq!(store.claim_delivery(&claim(&d.id, 1, "m3", 20_000)).await.unwrap(), Written::Applied);
        assert_eq!(store.claim_delivery(&claim(&d.id, 1, "m4", 40_001)).await.unwrap(), Written::Applied);
        assert_eq!(
            store.claim_delivery(&claim(&DeliveryId::generate(), 0, "m1", 1)).await.unwrap(),
            Written::Stale
        );
    }

    pub async fn deliveries_list_filters_and_pages(store: &dyn DeliveryStore) {
        let dealer = tenant("dealer-1");
        let (s1, s2) = (subscription(&dealer), subscription(&dealer));
        let mut ids = Vec::new();
        for _ in 0..3 {
            let e = event(&dealer);
            ids.push(store.create_delivery(&delivery(&e, &s1)).await.unwrap().id);
            store.create_delivery(&delivery(&e, &s2)).await.unwrap();
        }
        // Listed in id order: the events' time, then (within a millisecond) the id's hash.
        ids.sort();
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
        // A window selects deliveries by their event's acceptance time: [since, until).
        let window = |since, until| DeliveryQuery {
            since: Some(Timestamp(since)),
            until: Some(Timestamp(until)),
            limit: 100,
            ..by_sub.clone()
        };
        let count = |since, until| {
            let q = window(since, until);
            async move { store.list_deliveries(&q).await.unwrap().len() }
        };
        let (first, last) = (ids[0].millis(), ids[2].millis());
        assert_eq!(count(first, last + 1).await, 3);
        assert_eq!(count(last + 1, last + 60_000).await, 0);
        assert_eq!(count(0, first).await, 0);
        // A time-ordered page of a window: the cursor and the window together.
        let after_first = DeliveryQuery {
            after: Some(ids[0].clone()),
            ..window(first, last + 1)
        };
        assert_eq!(store.list_deliveries(&after_first).await.unwrap().len(), 2);
    }

    /// The declared limit is one the store can really hold: a delivery with that many attempts,
    /// each with the largest response excerpt kept, is stored and read back whole.
    pub async fn a_delivery_holds_its_declared_attempt_limit(store: &dyn DeliveryStore) {
        let limit = store.limits().max_attempts_per_delivery;
        assert!(limit >= 1);
        let dealer = tenant("dealer-1");
        let d = store
            .create_delivery(&delivery(&event(&dealer), &subscription(&dealer)))
            .await
            .unwrap();
        let excerpt = "x".repeat(hookline_core::delivery::RESPONSE_BODY_LIMIT);
        for number in 1..=limit as u32 {
            let update = DeliveryUpdate {
                delivery_id: d.id.clone(),
                subscription_id: d.subscription_id.clone(),
                expected: version(DeliveryStatus::Pending, number - 1),
                carrier: None,
                at: Timestamp(5_000 + number as i64),
                attempt: Some(Attempt {
                    number,
                    at: Timestamp(5_000 + number as i64),
                    status_code: Some(503),
                    error: Some("HTTP 503: the receiver is down for maintenance".into()),
                    duration_ms: 15_000,
                    response_body: Some(excerpt.clone()),
                }),
                status: DeliveryStatus::Pending,
                next_attempt_at: Some(Timestamp(9_000)),
                failure_reason: None,
                attempt_base: None,
            };
            assert_eq!(store.update_delivery(&update, None).await.unwrap(), Written::Applied);
        }
        let stored = store.get_delivery(&d.id).await.unwrap().unwrap();
        assert_eq!(stored.attempts.len(), limit);
    }
}
