//! Queue checks. Durations are whole seconds so the same checks hold on SQS.

use hookline_core::ports::Queue;
use std::time::Duration;

/// What a check needs from the queue it is given.
#[derive(Debug, Clone, Copy)]
pub struct QueueSpec {
    pub visibility_timeout: Duration,
    pub max_receive_count: u32,
}

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

fn bodies(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!(r#"{{"delivery_id":"dlv_{i}"}}"#))
        .collect()
}

async fn settle() {
    // a little past a 1 s visibility timeout
    tokio::time::sleep(Duration::from_millis(1_300)).await;
}

pub async fn sent_messages_are_received_once_while_hidden(q: &dyn Queue) {
    q.send_batch(&bodies(3)).await.unwrap();
    let got = q.receive(10).await.unwrap();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|m| m.receive_count == 1));
    let mut seen: Vec<_> = got.iter().map(|m| m.body.clone()).collect();
    seen.sort();
    assert_eq!(seen, bodies(3));
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
    q.send_batch(&bodies(1)).await.unwrap();
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

pub async fn change_visibility_hides_and_reveals(q: &dyn Queue) {
    q.send_batch(&bodies(2)).await.unwrap();
    let got = q.receive(2).await.unwrap();
    q.change_visibility(&got[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    q.change_visibility(&got[1].receipt, Duration::from_secs(5))
        .await
        .unwrap();
    let now = q.receive(10).await.unwrap();
    assert_eq!(
        now.len(),
        1,
        "visibility 0 makes a message receivable at once"
    );
    assert_eq!(now[0].id, got[0].id);
    settle().await;
    let later: Vec<_> = q
        .receive(10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert!(
        !later.contains(&got[1].id),
        "a longer visibility keeps the message hidden"
    );
}

/// A redelivered message is deleted with the receipt of its latest receive. (What an older
/// receipt does is left open, as SQS leaves it: the core never relies on it.)
pub async fn redelivered_message_is_deleted_with_its_latest_receipt(q: &dyn Queue) {
    q.send_batch(&bodies(1)).await.unwrap();
    let first = q.receive(1).await.unwrap().remove(0);
    settle().await;
    let second = q.receive(1).await.unwrap().remove(0);
    assert_eq!(second.id, first.id);
    q.delete(&second.receipt).await.unwrap();
    settle().await;
    assert!(q.receive(1).await.unwrap().is_empty(), "deleted for good");
}

pub async fn batch_receive_honours_max(q: &dyn Queue) {
    q.send_batch(&bodies(25)).await.unwrap();
    let mut total = 0;
    for _ in 0..10 {
        let got = q.receive(10).await.unwrap();
        assert!(got.len() <= 10);
        total += got.len();
        for m in &got {
            q.delete(&m.receipt).await.unwrap();
        }
        if total == 25 {
            break;
        }
    }
    assert_eq!(total, 25);
}

pub async fn redrive_after_max_receive_count(q: &dyn Queue) {
    // max receive count 2: two receives, then the message moves to the DLQ
    q.send_batch(&bodies(1)).await.unwrap();
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
    assert_eq!(dlq[0].body, bodies(1)[0]);
}

pub async fn dead_letter_records_the_reason(q: &dyn Queue) {
    q.send_batch(&bodies(2)).await.unwrap();
    let got = q.receive(2).await.unwrap();
    let redrive_body = r#"{"delivery_id":"dlv_0","reopen":true}"#;
    q.dead_letter(
        &got[0],
        redrive_body,
        "gave up after 8 attempts; last error: HTTP 500",
    )
    .await
    .unwrap();
    let dlq = q.list_dead_letters(10).await.unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(
        dlq[0].body, redrive_body,
        "the dead letter carries the body to redrive"
    );
    assert_eq!(
        dlq[0].reason,
        "gave up after 8 attempts; last error: HTTP 500"
    );
    q.change_visibility(&got[1].receipt, Duration::ZERO)
        .await
        .unwrap();
    let rest = q.receive(10).await.unwrap();
    assert_eq!(rest.len(), 1, "the dead-lettered message left the queue");
    assert_eq!(rest[0].id, got[1].id);
}
