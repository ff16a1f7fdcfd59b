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

impl EventId {
    /// When the event was accepted: the time part of its ULID, in epoch milliseconds.
    pub fn millis(&self) -> i64 {
        ulid_time(&self.0[Self::PREFIX.len()..])
    }
}

fn ulid_time(ulid: &str) -> i64 {
    ulid::Ulid::from_string(ulid).map_or(0, |u| u.timestamp_ms() as i64)
}

impl DeliveryId {
    /// The one id the delivery of `event` to `subscription` can have: the event's time, then
    /// 80 bits of a SHA-256 of the pair. A repeated fan-out computes the same id, so one
    /// conditional write creates the delivery exactly once, and ids still sort by the time
    /// their event was accepted.
    pub fn of(event: &EventId, subscription: &SubscriptionId) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{event}/{subscription}").as_bytes());
        let random = digest[..10]
            .iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
        let ulid = ulid::Ulid::from_parts(event.millis().max(0) as u64, random);
        DeliveryId(format!("{}{ulid}", Self::PREFIX))
    }

    /// The smallest id of a delivery whose event was accepted at or after `millis`: the bound
    /// of a key range over deliveries in time order.
    pub fn lower_bound(millis: i64) -> Self {
        DeliveryId(format!(
            "{}{}",
            Self::PREFIX,
            ulid::Ulid::from_parts(millis.max(0) as u64, 0)
        ))
    }

    /// The largest id of a delivery whose event was accepted before `millis`.
    pub fn last_before(millis: i64) -> Self {
        DeliveryId(format!(
            "{}{}",
            Self::PREFIX,
            ulid::Ulid::from_parts((millis - 1).max(0) as u64, u128::MAX)
        ))
    }

    /// The time part of the id, in epoch milliseconds (the event's acceptance time).
    pub fn millis(&self) -> i64 {
        ulid_time(&self.0[Self::PREFIX.len()..])
    }
}

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
    fn a_delivery_id_is_fixed_by_its_event_and_subscription() {
        let e = EventId::generate();
        let (a, b) = (SubscriptionId::generate(), SubscriptionId::generate());
        let id = DeliveryId::of(&e, &a);
        assert_eq!(DeliveryId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(DeliveryId::of(&e, &a), id, "a repeat computes the same id");
        assert_ne!(DeliveryId::of(&e, &b), id);
        assert_ne!(DeliveryId::of(&EventId::generate(), &a), id);
        assert_eq!(id.millis(), e.millis(), "it carries the event's time");
    }

    #[test]
    fn delivery_ids_sort_by_their_events_time() {
        let sub = SubscriptionId::generate();
        let first = EventId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = EventId::generate();
        let (a, b) = (DeliveryId::of(&first, &sub), DeliveryId::of(&later, &sub));
        assert!(a < b);
        assert!(DeliveryId::lower_bound(first.millis()) <= a);
        assert!(DeliveryId::lower_bound(later.millis()) > a);
        assert!(DeliveryId::lower_bound(later.millis()) <= b);
        assert!(DeliveryId::last_before(later.millis()) >= a);
        assert!(DeliveryId::last_before(later.millis()) < b);
        assert!(DeliveryId::last_before(first.millis()) < a);
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
