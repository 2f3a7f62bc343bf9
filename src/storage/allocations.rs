//! Adaptive allocations as stored: one `key_values` row per placement
//! (`allocation:<placement>` → the JSON the allocation area writes), and the evidence
//! its recompute reads from the rollups.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
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

/// One change to a placement's stored allocation: from the document `read` (none:
/// there was none) to `write` (none: delete it).
#[derive(Clone, Debug)]
pub struct Write {
    pub placement: String,
    pub read: Option<String>,
    pub write: Option<String>,
}

impl Write {
    pub fn delete(placement: &str, read: String) -> Write {
        Write {
            placement: placement.to_string(),
            read: Some(read),
            write: None,
        }
    }
}

/// What [`save`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// Stored; the new generation when asked to bump it.
    Stored(Option<u64>),
    /// Some stored document was no longer the one read (another node recomputed
    /// meanwhile): nothing was stored.
    Raced,
}

/// Applies `writes` and, when `bump` (some slots moved), bumps the content generation,
/// all in one transaction, so every node reloads them with the catalog. Each write is
/// a compare-and-set on the document read: if any changed meanwhile, nothing is stored.
pub async fn save(
    db: &DatabaseConnection,
    writes: &[Write],
    bump: bool,
) -> Result<Saved, StorageError> {
    let _one_writer = super::serialise_sqlite_writes(db).await;
    let tx = db.begin().await?;
    for change in writes {
        let key = format!("{PREFIX}{}", change.placement);
        let applied = match (&change.read, &change.write) {
            (None, None) => true,
            (None, Some(document)) => matches!(
                key_value::Entity::insert(key_value::ActiveModel {
                    key: Set(key),
                    value: Set(document.clone()),
                })
                .on_conflict_do_nothing()
                .exec(&tx)
                .await?,
                sea_orm::TryInsertResult::Inserted(_)
            ),
            (Some(read), Some(document)) => {
                key_value::Entity::update_many()
                    .col_expr(key_value::Column::Value, Expr::value(document.clone()))
                    .filter(key_value::Column::Key.eq(key))
                    .filter(key_value::Column::Value.eq(read.clone()))
                    .exec(&tx)
                    .await?
                    .rows_affected
                    == 1
            }
            (Some(read), None) => {
                key_value::Entity::delete_many()
                    .filter(key_value::Column::Key.eq(key))
                    .filter(key_value::Column::Value.eq(read.clone()))
                    .exec(&tx)
                    .await?
                    .rows_affected
                    == 1
            }
        };
        if !applied {
            tx.rollback().await?;
            return Ok(Saved::Raced);
        }
    }
    let generation = match bump {
        true => Some(super::bump_generation(&tx).await?),
        false => None,
    };
    tx.commit().await?;
    Ok(Saved::Stored(generation))
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
