//! The outbound request of one attempt: the rendered payload, signed, with the subscription's
//! headers. Receivers dedupe on `webhook-id`, the event id, the same on every retry and the same
//! as the body's top-level `id`.

use crate::clock::Timestamp;
use crate::event::Event;
use crate::event_type::PayloadVersion;
use crate::payload;
use crate::ports::OutboundRequest;
use crate::signing::signature_headers;
use crate::subscription::Subscription;

pub const USER_AGENT: &str = concat!("Hookline/", env!("CARGO_PKG_VERSION"));

/// The signed request for one attempt at `at`; `version` is the subscription's payload
/// version as the event's type declares it, if it does.
pub fn build_request(
    sub: &Subscription,
    event: &Event,
    version: Option<&PayloadVersion>,
    at: Timestamp,
) -> OutboundRequest {
    let body = payload::render(event, sub.payload_format, version);
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("user-agent".to_string(), USER_AGENT.to_string()),
    ];
    headers.extend(signature_headers(
        &sub.signing_secrets(at),
        sub.hex_signature_header.as_deref(),
        event.id.as_str(),
        at.seconds(),
        &body,
    ));
    // Custom headers are validated never to collide with the ones above, but user-agent may be
    // overridden.
    for (k, v) in &sub.headers {
        if k.eq_ignore_ascii_case("user-agent") {
            headers.retain(|(name, _)| name != "user-agent");
        }
        headers.push((k.clone(), v.clone()));
    }
    if let Some(auth) = &sub.auth {
        let (name, value) = auth.header();
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        headers.push((name, value));
    }
    OutboundRequest {
        method: sub.method,
        url: sub.url.clone(),
        headers,
        body,
        timeout: sub.timeout(),
    }
}

/// What the delivery log shows in place of a signature or a credential.
pub const REDACTED: &str = "[redacted]";

/// The request an attempt at `at` sends, as the delivery log shows it: what [`build_request`]
/// makes, with the signatures' and the credential's values redacted. The body is rendered
/// again from the stored event (events never change) with the subscription's settings.
pub fn as_logged(
    sub: &Subscription,
    event: &Event,
    version: Option<&PayloadVersion>,
    at: Timestamp,
) -> OutboundRequest {
    let mut request = build_request(sub, event, version, at);
    let mut secret: Vec<String> = vec!["webhook-signature".into()];
    secret.extend(
        sub.hex_signature_header
            .as_deref()
            .map(str::to_ascii_lowercase),
    );
    secret.extend(sub.auth.as_ref().map(|a| a.header().0));
    for (name, value) in &mut request.headers {
        let lower = name.to_ascii_lowercase();
        if secret.contains(&lower) || crate::subscription::auth::is_credential_header(&lower) {
            *value = REDACTED.to_string();
        }
    }
    request
}

/// The host (and port) of a subscription URL, for logs: paths and query strings can carry
/// receivers' tokens, so they are never logged.
pub fn endpoint_host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_name_the_host_never_the_path() {
        assert_eq!(
            endpoint_host("https://crm.example.com:8443/hooks?token=secret"),
            "crm.example.com:8443"
        );
        assert_eq!(
            endpoint_host("https://crm.example.com/t/secret"),
            "crm.example.com"
        );
        assert_eq!(endpoint_host("not a url"), "");
    }
}
