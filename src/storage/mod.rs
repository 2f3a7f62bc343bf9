//! Storage: the database connection and the content tables. The only module that speaks
//! SQL (through sea-orm); everything above it sees [`ContentSet`]s and plain values.

pub mod authoring;
pub mod entities;
mod erasure;
pub mod events;
pub mod governance;
pub mod identity;
pub mod rollups;

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DbErr, EntityTrait, QueryFilter, TransactionTrait,
};
use serde::Serialize;

use crate::catalog::model::{
    ChannelDef, ChannelState, ContentSet, FluentFile, PlacementDef, VariantDef,
};
use crate::problem::{Problem, ProblemType};
use authoring::{Imported, Kind};
use entities::{
    channel, fluent_resource, governance_policy, key_value, placement, segment, trait_def, variant,
};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("stored document `{id}` is not valid: {source}")]
    Document {
        id: String,
        #[source]
        source: serde_json::Error,
    },
}

impl From<StorageError> for Problem {
    fn from(error: StorageError) -> Problem {
        match &error {
            StorageError::Db(DbErr::Conn(_) | DbErr::ConnectionAcquire(_)) => {
                tracing::warn!(error = %error, "database unavailable");
                Problem::new(
                    ProblemType::Unavailable,
                    "the database is unavailable; try again shortly",
                )
                .with_retry_after(2)
            }
            _ => Problem::internal(&error),
        }
    }
}

static SQLITE_WRITER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// On SQLite, one read-then-write transaction at a time in this process: a deferred
/// transaction that read before another committed cannot upgrade to a writer and fails
/// at once (busy), where PostgreSQL would wait. `None` on PostgreSQL.
pub(crate) async fn serialise_sqlite_writes(
    db: &DatabaseConnection,
) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => Some(SQLITE_WRITER.lock().await),
        _ => None,
    }
}

/// Connects; SQLite gets WAL and a busy timeout so readers never block the writer.
/// `on_query` is called for every statement (the query counter in `/metrics`).
pub async fn connect(
    url: &str,
    on_query: impl Fn() + Send + Sync + 'static,
) -> Result<DatabaseConnection, StorageError> {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5));
    if url.starts_with("sqlite:") {
        options.max_connections(8).map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                // FULL: a 202 must survive power loss too; group commit keeps it cheap.
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    } else {
        options.max_connections(16);
    }
    let mut db = Database::connect(options).await?;
    db.set_metric_callback(move |_| on_query());
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), StorageError> {
    use migration::MigratorTrait;
    migration::Migrator::up(db, None).await?;
    Ok(())
}

pub async fn ping(db: &DatabaseConnection) -> Result<(), StorageError> {
    db.ping().await?;
    Ok(())
}

fn content_hash(document: &str) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(document.as_bytes()))
}

/// A definition as stored (and hashed): compact JSON.
pub fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising our own plain structs cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: serde::de::DeserializeOwned>(id: &str, text: &str) -> Result<T, StorageError> {
    serde_json::from_str(text).map_err(|source| StorageError::Document {
        id: id.to_string(),
        source,
    })
}

/// What an import changed, per kind of item.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    /// Files older than the database's version (authored through the admin API since).
    pub kept: Vec<String>,
    /// Files with new content on top of an older version than the database's: not
    /// imported (export, redo the edit, import).
    pub conflicts: Vec<String>,
    pub unchanged: usize,
    pub generation: u64,
}

impl ImportReport {
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.updated.is_empty()
    }
}

const GENERATION_KEY: &str = "catalog_generation";
const SIGNING_SECRET_KEY: &str = "signing_secret";

/// Imports a table of `{id, definition, content_hash, updated_at}` documents (traits,
/// segments, policies): each item inserted, updated or counted unchanged.
macro_rules! import_documents {
    ($tx:expr, $module:ident, $items:expr, $kind:expr, $now:expr, $report:expr) => {
        let existing: HashMap<String, String> = $module::Entity::find()
            .all($tx)
            .await?
            .into_iter()
            .map(|m| (m.id, m.content_hash))
            .collect();
        for def in &$items {
            let definition = to_json(def);
            let hash = content_hash(&definition);
            let model = $module::ActiveModel {
                id: Set(def.id.clone()),
                definition: Set(definition),
                content_hash: Set(hash.clone()),
                updated_at: Set($now),
            };
            upsert!(
                $tx,
                $module::Entity,
                model,
                existing,
                def.id,
                hash,
                $kind,
                $report
            );
        }
    };
}

/// The documents of such a table, ordered by id.
macro_rules! load_documents {
    ($db:expr, $module:ident, $into:expr) => {
        let mut rows = $module::Entity::find().all($db).await?;
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        for row in rows {
            $into.push(from_json(&row.id, &row.definition)?);
        }
    };
}

/// Inserts a new document, updates a changed one (by content hash), counts the rest.
macro_rules! upsert {
    ($tx:expr, $entity:path, $model:expr, $existing:expr, $id:expr, $hash:expr, $kind:expr, $report:expr) => {
        match $existing.get($id.as_str()) {
            Some(old) if *old == $hash => $report.unchanged += 1,
            Some(_) => {
                <$entity>::update($model).exec($tx).await?;
                $report.updated.push(format!("{} {}", $kind, $id));
            }
            None => {
                <$entity>::insert($model)
                    .exec_without_returning($tx)
                    .await?;
                $report.added.push(format!("{} {}", $kind, $id));
            }
        }
    };
}

/// Imports a placement's definition or a Fluent resource: documents without a version
/// of their own, compared as they are with the live one and the history.
async fn import_document<C: ConnectionTrait>(
    tx: &C,
    kind: Kind,
    target: &str,
    document: &str,
    live: Option<&str>,
    past: &[(u32, String)],
    report: &mut ImportReport,
) -> Result<(), StorageError> {
    let step = import_step(
        live == Some(document),
        past.iter().any(|(_, doc)| doc == document),
    );
    let item = Imported {
        kind,
        target,
        placement_id: None,
        version: past.last().map_or(1, |(n, _)| n + 1),
        state: "published",
        document,
    };
    record(tx, item, live.is_some(), !past.is_empty(), step, report).await
}

/// Applies one import step to one target and reports it.
async fn record<C: ConnectionTrait>(
    tx: &C,
    item: Imported<'_>,
    existed: bool,
    has_history: bool,
    step: ImportStep,
    report: &mut ImportReport,
) -> Result<(), StorageError> {
    let name = format!(
        "{} {}",
        match item.kind {
            Kind::Fluent => "locale file",
            other => other.as_str(),
        },
        item.target
    );
    match step {
        ImportStep::Unchanged => {
            report.unchanged += 1;
            // The live row predates the history (an old database): record it once.
            if !has_history {
                authoring::record_import(tx, item, false).await?;
            }
        }
        ImportStep::Kept => report.kept.push(name),
        ImportStep::Conflict { file, newest } => report.conflicts.push(format!(
            "{name}: new content on the file's version {file}, older than the database's version {newest}"
        )),
        ImportStep::Write => {
            authoring::record_import(tx, item, true).await?;
            if existed {
                report.updated.push(name);
            } else {
                report.added.push(name);
            }
        }
    }
    Ok(())
}

enum ImportStep {
    /// The file is what is live.
    Unchanged,
    /// New content in a file older than the database's version: not written.
    Conflict { file: u32, newest: u32 },
    /// The file is an older version than the live one: the database moved on (the admin
    /// API); export to bring the files up to date.
    Kept,
    /// The file is new content: write it and record a version.
    Write,
}

/// Compares a file's document with the live one and the history, by `print` (what makes
/// two documents the same content).
/// A file is what is live (`unchanged`), or the content of an older version (`older`),
/// or new content.
fn import_step(unchanged: bool, older: bool) -> ImportStep {
    if unchanged {
        ImportStep::Unchanged
    } else if older {
        ImportStep::Kept
    } else {
        ImportStep::Write
    }
}

/// A variant's content without its version number (files keep the number they were
/// written with; the database numbers every change) and, `without_state`, without its
/// state (a version saved through the API keeps the state it was written in, `draft`,
/// while the file exported after its publish says `published`).
fn variant_print(document: &str, without_state: bool) -> String {
    match serde_json::from_str::<serde_json::Value>(document) {
        Ok(mut value) => {
            value["version"] = serde_json::Value::from(0);
            if without_state {
                value["state"] = serde_json::Value::Null;
            }
            value.to_string()
        }
        Err(_) => document.to_string(),
    }
}

/// Loads files' content into the database: inserts what is new, updates what changed,
/// leaves the rest (and every channel's governance state) alone. Idempotent.
pub async fn import(
    db: &DatabaseConnection,
    content: &ContentSet,
) -> Result<ImportReport, StorageError> {
    let now = Utc::now();
    let tx = db.begin().await?;
    let mut report = ImportReport::default();

    let existing: HashMap<String, channel::Model> = channel::Entity::find()
        .all(&tx)
        .await?
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    for def in &content.channels {
        let definition = to_json(def);
        match existing.get(&def.id) {
            Some(row) if row.definition == definition => report.unchanged += 1,
            Some(row) => {
                // The state column belongs to governance; keep it in the document too.
                let mut kept = def.clone();
                kept.state = ChannelState::parse(&row.state).unwrap_or(def.state);
                let kept_json = to_json(&kept);
                if kept_json == row.definition {
                    report.unchanged += 1;
                    continue;
                }
                channel::Entity::update(channel::ActiveModel {
                    id: Set(def.id.clone()),
                    definition: Set(kept_json),
                    updated_at: Set(now),
                    ..Default::default()
                })
                .exec(&tx)
                .await?;
                report.updated.push(format!("channel {}", def.id));
            }
            None => {
                channel::Entity::insert(channel::ActiveModel {
                    id: Set(def.id.clone()),
                    state: Set(def.state.as_str().to_string()),
                    definition: Set(definition),
                    updated_at: Set(now),
                })
                .exec(&tx)
                .await?;
                report.added.push(format!("channel {}", def.id));
            }
        }
    }

    import_documents!(&tx, trait_def, content.traits, "trait", now, report);

    import_documents!(&tx, segment, content.segments, "segment", now, report);

    import_documents!(
        &tx,
        governance_policy,
        content.policies,
        "policy",
        now,
        report
    );

    // Placements, variants and Fluent files have a history: a file that matches an
    // older version than the live one is stale (the admin API moved on), not an edit.
    let history = authoring::all_documents(&tx).await?;
    let history_of = |kind: Kind, target: &str| {
        history
            .get(&(kind.as_str().to_string(), target.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    };
    let live_placements: HashMap<String, String> = placement::Entity::find()
        .all(&tx)
        .await?
        .into_iter()
        .map(|m| (m.id, m.definition))
        .collect();
    let live_variants: HashMap<String, variant::Model> = variant::Entity::find()
        .all(&tx)
        .await?
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    for def in &content.placements {
        let shell = to_json(&PlacementDef {
            variants: Vec::new(),
            ..def.clone()
        });
        let live = live_placements.get(&def.id).map(String::as_str);
        let past = history_of(Kind::Placement, &def.id);
        import_document(
            &tx,
            Kind::Placement,
            &def.id,
            &shell,
            live,
            past,
            &mut report,
        )
        .await?;
        for v in &def.variants {
            let past = history_of(Kind::Variant, &v.id);
            let live = live_variants.get(&v.id);
            let file_doc = to_json(v);
            // A file publishing an older version's content is that older version (whatever
            // stage it was saved in); a file archiving or drafting must match the stage too.
            let stateless = v.state == crate::catalog::model::VariantState::Published;
            let older_print = variant_print(&file_doc, stateless);
            let mut step = import_step(
                live.is_some_and(|m| {
                    variant_print(&m.definition, false) == variant_print(&file_doc, false)
                }),
                past.iter()
                    .any(|(_, doc)| variant_print(doc, stateless) == older_print),
            );
            let newest = past
                .last()
                .map(|(n, _)| *n)
                .max(live.map(|m| m.version as u32))
                .unwrap_or(0);
            // New content written on top of an older version than the live one: the
            // file was not exported after the admin API moved on. Writing it would
            // silently undo reviewed work.
            if matches!(step, ImportStep::Write) && live.is_some() && v.version < newest {
                step = ImportStep::Conflict {
                    file: v.version,
                    newest,
                };
            }
            let number = if newest == 0 {
                v.version
            } else {
                v.version.max(newest + 1)
            };
            let stored = to_json(&VariantDef {
                version: number,
                ..v.clone()
            });
            let item = Imported {
                kind: Kind::Variant,
                target: &v.id,
                placement_id: Some(&def.id),
                version: number,
                state: v.state.as_str(),
                document: &stored,
            };
            match (&step, live) {
                // Only the history is missing: record the live row as it is.
                (ImportStep::Unchanged, Some(row)) if past.is_empty() => {
                    report.unchanged += 1;
                    let seed = Imported {
                        version: row.version as u32,
                        state: &row.state,
                        document: &row.definition,
                        ..item
                    };
                    authoring::record_import(&tx, seed, false).await?;
                }
                _ => {
                    let has_history = !past.is_empty();
                    record(&tx, item, live.is_some(), has_history, step, &mut report).await?
                }
            }
        }
    }

    let live_files: HashMap<String, String> = fluent_resource::Entity::find()
        .all(&tx)
        .await?
        .into_iter()
        .map(|m| (authoring::fluent_target(&m.locale, &m.path), m.source))
        .collect();
    for file in &content.fluent {
        let target = authoring::fluent_target(&file.locale, &file.path);
        let live = live_files.get(&target).map(String::as_str);
        let past = history_of(Kind::Fluent, &target);
        import_document(
            &tx,
            Kind::Fluent,
            &target,
            &file.source,
            live,
            past,
            &mut report,
        )
        .await?;
    }

    report.generation = if report.changed() {
        bump_generation(&tx).await?
    } else {
        read_generation(&tx).await?
    };
    tx.commit().await?;
    Ok(report)
}

async fn read_generation<C: ConnectionTrait>(db: &C) -> Result<u64, StorageError> {
    Ok(key_value::Entity::find_by_id(GENERATION_KEY.to_string())
        .one(db)
        .await?
        .and_then(|m| m.value.parse().ok())
        .unwrap_or(0))
}

/// A channel's governance state as stored (`None` for an unknown channel).
pub async fn channel_state(
    db: &DatabaseConnection,
    id: &str,
) -> Result<Option<String>, StorageError> {
    Ok(channel::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .map(|row| row.state))
}

/// Marks content as changed (every node reloads its catalog); the new generation.
pub async fn bump_generation<C: ConnectionTrait>(db: &C) -> Result<u64, StorageError> {
    // Compare-and-set, retried: two changes committing at once must get two numbers, or
    // a node that loaded the first would never load the second.
    loop {
        let current = read_generation(db).await?;
        if let Some(next) = advance_generation_from(db, current).await? {
            return Ok(next);
        }
    }
}

/// Moves the generation from `expected` to the next number; `None` when it is no longer
/// `expected` (another change got there first).
async fn advance_generation_from<C: ConnectionTrait>(
    db: &C,
    expected: u64,
) -> Result<Option<u64>, StorageError> {
    // The row exists from the first change on; make sure it does before comparing.
    key_value::Entity::insert(key_value::ActiveModel {
        key: Set(GENERATION_KEY.to_string()),
        value: Set("0".to_string()),
    })
    .on_conflict(
        OnConflict::column(key_value::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let next = expected + 1;
    let moved = key_value::Entity::update_many()
        .col_expr(
            key_value::Column::Value,
            sea_orm::sea_query::Expr::value(next.to_string()),
        )
        .filter(key_value::Column::Key.eq(GENERATION_KEY))
        .filter(key_value::Column::Value.eq(expected.to_string()))
        .exec(db)
        .await?;
    Ok((moved.rows_affected == 1).then_some(next))
}

/// The catalog generation: bumped by every change to content or channel states.
pub async fn generation(db: &DatabaseConnection) -> Result<u64, StorageError> {
    read_generation(db).await
}

/// Everything the catalog is compiled from, with the generation it belongs to. The
/// generation is read before and after: a change in between means a mixed read, so the
/// content is read again (tokens must never carry a generation their content lacks).
pub async fn load_content(db: &DatabaseConnection) -> Result<(ContentSet, u64), StorageError> {
    let mut attempts = 0;
    loop {
        let before = read_generation(db).await?;
        let content = read_content(db).await?;
        let after = read_generation(db).await?;
        attempts += 1;
        if before == after {
            return Ok((content, after));
        }
        if attempts == 3 {
            // Content at least as new as `before`: a change checked against it and
            // committed by compare-and-set fails rather than passing on a mixed read.
            return Ok((content, before));
        }
    }
}

async fn read_content(db: &DatabaseConnection) -> Result<ContentSet, StorageError> {
    let mut content = ContentSet::default();
    let mut channels = channel::Entity::find().all(db).await?;
    channels.sort_by(|a, b| a.id.cmp(&b.id));
    for row in channels {
        let mut def: ChannelDef = from_json(&row.id, &row.definition)?;
        def.state = ChannelState::parse(&row.state).unwrap_or(def.state);
        content.channels.push(def);
    }
    load_documents!(db, trait_def, content.traits);
    load_documents!(db, segment, content.segments);
    load_documents!(db, governance_policy, content.policies);
    // Governance owns variants' retirement: an import never brings one back.
    let retired: std::collections::HashSet<String> = governance::states(db, "variant")
        .await?
        .into_iter()
        .filter(|(_, state)| state == "retired")
        .map(|(target, _)| target)
        .collect();
    let mut variants_by_placement: HashMap<String, Vec<VariantDef>> = HashMap::new();
    let mut variants = variant::Entity::find().all(db).await?;
    variants.sort_by(|a, b| a.id.cmp(&b.id));
    for row in variants {
        let mut def: VariantDef = from_json(&row.id, &row.definition)?;
        if retired.contains(&def.id) {
            def.state = crate::catalog::model::VariantState::Retired;
        }
        variants_by_placement
            .entry(row.placement_id)
            .or_default()
            .push(def);
    }
    let mut placements = placement::Entity::find().all(db).await?;
    placements.sort_by(|a, b| a.id.cmp(&b.id));
    for row in placements {
        let mut def: PlacementDef = from_json(&row.id, &row.definition)?;
        def.variants = variants_by_placement.remove(&row.id).unwrap_or_default();
        content.placements.push(def);
    }
    let mut files = fluent_resource::Entity::find().all(db).await?;
    files.sort_by(|a, b| (&a.locale, &a.path).cmp(&(&b.locale, &b.path)));
    content.fluent = files
        .into_iter()
        .map(|row| FluentFile {
            locale: row.locale,
            path: row.path,
            source: row.source,
        })
        .collect();
    Ok(content)
}

/// The HMAC secret every node signs with: generated once and kept in the database.
pub async fn shared_signing_secret(db: &DatabaseConnection) -> Result<String, StorageError> {
    use rand::Rng;
    let candidate: String = {
        let bytes: [u8; 32] = rand::rng().random();
        hex::encode(bytes)
    };
    // Racing nodes: the first insert wins, everyone reads the winner.
    key_value::Entity::insert(key_value::ActiveModel {
        key: Set(SIGNING_SECRET_KEY.to_string()),
        value: Set(candidate),
    })
    .on_conflict(
        OnConflict::column(key_value::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let row = key_value::Entity::find_by_id(SIGNING_SECRET_KEY.to_string())
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("signing secret".into()))?;
    Ok(row.value)
}

/// Changes a channel's state (used by governance and by tests) and bumps the generation.
pub async fn set_channel_state(
    db: &DatabaseConnection,
    id: &str,
    state: ChannelState,
) -> Result<bool, StorageError> {
    let tx = db.begin().await?;
    let Some(row) = channel::Entity::find_by_id(id.to_string()).one(&tx).await? else {
        return Ok(false);
    };
    channel::Entity::update(channel::ActiveModel {
        id: Set(row.id),
        state: Set(state.as_str().to_string()),
        updated_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec(&tx)
    .await?;
    bump_generation(&tx).await?;
    tx.commit().await?;
    Ok(true)
}
