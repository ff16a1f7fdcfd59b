//! The ports' conformance suite against DynamoDB and SQS, with the real AWS SDK talking to
//! moto's server on loopback: the one `HOOKLINE_TEST_AWS_ENDPOINT` names (`tests/run.sh` starts
//! it), else one the conformance crate starts for this process.

use hookline_aws::{DynamoStore, SqsQueue, sdk_config};
use hookline_conformance::moto::{endpoint, unique};
use hookline_conformance::queue::QueueSpec;
use std::time::Duration;

async fn store() -> DynamoStore {
    let config = sdk_config(Some(&endpoint())).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = unique("hookline");
    DynamoStore::ensure_table(&client, &table)
        .await
        .expect("create table on moto");
    DynamoStore::new(client, table, Duration::from_secs(30 * 24 * 3600))
}

async fn queue(spec: QueueSpec) -> SqsQueue {
    let config = sdk_config(Some(&endpoint())).await;
    let client = aws_sdk_sqs::Client::new(&config);
    let name = unique("deliveries");
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
