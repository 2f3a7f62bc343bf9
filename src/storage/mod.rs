//! Storage: the database connection and the content tables. The only module that speaks
//! SQL (through sea-orm); everything above it sees [`ContentSet`]s and plain values.

pub mod allocations;
pub mod authoring;
pub mod documents;
pub mod entities;
mod erasure;
pub mod events;
pub mod governance;
pub mod identity;
mod identity_batch;
mod import;
pub mod purges;
pub mod reach;
pub mod rollups;
pub mod sync;

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
use documents::load_documents;
use entities::{
    channel, fluent_resource, governance_policy, key_value, placement, segment, trait_def, variant,
};
pub use import::{import, ImportReport};

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
    /// The call was not made or not answered: the breaker was open or it timed out.
    #[error("{0}")]
    Unavailable(String),
}

impl StorageError {
    /// The database could not be reached (as opposed to answering with an error).
    pub fn is_outage(&self) -> bool {
        use sea_orm::sqlx::Error as Sqlx;
        use sea_orm::RuntimeErr;
        match self {
            StorageError::Unavailable(_) => true,
            StorageError::Db(DbErr::Conn(_) | DbErr::ConnectionAcquire(_)) => true,
            StorageError::Db(DbErr::Query(RuntimeErr::SqlxError(e)))
            | StorageError::Db(DbErr::Exec(RuntimeErr::SqlxError(e))) => match e.as_ref() {
                Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::Protocol(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed => true,
                // Class 08 (connection exception) and the server going away: admin or
                // crash shutdown, cannot connect now (starting up, failing over).
                Sqlx::Database(e) => e.code().is_some_and(|code| {
                    code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
                }),
                _ => false,
            },
            _ => false,
        }
    }
}

impl StorageError {
    /// The database's error code (SQLSTATE), when it answered with one: e.g. `28P01`
    /// (wrong password) or `3D000` (no such database) at start-up.
    pub fn sqlstate(&self) -> Option<String> {
        use sea_orm::RuntimeErr;
        let runtime = match self {
            StorageError::Db(DbErr::Conn(e) | DbErr::Query(e) | DbErr::Exec(e)) => e,
            _ => return None,
        };
        match runtime {
            RuntimeErr::SqlxError(e) => match e.as_ref() {
                sea_orm::sqlx::Error::Database(e) => e.code().map(|c| c.into_owned()),
                _ => None,
            },
            _ => None,
        }
    }
}

impl From<crate::resilience::CallError<StorageError>> for StorageError {
    fn from(error: crate::resilience::CallError<StorageError>) -> StorageError {
        use crate::resilience::CallError;
        match error {
            CallError::Failed(e) => e,
            other @ (CallError::Open(_) | CallError::TimedOut(_)) => {
                StorageError::Unavailable(other.to_string())
            }
        }
    }
}

impl From<StorageError> for Problem {
    fn from(error: StorageError) -> Problem {
        if error.is_outage() {
            // Once per request: the probe logs the outage once, metrics count these.
            tracing::debug!(error = %error, "database unavailable");
            Problem::new(
                ProblemType::Unavailable,
                "the database is unavailable; try again shortly",
            )
            .with_retry_after(1)
        } else {
            Problem::internal(&error)
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
    connect_within(url, Duration::from_secs(5), on_query).await
}

/// [`connect`] with a bound on waiting for a pooled connection (and on opening one):
/// a server keeps it short, so a request fails fast when the database is down.
pub async fn connect_within(
    url: &str,
    acquire_timeout: Duration,
    on_query: impl Fn() + Send + Sync + 'static,
) -> Result<DatabaseConnection, StorageError> {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .sqlx_logging(false)
        .connect_timeout(acquire_timeout)
        .acquire_timeout(acquire_timeout);
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

/// Connects and applies the migrations: what every command that uses the database
/// does first.
pub async fn open(url: &str) -> Result<DatabaseConnection, StorageError> {
    let db = connect(url, || {}).await?;
    migrate(&db).await?;
    Ok(db)
}

/// Applies the migrations not yet applied. On PostgreSQL, under an advisory lock: nodes
/// started together on a new database take turns instead of racing to create the same
/// tables (the later ones then find nothing left to do).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StorageError> {
    use migration::MigratorTrait;
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        migration::Migrator::up(db, None).await?;
        return Ok(());
    }
    let sqlx_error =
        |e: sea_orm::sqlx::Error| DbErr::Conn(sea_orm::RuntimeErr::Internal(e.to_string()));
    // A session lock lives on one connection: keep this one until the migrations ran.
    let mut holder = db
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(sqlx_error)?;
    let mut waiting_logged = false;
    loop {
        let (locked,): (bool,) = sea_orm::sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .fetch_one(&mut *holder)
            .await
            .map_err(sqlx_error)?;
        if locked {
            break;
        }
        if !waiting_logged {
            tracing::info!("another node is applying the migrations; waiting for it");
            waiting_logged = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let migrated = migration::Migrator::up(db, None).await;
    let unlocked = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *holder)
        .await;
    if unlocked.is_err() {
        // Dropping the connection ends its session, and the lock with it.
        holder.close_on_drop();
    }
    migrated?;
    Ok(())
}

/// The advisory lock key the migrations run under ("tailor" in ASCII).
/// The most a statement built from many rows should weigh: small enough that it is one
/// write the socket takes whole. sqlx 0.9 does not set TCP_NODELAY; a statement larger
/// than the socket's initial send buffer (16 KiB by default on Linux, `net.ipv4.tcp_wmem`)
/// goes out in two writes, and the second waits for the server's delayed ACK: 40 ms per
/// statement.
pub const STATEMENT_BYTES: usize = 12 * 1024;

const MIGRATION_LOCK: i64 = 0x7461_696c_6f72;

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

const GENERATION_KEY: &str = "catalog_generation";
/// The digest of the content files last imported (see [`crate::catalog::files::digest`]).
const IMPORTED_FILES_KEY: &str = "imported_files_digest";

/// The digest of the content files the last import read, if any import recorded one.
pub async fn imported_files_digest<C: ConnectionTrait>(
    db: &C,
) -> Result<Option<String>, StorageError> {
    Ok(
        key_value::Entity::find_by_id(IMPORTED_FILES_KEY.to_string())
            .one(db)
            .await?
            .map(|m| m.value),
    )
}

/// Records the digest of the files an import read (in the import's transaction).
pub(crate) async fn set_imported_files_digest<C: ConnectionTrait>(
    db: &C,
    digest: &str,
) -> Result<(), StorageError> {
    key_value::Entity::insert(key_value::ActiveModel {
        key: Set(IMPORTED_FILES_KEY.to_string()),
        value: Set(digest.to_string()),
    })
    .on_conflict(
        OnConflict::column(key_value::Column::Key)
            .update_column(key_value::Column::Value)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}
const SIGNING_SECRET_KEY: &str = "signing_secret";

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
    content.traits = load_documents::<trait_def::Entity, _, _>(db).await?;
    content.segments = load_documents::<segment::Entity, _, _>(db).await?;
    content.policies = load_documents::<governance_policy::Entity, _, _>(db).await?;
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
    content.fluent = read_fluent(db).await?;
    Ok(content)
}

/// Up to this many Fluent sources new to the process are read one by one (by primary
/// key); more, and the whole table is read in one pass.
const READ_FLUENT_BY_KEY: usize = 32;

/// The Fluent resources. Their sources are most of a large catalog's bytes (40 MB of
/// 50 for 10,000 variants in 20 locales) and rarely change: the list with content
/// hashes is read, and only sources this process has not read before are fetched.
async fn read_fluent(db: &DatabaseConnection) -> Result<Vec<FluentFile>, StorageError> {
    use sea_orm::QuerySelect;
    let mut index: Vec<(String, String, String)> = fluent_resource::Entity::find()
        .select_only()
        .column(fluent_resource::Column::Locale)
        .column(fluent_resource::Column::Path)
        .column(fluent_resource::Column::ContentHash)
        .into_tuple()
        .all(db)
        .await?;
    index.sort();
    let key = fluent_source_key;
    let memo = fluent_sources();
    let round = memo.begin();
    let missing: Vec<(&String, &String)> = index
        .iter()
        .filter(|(locale, path, hash)| memo.get(round, key(locale, path, hash)).is_none())
        .map(|(locale, path, _)| (locale, path))
        .collect();
    if missing.len() <= READ_FLUENT_BY_KEY {
        // A publish: a few sources, each by its primary key.
        for (locale, path) in missing {
            let found = fluent_resource::Entity::find_by_id((locale.clone(), path.clone()))
                .one(db)
                .await?;
            if let Some(row) = found {
                let at = key(&row.locale, &row.path, &row.content_hash);
                memo.put(round, at, std::sync::Arc::from(row.source));
            }
        }
    } else {
        // A start: one pass over the table, each row read once, none held longer than
        // it takes to keep its source.
        use futures_util::TryStreamExt;
        let mut rows = fluent_resource::Entity::find().stream(db).await?;
        while let Some(row) = rows.try_next().await? {
            let at = key(&row.locale, &row.path, &row.content_hash);
            if memo.get(round, at).is_none() {
                memo.put(round, at, std::sync::Arc::from(row.source));
            }
        }
    }
    let mut files = Vec::with_capacity(index.len());
    for (locale, path, hash) in index {
        // Changed between the two reads: read once more, on its own.
        let source = match memo.get(round, key(&locale, &path, &hash)) {
            Some(source) => source,
            None => fluent_resource::Entity::find_by_id((locale.clone(), path.clone()))
                .one(db)
                .await?
                .map_or_else(
                    || std::sync::Arc::from(""),
                    |row| std::sync::Arc::from(row.source),
                ),
        };
        files.push(FluentFile {
            locale,
            path,
            source,
        });
    }
    memo.finish(round);
    Ok(files)
}

/// Keeps the Fluent sources an import just wrote: the catalog read that follows takes
/// them from here instead of reading them back, and the content they came from and the
/// serving catalog share one copy (on a large catalog, 80 MB each).
pub(crate) fn remember_fluent_sources(files: &[FluentFile]) {
    let memo = fluent_sources();
    let round = memo.begin();
    for file in files {
        let key = fluent_source_key(&file.locale, &file.path, &content_hash(&file.source));
        memo.put(round, key, file.source.clone());
    }
    memo.finish(round);
}

fn fluent_source_key(locale: &str, path: &str, hash: &str) -> u128 {
    crate::memo::digest(&[locale.as_bytes(), path.as_bytes(), hash.as_bytes()])
}

/// Fluent sources this process read, by (locale, path, content hash).
fn fluent_sources() -> &'static crate::memo::Memo<std::sync::Arc<str>> {
    static MEMO: std::sync::OnceLock<crate::memo::Memo<std::sync::Arc<str>>> =
        std::sync::OnceLock::new();
    MEMO.get_or_init(|| crate::memo::Memo::new(16))
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
