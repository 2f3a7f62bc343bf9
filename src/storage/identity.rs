//! The identity graph's tables: identifiers → people, links, traits, consents, merges,
//! conflicts and the privacy audit log.
//!
//! Concurrency: every identify call locks its identifiers (PostgreSQL advisory locks,
//! sorted, so two calls never deadlock on them), then the rows of the people they
//! belong to (`FOR UPDATE`). Anything that changes a person's identifiers holds that
//! person's row lock, so a call that finds one of its people merged away in the
//! meantime starts again and sees the survivor. SQLite serialises writers anyway; one
//! process-wide mutex keeps its read-then-write transactions from failing as busy.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, EntityTrait, QueryFilter, QueryOrder, Statement, TransactionTrait,
};

use super::entities::{
    identifier, identity_conflict, identity_link, identity_merge, person, person_consent,
    person_trait,
};
pub use super::erasure::{audit_of, erase, ErasureReport};
pub use super::identity_batch::identify_group;
use super::StorageError;
use crate::identity::graph::{
    self, Conflict, Identifier, IdentifierTypes, KnownPerson, Plan, StoredTrait, TraitValue,
};
pub use crate::identity::model::IdentifyOutcome;
use crate::identity::model::{IdentifyCommand, PersonRecord};

#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    #[error("the identifiers name two people that must stay apart ({})", .0.kind)]
    Conflict(Conflict),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sea_orm::DbErr> for IdentifyError {
    fn from(e: sea_orm::DbErr) -> Self {
        IdentifyError::Storage(StorageError::Db(e))
    }
}

/// Attempts before a call that keeps losing races gives up (each loss means another
/// call merged one of its people; that cannot repeat indefinitely).
pub(super) const ATTEMPTS: usize = 8;

fn col(n: &str) -> Alias {
    Alias::new(n)
}

/// The person an identifier belongs to, with traits and consents; `None` if unknown.
pub async fn find_by_identifier<C: ConnectionTrait>(
    db: &C,
    id: &Identifier,
) -> Result<Option<PersonRecord>, StorageError> {
    let Some(row) = identifier::Entity::find_by_id((id.kind.clone(), id.value.clone()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    load_record(db, &row.person_id).await
}

/// Which of these values of one identifier type the graph knows: (value, person id).
pub async fn owners<C: ConnectionTrait>(
    db: &C,
    kind: &str,
    values: &[&str],
) -> Result<Vec<(String, String)>, StorageError> {
    let mut found = Vec::new();
    for chunk in values.chunks(200) {
        for row in identifier::Entity::find()
            .filter(identifier::Column::Kind.eq(kind))
            .filter(identifier::Column::Value.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            found.push((row.value, row.person_id));
        }
    }
    Ok(found)
}

/// One page of every identifier the graph holds, in (kind, value) order after `after`:
/// what a node's filter of known identifiers is built from
/// ([`crate::identity::known::KnownIdentifiers`]). Keyset paging on the primary key, so
/// each page is one index range scan however large the graph.
pub async fn identifiers_page<C: ConnectionTrait>(
    db: &C,
    after: Option<&(String, String)>,
    limit: u64,
) -> Result<Vec<(String, String)>, StorageError> {
    use sea_orm::{Condition, QuerySelect};
    let mut query = identifier::Entity::find()
        .select_only()
        .column(identifier::Column::Kind)
        .column(identifier::Column::Value)
        .order_by_asc(identifier::Column::Kind)
        .order_by_asc(identifier::Column::Value)
        .limit(limit);
    if let Some((kind, value)) = after {
        query = query.filter(
            Condition::any()
                .add(identifier::Column::Kind.gt(kind.as_str()))
                .add(
                    Condition::all()
                        .add(identifier::Column::Kind.eq(kind.as_str()))
                        .add(identifier::Column::Value.gt(value.as_str())),
                ),
        );
    }
    Ok(query.into_tuple::<(String, String)>().all(db).await?)
}

/// How many identifiers the graph holds (to size the filter before filling it).
pub async fn identifier_count<C: ConnectionTrait>(db: &C) -> Result<u64, StorageError> {
    use sea_orm::PaginatorTrait;
    Ok(identifier::Entity::find().count(db).await?)
}

/// A person by id (a merged-away id answers for its survivor); `None` if unknown or erased.
pub async fn find_by_id<C: ConnectionTrait>(
    db: &C,
    person_id: &str,
) -> Result<Option<PersonRecord>, StorageError> {
    load_record(db, person_id).await
}

pub(super) async fn load_record<C: ConnectionTrait>(
    db: &C,
    person_id: &str,
) -> Result<Option<PersonRecord>, StorageError> {
    let mut id = person_id.to_string();
    // Follow merges (a chain is at most as long as the merges that made it).
    let row = loop {
        let Some(row) = person::Entity::find_by_id(id.clone()).one(db).await? else {
            return Ok(None);
        };
        match row.merged_into.clone() {
            Some(next) if next != id => id = next,
            _ => break row,
        }
    };
    let traits = person_trait::Entity::find()
        .filter(person_trait::Column::PersonId.eq(&row.id))
        .all(db)
        .await?
        .into_iter()
        .map(|t| {
            let value = serde_json::from_str(&t.value).unwrap_or(TraitValue::Null);
            (t.name, value)
        })
        .collect();
    let consents = person_consent::Entity::find()
        .filter(person_consent::Column::PersonId.eq(&row.id))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.channel, c.granted))
        .collect();
    Ok(Some(PersonRecord {
        id: row.id,
        sticky_key: row.sticky_key,
        traits,
        consents,
    }))
}

/// A person's identifiers (for the people endpoint and cache invalidation).
pub async fn identifiers_of<C: ConnectionTrait>(
    db: &C,
    person_id: &str,
) -> Result<Vec<Identifier>, StorageError> {
    let mut ids: Vec<Identifier> = identifier::Entity::find()
        .filter(identifier::Column::PersonId.eq(person_id))
        .all(db)
        .await?
        .into_iter()
        .map(|r| Identifier {
            kind: r.kind,
            value: r.value,
        })
        .collect();
    ids.sort();
    Ok(ids)
}

/// Merges that involved a person, oldest first.
pub async fn merges_of<C: ConnectionTrait>(
    db: &C,
    person_id: &str,
) -> Result<Vec<identity_merge::Model>, StorageError> {
    Ok(identity_merge::Entity::find()
        .filter(
            identity_merge::Column::SurvivorId
                .eq(person_id)
                .or(identity_merge::Column::MergedId.eq(person_id)),
        )
        .order_by_asc(identity_merge::Column::Id)
        .all(db)
        .await?)
}

/// Recorded conflicts, newest first.
pub async fn conflicts<C: ConnectionTrait>(
    db: &C,
    limit: u64,
) -> Result<Vec<identity_conflict::Model>, StorageError> {
    use sea_orm::QuerySelect;
    Ok(identity_conflict::Entity::find()
        .order_by_desc(identity_conflict::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Links the identifiers, upserts traits and consents. The same call twice changes
/// nothing the second time. A refused merge is recorded before the error returns.
pub async fn identify(
    db: &DatabaseConnection,
    types: &IdentifierTypes,
    command: &IdentifyCommand,
) -> Result<IdentifyOutcome, IdentifyError> {
    let _serial = super::serialise_sqlite_writes(db).await;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let tx = db.begin().await?;
        match identify_in(&tx, types, command).await {
            Ok(Step::Done(outcome)) => {
                tx.commit().await?;
                return Ok(outcome);
            }
            Ok(Step::Raced) if attempt < ATTEMPTS => {
                tx.rollback().await?;
            }
            Ok(Step::Raced) => {
                tx.rollback().await?;
                return Err(IdentifyError::Storage(StorageError::Db(
                    sea_orm::DbErr::Custom("identify kept losing races to merges".into()),
                )));
            }
            Ok(Step::Refused(conflict)) => {
                tx.rollback().await?;
                record_conflict(db, &conflict, command).await?;
                return Err(IdentifyError::Conflict(conflict));
            }
            Err(IdentifyError::Storage(e)) if attempt < ATTEMPTS && is_retryable(&e) => {
                let _ = tx.rollback().await;
                back_off(attempt).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Deadlocks (PostgreSQL picks a victim), serialisation failures and SQLite's busy
/// database are worth a retry. SQLite's: a transaction that read before another writer
/// (the event writer, say) committed cannot become a writer and fails at once, whatever
/// the busy timeout; started again, it reads the newer state and can write.
pub(super) fn is_retryable(e: &StorageError) -> bool {
    let StorageError::Db(db) = e else {
        return false;
    };
    let text = db.to_string();
    text.contains("deadlock")
        || text.contains("40001")
        || text.contains("40P01")
        || text.contains("database is locked")
}

/// The pause before retry `attempt` (1, 2, ...): a few milliseconds, doubling, so the
/// writer that won has time to commit.
pub(super) async fn back_off(attempt: usize) {
    let millis = 1u64 << attempt.min(8);
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

enum Step {
    Done(IdentifyOutcome),
    Raced,
    Refused(Conflict),
}

async fn identify_in(
    tx: &DatabaseTransaction,
    types: &IdentifierTypes,
    command: &IdentifyCommand,
) -> Result<Step, IdentifyError> {
    let now = Utc::now();
    let backend = tx.get_database_backend();
    let mut given: Vec<Identifier> = command.identifiers.clone();
    given.sort();
    given.dedup();

    if backend == DbBackend::Postgres {
        lock_identifiers(tx, &given.iter().collect::<Vec<_>>()).await?;
    }

    let mut owners: Vec<Option<String>> = Vec::with_capacity(given.len());
    for id in &given {
        let row = identifier::Entity::find_by_id((id.kind.clone(), id.value.clone()))
            .one(tx)
            .await?;
        owners.push(row.map(|r| r.person_id));
    }
    let mut owner_ids: Vec<String> = owners.iter().flatten().cloned().collect();
    owner_ids.sort();
    owner_ids.dedup();

    let Some(people) = lock_people(tx, types, &owner_ids).await? else {
        return Ok(Step::Raced);
    };

    let mut outcome = IdentifyOutcome::default();
    let survivor = match graph::plan(&given, &owners, &people, types) {
        Plan::Conflict(conflict) => return Ok(Step::Refused(conflict)),
        Plan::Create { sticky_key } => {
            let id = uuid::Uuid::now_v7().to_string();
            person::Entity::insert(person::ActiveModel {
                id: Set(id.clone()),
                sticky_key: Set(sticky_key),
                created_at: Set(now),
                updated_at: Set(now),
                merged_into: Set(None),
            })
            .exec_without_returning(tx)
            .await?;
            outcome.created = true;
            id
        }
        Plan::Attach { person } => person,
        Plan::Merge { survivor, merged } => {
            merge_people(tx, &survivor, &merged, command, now).await?;
            outcome.merged = merged;
            survivor
        }
    };

    for (id, owner) in given.iter().zip(&owners) {
        if owner.is_none() {
            identifier::Entity::insert(identifier::ActiveModel {
                kind: Set(id.kind.clone()),
                value: Set(id.value.clone()),
                person_id: Set(survivor.clone()),
                created_at: Set(now),
            })
            .exec_without_returning(tx)
            .await?;
            outcome.linked.push(id.clone());
        }
    }
    // The call's links: its first identifier to each of the others.
    if let Some((first, rest)) = given.split_first() {
        for other in rest {
            identity_link::Entity::insert(identity_link::ActiveModel {
                from_kind: Set(first.kind.clone()),
                from_value: Set(first.value.clone()),
                to_kind: Set(other.kind.clone()),
                to_value: Set(other.value.clone()),
                person_id: Set(survivor.clone()),
                actor: Set(command.actor.clone()),
                created_at: Set(now),
            })
            .on_conflict_do_nothing_on([
                identity_link::Column::FromKind,
                identity_link::Column::FromValue,
                identity_link::Column::ToKind,
                identity_link::Column::ToValue,
            ])
            .exec_without_returning(tx)
            .await?;
        }
    }

    outcome.traits_changed = apply_traits(tx, &survivor, &command.traits, now).await?;
    outcome.consents_changed = apply_consents(tx, &survivor, &command.consents, now).await?;
    if outcome.changed() {
        person::Entity::update_many()
            .col_expr(person::Column::UpdatedAt, Expr::value(now))
            .filter(person::Column::Id.eq(survivor.as_str()))
            .exec(tx)
            .await?;
    }
    outcome.identifiers = identifiers_of(tx, &survivor).await?;
    outcome.person_id = survivor;
    Ok(Step::Done(outcome))
}

/// The advisory lock key of an identifier.
pub(super) fn lock_key(i: &Identifier) -> i64 {
    crate::catalog::stable_hash(&[b"identity", i.kind.as_bytes(), i.value.as_bytes()]) as i64
}

/// PostgreSQL advisory locks on identifiers (one call's, or a whole group's), taken in
/// sorted key order (two transactions never deadlock on them), held until the
/// transaction ends. One statement per 500 keys: the sort feeds the aggregate, so the
/// locks are taken in that order.
pub(super) async fn lock_identifiers(
    tx: &DatabaseTransaction,
    given: &[&Identifier],
) -> Result<(), StorageError> {
    let mut keys: Vec<i64> = given.iter().map(|i| lock_key(i)).collect();
    keys.sort_unstable();
    keys.dedup();
    for chunk in keys.chunks(500) {
        // Integers we computed, not input: safe to write into the statement.
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        tx.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT count(pg_advisory_xact_lock(k)) FROM \
                 (SELECT k FROM unnest(ARRAY[{list}]::bigint[]) AS k ORDER BY k) AS sorted"
            ),
        ))
        .await?;
    }
    Ok(())
}

/// The people owning the call's identifiers, their rows locked (`FOR UPDATE` on
/// PostgreSQL); `None` when one was merged away meanwhile (the call starts again).
async fn lock_people(
    tx: &DatabaseTransaction,
    types: &IdentifierTypes,
    owner_ids: &[String],
) -> Result<Option<Vec<KnownPerson>>, IdentifyError> {
    let backend = tx.get_database_backend();
    let mut people: Vec<KnownPerson> = Vec::with_capacity(owner_ids.len());
    for id in owner_ids {
        let mut select = Query::select();
        select
            .columns(["id", "created_at", "merged_into"].map(col))
            .from(col("people"))
            .and_where(Expr::col(col("id")).eq(id.as_str()));
        if backend == DbBackend::Postgres {
            select.lock(LockType::Update);
        }
        let Some(row) = tx.query_one(&select).await? else {
            return Ok(None);
        };
        let merged_into: Option<String> = row.try_get("", "merged_into")?;
        if merged_into.is_some() {
            return Ok(None);
        }
        let created_at: DateTime<Utc> = row.try_get("", "created_at")?;
        let strong = identifier::Entity::find()
            .filter(identifier::Column::PersonId.eq(id.as_str()))
            .all(tx)
            .await?
            .into_iter()
            .filter(|r| types.is_strong(&r.kind))
            .map(|r| Identifier {
                kind: r.kind,
                value: r.value,
            })
            .collect();
        people.push(KnownPerson {
            id: id.clone(),
            created_at,
            strong,
        });
    }
    Ok(Some(people))
}

/// Moves everything of `merged` to `survivor`: identifiers, links, traits (newest
/// wins), consents (a withdrawal wins), and records each merge.
async fn merge_people(
    tx: &DatabaseTransaction,
    survivor: &str,
    merged: &[String],
    command: &IdentifyCommand,
    now: DateTime<Utc>,
) -> Result<(), IdentifyError> {
    let everyone: Vec<&str> = std::iter::once(survivor)
        .chain(merged.iter().map(String::as_str))
        .collect();
    let mut traits: Vec<BTreeMap<String, StoredTrait>> = Vec::new();
    let mut consents: Vec<BTreeMap<String, bool>> = Vec::new();
    for id in &everyone {
        traits.push(
            person_trait::Entity::find()
                .filter(person_trait::Column::PersonId.eq(*id))
                .all(tx)
                .await?
                .into_iter()
                .map(|t| {
                    (
                        t.name,
                        StoredTrait {
                            value: serde_json::from_str(&t.value).unwrap_or(TraitValue::Null),
                            updated_at: t.updated_at,
                        },
                    )
                })
                .collect(),
        );
        consents.push(
            person_consent::Entity::find()
                .filter(person_consent::Column::PersonId.eq(*id))
                .all(tx)
                .await?
                .into_iter()
                .map(|c| (c.channel, c.granted))
                .collect(),
        );
    }
    let merged_traits = graph::merge_traits(&traits);
    let merged_consents = graph::merge_consents(&consents);

    for loser in merged {
        let moved = identifiers_of(tx, loser).await?;
        identifier::Entity::update_many()
            .col_expr(identifier::Column::PersonId, Expr::value(survivor))
            .filter(identifier::Column::PersonId.eq(loser.as_str()))
            .exec(tx)
            .await?;
        identity_link::Entity::update_many()
            .col_expr(identity_link::Column::PersonId, Expr::value(survivor))
            .filter(identity_link::Column::PersonId.eq(loser.as_str()))
            .exec(tx)
            .await?;
        person::Entity::update_many()
            .col_expr(person::Column::MergedInto, Expr::value(survivor))
            .col_expr(person::Column::UpdatedAt, Expr::value(now))
            .filter(person::Column::Id.eq(loser.as_str()))
            .exec(tx)
            .await?;
        // Earlier merges into the loser now lead to the survivor in one step.
        person::Entity::update_many()
            .col_expr(person::Column::MergedInto, Expr::value(survivor))
            .filter(person::Column::MergedInto.eq(loser.as_str()))
            .exec(tx)
            .await?;
        identity_merge::Entity::insert(identity_merge::ActiveModel {
            survivor_id: Set(survivor.to_string()),
            merged_id: Set(loser.clone()),
            identifiers: Set(serde_json::to_string(&serde_json::json!({
                "moved": digests(&moved),
                "linked_by": digests(&command.identifiers),
            }))
            .unwrap_or_default()),
            actor: Set(command.actor.clone()),
            created_at: Set(now),
            ..Default::default()
        })
        .exec_without_returning(tx)
        .await?;
    }

    person_trait::Entity::delete_many()
        .filter(person_trait::Column::PersonId.is_in(everyone.iter().copied()))
        .exec(tx)
        .await?;
    for (name, stored) in merged_traits {
        person_trait::Entity::insert(person_trait::ActiveModel {
            person_id: Set(survivor.to_string()),
            name: Set(name),
            value: Set(stored.value.to_string()),
            updated_at: Set(stored.updated_at),
        })
        .exec_without_returning(tx)
        .await?;
    }
    person_consent::Entity::delete_many()
        .filter(person_consent::Column::PersonId.is_in(everyone.iter().copied()))
        .exec(tx)
        .await?;
    for (channel, granted) in merged_consents {
        person_consent::Entity::insert(person_consent::ActiveModel {
            person_id: Set(survivor.to_string()),
            channel: Set(channel),
            granted: Set(granted),
            source: Set("merge".into()),
            updated_at: Set(now),
        })
        .exec_without_returning(tx)
        .await?;
    }
    Ok(())
}

/// Sets the call's traits; returns the names whose value changed.
async fn apply_traits(
    tx: &DatabaseTransaction,
    person_id: &str,
    traits: &BTreeMap<String, TraitValue>,
    now: DateTime<Utc>,
) -> Result<Vec<String>, IdentifyError> {
    if traits.is_empty() {
        return Ok(Vec::new());
    }
    let current: BTreeMap<String, TraitValue> = person_trait::Entity::find()
        .filter(person_trait::Column::PersonId.eq(person_id))
        .all(tx)
        .await?
        .into_iter()
        .map(|t| {
            let value = serde_json::from_str(&t.value).unwrap_or(TraitValue::Null);
            (t.name, value)
        })
        .collect();
    let mut changed = Vec::new();
    for (name, value) in traits {
        match (current.get(name), value.is_null()) {
            (None, true) => {}
            (Some(_), true) => {
                person_trait::Entity::delete_many()
                    .filter(person_trait::Column::PersonId.eq(person_id))
                    .filter(person_trait::Column::Name.eq(name.as_str()))
                    .exec(tx)
                    .await?;
                changed.push(name.clone());
            }
            (Some(old), false) if old == value => {}
            _ => {
                person_trait::Entity::insert(person_trait::ActiveModel {
                    person_id: Set(person_id.to_string()),
                    name: Set(name.clone()),
                    value: Set(value.to_string()),
                    updated_at: Set(now),
                })
                .on_conflict(
                    OnConflict::columns([
                        person_trait::Column::PersonId,
                        person_trait::Column::Name,
                    ])
                    .update_columns([person_trait::Column::Value, person_trait::Column::UpdatedAt])
                    .to_owned(),
                )
                .exec_without_returning(tx)
                .await?;
                changed.push(name.clone());
            }
        }
    }
    Ok(changed)
}

/// Sets the call's consents; returns the channels whose consent changed.
async fn apply_consents(
    tx: &DatabaseTransaction,
    person_id: &str,
    consents: &BTreeMap<String, bool>,
    now: DateTime<Utc>,
) -> Result<Vec<String>, IdentifyError> {
    let mut changed = Vec::new();
    for (channel, granted) in consents {
        if set_consent(tx, person_id, channel, *granted, "identify", now).await? {
            changed.push(channel.clone());
        }
    }
    Ok(changed)
}

/// Records a person's consent for a channel; `true` when it changed.
pub async fn set_consent<C: ConnectionTrait>(
    db: &C,
    person_id: &str,
    channel: &str,
    granted: bool,
    source: &str,
    now: DateTime<Utc>,
) -> Result<bool, StorageError> {
    let current = person_consent::Entity::find_by_id((person_id.to_string(), channel.to_string()))
        .one(db)
        .await?;
    if current.is_some_and(|c| c.granted == granted) {
        return Ok(false);
    }
    person_consent::Entity::insert(person_consent::ActiveModel {
        person_id: Set(person_id.to_string()),
        channel: Set(channel.to_string()),
        granted: Set(granted),
        source: Set(source.to_string()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            person_consent::Column::PersonId,
            person_consent::Column::Channel,
        ])
        .update_columns([
            person_consent::Column::Granted,
            person_consent::Column::Source,
            person_consent::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(true)
}

/// Identifiers as records keep them: type and digest, never the value.
fn digests(ids: &[Identifier]) -> Vec<serde_json::Value> {
    ids.iter()
        .map(|i| serde_json::json!({"type": i.kind, "digest": i.digest()}))
        .collect()
}

async fn record_conflict(
    db: &DatabaseConnection,
    conflict: &Conflict,
    command: &IdentifyCommand,
) -> Result<(), StorageError> {
    identity_conflict::Entity::insert(identity_conflict::ActiveModel {
        kind: Set(conflict.kind.clone()),
        person_ids: Set(serde_json::to_string(&conflict.people).unwrap_or_default()),
        detail: Set(serde_json::to_string(&serde_json::json!({
            "identifiers": digests(&command.identifiers),
        }))
        .unwrap_or_default()),
        actor: Set(command.actor.clone()),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}
