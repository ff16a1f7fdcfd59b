//! The store ports on one DynamoDB table: one file per store trait (`subscriptions`, `events`,
//! `deliveries`, `api_keys`, `idempotency`) over shared keys (`keys`), item codecs (`codec`) and
//! index queries (`query`); `provision` creates the table, `stream` reads its stream records.
//!
//! Key design (`pk`, `sk` strings; two GSIs with `gsi1pk`/`gsi1sk`, `gsi2pk`/`gsi2sk`, both
//! projecting all attributes; `ttl` in epoch seconds), every shape spelled in `keys`:
//!
//! | item | pk | sk | gsi1 | gsi2 |
//! |---|---|---|---|---|
//! | subscription | `SUB#{id}` | `#` | `T#{tenant}#SUB`, id | `SUB`, id |
//! | event | `EVT#{id}` | `#` | `OUTBOX`, id (only until fanned out) | |
//! | delivery | `DLV#{id}` | `#` | `EVT#{event}#DLV`, id | `SUB#{sub}#DLV`, id |
//! | delivery guard | `EVT#{event}` | `DLV#{sub}` | | |
//! | API key | `KEY#{id}` | `#` | `T#{tenant}#KEY`, id | `KEY`, id |
//! | idempotency key | `IDEM#{key}` | `#` | | |
//!
//! Event items also carry `event_type`, which the notify function's stream filter matches.
//!
//! Access patterns and what each costs:
//! - get a subscription, event, delivery or key by id: one `GetItem` (strongly consistent);
//! - fan-out candidates of a tenant, list/count a tenant's subscriptions: one `Query` on gsi1
//!   (`subscriptions`, `query`);
//! - deliveries of an event / of a subscription, oldest first after a cursor: `Query` on gsi1 /
//!   gsi2 (status and time window as filters; `deliveries`);
//! - create a delivery exactly once per (event, subscription): one `TransactWriteItems` of the
//!   guard (conditional) and the delivery; a repeat costs one more `GetItem` of the guard and one
//!   of the delivery (`deliveries`);
//! - record an attempt: one `UpdateItem` appending to the delivery's attempts (the failure
//!   notification, when there is one, in the same `TransactWriteItems`; `deliveries`);
//! - create under an `Idempotency-Key`: one `GetItem` of the key's response (a replay stops
//!   there), then one `TransactWriteItems` of the new item and the response, conditional on the
//!   key holding none (`idempotency`).
//!
//! The event outbox index (gsi1 `OUTBOX`) lets a poller find events not yet fanned out, as the
//! local AWS mode does; on AWS the table's stream triggers fan-out (`stream` decodes its records).

mod api_keys;
mod codec;
mod deliveries;
mod events;
mod idempotency;
pub mod keys;
mod provision;
mod query;
pub mod stream;
mod subscriptions;

use crate::sdk_error;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue as AV;
use codec::{Item, key, n};
use hookline_core::clock::Timestamp;
use hookline_core::error::Result;
use std::time::Duration;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// How long events and deliveries are kept (DynamoDB TTL).
    retention: Duration,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            retention,
        }
    }

    /// The `ttl` of an item made at `from`.
    fn expires(&self, from: Timestamp) -> AV {
        n(from.plus(self.retention).seconds())
    }

    /// The item alone in partition `pk`, read strongly consistent.
    async fn get(&self, pk: String) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(out.item().cloned())
    }

    /// Writes an item that must not exist yet.
    pub(super) async fn put_new(&self, item: Item) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error("dynamodb", e))
    }
}
