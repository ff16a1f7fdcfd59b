//! The HTTP sender on real sockets: what it sends, what it keeps, what it refuses.

mod support;

use hookline_core::delivery::RESPONSE_BODY_LIMIT;
use hookline_core::destination::DestinationPolicy;
use hookline_core::ports::TransportErrorKind;
use hookline_core::ports::{OutboundRequest, Sender};
use hookline_sender::{CheckedResolver, HttpSender};
use std::collections::HashMap;
use std::time::Duration;
use support::*;

fn request(url: String) -> OutboundRequest {
    OutboundRequest {
        method: hookline_core::subscription::HttpMethod::Post,
        url,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-extra".into(), "1".into()),
        ],
        body: br#"{"id":"evt_1","data":{"k":"v"}}"#.to_vec(),
        timeout: Duration::from_secs(2),
    }
}

const LOCAL: DestinationPolicy = DestinationPolicy {
    allow_private: true,
    require_https: false,
};
const PUBLIC_ONLY: DestinationPolicy = DestinationPolicy {
    allow_private: false,
    require_https: false,
};

#[tokio::test]
async fn sends_the_exact_bytes_and_headers_and_keeps_a_bounded_body() {
    let big = "x".repeat(100 * 1024);
    let rx = Receiver::start(vec![], Reply::StatusWith(200, vec![], big)).await;
    let sender = HttpSender::new(LOCAL);
    let req = request(rx.url("/in"));
    let resp = sender.send(req.clone()).await.expect("delivered");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), RESPONSE_BODY_LIMIT);
    let got = &rx.received()[0];
    assert_eq!(got.body, req.body);
    assert_eq!(got.header("x-extra"), "1");
    assert_eq!(got.header("content-length"), req.body.len().to_string());
}

#[tokio::test]
async fn private_literals_are_refused_without_connecting() {
    let rx = Receiver::ok().await;
    let sender = HttpSender::new(PUBLIC_ONLY);
    for url in [
        rx.url("/"),
        format!("http://[::1]:{}/", rx.addr.port()),
        format!("http://2130706433:{}/", rx.addr.port()),
    ] {
        let err = sender.send(request(url.clone())).await.unwrap_err();
        assert_eq!(
            err.kind,
            TransportErrorKind::DestinationNotAllowed,
            "{url}: {err:?}"
        );
    }
    assert!(rx.received().is_empty());
}

#[tokio::test]
async fn names_resolving_to_private_addresses_are_refused() {
    let rx = Receiver::ok().await;
    let answers = HashMap::from([
        (
            "rebind.example.com".to_string(),
            vec!["127.0.0.1".parse().unwrap()],
        ),
        (
            "mixed.example.com".to_string(),
            vec![
                "93.184.216.34".parse().unwrap(),
                "10.0.0.5".parse().unwrap(),
            ],
        ),
        (
            "metadata.example.com".to_string(),
            vec!["169.254.169.254".parse().unwrap()],
        ),
    ]);
    let sender = HttpSender::with_resolver(
        PUBLIC_ONLY,
        CheckedResolver::new(PUBLIC_ONLY).with_fixed_answers(answers),
    );
    for host in [
        "rebind.example.com",
        "mixed.example.com",
        "metadata.example.com",
        "localhost",
    ] {
        let url = format!("http://{host}:{}/", rx.addr.port());
        let err = sender.send(request(url)).await.unwrap_err();
        assert_eq!(
            err.kind,
            TransportErrorKind::DestinationNotAllowed,
            "{host}: {err:?}"
        );
    }
    assert!(rx.received().is_empty());
}

#[tokio::test]
async fn refused_connections_and_timeouts_are_classified() {
    let sender = HttpSender::new(LOCAL);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = sender
        .send(request(format!("http://{closed}/")))
        .await
        .unwrap_err();
    assert_eq!(err.kind, TransportErrorKind::Connect, "{err:?}");

    let rx = Receiver::start(vec![], Reply::Hang).await;
    let mut req = request(rx.url("/"));
    req.timeout = Duration::from_millis(300);
    let err = sender.send(req).await.unwrap_err();
    assert_eq!(err.kind, TransportErrorKind::Timeout);
    assert_eq!(err.message, "timed out after 300 ms");
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let target = Receiver::ok().await;
    let rx = Receiver::start(
        vec![],
        Reply::StatusWith(307, vec![("location", target.url("/moved"))], String::new()),
    )
    .await;
    let resp = HttpSender::new(LOCAL)
        .send(request(rx.url("/")))
        .await
        .unwrap();
    assert_eq!(resp.status, 307);
    assert_eq!(
        resp.location.as_deref(),
        Some(target.url("/moved").as_str())
    );
    assert!(target.received().is_empty());
}
