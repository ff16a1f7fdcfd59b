//! Fan-out at scale, on moto: one event to 1,000 subscriptions, and a stream batch of events,
//! each fanned out with one read of the tenant's subscriptions, concurrent creates and full
//! `SendMessageBatch` calls across the batch. The requests are counted on the wire.

mod support;

use futures::StreamExt;
use hookline_conformance::moto::RequestCounter;
use hookline_core::access::Principal;
use hookline_core::clock::Timestamp;
use hookline_core::destination::DestinationPolicy;
use hookline_core::event::{Event, NewEvent};
use hookline_core::ports::DeliveryQuery;
use hookline_core::subscription::NewSubscription;
use hookline_core::{Hookline, TenantId};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;
use support::stream_of_stored;

struct Rig {
    hl: Hookline,
    table: String,
    counter: RequestCounter,
    sqs: hookline_aws::SqsClient,
    queue_url: String,
}

async fn rig() -> Rig {
    let counter = RequestCounter::default();
    let (hl, table, sqs, queue_url) = support::counted_on_moto("1s", &counter).await;
    Rig {
        hl,
        table,
        counter,
        sqs,
        queue_url,
    }
}

impl Rig {
    /// `n` subscriptions of `tenant` to `lead.*`, written straight to the store, 16 at a time.
    async fn subscribe(&self, tenant: &str, n: usize) {
        let tenant = TenantId::parse(tenant).unwrap();
        futures::stream::iter(0..n)
            .map(|i| {
                let sub = serde_json::from_value::<NewSubscription>(json!({
                    "url": format!("https://crm{i}.example.com/hooks"), "event_types": ["lead.*"]
                }))
                .unwrap()
                .into_subscription(
                    tenant.clone(),
                    Timestamp(1_000),
                    &DestinationPolicy::default(),
                )
                .unwrap();
                async move { self.hl.store.insert_subscription(&sub, None).await.unwrap() }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
    }

    async fn ingest(&self, tenant: &str) -> Event {
        let new: NewEvent = serde_json::from_value(json!({
            "tenant_id": tenant, "type": "lead.qualified", "data": {"leadId": "lead_138559"}
        }))
        .unwrap();
        self.hl
            .ingest(&Principal::Admin, new, None)
            .await
            .unwrap()
            .into_new()
            .unwrap()
    }

    async fn queued(&self) -> usize {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        attrs.attributes().unwrap()
            [&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages]
            .parse()
            .unwrap()
    }

    async fn deliveries_of(&self, event: &Event) -> usize {
        let mut q = DeliveryQuery {
            event_id: Some(event.id.clone()),
            ..hookline_conformance::fixtures::query()
        };
        let mut total = 0;
        loop {
            let page = self.hl.store.list_deliveries(&q).await.unwrap();
            total += page.len();
            match page.last() {
                Some(last) if page.len() == q.limit => q.after = Some(last.id.clone()),
                _ => return total,
            }
        }
    }
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn one_event_fans_out_to_a_thousand_subscriptions_in_full_batches() {
    let rig = rig().await;
    rig.subscribe("ford-anytown", 1_000).await;
    let event = rig.ingest("ford-anytown").await;
    let stream = stream_of_stored(&rig.table, &[&event]).await;
    rig.counter.take();
    let started = Instant::now();
    let response = hookline_functions::handle_stream(&rig.hl, stream).await;
    let took = started.elapsed();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        rig.counter.take(),
        counts(&[
            ("DynamoDB.DeleteItem", 1),
            ("DynamoDB.PutItem", 1_000),
            ("DynamoDB.Query", 1),
            ("SQS.SendMessageBatch", 100),
        ])
    );
    println!("1,000 deliveries fanned out on moto in {took:?}");
    assert_eq!(rig.queued().await, 1_000);
    assert_eq!(rig.deliveries_of(&event).await, 1_000);
}

#[tokio::test]
async fn a_stream_batch_shares_one_read_per_tenant_and_full_job_batches() {
    let rig = rig().await;
    rig.subscribe("ford-anytown", 1).await;
    rig.subscribe("honda-springfield", 1).await;
    let mut events = Vec::new();
    for i in 0..20 {
        let tenant = if i % 2 == 0 {
            "ford-anytown"
        } else {
            "honda-springfield"
        };
        events.push(rig.ingest(tenant).await);
    }
    let refs: Vec<&Event> = events.iter().collect();
    let stream = stream_of_stored(&rig.table, &refs).await;
    rig.counter.take();
    let response = hookline_functions::handle_stream(&rig.hl, stream).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        rig.counter.take(),
        counts(&[
            ("DynamoDB.DeleteItem", 20),
            ("DynamoDB.PutItem", 20),
            ("DynamoDB.Query", 2),
            ("SQS.SendMessageBatch", 2),
        ]),
        "20 events of two tenants: one Query per tenant, 20 jobs in two full batches"
    );
    assert_eq!(rig.queued().await, 20);
}
