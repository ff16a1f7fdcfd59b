//! OpenAPI schemas of the core's string-shaped types (timestamps, ids, patterns), so the spec the
//! API serves is generated from the same types the code uses.

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};

fn string_schema(
    description: &str,
    pattern: Option<&str>,
    format: Option<KnownFormat>,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(pattern)
        .format(format.map(SchemaFormat::KnownFormat))
        .into()
}

macro_rules! string_schema {
    ($ty:ty, $desc:expr, $pattern:expr, $format:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                string_schema($desc, $pattern, $format)
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}

string_schema!(
    crate::clock::Timestamp,
    "RFC 3339 timestamp, UTC, millisecond precision",
    None,
    Some(KnownFormat::DateTime)
);
string_schema!(
    crate::ids::EventId,
    "Event id",
    Some("^evt_[0-9A-HJKMNP-TV-Z]{26}$"),
    None
);
string_schema!(
    crate::ids::SubscriptionId,
    "Subscription id",
    Some("^sub_[0-9A-HJKMNP-TV-Z]{26}$"),
    None
);
string_schema!(
    crate::ids::DeliveryId,
    "Delivery id",
    Some("^dlv_[0-9A-HJKMNP-TV-Z]{26}$"),
    None
);
string_schema!(
    crate::ids::ApiKeyId,
    "API key id",
    Some("^key_[0-9A-HJKMNP-TV-Z]{26}$"),
    None
);
string_schema!(
    crate::matching::EventTypePattern,
    "An event type (`lead.qualified`), a prefix pattern (`lead.*`) or `*`",
    None,
    None
);
