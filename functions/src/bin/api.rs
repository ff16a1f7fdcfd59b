//! The API function: the same router as `hookline dev`, behind API Gateway (HTTP API or REST).

use hookline_api::{ApiState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookline_functions::init_logging();
    let config = hookline_aws::sdk_config(None).await;
    let hookline =
        hookline_functions::hookline_from_env(&config, hookline_core::pipeline::Removal::Hookline)
            .await?;
    let admin_key = hookline_functions::admin_key_from_env(&config).await?;
    lambda_http::run(router(ApiState {
        hookline,
        admin_key,
    }))
    .await
}
