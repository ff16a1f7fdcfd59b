//! The fan-out function: triggered by the table's DynamoDB stream, and every 5 minutes by the
//! sweep schedule (`{"sweep": true}`).

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hookline_functions::init_logging();
    let config = hookline_aws::sdk_config(None).await;
    let hookline =
        hookline_functions::hookline_from_env(&config, hookline_core::pipeline::Removal::Hookline)
            .await?;
    let hookline = &hookline;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            hookline_functions::handle_fanout(hookline, event.payload).await
        },
    ))
    .await
}
