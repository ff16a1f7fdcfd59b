//! The five platforms' event catalogues (`events/catalog/`), imported as a user would (the API,
//! and `hookline event-types import`), enforced at ingest: every sample in `events/samples/` is
//! accepted, and the same sample with a required field missing, or a field of the wrong type,
//! is refused with 422 `schema_validation_failed` and the pointer of the problem, storing nothing.

mod support;

use serde_json::{Value, json};
use support::*;

const PLATFORMS: [&str; 5] = ["carbuddy", "dms", "dealer-studio", "botdog", "dealerai"];

/// A copy of `data` without its first required top-level field, and that field's name.
fn without_a_required_field(schema: &Value, data: &Value) -> Option<(Value, String)> {
    let mut required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    // DealerAI's required fields live in the shared definitions the schema refers to
    for def in schema["$defs"]
        .as_object()
        .into_iter()
        .flat_map(|d| d.values())
    {
        required.extend(
            def["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
    }
    let field = required.into_iter().find(|f| data.get(*f).is_some())?;
    let mut broken = data.clone();
    broken.as_object_mut().unwrap().remove(field);
    Some((broken, field.to_string()))
}

#[tokio::test]
async fn every_catalogue_imports_and_every_sample_validates() {
    let (hl, api) = hookline("1s").await;
    let mut declared = 0;
    for platform in PLATFORMS {
        let catalogue = catalogue(platform);
        let report = api.import(platform).await;
        let names: Vec<&str> = catalogue["event_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            report["created"].as_array().unwrap().len(),
            names.len(),
            "{platform}: {report}"
        );
        declared += names.len();
        let samples = samples(platform);
        assert_eq!(
            samples.len(),
            names.len(),
            "{platform}: one sample per type"
        );
        for sample in samples {
            let t = sample["type"].as_str().unwrap();
            assert!(
                names.contains(&t),
                "{platform}: sample of an undeclared type {t}"
            );
            let tenant = format!("{platform}-dealer");
            api.send_event(json!({"tenant_id": tenant, "type": t, "data": sample["data"]}))
                .await;

            let (_, stored) = api.get(&format!("/v1/event-types/{t}")).await;
            let (broken, field) = without_a_required_field(&stored["schema"], &sample["data"])
                .unwrap_or_else(|| panic!("{platform} {t}: the schema requires a top-level field"));
            let (status, err) = api
                .post(
                    "/v1/events",
                    json!({"tenant_id": tenant, "type": t, "data": broken}),
                )
                .await;
            assert_eq!(status, 422, "{platform} {t} without {field}: {err}");
            assert_eq!(err["error"]["code"], "schema_validation_failed");
            let details = err["error"]["details"].as_array().unwrap();
            assert!(
                details
                    .iter()
                    .any(|d| d["pointer"] == "/data"
                        && d["message"].as_str().unwrap().contains(&field)),
                "{platform} {t}: the problem names `{field}` at /data: {err}"
            );
        }
    }
    let (_, list) = api.get("/v1/event-types").await;
    assert_eq!(list["data"].as_array().unwrap().len(), declared);
    // the refused events stored nothing: only the samples are in the outbox or fanned out
    let stored = hl
        .hookline
        .store
        .events_awaiting_fanout(1000)
        .await
        .unwrap()
        .len();
    assert!(
        stored <= declared,
        "{stored} events stored for {declared} samples"
    );

    // importing again changes nothing
    let again = api.import("dealerai").await;
    assert_eq!(again["unchanged"].as_array().unwrap().len(), 23, "{again}");
    assert!(again["created"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_type_is_refused_with_its_pointer_and_a_typo_with_the_missing_field() {
    let (_hl, api) = hookline("1s").await;
    api.import("dealerai").await;
    let mut data = samples("dealerai")
        .into_iter()
        .find(|s| s["type"] == "lead.created")
        .unwrap()["data"]
        .clone();
    data["timestamp"] = json!("yesterday");
    let lead_id = data.as_object_mut().unwrap().remove("leadId").unwrap();
    data["leadID"] = lead_id;
    let (status, err) = api
        .post(
            "/v1/events",
            json!({"tenant_id": "d1", "type": "lead.created", "data": data}),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    let pointers: Vec<&str> = err["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/data/timestamp"), "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("leadId"),
        "{err}"
    );
}

/// Runs `hookline` with `args` off the test's runtime (which serves the API it calls).
async fn cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hookline"))
            .args(args)
            .env("HOOKLINE_API_KEY", ADMIN_KEY)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_command_line_imports_a_catalogue_into_a_running_deployment() {
    let (_hl, api) = hookline("1s").await;
    let file = format!("{}/events/catalog/dms.json", env!("CARGO_MANIFEST_DIR"));
    let args = [
        "event-types",
        "import",
        &file,
        "--url",
        api.base(),
        "--tenant-id",
        "dealer-7",
    ];
    let out = cli(args.iter().map(|a| a.to_string()).collect()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("\"created\":[\"vehicle.created\""),
        "{printed}"
    );
    // a tenant's own types: not the deployment's
    let (_, own) = api.get("/v1/event-types?tenant_id=dealer-7").await;
    assert_eq!(own["data"].as_array().unwrap().len(), 12);
    assert_eq!(own["data"][0]["tenant_id"], "dealer-7");
    let (_, everyone) = api.get("/v1/event-types").await;
    assert!(everyone["data"].as_array().unwrap().is_empty());
    // a refused import says why and exits non-zero
    let bad = support::temp_dir("bad-catalogue");
    std::fs::create_dir_all(&bad).unwrap();
    let bad = bad.join("bad.json");
    std::fs::write(&bad, r#"{"event_types": [{"name": "lead.*"}]}"#).unwrap();
    let args = [
        "event-types",
        "import",
        bad.to_str().unwrap(),
        "--url",
        api.base(),
    ];
    let out = cli(args.iter().map(|a| a.to_string()).collect()).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_event_type"));
}

#[tokio::test]
async fn a_scope_declares_at_most_1000_types_and_an_import_past_it_writes_nothing() {
    let (_hl, api) = hookline("1s").await;
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"name": format!("t.n{i:04}")}))
        .collect();
    let (status, err) = api
        .post(
            "/v1/event-types/import",
            json!({"event_types": many[..1001]}),
        )
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "too_many_event_types");
    let (_, list) = api.get("/v1/event-types").await;
    assert!(
        list["data"].as_array().unwrap().is_empty(),
        "nothing written"
    );
    let report = api
        .post(
            "/v1/event-types/import",
            json!({"event_types": many[..1000]}),
        )
        .await;
    assert_eq!(report.0, 200, "{}", report.1);
    let (status, err) = api
        .post("/v1/event-types", json!({"name": "t.one_more"}))
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("too_many_event_types"))
    );
    // below the limit again, a second declaration of a name is a conflict, not a change
    let (status, _) = api.call("DELETE", "/v1/event-types/t.n0999", None).await;
    assert_eq!(status, 204);
    let (status, err) = api
        .post("/v1/event-types", json!({"name": "t.n0000"}))
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("event_type_exists"))
    );
}
