//! The ports' conformance suite. Each check takes an adapter and asserts the behaviour the core
//! relies on; `store_suite!` and `queue_suite!` instantiate every check as a test for one adapter
//! set, so the embedded and the AWS adapters are held to the same contract.

pub mod moto;
pub mod queue;
pub mod store;

/// Instantiates every store check. `$make` is an async expression giving a fresh, empty store.
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@tests $make;
            subscription_round_trip, subscriptions_list_by_tenant_with_cursor,
            update_and_delete_missing_subscription, events_wait_in_the_outbox_until_fanned_out,
            delivery_is_created_once_per_event_and_subscription,
            delivery_update_records_attempts_and_notification_together, deliveries_list_filters_and_pages,
            subscriptions_are_counted_per_tenant, api_keys_round_trip_and_revoke,
            idempotency_keys_are_claimed_once);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let store = $make.await;
                $crate::store::$name(&store).await;
            }
        )*
    };
}

/// Instantiates every queue check. `$make` is a function from a `QueueSpec` to a future giving a
/// fresh, empty queue with that visibility timeout and maximum receive count.
#[macro_export]
macro_rules! queue_suite {
    ($make:expr) => {
        $crate::queue_suite!(@tests $make;
            sent_messages_are_received_once_while_hidden, undeleted_message_returns_after_visibility_timeout,
            change_visibility_hides_and_reveals, redelivered_message_is_deleted_with_its_latest_receipt, batch_receive_honours_max,
            redrive_after_max_receive_count, dead_letter_records_the_reason);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let spec = $crate::queue::spec_for(stringify!($name));
                let queue = ($make)(spec).await;
                $crate::queue::$name(&queue).await;
            }
        )*
    };
}
