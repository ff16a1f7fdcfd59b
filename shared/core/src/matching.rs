//! Which subscriptions receive an event: the event type must match one of the subscription's
//! patterns, and the event's attributes must satisfy the subscription's filter.
//!
//! Patterns are an exact type (`lead.qualified`), a prefix (`lead.*`, matching `lead.created` and
//! `lead.update.disposition`) or `*`. Wildcards never match Hookline's own events (`hookline.`,
//! `webhook.`): they are opt-in by name (`hookline.delivery.failed`) or by `hookline.*`.

use crate::error::ErrorCode;
use crate::error::{Error, Result};
use crate::event::{Event, reserved_namespace, validate_event_type};
use crate::subscription::Subscription;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTypePattern {
    All,
    /// Holds the prefix including its trailing dot: `lead.`.
    Prefix(String),
    Exact(String),
}

impl EventTypePattern {
    pub fn parse(s: &str) -> Result<Self> {
        if s == "*" {
            return Ok(EventTypePattern::All);
        }
        if let Some(prefix) = s.strip_suffix(".*") {
            validate_event_type(prefix).map_err(|_| invalid_pattern(s))?;
            return Ok(EventTypePattern::Prefix(format!("{prefix}.")));
        }
        validate_event_type(s).map_err(|_| invalid_pattern(s))?;
        Ok(EventTypePattern::Exact(s.to_string()))
    }

    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            EventTypePattern::Exact(t) => t == event_type,
            EventTypePattern::Prefix(p) => {
                event_type.starts_with(p.as_str())
                    && reserved_namespace(event_type).is_none_or(|ns| p.starts_with(ns))
            }
            EventTypePattern::All => reserved_namespace(event_type).is_none(),
        }
    }

    pub fn as_string(&self) -> String {
        match self {
            EventTypePattern::All => "*".to_string(),
            EventTypePattern::Prefix(p) => format!("{p}*"),
            EventTypePattern::Exact(t) => t.clone(),
        }
    }
}

fn invalid_pattern(s: &str) -> Error {
    Error::invalid(
        ErrorCode::InvalidEventType,
        format!(
            "`{}` is not an event type or pattern: use an exact type (`lead.qualified`), a prefix (`lead.*`) or `*`",
            crate::event::truncate(s, 80)
        ),
    )
}

impl Serialize for EventTypePattern {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_string())
    }
}

impl<'de> Deserialize<'de> for EventTypePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EventTypePattern::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Whether `sub` should receive `event`. Paused subscriptions and other tenants receive nothing.
pub fn matches(sub: &Subscription, event: &Event) -> bool {
    sub.enabled
        && sub.tenant_id == event.tenant_id
        && sub.event_types.iter().any(|p| p.matches(&event.event_type))
        && sub.filter.as_ref().is_none_or(|f| {
            f.iter().all(|(key, allowed)| {
                event
                    .attributes
                    .get(key)
                    .is_some_and(|v| allowed.iter().any(|a| a == v))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::destination::DestinationPolicy;
    use crate::event::NewEvent;
    use crate::subscription::NewSubscription;
    use serde_json::json;

    fn sub(v: serde_json::Value) -> Subscription {
        let mut body = json!({"tenant_id": "dealer-1", "url": "https://crm.example.com/h"});
        for (k, val) in v.as_object().unwrap() {
            body[k] = val.clone();
        }
        let mut n = serde_json::from_value::<NewSubscription>(body).unwrap();
        let tenant = crate::TenantId::parse(n.tenant_id.take().unwrap()).unwrap();
        n.into_subscription(tenant, Timestamp(0), &DestinationPolicy::default())
            .unwrap()
    }

    fn event(t: &str, attrs: serde_json::Value) -> Event {
        let mut e = serde_json::from_value::<NewEvent>(json!({
            "type": "lead.created", "data": {}, "attributes": attrs
        }))
        .unwrap()
        .into_event(crate::TenantId::parse("dealer-1").unwrap(), Timestamp(0))
        .unwrap();
        e.event_type = t.to_string();
        e
    }

    #[test]
    fn exact_prefix_and_wildcard_patterns() {
        let exact = sub(json!({"event_types": ["lead.qualified"]}));
        let prefix = sub(json!({"event_types": ["lead.*"]}));
        let all = sub(json!({"event_types": ["*"]}));
        let none = json!({});
        assert!(matches(&exact, &event("lead.qualified", none.clone())));
        assert!(!matches(&exact, &event("lead.qualifiedx", none.clone())));
        assert!(matches(
            &prefix,
            &event("lead.update.disposition", none.clone())
        ));
        assert!(!matches(&prefix, &event("leads.created", none.clone())));
        assert!(!matches(&prefix, &event("lead", none.clone())));
        assert!(matches(&all, &event("appointment.created", none.clone())));
    }

    #[test]
    fn wildcards_do_not_match_operational_events_unless_asked() {
        let none = json!({});
        let failed = event("hookline.delivery.failed", none);
        assert!(!matches(&sub(json!({"event_types": ["*"]})), &failed));
        assert!(matches(
            &sub(json!({"event_types": ["hookline.*"]})),
            &failed
        ));
        assert!(matches(
            &sub(json!({"event_types": ["hookline.delivery.failed"]})),
            &failed
        ));
    }

    #[test]
    fn filter_scopes_to_specific_campaigns() {
        let s = sub(json!({"event_types": ["*"], "filter": {"campaign": ["abc123", "def456"]}}));
        assert!(matches(
            &s,
            &event("lead.qualified", json!({"campaign": "abc123"}))
        ));
        assert!(matches(
            &s,
            &event("lead.qualified", json!({"campaign": "def456", "x": "y"}))
        ));
        assert!(!matches(
            &s,
            &event("lead.qualified", json!({"campaign": "zzz"}))
        ));
        assert!(!matches(&s, &event("lead.qualified", json!({}))));
    }

    #[test]
    fn paused_subscription_receives_nothing() {
        let mut s = sub(json!({"event_types": ["*"]}));
        s.enabled = false;
        assert!(!matches(&s, &event("lead.qualified", json!({}))));
    }

    #[test]
    fn other_tenants_events_never_match() {
        let s = sub(json!({"event_types": ["*"]}));
        let mut e = event("lead.qualified", json!({}));
        e.tenant_id = crate::TenantId::parse("dealer-2").unwrap();
        assert!(!matches(&s, &e));
    }

    #[test]
    fn patterns_round_trip_and_refuse_inner_wildcards() {
        for p in ["*", "lead.*", "lead.qualified", "hookline.*"] {
            assert_eq!(EventTypePattern::parse(p).unwrap().as_string(), p);
        }
        for p in ["lead*", "*.created", "lead.*.x", "", "lead.", "**"] {
            assert!(EventTypePattern::parse(p).is_err(), "{p}");
        }
    }
}
