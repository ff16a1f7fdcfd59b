//! An event type's JSON Schema (2020-12), compiled once and checked against each event's
//! `data`. The `jsonschema` crate does the work: it follows the specification's test suite,
//! which a hand-written validator would not.

use crate::error::{Error, ErrorCode, Result, Violation};
use serde_json::{Map, Value};

/// Most errors one refusal lists; the first ones are the useful ones.
pub const MAX_VIOLATIONS: usize = 10;
/// Largest schema (serialized), so an event type stays one small stored item.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// A compiled schema for `data`.
pub struct Contract {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Contract")
    }
}

impl Contract {
    /// Compiles `schema` as JSON Schema 2020-12 (whatever its `$schema` says), with formats
    /// checked; only references inside the schema resolve (no network, no files).
    pub fn compile(schema: &Value) -> Result<Contract> {
        let size = serde_json::to_vec(schema).map(|b| b.len()).unwrap_or(0);
        if size > MAX_SCHEMA_BYTES {
            return Err(Error::invalid(
                ErrorCode::InvalidSchema,
                format!("a schema is at most {MAX_SCHEMA_BYTES} bytes (this one is {size})"),
            ));
        }
        if !schema.is_object() {
            return Err(Error::invalid(
                ErrorCode::InvalidSchema,
                "`schema` must be a JSON Schema object",
            ));
        }
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| {
                Error::invalid(
                    ErrorCode::InvalidSchema,
                    format!("`schema` is not a valid JSON Schema 2020-12: {e}"),
                )
            })?;
        Ok(Contract { validator })
    }

    /// The problems of `data`, at most [`MAX_VIOLATIONS`], each with its JSON pointer into the
    /// event (`/data/...`).
    pub fn violations(&self, data: &Map<String, Value>) -> Vec<Violation> {
        let instance = Value::Object(data.clone());
        self.validator
            .iter_errors(&instance)
            .take(MAX_VIOLATIONS)
            .map(|e| Violation {
                pointer: format!("/data{}", e.instance_path()),
                message: e.to_string(),
            })
            .collect()
    }

    /// `Ok` when `data` satisfies the schema; else 422 `schema_validation_failed` listing why.
    pub fn check(&self, event_type: &str, data: &Map<String, Value>) -> Result<()> {
        let instance = Value::Object(data.clone());
        if self.validator.is_valid(&instance) {
            return Ok(());
        }
        let violations = self.violations(data);
        Err(Error::unprocessable(
            ErrorCode::SchemaValidationFailed,
            format!(
                "`data` does not match the schema of `{event_type}`: {}",
                violations
                    .iter()
                    .map(|v| format!("{} {}", v.pointer, v.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            violations,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn lead_schema() -> Value {
        json!({
            "type": "object",
            "$defs": {"common": {"type": "object", "required": ["dealerId", "leadId"],
                                 "properties": {"dealerId": {"type": "string"}, "leadId": {"type": "string"},
                                                "timestamp": {"type": "string", "format": "date-time"}}}},
            "allOf": [{"$ref": "#/$defs/common"}],
            "properties": {"score": {"type": "integer", "minimum": 0}}
        })
    }

    #[test]
    fn valid_data_passes() {
        let c = Contract::compile(&lead_schema()).unwrap();
        c.check(
            "lead.created",
            &data(json!({"dealerId": "d1", "leadId": "l1", "timestamp": "2025-01-01T00:00:00Z", "score": 3})),
        )
        .unwrap();
    }

    #[test]
    fn a_typo_is_refused_with_the_pointer_of_each_problem() {
        let c = Contract::compile(&lead_schema()).unwrap();
        let err = c
            .check(
                "lead.created",
                &data(json!({"dealerId": "d1", "leadID": "l1", "score": -1, "timestamp": "yesterday"})),
            )
            .unwrap_err();
        assert_eq!(err.code, "schema_validation_failed");
        assert_eq!(err.kind, crate::ErrorKind::Unprocessable);
        let pointers: Vec<&str> = err.details.iter().map(|v| v.pointer.as_str()).collect();
        assert!(pointers.contains(&"/data"), "{pointers:?}"); // leadId missing
        assert!(pointers.contains(&"/data/score"), "{pointers:?}");
        assert!(pointers.contains(&"/data/timestamp"), "{pointers:?}");
        assert!(err.message.contains("leadId"), "{}", err.message);
    }

    #[test]
    fn violations_are_bounded() {
        let props: Map<String, Value> = (0..30)
            .map(|i| (format!("f{i}"), json!({"type": "string"})))
            .collect();
        let c = Contract::compile(&json!({"type": "object", "properties": props})).unwrap();
        let bad: Map<String, Value> = (0..30).map(|i| (format!("f{i}"), json!(i))).collect();
        assert_eq!(c.violations(&bad).len(), MAX_VIOLATIONS);
    }

    #[test]
    fn invalid_or_oversized_schemas_are_refused() {
        for schema in [
            json!({"type": "objekt"}),
            json!(true),
            json!({"$ref": "https://example.com/schema.json"}),
            json!({"type": "object", "description": "x".repeat(MAX_SCHEMA_BYTES)}),
        ] {
            let err = Contract::compile(&schema).unwrap_err();
            assert_eq!(err.code, "invalid_schema");
        }
    }
}
