//! The HTTP client that makes delivery attempts.

use async_trait::async_trait;
use std::time::Duration;

/// One signed request, exactly as it will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: crate::subscription::HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
}

#[async_trait]
pub trait Sender: Send + Sync + 'static {
    async fn send(&self, request: OutboundRequest) -> SendResult;
}

/// What the receiver answered (the first bytes of its body kept for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub retry_after: Option<String>,
    pub location: Option<String>,
    /// The first bytes of the body, for the delivery log.
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    Timeout,
    Connect,
    /// The destination resolved to an address the policy refuses.
    DestinationNotAllowed,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    pub kind: TransportErrorKind,
    pub message: String,
}

pub type SendResult = Result<HttpResponse, TransportError>;
