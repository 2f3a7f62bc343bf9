//! The live tables authoring writes: a published version becomes the target's live row
//! (placement, variant or Fluent resource), an archived one leaves it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};

use super::{Kind, LiveVariant, Version};
use crate::authoring::workflow::Stage;
use crate::storage::entities::{fluent_resource, placement, variant};
use crate::storage::{content_hash, StorageError};

/// Writes a version to the live table (`serving`), or takes its target out of service.
pub(super) async fn write_live<C: ConnectionTrait>(
    tx: &C,
    row: &Version,
    serving: bool,
) -> Result<(), StorageError> {
    let kind = row.kind;
    match (kind, serving) {
        (Kind::Fluent, false) => {
            let (locale, path) = row.target.split_once('/').unwrap_or(("", &row.target));
            fluent_resource::Entity::delete_many()
                .filter(fluent_resource::Column::Locale.eq(locale))
                .filter(fluent_resource::Column::Path.eq(path))
                .exec(tx)
                .await?;
            Ok(())
        }
        _ => {
            let state = if serving {
                Stage::Published
            } else {
                Stage::Archived
            }
            .as_str();
            let document = match kind {
                Kind::Variant => {
                    let mut definition: serde_json::Value = serde_json::from_str(&row.document)
                        .map_err(|source| StorageError::Document {
                            id: row.target.clone(),
                            source,
                        })?;
                    definition["state"] = serde_json::Value::from(state);
                    definition.to_string()
                }
                _ => row.document.clone(),
            };
            upsert_live(
                tx,
                kind,
                &row.target,
                row.placement_id.as_deref(),
                row.version,
                state,
                &document,
            )
            .await
        }
    }
}

/// A target's live row, ready to insert: a placement's definition, a variant's
/// definition (with its version and state), a Fluent resource's source.
pub(super) enum LiveRow {
    Placement(placement::ActiveModel),
    Variant(variant::ActiveModel),
    Fluent(fluent_resource::ActiveModel),
}

impl LiveRow {
    pub(super) fn new(
        kind: Kind,
        target: &str,
        placement_id: Option<&str>,
        version: u32,
        state: &str,
        document: &str,
        now: DateTime<Utc>,
    ) -> LiveRow {
        let hash = content_hash(document);
        match kind {
            Kind::Placement => LiveRow::Placement(placement::ActiveModel {
                id: Set(target.to_string()),
                definition: Set(document.to_string()),
                content_hash: Set(hash),
                updated_at: Set(now),
            }),
            Kind::Variant => LiveRow::Variant(variant::ActiveModel {
                id: Set(target.to_string()),
                placement_id: Set(placement_id.unwrap_or_default().to_string()),
                version: Set(version as i32),
                state: Set(state.to_string()),
                definition: Set(document.to_string()),
                content_hash: Set(hash),
                updated_at: Set(now),
            }),
            Kind::Fluent => {
                let (locale, path) = target.split_once('/').unwrap_or(("", target));
                LiveRow::Fluent(fluent_resource::ActiveModel {
                    locale: Set(locale.to_string()),
                    path: Set(path.to_string()),
                    source: Set(document.to_string()),
                    content_hash: Set(hash),
                    updated_at: Set(now),
                })
            }
        }
    }
}

/// What replaces a live placement row that is already there.
pub(super) fn placement_upsert() -> OnConflict {
    OnConflict::column(placement::Column::Id)
        .update_columns([
            placement::Column::Definition,
            placement::Column::ContentHash,
            placement::Column::UpdatedAt,
        ])
        .to_owned()
}

/// What replaces a live variant row that is already there.
pub(super) fn variant_upsert() -> OnConflict {
    OnConflict::column(variant::Column::Id)
        .update_columns([
            variant::Column::PlacementId,
            variant::Column::Version,
            variant::Column::State,
            variant::Column::Definition,
            variant::Column::ContentHash,
            variant::Column::UpdatedAt,
        ])
        .to_owned()
}

/// What replaces a live Fluent resource row that is already there.
pub(super) fn fluent_upsert() -> OnConflict {
    OnConflict::columns([
        fluent_resource::Column::Locale,
        fluent_resource::Column::Path,
    ])
    .update_columns([
        fluent_resource::Column::Source,
        fluent_resource::Column::ContentHash,
        fluent_resource::Column::UpdatedAt,
    ])
    .to_owned()
}

/// Inserts or replaces a target's live row ([`LiveRow`]).
pub(crate) async fn upsert_live<C: ConnectionTrait>(
    tx: &C,
    kind: Kind,
    target: &str,
    placement_id: Option<&str>,
    version: u32,
    state: &str,
    document: &str,
) -> Result<(), StorageError> {
    let row = LiveRow::new(
        kind,
        target,
        placement_id,
        version,
        state,
        document,
        Utc::now(),
    );
    match row {
        LiveRow::Placement(model) => {
            placement::Entity::insert(model)
                .on_conflict(placement_upsert())
                .exec_without_returning(tx)
                .await?;
        }
        LiveRow::Variant(model) => {
            variant::Entity::insert(model)
                .on_conflict(variant_upsert())
                .exec_without_returning(tx)
                .await?;
        }
        LiveRow::Fluent(model) => {
            fluent_resource::Entity::insert(model)
                .on_conflict(fluent_upsert())
                .exec_without_returning(tx)
                .await?;
        }
    }
    Ok(())
}

/// The live Fluent resources: `(locale, path, source)`.
pub async fn live_fluent(
    db: &DatabaseConnection,
) -> Result<Vec<(String, String, String)>, StorageError> {
    Ok(fluent_resource::Entity::find()
        .order_by_asc(fluent_resource::Column::Locale)
        .order_by_asc(fluent_resource::Column::Path)
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.locale, r.path, r.source))
        .collect())
}

/// The live variant row's placement and version, if the variant exists.
pub async fn live_variant(
    db: &DatabaseConnection,
    id: &str,
) -> Result<Option<LiveVariant>, StorageError> {
    variant::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .map(LiveVariant::try_from)
        .transpose()
}
