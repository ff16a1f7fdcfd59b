//! Event types: the catalogue of what producers may send, per deployment and optionally per
//! tenant. A type has a description (what a dashboard shows a tenant picking events), an
//! optional JSON Schema for `data` (checked at ingest), a `deprecated` flag, and optional
//! payload versions (how older receivers get `data`, see [`version`]).
//!
//! An event of tenant T and type N is checked against T's own type N if T declared one, else
//! the deployment's type N.

pub mod cache;
pub mod contract;
pub mod version;

use crate::clock::Timestamp;
use crate::error::{Error, ErrorCode, Result};
use crate::event::{reserved_namespace, validate_event_type};
use crate::subscription::present;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
pub use version::PayloadVersion;

/// Most types one scope (the deployment, or one tenant) declares: a registry stays one small
/// read.
pub const MAX_EVENT_TYPES: usize = 1000;
pub const MAX_DESCRIPTION_LEN: usize = 2000;
/// Most payload versions one type declares.
pub const MAX_VERSIONS: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventType {
    pub name: String,
    /// The tenant that declared it; absent for a type of the whole deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema (2020-12) of the events' `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub deprecated: bool,
    /// Payload versions a subscription can pick with `payload_version`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, PayloadVersion>,
    /// Counts the changes: the condition of every update, and what caches compare.
    pub revision: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// `POST /v1/event-types` body (and one entry of a catalogue).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEventType {
    pub name: String,
    /// With the admin key: declares the type for this tenant only (absent: for every tenant).
    /// A tenant key always declares its own.
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    pub versions: BTreeMap<String, PayloadVersion>,
}

/// `PATCH /v1/event-types/{name}` body: an absent field is left alone, `null` clears it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTypePatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Option<Value>>,
    #[serde(default)]
    pub deprecated: Option<bool>,
    #[serde(default)]
    pub versions: Option<BTreeMap<String, PayloadVersion>>,
}

/// A platform's catalogue file (`events/catalog/*.json`): its event types, and definitions
/// their schemas share (`{"$ref": "#/$defs/common"}`), copied into each schema on import so
/// every stored schema stands alone.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// With the admin key: import for this tenant only.
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default, rename = "$defs")]
    #[schema(value_type = Object)]
    pub defs: Map<String, Value>,
    pub event_types: Vec<CatalogueEntry>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueEntry {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    pub versions: BTreeMap<String, PayloadVersion>,
}

impl Catalogue {
    /// The entries as event types to declare, each schema carrying the shared definitions it
    /// may refer to (its own `$defs` win over the catalogue's).
    pub fn entries(self) -> Vec<NewEventType> {
        let defs = self.defs;
        let tenant_id = self.tenant_id;
        self.event_types
            .into_iter()
            .map(|e| NewEventType {
                name: e.name,
                tenant_id: tenant_id.clone(),
                description: e.description,
                schema: e.schema.map(|s| with_defs(s, &defs)),
                deprecated: e.deprecated,
                versions: e.versions,
            })
            .collect()
    }
}

fn with_defs(mut schema: Value, defs: &Map<String, Value>) -> Value {
    if let (Value::Object(obj), false) = (&mut schema, defs.is_empty()) {
        let own = match obj.remove("$defs") {
            Some(Value::Object(own)) => own,
            _ => Map::new(),
        };
        let mut merged = defs.clone();
        merged.extend(own);
        obj.insert("$defs".into(), Value::Object(merged));
    }
    schema
}

/// The declared parts of a type, checked: what a create, a patch or an import writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub description: Option<String>,
    pub schema: Option<Value>,
    pub deprecated: bool,
    pub versions: BTreeMap<String, PayloadVersion>,
}

impl Declared {
    pub fn check(self) -> Result<Declared> {
        if let Some(d) = &self.description
            && d.len() > MAX_DESCRIPTION_LEN
        {
            return Err(Error::invalid(
                ErrorCode::InvalidText,
                format!("`description` is at most {MAX_DESCRIPTION_LEN} bytes"),
            ));
        }
        if let Some(s) = &self.schema {
            contract::Contract::compile(s)?;
        }
        if self.versions.len() > MAX_VERSIONS {
            return Err(Error::invalid(
                ErrorCode::InvalidPayloadVersion,
                format!("a type declares at most {MAX_VERSIONS} payload versions"),
            ));
        }
        for (name, v) in &self.versions {
            version::validate(name, v)?;
        }
        Ok(Declared {
            description: self.description.filter(|d| !d.trim().is_empty()),
            ..self
        })
    }

    fn of(t: &EventType) -> Declared {
        Declared {
            description: t.description.clone(),
            schema: t.schema.clone(),
            deprecated: t.deprecated,
            versions: t.versions.clone(),
        }
    }
}

/// A name producers may send: a valid event type outside Hookline's reserved namespaces.
pub fn validate_name(name: &str) -> Result<()> {
    validate_event_type(name)?;
    if let Some(ns) = reserved_namespace(name) {
        return Err(Error::invalid(
            ErrorCode::ReservedEventType,
            format!("event types starting with `{ns}` are Hookline's own"),
        ));
    }
    Ok(())
}

impl NewEventType {
    /// The declared parts, checked.
    pub fn declared(&self) -> Result<Declared> {
        validate_name(&self.name)?;
        Declared {
            description: self.description.clone(),
            schema: self.schema.clone(),
            deprecated: self.deprecated,
            versions: self.versions.clone(),
        }
        .check()
    }

    pub fn into_event_type(self, tenant_id: Option<TenantId>, now: Timestamp) -> Result<EventType> {
        let d = self.declared()?;
        Ok(EventType::new(self.name, tenant_id, d, now))
    }
}

impl EventType {
    /// A new type (revision 1) of already checked declarations.
    pub fn new(name: String, tenant_id: Option<TenantId>, d: Declared, now: Timestamp) -> Self {
        EventType {
            name,
            tenant_id,
            description: d.description,
            schema: d.schema,
            deprecated: d.deprecated,
            versions: d.versions,
            revision: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// This type with `d` declared, if that changes anything (a new revision).
    pub fn redeclared(&self, d: Declared, now: Timestamp) -> Option<EventType> {
        (Declared::of(self) != d).then(|| EventType {
            description: d.description,
            schema: d.schema,
            deprecated: d.deprecated,
            versions: d.versions,
            revision: self.revision + 1,
            updated_at: now,
            ..self.clone()
        })
    }

    /// The patch applied, checked; `None` when it changes nothing.
    pub fn patched(&self, patch: EventTypePatch, now: Timestamp) -> Result<Option<EventType>> {
        let mut d = Declared::of(self);
        if let Some(description) = patch.description {
            d.description = description;
        }
        if let Some(schema) = patch.schema {
            d.schema = schema;
        }
        if let Some(deprecated) = patch.deprecated {
            d.deprecated = deprecated;
        }
        if let Some(versions) = patch.versions {
            d.versions = versions;
        }
        Ok(self.redeclared(d.check()?, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new(v: Value) -> Result<EventType> {
        serde_json::from_value::<NewEventType>(v)
            .unwrap()
            .into_event_type(None, Timestamp(1))
    }

    #[test]
    fn a_type_is_declared_with_its_schema_and_versions() {
        let t = new(
            json!({"name": "lead.exported", "description": "A lead, exported",
                           "schema": {"type": "object", "required": ["id"]},
                           "versions": {"v1": {"remove": ["/appointments"]}, "v3": {}}}),
        )
        .unwrap();
        assert_eq!(t.revision, 1);
        assert_eq!(t.versions.len(), 2);
        assert!(t.tenant_id.is_none());
    }

    #[test]
    fn bad_declarations_are_refused_with_codes() {
        let cases = [
            (json!({"name": "lead..x"}), "invalid_event_type"),
            (json!({"name": "lead.*"}), "invalid_event_type"),
            (
                json!({"name": "hookline.endpoint.failing"}),
                "reserved_event_type",
            ),
            (
                json!({"name": "a", "schema": {"type": 3}}),
                "invalid_schema",
            ),
            (
                json!({"name": "a", "versions": {"v 1": {}}}),
                "invalid_payload_version",
            ),
            (
                json!({"name": "a", "versions": {"v1": {"remove": ["x"]}}}),
                "invalid_payload_version",
            ),
            (
                json!({"name": "a", "description": "x".repeat(MAX_DESCRIPTION_LEN + 1)}),
                "invalid_text",
            ),
        ];
        for (body, code) in cases {
            assert_eq!(new(body.clone()).unwrap_err().code, code, "{body}");
        }
        let many: BTreeMap<String, Value> = (0..=MAX_VERSIONS)
            .map(|i| (format!("v{i}"), json!({})))
            .collect();
        assert_eq!(
            new(json!({"name": "a", "versions": many}))
                .unwrap_err()
                .code,
            "invalid_payload_version"
        );
        assert!(serde_json::from_value::<NewEventType>(json!({"name": "a", "x": 1})).is_err());
    }

    #[test]
    fn a_patch_changes_only_what_it_names_and_bumps_the_revision() {
        let t =
            new(json!({"name": "a", "description": "d", "schema": {"type": "object"}})).unwrap();
        let patch: EventTypePatch = serde_json::from_value(json!({"deprecated": true})).unwrap();
        let p = t.patched(patch, Timestamp(2)).unwrap().unwrap();
        assert!(p.deprecated);
        assert_eq!(p.description.as_deref(), Some("d"));
        assert_eq!((p.revision, p.updated_at), (2, Timestamp(2)));
        let clear: EventTypePatch = serde_json::from_value(json!({"schema": null})).unwrap();
        assert_eq!(
            p.patched(clear, Timestamp(3)).unwrap().unwrap().schema,
            None
        );
        let same: EventTypePatch = serde_json::from_value(json!({"description": "d"})).unwrap();
        assert_eq!(p.patched(same, Timestamp(3)).unwrap(), None, "no change");
        let bad: EventTypePatch =
            serde_json::from_value(json!({"schema": {"type": "nope"}})).unwrap();
        assert_eq!(
            p.patched(bad, Timestamp(3)).unwrap_err().code,
            "invalid_schema"
        );
    }

    #[test]
    fn a_catalogue_shares_its_definitions_with_every_schema() {
        let c: Catalogue = serde_json::from_value(json!({
            "platform": "DealerAI",
            "$defs": {"common": {"type": "object", "required": ["leadId"]}},
            "event_types": [
                {"name": "lead.created", "schema": {"allOf": [{"$ref": "#/$defs/common"}]}},
                {"name": "lead.updated", "schema": {"$defs": {"common": {"type": "object"}, "own": {}}}},
                {"name": "lead.noted"}
            ]
        }))
        .unwrap();
        let entries = c.entries();
        let s0 = entries[0].schema.as_ref().unwrap();
        assert_eq!(s0["$defs"]["common"]["required"], json!(["leadId"]));
        let s1 = entries[1].schema.as_ref().unwrap();
        assert_eq!(
            s1["$defs"]["common"],
            json!({"type": "object"}),
            "its own wins"
        );
        assert!(s1["$defs"].get("own").is_some());
        assert!(entries[2].schema.is_none());
        let contract = contract::Contract::compile(s0).unwrap();
        assert!(
            contract
                .check("lead.created", json!({"leadID": "x"}).as_object().unwrap())
                .is_err()
        );
    }
}
