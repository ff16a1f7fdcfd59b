//! The notify function: triggered by the table's stream, filtered to failure events; publishes
//! each to the SNS topic in `HOOKLINE_NOTIFY_TOPIC_ARN`.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hookline_functions::init_logging();
    let config = hookline_aws::sdk_config(None).await;
    let notifier = hookline_functions::notifier_from_env(&config)?;
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, lambda_runtime::Error>(
            hookline_functions::handle_notify(notifier, event.payload).await,
        )
    }))
    .await
}
