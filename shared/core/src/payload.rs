//! The body receivers get. Rendering is separate from signing: the signer signs exactly the bytes
//! rendered here, and the sender sends exactly those bytes. A subscription that pinned a payload
//! version gets `data` reshaped by it (see [`crate::event_type::version`]).

use crate::clock::Timestamp;
use crate::event::Event;
use crate::event_type::PayloadVersion;
use crate::subscription::PayloadFormat;
use serde::Serialize;

#[derive(Serialize)]
struct StandardBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: Timestamp,
    tenant_id: &'a str,
    data: &'a serde_json::Map<String, serde_json::Value>,
}

pub fn render(event: &Event, format: PayloadFormat, version: Option<&PayloadVersion>) -> Vec<u8> {
    let reshaped = version.map(|v| crate::event_type::version::apply(v, &event.data));
    let data = reshaped.as_ref().unwrap_or(&event.data);
    let out = match format {
        PayloadFormat::Standard => serde_json::to_vec(&StandardBody {
            id: event.id.as_str(),
            event_type: &event.event_type,
            timestamp: event.timestamp,
            tenant_id: &event.tenant_id,
            data,
        }),
        PayloadFormat::Raw => serde_json::to_vec(data),
    };
    out.expect("JSON values always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EventId;
    use serde_json::json;

    fn event() -> Event {
        Event {
            id: EventId::generate(),
            tenant_id: crate::TenantId::parse("dealer-1").unwrap(),
            event_type: "lead.qualified".into(),
            timestamp: Timestamp(1_749_724_451_000),
            data: json!({"campaign": {"id": "abc123"}})
                .as_object()
                .unwrap()
                .clone(),
            attributes: Default::default(),
        }
    }

    #[test]
    fn standard_body_has_the_five_top_level_fields() {
        let e = event();
        let v: serde_json::Value =
            serde_json::from_slice(&render(&e, PayloadFormat::Standard, None)).unwrap();
        assert_eq!(
            v,
            json!({"id": e.id.as_str(), "type": "lead.qualified", "timestamp": "2025-06-12T10:34:11.000Z",
                   "tenant_id": "dealer-1", "data": {"campaign": {"id": "abc123"}}})
        );
    }

    #[test]
    fn raw_body_is_the_data_alone() {
        let v: serde_json::Value =
            serde_json::from_slice(&render(&event(), PayloadFormat::Raw, None)).unwrap();
        assert_eq!(v, json!({"campaign": {"id": "abc123"}}));
    }

    #[test]
    fn a_version_reshapes_data_in_either_format() {
        let v: PayloadVersion = serde_json::from_value(json!({"remove": ["/campaign/id"],
                                                              "defaults": {"/channel": "sms"}}))
        .unwrap();
        let raw: serde_json::Value =
            serde_json::from_slice(&render(&event(), PayloadFormat::Raw, Some(&v))).unwrap();
        assert_eq!(raw, json!({"campaign": {}, "channel": "sms"}));
        let std: serde_json::Value =
            serde_json::from_slice(&render(&event(), PayloadFormat::Standard, Some(&v))).unwrap();
        assert_eq!(std["data"], raw);
    }
}
