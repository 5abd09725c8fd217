//! Creating Ovation's table and key outside AWS: on the local emulator, for `ovation serve --aws`,
//! the tests and the cold-start benchmark. On AWS, `template.yaml` creates both; the functions
//! never call these control-plane APIs (and are not allowed to).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use crate::aws::map_sdk_error;
use crate::error::{Error, Result};
use crate::store::attr;
use crate::store::dynamo::{INDEX_NAME, SERVICE, build_error};

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
    let created = client
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
        .await;
    // A table of that name exists: made by this very request when its answer was lost and the
    // SDK retried it (or by an earlier run); it is kept.
    match created {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(aws_sdk_dynamodb::operation::create_table::CreateTableError::ResourceInUseException(_))
            ) => {}
        Err(e) => return Err(map_sdk_error(SERVICE, e, |_, _| None)),
    }
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
    // Point-in-time recovery, as the template has it: what `ovation restore-drill` restores.
    client
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .map_err(build_error)?,
        )
        .send()
        .await
        .map_err(|e| map_sdk_error(SERVICE, e, |_, _| None))?;
    Ok(())
}

/// Creates a symmetric KMS key and returns its id.
pub async fn create_key(client: &aws_sdk_kms::Client, description: &str) -> Result<String> {
    let out = client
        .create_key()
        .description(description)
        .send()
        .await
        .map_err(|e| map_sdk_error("KMS", e, |_, _| None))?;
    out.key_metadata
        .map(|m| m.key_id)
        .ok_or_else(|| Error::internal("KMS created a key without metadata"))
}

/// A new table and key on the AWS endpoint of `config`, named after `prefix`; returns both names.
pub async fn table_and_key(config: &aws_config::SdkConfig, prefix: &str) -> Result<(String, String)> {
    let table = format!("{prefix}-{}", crate::ids::new_id().to_lowercase());
    create_table(&Client::new(config), &table).await?;
    let key = create_key(&aws_sdk_kms::Client::new(config), prefix).await?;
    Ok((table, key))
}

/// Starts a new table's scheduler at `at`: nothing can be due before the table existed, and a
/// first run without a cursor looks back a week (a query a minute, slow on an emulator).
pub async fn start_scheduler(config: &aws_config::SdkConfig, table: &str, at: i64) -> Result<()> {
    let store = crate::store::dynamo::DynamoStore::open(Client::new(config), table);
    crate::services::sending::scheduler::start_scheduler_at(store.as_ref(), at).await
}
