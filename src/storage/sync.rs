//! Offline-sync manifests, stored once per content hash.

use chrono::{Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entities::sync_manifest;
use super::StorageError;

/// Stores `manifest` under `id`, or marks it handed out again (retention counts from
/// the last time a manifest was handed out).
pub async fn remember<C: ConnectionTrait>(
    db: &C,
    id: &str,
    manifest: &str,
) -> Result<(), StorageError> {
    let row = sync_manifest::ActiveModel {
        id: Set(id.to_string()),
        created_at: Set(Utc::now()),
        manifest: Set(manifest.to_string()),
    };
    let result = sync_manifest::Entity::insert(row)
        .on_conflict(
            OnConflict::column(sync_manifest::Column::Id)
                .update_column(sync_manifest::Column::CreatedAt)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await;
    match result {
        Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The manifest stored under `id`, if it is still kept.
pub async fn manifest<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<String>, StorageError> {
    Ok(sync_manifest::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .map(|row| row.manifest))
}

/// Forgets manifests last handed out more than `days` ago: a client that last synced
/// before that gets everything again.
pub async fn forget_older_than<C: ConnectionTrait>(db: &C, days: i64) -> Result<u64, StorageError> {
    Ok(sync_manifest::Entity::delete_many()
        .filter(sync_manifest::Column::CreatedAt.lt(Utc::now() - Duration::days(days)))
        .exec(db)
        .await?
        .rows_affected)
}
