//! The operations the API offers, over the ports, one file per resource. Handlers (local server
//! or Lambda) parse the request, call one of these with the caller's `Principal`, and render
//! the result. Every lookup checks the tenant: another tenant's resource is "not found".

mod api_keys;
mod deliveries;
mod event_types;
mod events;
pub mod idempotency;
mod subscriptions;

pub use crate::hookline::{Hookline, Settings};
pub use crate::pipeline::attempt::AttemptReport;
pub use event_types::ImportReport;
pub use events::{BatchItem, MAX_BATCH};
pub use idempotency::{Accepted, Keyed};
pub use subscriptions::TestEvent;

use crate::access::Principal;
use crate::clock::Timestamp;
use crate::delivery::DeliveryStatus;
use crate::error::{Error, ErrorCode, Result};
use crate::tenant::TenantId;
use serde::Serialize;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 250;
/// Most failed deliveries one `recover` call re-queues.
pub const MAX_RECOVER: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A page request as the API receives it: an opaque cursor and a size.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

impl PageRequest {
    pub(crate) fn limit(&self) -> Result<usize> {
        match self.limit {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            Some(_) => Err(Error::invalid(
                ErrorCode::InvalidLimit,
                format!("`limit` must be between 1 and {MAX_PAGE_SIZE}"),
            )),
        }
    }

    pub(crate) fn cursor<T>(&self, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>> {
        match &self.cursor {
            None => Ok(None),
            Some(c) => parse(c).map(Some).ok_or_else(|| {
                Error::invalid(
                    ErrorCode::InvalidCursor,
                    "`cursor` is not a cursor from a previous page",
                )
            }),
        }
    }
}

/// Which deliveries to list, beyond whose they are.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// Fetches one more than asked to learn whether another page exists.
pub(crate) fn paginate<T>(mut items: Vec<T>, limit: usize, id: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(id)
    } else {
        None
    };
    Page {
        data: items,
        next_cursor,
    }
}

/// What a recovery queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecoverReport {
    pub queued: usize,
    /// More failed deliveries remain in the window than one call re-queues.
    pub more: bool,
    /// With `more`: pass it as `after` to re-queue the next ones (the last delivery this call
    /// re-queued).
    pub next_cursor: Option<String>,
}

/// The found item if its tenant is visible to the caller; "not found" otherwise.
pub(crate) fn visible<T>(
    principal: &Principal,
    what: &str,
    id: &str,
    found: Option<T>,
    tenant: impl Fn(&T) -> &TenantId,
) -> Result<T> {
    match found {
        Some(item) if principal.sees(tenant(&item)) => Ok(item),
        _ => Err(Error::not_found(what, id)),
    }
}
