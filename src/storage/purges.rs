//! The purge log's rows: one per provider and round of a CDN purge.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::purge;
use super::StorageError;

pub use purge::Model as PurgeRow;

/// Records a purge about to be sent; answers its id.
pub async fn start<C: ConnectionTrait>(
    db: &C,
    provider: &str,
    round: i32,
    keys: &[String],
    reason: &str,
    generation: u64,
) -> Result<i64, StorageError> {
    let row = purge::ActiveModel {
        created_at: Set(Utc::now()),
        provider: Set(provider.to_string()),
        round: Set(round),
        keys: Set(keys.join(" ")),
        reason: Set(reason.to_string()),
        generation: Set(i64::try_from(generation).unwrap_or(i64::MAX)),
        status: Set("pending".into()),
        attempts: Set(0),
        ..Default::default()
    };
    Ok(purge::Entity::insert(row).exec(db).await?.last_insert_id)
}

/// Records how a purge ended: `sent` or `failed`, after `attempts` tries.
pub async fn finish<C: ConnectionTrait>(
    db: &C,
    id: i64,
    sent: bool,
    attempts: u32,
    last_error: Option<String>,
) -> Result<(), StorageError> {
    purge::ActiveModel {
        id: Set(id),
        status: Set(if sent { "sent" } else { "failed" }.into()),
        attempts: Set(i32::try_from(attempts).unwrap_or(i32::MAX)),
        last_error: Set(last_error),
        finished_at: Set(Some(Utc::now())),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// The latest purges, newest first, optionally only those with `status`.
pub async fn recent<C: ConnectionTrait>(
    db: &C,
    status: Option<&str>,
    limit: u64,
) -> Result<Vec<PurgeRow>, StorageError> {
    let mut query = purge::Entity::find();
    if let Some(status) = status {
        query = query.filter(purge::Column::Status.eq(status));
    }
    Ok(query
        .order_by_desc(purge::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}
