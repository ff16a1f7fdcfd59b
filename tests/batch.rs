//! `POST /v1/events/batch`: up to 100 events in one request, each answered on its own and in
//! order, each with its own optional `idempotency_key`; every accepted event is delivered.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::*;

fn statuses(answer: &Value) -> Vec<u64> {
    answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_batch_answers_each_event_in_order_and_delivers_the_accepted_ones() {
    let (hl, api) = hookline("1s").await;
    let rx = Receiver::ok().await;
    api.subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["lead.*"]}))
        .await;
    let batch = json!({"events": [
        {"tenant_id": "d", "type": "lead.created", "data": {"leadId": "L-1"}},
        {"tenant_id": "d", "type": "not a type", "data": {}},
        {"tenant_id": "d", "type": "lead.qualified", "data": {"leadId": "L-2"}, "idempotency_key": "lead-L-2"},
        {"tenant_id": "d", "type": "hookline.delivery.failed", "data": {}},
        {"tenant_id": "e", "type": "lead.created", "data": {}, "attributes": {"note": "x".repeat(300)}},
    ]});
    let (status, answer) = api.post("/v1/events/batch", batch.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(statuses(&answer), vec![202, 400, 202, 400, 400]);
    let data = answer["data"].as_array().unwrap();
    let codes: Vec<&str> = data
        .iter()
        .filter_map(|r| r["error"]["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        vec![
            "invalid_event_type",
            "reserved_event_type",
            "invalid_attribute"
        ]
    );
    let accepted: Vec<String> = [0, 2]
        .iter()
        .map(|&i| data[i]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        hl.sqlite.as_ref().unwrap().count_events().await.unwrap(),
        2,
        "refused events store nothing"
    );
    let got = rx.wait_for(2, Duration::from_secs(10)).await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    ids.sort();
    let mut want = accepted.clone();
    want.sort();
    assert_eq!(ids, want, "every accepted event is delivered");

    // the producer sends the batch again (its connection broke): the keyed event is answered
    // with its first id and created once; the unkeyed one is a new event
    let (status, again) = api.post("/v1/events/batch", batch).await;
    assert_eq!(status, 200);
    assert_eq!(again["data"][2]["id"], data[2]["id"]);
    assert_eq!(again["data"][2]["replayed"], true);
    assert_ne!(again["data"][0]["id"], data[0]["id"]);
    assert_eq!(hl.sqlite.as_ref().unwrap().count_events().await.unwrap(), 3);
    // the same key with another event is refused for that item alone
    let (_, reused) = api
        .post(
            "/v1/events/batch",
            json!({"events": [{"tenant_id": "d", "type": "lead.lost", "data": {}, "idempotency_key": "lead-L-2"}]}),
        )
        .await;
    assert_eq!(statuses(&reused), vec![422]);
    assert_eq!(reused["data"][0]["error"]["code"], "idempotency_key_reused");
    hl.shutdown().await;
}

#[tokio::test]
async fn a_batch_has_one_to_a_hundred_events() {
    let (hl, api) = hookline("1s").await;
    let event = json!({"tenant_id": "d", "type": "lead.created", "data": {}});
    let (status, full) = api
        .post(
            "/v1/events/batch",
            json!({"events": vec![event.clone(); 100]}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(statuses(&full).iter().all(|s| *s == 202));
    for events in [vec![], vec![event.clone(); 101]] {
        let (status, got) = api
            .post("/v1/events/batch", json!({"events": events}))
            .await;
        assert_eq!(status, 400, "{got}");
        assert_eq!(got["error"]["code"], "invalid_batch");
    }
    // what the schema says of an item is checked for the whole batch: one malformed item and
    // nothing is stored
    for bad in [
        json!({"events": {}}),
        json!({"items": []}),
        json!({}),
        json!({"events": [event.clone(), ["d", "lead.created"]]}),
        json!({"events": [event.clone(), {"type": "lead.created", "data": {}, "surprise": 1}]}),
        json!({"events": [event.clone(), {"type": "lead.created", "data": {}, "idempotency_key": ""}]}),
        json!({"events": [event.clone(), {"type": 7, "data": {}}]}),
        json!({"events": [event.clone(), {"type": "lead.created", "data": []}]}),
    ] {
        let (status, got) = api.post("/v1/events/batch", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {got}");
    }
    assert_eq!(
        hl.sqlite.as_ref().unwrap().count_events().await.unwrap(),
        100
    );
    // a body over the batch limit (1 MiB) is refused whole; one over a single event's limit
    // (256 KiB) but under the batch's is read
    let big = "x".repeat(300 * 1024);
    let (status, got) = api
        .post(
            "/v1/events/batch",
            json!({"events": [{"tenant_id": "d", "type": "lead.created", "data": {"note": big}}]}),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(statuses(&got), vec![413], "one event stays within 256 KiB");
    let huge = "x".repeat(1024 * 1024);
    let (status, _) = api
        .post(
            "/v1/events/batch",
            json!({"events": [{"tenant_id": "d", "type": "lead.created", "data": {"note": huge}}]}),
        )
        .await;
    assert_eq!(status, 413);
    hl.shutdown().await;
}
