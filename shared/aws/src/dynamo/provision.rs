//! Creating the table as the templates declare it (keys; gsi1 and gsi2 projecting the listed
//! attributes, gsi3 keys only; the stream of new images; TTL on `ttl`), for local runs and
//! tests; deployments get it from the templates.

use super::DynamoStore;
use super::keys::{GSI1, GSI2, GSI3, PROJECTED};
use crate::sdk_error;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use hookline_core::error::Result;

impl DynamoStore {
    /// Creates the table as the templates declare it, unless it exists (local runs and tests).
    pub async fn ensure_table(client: &Client, table: &str) -> Result<()> {
        let exists = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .is_ok();
        if exists {
            return Ok(());
        }
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("complete attribute definition")
        };
        let key = |name: &str, kt: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kt)
                .build()
                .expect("complete key")
        };
        let gsi = |name: &str, projection: Projection| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(&format!("{name}pk"), KeyType::Hash))
                .key_schema(key(&format!("{name}sk"), KeyType::Range))
                .projection(projection)
                .build()
                .expect("complete index")
        };
        let listed = || {
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(PROJECTED.map(String::from).to_vec()))
                .build()
        };
        let keys_only = Projection::builder()
            .projection_type(ProjectionType::KeysOnly)
            .build();
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(
                [
                    "pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk",
                ]
                .map(attr)
                .to_vec(),
            ))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .global_secondary_indexes(gsi(GSI1, listed()))
            .global_secondary_indexes(gsi(GSI2, listed()))
            .global_secondary_indexes(gsi(GSI3, keys_only))
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .expect("complete stream spec"),
            )
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("ttl")
                    .build()
                    .expect("complete TTL spec"),
            )
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        Ok(())
    }
}
