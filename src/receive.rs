//! `hookline receive`: a receiver for trying Hookline out. It prints each webhook, checks its
//! Standard Webhooks signature when given the secret, and answers with a chosen status.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use hookline_core::signing::{Secret, sign_standard};
use std::net::SocketAddr;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Checks `webhook-signature` (any of its space-separated `v1,` signatures) against the secret.
pub fn verify(secret: &Secret, headers: &HeaderMap, body: &[u8]) -> bool {
    let id = header(headers, "webhook-id");
    let Ok(ts) = header(headers, "webhook-timestamp").parse::<i64>() else {
        return false;
    };
    let expected = sign_standard(secret, id, ts, body);
    header(headers, "webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

pub async fn run(
    listen: SocketAddr,
    secret: Option<String>,
    status: u16,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let status = StatusCode::from_u16(status)?;
    let secret = secret.map(Secret::from_string);
    let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let secret = secret.clone();
        async move {
            let signature = match &secret {
                Some(s) if verify(s, &headers, &body) => "valid",
                Some(_) => "INVALID",
                None => "not checked (pass --secret)",
            };
            println!(
                "POST {uri}\n  webhook-id: {}\n  webhook-timestamp: {}\n  signature: {signature}\n  body: {}\n",
                header(&headers, "webhook-id"),
                header(&headers, "webhook-timestamp"),
                String::from_utf8_lossy(&body)
            );
            status
        }
    });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "Receiving webhooks on http://{}/ (answering {status})",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::signing::signature_headers;

    #[test]
    fn verifies_any_of_the_signatures_and_refuses_tampering() {
        let (old, new) = (Secret::generate(), Secret::generate());
        let mut headers = HeaderMap::new();
        for (k, v) in signature_headers(&[&new, &old], None, "evt_1", 1_700_000_000, b"{}") {
            headers.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        assert!(verify(&old, &headers, b"{}"));
        assert!(verify(&new, &headers, b"{}"));
        assert!(!verify(&new, &headers, b"{ }"));
        assert!(!verify(&Secret::generate(), &headers, b"{}"));
    }
}
