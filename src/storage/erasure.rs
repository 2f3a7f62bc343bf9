//! Erasure of a person (`DELETE /v1/people/{id}`) and the privacy audit log it writes:
//! the person's identifiers, traits, consents and links go, their events keep only a
//! pseudonym. Locking follows the identity graph's rules (see [`super::identity`]).

use std::collections::BTreeSet;

use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde::Serialize;

use super::entities::{
    audit_entry, identifier, identity_conflict, identity_link, identity_merge, person,
    person_consent, person_trait,
};
use super::identity::{back_off, identifiers_of, is_retryable, load_record, ATTEMPTS};
use super::StorageError;
use crate::identity::graph::Identifier;

fn col(n: &str) -> Alias {
    Alias::new(n)
}

/// What an erasure removed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ErasureReport {
    pub person_id: String,
    pub identifiers: u64,
    pub traits: u64,
    pub consents: u64,
    pub links: u64,
    pub events_pseudonymised: u64,
    /// The identifiers that were removed (for cache invalidation; never logged).
    #[serde(skip)]
    pub removed: Vec<Identifier>,
    /// Every id the person had (survivor and merged-away), for cache invalidation.
    #[serde(skip)]
    pub people: Vec<String>,
}

/// Removes a person's identifiers, traits, consents and links, replaces their event
/// key by a pseudonym, scrubs identifiers from merge and conflict records, and writes an
/// audit entry. `None` when there is no such person.
pub async fn erase(
    db: &DatabaseConnection,
    person_id: &str,
    actor: &str,
    pseudonym: impl Fn(&str) -> String,
    source_of: impl Fn(&str) -> String,
) -> Result<Option<ErasureReport>, StorageError> {
    let _serial = super::serialise_sqlite_writes(db).await;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let tx = db.begin().await?;
        match erase_in(&tx, person_id, actor, &pseudonym, &source_of).await {
            Ok(report) => {
                tx.commit().await?;
                return Ok(report);
            }
            Err(e) if attempt < ATTEMPTS && is_retryable(&e) => {
                let _ = tx.rollback().await;
                back_off(attempt).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Locks a person's row (`FOR UPDATE` on PostgreSQL), following merges to the
/// survivor: whoever else changes this person's identifiers waits for us, and we for them.
async fn lock_person(
    tx: &DatabaseTransaction,
    person_id: &str,
) -> Result<Option<String>, StorageError> {
    let mut id = person_id.to_string();
    for _ in 0..64 {
        let mut select = Query::select();
        select
            .columns(["id", "merged_into"].map(col))
            .from(col("people"))
            .and_where(Expr::col(col("id")).eq(id.as_str()));
        if tx.get_database_backend() == DbBackend::Postgres {
            select.lock(LockType::Update);
        }
        let Some(row) = tx.query_one(&select).await? else {
            return Ok(None);
        };
        match row.try_get::<Option<String>>("", "merged_into")? {
            Some(next) if next != id => id = next,
            _ => return Ok(Some(id)),
        }
    }
    Ok(None)
}

/// The per-person source counts (`person:<keyed hash of the key>`) move to the new
/// pseudonym, summed: the evidence gates still count one source, and nothing names the
/// old key any more.
async fn move_source_counts(
    tx: &DatabaseTransaction,
    keys: &BTreeSet<String>,
    replacement: &str,
    source_of: &impl Fn(&str) -> String,
) -> Result<(), StorageError> {
    use super::events::{add_on_conflict, KEY_COLUMNS};
    let sources: Vec<String> = keys.iter().map(|key| source_of(key)).collect();
    let mut grouped: Vec<Alias> = KEY_COLUMNS.iter().map(|c| col(c)).collect();
    grouped.push(col("kind"));
    let select = Query::select()
        .columns(KEY_COLUMNS.iter().map(|c| col(c)))
        .expr(Expr::val(replacement))
        .column(col("kind"))
        .expr(Expr::col(col("events")).sum())
        .from(col("source_daily"))
        .and_where(Expr::col(col("source")).is_in(sources.iter().map(String::as_str)))
        .group_by_columns(grouped)
        .to_owned();
    let keys_of_table: Vec<&str> = KEY_COLUMNS
        .iter()
        .copied()
        .chain(["source", "kind"])
        .collect();
    let insert = Query::insert()
        .into_table(col("source_daily"))
        .columns(keys_of_table.iter().copied().chain(["events"]).map(col))
        .select_from(select)
        .map_err(|e| StorageError::Db(sea_orm::DbErr::Custom(e.to_string())))?
        .on_conflict(add_on_conflict("source_daily", &keys_of_table, &["events"]))
        .to_owned();
    tx.execute(&insert).await?;
    let delete = Query::delete()
        .from_table(col("source_daily"))
        .and_where(Expr::col(col("source")).is_in(sources.iter().map(String::as_str)))
        .to_owned();
    tx.execute(&delete).await?;
    Ok(())
}

async fn erase_in(
    tx: &DatabaseTransaction,
    person_id: &str,
    actor: &str,
    pseudonym: &impl Fn(&str) -> String,
    source_of: &impl Fn(&str) -> String,
) -> Result<Option<ErasureReport>, StorageError> {
    let Some(root) = lock_person(tx, person_id).await? else {
        return Ok(None);
    };
    let Some(record) = load_record(tx, &root).await? else {
        return Ok(None);
    };
    // The person and everyone merged into them (tombstones nobody else writes).
    let mut people: BTreeSet<String> = BTreeSet::from([root.clone()]);
    for row in person::Entity::find()
        .filter(person::Column::MergedInto.eq(root.as_str()))
        .all(tx)
        .await?
    {
        people.insert(row.id);
    }
    let ids: Vec<&str> = people.iter().map(String::as_str).collect();
    let removed = identifiers_of(tx, &root).await?;
    let mut report = ErasureReport {
        person_id: root.clone(),
        removed: removed.clone(),
        people: people.iter().cloned().collect(),
        ..ErasureReport::default()
    };
    report.identifiers = identifier::Entity::delete_many()
        .filter(identifier::Column::PersonId.is_in(ids.iter().copied()))
        .exec(tx)
        .await?
        .rows_affected;
    report.traits = person_trait::Entity::delete_many()
        .filter(person_trait::Column::PersonId.is_in(ids.iter().copied()))
        .exec(tx)
        .await?
        .rows_affected;
    report.consents = person_consent::Entity::delete_many()
        .filter(person_consent::Column::PersonId.is_in(ids.iter().copied()))
        .exec(tx)
        .await?
        .rows_affected;
    report.links = identity_link::Entity::delete_many()
        .filter(identity_link::Column::PersonId.is_in(ids.iter().copied()))
        .exec(tx)
        .await?
        .rows_affected;

    // Events are keyed by the sticky key, or by an identifier's own key when they were
    // logged before the identifier joined the person.
    let mut keys: BTreeSet<String> = removed.iter().map(Identifier::sticky_key).collect();
    // Events logged before keys were keyed carry the old, unkeyed form.
    keys.extend(removed.iter().filter_map(Identifier::legacy_sticky_key));
    keys.insert(record.sticky_key.clone());
    for row in person::Entity::find()
        .filter(person::Column::Id.is_in(ids.iter().copied()))
        .all(tx)
        .await?
    {
        keys.insert(row.sticky_key);
    }
    // A fresh pseudonym: nothing that survives (the person id in an audit entry, a
    // customer id someone still knows) leads to it. Free-text comments are the person's
    // own words, and a per-person source name was derived from the old key: both go.
    let replacement = pseudonym(&root);
    let of_the_person = || Expr::col(col("person_key")).is_in(keys.iter().map(String::as_str));
    let sources = Query::update()
        .table(col("events"))
        .value(col("source"), replacement.as_str())
        .and_where(of_the_person())
        .and_where(Expr::col(col("source")).like("person:%"))
        .to_owned();
    tx.execute(&sources).await?;
    let update = Query::update()
        .table(col("events"))
        .value(col("person_key"), replacement.as_str())
        .value(col("comment"), sea_orm::Value::String(None))
        .and_where(of_the_person())
        .to_owned();
    report.events_pseudonymised = tx.execute(&update).await?.rows_affected();
    move_source_counts(tx, &keys, &replacement, source_of).await?;
    // First impressions only serve velocity of later outcomes, which an erased person
    // no longer has; two of them could also collide under one pseudonym.
    let delete = Query::delete()
        .from_table(col("first_impressions"))
        .and_where(Expr::col(col("person_key")).is_in(keys.iter().map(String::as_str)))
        .to_owned();
    tx.execute(&delete).await?;
    for id in &ids {
        identity_merge::Entity::update_many()
            .col_expr(
                identity_merge::Column::Identifiers,
                Expr::value("{\"erased\":true}"),
            )
            .filter(
                identity_merge::Column::SurvivorId
                    .eq(*id)
                    .or(identity_merge::Column::MergedId.eq(*id)),
            )
            .exec(tx)
            .await?;
        identity_conflict::Entity::update_many()
            .col_expr(
                identity_conflict::Column::Detail,
                Expr::value("{\"erased\":true}"),
            )
            .filter(identity_conflict::Column::PersonIds.contains(*id))
            .exec(tx)
            .await?;
    }
    person::Entity::delete_many()
        .filter(person::Column::Id.is_in(ids.iter().copied()))
        .exec(tx)
        .await?;
    audit_entry::Entity::insert(audit_entry::ActiveModel {
        actor: Set(actor.to_string()),
        action: Set("person.erase".into()),
        target: Set(root.clone()),
        detail: Set(serde_json::to_string(&report).unwrap_or_default()),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec_without_returning(tx)
    .await?;
    Ok(Some(report))
}

/// The audit log for a target, oldest first.
pub async fn audit_of<C: ConnectionTrait>(
    db: &C,
    target: &str,
) -> Result<Vec<audit_entry::Model>, StorageError> {
    Ok(audit_entry::Entity::find()
        .filter(audit_entry::Column::Target.eq(target))
        .order_by_asc(audit_entry::Column::Id)
        .all(db)
        .await?)
}
