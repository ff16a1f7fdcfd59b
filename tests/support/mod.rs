//! Test support: a scriptable HTTP receiver on a real loopback socket, a running Hookline, and
//! an API client.
#![allow(dead_code)]

pub mod noisy;
mod process;

#[allow(unused_imports)]
pub use process::{Dev, signal, spawn_dev, wait_exit};

use hookline::{DevConfig, Running};
use hookline_core::retry_schedule::RetrySchedule;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the receiver does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    StatusWith(u16, Vec<(&'static str, String)>, String),
    /// Never answer (past the sender's timeout).
    Hang,
    /// Reset the connection without answering.
    Reset,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("receiver got JSON")
    }
    pub fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in &self.headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }
}

/// A receiver that answers scripted replies in order, then `default` for every later request.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    script: Arc<Mutex<VecDeque<Reply>>>,
    default: Arc<Mutex<Reply>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(script: Vec<Reply>, default: Reply) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            addr: listener.local_addr().unwrap(),
            script: Arc::new(Mutex::new(script.into())),
            default: Arc::new(Mutex::new(default)),
            received: Arc::default(),
        };
        let me = r.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move { me.serve(sock).await });
            }
        });
        r
    }

    pub async fn ok() -> Receiver {
        Receiver::start(vec![], Reply::Status(200)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set_default(&self, reply: Reply) {
        *self.default.lock().unwrap() = reply;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn serve(&self, mut sock: TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let header_end = loop {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or("").split(' ');
        let method = request_line.next().unwrap_or("").to_string();
        let path = request_line.next().unwrap_or("").to_string();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < header_end + len {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[header_end..header_end + len].to_vec();
        self.received.lock().unwrap().push(Received {
            method,
            path,
            headers,
            body,
            at: Instant::now(),
        });
        let reply = {
            let next = self.script.lock().unwrap().pop_front();
            next.unwrap_or_else(|| self.default.lock().unwrap().clone())
        };
        let (status, extra, body) = match reply {
            Reply::Status(s) => (s, vec![], String::new()),
            Reply::StatusWith(s, h, b) => (s, h, b),
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
            Reply::Reset => {
                let _ = sock.set_zero_linger();
                return;
            }
        };
        let mut out = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (k, v) in extra {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&body);
        let _ = sock.write_all(out.as_bytes()).await;
        let _ = sock.shutdown().await;
    }
}

pub const ADMIN_KEY: &str = "hk_admin_test";

pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("hookline-{tag}-{}", ulid::Ulid::new()))
}

pub fn config(schedule: &str) -> DevConfig {
    let mut c = DevConfig::new(temp_dir("e2e"));
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.settings.retry_schedule = RetrySchedule::parse(schedule).unwrap();
    c.settings.allow_private_destinations = true;
    c.admin_key = Some(ADMIN_KEY.to_string());
    c
}

pub async fn hookline(schedule: &str) -> (Running, Api) {
    start(config(schedule)).await
}

pub async fn start(config: DevConfig) -> (Running, Api) {
    let running = hookline::start(config).await.expect("hookline starts");
    let api = Api::new(running.addr, &running.admin_key);
    (running, api)
}

/// A small client for Hookline's API.
#[derive(Clone)]
pub struct Api {
    base: String,
    key: String,
    client: reqwest::Client,
}

impl Api {
    pub fn new(addr: SocketAddr, key: &str) -> Api {
        Api {
            base: format!("http://{addr}"),
            key: key.to_string(),
            client: reqwest::Client::new(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("API answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    /// A POST with an `Idempotency-Key`, as a producer sends it: status, body and whether it
    /// was replayed, or `Err` when the connection broke without an answer.
    pub async fn post_keyed(
        &self,
        path: &str,
        key: &str,
        body: &Value,
    ) -> Result<(u16, Value, bool), String> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("idempotency-key", key)
            .timeout(Duration::from_secs(10))
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let replayed = resp.headers().get("idempotent-replayed").is_some();
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            replayed,
        ))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(&body.to_string())).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }

    pub async fn subscribe(&self, body: Value) -> Value {
        let (status, sub) = self.post("/v1/subscriptions", body).await;
        assert_eq!(status, 201, "{sub}");
        sub
    }

    pub async fn send_event(&self, body: Value) -> String {
        let (status, v) = self.post("/v1/events", body).await;
        assert_eq!(status, 202, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    pub async fn deliveries_of_event(&self, event_id: &str) -> Vec<Value> {
        let (status, page) = self.get(&format!("/v1/events/{event_id}/deliveries")).await;
        assert_eq!(status, 200, "{page}");
        page["data"].as_array().unwrap().clone()
    }

    /// Polls the event's deliveries until `done` holds for them, or panics after `within`.
    pub async fn wait_deliveries(
        &self,
        event_id: &str,
        within: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let ds = self.deliveries_of_event(event_id).await;
            if done(&ds) {
                return ds;
            }
            assert!(
                Instant::now() < deadline,
                "deliveries never reached the expected state: {ds:#?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

pub fn all_status(ds: &[Value], status: &str) -> bool {
    !ds.is_empty() && ds.iter().all(|d| d["status"] == status)
}

/// `events/catalog/{platform}.json`.
pub fn catalogue(platform: &str) -> Value {
    let path = format!(
        "{}/events/catalog/{platform}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).expect("catalogue exists")).unwrap()
}

/// The sample events of a platform (`events/samples/{platform}/*.json`), by file name.
pub fn samples(platform: &str) -> Vec<Value> {
    let dir = format!("{}/events/samples/{platform}", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("samples exist")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect()
}

impl Api {
    /// Imports a platform's catalogue through the API; what it did.
    pub async fn import(&self, platform: &str) -> Value {
        let (status, report) = self
            .post("/v1/event-types/import", catalogue(platform))
            .await;
        assert_eq!(status, 200, "{report}");
        report
    }
}
