//! Who is calling: the admin key (compared in constant time) or a tenant key (looked up by its
//! id, its hash compared in constant time). Anything else is 401.

use crate::ApiState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use hookline_core::access::Principal;
use subtle::ConstantTimeEq;

pub struct Caller(pub Principal);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("send an API key as `Authorization: Bearer <key>`")
            })?;
        if bool::from(presented.as_bytes().ct_eq(state.admin_key.as_bytes())) {
            return Ok(Caller(Principal::Admin));
        }
        match state.hookline.authenticate_tenant_key(presented).await? {
            Some(p) => Ok(Caller(p)),
            None => Err(ApiError::unauthorized("the API key is not valid")),
        }
    }
}
