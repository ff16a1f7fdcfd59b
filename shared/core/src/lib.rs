//! Hookline's core: the domain (events, subscriptions, deliveries), every decision the pipeline
//! makes (matching, signing, retry schedule, outcome classification, validation), and the ports
//! that storage, queue and HTTP adapters implement. No AWS, Lambda or HTTP-server code lives here.

pub mod access;
pub mod api_key;
pub mod breaker;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod destination;
pub mod error;
pub mod event;
pub mod event_type;
pub mod hookline;
pub mod ids;
pub mod matching;
pub mod pacing;
pub mod payload;
pub mod pipeline;
pub mod ports;
pub mod retry_schedule;
mod schema;
pub mod service;
pub mod signing;
pub mod subscription;
pub mod tenant;

pub use config::Config;
pub use error::{Error, ErrorCode, ErrorKind};
pub use hookline::{Hookline, Settings};
pub use tenant::TenantId;
