//! Subscriptions: an endpoint URL, the events it wants (exact names or patterns), an optional
//! attribute scope, and how deliveries to it are shaped and signed.

use crate::clock::Timestamp;
use crate::destination::{self, DestinationPolicy};
use crate::error::{Error, Result};
use crate::event::{truncate, validate_tenant_id};
use crate::ids::SubscriptionId;
use crate::matching::EventTypePattern;
use crate::signing::Secret;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

pub const MAX_EVENT_TYPES: usize = 50;
pub const MAX_FILTER_KEYS: usize = 10;
pub const MAX_FILTER_VALUES: usize = 100;
pub const MAX_HEADERS: usize = 20;
pub const MAX_HEADER_VALUE_LEN: usize = 1024;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_DESCRIPTION_LEN: usize = 1000;
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
pub const MIN_TIMEOUT_MS: u64 = 500;
pub const MAX_TIMEOUT_MS: u64 = 15_000;
pub const MAX_SUBSCRIPTIONS_PER_TENANT: u64 = 100;
/// How long the previous secret keeps signing after a rotation, unless asked otherwise.
pub const DEFAULT_ROTATION_GRACE_SECS: u64 = 24 * 3600;
pub const MAX_ROTATION_GRACE_SECS: u64 = 7 * 24 * 3600;

/// Headers Hookline sets itself; a subscription's custom headers may not override them.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "expect",
    "keep-alive",
    "proxy-authorization",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// `{"id", "type", "timestamp", "tenant_id", "data"}`.
    #[default]
    Standard,
    /// The event's `data` alone, for receivers with an existing payload shape.
    Raw,
}

/// Attribute scope: attribute name -> allowed values. An event matches when, for every key, it
/// carries that attribute with one of the allowed values ("specific campaigns only").
pub type Filter = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub tenant_id: String,
    pub url: String,
    pub event_types: Vec<EventTypePattern>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why Hookline disabled the subscription itself (e.g. the endpoint answered 410 Gone).
    pub disabled_reason: Option<String>,
    pub filter: Option<Filter>,
    pub headers: BTreeMap<String, String>,
    pub timeout_ms: u64,
    pub payload_format: PayloadFormat,
    pub hex_signature_header: Option<String>,
    pub secret: Secret,
    /// After a rotation, the old secret keeps signing until `previous_secret_expires_at`.
    #[serde(default)]
    pub previous_secret: Option<Secret>,
    #[serde(default)]
    pub previous_secret_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Subscription {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The secrets that sign a request made at `now`: the current one, then the previous one
    /// while its grace period lasts.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&Secret> {
        let mut out = vec![&self.secret];
        if let (Some(prev), Some(until)) = (&self.previous_secret, self.previous_secret_expires_at)
            && now < until
        {
            out.push(prev);
        }
        out
    }

    /// Replaces the secret; the old one keeps signing for `grace` (none when zero).
    pub fn rotate_secret(&mut self, grace: Duration, now: Timestamp) -> Result<()> {
        if grace.as_secs() > MAX_ROTATION_GRACE_SECS {
            return Err(Error::invalid(
                "invalid_grace_period",
                format!("the grace period is at most {MAX_ROTATION_GRACE_SECS} seconds (7 days)"),
            ));
        }
        let old = std::mem::replace(&mut self.secret, Secret::generate());
        (self.previous_secret, self.previous_secret_expires_at) = if grace.is_zero() {
            (None, None)
        } else {
            (Some(old), Some(now.plus(grace)))
        };
        self.updated_at = now;
        Ok(())
    }
}

/// `POST /v1/subscriptions` body, before validation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// Implied by a tenant key; required with the admin key.
    #[serde(default)]
    pub tenant_id: Option<String>,
    pub url: String,
    pub event_types: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Milliseconds per attempt (500-15000); unset: the deployment's delivery timeout
    /// (5000 unless configured).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub payload_format: Option<PayloadFormat>,
    #[serde(default)]
    pub hex_signature_header: Option<String>,
}

/// `PATCH /v1/subscriptions/{id}` body. For nullable fields, an absent key leaves the value
/// alone and an explicit `null` clears it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatch {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, Vec<String>>>)]
    pub filter: Option<Option<Filter>>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    pub timeout_ms: Option<Option<u64>>,
    #[serde(default)]
    pub payload_format: Option<PayloadFormat>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub hex_signature_header: Option<Option<String>>,
}

/// Marks a field that was present in the JSON (even as `null`) as `Some(..)`.
fn present<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl NewSubscription {
    /// Validates the request for `tenant_id` (resolved from the caller, see `access`).
    pub fn into_subscription(
        self,
        tenant_id: String,
        now: Timestamp,
        policy: &DestinationPolicy,
    ) -> Result<Subscription> {
        validate_tenant_id(&tenant_id)?;
        let mut sub = Subscription {
            id: SubscriptionId::generate(),
            tenant_id,
            url: validate_url(&self.url, policy)?,
            event_types: parse_event_types(&self.event_types)?,
            name: validate_text("name", self.name, MAX_NAME_LEN)?,
            description: validate_text("description", self.description, MAX_DESCRIPTION_LEN)?,
            enabled: self.enabled.unwrap_or(true),
            disabled_reason: None,
            filter: validate_filter(self.filter)?,
            headers: BTreeMap::new(),
            timeout_ms: validate_timeout(self.timeout_ms)?,
            payload_format: self.payload_format.unwrap_or_default(),
            hex_signature_header: validate_hex_header(self.hex_signature_header)?,
            secret: Secret::generate(),
            previous_secret: None,
            previous_secret_expires_at: None,
            created_at: now,
            updated_at: now,
        };
        sub.headers = validate_headers(self.headers.unwrap_or_default(), &sub)?;
        Ok(sub)
    }
}

impl SubscriptionPatch {
    /// Applies the patch to a copy of `sub`; the stored subscription changes only if this succeeds.
    pub fn apply(
        self,
        sub: &Subscription,
        now: Timestamp,
        policy: &DestinationPolicy,
    ) -> Result<Subscription> {
        let mut next = sub.clone();
        if let Some(url) = self.url {
            next.url = validate_url(&url, policy)?;
        }
        if let Some(types) = self.event_types {
            next.event_types = parse_event_types(&types)?;
        }
        if let Some(name) = self.name {
            next.name = validate_text("name", name, MAX_NAME_LEN)?;
        }
        if let Some(d) = self.description {
            next.description = validate_text("description", d, MAX_DESCRIPTION_LEN)?;
        }
        if let Some(enabled) = self.enabled {
            next.enabled = enabled;
            if enabled {
                next.disabled_reason = None;
            }
        }
        if let Some(f) = self.filter {
            next.filter = validate_filter(f)?;
        }
        if let Some(t) = self.timeout_ms {
            next.timeout_ms = validate_timeout(t)?;
        }
        if let Some(p) = self.payload_format {
            next.payload_format = p;
        }
        if let Some(h) = self.hex_signature_header {
            next.hex_signature_header = validate_hex_header(h)?;
        }
        let headers = self.headers.unwrap_or_else(|| next.headers.clone());
        next.headers = validate_headers(headers, &next)?;
        next.updated_at = now;
        Ok(next)
    }
}

pub fn validate_url(raw: &str, policy: &DestinationPolicy) -> Result<String> {
    let bad = |msg: String| Error::invalid("invalid_url", msg);
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

fn parse_event_types(types: &[String]) -> Result<Vec<EventTypePattern>> {
    if types.is_empty() || types.len() > MAX_EVENT_TYPES {
        return Err(Error::invalid(
            "invalid_event_types",
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

fn validate_text(field: &str, v: Option<String>, max: usize) -> Result<Option<String>> {
    match v {
        Some(s) if s.chars().count() > max => Err(Error::invalid(
            "invalid_text",
            format!("`{field}` is longer than {max} characters"),
        )),
        other => Ok(other),
    }
}

fn validate_timeout(t: Option<u64>) -> Result<u64> {
    match t {
        None => Ok(DEFAULT_TIMEOUT_MS),
        Some(ms) if (MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&ms) => Ok(ms),
        Some(_) => Err(Error::invalid(
            "invalid_timeout",
            format!("`timeout_ms` must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"),
        )),
    }
}

fn validate_filter(f: Option<Filter>) -> Result<Option<Filter>> {
    let Some(f) = f else { return Ok(None) };
    if f.is_empty() {
        return Ok(None);
    }
    if f.len() > MAX_FILTER_KEYS {
        return Err(Error::invalid(
            "invalid_filter",
            format!("`filter` may name at most {MAX_FILTER_KEYS} attributes"),
        ));
    }
    for (k, values) in &f {
        if values.is_empty() || values.len() > MAX_FILTER_VALUES {
            return Err(Error::invalid(
                "invalid_filter",
                format!(
                    "`filter.{}` must list 1-{MAX_FILTER_VALUES} allowed values",
                    truncate(k, 64)
                ),
            ));
        }
    }
    Ok(Some(f))
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_reserved(name_lower: &str) -> bool {
    name_lower.starts_with("webhook-") || RESERVED_HEADERS.contains(&name_lower)
}

fn validate_hex_header(h: Option<String>) -> Result<Option<String>> {
    let Some(h) = h else { return Ok(None) };
    if !is_token(&h) || is_reserved(&h.to_ascii_lowercase()) {
        return Err(Error::invalid(
            "invalid_header",
            format!(
                "`hex_signature_header` `{}` must be a valid HTTP header name (up to 64 characters) that Hookline does not set itself",
                truncate(&h, 80)
            ),
        ));
    }
    Ok(Some(h))
}

fn validate_headers(
    headers: BTreeMap<String, String>,
    sub: &Subscription,
) -> Result<BTreeMap<String, String>> {
    if headers.len() > MAX_HEADERS {
        return Err(Error::invalid(
            "invalid_header",
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
                "invalid_header",
                format!("`{}` is not a valid HTTP header name", truncate(name, 80)),
            ));
        }
        if is_reserved(&lower) || hex.as_deref() == Some(lower.as_str()) {
            return Err(Error::invalid(
                "reserved_header",
                format!("header `{name}` is set by Hookline and cannot be overridden"),
            ));
        }
        let value_ok = value.len() <= MAX_HEADER_VALUE_LEN
            && value
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
        if !value_ok {
            return Err(Error::invalid(
                "invalid_header",
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
        let tenant = n.tenant_id.take().unwrap();
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
            n.into_subscription("t".into(), Timestamp(0), &p)
                .unwrap_err()
                .code,
            "invalid_url"
        );
    }
}

#[cfg(test)]
mod rotation_tests {
    use super::*;

    fn sub() -> Subscription {
        let n: NewSubscription = serde_json::from_value(serde_json::json!({
            "url": "https://crm.example.com/h", "event_types": ["*"]
        }))
        .unwrap();
        n.into_subscription("t".into(), Timestamp(0), &DestinationPolicy::default())
            .unwrap()
    }

    #[test]
    fn rotation_signs_with_both_secrets_during_grace() {
        let mut s = sub();
        let old = s.secret.clone();
        s.rotate_secret(Duration::from_secs(3600), Timestamp(1_000))
            .unwrap();
        assert_ne!(s.secret, old);
        let during = s.signing_secrets(Timestamp(1_000 + 3_599_999));
        assert_eq!(during, vec![&s.secret, &old]);
        assert_eq!(
            s.signing_secrets(Timestamp(1_000 + 3_600_000)),
            vec![&s.secret]
        );
    }

    #[test]
    fn rotation_without_grace_drops_the_old_secret_and_long_grace_is_refused() {
        let mut s = sub();
        s.rotate_secret(Duration::ZERO, Timestamp(0)).unwrap();
        assert_eq!(s.signing_secrets(Timestamp(0)).len(), 1);
        let before = s.clone();
        let err = s.rotate_secret(
            Duration::from_secs(MAX_ROTATION_GRACE_SECS + 1),
            Timestamp(0),
        );
        assert_eq!(err.unwrap_err().code, "invalid_grace_period");
        assert_eq!(s, before, "a refused rotation changes nothing");
    }
}
