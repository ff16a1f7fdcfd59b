//! Liveness: the one route that needs no key, so load balancers and `hookline dev` scripts can
//! probe the server without holding a secret.

use crate::ApiState;
use crate::views::Health;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// Liveness; needs no key.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}
