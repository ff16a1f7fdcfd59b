//! What the API shows of stored things: views that hide what must not leave (secrets after
//! creation, hashes of keys) and the page shapes of listings. Request bodies live with their routes.

use hookline_core::api_key::ApiKey;
use hookline_core::clock::Timestamp;
use hookline_core::delivery::Delivery;
use hookline_core::ids::{ApiKeyId, EventId, SubscriptionId};
use hookline_core::subscription::auth::is_credential_header;
use hookline_core::subscription::{HttpMethod, PayloadFormat, Subscription};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A subscription. `secret` appears only when it is created and when it is rotated.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: SubscriptionId,
    pub tenant_id: String,
    pub url: String,
    /// Exact types (`lead.qualified`), prefixes (`lead.*`) or `*`.
    pub event_types: Vec<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Paused subscriptions receive nothing new.
    pub enabled: bool,
    /// Why Hookline disabled it (e.g. the endpoint answered 410 Gone).
    pub disabled_reason: Option<String>,
    /// Attribute scope: attribute name -> allowed values.
    pub filter: Option<BTreeMap<String, Vec<String>>>,
    pub headers: BTreeMap<String, String>,
    pub timeout_ms: u64,
    pub payload_format: PayloadFormat,
    /// The payload version its events are rendered in, where their type declares it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_version: Option<String>,
    pub method: HttpMethod,
    /// The credential requests carry: its type and a fingerprint, never the credential.
    pub auth: Option<AuthView>,
    pub hex_signature_header: Option<String>,
    /// Its own retry schedule; `null`: the deployment's.
    pub retry_schedule: Option<String>,
    /// Its cap on attempts per delivery; `null`: every step of the schedule.
    pub max_attempts: Option<u32>,
    /// Attempts per second at most; `null`: no limit.
    pub rate_limit_per_sec: Option<u32>,
    /// Until when the previous secret still signs, after a rotation.
    pub previous_secret_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// `whsec_...`: shown only in the responses that create it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The endpoint's health (circuit breaker): in `GET /v1/subscriptions/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<hookline_core::pipeline::health::HealthView>,
}

impl SubscriptionView {
    pub fn of(s: &Subscription, with_secret: bool) -> Self {
        SubscriptionView {
            id: s.id.clone(),
            tenant_id: s.tenant_id.to_string(),
            url: s.url.clone(),
            event_types: s.event_types.iter().map(|p| p.as_string()).collect(),
            name: s.name.clone(),
            description: s.description.clone(),
            enabled: s.enabled,
            disabled_reason: s.disabled_reason.clone(),
            filter: s.filter.clone(),
            // a credential stored in a custom header before `auth` existed is not shown either
            headers: s
                .headers
                .iter()
                .map(|(k, v)| {
                    let shown = match is_credential_header(&k.to_ascii_lowercase()) {
                        true => "****".to_string(),
                        false => v.clone(),
                    };
                    (k.clone(), shown)
                })
                .collect(),
            timeout_ms: s.timeout_ms,
            payload_format: s.payload_format,
            payload_version: s.payload_version.clone(),
            method: s.method,
            auth: s.auth.as_ref().map(|a| AuthView {
                kind: a.kind().to_string(),
                fingerprint: a.fingerprint(),
            }),
            hex_signature_header: s.hex_signature_header.clone(),
            retry_schedule: s.retry_schedule.as_ref().map(|r| r.to_string()),
            max_attempts: s.max_attempts,
            rate_limit_per_sec: s.rate_limit_per_sec,
            previous_secret_expires_at: s.previous_secret_expires_at,
            created_at: s.created_at,
            updated_at: s.updated_at,
            secret: with_secret.then(|| s.secret.as_str().to_string()),
            health: None,
        }
    }
}

/// What a view shows of a subscription's `auth`.
#[derive(Serialize, ToSchema)]
pub struct AuthView {
    /// `bearer`, `header` or `basic`.
    #[serde(rename = "type")]
    pub kind: String,
    /// 8 hex digits of a SHA-256 of the header sent: tells credentials apart, reveals nothing.
    pub fingerprint: String,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionPage {
    pub data: Vec<SubscriptionView>,
    /// Pass back as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<Delivery>,
    /// Pass back as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: ApiKeyId,
    pub tenant_id: String,
    pub name: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// The key itself: shown only when it is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl ApiKeyView {
    pub fn of(k: &ApiKey, key: Option<String>) -> Self {
        ApiKeyView {
            id: k.id.clone(),
            tenant_id: k.tenant_id.to_string(),
            name: k.name.clone(),
            created_at: k.created_at,
            revoked_at: k.revoked_at,
            key,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyPage {
    pub data: Vec<ApiKeyView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, serde::Deserialize, ToSchema)]
pub struct Accepted {
    pub id: EventId,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// A request as the delivery log shows it: signatures and credentials redacted.
#[derive(Serialize, ToSchema)]
pub struct SentRequestView {
    pub method: HttpMethod,
    pub url: String,
    /// Names in lowercase; `webhook-signature`, the hex signature and the credential are
    /// `[redacted]`.
    pub headers: BTreeMap<String, String>,
    /// The body, rendered again from the stored event with the subscription's settings.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

impl SentRequestView {
    pub fn of(r: &hookline_core::ports::OutboundRequest) -> Self {
        SentRequestView {
            method: r.method,
            url: r.url.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            body: serde_json::from_slice(&r.body).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&r.body).into_owned())
            }),
        }
    }
}

/// A delivery with its attempts and, when asked for (`include=request`), the request they send.
#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    #[serde(flatten)]
    pub delivery: Delivery,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<SentRequestView>,
    /// Set while the delivery is parked by its subscription's open circuit (its status stays
    /// `pending`; parked time uses up none of its attempts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parked: Option<hookline_core::pipeline::health::Parking>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::TenantId;
    use hookline_core::destination::DestinationPolicy;
    use hookline_core::subscription::NewSubscription;

    #[test]
    fn a_view_shows_no_credential() {
        let mut sub = serde_json::from_value::<NewSubscription>(serde_json::json!({
            "url": "https://dms.example.com/hooks", "event_types": ["deal.*"],
            "headers": {"X-Dealer-Id": "4821"}, "auth": {"type": "bearer", "token": "t0k3n"}
        }))
        .unwrap()
        .into_subscription(
            TenantId::parse("d").unwrap(),
            Timestamp(0),
            &DestinationPolicy::default(),
        )
        .unwrap();
        // a credential stored in a custom header before `auth` existed
        sub.headers.insert("X-Api-Key".into(), "k-old".into());
        let view = serde_json::to_value(SubscriptionView::of(&sub, false)).unwrap();
        assert_eq!(view["headers"]["X-Api-Key"], "****");
        assert_eq!(view["headers"]["X-Dealer-Id"], "4821");
        assert_eq!(view["auth"]["type"], "bearer");
        let text = view.to_string();
        assert!(!text.contains("t0k3n") && !text.contains("k-old"), "{text}");
    }
}
