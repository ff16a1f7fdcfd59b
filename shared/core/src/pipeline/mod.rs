//! The delivery pipeline, in the order an event travels it.
//!
//! 1. **Ingest** (`service::events`): `POST /v1/events` validates the event and stores it once;
//!    the store puts it in its outbox in the same write.
//! 2. **Fan-out** ([`fanout`]): the outbox (on AWS, the table's stream) hands the event over;
//!    every matching subscription of its tenant gets one delivery, created once per (event,
//!    subscription), and one [`Job`] ([`job`]) on the queue. The event leaves the outbox only
//!    after its jobs are queued, so a crash means a repeat, never a loss.
//! 3. **Dispatch** ([`dispatch`]): a received job loads its delivery and decides, from the
//!    delivery's state, the subscription and the [`AttemptBudget`] ([`budget`]), whether to
//!    attempt it.
//! 4. **Attempt** ([`attempt`]): the signed request ([`request`]) is sent through the `Sender`
//!    port; the result is classified and the next step decided ([`outcome`], pure), then the
//!    attempt and the delivery's new status are recorded in one write.
//! 5. **Settle** ([`settle`]): the job's message is deleted (delivered), hidden for the backoff
//!    delay (retry), or moved to the dead-letter queue with the reason ([`GiveUp`]).
//! 6. **Failure** ([`failure`], [`notify`]): giving up stores a `hookline.delivery.failed`
//!    event ([`DeliveryFailed`]) in the same write as the failure; it is fanned out to the
//!    tenant's subscribers like any event and published to the alert topic.

pub mod attempt;
pub mod budget;
pub mod cache;
pub mod chain;
pub mod dispatch;
pub mod failure;
pub mod fanout;
pub mod handoff;
pub mod health;
pub mod job;
pub mod lane;
pub mod notify;
pub mod outcome;
pub mod request;
pub mod settle;

pub use crate::hookline::Removal;
pub use budget::{AttemptBudget, GiveUp};
pub use failure::DeliveryFailed;
pub use job::Job;
pub use settle::{Disposition, stays_in_queue};
