//! Field rules of a subscription: URL (with the destination policy), event patterns, texts,
//! timeout, attribute filter and custom headers. Each refusal has its own code.

use super::*;

pub fn validate_url(raw: &str, policy: &DestinationPolicy) -> Result<String> {
    let bad = |msg: String| Error::invalid(ErrorCode::InvalidUrl, msg);
    if raw.len() > MAX_URL_LEN {
        return Err(bad(format!(
            "`url` is longer than {MAX_URL_LEN} characters"
        )));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(format!("`url` is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("`url` must use http or https".into()));
    }
    if policy.require_https && url.scheme() != "https" {
        return Err(bad("`url` must use https on this deployment".into()));
    }
    if url.host().is_none() {
        return Err(bad("`url` must have a host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "`url` must not carry credentials; send them as a custom header instead".into(),
        ));
    }
    if url.fragment().is_some() {
        return Err(bad("`url` must not have a #fragment".into()));
    }
    destination::check_url_host(&url, policy)?;
    Ok(url.to_string())
}

pub(super) fn parse_event_types(types: &[String]) -> Result<Vec<EventTypePattern>> {
    if types.is_empty() || types.len() > MAX_EVENT_TYPES {
        return Err(Error::invalid(
            ErrorCode::InvalidEventTypes,
            format!("`event_types` must list 1-{MAX_EVENT_TYPES} event types or patterns"),
        ));
    }
    let mut out: Vec<EventTypePattern> = Vec::with_capacity(types.len());
    for t in types {
        let p = EventTypePattern::parse(t)?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

pub(super) fn validate_text(field: &str, v: Option<String>, max: usize) -> Result<Option<String>> {
    match v {
        Some(s) if s.chars().count() > max => Err(Error::invalid(
            ErrorCode::InvalidText,
            format!("`{field}` is longer than {max} characters"),
        )),
        other => Ok(other),
    }
}

pub(super) fn validate_rate_limit(limit: Option<u32>) -> Result<Option<u32>> {
    use crate::pacing::MAX_RATE_PER_SEC;
    match limit {
        Some(n) if n == 0 || n > MAX_RATE_PER_SEC => Err(Error::invalid(
            ErrorCode::InvalidRateLimit,
            format!("`rate_limit_per_sec` is between 1 and {MAX_RATE_PER_SEC}"),
        )),
        other => Ok(other),
    }
}

pub(super) fn validate_payload_version(v: Option<String>) -> Result<Option<String>> {
    match v {
        None => Ok(None),
        Some(name) => {
            crate::event_type::version::validate_name(&name)?;
            Ok(Some(name))
        }
    }
}

pub(super) fn validate_timeout(t: Option<u64>) -> Result<u64> {
    match t {
        None => Ok(DEFAULT_TIMEOUT_MS),
        Some(ms) if (MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&ms) => Ok(ms),
        Some(_) => Err(Error::invalid(
            ErrorCode::InvalidTimeout,
            format!("`timeout_ms` must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"),
        )),
    }
}

pub(super) fn validate_filter(f: Option<Filter>) -> Result<Option<Filter>> {
    let Some(f) = f else { return Ok(None) };
    if f.is_empty() {
        return Ok(None);
    }
    if f.len() > MAX_FILTER_KEYS {
        return Err(Error::invalid(
            ErrorCode::InvalidFilter,
            format!("`filter` may name at most {MAX_FILTER_KEYS} attributes"),
        ));
    }
    for (k, values) in &f {
        if values.is_empty() || values.len() > MAX_FILTER_VALUES {
            return Err(Error::invalid(
                ErrorCode::InvalidFilter,
                format!(
                    "`filter.{}` must list 1-{MAX_FILTER_VALUES} allowed values",
                    truncate(k, 64)
                ),
            ));
        }
    }
    Ok(Some(f))
}

pub(super) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(super) fn is_reserved(name_lower: &str) -> bool {
    name_lower.starts_with("webhook-") || RESERVED_HEADERS.contains(&name_lower)
}

/// An `auth` credential, whose header must not be one Hookline sets (nor the hex signature).
pub(super) fn validate_auth(a: OutboundAuth, sub: &Subscription) -> Result<OutboundAuth> {
    let hex = sub
        .hex_signature_header
        .as_deref()
        .map(str::to_ascii_lowercase);
    a.validate(|lower| is_reserved(lower) || hex.as_deref() == Some(lower))
}

pub(super) fn validate_hex_header(h: Option<String>) -> Result<Option<String>> {
    let Some(h) = h else { return Ok(None) };
    if !is_token(&h) || is_reserved(&h.to_ascii_lowercase()) {
        return Err(Error::invalid(
            ErrorCode::InvalidHeader,
            format!(
                "`hex_signature_header` `{}` must be a valid HTTP header name (up to 64 characters) that Hookline does not set itself",
                truncate(&h, 80)
            ),
        ));
    }
    Ok(Some(h))
}

/// Custom headers; `new` says they were given in this request (credentials are refused in new
/// headers, while a subscription stored with one before `auth` existed can still be changed).
pub(super) fn validate_headers(
    headers: BTreeMap<String, String>,
    sub: &Subscription,
    new: bool,
) -> Result<BTreeMap<String, String>> {
    if headers.len() > MAX_HEADERS {
        return Err(Error::invalid(
            ErrorCode::InvalidHeader,
            format!("at most {MAX_HEADERS} custom headers are allowed"),
        ));
    }
    let hex = sub
        .hex_signature_header
        .as_deref()
        .map(str::to_ascii_lowercase);
    for (name, value) in &headers {
        let lower = name.to_ascii_lowercase();
        if !is_token(name) {
            return Err(Error::invalid(
                ErrorCode::InvalidHeader,
                format!("`{}` is not a valid HTTP header name", truncate(name, 80)),
            ));
        }
        if new && super::auth::is_credential_header(&lower) {
            return Err(Error::invalid(
                ErrorCode::CredentialHeader,
                format!(
                    "header `{name}` carries a credential: set it as `auth` instead ({{\"type\": \"bearer\", \"token\": ...}}, {{\"type\": \"header\", \"name\": \"{name}\", \"value\": ...}} or {{\"type\": \"basic\", ...}}), which is stored like the signing secret and never shown again"
                ),
            ));
        }
        if is_reserved(&lower) || hex.as_deref() == Some(lower.as_str()) {
            return Err(Error::invalid(
                ErrorCode::ReservedHeader,
                format!("header `{name}` is set by Hookline and cannot be overridden"),
            ));
        }
        let value_ok = value.len() <= MAX_HEADER_VALUE_LEN
            && value
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
        if !value_ok {
            return Err(Error::invalid(
                ErrorCode::InvalidHeader,
                format!(
                    "header `{name}` must be printable ASCII of at most {MAX_HEADER_VALUE_LEN} bytes"
                ),
            ));
        }
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> DestinationPolicy {
        DestinationPolicy {
            allow_private: false,
            require_https: false,
        }
    }

    fn create(v: serde_json::Value) -> Result<Subscription> {
        let mut n = serde_json::from_value::<NewSubscription>(v).unwrap();
        let tenant = TenantId::parse(n.tenant_id.take().unwrap())?;
        n.into_subscription(tenant, Timestamp(0), &policy())
    }

    fn base() -> serde_json::Value {
        json!({"tenant_id": "dealer-1", "url": "https://crm.example.com/hooks", "event_types": ["lead.*"]})
    }

    fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
        let mut b = base();
        b[field] = value;
        b
    }

    #[test]
    fn creation_applies_defaults_and_generates_a_secret() {
        let s = create(base()).unwrap();
        assert!(s.enabled);
        assert_eq!(s.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(s.payload_format, PayloadFormat::Standard);
        assert!(s.secret.as_str().starts_with("whsec_"));
        assert!(s.id.as_str().starts_with("sub_"));
    }

    #[test]
    fn invalid_subscriptions_are_refused_with_codes() {
        let cases = [
            (with("url", json!("ftp://x.example.com")), "invalid_url"),
            (with("url", json!("not a url")), "invalid_url"),
            (
                with("url", json!("https://user:pw@x.example.com/")),
                "invalid_url",
            ),
            (
                with("url", json!("http://127.0.0.1:9000/")),
                "destination_not_allowed",
            ),
            (
                with("url", json!("http://localhost/")),
                "destination_not_allowed",
            ),
            (
                with("url", json!("http://[::1]/")),
                "destination_not_allowed",
            ),
            (
                with("url", json!("http://169.254.169.254/latest/meta-data")),
                "destination_not_allowed",
            ),
            (with("event_types", json!([])), "invalid_event_types"),
            (
                with("event_types", json!(["lead.*.x"])),
                "invalid_event_type",
            ),
            (with("timeout_ms", json!(60_000)), "invalid_timeout"),
            (
                with("headers", json!({"webhook-id": "x"})),
                "reserved_header",
            ),
            (
                with("headers", json!({"Content-Type": "text/plain"})),
                "reserved_header",
            ),
            (
                with("headers", json!({"bad header": "x"})),
                "invalid_header",
            ),
            (
                with("headers", json!({"X-Ok": "line\nbreak"})),
                "invalid_header",
            ),
            (
                with("hex_signature_header", json!("webhook-signature")),
                "invalid_header",
            ),
            (with("filter", json!({"campaign": []})), "invalid_filter"),
            (with("tenant_id", json!("a b")), "invalid_tenant_id"),
        ];
        for (body, code) in cases {
            assert_eq!(create(body.clone()).unwrap_err().code, code, "{body}");
        }
    }

    #[test]
    fn custom_header_may_not_shadow_the_hex_signature_header() {
        let mut b = with("hex_signature_header", json!("X-CarBuddy-Signature"));
        b["headers"] = json!({"x-carbuddy-signature": "forged"});
        assert_eq!(create(b).unwrap_err().code, "reserved_header");
    }

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let mut b = with("name", json!("CRM"));
        b["description"] = json!("keeps");
        let s = create(b).unwrap();
        let patch: SubscriptionPatch = serde_json::from_value(json!({"name": null})).unwrap();
        let next = patch.apply(&s, Timestamp(5), &policy()).unwrap();
        assert_eq!(next.name, None);
        assert_eq!(next.description.as_deref(), Some("keeps"));
        assert_eq!(next.updated_at, Timestamp(5));
    }

    #[test]
    fn credentials_in_new_headers_are_refused_but_a_stored_one_does_not_block_a_patch() {
        let refused = create(with("headers", json!({"X-Api-Key": "k"}))).unwrap_err();
        assert_eq!(refused.code, ErrorCode::CredentialHeader);
        assert!(refused.message.contains("auth"), "{}", refused.message);
        // stored before `auth` existed
        let mut legacy = create(base()).unwrap();
        legacy
            .headers
            .insert("Authorization".into(), "Bearer old".into());
        let pause: SubscriptionPatch = serde_json::from_value(json!({"enabled": false})).unwrap();
        let paused = pause.apply(&legacy, Timestamp(5), &policy()).unwrap();
        assert!(!paused.enabled);
        assert_eq!(paused.headers["Authorization"], "Bearer old");
        let again: SubscriptionPatch =
            serde_json::from_value(json!({"headers": {"Authorization": "Bearer new"}})).unwrap();
        assert_eq!(
            again
                .apply(&legacy, Timestamp(5), &policy())
                .unwrap_err()
                .code,
            ErrorCode::CredentialHeader
        );
    }

    #[test]
    fn invalid_patch_leaves_the_subscription_alone() {
        let s = create(base()).unwrap();
        let patch: SubscriptionPatch =
            serde_json::from_value(json!({"url": "gopher://x", "enabled": false})).unwrap();
        assert_eq!(
            patch.apply(&s, Timestamp(5), &policy()).unwrap_err().code,
            "invalid_url"
        );
        assert!(s.enabled);
    }

    #[test]
    fn https_only_deployments_refuse_http() {
        let p = DestinationPolicy {
            allow_private: false,
            require_https: true,
        };
        let n: NewSubscription =
            serde_json::from_value(with("url", json!("http://crm.example.com/"))).unwrap();
        assert_eq!(
            n.into_subscription(crate::TenantId::parse("t").unwrap(), Timestamp(0), &p)
                .unwrap_err()
                .code,
            "invalid_url"
        );
    }
}
