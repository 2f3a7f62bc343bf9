//! `tailor import`: content files into the database. Channels and document tables
//! (traits, segments, policies) are compared with what is stored; placements, variants
//! and Fluent files with their history too, so a stale file never undoes work done
//! through the admin API since.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, TransactionTrait,
};
use serde::Serialize;

use super::authoring::{self, ImportWrites, Imported, Kind};
use super::documents::import_documents;
use super::entities::{
    channel, fluent_resource, governance_policy, placement, segment, trait_def, variant,
};
use super::{bump_generation, read_generation, to_json, StorageError};
use crate::catalog::model::{
    ChannelDef, ChannelState, ContentSet, FluentFile, PlacementDef, VariantDef,
};

/// Stored versions per (kind, target), oldest first: (version, document).
type History = HashMap<(String, String), Vec<(u32, String)>>;

fn history_of<'a>(history: &'a History, kind: Kind, target: &str) -> &'a [(u32, String)] {
    history
        .get(&(kind.as_str().to_string(), target.to_string()))
        .map(Vec::as_slice)
        .unwrap_or(&[])
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

/// Imports a placement's definition or a Fluent resource: documents without a version
/// of their own, compared as they are with the live one and the history.
fn import_document(
    writes: &mut ImportWrites,
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
    record(writes, item, live.is_some(), !past.is_empty(), step, report)
}

/// Applies one import step to one target and reports it.
fn record(
    writes: &mut ImportWrites,
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
                writes.record(item, false, false)?;
            }
        }
        ImportStep::Kept => report.kept.push(name),
        ImportStep::Conflict { file, newest } => report.conflicts.push(format!(
            "{name}: new content on the file's version {file}, older than the database's version {newest}"
        )),
        ImportStep::Write => {
            writes.record(item, true, has_history)?;
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
///
/// `files_digest`: the digest of the files `content` was read from, recorded with the
/// import so that a restart with the same files can skip checking and importing them.
pub async fn import(
    db: &DatabaseConnection,
    content: &ContentSet,
    files_digest: Option<&str>,
) -> Result<ImportReport, StorageError> {
    let now = Utc::now();
    let tx = db.begin().await?;
    let mut report = ImportReport::default();
    import_channels(&tx, &content.channels, now, &mut report).await?;
    import_documents::<trait_def::Entity, _, _>(
        &tx,
        &content.traits,
        |d| &d.id,
        "trait",
        now,
        &mut report,
    )
    .await?;
    import_documents::<segment::Entity, _, _>(
        &tx,
        &content.segments,
        |d| &d.id,
        "segment",
        now,
        &mut report,
    )
    .await?;
    import_documents::<governance_policy::Entity, _, _>(
        &tx,
        &content.policies,
        |d| &d.id,
        "policy",
        now,
        &mut report,
    )
    .await?;
    // Placements, variants and Fluent files have a history: a file that matches an
    // older version than the live one is stale (the admin API moved on), not an edit.
    let history = authoring::all_documents(&tx).await?;
    let mut writes = ImportWrites::default();
    import_placements(&tx, &mut writes, &content.placements, &history, &mut report).await?;
    import_fluent(&tx, &mut writes, &content.fluent, &history, &mut report).await?;
    writes.write(&tx).await?;
    if let Some(digest) = files_digest {
        super::set_imported_files_digest(&tx, digest).await?;
    }
    report.generation = if report.changed() {
        bump_generation(&tx).await?
    } else {
        read_generation(&tx).await?
    };
    tx.commit().await?;
    super::remember_fluent_sources(&content.fluent);
    Ok(report)
}

/// Channels: the definition is imported, the state column is governance's.
async fn import_channels<C: ConnectionTrait>(
    tx: &C,
    channels: &[ChannelDef],
    now: DateTime<Utc>,
    report: &mut ImportReport,
) -> Result<(), StorageError> {
    let existing: HashMap<String, channel::Model> = channel::Entity::find()
        .all(tx)
        .await?
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    for def in channels {
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
                .exec(tx)
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
                .exec(tx)
                .await?;
                report.added.push(format!("channel {}", def.id));
            }
        }
    }
    Ok(())
}

/// Placements (their definition without variants) and each of their variants.
async fn import_placements<C: ConnectionTrait>(
    tx: &C,
    writes: &mut ImportWrites,
    placements: &[PlacementDef],
    history: &History,
    report: &mut ImportReport,
) -> Result<(), StorageError> {
    let live_placements: HashMap<String, String> = placement::Entity::find()
        .all(tx)
        .await?
        .into_iter()
        .map(|m| (m.id, m.definition))
        .collect();
    let live_variants: HashMap<String, variant::Model> = variant::Entity::find()
        .all(tx)
        .await?
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    for def in placements {
        let shell = to_json(&PlacementDef {
            variants: Vec::new(),
            ..def.clone()
        });
        let live = live_placements.get(&def.id).map(String::as_str);
        let past = history_of(history, Kind::Placement, &def.id);
        import_document(writes, Kind::Placement, &def.id, &shell, live, past, report)?;
        for v in &def.variants {
            import_variant(
                writes,
                &def.id,
                v,
                live_variants.get(&v.id),
                history,
                report,
            )?;
        }
    }
    Ok(())
}

/// One variant of a placement's file, against the live row and the history.
fn import_variant(
    writes: &mut ImportWrites,
    placement_id: &str,
    v: &VariantDef,
    live: Option<&variant::Model>,
    history: &History,
    report: &mut ImportReport,
) -> Result<(), StorageError> {
    let past = history_of(history, Kind::Variant, &v.id);
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
        placement_id: Some(placement_id),
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
            writes.record(seed, false, false)?;
        }
        _ => {
            let has_history = !past.is_empty();
            record(writes, item, live.is_some(), has_history, step, report)?
        }
    }
    Ok(())
}

async fn import_fluent<C: ConnectionTrait>(
    tx: &C,
    writes: &mut ImportWrites,
    files: &[FluentFile],
    history: &History,
    report: &mut ImportReport,
) -> Result<(), StorageError> {
    let live_files: HashMap<String, String> = fluent_resource::Entity::find()
        .all(tx)
        .await?
        .into_iter()
        .map(|m| (authoring::fluent_target(&m.locale, &m.path), m.source))
        .collect();
    for file in files {
        let target = authoring::fluent_target(&file.locale, &file.path);
        let live = live_files.get(&target).map(String::as_str);
        let past = history_of(history, Kind::Fluent, &target);
        import_document(
            writes,
            Kind::Fluent,
            &target,
            &file.source,
            live,
            past,
            report,
        )?;
    }
    Ok(())
}
