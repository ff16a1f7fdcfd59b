//! The store ports on one DynamoDB table: one file per store trait (`subscriptions`, `events`,
//! `deliveries`, `api_keys`, `idempotency`) over shared keys (`keys`), item codecs (`codec`) and
//! index queries (`query`); `provision` creates the table, `stream` reads its stream records.
//!
//! Key design (`pk`, `sk` strings; three GSIs with `gsiNpk`/`gsiNsk`; `ttl` in epoch seconds),
//! every shape spelled in `keys`. gsi1 and gsi2 project only `keys::PROJECTED` (what listing
//! subscriptions and keys reads, and what never changes on a delivery), gsi3 is sparse and
//! keys-only (failed deliveries). No write on the hot path (ingest, fan-out, attempts) goes to
//! a partition that every event, tenant or status shares: the outbox is spread over 32
//! partitions, a subscription's deliveries over 4, and an event's deliveries need no index at
//! all (BENCHMARKS.md has the arithmetic).
//!
//! | item | pk | sk | gsi1 | gsi2 | gsi3 |
//! |---|---|---|---|---|---|
//! | subscription | `SUB#{id}` | `#` | `T#{tenant}#SUB`, id | `SUB`, id | |
//! | event | `EVT#{id}` | `#` | | | |
//! | outbox entry | `OUTBOX#{nn}` | event id (until fanned out) | | | |
//! | delivery | `DLV#{id}` | `#` | | `SUB#{sub}#DLV#{n}`, id | `SUB#{sub}#FAILED#{n}`, id (while failed) |
//! | API key | `KEY#{id}` | `#` | `T#{tenant}#KEY`, id | `KEY`, id | |
//! | event type | `ETYPE#*` (the deployment's) or `ETYPE#T#{tenant}` | name | | | |
//! | idempotency key | `IDEM#{key}` | `#` | | | |
//! | pacing of a rate-limited subscription | `PACE#{sub}` | `#` | | | |
//! | endpoint health (circuit breaker) | `HEALTH#{sub}` | `#` | | | |
//! | parked job (circuit open) | `PARK#{sub}` | delivery id | | | |
//!
//! A delivery's id is fixed by its (event, subscription) (`DeliveryId::of`), carries its
//! event's time, and so sorts the listings in time order; time windows are ranges of ids. An
//! event's deliveries are read by id: the event with each of its tenant's subscriptions. The
//! `SUB` and `KEY` partitions of gsi2 (every tenant's subscriptions and keys, for the admin's
//! listings) are written only when a subscription or key is created or changed.
//!
//! Event items also carry `event_type`, which the notify function's stream filter matches.
//!
//! Access patterns and what each costs:
//! - get a subscription, delivery or key by id: one `GetItem` (strongly consistent); an event,
//!   which never changes, eventually consistent (strongly only if that misses);
//! - fan-out candidates of a tenant, list/count a tenant's subscriptions: one `Query` on gsi1
//!   (`subscriptions`, `query`);
//! - deliveries of a subscription / failed ones of a subscription, oldest first within a time
//!   window and after a cursor: one `Query` per shard (concurrently) on gsi2 / gsi3, then
//!   `BatchGetItem` of the page (`deliveries`, `query`);
//! - deliveries of an event: `GetItem` of the event, the tenant's subscriptions (one `Query`),
//!   `BatchGetItem` of their delivery ids (`deliveries`);
//! - create a delivery exactly once per (event, subscription): one `PutItem` conditional on the
//!   id being new; a repeat is answered with the stored item (`deliveries`);
//! - claim an attempt, record it: one conditional `UpdateItem` each, appending the attempt; the
//!   failure notification, when there is one, in the same `TransactWriteItems` (`deliveries`);
//! - a scope's event types: one `Query` of its partition, once per cache ttl per process; a
//!   change is a `PutItem` conditional on the revision read (`event_types`);
//! - create under an `Idempotency-Key`: one `GetItem` of the key's response (a replay stops
//!   there), then one `TransactWriteItems` of the new item and the response, conditional on the
//!   key holding none (`idempotency`).
//!
//! The outbox entries (`OUTBOX#nn` partitions, read by `Query` on each) let a poller find events
//! not yet fanned out, as the local AWS mode does and the sweep does on AWS; there the table's
//! stream triggers fan-out on an event's INSERT (`stream` decodes its records). An event is
//! never rewritten: fan-out deletes its small entry instead.

mod api_keys;
mod codec;
mod deliveries;
mod event_types;
mod events;
pub mod footprint;
mod health;
mod idempotency;
pub mod keys;
mod pacing;
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

    /// The item alone in partition `pk`, read strongly consistent or (for items that never
    /// change once written) eventually consistent, at half the read units.
    async fn get(&self, pk: String, consistent: bool) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(out.item().cloned())
    }

    /// Writes an item, whatever was there.
    pub(super) async fn put(&self, item: Item) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error("dynamodb", e))
    }

    /// Writes an item if `condition` holds on what is stored; `false` (and nothing written)
    /// when it does not.
    pub(super) async fn put_if(
        &self,
        item: Item,
        condition: &str,
        values: Option<std::collections::HashMap<String, AV>>,
    ) -> Result<bool> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
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
