//! Document tables: `{id, definition, content_hash, updated_at}` rows holding one JSON
//! definition each (traits, segments, governance policies). Imported by content hash
//! and loaded in id order by the same two functions for every such table.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, IntoActiveModel};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::entities::{governance_policy, segment, trait_def};
use super::{content_hash, from_json, to_json, ImportReport, StorageError};

/// A document table's row, as the functions here use it.
pub struct DocumentRow {
    pub id: String,
    pub definition: String,
    pub content_hash: String,
}

/// A table of documents: how its rows read and are written.
pub trait DocumentTable: EntityTrait
where
    Self::Model: IntoActiveModel<Self::ActiveModel>,
{
    fn row(model: Self::Model) -> DocumentRow;
    fn active_model(row: DocumentRow, updated_at: DateTime<Utc>) -> Self::ActiveModel;
}

impl DocumentTable for trait_def::Entity {
    fn row(m: trait_def::Model) -> DocumentRow {
        DocumentRow {
            id: m.id,
            definition: m.definition,
            content_hash: m.content_hash,
        }
    }

    fn active_model(row: DocumentRow, updated_at: DateTime<Utc>) -> trait_def::ActiveModel {
        trait_def::ActiveModel {
            id: Set(row.id),
            definition: Set(row.definition),
            content_hash: Set(row.content_hash),
            updated_at: Set(updated_at),
        }
    }
}

impl DocumentTable for segment::Entity {
    fn row(m: segment::Model) -> DocumentRow {
        DocumentRow {
            id: m.id,
            definition: m.definition,
            content_hash: m.content_hash,
        }
    }

    fn active_model(row: DocumentRow, updated_at: DateTime<Utc>) -> segment::ActiveModel {
        segment::ActiveModel {
            id: Set(row.id),
            definition: Set(row.definition),
            content_hash: Set(row.content_hash),
            updated_at: Set(updated_at),
        }
    }
}

impl DocumentTable for governance_policy::Entity {
    fn row(m: governance_policy::Model) -> DocumentRow {
        DocumentRow {
            id: m.id,
            definition: m.definition,
            content_hash: m.content_hash,
        }
    }

    fn active_model(row: DocumentRow, updated_at: DateTime<Utc>) -> governance_policy::ActiveModel {
        governance_policy::ActiveModel {
            id: Set(row.id),
            definition: Set(row.definition),
            content_hash: Set(row.content_hash),
            updated_at: Set(updated_at),
        }
    }
}

/// Imports `items` into table `T`: each inserted, updated (its content hash changed) or
/// counted unchanged, and reported as `"<kind> <id>"`.
pub async fn import_documents<T, C, D>(
    tx: &C,
    items: &[D],
    id_of: impl Fn(&D) -> &str,
    kind: &str,
    now: DateTime<Utc>,
    report: &mut ImportReport,
) -> Result<(), StorageError>
where
    T: DocumentTable,
    T::Model: IntoActiveModel<T::ActiveModel>,
    C: ConnectionTrait,
    D: Serialize,
{
    let existing: HashMap<String, String> = T::find()
        .all(tx)
        .await?
        .into_iter()
        .map(|model| {
            let row = T::row(model);
            (row.id, row.content_hash)
        })
        .collect();
    for def in items {
        let id = id_of(def);
        let definition = to_json(def);
        let hash = content_hash(&definition);
        let unchanged = existing.get(id).map(|old| *old == hash);
        let model = T::active_model(
            DocumentRow {
                id: id.to_string(),
                definition,
                content_hash: hash,
            },
            now,
        );
        match unchanged {
            Some(true) => report.unchanged += 1,
            Some(false) => {
                T::update(model).exec(tx).await?;
                report.updated.push(format!("{kind} {id}"));
            }
            None => {
                T::insert(model).exec_without_returning(tx).await?;
                report.added.push(format!("{kind} {id}"));
            }
        }
    }
    Ok(())
}

/// The documents of table `T`, ordered by id.
pub async fn load_documents<T, C, D>(db: &C) -> Result<Vec<D>, StorageError>
where
    T: DocumentTable,
    T::Model: IntoActiveModel<T::ActiveModel>,
    C: ConnectionTrait,
    D: DeserializeOwned,
{
    let mut rows: Vec<DocumentRow> = T::find().all(db).await?.into_iter().map(T::row).collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows.iter()
        .map(|row| from_json(&row.id, &row.definition))
        .collect()
}
