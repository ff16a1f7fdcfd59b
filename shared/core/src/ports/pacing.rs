//! Storage of pacing state: per subscription, when its next free send slot starts
//! (see [`crate::pacing`]).

use crate::clock::Timestamp;
use crate::error::Result;
use crate::ids::SubscriptionId;
use async_trait::async_trait;

#[async_trait]
pub trait PacingStore: Send + Sync + 'static {
    /// Takes the subscription's next send slot at `now` for a limit of `per_sec`: atomically,
    /// so concurrent callers get distinct slots one interval apart ([`crate::pacing::take_slot`]).
    async fn take_slot(
        &self,
        subscription: &SubscriptionId,
        now: Timestamp,
        per_sec: u32,
    ) -> Result<Timestamp>;
}
