//! Creating Ovation's table outside AWS: for the local emulator and the tests. On AWS,
//! `template.yaml` creates the table; the functions never call these control-plane APIs.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};

use super::attr;
use super::dynamo::{INDEX_NAME, SERVICE, build_error};
use crate::aws::map_sdk_error;
use crate::error::Result;

/// Creates a table with Ovation's layout (keys, the sparse index, TTL), on-demand.
pub async fn create_table(client: &Client, table: &str) -> Result<()> {
    let string = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error)
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(build_error)
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string(attr::PK)?)
        .attribute_definitions(string(attr::SK)?)
        .attribute_definitions(string(attr::GSI1PK)?)
        .attribute_definitions(string(attr::GSI1SK)?)
        .key_schema(key(attr::PK, KeyType::Hash)?)
        .key_schema(key(attr::SK, KeyType::Range)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(INDEX_NAME)
                .key_schema(key(attr::GSI1PK, KeyType::Hash)?)
                .key_schema(key(attr::GSI1SK, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(build_error)?,
        )
        .send()
        .await
        .map_err(|e| map_sdk_error(SERVICE, e, |_, _| None))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(attr::EXPIRES_AT)
                .build()
                .map_err(build_error)?,
        )
        .send()
        .await
        .map_err(|e| map_sdk_error(SERVICE, e, |_, _| None))?;
    Ok(())
}
