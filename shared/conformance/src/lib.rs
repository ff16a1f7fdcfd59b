//! The ports' conformance suite: one file of checks per port trait, each asserting the behaviour
//! the core relies on, and `store_suite!` / `queue_suite!` turning every check into a test for
//! one adapter set, so the embedded and the AWS adapters are held to the same contract.
//!
//! # Using the suites
//!
//! In an adapter crate's integration test, give each suite a way to make a fresh, empty adapter
//! and invoke it inside a module of its own (the tests it defines are plain functions named
//! after the checks, so the module keeps them apart from the crate's other tests):
//!
//! ```ignore
//! use hookline_conformance::queue::QueueSpec;
//!
//! // Any expression of a type implementing every store trait (`hookline_core::ports::Store`).
//! async fn store() -> MyStore {
//!     MyStore::open_empty().await
//! }
//!
//! // A queue with the visibility timeout and maximum receive count the check asks for.
//! async fn queue(spec: QueueSpec) -> MyQueue {
//!     MyQueue::create(spec.visibility_timeout, spec.max_receive_count).await
//! }
//!
//! mod store_conformance {
//!     hookline_conformance::store_suite!(super::store());
//! }
//!
//! mod queue_conformance {
//!     hookline_conformance::queue_suite!(super::queue);
//! }
//! ```
//!
//! - `store_suite!($make)`: `$make` is an expression whose `.await` gives a store; it is
//!   evaluated afresh for every check, inside the test module (hence `super::`).
//! - `queue_suite!($make)`: `$make` is a function (or closure) from a [`queue::QueueSpec`] to a
//!   future giving a queue; it is called once per check with [`queue::spec_for`] that check.
//!
//! Each check becomes one `#[test]` named after it (`store_conformance::subscription_round_trip`,
//! `queue_conformance::dead_letter_records_the_reason`, ...), run on a current-thread Tokio
//! runtime the suite builds itself, so a failure names its check and the adapter crate needs no
//! Tokio test macros.
//!
//! # Adding a check
//!
//! Write it as a `pub async fn` inside the `checks!` block of its trait's file; it then runs in
//! every adapter's suite. A new file of checks is declared below and added to its suite macro.

#[macro_use]
mod checks;

pub mod api_keys;
pub mod deliveries;
pub mod event_types;
pub mod events;
pub mod fixtures;
pub mod health;
pub mod idempotency;
pub mod moto;
pub mod pacing;
pub mod queue;
pub mod subscriptions;

/// Instantiates every store check as a test. `$make` is an async expression giving a fresh,
/// empty store; see the crate documentation.
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::for_each_subscription_check!([$crate::__store_tests] $make);
        $crate::for_each_event_check!([$crate::__store_tests] $make);
        $crate::for_each_event_type_check!([$crate::__store_tests] $make);
        $crate::for_each_delivery_check!([$crate::__store_tests] $make);
        $crate::for_each_api_key_check!([$crate::__store_tests] $make);
        $crate::for_each_idempotency_check!([$crate::__store_tests] $make);
        $crate::for_each_pacing_check!([$crate::__store_tests] $make);
        $crate::for_each_health_check!([$crate::__store_tests] $make);
    };
}

/// Instantiates every queue check as a test. `$make` is a function from a `QueueSpec` to a
/// future giving a fresh, empty queue with that visibility timeout and maximum receive count.
#[macro_export]
macro_rules! queue_suite {
    ($make:expr) => {
        $crate::for_each_queue_check!([$crate::__queue_tests] $make);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_tests {
    ($make:expr ; $module:ident ; $($check:ident),*) => {
        $(
            #[test]
            fn $check() {
                $crate::run_check(async {
                    let store = $make.await;
                    $crate::$module::$check(&store).await;
                });
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __queue_tests {
    ($make:expr ; $module:ident ; $($check:ident),*) => {
        $(
            #[test]
            fn $check() {
                $crate::run_check(async {
                    let spec = $crate::queue::spec_for(stringify!($check));
                    let queue = ($make)(spec).await;
                    $crate::$module::$check(&queue).await;
                });
            }
        )*
    };
}

/// Runs one check as `#[tokio::test]` would: on a fresh current-thread runtime with its I/O and
/// time drivers.
#[doc(hidden)]
pub fn run_check(check: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime for the check")
        .block_on(check);
}
