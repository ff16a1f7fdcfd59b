//! Checks of `HealthStore`: a subscription's health is written only on the version it was read
//! at (of racing writers exactly one wins); parked jobs are listed oldest delivery first, in
//! pages, per subscription; parking a delivery again replaces its entry; a release removes an
//! entry only if it is still the parking it read.

use hookline_core::breaker::{Circuit, Health};
use hookline_core::clock::Timestamp;
use hookline_core::ids::{DeliveryId, SubscriptionId};
use hookline_core::pipeline::Job;
use hookline_core::ports::{HealthStore, ParkedJob, Written};

fn parking(delivery: &DeliveryId, token: &str) -> ParkedJob {
    ParkedJob {
        job: Job::next(delivery.clone(), 3, Some(Timestamp(1_800_000_000_000))),
        parked_at: Timestamp(1_800_000_000_000),
        reason: "circuit open".into(),
        token: token.into(),
    }
}

checks! {
    list for_each_health_check in health;

    pub async fn health_is_written_only_on_the_version_read(store: &dyn HealthStore) {
        let sub = SubscriptionId::generate();
        assert_eq!(store.get_health(&sub).await.unwrap(), (Health::default(), 0), "never written");
        let failing = Health {
            consecutive_failures: 2,
            last_failure: Some(Timestamp(1_800_000_000_000)),
            ..Health::default()
        };
        assert_eq!(store.put_health(&sub, &failing, 0).await.unwrap(), Written::Applied);
        assert_eq!(store.put_health(&sub, &failing, 0).await.unwrap(), Written::Stale, "created once");
        assert_eq!(store.get_health(&sub).await.unwrap(), (failing, 1));
        let open = Health {
            circuit: Circuit::Open {
                since: Timestamp(1_800_000_000_000),
                next_probe: Timestamp(1_800_000_030_000),
                interval_ms: 30_000,
            },
            epoch: 2,
            ..failing
        };
        assert_eq!(store.put_health(&sub, &open, 1).await.unwrap(), Written::Applied);
        assert_eq!(store.put_health(&sub, &failing, 1).await.unwrap(), Written::Stale);
        assert_eq!(store.get_health(&sub).await.unwrap(), (open, 2));
        // racing writers of the same version: exactly one wins
        let raced = futures::future::join_all((0..5).map(|_| store.put_health(&sub, &failing, 2))).await;
        let won = raced.iter().filter(|w| matches!(w, Ok(Written::Applied))).count();
        assert_eq!(won, 1, "{raced:?}");
        assert_eq!(store.get_health(&sub).await.unwrap().1, 3);
        assert_eq!(store.get_health(&SubscriptionId::generate()).await.unwrap().1, 0, "per subscription");
    }

    pub async fn parked_jobs_are_listed_oldest_first_and_released_once(store: &dyn HealthStore) {
        let sub = SubscriptionId::generate();
        let other = SubscriptionId::generate();
        let mut ids: Vec<DeliveryId> = (0..5).map(|_| DeliveryId::generate()).collect();
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        for id in ids.iter().rev() {
            store.park(&sub, &parking(id, "t1")).await.unwrap();
        }
        store.park(&other, &parking(&DeliveryId::generate(), "t1")).await.unwrap();
        let listed = |v: Vec<ParkedJob>| v.into_iter().map(|p| p.job.delivery_id).collect::<Vec<_>>();
        assert_eq!(listed(store.parked(&sub, None, 10).await.unwrap()), ids, "oldest first, this subscription's");
        assert_eq!(listed(store.parked(&sub, None, 2).await.unwrap()), ids[..2]);
        assert_eq!(listed(store.parked(&sub, Some(&ids[1]), 2).await.unwrap()), ids[2..4], "after a cursor");
        assert_eq!(store.parked_count(&sub).await.unwrap(), 5);
        assert_eq!(store.parked_count(&other).await.unwrap(), 1);
        let first = store.parked_job(&sub, &ids[0]).await.unwrap().expect("parked");
        assert_eq!(first, parking(&ids[0], "t1"));
        assert_eq!(store.parked_job(&other, &ids[0]).await.unwrap(), None);

        // parked again (its circuit reopened after a release read it): the new parking stays
        store.park(&sub, &parking(&ids[0], "t2")).await.unwrap();
        assert_eq!(store.parked_count(&sub).await.unwrap(), 5, "replaced, not added");
        assert_eq!(store.unpark(&sub, &first).await.unwrap(), Written::Stale);
        assert_eq!(store.parked_job(&sub, &ids[0]).await.unwrap().unwrap().token, "t2");
        assert_eq!(store.unpark(&sub, &parking(&ids[0], "t2")).await.unwrap(), Written::Applied);
        assert_eq!(store.unpark(&sub, &parking(&ids[0], "t2")).await.unwrap(), Written::Stale, "once");
        assert_eq!(store.parked_job(&sub, &ids[0]).await.unwrap(), None);
        assert_eq!(listed(store.parked(&sub, None, 10).await.unwrap()), ids[1..]);
        assert_eq!(store.parked_count(&sub).await.unwrap(), 4);
    }
}
