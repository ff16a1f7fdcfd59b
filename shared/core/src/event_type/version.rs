//! Payload versions: how an event type's `data` is reshaped for subscriptions that pinned an
//! older (or different) shape. A version is declarative, a few operations on JSON pointers, not
//! code: the event is stored once, in the shape producers send, and rendered per version at
//! delivery.
//!
//! Pointers are RFC 6901 (`/prospect/email`, `~1` for `/`, `~0` for `~`), with one addition: a
//! `*` segment stands for every element of an array or every member of an object
//! (`/appointments/*/note`). The operations apply in this order: `keep`, `remove`, `rename`,
//! `defaults`.

use crate::error::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most pointers one operation of a version lists.
pub const MAX_POINTERS: usize = 100;
/// Longest version name (`v3`, `2024-06-01`).
pub const MAX_VERSION_NAME_LEN: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayloadVersion {
    /// When not empty, only these fields are kept (with everything under them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep: Vec<String>,
    /// Fields dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// Fields renamed in place: pointer to the field, and its new name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rename: BTreeMap<String, String>,
    /// Values set where a field is absent (its parent object must exist, or be creatable
    /// from plain names).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub defaults: BTreeMap<String, Value>,
}

fn bad(message: String) -> Error {
    Error::invalid(ErrorCode::InvalidPayloadVersion, message)
}

/// The segments of a pointer, unescaped; `""` (the whole document) is refused: every
/// operation names a field.
fn segments(pointer: &str) -> Result<Vec<String>> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(bad(format!(
            "`{}` is not a JSON pointer (it starts with `/`, e.g. `/prospect/email`)",
            crate::event::truncate(pointer, 80)
        )));
    };
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// A version's name: 1-32 letters, digits, `.`, `_` or `-`.
pub fn validate_name(name: &str) -> Result<()> {
    let name_ok = !name.is_empty()
        && name.len() <= MAX_VERSION_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !name_ok {
        return Err(bad(format!(
            "version name `{}` must be 1-{MAX_VERSION_NAME_LEN} letters, digits, `.`, `_` or `-`",
            crate::event::truncate(name, 40)
        )));
    }
    Ok(())
}

/// Checks a version's name and operations, so that rendering can never fail.
pub fn validate(name: &str, v: &PayloadVersion) -> Result<()> {
    validate_name(name)?;
    let counts = [
        v.keep.len(),
        v.remove.len(),
        v.rename.len(),
        v.defaults.len(),
    ];
    if counts.iter().any(|&c| c > MAX_POINTERS) {
        return Err(bad(format!(
            "version `{name}`: each operation lists at most {MAX_POINTERS} pointers"
        )));
    }
    for p in v.keep.iter().chain(&v.remove).chain(v.rename.keys()) {
        segments(p)?;
    }
    for (p, new_name) in &v.rename {
        if new_name.is_empty() || new_name == "*" {
            return Err(bad(format!(
                "version `{name}`: `{p}` must be renamed to a field name"
            )));
        }
        if segments(p)?.last().is_some_and(|s| s == "*") {
            return Err(bad(format!(
                "version `{name}`: a rename names one field, not `*`"
            )));
        }
    }
    for p in v.defaults.keys() {
        if segments(p)?.iter().any(|s| s.is_empty()) {
            return Err(bad(format!(
                "version `{name}`: default `{p}` has an empty segment"
            )));
        }
    }
    Ok(())
}

/// `data` reshaped by `v`.
pub fn apply(v: &PayloadVersion, data: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Value::Object(data.clone());
    if !v.keep.is_empty() {
        let mut tree = Keep::default();
        for p in &v.keep {
            tree.insert(&segments(p).unwrap_or_default());
        }
        out = tree.prune(out);
    }
    for p in &v.remove {
        if let Ok(segs) = segments(p) {
            remove(&mut out, &segs);
        }
    }
    for (p, new_name) in &v.rename {
        if let Ok(segs) = segments(p) {
            rename(&mut out, &segs, new_name);
        }
    }
    for (p, value) in &v.defaults {
        if let Ok(segs) = segments(p) {
            set_default(&mut out, &segs, value);
        }
    }
    match out {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The kept fields as a tree: a node with `whole` keeps everything under it.
#[derive(Default)]
struct Keep {
    whole: bool,
    children: BTreeMap<String, Keep>,
}

impl Keep {
    fn insert(&mut self, segs: &[String]) {
        match segs.split_first() {
            None => self.whole = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    fn child(&self, key: &str) -> Option<&Keep> {
        self.children.get(key).or_else(|| self.children.get("*"))
    }

    fn prune(&self, value: Value) -> Value {
        if self.whole {
            return value;
        }
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .filter_map(|(k, v)| self.child(&k).map(|c| (k, c.prune(v))))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, v)| self.child(&i.to_string()).map(|c| c.prune(v)))
                    .collect(),
            ),
            // a path deeper than the document: the value there is kept as it is (`null`)
            scalar => scalar,
        }
    }
}

/// The values one level down that `seg` names: every child for `*`.
fn children_mut<'a>(value: &'a mut Value, seg: &str) -> Vec<&'a mut Value> {
    match (value, seg) {
        (Value::Object(map), "*") => map.values_mut().collect(),
        (Value::Array(items), "*") => items.iter_mut().collect(),
        (Value::Object(map), key) => map.get_mut(key).into_iter().collect(),
        (Value::Array(items), idx) => idx
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get_mut(i))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// Calls `f` on every parent the pointer's last segment lives in.
fn for_each_parent(value: &mut Value, parents: &[String], f: &mut dyn FnMut(&mut Value)) {
    match parents.split_first() {
        None => f(value),
        Some((first, rest)) => {
            for child in children_mut(value, first) {
                for_each_parent(child, rest, f);
            }
        }
    }
}

fn remove(value: &mut Value, segs: &[String]) {
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    for_each_parent(
        value,
        parents,
        &mut |parent| match (parent, last.as_str()) {
            (Value::Object(map), "*") => map.clear(),
            (Value::Array(items), "*") => items.clear(),
            (Value::Object(map), key) => {
                map.shift_remove(key);
            }
            (Value::Array(items), idx) => {
                if let Ok(i) = idx.parse::<usize>()
                    && i < items.len()
                {
                    items.remove(i);
                }
            }
            _ => {}
        },
    );
}

fn rename(value: &mut Value, segs: &[String], new_name: &str) {
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    for_each_parent(value, parents, &mut |parent| {
        if let Value::Object(map) = parent
            && let Some(v) = map.shift_remove(last.as_str())
        {
            map.insert(new_name.to_string(), v);
        }
    });
}

fn set_default(value: &mut Value, segs: &[String], default: &Value) {
    match segs.split_first() {
        None => {}
        Some((last, [])) => {
            for_each_parent(value, &[], &mut |parent| match (parent, last.as_str()) {
                (Value::Object(map), "*") => {
                    for v in map.values_mut().filter(|v| v.is_null()) {
                        *v = default.clone();
                    }
                }
                (Value::Object(map), key) => {
                    map.entry(key.to_string())
                        .or_insert_with(|| default.clone());
                }
                _ => {}
            });
        }
        Some((first, rest)) => {
            // a plain name that is absent becomes an object, so `/meta/source` can be added
            if let Value::Object(map) = value
                && first != "*"
                && !map.contains_key(first.as_str())
            {
                map.insert(first.clone(), Value::Object(Map::new()));
            }
            for child in children_mut(value, first) {
                set_default(child, rest, default);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn version(v: Value) -> PayloadVersion {
        serde_json::from_value(v).unwrap()
    }

    fn render(v: Value, data: Value) -> Value {
        let v = version(v);
        validate("v", &v).unwrap();
        Value::Object(apply(&v, data.as_object().unwrap()))
    }

    fn lead() -> Value {
        json!({
            "id": 138559,
            "prospect": {"email": "e@example.com", "first_name": "Sam", "mobile_phone": "0410"},
            "has_test_drives": true,
            "appointments": [
                {"id": 1, "note": "SUV demo", "status": "pending"},
                {"id": 2, "note": null, "status": "completed"}
            ]
        })
    }

    #[test]
    fn an_empty_version_is_the_data_unchanged() {
        assert_eq!(render(json!({}), lead()), lead());
    }

    #[test]
    fn remove_drops_fields_at_any_depth_and_under_wildcards() {
        let out = render(
            json!({"remove": ["/appointments", "/has_test_drives", "/prospect/mobile_phone", "/absent/x"]}),
            lead(),
        );
        assert_eq!(
            out,
            json!({"id": 138559, "prospect": {"email": "e@example.com", "first_name": "Sam"}})
        );
        let out = render(json!({"remove": ["/appointments/*/note"]}), lead());
        assert_eq!(
            out["appointments"],
            json!([{"id": 1, "status": "pending"}, {"id": 2, "status": "completed"}])
        );
        let out = render(
            json!({"remove": ["/appointments/0", "/prospect/*"]}),
            lead(),
        );
        assert_eq!(out["appointments"][0]["id"], 2);
        assert_eq!(out["prospect"], json!({}));
    }

    #[test]
    fn keep_retains_only_the_named_fields_and_what_is_under_them() {
        let out = render(
            json!({"keep": ["/id", "/prospect/email", "/appointments/*/id", "/missing"]}),
            lead(),
        );
        assert_eq!(
            out,
            json!({"id": 138559, "prospect": {"email": "e@example.com"},
                   "appointments": [{"id": 1}, {"id": 2}]})
        );
        let out = render(json!({"keep": ["/appointments/1"]}), lead());
        assert_eq!(
            out,
            json!({"appointments": [{"id": 2, "note": null, "status": "completed"}]})
        );
        // a pointer deeper than a scalar keeps the scalar
        let out = render(json!({"keep": ["/id/x"]}), lead());
        assert_eq!(out, json!({"id": 138559}));
    }

    #[test]
    fn rename_moves_a_field_in_place_and_keeps_its_order_of_arrival() {
        let out = render(
            json!({"rename": {"/prospect/mobile_phone": "mobile", "/appointments/*/status": "state", "/nope": "x"}}),
            lead(),
        );
        assert_eq!(out["prospect"]["mobile"], "0410");
        assert!(out["prospect"].get("mobile_phone").is_none());
        assert_eq!(out["appointments"][1]["state"], "completed");
        assert!(out.get("x").is_none());
    }

    #[test]
    fn defaults_fill_absent_fields_only() {
        let out = render(
            json!({"defaults": {"/has_test_drives": false, "/channel": "web",
                                 "/meta/source": "import", "/appointments/*/location_id": null,
                                 "/prospect/*": "n/a"}}),
            json!({"has_test_drives": true, "prospect": {"email": null, "name": "x"},
                   "appointments": [{"id": 1}, {"id": 2, "location_id": 7}]}),
        );
        assert_eq!(out["has_test_drives"], true);
        assert_eq!(out["channel"], "web");
        assert_eq!(out["meta"], json!({"source": "import"}));
        assert_eq!(
            out["appointments"],
            json!([{"id": 1, "location_id": null}, {"id": 2, "location_id": 7}])
        );
        // `*` as the last segment fills members that are null
        assert_eq!(out["prospect"], json!({"email": "n/a", "name": "x"}));
    }

    #[test]
    fn operations_apply_in_order_keep_remove_rename_defaults() {
        let out = render(
            json!({"keep": ["/prospect"], "remove": ["/prospect/email"],
                   "rename": {"/prospect/first_name": "given_name"},
                   "defaults": {"/prospect/email": "hidden"}}),
            lead(),
        );
        assert_eq!(
            out,
            json!({"prospect": {"mobile_phone": "0410", "given_name": "Sam", "email": "hidden"}})
        );
    }

    #[test]
    fn escaped_pointers_name_fields_with_slashes_and_tildes() {
        let out = render(
            json!({"remove": ["/a~1b", "/c~0d"]}),
            json!({"a/b": 1, "c~d": 2, "e": 3}),
        );
        assert_eq!(out, json!({"e": 3}));
    }

    #[test]
    fn invalid_versions_are_refused_with_a_code() {
        let cases = [
            ("v1", json!({"remove": ["appointments"]})),
            ("v1", json!({"keep": [""]})),
            ("v1", json!({"rename": {"/a": ""}})),
            ("v1", json!({"rename": {"/a/*": "b"}})),
            ("v1", json!({"defaults": {"/a//b": 1}})),
            ("", json!({})),
            ("v 1", json!({})),
            (
                "v1",
                json!({"remove": (0..101).map(|i| format!("/f{i}")).collect::<Vec<_>>()}),
            ),
        ];
        for (name, v) in cases {
            let err = validate(name, &version(v.clone())).unwrap_err();
            assert_eq!(err.code, "invalid_payload_version", "{name} {v}");
        }
        assert!(serde_json::from_value::<PayloadVersion>(json!({"drop": []})).is_err());
    }
}
