//! Authoring storage: the version history of placements, variants and Fluent resources,
//! and the transactions that move a version through the workflow and, when it is
//! published or archived, change the live tables and the catalog generation together.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, SqlErr, TransactionTrait,
};

mod live;
mod rows;

pub use live::{live_fluent, live_variant};
pub use rows::{AuditEntry, LiveVariant, Version};

use live::{fluent_upsert, placement_upsert, variant_upsert, write_live, LiveRow};
use rows::{stage_of, versions};

use super::entities::{audit_entry, content_version, fluent_resource, placement, variant};
use super::{bump_generation, StorageError};
use crate::authoring::workflow::Stage;

/// What a version is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Placement,
    Variant,
    Fluent,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Placement => "placement",
            Kind::Variant => "variant",
            Kind::Fluent => "fluent",
        }
    }
}

/// `<locale>/<file>`: how a Fluent resource is named in the history.
pub fn fluent_target(locale: &str, path: &str) -> String {
    format!("{locale}/{path}")
}

/// Every version of a target, oldest first.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    target: &str,
) -> Result<Vec<Version>, StorageError> {
    versions(
        content_version::Entity::find()
            .filter(content_version::Column::Kind.eq(kind.as_str()))
            .filter(content_version::Column::Target.eq(target))
            .order_by_asc(content_version::Column::Version)
            .all(db)
            .await?,
    )
}

pub async fn version<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    target: &str,
    number: u32,
) -> Result<Option<Version>, StorageError> {
    // A number past `i32` was never stored.
    let Ok(number) = i32::try_from(number) else {
        return Ok(None);
    };
    content_version::Entity::find()
        .filter(content_version::Column::Kind.eq(kind.as_str()))
        .filter(content_version::Column::Target.eq(target))
        .filter(content_version::Column::Version.eq(number))
        .one(db)
        .await?
        .map(Version::try_from)
        .transpose()
}

pub async fn latest<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    target: &str,
) -> Result<Option<Version>, StorageError> {
    content_version::Entity::find()
        .filter(content_version::Column::Kind.eq(kind.as_str()))
        .filter(content_version::Column::Target.eq(target))
        .order_by_desc(content_version::Column::Version)
        .limit(1)
        .one(db)
        .await?
        .map(Version::try_from)
        .transpose()
}

/// The newest version of every target of a kind (of one placement's variants, when
/// `placement` is given).
pub async fn latest_per_target(
    db: &DatabaseConnection,
    kind: Kind,
    placement: Option<&str>,
) -> Result<Vec<Version>, StorageError> {
    latest_where(db, kind, placement, false).await
}

/// [`latest_per_target`], only the targets whose newest version is pending (draft, in
/// review or approved): a preview's question, answered without reading every live
/// document of a large catalog.
pub async fn latest_pending_per_target(
    db: &DatabaseConnection,
    kind: Kind,
    placement: Option<&str>,
) -> Result<Vec<Version>, StorageError> {
    latest_where(db, kind, placement, true).await
}

async fn latest_where(
    db: &DatabaseConnection,
    kind: Kind,
    placement: Option<&str>,
    pending_only: bool,
) -> Result<Vec<Version>, StorageError> {
    // Only the newest row of each target leaves the database (the unique index on
    // kind, target, version answers the subquery), not the whole history.
    let mut query = content_version::Entity::find()
        .filter(content_version::Column::Kind.eq(kind.as_str()))
        .filter(Expr::cust(
            "version = (SELECT MAX(newest.version) FROM content_versions newest \
             WHERE newest.kind = content_versions.kind \
             AND newest.target = content_versions.target)",
        ))
        .order_by_asc(content_version::Column::Target);
    if let Some(placement) = placement {
        query = query.filter(content_version::Column::PlacementId.eq(placement));
    }
    if pending_only {
        query =
            query.filter(content_version::Column::State.is_in(Stage::PENDING.map(Stage::as_str)));
    }
    versions(query.all(db).await?)
}

/// A new version to save.
pub struct NewVersion<'a> {
    pub kind: Kind,
    pub target: &'a str,
    pub placement_id: Option<&'a str>,
    /// The document, given the number it will get (variants carry it inside).
    pub document: &'a dyn Fn(u32) -> String,
    pub actor: &'a str,
    /// The version the editor started from (`If-Match`); another save since is a conflict.
    pub based_on: Option<u32>,
    /// Live at once (placements, imports) rather than a draft.
    pub publish: bool,
    /// When there is no history yet: the live document to record as the first version.
    pub seed: Option<(u32, String)>,
    /// Going live: the catalog generation the caller checked the change against. Any
    /// other live change since then refuses this one ([`Saved::ContentChanged`]).
    pub checked_at: Option<u64>,
}

/// The result of a save.
pub enum Saved {
    Version {
        version: Box<Version>,
        /// The catalog generation, when the save went live.
        generation: Option<u64>,
    },
    /// Someone saved since the version the editor started from.
    Stale { latest: u32 },
    /// Live content changed since the caller's checks: check again.
    ContentChanged,
}

/// Saves a new version: numbered after the latest, older pending versions superseded,
/// audited; when `publish`, also written to the live table in the same transaction.
pub async fn save(db: &DatabaseConnection, new: NewVersion<'_>) -> Result<Saved, StorageError> {
    let _serial = super::serialise_sqlite_writes(db).await;
    let now = Utc::now();
    let tx = db.begin().await?;
    let mut current = latest(&tx, new.kind, new.target).await?;
    if current.is_none() {
        if let Some((number, document)) = &new.seed {
            let row = insert_version(
                &tx,
                new.kind,
                new.target,
                new.placement_id,
                *number,
                Stage::Published,
                document.clone(),
                "import",
                now,
            )
            .await;
            match conflict_as_stale(row)? {
                Ok(row) => current = Some(row),
                // Another first edit recorded the seed a moment ago.
                Err(()) => return Ok(Saved::Stale { latest: *number }),
            }
        }
    }
    let latest_number = current.as_ref().map_or(0, |r| r.version);
    if let Some(based_on) = new.based_on {
        if based_on != latest_number {
            return Ok(Saved::Stale {
                latest: latest_number,
            });
        }
    }
    let number = latest_number + 1;
    let document = (new.document)(number);
    let stage = if new.publish {
        Stage::Published
    } else {
        Stage::Draft
    };
    supersede(&tx, new.kind, new.target, new.publish, None, new.actor, now).await?;
    let row = match conflict_as_stale(
        insert_version(
            &tx,
            new.kind,
            new.target,
            new.placement_id,
            number,
            stage,
            document,
            new.actor,
            now,
        )
        .await,
    )? {
        Ok(row) => row,
        Err(()) => {
            return Ok(Saved::Stale {
                latest: latest_number + 1,
            })
        }
    };
    let generation = if new.publish {
        write_live(&tx, &row, true).await?;
        match advance_generation(&tx, new.checked_at).await? {
            Some(generation) => Some(generation),
            None => return Ok(Saved::ContentChanged),
        }
    } else {
        None
    };
    audit(
        &tx,
        new.actor,
        &format!("{}.save", new.kind.as_str()),
        new.kind,
        new.target,
        serde_json::json!({"version": number, "state": stage.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Saved::Version {
        version: Box::new(row),
        generation,
    })
}

/// The result of a workflow step.
pub enum Stepped {
    /// Done; the catalog generation when live content changed.
    Done { generation: Option<u64> },
    /// The version was no longer in the state it was read in.
    StateChanged,
    /// Live content changed since the caller's checks.
    ContentChanged,
}

/// Moves one version from the state it was read in to `to` (compare-and-set).
/// Publishing writes it to the live table and supersedes the previously published
/// version; archiving a published version takes it out of service. A step that changes
/// live content happens only if the catalog is still at `checked_at`, the generation
/// the caller's checks ran against.
pub async fn step(
    db: &DatabaseConnection,
    row: &Version,
    to: Stage,
    actor: &str,
    note: Option<&str>,
    action: &str,
    checked_at: Option<u64>,
) -> Result<Stepped, StorageError> {
    let _serial = super::serialise_sqlite_writes(db).await;
    let now = Utc::now();
    let tx = db.begin().await?;
    let kind = row.kind;
    if to == Stage::Published {
        supersede(&tx, kind, &row.target, true, Some(row.row_id), actor, now).await?;
    }
    let moved = content_version::Entity::update_many()
        .col_expr(content_version::Column::State, Expr::value(to.as_str()))
        .col_expr(content_version::Column::ChangedBy, Expr::value(actor))
        .col_expr(content_version::Column::ChangedAt, Expr::value(now))
        .col_expr(
            content_version::Column::Note,
            Expr::value(note.map(str::to_string)),
        )
        .filter(content_version::Column::Id.eq(row.row_id))
        .filter(content_version::Column::State.eq(row.stage.as_str()))
        .exec(&tx)
        .await?;
    if moved.rows_affected != 1 {
        return Ok(Stepped::StateChanged);
    }
    let live_change = match (to, row.stage) {
        (Stage::Published, _) => Some(true),
        (Stage::Archived, Stage::Published) => Some(false),
        _ => None,
    };
    let generation = match live_change {
        Some(serving) => {
            write_live(&tx, row, serving).await?;
            match advance_generation(&tx, checked_at).await? {
                Some(generation) => Some(generation),
                None => return Ok(Stepped::ContentChanged),
            }
        }
        None => None,
    };
    audit(
        &tx,
        actor,
        &format!("{}.{action}", kind.as_str()),
        kind,
        &row.target,
        serde_json::json!({"version": row.version, "from": row.stage.as_str(), "to": to.as_str(), "note": note}),
    )
    .await?;
    tx.commit().await?;
    Ok(Stepped::Done { generation })
}

/// Bumps the catalog generation, only from `expected` when given (compare-and-set: a
/// concurrent live change, committed or waiting on the row, makes this `None`).
async fn advance_generation<C: ConnectionTrait>(
    tx: &C,
    expected: Option<u64>,
) -> Result<Option<u64>, StorageError> {
    match expected {
        None => Ok(Some(bump_generation(tx).await?)),
        Some(expected) => super::advance_generation_from(tx, expected).await,
    }
}

fn kind_of(name: &str) -> Kind {
    match name {
        "placement" => Kind::Placement,
        "variant" => Kind::Variant,
        _ => Kind::Fluent,
    }
}

/// Older versions still pending (and, when a new one goes live, the published one)
/// become `superseded`: only the newest work can move on.
async fn supersede<C: ConnectionTrait>(
    tx: &C,
    kind: Kind,
    target: &str,
    including_published: bool,
    except: Option<i64>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let mut stages = vec![
        Stage::Draft.as_str(),
        Stage::InReview.as_str(),
        Stage::Approved.as_str(),
    ];
    if including_published {
        stages.push(Stage::Published.as_str());
    }
    content_version::Entity::update_many()
        .col_expr(
            content_version::Column::State,
            Expr::value(Stage::Superseded.as_str()),
        )
        .col_expr(content_version::Column::ChangedBy, Expr::value(actor))
        .col_expr(content_version::Column::ChangedAt, Expr::value(now))
        .filter(content_version::Column::Kind.eq(kind.as_str()))
        .filter(content_version::Column::Target.eq(target))
        .filter(content_version::Column::State.is_in(stages))
        .filter(content_version::Column::Id.ne(except.unwrap_or(-1)))
        .exec(tx)
        .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn insert_version<C: ConnectionTrait>(
    tx: &C,
    kind: Kind,
    target: &str,
    placement_id: Option<&str>,
    number: u32,
    state: Stage,
    document: String,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<content_version::Model, DbErr> {
    let model = content_version::ActiveModel {
        kind: Set(kind.as_str().to_string()),
        target: Set(target.to_string()),
        version: Set(number as i32),
        state: Set(state.as_str().to_string()),
        document: Set(document),
        placement_id: Set(placement_id.map(str::to_string)),
        author: Set(actor.to_string()),
        created_at: Set(now),
        changed_by: Set(actor.to_string()),
        changed_at: Set(now),
        note: Set(None),
        ..Default::default()
    };
    content_version::Entity::insert(model)
        .exec_with_returning(tx)
        .await
}

/// A unique-index violation (another save took the number) as `Err(())`.
fn conflict_as_stale(
    result: Result<content_version::Model, DbErr>,
) -> Result<Result<Version, ()>, StorageError> {
    match result {
        Ok(row) => Ok(Ok(Version::try_from(row)?)),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(Err(())),
        Err(e) => Err(e.into()),
    }
}

async fn audit<C: ConnectionTrait>(
    tx: &C,
    actor: &str,
    action: &str,
    kind: Kind,
    target: &str,
    detail: serde_json::Value,
) -> Result<(), StorageError> {
    audit_entry::Entity::insert(audit_entry::ActiveModel {
        actor: Set(actor.to_string()),
        action: Set(action.to_string()),
        target: Set(format!("{}:{target}", kind.as_str())),
        detail: Set(detail.to_string()),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec_without_returning(tx)
    .await?;
    Ok(())
}

/// What `tailor import` writes for one target.
pub struct Imported<'a> {
    pub kind: Kind,
    pub target: &'a str,
    pub placement_id: Option<&'a str>,
    pub version: u32,
    pub state: &'a str,
    pub document: &'a str,
}

/// What an import writes, gathered while the files are compared and written set-wise
/// by [`ImportWrites::write`]: a first import of a large catalog is tens of thousands of
/// rows, and one statement per row (four per target) made it minutes long.
#[derive(Default)]
pub struct ImportWrites {
    placements: Vec<placement::ActiveModel>,
    variants: Vec<variant::ActiveModel>,
    fluent: Vec<fluent_resource::ActiveModel>,
    /// Targets whose published version (if any) this import supersedes.
    supersede: Vec<(Kind, String)>,
    versions: Vec<content_version::ActiveModel>,
    audits: Vec<audit_entry::ActiveModel>,
}

/// Rows per multi-row statement, and the text they may add up to
/// ([`crate::storage::STATEMENT_BYTES`]; a first import on PostgreSQL with larger
/// statements took minutes).
const IMPORT_ROWS: usize = 200;
const IMPORT_BYTES: usize = crate::storage::STATEMENT_BYTES;

impl ImportWrites {
    /// Records a version written by `tailor import`, and makes it live unless `live` is
    /// false (the live row is already this content: only the history was missing).
    /// Nothing the workflow still holds is superseded: files and reviews are separate
    /// ways in. `has_history`: the target has stored versions (one may be published).
    pub fn record(
        &mut self,
        item: Imported<'_>,
        live: bool,
        has_history: bool,
    ) -> Result<(), StorageError> {
        let now = Utc::now();
        if live {
            let row = LiveRow::new(
                item.kind,
                item.target,
                item.placement_id,
                item.version,
                item.state,
                item.document,
                now,
            );
            match row {
                LiveRow::Placement(model) => self.placements.push(model),
                LiveRow::Variant(model) => self.variants.push(model),
                LiveRow::Fluent(model) => self.fluent.push(model),
            }
        }
        if has_history {
            self.supersede.push((item.kind, item.target.to_string()));
        }
        self.versions.push(content_version::ActiveModel {
            kind: Set(item.kind.as_str().to_string()),
            target: Set(item.target.to_string()),
            version: Set(item.version as i32),
            state: Set(stage_of(item.state, "an imported state")?
                .as_str()
                .to_string()),
            document: Set(item.document.to_string()),
            placement_id: Set(item.placement_id.map(str::to_string)),
            author: Set("import".to_string()),
            created_at: Set(now),
            changed_by: Set("import".to_string()),
            changed_at: Set(now),
            note: Set(None),
            ..Default::default()
        });
        self.audits.push(audit_entry::ActiveModel {
            actor: Set("import".to_string()),
            action: Set(format!("{}.import", item.kind.as_str())),
            target: Set(format!("{}:{}", item.kind.as_str(), item.target)),
            detail: Set(
                serde_json::json!({"version": item.version, "state": item.state}).to_string(),
            ),
            created_at: Set(now),
            ..Default::default()
        });
        Ok(())
    }

    /// Writes everything recorded, in a few statements per kind of row. Superseding goes
    /// first, so the versions inserted after it stay as they were imported.
    pub async fn write<C: ConnectionTrait>(self, tx: &C) -> Result<(), StorageError> {
        for (kind, target) in &self.supersede {
            content_version::Entity::update_many()
                .col_expr(
                    content_version::Column::State,
                    Expr::value(Stage::Superseded.as_str()),
                )
                .filter(content_version::Column::Kind.eq(kind.as_str()))
                .filter(content_version::Column::Target.eq(target.as_str()))
                .filter(content_version::Column::State.eq(Stage::Published.as_str()))
                .exec(tx)
                .await?;
        }
        for rows in in_chunks(self.placements, |m| text_len(&m.definition)) {
            placement::Entity::insert_many(rows)
                .on_conflict(placement_upsert())
                .exec_without_returning(tx)
                .await?;
        }
        for rows in in_chunks(self.variants, |m| text_len(&m.definition)) {
            variant::Entity::insert_many(rows)
                .on_conflict(variant_upsert())
                .exec_without_returning(tx)
                .await?;
        }
        for rows in in_chunks(self.fluent, |m| text_len(&m.source)) {
            fluent_resource::Entity::insert_many(rows)
                .on_conflict(fluent_upsert())
                .exec_without_returning(tx)
                .await?;
        }
        for rows in in_chunks(self.versions, |m| text_len(&m.document)) {
            content_version::Entity::insert_many(rows)
                .exec_without_returning(tx)
                .await?;
        }
        for rows in in_chunks(self.audits, |m| text_len(&m.detail)) {
            audit_entry::Entity::insert_many(rows)
                .exec_without_returning(tx)
                .await?;
        }
        Ok(())
    }
}

fn text_len(value: &sea_orm::ActiveValue<String>) -> usize {
    match value {
        Set(text) | sea_orm::ActiveValue::Unchanged(text) => text.len(),
        sea_orm::ActiveValue::NotSet => 0,
    }
}

/// `rows` in groups of at most [`IMPORT_ROWS`] rows and (past the first row) about
/// [`IMPORT_BYTES`] of text each.
fn in_chunks<T>(rows: Vec<T>, bytes_of: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut chunks = Vec::new();
    let mut chunk: Vec<T> = Vec::new();
    let mut bytes = 0;
    for row in rows {
        let size = bytes_of(&row) + 128;
        if !chunk.is_empty() && (chunk.len() == IMPORT_ROWS || bytes + size > IMPORT_BYTES) {
            chunks.push(std::mem::take(&mut chunk));
            bytes = 0;
        }
        bytes += size;
        chunk.push(row);
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
}

/// Every version's number and document, by (kind, target): what an import compares
/// files with.
pub async fn all_documents<C: ConnectionTrait>(
    tx: &C,
) -> Result<std::collections::HashMap<(String, String), Vec<(u32, String)>>, StorageError> {
    let mut out: std::collections::HashMap<(String, String), Vec<(u32, String)>> =
        std::collections::HashMap::new();
    for row in content_version::Entity::find()
        .order_by_asc(content_version::Column::Version)
        .all(tx)
        .await?
    {
        out.entry((row.kind, row.target))
            .or_default()
            .push((row.version as u32, row.document));
    }
    Ok(out)
}

/// The audit entries of one authored target, oldest first.
pub async fn audit_trail(
    db: &DatabaseConnection,
    kind: Kind,
    target: &str,
) -> Result<Vec<AuditEntry>, StorageError> {
    Ok(
        super::identity::audit_of(db, &format!("{}:{target}", kind.as_str()))
            .await?
            .into_iter()
            .map(|a: audit_entry::Model| AuditEntry {
                actor: a.actor,
                action: a.action,
                at: a.created_at,
                detail: a.detail,
            })
            .collect(),
    )
}
