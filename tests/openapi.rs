//! The OpenAPI document: served, generated from the handlers, and covering every route the API
//! promises. Schemathesis fuzzes the running API from it in `tests/run.sh`.

mod support;

use serde_json::Value;
use support::*;

/// Every route of the API contract (README's table). A route missing from the spec, or a spec
/// operation the server does not serve, fails this test.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("post", "/v1/events"),
    ("post", "/v1/events/batch"),
    ("get", "/v1/event-types"),
    ("post", "/v1/event-types"),
    ("post", "/v1/event-types/import"),
    ("get", "/v1/event-types/{name}"),
    ("patch", "/v1/event-types/{name}"),
    ("delete", "/v1/event-types/{name}"),
    ("get", "/v1/events/{id}"),
    ("get", "/v1/events/{id}/deliveries"),
    ("get", "/v1/subscriptions"),
    ("post", "/v1/subscriptions"),
    ("get", "/v1/subscriptions/{id}"),
    ("patch", "/v1/subscriptions/{id}"),
    ("delete", "/v1/subscriptions/{id}"),
    ("get", "/v1/subscriptions/{id}/deliveries"),
    ("post", "/v1/subscriptions/{id}/test"),
    ("post", "/v1/subscriptions/{id}/rotate-secret"),
    ("post", "/v1/subscriptions/{id}/recover"),
    ("get", "/v1/deliveries/{id}"),
    ("post", "/v1/deliveries/{id}/retry"),
    ("get", "/v1/api-keys"),
    ("post", "/v1/api-keys"),
    ("delete", "/v1/api-keys/{id}"),
];

fn operations(spec: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                ops.push((method.clone(), path.clone()));
            }
        }
    }
    ops.sort();
    ops
}

#[tokio::test]
async fn spec_is_served_and_covers_exactly_the_promised_routes() {
    let (hl, api) = hookline("1s").await;
    let resp = reqwest::get(format!("http://{}/v1/openapi.json", hl.addr))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the spec needs no key");
    let spec: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(spec, serde_json::to_value(hookline_api::openapi()).unwrap());

    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(operations(&spec), expected);

    for (method, path) in ROUTES {
        let op = &spec["paths"][path][method];
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} documents its success"
        );
        if path.starts_with("/v1/") {
            assert!(
                responses.contains_key("401"),
                "{method} {path} documents 401"
            );
            assert!(
                op["security"].is_array(),
                "{method} {path} declares its security"
            );
        }
        // the server serves it (a made-up id answers not_found, never route_not_found)
        let concrete = path.replace("{id}", "x");
        let (status, body) = api
            .call(&method.to_uppercase(), &concrete, Some("{}"))
            .await;
        assert_ne!(status, 405, "{method} {path}: {body}");
        assert_ne!(body["error"]["code"], "route_not_found", "{method} {path}");
    }
    // every schema a response references is defined
    let text = spec.to_string();
    for name in spec["components"]["schemas"].as_object().unwrap().keys() {
        assert!(
            text.contains(&format!("#/components/schemas/{name}")) || name == "ErrorDetail",
            "{name} is referenced"
        );
    }
    for reference in text.split("#/components/schemas/").skip(1) {
        let name: String = reference
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        assert!(
            spec["components"]["schemas"].get(&name).is_some(),
            "{name} is defined"
        );
    }
    hl.shutdown().await;
}
