//! Checks of `Queue`, the SQS semantics the delivery pipeline relies on: delays, visibility,
//! receive counts, redrive and dead letters. Durations are whole seconds so the same checks hold
//! on SQS.

use hookline_core::ids::DeliveryId;
use hookline_core::pipeline::Job;
use hookline_core::ports::{Enqueue, Queue, QueueMessage};
use std::time::Duration;

/// What a check needs from the queue it is given.
#[derive(Debug, Clone, Copy)]
pub struct QueueSpec {
    pub visibility_timeout: Duration,
    pub max_receive_count: u32,
}

/// The queue settings for one check, by its name: only the redrive check needs a low maximum
/// receive count, and the others must not hit it.
pub fn spec_for(check: &str) -> QueueSpec {
    let max_receive_count = if check == "redrive_after_max_receive_count" {
        2
    } else {
        10
    };
    QueueSpec {
        visibility_timeout: Duration::from_secs(1),
        max_receive_count,
    }
}

fn jobs(n: usize) -> Vec<Job> {
    (0..n).map(|_| Job::first(DeliveryId::generate())).collect()
}

fn now(jobs: &[Job]) -> Vec<Enqueue> {
    jobs.iter().cloned().map(Enqueue::now).collect()
}

/// Sends in chunks of the queue's batch limit, as the core does.
async fn send(q: &dyn Queue, jobs: &[Job]) {
    for chunk in now(jobs).chunks(q.limits().max_batch) {
        q.send_batch(chunk).await.unwrap();
    }
}

/// The jobs the messages carry, in a fixed order (queues need not keep the sending order).
fn decoded(messages: &[QueueMessage]) -> Vec<Job> {
    sorted(
        messages
            .iter()
            .map(|m| Job::decode(&m.body).expect("a message body is a job's encoding"))
            .collect(),
    )
}

fn sorted(mut jobs: Vec<Job>) -> Vec<Job> {
    jobs.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    jobs
}

async fn settle() {
    // a little past a 1 s visibility timeout
    tokio::time::sleep(Duration::from_millis(1_300)).await;
}

checks! {
    list for_each_queue_check in queue;

    pub async fn sent_messages_are_received_once_while_hidden(q: &dyn Queue) {
        let sent = jobs(3);
        send(q, &sent).await;
        let got = q.receive(10).await.unwrap();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|m| m.receive_count == 1));
        assert_eq!(decoded(&got), sorted(sent), "each job arrives as sent");
        assert!(
            q.receive(10).await.unwrap().is_empty(),
            "received messages are hidden"
        );
        for m in &got {
            q.delete(&m.receipt).await.unwrap();
        }
        settle().await;
        assert!(
            q.receive(10).await.unwrap().is_empty(),
            "deleted messages never return"
        );
    }

    pub async fn undeleted_message_returns_after_visibility_timeout(q: &dyn Queue) {
        send(q, &jobs(1)).await;
        let first = q.receive(1).await.unwrap();
        assert_eq!(first.len(), 1);
        settle().await;
        let again = q.receive(1).await.unwrap();
        assert_eq!(again.len(), 1, "an undeleted message comes back");
        assert_eq!(again[0].id, first[0].id);
        assert_eq!(again[0].receive_count, 2);
        assert_ne!(
            again[0].receipt, first[0].receipt,
            "each receive has its own receipt"
        );
    }

    /// A delayed message is not received (nor in flight) before its delay is over; the others
    /// of the same batch are at once.
    pub async fn a_delayed_message_arrives_after_its_delay(q: &dyn Queue) {
        let [soon, later] = [jobs(1).remove(0), jobs(1).remove(0)];
        let batch = [
            Enqueue::now(soon.clone()),
            Enqueue::after(later.clone(), Duration::from_secs(2)),
        ];
        q.send_batch(&batch).await.unwrap();
        let first = q.receive(10).await.unwrap();
        assert_eq!(decoded(&first), vec![soon], "only the undelayed job arrives at once");
        q.delete(&first[0].receipt).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2_300)).await;
        let second = q.receive(10).await.unwrap();
        assert_eq!(decoded(&second), vec![later], "the delayed job arrives after its delay");
    }

    /// A redelivered message is deleted with the receipt of its latest receive. (What an older
    /// receipt does is left open, as SQS leaves it: the core never relies on it.)
    pub async fn redelivered_message_is_deleted_with_its_latest_receipt(q: &dyn Queue) {
        send(q, &jobs(1)).await;
        let first = q.receive(1).await.unwrap().remove(0);
        settle().await;
        let second = q.receive(1).await.unwrap().remove(0);
        assert_eq!(second.id, first.id);
        q.delete(&second.receipt).await.unwrap();
        settle().await;
        assert!(q.receive(1).await.unwrap().is_empty(), "deleted for good");
    }

    /// Deleting a batch by receipts removes each of those messages for good (more than one
    /// request's worth, a receipt given twice and one already deleted included) and no other.
    pub async fn a_batch_delete_removes_exactly_the_messages_named(q: &dyn Queue) {
        let sent = jobs(13);
        send(q, &sent).await;
        let mut got = Vec::new();
        for _ in 0..5 {
            got.extend(q.receive(10).await.unwrap());
            if got.len() == sent.len() {
                break;
            }
        }
        assert_eq!(got.len(), sent.len());
        let (gone, kept) = got.split_at(12);
        q.delete(&gone[0].receipt).await.unwrap();
        let mut receipts: Vec<String> = gone.iter().map(|m| m.receipt.clone()).collect();
        receipts.push(gone[1].receipt.clone());
        q.delete_batch(&receipts).await.unwrap();
        settle().await;
        let back = q.receive(10).await.unwrap();
        assert_eq!(back.len(), 1, "only the message not named comes back");
        assert_eq!(back[0].id, kept[0].id);
    }

    /// A received message replaced by a new one (here on the same queue, as a job sent on to
    /// wait is): the new message arrives after its delay as a message never received, and it
    /// alone; the old one never returns, and its receipt deletes nothing. A replace whose
    /// receipt is stale (the message was received again meanwhile) still sends its new one.
    pub async fn a_replaced_message_is_gone_and_its_new_one_arrives_after_its_delay(q: &dyn Queue) {
        send(q, &jobs(2)).await;
        let got = q.receive(2).await.unwrap();
        assert_eq!(got.len(), 2);
        let (kept, next) = (got[1].clone(), Job::reopen(DeliveryId::generate(), 3));
        let moves = [(
            got[0].receipt.clone(),
            Enqueue::after(next.clone(), Duration::from_secs(2)),
        )];
        q.replace(&moves, q).await.unwrap();
        q.delete(&got[0].receipt).await.unwrap();
        settle().await;
        let back = q.receive(10).await.unwrap();
        assert_eq!(back.len(), 1, "only the message that was neither deleted nor replaced");
        assert_eq!(back[0].id, kept.id);
        q.delete(&back[0].receipt).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let new = q.receive(10).await.unwrap();
        assert_eq!(decoded(&new), vec![next.clone()], "the new message, after its delay");
        assert_eq!(new[0].receive_count, 1, "a new message, never received before");
        // replacing by a receipt that no longer holds the message still sends the new one
        let stale = [(new[0].receipt.clone(), Enqueue::now(next.clone()))];
        q.delete(&new[0].receipt).await.unwrap();
        q.replace(&stale, q).await.unwrap();
        let again = q.receive(10).await.unwrap();
        assert_eq!(decoded(&again), vec![next]);
    }

    pub async fn batch_receive_honours_max(q: &dyn Queue) {
        let sent = jobs(25);
        send(q, &sent).await;
        let mut got = Vec::new();
        for _ in 0..10 {
            let batch = q.receive(10).await.unwrap();
            assert!(batch.len() <= 10);
            for m in &batch {
                q.delete(&m.receipt).await.unwrap();
            }
            got.extend(batch);
            if got.len() == 25 {
                break;
            }
        }
        assert_eq!(decoded(&got), sorted(sent), "every job arrives once");
    }

    /// The core sends in chunks of `max_batch`, so a full chunk must go in one call.
    pub async fn declared_limits_allow_a_full_batch(q: &dyn Queue) {
        let limits = q.limits();
        assert!(limits.max_batch >= 1, "a batch holds at least one job");
        assert!(
            limits.max_delay >= Duration::from_secs(1),
            "a message can be delayed for the shortest backoff"
        );
        let sent = jobs(limits.max_batch);
        q.send_batch(&now(&sent)).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..10 {
            got.extend(q.receive(limits.max_batch).await.unwrap());
            if got.len() >= sent.len() {
                break;
            }
        }
        assert_eq!(decoded(&got), sorted(sent), "the whole batch arrives");
    }

    pub async fn redrive_after_max_receive_count(q: &dyn Queue) {
        // max receive count 2: two receives, then the message moves to the DLQ
        let sent = jobs(1);
        send(q, &sent).await;
        assert_eq!(q.receive(1).await.unwrap().len(), 1);
        settle().await;
        assert_eq!(q.receive(1).await.unwrap()[0].receive_count, 2);
        settle().await;
        assert!(
            q.receive(1).await.unwrap().is_empty(),
            "a third receive redrives instead"
        );
        let dlq = q.list_dead_letters(10).await.unwrap();
        assert_eq!(dlq.len(), 1);
        assert_eq!(Job::decode(&dlq[0].body).as_ref(), sent.first());
    }

    /// `dead_letter` only has to put the body on the dead-letter queue; the core deletes the
    /// original after it, which must succeed whether or not the adapter already removed it.
    pub async fn dead_letter_records_the_reason(q: &dyn Queue) {
        send(q, &jobs(2)).await;
        let got = q.receive(2).await.unwrap();
        let job = Job::decode(&got[0].body).unwrap();
        let reason = "gave up after 8 attempts; last error: HTTP 500";
        let redrive = Job::reopen(job.delivery_id.clone(), 8);
        q.dead_letter(&got[0], &redrive.encode(), reason)
            .await
            .unwrap();
        q.delete(&got[0].receipt).await.unwrap();
        let dlq = q.list_dead_letters(10).await.unwrap();
        assert_eq!(dlq.len(), 1);
        assert_eq!(
            Job::decode(&dlq[0].body),
            Some(redrive),
            "the dead letter carries the body to redrive"
        );
        assert_eq!(dlq[0].reason, reason);
        settle().await;
        let rest = q.receive(10).await.unwrap();
        assert_eq!(rest.len(), 1, "the dead-lettered message left the queue");
        assert_eq!(rest[0].id, got[1].id);
        settle().await;
        assert!(
            q.receive(10).await.unwrap().iter().all(|m| m.id != got[0].id),
            "the dead-lettered message never returns"
        );
        q.delete(&got[0].receipt)
            .await
            .expect("deleting a message already removed succeeds");
    }
}
