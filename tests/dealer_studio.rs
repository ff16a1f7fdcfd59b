//! Dealer Studio's lead export, powered by Hookline end to end: one lead to webhooks pinned to
//! schema versions v1, v2 and v3 (v3 adds `appointments` and `has_test_drives`; v1 and v2 have
//! neither), rendered from the one stored event by the catalogue's declarative versions, each
//! body signed as sent; the API bearer token every request carries, never shown by the API.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::*;

const TENANT: &str = "orange-motor-group";
const TOKEN: &str = "ds-live-3b1f9a7c5e";

fn lead() -> Value {
    samples("dealer-studio")[0]["data"].clone()
}

#[tokio::test]
async fn one_lead_reaches_v1_v2_and_v3_webhooks_as_each_version_documents() {
    let (_hl, api) = hookline("1s").await;
    api.import("dealer-studio").await;
    let (_, declared) = api.get("/v1/event-types/lead.exported").await;
    let versions: Vec<&String> = declared["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, ["v1", "v2", "v3"]);

    let crm = Receiver::ok().await;
    let mut subs = Vec::new();
    for v in ["v1", "v2", "v3"] {
        let sub = api
            .subscribe(json!({
                "tenant_id": TENANT, "name": format!("Lead export {v}"),
                "url": crm.url(&format!("/leads/{v}")), "event_types": ["lead.exported"],
                "payload_format": "raw", "payload_version": v,
                "auth": {"type": "bearer", "token": TOKEN}
            }))
            .await;
        assert_eq!(sub["payload_version"], v);
        subs.push((v, sub));
    }
    // a version the type does not declare is refused at creation
    let (status, err) = api
        .post(
            "/v1/subscriptions",
            json!({"tenant_id": TENANT, "url": crm.url("/v4"),
            "event_types": ["lead.exported"], "payload_version": "v4"}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("unknown_payload_version")),
        "{err}"
    );

    let event = api
        .send_event(json!({"tenant_id": TENANT, "type": "lead.exported", "data": lead()}))
        .await;
    let got = crm.wait_for(3, Duration::from_secs(10)).await;
    let mut without = lead();
    without.as_object_mut().unwrap().remove("appointments");
    without.as_object_mut().unwrap().remove("has_test_drives");
    for (v, sub) in &subs {
        let r = got
            .iter()
            .find(|r| r.path == format!("/leads/{v}"))
            .unwrap_or_else(|| panic!("{v} delivered"));
        let body = r.json();
        if *v == "v3" {
            assert_eq!(body, lead(), "v3 is the lead as exported");
            assert_eq!(body["appointments"].as_array().unwrap().len(), 2);
            assert_eq!(body["has_test_drives"], true);
        } else {
            assert_eq!(
                body, without,
                "{v} has neither appointments nor has_test_drives"
            );
        }
        assert_eq!(r.header("authorization"), format!("Bearer {TOKEN}"));
        // the signature covers the body as rendered for this version
        standardwebhooks::Webhook::new(sub["secret"].as_str().unwrap())
            .unwrap()
            .verify(&r.body, &r.header_map())
            .unwrap_or_else(|e| panic!("{v}: {e}"));

        // the token is never shown: not in the view, not in the logged request
        let (_, view) = api
            .get(&format!(
                "/v1/subscriptions/{}",
                sub["id"].as_str().unwrap()
            ))
            .await;
        assert!(!view.to_string().contains(TOKEN), "{view}");
        assert_eq!(view["auth"]["type"], "bearer");
        let ds = api.deliveries_of_event(&event).await;
        let d = ds
            .iter()
            .find(|d| d["subscription_id"] == sub["id"])
            .unwrap();
        let (_, logged) = api
            .get(&format!(
                "/v1/deliveries/{}?include=request",
                d["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            logged["request"]["body"], body,
            "{v}: the log shows the body as sent"
        );
        assert_eq!(logged["request"]["headers"]["authorization"], "[redacted]");
        assert!(!logged.to_string().contains(TOKEN));
    }

    // a webhook moved from v3 to v1 gets the next lead in v1
    let v3 = &subs[2].1;
    let (status, moved) = api
        .call(
            "PATCH",
            &format!("/v1/subscriptions/{}", v3["id"].as_str().unwrap()),
            Some(r#"{"payload_version": "v1"}"#),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    api.send_event(json!({"tenant_id": TENANT, "type": "lead.exported", "data": lead()}))
        .await;
    let got = crm.wait_for(6, Duration::from_secs(10)).await;
    let latest = got.iter().rev().find(|r| r.path == "/leads/v3").unwrap();
    assert_eq!(latest.json(), without);
}
