//! `Idempotency-Key` on ingest: the same key and body answer the first response and create
//! nothing more, also when the duplicates race.

mod support;

use serde_json::json;
use support::*;

#[tokio::test]
async fn idempotency_key_returns_the_first_response_and_creates_nothing_more() {
    let (hl, api) = hookline("1s").await;
    let body = json!({"tenant_id": "d", "type": "lead.created", "data": {"leadId": "L-1"}});
    let (s1, r1, replayed1) = api
        .post_keyed("/v1/events", "order-77", &body)
        .await
        .unwrap();
    let (s2, r2, replayed2) = api
        .post_keyed("/v1/events", "order-77", &body)
        .await
        .unwrap();
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(r1, r2, "the same response, the same event id");
    assert!(!replayed1 && replayed2);
    assert_eq!(hl.sqlite.as_ref().unwrap().count_events().await.unwrap(), 1);

    let other = json!({"tenant_id": "d", "type": "lead.created", "data": {"leadId": "L-2"}});
    let (s3, r3, _) = api
        .post_keyed("/v1/events", "order-77", &other)
        .await
        .unwrap();
    assert_eq!(
        (s3, r3["error"]["code"].clone()),
        (422, json!("idempotency_key_reused"))
    );
    assert_eq!(hl.sqlite.as_ref().unwrap().count_events().await.unwrap(), 1);

    // a refused request does not use up its key
    let bad = json!({"tenant_id": "d", "type": "lead..created", "data": {}});
    assert_eq!(
        api.post_keyed("/v1/events", "order-78", &bad)
            .await
            .unwrap()
            .0,
        400
    );
    let good = json!({"tenant_id": "d", "type": "lead.created", "data": {}});
    let (status, _, replayed) = api
        .post_keyed("/v1/events", "order-78", &good)
        .await
        .unwrap();
    assert_eq!(
        (status, replayed),
        (202, false),
        "the corrected request runs"
    );
    assert_eq!(hl.sqlite.as_ref().unwrap().count_events().await.unwrap(), 2);

    // subscriptions too: one subscription, one secret
    let sub = json!({"tenant_id": "d", "url": "https://crm.example.com/h", "event_types": ["*"]});
    let (_, a, _) = api
        .post_keyed("/v1/subscriptions", "sub-1", &sub)
        .await
        .unwrap();
    let (_, b, _) = api
        .post_keyed("/v1/subscriptions", "sub-1", &sub)
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(
        api.get("/v1/subscriptions").await.1["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn concurrent_duplicates_create_exactly_one_event() {
    let (hl, api) = hookline("1s").await;
    let body =
        json!({"tenant_id": "d", "type": "appointment.created", "data": {"appointmentId": "A-9"}});
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (api, body) = (api.clone(), body.clone());
            tokio::spawn(
                async move { api.post_keyed("/v1/events", "appt-9", &body).await.unwrap() },
            )
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        let (status, resp, _) = t.await.unwrap();
        assert_eq!(status, 202, "{resp}");
        ids.push(resp["id"].as_str().unwrap().to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every duplicate got the one event: {ids:?}");
    assert_eq!(hl.sqlite.as_ref().unwrap().count_events().await.unwrap(), 1);
    hl.shutdown().await;
}
