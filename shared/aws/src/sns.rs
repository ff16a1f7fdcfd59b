//! The notifier port on SNS: one `Publish` per failure notification, to the topic whose ARN the
//! deployment configures, with message attributes subscribers can filter on (for example an
//! e-mail subscription for one tenant: `{"tenant_id": ["ford-anytown"]}`).

use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use hookline_core::error::Result;
use hookline_core::ports::{Notification, Notifier};

#[derive(Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, n: &Notification) -> Result<()> {
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&n.subject)
            .message(&n.message);
        for (name, value) in &n.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| hookline_core::Error::internal(format!("sns: {e}")))?;
            request = request.message_attributes(name, attribute);
        }
        request.send().await.map_err(|e| sdk_error("sns", e))?;
        Ok(())
    }
}
