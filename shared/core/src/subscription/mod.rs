//! Subscriptions: an endpoint URL, the events it wants (exact names or patterns), an optional
//! attribute scope, and how deliveries to it are shaped and signed.

use crate::clock::Timestamp;
use crate::destination::{self, DestinationPolicy};
use crate::error::ErrorCode;
use crate::error::{Error, Result};
use crate::event::truncate;
use crate::ids::SubscriptionId;
use crate::matching::EventTypePattern;
use crate::retry_schedule::{RetryPolicy, RetrySchedule};
use crate::signing::Secret;
use crate::tenant::TenantId;
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

/// The HTTP method of every request to a subscription's endpoint (attempts, retries, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Post,
    Put,
    Patch,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
        }
    }
}

/// Attribute scope: attribute name -> allowed values. An event matches when, for every key, it
/// carries that attribute with one of the allowed values ("specific campaigns only").
pub type Filter = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub tenant_id: TenantId,
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
    /// The payload version of its events' types this endpoint gets (types that declare it);
    /// `None`: `data` as the producer sent it.
    #[serde(default)]
    pub payload_version: Option<String>,
    /// Subscriptions stored before methods existed are `POST`.
    #[serde(default)]
    pub method: HttpMethod,
    /// How requests authenticate to the receiver; stored like the secret, never shown.
    #[serde(default)]
    pub auth: Option<OutboundAuth>,
    pub hex_signature_header: Option<String>,
    /// Its own retry schedule; `None`: the deployment's.
    #[serde(default)]
    pub retry_schedule: Option<RetrySchedule>,
    /// At most this many attempts per delivery (the first and its retries); `None`: as many
    /// as the schedule has.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// At most this many attempts per second to the endpoint; work beyond it waits.
    #[serde(default)]
    pub rate_limit_per_sec: Option<u32>,
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

    pub fn retry_policy(&self) -> RetryPolicy<'_> {
        RetryPolicy {
            schedule: self.retry_schedule.as_ref(),
            max_attempts: self.max_attempts,
        }
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
                ErrorCode::InvalidGracePeriod,
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
    /// A payload version declared by the subscribed event types (`v2`); unset: `data` as sent.
    #[serde(default)]
    pub payload_version: Option<String>,
    /// `POST` (the default), `PUT` or `PATCH`.
    #[serde(default)]
    pub method: Option<HttpMethod>,
    /// The credential every request carries; never shown again (views show its type and a
    /// fingerprint).
    #[serde(default)]
    pub auth: Option<OutboundAuth>,
    #[serde(default)]
    pub hex_signature_header: Option<String>,
    /// Delays between attempts, e.g. `1m,5m,30m` (units ms, s, m, h; none shorter than the
    /// deployment's shortest); unset: the deployment's schedule.
    #[serde(default)]
    pub retry_schedule: Option<String>,
    /// Attempts per delivery at most, the first included (`4` is "up to 3 retries"); unset:
    /// every step of the schedule.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Attempts per second at most (1-500), retries and first attempts alike; work beyond it
    /// waits its turn. Unset: no limit.
    #[serde(default)]
    pub rate_limit_per_sec: Option<u32>,
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
    /// A payload version; `null`: `data` as sent.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub payload_version: Option<Option<String>>,
    #[serde(default)]
    pub method: Option<HttpMethod>,
    /// A new credential; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<OutboundAuth>)]
    pub auth: Option<Option<OutboundAuth>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub hex_signature_header: Option<Option<String>>,
    /// A schedule of its own; `null`: the deployment's.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub retry_schedule: Option<Option<String>>,
    /// A cap on attempts; `null`: none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub max_attempts: Option<Option<u32>>,
    /// A rate limit; `null`: none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub rate_limit_per_sec: Option<Option<u32>>,
}

/// Marks a field that was present in the JSON (even as `null`) as `Some(..)`.
pub(crate) fn present<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
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
        tenant_id: TenantId,
        now: Timestamp,
        policy: &DestinationPolicy,
    ) -> Result<Subscription> {
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
            payload_version: validate_payload_version(self.payload_version)?,
            method: self.method.unwrap_or_default(),
            auth: None,
            hex_signature_header: validate_hex_header(self.hex_signature_header)?,
            retry_schedule: self
                .retry_schedule
                .as_deref()
                .map(RetrySchedule::parse)
                .transpose()?,
            max_attempts: self.max_attempts,
            rate_limit_per_sec: validate_rate_limit(self.rate_limit_per_sec)?,
            secret: Secret::generate(),
            previous_secret: None,
            previous_secret_expires_at: None,
            created_at: now,
            updated_at: now,
        };
        sub.headers = validate_headers(self.headers.unwrap_or_default(), &sub, true)?;
        sub.auth = self.auth.map(|a| validate_auth(a, &sub)).transpose()?;
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
        if let Some(v) = self.payload_version {
            next.payload_version = validate_payload_version(v)?;
        }
        if let Some(m) = self.method {
            next.method = m;
        }
        if let Some(h) = self.hex_signature_header {
            next.hex_signature_header = validate_hex_header(h)?;
        }
        if let Some(r) = self.retry_schedule {
            next.retry_schedule = r.as_deref().map(RetrySchedule::parse).transpose()?;
        }
        if let Some(m) = self.max_attempts {
            next.max_attempts = m;
        }
        if let Some(r) = self.rate_limit_per_sec {
            next.rate_limit_per_sec = validate_rate_limit(r)?;
        }
        let new_headers = self.headers.is_some();
        let headers = self.headers.unwrap_or_else(|| next.headers.clone());
        next.headers = validate_headers(headers, &next, new_headers)?;
        if let Some(a) = self.auth {
            next.auth = a.map(|a| validate_auth(a, &next)).transpose()?;
        }
        next.updated_at = now;
        Ok(next)
    }
}

pub mod auth;
mod validation;

pub use auth::OutboundAuth;

pub use validation::validate_url;
use validation::*;

#[cfg(test)]
mod rotation_tests {
    use super::*;

    fn sub() -> Subscription {
        let n: NewSubscription = serde_json::from_value(serde_json::json!({
            "url": "https://crm.example.com/h", "event_types": ["*"]
        }))
        .unwrap();
        n.into_subscription(
            crate::TenantId::parse("t").unwrap(),
            Timestamp(0),
            &DestinationPolicy::default(),
        )
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
