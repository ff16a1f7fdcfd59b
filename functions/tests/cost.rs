//! Cost per million deliveries on AWS, as code: the requests each step makes (the counts
//! `request_counts.rs` asserts on moto), the real items' sizes by DynamoDB's rules
//! (`hookline_aws::dynamo::footprint`), and the price table in `infra/prices.json` (its region
//! and date inside). Lambda durations, batch fill and log volume are assumptions, stated below.
//! Run with `--nocapture` for the table BENCHMARKS.md and the README quote.

use hookline_aws::dynamo::footprint::{self, read_units, write_units};
use hookline_core::TenantId;
use hookline_core::clock::Timestamp;
use hookline_core::delivery::{Attempt, Delivery, DeliveryStatus};
use hookline_core::destination::DestinationPolicy;
use hookline_core::event::{Event, NewEvent};
use hookline_core::subscription::{NewSubscription, Subscription};
use serde_json::{Value, json};

/// Assumed: what one Lambda invocation takes (256 MB, arm64, as the templates size them).
const MEMORY_GB: f64 = 0.25;
const API_MS_SINGLE: f64 = 20.0;
const API_MS_BATCH_OF_100: f64 = 150.0;
const FANOUT_MS_PER_EVENT: f64 = 10.0;
const FANOUT_MS_PER_DELIVERY: f64 = 3.0;
/// A batch of 10 jobs is attempted concurrently; the receiver answers in about 100 ms.
const DELIVERY_MS_PER_BATCH: f64 = 150.0;
/// Assumed at load: stream batches of 100 records, SQS batches of 10 messages.
const STREAM_BATCH: f64 = 100.0;
const SQS_BATCH: f64 = 10.0;
/// Assumed log volume: Lambda's START/END/REPORT per invocation, and the functions' JSON lines.
const LOG_BYTES_PER_INVOCATION: f64 = 350.0;
const LOG_BYTES_PER_ATTEMPT: f64 = 300.0;
const RETENTION_MONTHS: f64 = 30.0 / 30.4;
/// Assumed: the delivery function's cache (5 s) serves nine attempts in ten to a busy
/// subscription from memory.
const SUBSCRIPTION_READS_PER_ATTEMPT: f64 = 0.1;
/// Assumed for the provisioned-capacity column: auto scaling's target utilisation.
const PROVISIONED_USE: f64 = 0.7;

struct Prices(Value);

impl Prices {
    fn load() -> Prices {
        let text = include_str!("../../infra/prices.json");
        Prices(serde_json::from_str(text).unwrap())
    }
    fn get(&self, k: &str) -> f64 {
        self.0[k]
            .as_f64()
            .unwrap_or_else(|| panic!("price {k} in infra/prices.json"))
    }
}

/// Billed quantities, per event.
#[derive(Default, Debug, Clone, Copy)]
struct Bill {
    api_requests: f64,
    lambda_requests: f64,
    lambda_gb_seconds: f64,
    sqs_requests: f64,
    write_units: f64,
    read_units: f64,
    stored_bytes: f64,
    log_bytes: f64,
}

impl Bill {
    fn lambda(&mut self, invocations: f64, ms: f64) {
        self.lambda_requests += invocations;
        self.lambda_gb_seconds += ms / 1000.0 * MEMORY_GB;
        self.log_bytes += invocations * LOG_BYTES_PER_INVOCATION;
    }

    /// Dollars by line: API Gateway, Lambda, SQS, DynamoDB, logs.
    fn dollars(&self, p: &Prices) -> [f64; 5] {
        [
            self.api_requests * p.get("api_gateway_http_request"),
            self.lambda_requests * p.get("lambda_request")
                + self.lambda_gb_seconds * p.get("lambda_gb_second_arm64"),
            self.sqs_requests * p.get("sqs_request"),
            self.write_units * p.get("dynamodb_write_request_unit")
                + self.read_units * p.get("dynamodb_read_request_unit")
                + self.stored_bytes / 1e9 * RETENTION_MONTHS * p.get("dynamodb_storage_gb_month"),
            self.log_bytes / 1e9 * p.get("cloudwatch_logs_ingested_gb"),
        ]
    }

    /// DynamoDB's line with provisioned capacity instead, auto-scaled to 70% use (a unit-hour
    /// buys 3,600 units of which 70% are used).
    fn dynamodb_provisioned(&self, p: &Prices) -> f64 {
        let per_unit = |hour: f64| hour / 3600.0 / PROVISIONED_USE;
        self.write_units * per_unit(p.get("dynamodb_provisioned_wcu_hour"))
            + self.read_units * per_unit(p.get("dynamodb_provisioned_rcu_hour"))
            + self.stored_bytes / 1e9 * RETENTION_MONTHS * p.get("dynamodb_storage_gb_month")
    }
}

/// One event of 1 KiB of `data`, ingested one per request or in batches of 100, fanned out to
/// `fan_out` subscriptions, each delivered at attempt `attempts`.
struct Scenario {
    name: &'static str,
    batch: bool,
    fan_out: usize,
    attempts: u32,
    /// The ceiling this design is held to (dollars per million deliveries).
    ceiling: f64,
    /// The target the issue sets, where it sets one.
    target: Option<f64>,
}

fn lead_event() -> Event {
    let notes = "Customer asked about trade-in value and financing for a certified pre-owned SUV. ";
    let mut data = json!({
        "dealerId": "dlr_4821", "leadId": "lead_138559", "timestamp": "2026-12-01T15:04:05Z",
        "customer": {"first_name": "Sarah", "last_name": "Jones", "email": "sarah.jones@example.com",
                     "phone": "+1-555-0100"},
        "vehicle": {"vin": "1HGCM82633A004352", "year": 2024, "make": "Honda", "model": "CR-V"},
        "score": 87, "source": "website-chat",
    });
    data["summary"] = json!("");
    let room = 1024 - data.to_string().len();
    data["summary"] = json!(notes.repeat(room / notes.len() + 1)[..room]);
    assert_eq!(data.to_string().len(), 1024, "a 1 KiB payload");
    serde_json::from_value::<NewEvent>(json!({"type": "lead.qualified", "data": data}))
        .unwrap()
        .into_event(
            TenantId::parse("ford-anytown").unwrap(),
            Timestamp(1_795_736_620_926),
        )
        .unwrap()
}

fn subscription() -> Subscription {
    serde_json::from_value::<NewSubscription>(json!({
        "url": "https://crm.example.com/hooks/hookline", "event_types": ["lead.*"], "name": "CRM"
    }))
    .unwrap()
    .into_subscription(
        TenantId::parse("ford-anytown").unwrap(),
        Timestamp(1_000),
        &DestinationPolicy::default(),
    )
    .unwrap()
}

/// The delivery after `n` attempts, the last with `status`.
fn after_attempts(d: &Delivery, n: u32, status: u16) -> Delivery {
    let mut d = d.clone();
    d.attempts = (1..=n)
        .map(|i| Attempt {
            number: i,
            at: Timestamp(1_795_736_621_000 + i as i64),
            status_code: Some(if i == n { status } else { 503 }),
            error: (i < n).then(|| "HTTP 503".to_string()),
            duration_ms: 120,
            response_body: Some(
                if i == n {
                    "{\"ok\":true}"
                } else {
                    "upstream down"
                }
                .into(),
            ),
        })
        .collect();
    d.status = if status < 300 {
        DeliveryStatus::Succeeded
    } else {
        DeliveryStatus::Pending
    };
    d
}

/// What one event of the scenario bills, from ingest to the last attempt of each delivery.
fn bill(s: &Scenario) -> Bill {
    let event = lead_event();
    let sub = subscription();
    let delivery = Delivery::new(&event, &sub, Timestamp(1_795_736_620_950));
    let n = s.fan_out as f64;
    let mut b = Bill::default();
    // ingest: API Gateway, the api function, the tenant key's GetItem, the event's write
    let per_request = if s.batch { 1.0 / 100.0 } else { 1.0 };
    b.api_requests += per_request;
    let api_ms = if s.batch {
        API_MS_BATCH_OF_100
    } else {
        API_MS_SINGLE
    };
    b.lambda(per_request, api_ms * per_request);
    b.read_units += per_request; // the key, strongly consistent, under 4 KB
    b.write_units += footprint::event_put(&event, true)
        .iter()
        .map(|w| w.units() as f64)
        .sum::<f64>();
    // fan-out: one Query of the tenant's subscriptions per stream batch (GSI reads are
    // eventually consistent; assumed: one tenant per batch), one conditional PutItem per
    // delivery, the batch's jobs in full SendMessageBatch calls, the outbox entry deleted
    b.lambda(
        1.0 / STREAM_BATCH,
        FANOUT_MS_PER_EVENT + FANOUT_MS_PER_DELIVERY * n,
    );
    b.read_units +=
        0.5 * read_units(footprint::subscription_entry(&sub) * s.fan_out) as f64 / STREAM_BATCH;
    b.write_units += n * footprint::delivery_put(&delivery).units() as f64;
    b.sqs_requests += n / SQS_BATCH;
    b.write_units += footprint::event_fanned_out(&event).units() as f64;
    // each attempt: the ESM's receive and delete (10 a request), the delivery function, its
    // reads, the claim and the record; a retry is one SendMessageBatch
    for attempt in 1..=s.attempts {
        let before = after_attempts(&delivery, attempt - 1, 503);
        let after = after_attempts(
            &delivery,
            attempt,
            if attempt == s.attempts { 200 } else { 503 },
        );
        b.sqs_requests += n * 2.0 / SQS_BATCH;
        b.lambda(n / SQS_BATCH, DELIVERY_MS_PER_BATCH * n / SQS_BATCH);
        b.log_bytes += n * LOG_BYTES_PER_ATTEMPT;
        // the delivery strongly consistent, the event eventually (half a unit), the
        // subscription from the delivery function's cache most of the time
        let reads = read_units(footprint::delivery_bytes(&before)) as f64
            + SUBSCRIPTION_READS_PER_ATTEMPT
                * read_units(footprint::subscription_bytes(&sub)) as f64
            + 0.5 * read_units(footprint::event_bytes(&event)) as f64
            // the endpoint's health item (~300 bytes), from the same cache
            + SUBSCRIPTION_READS_PER_ATTEMPT * 1.0;
        b.read_units += n * reads;
        if attempt < s.attempts {
            // a failed attempt reads the health item strongly and writes it (1 unit each)
            b.read_units += n;
            b.write_units += n;
        }
        let mut claimed = before.clone();
        claimed.carrier = Some("8c1f9e4e-33b2-4a4e-9d0a-5f0f3c1c2a77#AQEB".into());
        claimed.claimed_until = Some(Timestamp(1_795_736_660_000));
        b.write_units += n * footprint::delivery_update(&claimed).units() as f64;
        b.write_units += n * write_units(footprint::delivery_bytes(&after)) as f64;
        if attempt < s.attempts {
            b.sqs_requests += n;
        }
    }
    // kept for the retention: the event, each delivery and its index entries
    let last = after_attempts(&delivery, s.attempts, 200);
    let put = footprint::delivery_put(&last);
    b.stored_bytes += footprint::event_bytes(&event) as f64
        + n * (put.item_bytes + put.index_entries.iter().sum::<usize>()) as f64;
    b
}

/// The least a design can bill per delivery while it keeps a per-delivery log and claims each
/// attempt before sending it (so that two handlers of one job never both send it): `writes`
/// conditional writes of at least a write unit each (3: a create before the job is queued, as
/// fan-out does now, the claim and the record; 2: the create folded into the first claim),
/// its share of the queue's requests (a send, a receive and a delete, ten a request) and of the
/// delivery function (invocation and duration), and the stored delivery. Everything else is
/// left out: the event and its ingest, every index entry, every read, fan-out's own invocation,
/// the logs. Per delivery.
fn floor(writes: f64) -> Bill {
    let event = lead_event();
    let delivery = Delivery::new(&event, &subscription(), Timestamp(1_795_736_620_950));
    let mut b = Bill {
        write_units: writes,
        sqs_requests: 3.0 / SQS_BATCH,
        stored_bytes: footprint::delivery_put(&delivery).item_bytes as f64,
        ..Bill::default()
    };
    b.lambda(1.0 / SQS_BATCH, DELIVERY_MS_PER_BATCH / SQS_BATCH);
    b.log_bytes = 0.0;
    b
}

#[test]
fn cost_per_million_deliveries() {
    let prices = Prices::load();
    let scenarios = [
        Scenario {
            name: "1:1, first attempt, one event per request",
            batch: false,
            fan_out: 1,
            attempts: 1,
            ceiling: 7.70,
            target: Some(3.00),
        },
        Scenario {
            name: "1:1, first attempt, batches of 100",
            batch: true,
            fan_out: 1,
            attempts: 1,
            ceiling: 6.15,
            target: Some(2.00),
        },
        Scenario {
            name: "10-way fan-out, first attempt, batches of 100",
            batch: true,
            fan_out: 10,
            attempts: 1,
            ceiling: 3.55,
            target: Some(1.00),
        },
        Scenario {
            name: "1:1, succeeds at the 3rd attempt, batches of 100",
            batch: true,
            fan_out: 1,
            attempts: 3,
            ceiling: 12.00,
            target: None,
        },
    ];
    let mut table = format!(
        "prices: {} {} (infra/prices.json)\n\n| scenario | write units per delivery | API Gateway | Lambda | SQS | DynamoDB | logs | total per million deliveries | target | total, DynamoDB provisioned at 70% use |\n|---|---|---|---|---|---|---|---|---|---|\n",
        prices.0["region"].as_str().unwrap(),
        prices.0["date"].as_str().unwrap()
    );
    let mut totals = Vec::new();
    for s in &scenarios {
        let billed = bill(s);
        let lines = billed.dollars(&prices);
        let per_million = |d: f64| d * 1e6 / s.fan_out as f64;
        let total: f64 = lines.iter().map(|d| per_million(*d)).sum();
        let cells: Vec<String> = lines
            .iter()
            .map(|d| format!("${:.2}", per_million(*d)))
            .collect();
        let target = s.target.map_or("-".to_string(), |t| {
            format!("${t:.2} ({})", if total <= t { "met" } else { "not met" })
        });
        let provisioned =
            total - per_million(lines[3]) + per_million(billed.dynamodb_provisioned(&prices));
        table.push_str(&format!(
            "| {} | {:.1} | {} | **${total:.2}** | {target} | ${provisioned:.2} |\n",
            s.name,
            billed.write_units / s.fan_out as f64,
            cells.join(" | ")
        ));
        totals.push(total);
    }
    let eventbridge = prices.get("eventbridge_custom_event")
        + prices.get("eventbridge_api_destination_invocation");
    table.push_str(&format!(
        "\nEventBridge API destinations, 1:1 (no signing, no delivery log): ${:.2} per million\n",
        eventbridge * 1e6
    ));
    let mut floors = Vec::new();
    for (writes, what) in [
        (3.0, "a create before the job is queued, a claim, a record"),
        (2.0, "the create folded into the first claim, a record"),
    ] {
        let least = floor(writes);
        let lines = least.dollars(&prices);
        let on_demand: f64 = lines.iter().sum::<f64>() * 1e6;
        let provisioned = on_demand + (least.dynamodb_provisioned(&prices) - lines[3]) * 1e6;
        table.push_str(&format!(
            "Floor with {what} ({writes} write units a delivery; no event, index, read or log counted): ${on_demand:.2} per million on demand, ${provisioned:.2} provisioned at 70% use\n"
        ));
        floors.push((on_demand, provisioned));
    }
    println!("{table}");
    assert!(
        floors[1].0 < floors[0].0 && floors[1].1 < floors[0].1,
        "a write less is cheaper\n{table}"
    );
    for (s, total) in scenarios.iter().zip(&totals) {
        assert!(
            *total <= s.ceiling,
            "{}: ${total:.2} is above its ceiling ${}\n{table}",
            s.name,
            s.ceiling
        );
        assert!(
            *total > 0.5,
            "{}: a figure this low means a term went missing\n{table}",
            s.name
        );
    }
    assert!(totals[1] < totals[0], "batch ingest is cheaper");
    assert!(totals[2] < totals[1], "fan-out shares the event's cost");
    assert!(totals[3] > totals[1], "retries cost attempts");
}
