//! `Idempotency-Key` on ingest: the same key and body answer the first response and create
//! nothing more, also when the duplicates race.

mod support;

use serde_json::json;
use support::*;

async fn post_with_key(
    api: &Api,
    path: &str,
    key: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value, bool) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", api.base()))
        .bearer_auth(ADMIN_KEY)
        .header("idempotency-key", key)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let replayed = resp.headers().get("idempotent-replayed").is_some();
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.text().await.unwrap()).unwrap(),
        replayed,
    )
}

#[tokio::test]
async fn idempotency_key_returns_the_first_response_and_creates_nothing_more() {
    let (hl, api) = hookline("1s").await;
    let body = json!({"tenant_id": "d", "type": "lead.created", "data": {"leadId": "L-1"}});
    let (s1, r1, replayed1) = post_with_key(&api, "/v1/events", "order-77", &body).await;
    let (s2, r2, replayed2) = post_with_key(&api, "/v1/events", "order-77", &body).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(r1, r2, "the same response, the same event id");
    assert!(!replayed1 && replayed2);
    assert_eq!(hl.sqlite.as_ref().unwrap().count_events().await.unwrap(), 1);

    let other = json!({"tenant_id": "d", "type": "lead.created", "data": {"leadId": "L-2"}});
    let (s3, r3, _) = post_with_key(&api, "/v1/events", "order-77", &other).await;
    assert_eq!(
        (s3, r3["error"]["code"].clone()),
        (422, json!("idempotency_key_reused"))
    );
    assert_eq!(hl.sqlite.as_ref().unwrap().count_events().await.unwrap(), 1);

    // a refused request does not use up its key
    let bad = json!({"tenant_id": "d", "type": "lead..created", "data": {}});
    assert_eq!(
        post_with_key(&api, "/v1/events", "order-78", &bad).await.0,
        400
    );
    let good = json!({"tenant_id": "d", "type": "lead.created", "data": {}});
    let (status, _, replayed) = post_with_key(&api, "/v1/events", "order-78", &good).await;
    assert_eq!(
        (status, replayed),
        (202, false),
        "the corrected request runs"
    );
    assert_eq!(hl.sqlite.as_ref().unwrap().count_events().await.unwrap(), 2);

    // subscriptions too: one subscription, one secret
    let sub = json!({"tenant_id": "d", "url": "https://crm.example.com/h", "event_types": ["*"]});
    let (_, a, _) = post_with_key(&api, "/v1/subscriptions", "sub-1", &sub).await;
    let (_, b, _) = post_with_key(&api, "/v1/subscriptions", "sub-1", &sub).await;
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
            tokio::spawn(async move { post_with_key(&api, "/v1/events", "appt-9", &body).await })
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
