//! Checks of `EventStore`: stored events wait in the outbox, oldest first, until marked fanned
//! out, which is what guarantees fan-out after a crash; test events skip it.

use crate::fixtures::{event, tenant};
use hookline_core::ports::EventStore;

checks! {
    list for_each_event_check in events;

    /// A batch (more than one DynamoDB request's worth) is stored whole, every event in the
    /// outbox, each answered in order.
    pub async fn a_batch_of_events_is_stored_and_waits_in_the_outbox(store: &dyn EventStore) {
        let dealer = tenant("dealer-1");
        let events: Vec<_> = (0..60).map(|_| event(&dealer)).collect();
        let written = store.insert_events(&events).await;
        assert_eq!(written.len(), events.len());
        assert!(written.iter().all(Result::is_ok), "{written:?}");
        for e in &events {
            assert_eq!(store.get_event(&e.id).await.unwrap().as_ref(), Some(e));
        }
        let waiting = store.events_awaiting_fanout(100).await.unwrap();
        assert_eq!(waiting.len(), events.len(), "every event of the batch is in the outbox");
    }

    pub async fn events_wait_in_the_outbox_until_fanned_out(store: &dyn EventStore) {
        let dealer = tenant("dealer-1");
        let (a, b) = (event(&dealer), event(&dealer));
        store.insert_event(&a, true, None).await.unwrap();
        store.insert_event(&b, true, None).await.unwrap();
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
        let direct = event(&dealer);
        store.insert_event(&direct, false, None).await.unwrap();
        assert_eq!(store.get_event(&direct.id).await.unwrap().unwrap(), direct);
        assert_eq!(
            store.events_awaiting_fanout(10).await.unwrap().len(),
            1,
            "a test event skips the outbox"
        );
    }
}
