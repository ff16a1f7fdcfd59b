//! Events: what producers send. An event is stored once and fanned out to every matching
//! subscription of its tenant.

use crate::clock::Timestamp;
use crate::error::{Error, ErrorCode, Result};
use crate::ids::EventId;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Namespaces of Hookline's own events (`hookline.delivery.failed`, `webhook.test`). Producers
/// cannot send them and wildcards do not match them.
pub const RESERVED_NAMESPACES: &[&str] = &["hookline.", "webhook."];
/// Emitted when a delivery is given up on.
pub const DELIVERY_FAILED: &str = "hookline.delivery.failed";
/// Sent by `POST /v1/subscriptions/{id}/test`.
pub const TEST_EVENT: &str = "webhook.test";

/// The reserved namespace an event type belongs to, if any.
pub fn reserved_namespace(event_type: &str) -> Option<&'static str> {
    RESERVED_NAMESPACES
        .iter()
        .copied()
        .find(|ns| event_type.starts_with(ns))
}

pub const MAX_TYPE_LEN: usize = 128;
pub const MAX_ATTRIBUTES: usize = 20;
pub const MAX_ATTRIBUTE_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub id: EventId,
    pub tenant_id: TenantId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub timestamp: Timestamp,
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// `POST /v1/events` body, before validation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// Implied by a tenant key; required with the admin key.
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Any JSON object: what receivers get as `data`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl NewEvent {
    /// Validates and stamps a producer's event for `tenant_id` (resolved from the caller).
    /// Producers may not send events in Hookline's reserved namespaces.
    pub fn into_event(self, tenant_id: TenantId, now: Timestamp) -> Result<Event> {
        validate_event_type(&self.event_type)?;
        if let Some(ns) = reserved_namespace(&self.event_type) {
            return Err(Error::invalid(
                ErrorCode::ReservedEventType,
                format!("event types starting with `{ns}` are reserved for Hookline's own events"),
            ));
        }
        let data = match self.data {
            serde_json::Value::Object(map) => map,
            _ => {
                return Err(Error::invalid(
                    ErrorCode::InvalidData,
                    "`data` must be a JSON object",
                ));
            }
        };
        validate_attributes(&self.attributes)?;
        Ok(Event {
            id: EventId::generate(),
            tenant_id,
            event_type: self.event_type,
            timestamp: now,
            data,
            attributes: self.attributes,
        })
    }
}

fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An event type is dot-separated segments of letters, digits, `_` and `-`: `lead.qualified`.
pub fn validate_event_type(t: &str) -> Result<()> {
    if t.len() <= MAX_TYPE_LEN && t.split('.').all(is_segment) {
        Ok(())
    } else {
        Err(Error::invalid(
            ErrorCode::InvalidEventType,
            format!(
                "event type `{}` must be up to {MAX_TYPE_LEN} characters of dot-separated segments of letters, digits, `_` or `-` (e.g. `lead.qualified`)",
                truncate(t, 80)
            ),
        ))
    }
}

fn validate_attributes(attrs: &BTreeMap<String, String>) -> Result<()> {
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(Error::invalid(
            ErrorCode::TooManyAttributes,
            format!("at most {MAX_ATTRIBUTES} attributes are allowed"),
        ));
    }
    for (k, v) in attrs {
        if !is_segment(k) || k.len() > 64 {
            return Err(Error::invalid(
                ErrorCode::InvalidAttribute,
                format!(
                    "attribute name `{}` must be 1-64 letters, digits, `_` or `-`",
                    truncate(k, 80)
                ),
            ));
        }
        if v.len() > MAX_ATTRIBUTE_LEN {
            return Err(Error::invalid(
                ErrorCode::InvalidAttribute,
                format!("attribute `{k}` is longer than {MAX_ATTRIBUTE_LEN} bytes"),
            ));
        }
    }
    Ok(())
}

pub(crate) fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new_event(v: serde_json::Value) -> Result<Event> {
        let mut n = serde_json::from_value::<NewEvent>(v).unwrap();
        let tenant = TenantId::parse(n.tenant_id.take().unwrap())?;
        n.into_event(tenant, Timestamp(0))
    }

    #[test]
    fn accepts_a_dealer_event() {
        let e = new_event(json!({
            "tenant_id": "dealer-42", "type": "lead.qualified",
            "data": {"customer": {"first_name": "Sarah"}},
            "attributes": {"campaign": "abc123"}
        }))
        .unwrap();
        assert!(e.id.as_str().starts_with("evt_"));
        assert_eq!(e.attributes["campaign"], "abc123");
    }

    #[test]
    fn refuses_bad_events_with_specific_codes() {
        let cases = [
            (
                json!({"tenant_id": "", "type": "a.b", "data": {}}),
                "invalid_tenant_id",
            ),
            (
                json!({"tenant_id": "t", "type": "lead..x", "data": {}}),
                "invalid_event_type",
            ),
            (
                json!({"tenant_id": "t", "type": "lead.*", "data": {}}),
                "invalid_event_type",
            ),
            (
                json!({"tenant_id": "t", "type": "a", "data": [1]}),
                "invalid_data",
            ),
            (
                json!({"tenant_id": "t", "type": "hookline.delivery.failed", "data": {}}),
                "reserved_event_type",
            ),
            (
                json!({"tenant_id": "t", "type": "webhook.test", "data": {}}),
                "reserved_event_type",
            ),
            (
                json!({"tenant_id": "t", "type": "a", "data": {}, "attributes": {"a b": "x"}}),
                "invalid_attribute",
            ),
        ];
        for (body, code) in cases {
            assert_eq!(new_event(body.clone()).unwrap_err().code, code, "{body}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r = serde_json::from_value::<NewEvent>(
            json!({"tenant_id": "t", "type": "a", "data": {}, "extra": 1}),
        );
        assert!(r.is_err());
    }
}
