//! The job queue, with SQS semantics: a sent message can be delayed; received messages are hidden
//! for a visibility timeout (long enough to handle them, never a backoff) and come back unless
//! deleted; the receive count grows with each receive; a message received more than the maximum
//! receive count is redriven to the dead-letter queue.

use crate::error::Result;
use crate::pipeline::Job;
use crate::pipeline::health::Wake;
use crate::pipeline::lane::Lane;
use async_trait::async_trait;
use std::time::Duration;

/// A received job message. `receipt` identifies this receive (as an SQS receipt handle does).
/// The body stays text: a message that is not a job is dead-lettered as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: String,
    pub body: String,
    pub receipt: String,
    pub receive_count: u32,
}

/// A dead-lettered message, as ops see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: String,
    pub body: String,
    pub reason: String,
}

/// What a queue can take, declared by its adapter (SQS: 10 messages a batch, 15 minutes of
/// delay), so that the core never hard-codes one service's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most messages one `send_batch` request carries; the core sends larger sets in chunks.
    pub max_batch: usize,
    /// Longest a sent message can be delayed. A longer wait is made of several sends, each
    /// delayed this long at most: waiting work is never held in flight.
    pub max_delay: Duration,
    /// The queue delays in whole steps of this (SQS: seconds; a shorter delay is rounded up).
    pub delay_step: Duration,
}

/// What a message carries: a delivery's job, or the wake of a subscription whose circuit is
/// open (see [`crate::pipeline::health`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Job(Job),
    Wake(Wake),
}

impl Message {
    /// The message body.
    pub fn encode(&self) -> String {
        match self {
            Message::Job(job) => job.encode(),
            Message::Wake(wake) => wake.encode(),
        }
    }
}

/// A message to send, delivered after `delay` (at most the queue's `max_delay`), to the queue
/// of `lane`, or (`None`) of the lane that sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    pub message: Message,
    pub delay: Duration,
    pub lane: Option<Lane>,
}

impl Enqueue {
    /// A job to deliver as soon as possible.
    pub fn now(job: Job) -> Self {
        Enqueue::after(job, Duration::ZERO)
    }

    /// A job to deliver after `delay`.
    pub fn after(job: Job, delay: Duration) -> Self {
        Enqueue {
            message: Message::Job(job),
            delay,
            lane: None,
        }
    }

    /// The same message, sent to `lane`'s queue.
    pub fn to(self, lane: Lane) -> Self {
        Enqueue {
            lane: Some(lane),
            ..self
        }
    }

    /// The job it carries, if it is a job.
    pub fn job(&self) -> Option<&Job> {
        match &self.message {
            Message::Job(job) => Some(job),
            Message::Wake(_) => None,
        }
    }
}

#[async_trait]
pub trait Queue: Send + Sync + 'static {
    fn limits(&self) -> QueueLimits;
    /// Sends at most `limits().max_batch` jobs in one request, each after its own delay.
    async fn send_batch(&self, jobs: &[Enqueue]) -> Result<()>;
    async fn receive(&self, max: usize) -> Result<Vec<QueueMessage>>;
    async fn delete(&self, receipt: &str) -> Result<()>;
    /// Deletes received messages by receipt, as `delete` does each (a receipt that matches
    /// nothing deletes nothing and succeeds). By default one request each, concurrently; SQS
    /// deletes ten a request, SQLite all in one transaction. On an error some may be deleted.
    async fn delete_batch(&self, receipts: &[String]) -> Result<()> {
        futures::future::try_join_all(receipts.iter().map(|r| self.delete(r))).await?;
        Ok(())
    }
    /// Replaces messages received from this queue (by receipt) with new ones sent to `to`, this
    /// queue or another lane's: afterwards each receipt deletes nothing and its new message
    /// waits on `to`, as a send there and a delete here would leave them. That is what this
    /// default does, in two requests; a queue that also holds `to`'s messages (the embedded
    /// one, whose lanes share a database) moves each message in place, in one write.
    async fn replace(&self, moves: &[(String, Enqueue)], to: &dyn Queue) -> Result<()> {
        replace_by_send(self, moves, to).await
    }
    /// This queue as `Any`, for an adapter's `replace` to recognise a queue of its own kind.
    fn as_any(&self) -> &dyn std::any::Any;
    /// Moves a message to the dead-letter queue as `body` (what a redrive will deliver), with
    /// the reason it was given up on.
    async fn dead_letter(&self, message: &QueueMessage, body: &str, reason: &str) -> Result<()>;
    async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>>;
}

/// [`Queue::replace`] in two requests: the new messages sent to `to`, then the received ones
/// deleted from `from`. The default, and what a queue that can move in place falls back to.
pub async fn replace_by_send<Q: Queue + ?Sized>(
    from: &Q,
    moves: &[(String, Enqueue)],
    to: &dyn Queue,
) -> Result<()> {
    let sent: Vec<Enqueue> = moves.iter().map(|(_, e)| e.clone()).collect();
    to.send_batch(&sent).await?;
    let receipts: Vec<String> = moves.iter().map(|(r, _)| r.clone()).collect();
    from.delete_batch(&receipts).await
}
