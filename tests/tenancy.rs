//! Tenant keys: a tenant sees and changes only its own data; another tenant's resources are
//! "not found" on every route, and nothing changes.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::*;

async fn tenant_key(admin: &Api, tenant: &str) -> String {
    let (status, key) = admin
        .post(
            "/v1/api-keys",
            json!({"tenant_id": tenant, "name": "CRM sync"}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    assert!(key["key"].as_str().unwrap().starts_with("hk_"));
    key["key"].as_str().unwrap().to_string()
}

/// Everything tenant A owns, as tenant A sees it.
async fn state_of(a: &Api, sub: &str, event: &str) -> Vec<Value> {
    vec![
        a.get("/v1/subscriptions").await.1,
        a.get(&format!("/v1/subscriptions/{sub}/deliveries"))
            .await
            .1,
        a.get(&format!("/v1/events/{event}/deliveries")).await.1,
    ]
}

#[tokio::test]
async fn another_tenants_resources_are_not_found_on_every_route_and_unchanged() {
    let (hl, admin) = hookline("1h").await;
    let rx = Receiver::start(vec![], Reply::Status(500)).await;
    let a = Api::new(hl.addr, &tenant_key(&admin, "dealer-a").await);
    let b = Api::new(hl.addr, &tenant_key(&admin, "dealer-b").await);

    let sub = a
        .subscribe(json!({"url": rx.url("/a"), "event_types": ["*"]}))
        .await;
    assert_eq!(
        sub["tenant_id"], "dealer-a",
        "a tenant key implies its tenant"
    );
    let sub = sub["id"].as_str().unwrap().to_string();
    let event = a
        .send_event(json!({"type": "lead.created", "data": {"n": 1}}))
        .await;
    let ds = a
        .wait_deliveries(&event, Duration::from_secs(10), |d| {
            d.len() == 1 && !d[0]["attempts"].as_array().unwrap().is_empty()
        })
        .await;
    let delivery = ds[0]["id"].as_str().unwrap().to_string();
    let received_before = rx.received().len();
    let before = state_of(&a, &sub, &event).await;

    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/v1/subscriptions/{sub}"), None),
        (
            "PATCH",
            format!("/v1/subscriptions/{sub}"),
            Some(json!({"enabled": false})),
        ),
        ("DELETE", format!("/v1/subscriptions/{sub}"), None),
        ("GET", format!("/v1/subscriptions/{sub}/deliveries"), None),
        ("POST", format!("/v1/subscriptions/{sub}/test"), None),
        (
            "POST",
            format!("/v1/subscriptions/{sub}/rotate-secret"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/v1/subscriptions/{sub}/recover"),
            Some(json!({"since": "2020-01-01T00:00:00Z"})),
        ),
        ("GET", format!("/v1/events/{event}"), None),
        ("GET", format!("/v1/events/{event}/deliveries"), None),
        ("GET", format!("/v1/deliveries/{delivery}"), None),
        ("POST", format!("/v1/deliveries/{delivery}/retry"), None),
    ];
    for (method, path, body) in &routes {
        let body = body.as_ref().map(|b| b.to_string());
        let (status, resp) = b.call(method, path, body.as_deref()).await;
        assert_eq!(status, 404, "{method} {path}: {resp}");
        assert_eq!(resp["error"]["code"], "not_found", "{method} {path}");
        // the same id that does not exist at all answers identically: nothing to infer
        let (_, missing) = b
            .call(
                method,
                &path
                    .replace(&sub, "sub_01J00000000000000000000000")
                    .replace(&event, "evt_01J00000000000000000000000")
                    .replace(&delivery, "dlv_01J00000000000000000000000"),
                body.as_deref(),
            )
            .await;
        assert_eq!(
            missing["error"]["code"], resp["error"]["code"],
            "{method} {path}"
        );
    }
    // B's own views do not include A's data
    let (_, listed) = b.get("/v1/subscriptions").await;
    assert_eq!(listed["data"], json!([]));
    assert_eq!(
        b.get("/v1/subscriptions?tenant_id=dealer-a").await.1["error"]["code"],
        "tenant_mismatch"
    );
    // B cannot write into A's tenant
    let (status, err) = b
        .post(
            "/v1/events",
            json!({"tenant_id": "dealer-a", "type": "lead.created", "data": {}}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (400, json!("tenant_mismatch"))
    );
    let (status, err) = b
        .post(
            "/v1/subscriptions",
            json!({"tenant_id": "dealer-a", "url": rx.url("/b"), "event_types": ["*"]}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (400, json!("tenant_mismatch"))
    );

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        state_of(&a, &sub, &event).await,
        before,
        "tenant B changed nothing of tenant A"
    );
    assert_eq!(
        rx.received().len(),
        received_before,
        "no test or retry reached A's endpoint"
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn tenant_keys_cannot_manage_keys_and_revoked_keys_stop_working() {
    let (hl, admin) = hookline("1s").await;
    let key = tenant_key(&admin, "dealer-a").await;
    let a = Api::new(hl.addr, &key);
    assert_eq!(a.get("/v1/subscriptions").await.0, 200);
    let (status, err) = a
        .post("/v1/api-keys", json!({"tenant_id": "dealer-a"}))
        .await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (403, json!("admin_only"))
    );
    assert_eq!(a.get("/v1/api-keys").await.0, 403);

    let (_, keys) = admin.get("/v1/api-keys?tenant_id=dealer-a").await;
    let listed = keys["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].get("key").is_none(),
        "a key is shown only at creation"
    );
    let id = listed[0]["id"].as_str().unwrap();
    assert_eq!(
        admin
            .call("DELETE", &format!("/v1/api-keys/{id}"), None)
            .await
            .0,
        204
    );
    let (status, err) = a.get("/v1/subscriptions").await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (401, json!("unauthorized"))
    );
    assert_eq!(
        admin
            .call("DELETE", &format!("/v1/api-keys/{id}"), None)
            .await
            .0,
        404
    );
    // a key that was tampered with does not authenticate
    let mut forged = key.clone();
    forged.replace_range(forged.len() - 4.., "0000");
    assert_eq!(
        Api::new(hl.addr, &forged).get("/v1/subscriptions").await.0,
        401
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn the_admin_must_name_the_tenant() {
    let (hl, admin) = hookline("1s").await;
    let (status, err) = admin
        .post("/v1/events", json!({"type": "lead.created", "data": {}}))
        .await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (400, json!("missing_tenant_id"))
    );
    hl.shutdown().await;
}
