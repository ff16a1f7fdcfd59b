//! Hookline's core: the domain (events, subscriptions, deliveries), every decision the pipeline
//! makes (matching, signing, retry schedule, outcome classification, validation), and the ports
//! that storage, queue and HTTP adapters implement. No AWS, Lambda or HTTP-server code lives here.

pub mod access;
pub mod api_key;
pub mod clock;
pub mod delivery;
pub mod destination;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod fanout;
pub mod ids;
pub mod matching;
pub mod notify;
pub mod outcome;
pub mod payload;
pub mod ports;
pub mod retry_schedule;
mod schema;
pub mod service;
pub mod signing;
pub mod subscription;

pub use error::{Error, ErrorKind};
pub use service::{Hookline, Settings};
