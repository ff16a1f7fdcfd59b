//! The HTTP client that makes delivery attempts.

use crate::pipeline::outcome::SendResult;
use async_trait::async_trait;
use std::time::Duration;

/// One signed request, exactly as it will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
}

#[async_trait]
pub trait Sender: Send + Sync + 'static {
    async fn send(&self, request: OutboundRequest) -> SendResult;
}
