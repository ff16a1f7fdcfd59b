//! The HTTP API over real sockets: CRUD, pagination, auth, and bad input that changes nothing.

mod support;

use serde_json::{Value, json};
use support::*;

fn sub_body(url: &str) -> Value {
    json!({"tenant_id": "dealer-1", "url": url, "event_types": ["lead.*", "appointment.created"], "name": "CRM"})
}

/// What a bad request could have changed: the subscriptions as listed, and the stored events.
async fn snapshot(hl: &hookline::Running, api: &Api) -> (Value, u64) {
    let (_, subs) = api.get("/v1/subscriptions?limit=250").await;
    (
        subs,
        hl.sqlite.as_ref().unwrap().count_events().await.unwrap(),
    )
}

#[tokio::test]
async fn bad_requests_get_a_clear_4xx_and_change_nothing() {
    let (hl, api) = hookline("1s").await;
    let existing = api
        .subscribe(sub_body("https://crm.example.com/hooks"))
        .await;
    let sid = existing["id"].as_str().unwrap().to_string();
    api.send_event(json!({"tenant_id": "dealer-1", "type": "lead.created", "data": {}}))
        .await;
    let before = snapshot(&hl, &api).await;
    assert_eq!(before.1, 1);
    let big = format!(
        r#"{{"tenant_id":"d","type":"a.b","data":{{"x":"{}"}}}}"#,
        "a".repeat(300 * 1024)
    );
    let cases: Vec<(&str, String, Option<String>, u16, &str)> = vec![
        ("POST", "/v1/events".into(), Some("{not json".into()), 400, "invalid_json"),
        ("POST", "/v1/events".into(), Some("[]".into()), 400, "invalid_request"),
        ("POST", "/v1/events".into(), Some(r#"{"tenant_id":"d","type":"a.b","data":{},"extra":1}"#.into()), 400, "invalid_request"),
        ("POST", "/v1/events".into(), Some(r#"{"tenant_id":"d","type":"a.b"}"#.into()), 400, "invalid_request"),
        ("POST", "/v1/events".into(), Some(r#"{"tenant_id":"d","type":"a..b","data":{}}"#.into()), 400, "invalid_event_type"),
        ("POST", "/v1/events".into(), Some(r#"{"tenant_id":"d","type":"a.b","data":"x"}"#.into()), 400, "invalid_data"),
        ("POST", "/v1/events".into(), Some(r#"{"tenant_id":"d","type":"hookline.delivery.failed","data":{}}"#.into()), 400, "reserved_event_type"),
        ("POST", "/v1/events".into(), Some(big), 413, "payload_too_large"),
        ("POST", "/v1/subscriptions".into(), Some(r#"{"tenant_id":"d","url":"ftp://x","event_types":["*"]}"#.into()), 400, "invalid_url"),
        ("POST", "/v1/subscriptions".into(), Some(r#"{"tenant_id":"d","url":"https://x.example.com","event_types":[]}"#.into()), 400, "invalid_event_types"),
        ("POST", "/v1/subscriptions".into(), Some(r#"{"tenant_id":"d","url":"https://x.example.com","event_types":["*"],"secret":"mine"}"#.into()), 400, "invalid_request"),
        ("POST", "/v1/subscriptions".into(), Some(r#"{"tenant_id":"d","url":"https://x.example.com","event_types":["*"],"timeout_ms":1}"#.into()), 400, "invalid_timeout"),
        ("POST", "/v1/subscriptions".into(), Some(r#"{"tenant_id":"d","url":"https://x.example.com","event_types":["*"],"headers":{"webhook-signature":"x"}}"#.into()), 400, "reserved_header"),
        ("POST", "/v1/subscriptions".into(), Some(r#"{"tenant_id":"d","url":"https://x.example.com","event_types":["*"],"payload_format":"xml"}"#.into()), 400, "invalid_request"),
        ("PATCH", format!("/v1/subscriptions/{sid}"), Some(r#"{"url":"notaurl"}"#.into()), 400, "invalid_url"),
        ("PATCH", format!("/v1/subscriptions/{sid}"), Some(r#"{"event_types":["lead.*"],"timeout_ms":99999}"#.into()), 400, "invalid_timeout"),
        ("PATCH", format!("/v1/subscriptions/{sid}"), Some(r#"{"tenant_id":"other"}"#.into()), 400, "invalid_request"),
        ("PATCH", "/v1/subscriptions/sub_01J0000000000000000000000Z".into(), Some(r#"{"name":"x"}"#.into()), 404, "not_found"),
        ("GET", "/v1/subscriptions/evt_01J00000000000000000000000".into(), None, 404, "not_found"),
        ("DELETE", "/v1/subscriptions/nope".into(), None, 404, "not_found"),
        ("GET", "/v1/subscriptions?limit=0".into(), None, 400, "invalid_limit"),
        ("GET", "/v1/subscriptions?limit=abc".into(), None, 400, "invalid_query"),
        ("GET", "/v1/subscriptions?cursor=garbage".into(), None, 400, "invalid_cursor"),
        ("GET", "/v1/subscriptions?bogus=1".into(), None, 400, "invalid_query"),
        ("GET", format!("/v1/subscriptions/{sid}/deliveries?status=lost"), None, 400, "invalid_query"),
        ("GET", "/v1/events/evt_01J00000000000000000000000/deliveries".into(), None, 404, "not_found"),
        ("GET", "/v1/nothing-here".into(), None, 404, "route_not_found"),
        ("PUT", "/v1/events".into(), Some("{}".into()), 405, "method_not_allowed"),
    ];
    for (method, path, body, status, code) in cases {
        let (got_status, got) = api.call(method, &path, body.as_deref()).await;
        assert_eq!(got_status, status, "{method} {path}: {got}");
        assert_eq!(got["error"]["code"], code, "{method} {path}: {got}");
        assert!(!got["error"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        snapshot(&hl, &api).await,
        before,
        "bad requests changed nothing"
    );
    hl.shutdown().await;
}

/// Every route that takes a body (read from the OpenAPI document, so a new route is covered the
/// day it is added) refuses anything but a JSON object, before it looks at anything else.
#[tokio::test]
async fn every_body_is_a_json_object_on_every_route() {
    let (hl, api) = hookline("1s").await;
    let existing = api
        .subscribe(sub_body("https://crm.example.com/hooks"))
        .await;
    let sid = existing["id"].as_str().unwrap().to_string();
    let before = snapshot(&hl, &api).await;
    let (_, spec) = api.call("GET", "/v1/openapi.json", None).await;
    let mut routes = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["post", "patch", "put"] {
            if item.get(method).is_some() {
                let id = if path.starts_with("/v1/deliveries/") {
                    "dlv_01J00000000000000000000000".to_string()
                } else {
                    sid.clone()
                };
                let path = path
                    .replace("{id}", &id)
                    .replace("{name}", "lead.qualified");
                routes.push((method.to_uppercase(), path));
            }
        }
    }
    assert_eq!(routes.len(), 12, "every POST and PATCH route: {routes:?}");
    for (method, path) in &routes {
        for body in [
            r#"["tenant-a", "https://crm.example.com/hooks"]"#,
            "[]",
            r#""text""#,
            "42",
            "null",
            "true",
            "\n",
            "  ",
        ] {
            let (status, got) = api.call(method, path, Some(body)).await;
            assert_eq!(status, 400, "{method} {path} {body}: {got}");
            assert_eq!(
                got["error"]["code"], "invalid_request",
                "{method} {path} {body}: {got}"
            );
            let message = got["error"]["message"].as_str().unwrap();
            assert!(message.contains("JSON object"), "{message}");
        }
    }
    assert_eq!(
        snapshot(&hl, &api).await,
        before,
        "refused bodies changed nothing"
    );
    // Routes whose fields are all optional still take `{}`; a route that takes none refuses fields.
    let (status, _) = api
        .call(
            "POST",
            &format!("/v1/subscriptions/{sid}/rotate-secret"),
            Some("{}"),
        )
        .await;
    assert_eq!(status, 200);
    let (status, got) = api
        .call(
            "POST",
            &format!("/v1/subscriptions/{sid}/test"),
            Some(r#"{"x":1}"#),
        )
        .await;
    assert_eq!(status, 400, "{got}");
    hl.shutdown().await;
}

#[tokio::test]
async fn requests_without_the_admin_key_are_refused() {
    let (hl, api) = hookline("1s").await;
    let wrong = Api::new(hl.addr, "hk_admin_wrong");
    for (method, path) in [
        ("GET", "/v1/subscriptions"),
        ("POST", "/v1/events"),
        ("GET", "/v1/events/x/deliveries"),
    ] {
        let (status, body) = wrong.call(method, path, Some("{}")).await;
        assert_eq!(status, 401, "{method} {path}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let anonymous = reqwest::get(format!("http://{}/v1/subscriptions", hl.addr))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let health = reqwest::get(format!("http://{}/healthz", hl.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "health needs no key");
    assert_eq!(api.get("/v1/subscriptions").await.0, 200);
    hl.shutdown().await;
}

#[tokio::test]
async fn subscription_lifecycle() {
    let (hl, api) = hookline("1s").await;
    let created = api
        .subscribe(sub_body("https://crm.example.com/hooks"))
        .await;
    let id = created["id"].as_str().unwrap();
    assert!(
        created["secret"].as_str().unwrap().starts_with("whsec_"),
        "the secret is shown at creation"
    );
    assert_eq!(created["enabled"], true);
    assert_eq!(created["timeout_ms"], 5000);
    assert_eq!(created["payload_format"], "standard");

    let (status, got) = api.get(&format!("/v1/subscriptions/{id}")).await;
    assert_eq!(status, 200);
    assert!(got.get("secret").is_none(), "the secret is shown only once");
    assert_eq!(got["event_types"], json!(["lead.*", "appointment.created"]));

    let (status, patched) = api
        .call(
            "PATCH",
            &format!("/v1/subscriptions/{id}"),
            Some(r#"{"name": null, "enabled": false, "filter": {"campaign": ["abc123"]}}"#),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], Value::Null);
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["filter"], json!({"campaign": ["abc123"]}));
    assert_eq!(
        patched["url"], created["url"],
        "absent fields are left alone"
    );
    let mut shown = api.get(&format!("/v1/subscriptions/{id}")).await.1;
    let health = shown.as_object_mut().unwrap().remove("health").unwrap();
    assert_eq!(health["circuit"], "closed", "{health}");
    assert_eq!(health["parked"], 0);
    assert_eq!(shown, patched, "GET adds only the endpoint's health");

    assert_eq!(
        api.call("DELETE", &format!("/v1/subscriptions/{id}"), None)
            .await
            .0,
        204
    );
    assert_eq!(api.get(&format!("/v1/subscriptions/{id}")).await.0, 404);
    assert_eq!(
        api.call("DELETE", &format!("/v1/subscriptions/{id}"), None)
            .await
            .0,
        404
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn subscriptions_page_with_cursors_and_filter_by_tenant() {
    let (hl, api) = hookline("1s").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut body = sub_body(&format!("https://crm.example.com/{i}"));
        body["tenant_id"] = json!(if i < 5 { "dealer-a" } else { "dealer-b" });
        ids.push(
            api.subscribe(body).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut seen = Vec::new();
    let mut path = "/v1/subscriptions?tenant_id=dealer-a&limit=2".to_string();
    loop {
        let (status, page) = api.get(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/subscriptions?tenant_id=dealer-a&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ids[..5],
        "every dealer-a subscription once, oldest first"
    );
    let (_, all) = api.get("/v1/subscriptions").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 7);
    assert_eq!(all["next_cursor"], Value::Null);
    hl.shutdown().await;
}

#[tokio::test]
async fn deliveries_are_listed_per_subscription_with_status_filter() {
    let (hl, api) = hookline("").await;
    let ok = Receiver::ok().await;
    let broken = Receiver::start(vec![], Reply::Status(500)).await;
    let good = api
        .subscribe(json!({"tenant_id": "d", "url": ok.url("/"), "event_types": ["*"]}))
        .await;
    let bad = api
        .subscribe(json!({"tenant_id": "d", "url": broken.url("/"), "event_types": ["*"]}))
        .await;
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(
            api.send_event(json!({"tenant_id": "d", "type": "lead.received", "data": {}}))
                .await,
        );
    }
    for e in &events {
        api.wait_deliveries(e, std::time::Duration::from_secs(10), |d| {
            d.len() == 2 && d.iter().all(|x| x["status"] != "pending")
        })
        .await;
    }
    let list = |sub: &Value, q: &str| {
        let api = api.clone();
        let path = format!(
            "/v1/subscriptions/{}/deliveries{q}",
            sub["id"].as_str().unwrap()
        );
        async move { api.get(&path).await.1 }
    };
    assert_eq!(
        list(&good, "?status=succeeded").await["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        list(&good, "?status=failed").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let failed = list(&bad, "?status=failed&limit=2").await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 2);
    let cursor = failed["next_cursor"].as_str().unwrap();
    let rest = list(&bad, &format!("?status=failed&limit=2&cursor={cursor}")).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    let d = &rest["data"][0];
    assert_eq!(d["attempts"][0]["status_code"], 500);
    assert!(d["failure_reason"].as_str().unwrap().contains("HTTP 500"));
    hl.shutdown().await;
}

#[tokio::test]
async fn a_tenant_has_at_most_100_subscriptions() {
    let (hl, api) = hookline("1s").await;
    for i in 0..100 {
        api.subscribe(sub_body(&format!("https://crm.example.com/{i}")))
            .await;
    }
    let (status, err) = api
        .post("/v1/subscriptions", sub_body("https://crm.example.com/101"))
        .await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (409, json!("too_many_subscriptions"))
    );
    let mut other = sub_body("https://crm.example.com/x");
    other["tenant_id"] = json!("dealer-2");
    assert_eq!(
        api.post("/v1/subscriptions", other).await.0,
        201,
        "the quota is per tenant"
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn subscriptions_without_a_timeout_get_the_configured_delivery_timeout() {
    let mut cfg = config("1s");
    cfg.settings.delivery_timeout_ms = 9000;
    let (hl, api) = start(cfg).await;
    let created = api
        .subscribe(sub_body("https://crm.example.com/hooks"))
        .await;
    assert_eq!(created["timeout_ms"], 9000);
    let path = format!("/v1/subscriptions/{}", created["id"].as_str().unwrap());
    let (status, set) = api
        .call("PATCH", &path, Some(r#"{"timeout_ms": 3000}"#))
        .await;
    assert_eq!((status, &set["timeout_ms"]), (200, &json!(3000)));
    let (status, reset) = api
        .call("PATCH", &path, Some(r#"{"timeout_ms": null}"#))
        .await;
    assert_eq!((status, &reset["timeout_ms"]), (200, &json!(9000)));
    hl.shutdown().await;
}

#[tokio::test]
async fn a_subscription_sets_its_own_retry_policy_within_the_deployment_bounds() {
    let (hl, api) = hookline("1s,5m,30m").await;
    let mut body = sub_body("https://crm.example.com/hooks");
    body["max_attempts"] = json!(2);
    let created = api.subscribe(body.clone()).await;
    assert_eq!(created["max_attempts"], 2);
    assert_eq!(created["retry_schedule"], Value::Null, "the deployment's");
    let path = format!("/v1/subscriptions/{}", created["id"].as_str().unwrap());
    let (status, set) = api
        .call("PATCH", &path, Some(r#"{"retry_schedule": "10s,1m,2h"}"#))
        .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(
        (&set["retry_schedule"], &set["max_attempts"]),
        (&json!("10s,1m,2h"), &json!(2))
    );
    // refused, with nothing changed: a cap above the schedule in force, more delays than the
    // deployment's schedule has, a delay shorter than its shortest, a schedule that is not one
    for (patch, code) in [
        (r#"{"max_attempts": 6}"#, "invalid_max_attempts"),
        (
            r#"{"retry_schedule": "1s,1s,1s,1s"}"#,
            "invalid_retry_schedule",
        ),
        (r#"{"max_attempts": 0}"#, "invalid_max_attempts"),
        (
            r#"{"retry_schedule": "500ms,1m"}"#,
            "invalid_retry_schedule",
        ),
        (
            r#"{"retry_schedule": "5 minutes"}"#,
            "invalid_retry_schedule",
        ),
        (
            r#"{"retry_schedule": null, "max_attempts": 5}"#,
            "invalid_max_attempts",
        ),
    ] {
        let (status, e) = api.call("PATCH", &path, Some(patch)).await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (400, Some(code)),
            "{patch}: {e}"
        );
    }
    let (_, shown) = api.get(&path).await;
    assert_eq!(shown["retry_schedule"], "10s,1m,2h");
    body["max_attempts"] = json!(5);
    let (status, e) = api.post("/v1/subscriptions", body).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("invalid_max_attempts"))
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1s,5m,30m"),
        "{e}"
    );
    // null clears both: the deployment's schedule again
    let (status, reset) = api
        .call(
            "PATCH",
            &path,
            Some(r#"{"retry_schedule": null, "max_attempts": null}"#),
        )
        .await;
    assert_eq!(status, 200, "{reset}");
    assert_eq!(
        (&reset["retry_schedule"], &reset["max_attempts"]),
        (&Value::Null, &Value::Null)
    );
    hl.shutdown().await;
}
