//! Checks of `SubscriptionStore`: subscriptions survive storage whole, list by tenant in id
//! order with a cursor, and are updated, deleted and counted as the API's quotas expect.

use crate::fixtures::{subscription, tenant};
use hookline_core::ids::SubscriptionId;
use hookline_core::ports::SubscriptionStore;

checks! {
    list for_each_subscription_check in subscriptions;

    pub async fn subscription_round_trip(store: &dyn SubscriptionStore) {
        let s = subscription(&tenant("dealer-1"));
        store.insert_subscription(&s, None).await.unwrap();
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

    pub async fn subscriptions_list_by_tenant_with_cursor(store: &dyn SubscriptionStore) {
        let (a, b) = (tenant("dealer-a"), tenant("dealer-b"));
        let mut mine = Vec::new();
        for _ in 0..5 {
            let s = subscription(&a);
            store.insert_subscription(&s, None).await.unwrap();
            mine.push(s.id);
        }
        store.insert_subscription(&subscription(&b), None).await.unwrap();
        let first = store.list_subscriptions(Some(&a), None, 3).await.unwrap();
        let ids: Vec<_> = first.iter().map(|s| s.id.clone()).collect();
        assert_eq!(ids, mine[..3]);
        let rest = store
            .list_subscriptions(Some(&a), Some(&ids[2]), 3)
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
        assert_eq!(store.subscriptions_for_tenant(&b).await.unwrap().len(), 1);
    }

    pub async fn update_and_delete_missing_subscription(store: &dyn SubscriptionStore) {
        let mut s = subscription(&tenant("dealer-1"));
        assert!(
            store.update_subscription(&s).await.is_err(),
            "updating a missing subscription fails"
        );
        store.insert_subscription(&s, None).await.unwrap();
        s.enabled = false;
        s.disabled_reason = Some("paused".into());
        store.update_subscription(&s).await.unwrap();
        assert_eq!(store.get_subscription(&s.id).await.unwrap().unwrap(), s);
        assert!(store.delete_subscription(&s.id).await.unwrap());
        assert!(!store.delete_subscription(&s.id).await.unwrap());
        assert_eq!(store.get_subscription(&s.id).await.unwrap(), None);
    }

    pub async fn subscriptions_are_counted_per_tenant(store: &dyn SubscriptionStore) {
        let x = tenant("dealer-x");
        for _ in 0..3 {
            store.insert_subscription(&subscription(&x), None).await.unwrap();
        }
        store
            .insert_subscription(&subscription(&tenant("dealer-y")), None)
            .await
            .unwrap();
        assert_eq!(store.count_subscriptions(&x).await.unwrap(), 3);
        assert_eq!(
            store.count_subscriptions(&tenant("dealer-z")).await.unwrap(),
            0
        );
    }
}
