//! How many AWS requests each step of the functions costs, counted on the wire (an SDK
//! interceptor) against moto: the figures in BENCHMARKS.md. The counts are asserted, so a change
//! that adds a request per event or per delivery fails here. Run with `--nocapture` to print
//! the table.

mod support;

use hookline_conformance::moto::{self, RequestCounter};
use hookline_core::access::Principal;
use hookline_core::destination::DestinationPolicy;
use hookline_core::event::Event;
use hookline_core::ports::QueueMessage;
use hookline_core::retry_schedule::RetrySchedule;
use hookline_core::{Hookline, Settings};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;
use support::{sqs_event, stream_of_stored};
use tower::ServiceExt;

type Counts = BTreeMap<String, usize>;

fn counts(pairs: &[(&str, usize)]) -> Counts {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

struct Rig {
    hl: Hookline,
    table: String,
    counter: RequestCounter,
    sns: hookline_aws::SnsClient,
    router: axum::Router,
    receiver_status: Arc<AtomicU16>,
    receiver_url: String,
    report: Vec<(String, Counts)>,
}

impl Rig {
    async fn new() -> Rig {
        let counter = RequestCounter::default();
        let (dynamo, sqs, sns) = moto::counted_clients(&counter).await;
        let table = moto::unique("hookline");
        let schedule = RetrySchedule::parse("1s").unwrap();
        hookline_aws::DynamoStore::ensure_table(&dynamo, &table)
            .await
            .unwrap();
        let urls = hookline_aws::SqsQueue::ensure(
            &sqs,
            &moto::unique("deliveries"),
            Duration::from_secs(30),
            schedule.max_receive_count(),
        )
        .await
        .unwrap();
        // as the functions are configured (`hookline_from_env`)
        let store =
            hookline_aws::DynamoStore::new(dynamo, table.clone(), Duration::from_secs(86_400));
        let queue = hookline_aws::SqsQueue::new(sqs, urls, Duration::from_secs(30), Duration::ZERO);
        let hl = hookline_functions::wire(
            store,
            queue,
            Settings {
                destination: DestinationPolicy {
                    allow_private: true,
                    require_https: false,
                },
                schedule,
                default_timeout_ms: 5000,
                removal: hookline_core::pipeline::Removal::EventSource,
                strict_event_types: false,
                breaker: Default::default(),
            },
        );
        // registries read once per test, not once per 5 s of it, so every step is steady
        let mut hl = hl;
        hl.event_types = std::sync::Arc::new(
            hookline_core::event_type::cache::EventTypeCache::new(Duration::from_secs(3600)),
        );
        let router = hookline_api::router(hookline_api::ApiState {
            hookline: hl.clone(),
            admin_key: "admin-key".into(),
        });
        let receiver_status = Arc::new(AtomicU16::new(200));
        let status = receiver_status.clone();
        let app = axum::Router::new().fallback(move || {
            let status = status.load(Ordering::SeqCst);
            async move { axum::http::StatusCode::from_u16(status).unwrap() }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver_url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        counter.take();
        Rig {
            hl,
            table,
            counter,
            sns,
            router,
            receiver_status,
            receiver_url,
            report: Vec::new(),
        }
    }

    /// The requests since the last step, recorded under `step`.
    fn step(&mut self, step: &str) {
        let c = self.counter.take();
        self.report.push((step.to_string(), c));
    }

    async fn subscribe(&self, tenant: &str, types: Value) {
        let sub = serde_json::from_value(
            json!({"tenant_id": tenant, "url": self.receiver_url, "event_types": types}),
        )
        .unwrap();
        self.hl
            .create_subscription(&Principal::Admin, sub, None)
            .await
            .unwrap();
    }

    async fn post_event(&self, key: &str, idempotency_key: Option<&str>, body: Value) -> String {
        let mut request = axum::http::Request::post("/v1/events")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json");
        if let Some(k) = idempotency_key {
            request = request.header("idempotency-key", k);
        }
        let response = self
            .router
            .clone()
            .oneshot(
                request
                    .body(axum::body::Body::from(body.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `POST /v1/events/batch` with `events`; every one must be accepted.
    async fn post_batch(&self, key: &str, events: Vec<Value>) {
        let n = events.len();
        let request = axum::http::Request::post("/v1/events/batch")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                json!({ "events": events }).to_string(),
            ))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        let accepted = answer["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == 202)
            .count();
        assert_eq!(accepted, n, "{answer}");
    }

    /// The stored event (outside the counted steps).
    async fn event(&self, id: &str) -> Event {
        let e = self
            .hl
            .store
            .get_event(&hookline_core::ids::EventId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        self.counter.take();
        e
    }

    /// Receives `n` jobs, outside the counted steps (Lambda's event source does this).
    async fn jobs(&self, n: usize) -> Vec<QueueMessage> {
        let mut jobs = Vec::new();
        for _ in 0..100 {
            jobs.extend(self.hl.queue.receive(10).await.unwrap());
            if jobs.len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(jobs.len(), n);
        self.counter.take();
        jobs
    }
}

#[tokio::test]
async fn aws_requests_per_event_and_per_delivery() {
    let mut rig = Rig::new().await;
    let (_, tenant_key) = rig
        .hl
        .create_api_key(&Principal::Admin, "ford-anytown".into(), None, None)
        .await
        .unwrap()
        .into_new()
        .unwrap();
    rig.subscribe("ford-anytown", json!(["lead.*"])).await;
    for _ in 0..10 {
        rig.subscribe("honda-springfield", json!(["appointment.*"]))
            .await;
    }
    rig.counter.take();

    // ingest: the event and its outbox entry
    let lead = json!({"tenant_id": "ford-anytown", "type": "lead.qualified", "data": {"summary": "Test drive"}});
    rig.post_event("admin-key", None, lead.clone()).await;
    rig.step("ingest, first of a tenant in 5 s (+ its event types)");
    rig.post_event("admin-key", None, lead.clone()).await;
    rig.step("ingest, admin key");
    let mut by_tenant = lead.clone();
    by_tenant.as_object_mut().unwrap().remove("tenant_id");
    let id = rig.post_event(&tenant_key, None, by_tenant.clone()).await;
    rig.step("ingest, tenant key");
    rig.post_event(&tenant_key, Some("lead-138559"), by_tenant.clone())
        .await;
    rig.step("ingest, tenant key + Idempotency-Key");

    // fan-out of one event to one subscription
    let event = rig.event(&id).await;
    let resp =
        hookline_functions::handle_stream(&rig.hl, stream_of_stored(&rig.table, &[&event]).await)
            .await;
    assert!(resp.batch_item_failures.is_empty());
    rig.step("fan-out, 1 matching subscription");

    // fan-out of one event to ten subscriptions
    let id = rig
        .post_event(
            "admin-key",
            None,
            json!({"tenant_id": "honda-springfield", "type": "appointment.created", "data": {}}),
        )
        .await;
    let ten = rig.event(&id).await;
    hookline_functions::handle_stream(&rig.hl, stream_of_stored(&rig.table, &[&ten]).await).await;
    rig.step("fan-out, 10 matching subscriptions");

    // a delivery that succeeds at the first attempt
    let jobs = rig.jobs(11).await;
    let (one, tens) = jobs.split_at(1);
    let one = one.to_vec();
    let resp = hookline_functions::handle_sqs(&rig.hl, sqs_event(&one)).await;
    assert!(resp.batch_item_failures.is_empty());
    rig.step("delivery, succeeded");
    // a batch of ten
    let resp = hookline_functions::handle_sqs(&rig.hl, sqs_event(tens)).await;
    assert!(resp.batch_item_failures.is_empty());
    rig.step("delivery batch of 10, all succeeded");

    // a delivery that fails and is retried, then given up on (schedule "1s": two attempts)
    rig.receiver_status.store(503, Ordering::SeqCst);
    let id = rig.post_event("admin-key", None, lead).await;
    let failing = rig.event(&id).await;
    hookline_functions::handle_stream(&rig.hl, stream_of_stored(&rig.table, &[&failing]).await)
        .await;
    rig.counter.take();
    let job = rig.jobs(1).await;
    let resp = hookline_functions::handle_sqs(&rig.hl, sqs_event(&job)).await;
    assert!(
        resp.batch_item_failures.is_empty(),
        "a retry is a new, delayed message; the received one is done"
    );
    rig.step("delivery, failed and retried");
    let job = rig.jobs(1).await;
    let resp = hookline_functions::handle_sqs(&rig.hl, sqs_event(&job)).await;
    assert!(resp.batch_item_failures.is_empty());
    rig.step("delivery, failed at the last attempt (DLQ + failure event)");

    // the failure event: fanned out like any event (no subscription here), and notified
    let failure: Vec<Event> = rig
        .hl
        .store
        .events_awaiting_fanout(10)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == hookline_core::event::DELIVERY_FAILED)
        .collect();
    assert_eq!(failure.len(), 1);
    rig.counter.take();
    hookline_functions::handle_stream(&rig.hl, stream_of_stored(&rig.table, &[&failure[0]]).await)
        .await;
    rig.step("fan-out of the failure event, no subscription");
    let topic = rig
        .sns
        .create_topic()
        .name(moto::unique("alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    rig.counter.take();
    let notifier = hookline_aws::SnsNotifier::new(rig.sns.clone(), topic);
    let resp = hookline_functions::handle_notify(
        &notifier,
        stream_of_stored(&rig.table, &[&failure[0]]).await,
    )
    .await;
    assert!(resp.batch_item_failures.is_empty());
    rig.step("notify, one failure");

    // last, so that its events (which wait in the outbox) stay out of the steps above
    rig.post_batch(&tenant_key, vec![by_tenant; 100]).await;
    rig.step("ingest, batch of 100, tenant key");

    let mut table = String::from("| step | requests |\n|---|---|\n");
    for (step, c) in &rig.report {
        let list: Vec<String> = c.iter().map(|(op, n)| format!("{op} {n}")).collect();
        table.push_str(&format!("| {step} | {} |\n", list.join(", ")));
    }
    println!("{table}");
    // What each step must cost (BENCHMARKS.md explains each request).
    let expected: Vec<(&str, Counts)> = vec![
        // a process reads the deployment's and the tenant's event types once per 5 s
        (
            "ingest, first of a tenant in 5 s (+ its event types)",
            counts(&[("DynamoDB.BatchWriteItem", 1), ("DynamoDB.Query", 2)]),
        ),
        // the event and its outbox entry in one BatchWriteItem
        (
            "ingest, admin key",
            counts(&[("DynamoDB.BatchWriteItem", 1)]),
        ),
        (
            "ingest, tenant key",
            counts(&[("DynamoDB.BatchWriteItem", 1), ("DynamoDB.GetItem", 1)]),
        ),
        (
            "ingest, tenant key + Idempotency-Key",
            counts(&[
                ("DynamoDB.GetItem", 2),
                ("DynamoDB.PutItem", 1),
                ("DynamoDB.TransactWriteItems", 1),
            ]),
        ),
        (
            "fan-out, 1 matching subscription",
            counts(&[
                ("DynamoDB.DeleteItem", 1),
                ("DynamoDB.PutItem", 1),
                ("DynamoDB.Query", 1),
                ("SQS.SendMessageBatch", 1),
            ]),
        ),
        (
            "fan-out, 10 matching subscriptions",
            counts(&[
                ("DynamoDB.DeleteItem", 1),
                ("DynamoDB.PutItem", 10),
                ("DynamoDB.Query", 1),
                ("SQS.SendMessageBatch", 1),
            ]),
        ),
        // the delivery, subscription, event and endpoint health (this rig has no cache; the
        // delivery function reads the subscription and health once per 5 s), the claim, then
        // the attempt's record
        (
            "delivery, succeeded",
            counts(&[("DynamoDB.GetItem", 4), ("DynamoDB.UpdateItem", 2)]),
        ),
        (
            "delivery batch of 10, all succeeded",
            counts(&[("DynamoDB.GetItem", 40), ("DynamoDB.UpdateItem", 20)]),
        ),
        // a failure also reads the health strongly and writes it (conditional PutItem)
        (
            "delivery, failed and retried",
            counts(&[
                ("DynamoDB.GetItem", 5),
                ("DynamoDB.PutItem", 1),
                ("DynamoDB.UpdateItem", 2),
                ("SQS.SendMessageBatch", 1),
            ]),
        ),
        (
            "delivery, failed at the last attempt (DLQ + failure event)",
            counts(&[
                ("DynamoDB.GetItem", 5),
                ("DynamoDB.PutItem", 1),
                ("DynamoDB.UpdateItem", 1),
                ("DynamoDB.TransactWriteItems", 1),
                ("SQS.SendMessage", 1),
            ]),
        ),
        (
            "fan-out of the failure event, no subscription",
            counts(&[("DynamoDB.DeleteItem", 1), ("DynamoDB.Query", 1)]),
        ),
        ("notify, one failure", counts(&[("SNS.Publish", 1)])),
        (
            "ingest, batch of 100, tenant key",
            counts(&[("DynamoDB.BatchWriteItem", 9), ("DynamoDB.GetItem", 1)]),
        ),
    ];
    let steps: Vec<&str> = rig.report.iter().map(|(s, _)| s.as_str()).collect();
    let expected_steps: Vec<&str> = expected.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, expected_steps);
    for (step, want) in expected {
        let got = &rig.report.iter().find(|(s, _)| s == step).unwrap().1;
        assert_eq!(got, &want, "{step}\n{table}");
    }
}
