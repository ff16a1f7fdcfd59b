//! The ports' conformance suite against the embedded SQLite adapters: each check gets a fresh
//! database of its own, so the checks run in parallel and never see each other's rows.

use hookline_conformance::queue::QueueSpec;
use hookline_embedded::{Db, QueueConfig, SqliteQueue, SqliteStore};

fn temp_db() -> Db {
    let dir = std::env::temp_dir().join(format!("hookline-conformance-{}", ulid::Ulid::new()));
    Db::open(&dir).expect("open embedded database")
}

async fn store() -> SqliteStore {
    SqliteStore::new(temp_db())
}

async fn queue(spec: QueueSpec) -> SqliteQueue {
    SqliteQueue::new(
        temp_db(),
        QueueConfig {
            name: "deliveries".into(),
            dead_letter_name: "deliveries-dlq".into(),
            visibility_timeout: spec.visibility_timeout,
            max_receive_count: spec.max_receive_count,
        },
    )
}

mod store_conformance {
    hookline_conformance::store_suite!(super::store());

    /// Run here only: see the check's note on why moto cannot serialize it.
    #[tokio::test]
    async fn racing_keyed_creates_store_exactly_one() {
        hookline_conformance::idempotency::racing_keyed_creates_store_exactly_one(
            &super::store().await,
        )
        .await;
    }
}

mod queue_conformance {
    hookline_conformance::queue_suite!(super::queue);
}
