//! The partition keys the hot path writes, read off the wire: every DynamoDB write of ingest
//! (one by one, which is a batch of one, and keyed), fan-out and attempts (first, retried, failed with a
//! notification) goes to a partition named by an id of its own item, by a subscription's shard,
//! or by one of the outbox's 32 shards; none to a constant key that every event, tenant or
//! status would share (BENCHMARKS.md, partitions).

mod support;

use hookline_conformance::moto::RequestCounter;
use hookline_core::access::Principal;
use hookline_core::ports::QueueMessage;
use hookline_core::service::Keyed;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use support::{sqs_event, stream_of_stored};

/// Every partition key value a DynamoDB write request sets: the items' and keys' `pk`, and the
/// index partitions (`gsiNpk`) of put items or set by update expressions.
fn partitions_written(op: &str, body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let from_item = |item: &Value, out: &mut Vec<String>| {
        for k in ["pk", "gsi1pk", "gsi2pk", "gsi3pk"] {
            if let Some(v) = item[k]["S"].as_str() {
                out.push(v.to_string());
            }
        }
    };
    let from_update = |u: &Value, out: &mut Vec<String>| {
        from_item(&u["Key"], out);
        let expr = u["UpdateExpression"].as_str().unwrap_or("");
        for index in ["gsi1pk", "gsi2pk", "gsi3pk"] {
            let Some(at) = expr.find(&format!("{index} = ")) else {
                continue;
            };
            let name: String = expr[at + index.len() + 3..]
                .chars()
                .take_while(|c| *c == ':' || c.is_alphanumeric() || *c == '_')
                .collect();
            if let Some(v) = u["ExpressionAttributeValues"][&name]["S"].as_str() {
                out.push(v.to_string());
            }
        }
    };
    match op {
        "PutItem" => from_item(&body["Item"], &mut out),
        "UpdateItem" => from_update(body, &mut out),
        "DeleteItem" => from_item(&body["Key"], &mut out),
        "BatchWriteItem" => {
            for requests in body["RequestItems"]
                .as_object()
                .into_iter()
                .flat_map(|t| t.values())
            {
                for r in requests.as_array().into_iter().flatten() {
                    from_item(&r["PutRequest"]["Item"], &mut out);
                    from_item(&r["DeleteRequest"]["Key"], &mut out);
                }
            }
        }
        "TransactWriteItems" => {
            for t in body["TransactItems"].as_array().into_iter().flatten() {
                from_item(&t["Put"]["Item"], &mut out);
                from_update(&t["Update"], &mut out);
                from_item(&t["Delete"]["Key"], &mut out);
            }
        }
        _ => {}
    }
    out
}

/// `{prefix}` then a 26-character ULID, and what follows it.
fn after_id<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(prefix)?;
    let (id, tail) = rest.split_at_checked(26)?;
    id.chars()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        .then_some(tail)
}

/// A partition of the item's own id: an event, a delivery, an idempotency key.
fn own_partition(p: &str) -> bool {
    after_id(p, "EVT#evt_") == Some("")
        || after_id(p, "DLV#dlv_") == Some("")
        || p.starts_with("IDEM#")
}

/// One of a subscription's four delivery (or failed-delivery) shards.
fn subscription_shard(p: &str) -> bool {
    ["#DLV#", "#FAILED#"].iter().any(|kind| {
        after_id(p, "SUB#sub_")
            .and_then(|t| t.strip_prefix(kind))
            .is_some_and(|n| ["0", "1", "2", "3"].contains(&n))
    })
}

/// A subscription's own items: its endpoint health, parked jobs and pacing.
fn subscription_partition(p: &str) -> bool {
    ["HEALTH#sub_", "PARK#sub_", "PACE#sub_"]
        .iter()
        .any(|prefix| after_id(p, prefix) == Some(""))
}

/// One of the outbox's 32 shards.
fn outbox_shard(p: &str) -> bool {
    p.strip_prefix("OUTBOX#")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n < 32 && p.len() == "OUTBOX#00".len())
}

#[tokio::test]
async fn no_write_of_the_hot_path_goes_to_a_shared_partition() {
    let counter = RequestCounter::default();
    let (mut hl, table, _, _) = support::counted_on_moto("1s", &counter).await;
    // every delivery to the failing endpoint runs its course here: its circuit stays closed
    // (it still records each failure in the subscription's health item)
    hl.settings.breaker.failures_to_open = u32::MAX;
    let healthy = receiver(200).await;
    let failing = receiver(503).await;
    for (tenant, url) in [
        ("ford-anytown", &healthy),
        ("ford-anytown", &failing),
        ("honda-springfield", &healthy),
        ("kia-riverside", &healthy),
    ] {
        let sub = serde_json::from_value(
            json!({"tenant_id": tenant, "url": url, "event_types": ["lead.*"]}),
        )
        .unwrap();
        hl.create_subscription(&Principal::Admin, sub, None)
            .await
            .unwrap();
    }
    counter.take_dynamodb_bodies();

    // ingest: one by one, under an Idempotency-Key, and a batch
    let mut events = Vec::new();
    for (i, tenant) in ["ford-anytown", "honda-springfield", "kia-riverside"]
        .iter()
        .cycle()
        .take(30)
        .enumerate()
    {
        let new = serde_json::from_value(
            json!({"tenant_id": tenant, "type": "lead.qualified", "data": {"n": i}}),
        )
        .unwrap();
        let render = |e: &hookline_core::event::Event| (202, json!({"id": e.id}).to_string());
        let key = format!("lead-{i}");
        let keyed = (i % 2 == 0).then(|| {
            Keyed::new(
                &Principal::Admin,
                "POST /v1/events",
                &key,
                key.as_bytes(),
                &render,
            )
        });
        let stored = hl
            .ingest(&Principal::Admin, new, keyed)
            .await
            .unwrap()
            .into_new()
            .unwrap();
        events.push(stored);
    }
    // fan-out, then every attempt until each delivery succeeded or failed
    let refs: Vec<_> = events.iter().collect();
    let resp = hookline_functions::handle_stream(&hl, stream_of_stored(&table, &refs).await).await;
    assert!(resp.batch_item_failures.is_empty());
    let mut handled = 0;
    for _ in 0..200 {
        let jobs: Vec<QueueMessage> = hl.queue.receive(10).await.unwrap();
        if jobs.is_empty() {
            if handled >= 60 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        handled += jobs.len();
        let resp = hookline_functions::handle_sqs(&hl, sqs_event(&jobs)).await;
        assert!(resp.batch_item_failures.is_empty());
    }
    let failures = hl
        .store
        .events_awaiting_fanout(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == hookline_core::event::DELIVERY_FAILED)
        .count();
    assert_eq!(
        failures, 10,
        "the failing endpoint's deliveries failed, with notifications"
    );

    let mut writes: BTreeMap<String, usize> = BTreeMap::new();
    for (op, body) in counter.take_dynamodb_bodies() {
        for p in partitions_written(&op, &body) {
            *writes.entry(p).or_default() += 1;
        }
    }
    assert!(
        writes.keys().any(|p| p.starts_with("HEALTH#sub_")),
        "the failing endpoint's health is written\n{writes:#?}"
    );
    for (partition, n) in &writes {
        assert!(
            own_partition(partition)
                || subscription_shard(partition)
                || subscription_partition(partition)
                || outbox_shard(partition),
            "{partition} ({n} writes) is not an item's own, shard or outbox partition\n{writes:#?}"
        );
    }
    let shards: BTreeSet<_> = writes.keys().filter(|p| outbox_shard(p)).collect();
    assert!(
        shards.len() >= 10,
        "40 events' outbox entries (30 and 10 notifications) spread over {} partitions",
        shards.len()
    );
    assert!(
        writes.keys().any(|p| p.contains("#FAILED#")),
        "failed deliveries are indexed"
    );
}

/// A loopback receiver answering every request with `status`; its URL.
async fn receiver(status: u16) -> String {
    let app = axum::Router::new()
        .fallback(move || async move { axum::http::StatusCode::from_u16(status).unwrap() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}
