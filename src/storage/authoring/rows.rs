//! The typed rows of authoring storage: what leaves it instead of sea-orm models. Stage
//! strings and `i32` numbers are converted here and nowhere else.

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use super::Kind;
use crate::authoring::workflow::Stage;
use crate::storage::entities::{content_version, variant};
use crate::storage::StorageError;

/// One stored version of a placement, variant or Fluent resource, as the rest of the
/// application sees it: typed kind, number and stage (the row's strings and `i32` stay
/// here, at the storage boundary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The row, for compare-and-set steps; nothing outside storage needs it.
    pub(super) row_id: i64,
    pub kind: Kind,
    pub target: String,
    /// A variant's placement.
    pub placement_id: Option<String>,
    pub version: u32,
    pub stage: Stage,
    /// The definition (JSON) or the Fluent source.
    pub document: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
    pub note: Option<String>,
}

impl TryFrom<content_version::Model> for Version {
    type Error = StorageError;

    fn try_from(row: content_version::Model) -> Result<Version, StorageError> {
        Ok(Version {
            row_id: row.id,
            kind: super::kind_of(&row.kind),
            stage: stage_of(&row.state, "content_versions.state")?,
            version: number_of(row.version, "content_versions.version")?,
            target: row.target,
            placement_id: row.placement_id,
            document: row.document,
            author: row.author,
            created_at: row.created_at,
            changed_by: row.changed_by,
            changed_at: row.changed_at,
            note: row.note,
        })
    }
}

/// The live row of a variant: what serves (or last served).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveVariant {
    pub placement_id: String,
    pub version: u32,
    pub stage: Stage,
    /// The definition (JSON).
    pub definition: String,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<variant::Model> for LiveVariant {
    type Error = StorageError;

    fn try_from(row: variant::Model) -> Result<LiveVariant, StorageError> {
        Ok(LiveVariant {
            stage: stage_of(&row.state, "variants.state")?,
            version: number_of(row.version, "variants.version")?,
            placement_id: row.placement_id,
            definition: row.definition,
            updated_at: row.updated_at,
        })
    }
}

/// One audit entry of an authored target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub at: DateTime<Utc>,
    /// JSON.
    pub detail: String,
}

pub(super) fn stage_of(value: &str, column: &str) -> Result<Stage, StorageError> {
    Stage::parse(value)
        .ok_or_else(|| StorageError::Db(DbErr::Type(format!("{column} `{value}` is not a stage"))))
}

/// Version numbers are written from `u32`s; a negative one is a broken row.
fn number_of(value: i32, column: &str) -> Result<u32, StorageError> {
    u32::try_from(value).map_err(|_| {
        StorageError::Db(DbErr::Type(format!(
            "{column} {value} is not a version number"
        )))
    })
}

pub(super) fn versions(rows: Vec<content_version::Model>) -> Result<Vec<Version>, StorageError> {
    rows.into_iter().map(Version::try_from).collect()
}
