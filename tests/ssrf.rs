//! Destinations Hookline refuses unless started with `--allow-private-destinations`: at
//! subscription creation (IP literals, any spelling, and localhost names) and at delivery time
//! through the resolver (names that resolve to such addresses), with a test resolver.

mod support;

use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;
use support::*;

/// Refused when the subscription is created.
const REFUSED_LITERALS: &[&str] = &[
    "http://127.0.0.1/",
    "http://127.1.2.3:8080/hook",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://0.0.0.0/",
    "http://0/",
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",
    "http://100.127.255.254/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.0.1/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://192.0.2.10/",
    "http://198.51.100.10/",
    "http://203.0.113.10/",
    "http://198.18.0.1/",
    "http://192.0.0.8/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://017700000001/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::127.0.0.1]/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a00:1::1]/",
    "http://[2001:db8::1]/",
];

/// Names that resolve (in the test resolver) to refused addresses: accepted at creation,
/// refused on every attempt before any connection.
const REFUSED_BY_DNS: &[(&str, &str)] = &[
    ("loopback.example.com", "127.0.0.1"),
    ("private.example.com", "10.1.2.3"),
    ("metadata.example.com", "169.254.169.254"),
    ("ula.example.com", "fd00:ec2::254"),
    ("mapped.example.com", "::ffff:192.168.1.1"),
    ("cgnat.example.com", "100.64.1.1"),
];

#[tokio::test]
async fn refuses_non_public_destinations_at_creation_and_at_delivery() {
    let rx = Receiver::ok().await;
    let mut cfg = config("100ms");
    cfg.settings.allow_private_destinations = false;
    for (name, ip) in REFUSED_BY_DNS {
        cfg.fixed_dns
            .insert(name.to_string(), vec![ip.parse::<IpAddr>().unwrap()]);
    }
    // one public and one private address: refused as a whole
    cfg.fixed_dns.insert(
        "mixed.example.com".into(),
        vec![
            "93.184.216.34".parse().unwrap(),
            "10.0.0.7".parse().unwrap(),
        ],
    );
    let (hl, api) = start(cfg).await;

    assert!(REFUSED_LITERALS.len() + REFUSED_BY_DNS.len() + 1 >= 30);
    for url in REFUSED_LITERALS {
        let (status, err) = api
            .post(
                "/v1/subscriptions",
                json!({"tenant_id": "d", "url": url, "event_types": ["*"]}),
            )
            .await;
        assert_eq!(status, 400, "{url}: {err}");
        assert_eq!(
            err["error"]["code"], "destination_not_allowed",
            "{url}: {err}"
        );
    }
    for url in [
        "https://crm.example.com/hooks",
        "http://93.184.216.34/hook",
        "https://[2606:4700:4700::1111]/h",
    ] {
        let (status, body) = api
            .post(
                "/v1/subscriptions",
                json!({"tenant_id": "public", "url": url, "event_types": ["lead.*"]}),
            )
            .await;
        assert_eq!(status, 201, "{url} is public: {body}");
    }

    let names: Vec<&str> = REFUSED_BY_DNS
        .iter()
        .map(|(n, _)| *n)
        .chain(["mixed.example.com"])
        .collect();
    for name in &names {
        let url = format!("http://{name}:{}/", rx.addr.port());
        api.subscribe(json!({"tenant_id": "dns", "url": url, "event_types": ["*"]}))
            .await;
    }
    let event = api
        .send_event(json!({"tenant_id": "dns", "type": "lead.created", "data": {}}))
        .await;
    let ds = api
        .wait_deliveries(&event, Duration::from_secs(10), |d| {
            d.len() == names.len() && all_status(d, "failed")
        })
        .await;
    for d in &ds {
        let attempts = d["attempts"].as_array().unwrap();
        assert_eq!(
            attempts.len(),
            1,
            "refused destinations are not retried: {d}"
        );
        assert!(
            attempts[0]["error"]
                .as_str()
                .unwrap()
                .contains("not a public address"),
            "{d}"
        );
    }
    assert!(
        rx.received().is_empty(),
        "no request reached a private address"
    );
    hl.shutdown().await;
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_not_followed() {
    let internal = Receiver::ok().await;
    let rx = Receiver::start(
        vec![],
        Reply::StatusWith(
            302,
            vec![(
                "location",
                "http://169.254.169.254/latest/meta-data/".into(),
            )],
            String::new(),
        ),
    )
    .await;
    let (hl, api) = hookline("").await; // local mode, so the first hop (loopback) is allowed
    api.subscribe(json!({"tenant_id": "d", "url": rx.url("/"), "event_types": ["*"]}))
        .await;
    let event = api
        .send_event(json!({"tenant_id": "d", "type": "lead.created", "data": {}}))
        .await;
    let ds = api
        .wait_deliveries(&event, Duration::from_secs(10), |d| all_status(d, "failed"))
        .await;
    let error = ds[0]["attempts"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("redirect to http://169.254.169.254/latest/meta-data/ not followed"),
        "{error}"
    );
    assert!(internal.received().is_empty());
    hl.shutdown().await;
}

#[tokio::test]
async fn https_only_deployments_refuse_plain_http() {
    let mut cfg = config("1s");
    cfg.settings.require_https = true;
    let (hl, api) = start(cfg).await;
    let (status, err) = api
        .post(
            "/v1/subscriptions",
            json!({"tenant_id": "d", "url": "http://crm.example.com/", "event_types": ["*"]}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (400, json!("invalid_url"))
    );
    assert_eq!(
        api.post(
            "/v1/subscriptions",
            json!({"tenant_id": "d", "url": "https://crm.example.com/", "event_types": ["*"]})
        )
        .await
        .0,
        201
    );
    hl.shutdown().await;
}
