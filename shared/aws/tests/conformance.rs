//! The ports' conformance suite against DynamoDB and SQS, with the real AWS SDK talking to
//! moto's server on loopback. `tests/run.sh` starts moto and sets HOOKLINE_TEST_AWS_ENDPOINT.

use hookline_aws::{DynamoStore, SqsQueue, sdk_config};
use hookline_conformance::queue::QueueSpec;
use std::time::Duration;

fn endpoint() -> String {
    std::env::var("HOOKLINE_TEST_AWS_ENDPOINT").expect(
        "HOOKLINE_TEST_AWS_ENDPOINT is not set: run `bash tests/run.sh`, which starts moto's server",
    )
}

async fn store() -> DynamoStore {
    let config = sdk_config(Some(&endpoint())).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("hookline-{}", ulid::Ulid::new());
    DynamoStore::ensure_table(&client, &table)
        .await
        .expect("create table on moto");
    DynamoStore::new(client, table, Duration::from_secs(30 * 24 * 3600))
}

async fn queue(spec: QueueSpec) -> SqsQueue {
    let config = sdk_config(Some(&endpoint())).await;
    let client = aws_sdk_sqs::Client::new(&config);
    let name = format!("deliveries-{}", ulid::Ulid::new());
    let urls = SqsQueue::ensure(
        &client,
        &name,
        spec.visibility_timeout,
        spec.max_receive_count,
    )
    .await
    .expect("create queues on moto");
    SqsQueue::new(client, urls, spec.visibility_timeout, Duration::ZERO)
}

mod store_conformance {
    hookline_conformance::store_suite!(super::store());
}

mod queue_conformance {
    hookline_conformance::queue_suite!(super::queue);
}
