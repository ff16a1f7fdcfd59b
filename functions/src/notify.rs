//! The notify function's handler: each newly stored `hookline.delivery.failed` event is
//! published to the notification topic.

use crate::stream::{each_record, stored_event};
use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use hookline_core::pipeline::notify::publish;
use hookline_core::ports::Notifier;

/// A failed publish is reported, so the stream retries it (at least once: subscribers can
/// deduplicate on the event id in the message).
pub async fn handle_notify(notifier: &dyn Notifier, event: DynamoDbEvent) -> DynamoDbEventResponse {
    each_record(event, "notification", |record| async move {
        if record.event_name != "INSERT" {
            return Ok(());
        }
        let Some(stored) = stored_event(&record)? else {
            return Ok(());
        };
        publish(notifier, &stored.event)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await
}
