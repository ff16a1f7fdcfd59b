//! The API function: the same router as `hookline dev`, behind API Gateway (HTTP API or REST).

use hookline_api::{ApiState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let hookline = hookline_functions::hookline_from_env().await?;
    let admin_key =
        std::env::var("HOOKLINE_ADMIN_KEY").map_err(|_| "HOOKLINE_ADMIN_KEY is not set")?;
    lambda_http::run(router(ApiState {
        hookline,
        admin_key,
    }))
    .await
}
