//! The queue port on SQS. Bodies are the small job JSON (ids, the attempt number, the due time).
//! A retry is a new message sent with `DelaySeconds` (at most 15 minutes; the core makes longer
//! waits of several), so a backing-off job is delayed, not in flight, and never counts toward
//! SQS's in-flight limit. The dead-letter queue is a second queue, reached either by the redrive
//! policy (after the maximum receive count) or explicitly with the reason the job was given up
//! on as a message attribute. Who deletes a handled message is the core's call
//! (`pipeline::Removal`): `delete` here always deletes.

use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    QueueAttributeName, SendMessageBatchRequestEntry,
};
use hookline_core::error::{Error, Result};
use hookline_core::ports::{DeadLetter, Enqueue, Queue, QueueLimits, QueueMessage};
use std::time::Duration;

/// What SQS takes: 10 messages per `SendMessageBatch`, `DelaySeconds` up to 900.
pub const SQS_LIMITS: QueueLimits = QueueLimits {
    max_batch: 10,
    max_delay: Duration::from_secs(900),
    delay_step: Duration::from_secs(1),
};
/// SQS's longest visibility timeout (the handling time of one batch, never a backoff).
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

const REASON: &str = "hookline-reason";
/// How often a batch is re-sent with only its failed entries before giving up.
const BATCH_TRIES: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub queue: String,
    pub dead_letter: String,
}

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    urls: QueueUrls,
    visibility_timeout: Duration,
    /// Long-poll wait on receive (0 to 20 s).
    wait: Duration,
}

/// Whole seconds, rounded up (a visibility or a delay never ends early), at most `max`.
fn secs_ceil(d: Duration, max: Duration) -> i32 {
    (d.as_millis().div_ceil(1000) as u64).min(max.as_secs()) as i32
}

impl SqsQueue {
    pub fn new(
        client: Client,
        urls: QueueUrls,
        visibility_timeout: Duration,
        wait: Duration,
    ) -> Self {
        SqsQueue {
            client,
            urls,
            visibility_timeout,
            wait,
        }
    }

    /// Creates the queue and its dead-letter queue if they do not exist (local runs and tests;
    /// deployments get them from the templates, with the same settings): the redrive policy's
    /// maximum receive count, the visibility timeout, 14 days' retention on both (schedules add up to
    /// at most 7 days).
    pub async fn ensure(
        client: &Client,
        name: &str,
        visibility_timeout: Duration,
        max_receive_count: u32,
    ) -> Result<QueueUrls> {
        let dlq_name = format!("{name}-dlq");
        Self::ensure_with(
            client,
            name,
            &dlq_name,
            visibility_timeout,
            max_receive_count,
        )
        .await
    }

    /// [`SqsQueue::ensure`] for a queue whose dead-letter queue is `dlq_name` (the slow lane
    /// shares the main lane's).
    pub async fn ensure_with(
        client: &Client,
        name: &str,
        dlq_name: &str,
        visibility_timeout: Duration,
        max_receive_count: u32,
    ) -> Result<QueueUrls> {
        let dlq = client
            .create_queue()
            .queue_name(dlq_name)
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                (14 * 24 * 3600).to_string(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("sqs", e))?;
        let dlq_url = dlq.queue_url().unwrap_or_default().to_string();
        let attrs = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| sdk_error("sqs", e))?;
        let arn = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| Error::internal("sqs: the dead-letter queue has no ARN"))?;
        let redrive =
            serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count});
        let queue = client
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                secs_ceil(visibility_timeout, MAX_VISIBILITY).to_string(),
            )
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                (14 * 24 * 3600).to_string(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("sqs", e))?;
        Ok(QueueUrls {
            queue: queue.queue_url().unwrap_or_default().to_string(),
            dead_letter: dlq_url,
        })
    }

    /// Finds an existing queue and its dead-letter queue (`{name}-dlq`).
    pub async fn lookup(client: &Client, name: &str) -> Result<QueueUrls> {
        Self::lookup_with(client, name, &format!("{name}-dlq")).await
    }

    /// Finds an existing queue and the dead-letter queue `dlq_name`.
    pub async fn lookup_with(client: &Client, name: &str, dlq_name: &str) -> Result<QueueUrls> {
        let url = |n: String| async move {
            client
                .get_queue_url()
                .queue_name(n)
                .send()
                .await
                .map(|o| o.queue_url().unwrap_or_default().to_string())
                .map_err(|e| sdk_error("sqs", e))
        };
        Ok(QueueUrls {
            queue: url(name.to_string()).await?,
            dead_letter: url(dlq_name.to_string()).await?,
        })
    }

    async fn send_entries(
        &self,
        url: &str,
        mut entries: Vec<SendMessageBatchRequestEntry>,
    ) -> Result<()> {
        for _ in 0..BATCH_TRIES {
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries.clone()))
                .send()
                .await
                .map_err(|e| sdk_error("sqs", e))?;
            let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
            if failed.is_empty() {
                return Ok(());
            }
            tracing::warn!(
                failed = failed.len(),
                "SendMessageBatch: retrying failed entries"
            );
            entries.retain(|e| failed.contains(&e.id()));
        }
        Err(Error::internal(format!(
            "sqs: {} messages could not be sent",
            entries.len()
        )))
    }
}

fn entry(i: usize, send: &Enqueue) -> Result<SendMessageBatchRequestEntry> {
    SendMessageBatchRequestEntry::builder()
        .id(i.to_string())
        .message_body(send.message.encode())
        .delay_seconds(secs_ceil(send.delay, SQS_LIMITS.max_delay))
        .build()
        .map_err(|e| Error::internal(format!("sqs: {e}")))
}

#[async_trait]
impl Queue for SqsQueue {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn limits(&self) -> QueueLimits {
        SQS_LIMITS
    }

    async fn send_batch(&self, jobs: &[Enqueue]) -> Result<()> {
        for chunk in jobs.chunks(self.limits().max_batch) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, send)| entry(i, send))
                .collect::<Result<Vec<_>>>()?;
            self.send_entries(&self.urls.queue, entries).await?;
        }
        Ok(())
    }

    async fn receive(&self, max: usize) -> Result<Vec<QueueMessage>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.urls.queue)
            .max_number_of_messages(max.clamp(1, self.limits().max_batch) as i32)
            .visibility_timeout(secs_ceil(self.visibility_timeout, MAX_VISIBILITY))
            .wait_time_seconds(self.wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sdk_error("sqs", e))?;
        Ok(out
            .messages()
            .iter()
            .map(|m| QueueMessage {
                id: m.message_id().unwrap_or_default().to_string(),
                body: m.body().unwrap_or_default().to_string(),
                receipt: m.receipt_handle().unwrap_or_default().to_string(),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1),
            })
            .collect())
    }

    /// SQS accepts a receipt of an already-deleted message, so a repeated delete succeeds.
    async fn delete(&self, receipt: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.urls.queue)
            .receipt_handle(receipt)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error("sqs", e))
    }

    /// Ten receipts a `DeleteMessageBatch`, the batches concurrently; any entry that failed
    /// fails the call (its message comes back, which the retry chain makes harmless).
    async fn delete_batch(&self, receipts: &[String]) -> Result<()> {
        let batches = receipts
            .chunks(SQS_LIMITS.max_batch)
            .map(|chunk| async move {
                let entries = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(r)
                            .build()
                            .map_err(|e| Error::internal(format!("sqs: {e}")))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let out = self
                    .client
                    .delete_message_batch()
                    .queue_url(&self.urls.queue)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| sdk_error("sqs", e))?;
                match out.failed().first() {
                    None => Ok(()),
                    Some(f) => Err(Error::internal(format!(
                        "sqs: {} of {} deletes failed: {}",
                        out.failed().len(),
                        chunk.len(),
                        f.message().unwrap_or(f.code())
                    ))),
                }
            });
        futures::future::try_join_all(batches).await?;
        Ok(())
    }

    /// Only writes the dead letter: the original is removed by whoever settles it (`delete`, or
    /// Lambda's event source), so the message is never lost between the two writes.
    async fn dead_letter(&self, _message: &QueueMessage, body: &str, reason: &str) -> Result<()> {
        let reason_attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| Error::internal(format!("sqs: {e}")))?;
        self.client
            .send_message()
            .queue_url(&self.urls.dead_letter)
            .message_body(body)
            .message_attributes(REASON, reason_attr)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error("sqs", e))
    }

    /// Peeks at the dead-letter queue (visibility 0: nothing is hidden or consumed).
    async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.urls.dead_letter)
            .max_number_of_messages(limit.clamp(1, self.limits().max_batch) as i32)
            .visibility_timeout(0)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| sdk_error("sqs", e))?;
        Ok(out
            .messages()
            .iter()
            .map(|m| DeadLetter {
                id: m.message_id().unwrap_or_default().to_string(),
                body: m.body().unwrap_or_default().to_string(),
                reason: m
                    .message_attributes()
                    .and_then(|a| a.get(REASON))
                    .and_then(|v| v.string_value())
                    .unwrap_or("maximum receive count exceeded")
                    .to_string(),
            })
            .collect())
    }
}
