//! Checks of `ApiKeyStore`: keys survive storage, list by tenant with a cursor, and are revoked
//! once (a second revoke finds nothing, so the API can answer 404).

use crate::fixtures::tenant;
use hookline_core::api_key;
use hookline_core::clock::Timestamp;
use hookline_core::ports::ApiKeyStore;

checks! {
    list for_each_api_key_check in api_keys;

    pub async fn api_keys_round_trip_and_revoke(store: &dyn ApiKeyStore) {
        let dealer = tenant("dealer-1");
        let (k1, _) = api_key::generate(dealer.clone(), Some("CRM".into()), Timestamp(5));
        let (k2, _) = api_key::generate(tenant("dealer-2"), None, Timestamp(6));
        store.insert_api_key(&k1, None).await.unwrap();
        store.insert_api_key(&k2, None).await.unwrap();
        assert_eq!(store.get_api_key(&k1.id).await.unwrap().unwrap(), k1);
        assert_eq!(
            store.list_api_keys(Some(&dealer), None, 10).await.unwrap(),
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
}
