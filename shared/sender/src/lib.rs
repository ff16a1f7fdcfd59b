//! The HTTP side of delivery: one shared client (keep-alive, connect and total timeouts, no
//! redirects, no proxies from the environment) whose DNS resolver refuses non-public addresses,
//! so the connection goes only to an address that was checked (no DNS-rebinding window).

use async_trait::async_trait;
use hookline_core::delivery::RESPONSE_BODY_LIMIT;
use hookline_core::destination::DestinationPolicy;
use hookline_core::ports::{HttpResponse, SendResult, TransportError, TransportErrorKind};
use hookline_core::ports::{OutboundRequest, Sender};
use hookline_core::subscription::HttpMethod;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The error a refused destination surfaces as, found again in reqwest's error chain.
#[derive(Debug)]
struct DestinationRefused(String);

impl std::fmt::Display for DestinationRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl StdError for DestinationRefused {}

/// Resolves names with the system resolver (or fixed answers, for tests) and refuses the name
/// if any address it resolves to is not allowed by the policy.
#[derive(Clone, Default)]
pub struct CheckedResolver {
    policy: DestinationPolicy,
    fixed: Arc<HashMap<String, Vec<IpAddr>>>,
}

impl CheckedResolver {
    pub fn new(policy: DestinationPolicy) -> Self {
        CheckedResolver {
            policy,
            fixed: Arc::default(),
        }
    }

    /// Answers these names from the map instead of DNS (tests).
    pub fn with_fixed_answers(mut self, answers: HashMap<String, Vec<IpAddr>>) -> Self {
        self.fixed = Arc::new(answers);
        self
    }

    pub async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, Box<dyn StdError + Send + Sync>> {
        let ips: Vec<IpAddr> = match self.fixed.get(host) {
            Some(ips) => ips.clone(),
            None => tokio::net::lookup_host((host, 0))
                .await?
                .map(|a| a.ip())
                .collect(),
        };
        if ips.is_empty() {
            return Err(format!("{host} has no addresses").into());
        }
        if let Some(bad) = ips.iter().find(|ip| !self.policy.allows(**ip)) {
            return Err(Box::new(DestinationRefused(format!(
                "{host} resolves to {bad}, which is not a public address"
            ))));
        }
        Ok(ips)
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let me = self.clone();
        Box::pin(async move {
            let ips = me.lookup(name.as_str()).await?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[derive(Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    policy: DestinationPolicy,
}

impl HttpSender {
    pub fn new(policy: DestinationPolicy) -> Self {
        HttpSender::with_resolver(policy, CheckedResolver::new(policy))
    }

    pub fn with_resolver(policy: DestinationPolicy, resolver: CheckedResolver) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(32)
            .tcp_nodelay(true)
            .dns_resolver(Arc::new(resolver))
            .build()
            .expect("the HTTP client configuration is valid");
        HttpSender { client, policy }
    }

    /// IP literals never reach the resolver, so they are checked here.
    fn check_literal(&self, url: &reqwest::Url) -> Result<(), TransportError> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if self.policy.allows(ip) {
            Ok(())
        } else {
            Err(TransportError {
                kind: TransportErrorKind::DestinationNotAllowed,
                message: format!("{ip} is not a public address"),
            })
        }
    }
}

fn transport_error(e: &reqwest::Error, timeout: Duration) -> TransportError {
    let mut source: Option<&dyn StdError> = e.source();
    let mut root = e.to_string();
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<DestinationRefused>() {
            return TransportError {
                kind: TransportErrorKind::DestinationNotAllowed,
                message: refused.0.clone(),
            };
        }
        root = s.to_string();
        source = s.source();
    }
    if e.is_timeout() {
        TransportError {
            kind: TransportErrorKind::Timeout,
            message: format!("timed out after {} ms", timeout.as_millis()),
        }
    } else if e.is_connect() {
        TransportError {
            kind: TransportErrorKind::Connect,
            message: format!("connection failed: {root}"),
        }
    } else {
        TransportError {
            kind: TransportErrorKind::Other,
            message: format!("request failed: {root}"),
        }
    }
}

#[async_trait]
impl Sender for HttpSender {
    async fn send(&self, request: OutboundRequest) -> SendResult {
        let url = reqwest::Url::parse(&request.url).map_err(|e| TransportError {
            kind: TransportErrorKind::Other,
            message: format!("invalid URL: {e}"),
        })?;
        self.check_literal(&url)?;
        let method = match request.method {
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
        };
        let mut builder = self
            .client
            .request(method, url)
            .timeout(request.timeout)
            .body(request.body);
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| transport_error(&e, request.timeout))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (retry_after, location) = (header("retry-after"), header("location"));
        let status = response.status().as_u16();
        // Keep only the first bytes of the body; a failure to read the rest does not change
        // the outcome, which the status already decided.
        let mut body = Vec::new();
        while body.len() < RESPONSE_BODY_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        Ok(HttpResponse {
            status,
            retry_after,
            location,
            body: hookline_core::delivery::body_slice(&body),
        })
    }
}
