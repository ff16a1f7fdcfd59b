//! Typed, prefixed identifiers. The string form carries its kind (`evt_`, `sub_`, `dlv_`, `msg_`)
//! and a ULID, so ids sort by creation time and a mixed-up id is a compile error.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Mutex;

/// A monotonic ULID: ids made in the same millisecond still sort in creation order, so lists
/// paged by id come out oldest first.
pub fn new_ulid() -> ulid::Ulid {
    static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());
    let mut g = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    g.generate().unwrap_or_else(|_| ulid::Ulid::new())
}

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $what:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                $name(format!("{}{}", $prefix, new_ulid()))
            }

            /// Accepts the string form only if it has this kind's prefix and a valid ULID.
            pub fn parse(s: &str) -> Option<Self> {
                let rest = s.strip_prefix($prefix)?;
                ulid::Ulid::from_string(rest).ok()?;
                Some($name(s.to_string()))
            }

            /// An id from a request path: one that cannot be of this kind is "not found",
            /// like a well-formed id that names nothing.
            pub fn from_path(s: &str) -> crate::error::Result<Self> {
                Self::parse(s).ok_or_else(|| crate::error::Error::not_found($what, s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(concat!("expected an id starting with ", $prefix))
                })
            }
        }
    };
}

prefixed_id!(EventId, "evt_", "event");
prefixed_id!(SubscriptionId, "sub_", "subscription");
prefixed_id!(DeliveryId, "dlv_", "delivery");
prefixed_id!(ApiKeyId, "key_", "API key");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_refuse_other_kinds() {
        let e = EventId::generate();
        assert!(e.as_str().starts_with("evt_"));
        assert_eq!(EventId::parse(e.as_str()), Some(e.clone()));
        assert_eq!(SubscriptionId::parse(e.as_str()), None);
        assert_eq!(EventId::parse("evt_not-a-ulid"), None);
    }

    #[test]
    fn ids_sort_by_creation() {
        let ids: Vec<DeliveryId> = (0..1000).map(|_| DeliveryId::generate()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "same-millisecond ids keep their order"
        );
    }
}
