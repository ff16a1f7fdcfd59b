//! What each write of the hot path costs in DynamoDB capacity, from the items the store really
//! writes: an item's size by DynamoDB's rules, the index entries a write adds or removes, and
//! the request units they round up to. The cost test (`functions/tests/cost.rs`) prices these.
//!
//! Size rules (DynamoDB developer guide, "Item sizes and formats"): an attribute is its name's
//! UTF-8 bytes plus its value; a string its UTF-8 bytes, a number about one byte per two
//! significant digits plus one, a list or map 3 bytes plus one byte and the size of each
//! element. An index entry is the base table's keys, the index keys and the projected
//! attributes, plus 100 bytes.

use super::codec::{
    Item, delivery_item, event_item, n, outbox_item, s, subscription_item, to_json,
};
use super::keys::{GSI1, GSI2, GSI3, PROJECTED};
use aws_sdk_dynamodb::types::AttributeValue as AV;
use hookline_core::delivery::Delivery;
use hookline_core::event::Event;
use hookline_core::subscription::Subscription;

/// A write unit covers 1 KB of item; a read unit 4 KB (strongly consistent; half of one
/// eventually consistent).
pub const WRITE_UNIT: usize = 1024;
pub const READ_UNIT: usize = 4096;
/// The bytes DynamoDB adds to each index entry.
pub const INDEX_OVERHEAD: usize = 100;

fn value_size(v: &AV) -> usize {
    match v {
        AV::S(s) => s.len(),
        AV::N(num) => {
            let digits = num.trim_start_matches('-').replace('.', "");
            let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
            significant.div_ceil(2) + 1
        }
        AV::B(b) => b.as_ref().len(),
        AV::Bool(_) | AV::Null(_) => 1,
        AV::L(list) => 3 + list.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AV::M(map) => {
            3 + map
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        AV::Ss(set) => set.iter().map(String::len).sum(),
        _ => 0,
    }
}

/// An item's size by DynamoDB's rules.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Write units of a write of `bytes` (an `UpdateItem` is charged the larger of the item before
/// and after).
pub fn write_units(bytes: usize) -> u64 {
    bytes.div_ceil(WRITE_UNIT).max(1) as u64
}

/// Read units of a strongly consistent read of `bytes`.
pub fn read_units(bytes: usize) -> u64 {
    bytes.div_ceil(READ_UNIT).max(1) as u64
}

/// The entry `index` holds for `item`, if the item is in it: both tables' keys and what the
/// index projects.
fn index_entry(item: &Item, index: &str) -> Option<usize> {
    let pk = format!("{index}pk");
    item.get(&pk)?;
    let projected: &[&str] = if index == GSI3 { &[] } else { &PROJECTED };
    let keep = |k: &str| {
        ["pk", "sk", pk.as_str(), &format!("{index}sk")].contains(&k) || projected.contains(&k)
    };
    let entry: Item = item
        .iter()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(item_size(&entry) + INDEX_OVERHEAD)
}

/// What one write costs: the item's size and the index entries it writes (or deletes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub item_bytes: usize,
    pub index_entries: Vec<usize>,
}

impl Write {
    fn of(item: &Item, indexes: &[&str]) -> Write {
        Write {
            item_bytes: item_size(item),
            index_entries: indexes
                .iter()
                .filter_map(|i| index_entry(item, i))
                .collect(),
        }
    }

    /// Write units, the index entries' included.
    pub fn units(&self) -> u64 {
        write_units(self.item_bytes)
            + self
                .index_entries
                .iter()
                .map(|b| write_units(*b))
                .sum::<u64>()
    }
}

fn ttl() -> AV {
    n(1_800_000_000)
}

/// Storing an event: its item and, with `fan_out`, its outbox entry (a second, small item).
pub fn event_put(e: &Event, fan_out: bool) -> Vec<Write> {
    let mut writes = vec![Write::of(
        &event_item(e, fan_out, ttl()),
        &[GSI1, GSI2, GSI3],
    )];
    if fan_out {
        writes.push(Write::of(&outbox_item(e, ttl()), &[]));
    }
    writes
}

/// Marking an event fanned out: its outbox entry is deleted (charged at the entry's size).
pub fn event_fanned_out(e: &Event) -> Write {
    Write::of(&outbox_item(e, ttl()), &[])
}

/// A delivery as stored after its attempts were appended and while a claim is held.
fn delivery_stored(d: &Delivery) -> Item {
    let mut item = delivery_item(d, ttl());
    let attempts = d.attempts.iter().map(|a| s(to_json(a))).collect();
    item.insert("attempts".into(), AV::L(attempts));
    if let Some(c) = &d.carrier {
        item.insert("carrier".into(), s(c));
    }
    if let Some(t) = d.claimed_until {
        item.insert("claimed_until".into(), n(t.millis()));
    }
    item
}

/// Creating a delivery: the item and its gsi1 and gsi2 entries.
pub fn delivery_put(d: &Delivery) -> Write {
    Write::of(&delivery_item(d, ttl()), &[GSI1, GSI2, GSI3])
}

/// A claim or an attempt's record leaving the delivery as `after`: the item is charged at its
/// new size; only a delivery that becomes failed enters an index (gsi3), since gsi1 and gsi2
/// project nothing an update changes.
pub fn delivery_update(after: &Delivery) -> Write {
    let item = delivery_stored(after);
    Write {
        item_bytes: item_size(&item),
        index_entries: index_entry(&item, GSI3).into_iter().collect(),
    }
}

/// The bytes one subscription's gsi1 entry adds to a fan-out `Query`.
pub fn subscription_entry(s: &Subscription) -> usize {
    index_entry(&subscription_item(s), GSI1).expect("subscriptions are on gsi1")
}

/// The bytes of a stored item, as `GetItem` reads them.
pub fn event_bytes(e: &Event) -> usize {
    item_size(&event_item(e, false, ttl()))
}
pub fn delivery_bytes(d: &Delivery) -> usize {
    item_size(&delivery_stored(d))
}
pub fn subscription_bytes(s: &Subscription) -> usize {
    item_size(&subscription_item(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn item(pairs: &[(&str, AV)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<HashMap<_, _>>()
    }

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        assert_eq!(item_size(&item(&[("pk", AV::S("EVT#1".into()))])), 2 + 5);
        // 1,795,736,620: ten significant digits, five bytes, plus one
        assert_eq!(item_size(&item(&[("ttl", n(1_795_736_620))])), 3 + 6);
        assert_eq!(
            item_size(&item(&[("n", n(1000))])),
            1 + 2,
            "trailing zeros are trimmed"
        );
        let list = AV::L(vec![AV::S("ab".into()), AV::S("c".into())]);
        assert_eq!(
            item_size(&item(&[("attempts", list)])),
            8 + 3 + (1 + 2) + (1 + 1)
        );
        let map = AV::M(HashMap::from([("k".to_string(), AV::Bool(true))]));
        assert_eq!(item_size(&item(&[("m", map)])), 1 + 3 + 1 + 1 + 1);
    }

    #[test]
    fn units_round_up_per_kilobyte_and_per_four() {
        assert_eq!(write_units(0), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
        assert_eq!(read_units(4096), 1);
        assert_eq!(read_units(4097), 2);
        let w = Write {
            item_bytes: 1500,
            index_entries: vec![150, 150],
        };
        assert_eq!(w.units(), 2 + 1 + 1);
    }

    #[test]
    fn only_keys_and_projected_attributes_are_in_an_entry() {
        let i = item(&[
            ("pk", AV::S("DLV#d".into())),
            ("sk", AV::S("#".into())),
            ("gsi1pk", AV::S("EVT#e#DLV#01".into())),
            ("gsi1sk", AV::S("d".into())),
            ("id", AV::S("d".into())),
            ("attempts", AV::L(vec![AV::S("x".repeat(900))])),
        ]);
        let entry = index_entry(&i, GSI1).unwrap();
        assert_eq!(
            entry,
            (2 + 5) + (2 + 1) + (6 + 12) + (6 + 1) + (2 + 1) + 100
        );
        assert_eq!(
            index_entry(&i, GSI3),
            None,
            "not in a sparse index without its key"
        );
    }
}
