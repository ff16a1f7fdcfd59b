//! The delivery function: triggered by the delivery queue, with ReportBatchItemFailures.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hookline_functions::init_logging();
    let config = hookline_aws::sdk_config(None).await;
    let hookline = hookline_functions::hookline_from_env(
        &config,
        hookline_core::pipeline::Removal::EventSource,
    )
    .await?
    .with_subscription_cache(hookline_functions::SUBSCRIPTION_CACHE);
    let hookline = &hookline;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, lambda_runtime::Error>(
            hookline_functions::handle_sqs(hookline, event.payload).await,
        )
    }))
    .await
}
