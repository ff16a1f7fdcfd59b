//! Exactly-once acceptance across crashes of the real binary: a producer that retries a keyed
//! request whose connection broke gets the first response, and nothing is stored twice.

mod support;

use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use support::*;

/// Events stored in a stopped binary's data directory.
async fn stored_events(dir: &std::path::Path) -> u64 {
    let db = hookline_embedded::Db::open(dir).unwrap();
    hookline_embedded::SqliteStore::new(db)
        .count_events()
        .await
        .unwrap()
}

const CRASH: (&str, &str) = ("HOOKLINE_TEST_CRASH_AFTER_KEYED_CREATE", "1");

#[tokio::test]
async fn a_keyed_create_stored_just_before_a_crash_is_replayed_after_the_restart() {
    let dir = temp_dir("crash-after-create");
    let event =
        json!({"tenant_id": "ford-anytown", "type": "lead.qualified", "data": {"leadId": "L-1"}});
    let sub = json!({"tenant_id": "ford-anytown", "url": "https://crm.example.com/h", "event_types": ["*"]});

    // The process dies after storing each create, before answering it.
    let mut dev1 = spawn_dev(&dir, "1s", &[CRASH]).await;
    assert!(
        dev1.api
            .post_keyed("/v1/events", "lead-1", &event)
            .await
            .is_err()
    );
    dev1.child.wait().unwrap();
    let mut dev2 = spawn_dev(&dir, "1s", &[CRASH]).await;
    assert!(
        dev2.api
            .post_keyed("/v1/subscriptions", "crm-1", &sub)
            .await
            .is_err()
    );
    dev2.child.wait().unwrap();

    let mut dev = spawn_dev(&dir, "1s", &[]).await;
    let (status, first, replayed) = dev
        .api
        .post_keyed("/v1/events", "lead-1", &event)
        .await
        .unwrap();
    assert_eq!((status, replayed), (202, true), "{first}");
    let (status, stored) = dev
        .api
        .get(&format!("/v1/events/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(stored["data"]["leadId"], "L-1");
    let (status, created, replayed) = dev
        .api
        .post_keyed("/v1/subscriptions", "crm-1", &sub)
        .await
        .unwrap();
    assert_eq!((status, replayed), (201, true), "{created}");
    assert!(
        created["secret"].as_str().unwrap().starts_with("whsec_"),
        "the first response, secret included"
    );
    let (_, subs) = dev.api.get("/v1/subscriptions").await;
    assert_eq!(subs["data"].as_array().unwrap().len(), 1);
    assert_eq!(subs["data"][0]["id"], created["id"]);
    // Retried again, the same answer.
    let (_, again, _) = dev
        .api
        .post_keyed("/v1/events", "lead-1", &event)
        .await
        .unwrap();
    assert_eq!(again, first);
    dev.child.kill().unwrap();
    dev.child.wait().unwrap();
    assert_eq!(stored_events(&dir).await, 1, "one event for one key");
}

/// Producers keep sending keyed events while the process is killed at random moments; each
/// request whose connection broke is retried with its key after the restart. In the end every
/// key has one event, and every retry answered the id the first write stored.
#[tokio::test]
async fn kill_and_retry_rounds_store_every_key_exactly_once() {
    const KEYS: usize = 3000;
    const ROUNDS: usize = 200;
    let dir = temp_dir("crash-soak");
    let body = |i: usize| json!({"tenant_id": "d", "type": "lead.created", "data": {"n": i}});
    let mut answered: HashMap<usize, String> = HashMap::new();
    let (mut rounds, mut interrupted) = (0, 0);
    while answered.len() < KEYS {
        rounds += 1;
        assert!(
            rounds <= ROUNDS,
            "{} of {KEYS} keys answered after {ROUNDS} rounds",
            answered.len()
        );
        let mut dev = spawn_dev(&dir, "1s", &[]).await;
        let pending: Vec<usize> = (0..KEYS).filter(|i| !answered.contains_key(i)).collect();
        let api = dev.api.clone();
        let producer = tokio::spawn(async move {
            let (mut got, mut broken) = (Vec::new(), 0);
            for chunk in pending.chunks(8) {
                let sends = chunk.iter().map(|&i| {
                    let api = api.clone();
                    async move {
                        (
                            i,
                            api.post_keyed("/v1/events", &format!("key-{i}"), &body(i))
                                .await,
                        )
                    }
                });
                for (i, result) in futures::future::join_all(sends).await {
                    match result {
                        Ok((202, v, _)) => got.push((i, v["id"].as_str().unwrap().to_string())),
                        Ok((status, v, _)) => panic!("key-{i}: {status} {v}"),
                        Err(_) => broken += 1,
                    }
                }
                if broken > 0 {
                    break; // the process is gone: the rest waits for the next round
                }
            }
            (got, broken)
        });
        // A kill somewhere in the round: early ones interrupt writes, late ones let it finish.
        let wait = 10 + rand::random::<u64>() % 150;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        dev.child.kill().unwrap();
        dev.child.wait().unwrap();
        let (got, broken) = producer.await.unwrap();
        interrupted += usize::from(broken > 0);
        for (i, id) in got {
            if let Some(earlier) = answered.insert(i, id.clone()) {
                assert_eq!(earlier, id, "key-{i} answered two ids");
            }
        }
    }
    // Every key answers its id once more, from the store, and no key was stored twice.
    let mut dev = spawn_dev(&dir, "1s", &[]).await;
    for (i, id) in &answered {
        let (status, v, replayed) = dev
            .api
            .post_keyed("/v1/events", &format!("key-{i}"), &body(*i))
            .await
            .unwrap();
        assert_eq!((status, replayed), (202, true));
        assert_eq!(v["id"].as_str().unwrap(), id);
    }
    dev.child.kill().unwrap();
    dev.child.wait().unwrap();
    assert_eq!(
        stored_events(&dir).await,
        KEYS as u64,
        "after {rounds} rounds"
    );
    assert!(
        interrupted >= 5,
        "only {interrupted} of {rounds} kills broke requests in flight"
    );
    eprintln!("{KEYS} keys, {rounds} rounds, {interrupted} kills with requests in flight");
}
