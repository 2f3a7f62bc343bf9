//! Adaptive allocations as stored: one `key_values` row per placement
//! (`allocation:<placement>` → the JSON the allocation area writes), and the evidence
//! its recompute reads from the rollups.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionSession,
    TransactionTrait,
};

use super::entities::key_value;
use super::events::name;
use super::StorageError;

const PREFIX: &str = "allocation:";

/// Every stored allocation: (placement, document).
pub async fn load_all<C: ConnectionTrait>(db: &C) -> Result<Vec<(String, String)>, StorageError> {
    Ok(key_value::Entity::find()
        .filter(key_value::Column::Key.starts_with(PREFIX))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|row| {
            let placement = row.key.strip_prefix(PREFIX)?.to_string();
            Some((placement, row.value))
        })
        .collect())
}

/// Stores allocations and, when `bump` (their slots moved), bumps the content
/// generation in the same transaction, so every node reloads them with the catalog.
/// Returns the new generation.
pub async fn save<C: TransactionTrait>(
    db: &C,
    changed: &[(String, String)],
    bump: bool,
) -> Result<Option<u64>, StorageError> {
    let tx = db.begin().await?;
    for (placement, document) in changed {
        key_value::Entity::insert(key_value::ActiveModel {
            key: Set(format!("{PREFIX}{placement}")),
            value: Set(document.clone()),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(key_value::Column::Key)
                .update_column(key_value::Column::Value)
                .to_owned(),
        )
        .exec(&tx)
        .await?;
    }
    let generation = match bump {
        true => Some(super::bump_generation(&tx).await?),
        false => None,
    };
    tx.commit().await?;
    Ok(generation)
}

/// Judged events over `[since, until]` of the given placements, per variant, source
/// and evidence kind: (placement, variant, source, kind, events).
pub async fn sources<C: ConnectionTrait>(
    db: &C,
    placements: &[String],
    kinds: &[&str],
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> Result<Vec<(String, String, String, String, i64)>, StorageError> {
    let mut select = super::rollups::grouped_sources(&["placement", "variant"], since, until);
    select
        .and_where(Expr::col(name("placement")).is_in(placements.iter().cloned()))
        .and_where(Expr::col(name("kind")).is_in(kinds.iter().copied()));
    let mut rows = Vec::new();
    for row in db.query_all(&select).await? {
        rows.push((
            row.try_get::<String>("", "k0")?,
            row.try_get::<String>("", "k1")?,
            row.try_get::<String>("", "source")?,
            row.try_get::<String>("", "kind")?,
            row.try_get::<Option<i64>>("", "n")?.unwrap_or(0),
        ));
    }
    Ok(rows)
}

/// NPS detractors over `[since, until]` of the given placements, per variant:
/// (placement, variant, detractors).
pub async fn detractors<C: ConnectionTrait>(
    db: &C,
    placements: &[String],
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> Result<Vec<(String, String, i64)>, StorageError> {
    let mut select = sea_orm::sea_query::Query::select();
    select
        .from(name("engagement_daily"))
        .column(name("placement"))
        .column(name("variant"))
        .expr_as(
            sea_orm::sea_query::Func::cast_as(
                sea_orm::sea_query::Func::sum(Expr::col(name("nps_detractors"))),
                name("BIGINT"),
            ),
            name("n"),
        )
        .and_where(Expr::col(name("day")).gte(since))
        .and_where(Expr::col(name("day")).lte(until))
        .and_where(Expr::col(name("placement")).is_in(placements.iter().cloned()))
        .add_group_by([Expr::col(name("placement")), Expr::col(name("variant"))]);
    let mut rows = Vec::new();
    for row in db.query_all(&select).await? {
        rows.push((
            row.try_get::<String>("", "placement")?,
            row.try_get::<String>("", "variant")?,
            row.try_get::<Option<i64>>("", "n")?.unwrap_or(0),
        ));
    }
    Ok(rows)
}
