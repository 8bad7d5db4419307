//! Registers new lake partitions in the Glue catalog. Athena finds partitions by projection,
//! but Redshift Spectrum and EMR ignore projection and read only registered partitions.
//!
//! Registration is idempotent (a partition that exists is fine) and remembered for the life
//! of the process, so a warm Lambda asks Glue once per partition.

use std::collections::HashSet;
use std::sync::Mutex;

use aws_sdk_glue::types::{PartitionInput, StorageDescriptor};
use thiserror::Error;

use imglake_exporter::layout::Partition;

/// Glue allows at most this many partitions per BatchCreatePartition call.
const BATCH_LIMIT: usize = 100;

/// Why partitions could not be registered.
#[derive(Debug, Error)]
pub enum GlueError {
    /// A Glue API call failed (permissions, throttling after the SDK's retries, missing table).
    #[error("Glue {operation} on {database}.{table} failed (check the table exists and the role may call glue:{operation}): {message}")]
    Api {
        operation: &'static str,
        database: String,
        table: String,
        message: String,
    },
    /// The table has no storage location to derive partition locations from.
    #[error("Glue table {database}.{table} has no StorageDescriptor.Location")]
    NoLocation { database: String, table: String },
    /// Glue refused some partitions for a reason other than "already exists".
    #[error("Glue refused partitions of {database}.{table}: {details}")]
    Refused {
        database: String,
        table: String,
        details: String,
    },
}

/// Registers partitions of one Glue table.
#[derive(Debug)]
pub struct GlueCatalog {
    client: aws_sdk_glue::Client,
    database: String,
    table: String,
    /// The table's storage descriptor, fetched once.
    template: tokio::sync::OnceCell<StorageDescriptor>,
    /// Partitions known to exist (`dt=…/hour=…`).
    known: Mutex<HashSet<Partition>>,
}

impl GlueCatalog {
    /// A catalog client configured from the standard AWS environment (including
    /// `AWS_ENDPOINT_URL` for a local Glue-compatible server).
    pub async fn from_env(database: String, table: String) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        GlueCatalog {
            client: aws_sdk_glue::Client::new(&config),
            database,
            table,
            template: tokio::sync::OnceCell::new(),
            known: Mutex::new(HashSet::new()),
        }
    }

    fn api_error(&self, operation: &'static str, err: impl std::fmt::Display) -> GlueError {
        GlueError::Api {
            operation,
            database: self.database.clone(),
            table: self.table.clone(),
            message: err.to_string(),
        }
    }

    async fn template(&self) -> Result<&StorageDescriptor, GlueError> {
        self.template
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .get_table()
                    .database_name(&self.database)
                    .name(&self.table)
                    .send()
                    .await
                    .map_err(|e| {
                        self.api_error("GetTable", aws_sdk_glue::error::DisplayErrorContext(e))
                    })?;
                out.table()
                    .and_then(|t| t.storage_descriptor())
                    .filter(|sd| sd.location().is_some())
                    .cloned()
                    .ok_or_else(|| GlueError::NoLocation {
                        database: self.database.clone(),
                        table: self.table.clone(),
                    })
            })
            .await
    }

    /// Registers every partition not yet known to exist.
    pub async fn register(&self, partitions: &[Partition]) -> Result<usize, GlueError> {
        let new: Vec<Partition> = {
            let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            let mut seen = HashSet::new();
            partitions
                .iter()
                .filter(|p| !known.contains(p) && seen.insert(**p))
                .copied()
                .collect()
        };
        if new.is_empty() {
            return Ok(0);
        }
        let template = self.template().await?;
        let base = template
            .location()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned();
        for chunk in new.chunks(BATCH_LIMIT) {
            let inputs: Vec<PartitionInput> = chunk
                .iter()
                .map(|p| {
                    let mut sd = template.clone();
                    sd.location = Some(format!("{base}/{}/", p.path()));
                    PartitionInput::builder()
                        .values(p.dt())
                        .values(format!("{:02}", p.hour()))
                        .storage_descriptor(sd)
                        .build()
                })
                .collect();
            let out = self
                .client
                .batch_create_partition()
                .database_name(&self.database)
                .table_name(&self.table)
                .set_partition_input_list(Some(inputs))
                .send()
                .await
                .map_err(|e| {
                    self.api_error(
                        "BatchCreatePartition",
                        aws_sdk_glue::error::DisplayErrorContext(e),
                    )
                })?;
            let refused: Vec<String> = out
                .errors()
                .iter()
                .filter_map(|e| {
                    let detail = e.error_detail()?;
                    let code = detail.error_code().unwrap_or("unknown");
                    (code != "AlreadyExistsException").then(|| {
                        format!(
                            "{:?}: {code} {}",
                            e.partition_values(),
                            detail.error_message().unwrap_or_default()
                        )
                    })
                })
                .collect();
            if !refused.is_empty() {
                return Err(GlueError::Refused {
                    database: self.database.clone(),
                    table: self.table.clone(),
                    details: refused.join("; "),
                });
            }
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            known.extend(chunk.iter().copied());
        }
        tracing::info!(partitions = new.len(), database = %self.database, table = %self.table, "registered Glue partitions");
        Ok(new.len())
    }
}
