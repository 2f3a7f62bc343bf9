//! Identify calls written together (group commit): one transaction and a fixed number
//! of set-wise statements for a whole group, instead of a dozen round trips per call.
//!
//! Same locking as a call on its own ([`super::identity`]): the group's identifiers
//! (advisory locks, sorted) and then its people's rows (`FOR UPDATE`, sorted), so a
//! group and single calls never wait on each other in a cycle. What the calls do is
//! planned by [`crate::identity::batch`]; calls it leaves alone (merges, conflicts,
//! people merged meanwhile, and calls related to those) run afterwards through
//! [`super::identity::identify`], one by one, in arrival order.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockType, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, TransactionTrait,
};

use super::identity::{
    back_off, identify, is_retryable, lock_identifiers, IdentifyError, IdentifyOutcome, ATTEMPTS,
};
use super::StorageError;
use crate::identity::batch::{plan_group, Planned, Snapshot, StoredPerson, Writes};
use crate::identity::graph::{Identifier, IdentifierTypes, TraitValue};
use crate::identity::model::IdentifyCommand;

/// Rows per statement: each row's values are a few hundred bytes at most, so a
/// statement stays within [`super::STATEMENT_BYTES`].
const ROWS: usize = 40;

fn col(n: &str) -> sea_orm::sea_query::Alias {
    sea_orm::sea_query::Alias::new(n)
}

/// Runs `commands` as one group; per command, what a call on its own would answer.
pub async fn identify_group(
    db: &DatabaseConnection,
    types: &IdentifierTypes,
    commands: &[&IdentifyCommand],
) -> Vec<Result<IdentifyOutcome, IdentifyError>> {
    let planned = {
        let _serial = super::serialise_sqlite_writes(db).await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match write_group(db, types, commands).await {
                Ok(planned) => break Ok(planned),
                Err(e) if attempt < ATTEMPTS && is_retryable(&e) => back_off(attempt).await,
                Err(e) => break Err(e),
            }
        }
    };
    let planned = match planned {
        Ok(planned) => planned,
        // The database is away: every call would only wait to fail the same way.
        Err(e) if e.is_outage() => {
            let message = e.to_string();
            return commands
                .iter()
                .map(|_| {
                    Err(IdentifyError::Storage(StorageError::Unavailable(
                        message.clone(),
                    )))
                })
                .collect();
        }
        // Anything else: one call must not fail its neighbours; each runs alone.
        Err(e) => {
            tracing::warn!(error = %e, calls = commands.len(), "identify group failed; running its calls one by one");
            vec![Planned::Alone; commands.len()]
        }
    };
    let mut answers = Vec::with_capacity(commands.len());
    for (command, planned) in commands.iter().zip(planned) {
        answers.push(match planned {
            Planned::Done(outcome) => Ok(outcome),
            Planned::Alone => identify(db, types, command).await,
        });
    }
    answers
}

/// One attempt: locks, reads, plans and writes the group in one transaction.
async fn write_group(
    db: &DatabaseConnection,
    types: &IdentifierTypes,
    commands: &[&IdentifyCommand],
) -> Result<Vec<Planned>, StorageError> {
    let now = Utc::now();
    let tx = db.begin().await?;
    let mut given: Vec<&Identifier> = commands.iter().flat_map(|c| &c.identifiers).collect();
    given.sort();
    given.dedup();
    let postgres = tx.get_database_backend() == DbBackend::Postgres;
    if postgres {
        lock_identifiers(&tx, &given).await?;
    }
    let snapshot = read_snapshot(&tx, &given, postgres).await?;
    let (planned, writes) = plan_group(commands, snapshot, types, now, || {
        uuid::Uuid::now_v7().to_string()
    });
    if !writes.is_empty() {
        write(&tx, &writes, now).await?;
    }
    tx.commit().await?;
    Ok(planned)
}

/// Who the identifiers belong to, and those people (rows locked, in id order) with
/// all their identifiers, traits and consents.
async fn read_snapshot(
    tx: &DatabaseTransaction,
    given: &[&Identifier],
    postgres: bool,
) -> Result<Snapshot, StorageError> {
    let mut snapshot = Snapshot::default();
    for chunk in given.chunks(ROWS) {
        let select = Query::select()
            .columns(["kind", "value", "person_id"].map(col))
            .from(col("identifiers"))
            .and_where(
                Expr::tuple([Expr::col(col("kind")), Expr::col(col("value"))])
                    .in_tuples(chunk.iter().map(|i| (i.kind.clone(), i.value.clone()))),
            )
            .to_owned();
        for row in tx.query_all(&select).await? {
            snapshot.owners.insert(
                Identifier {
                    kind: row.try_get("", "kind")?,
                    value: row.try_get("", "value")?,
                },
                row.try_get("", "person_id")?,
            );
        }
    }
    let people: BTreeSet<&String> = snapshot.owners.values().collect();
    let people: Vec<String> = people.into_iter().cloned().collect();
    let mut found: HashMap<String, StoredPerson> = HashMap::new();
    for chunk in people.chunks(ROWS) {
        let mut select = Query::select();
        select
            .columns(["id", "created_at", "merged_into"].map(col))
            .from(col("people"))
            .and_where(Expr::col(col("id")).is_in(chunk.iter().cloned()))
            .order_by(col("id"), sea_orm::sea_query::Order::Asc);
        if postgres {
            select.lock(LockType::Update);
        }
        for row in tx.query_all(&select).await? {
            let merged_into: Option<String> = row.try_get("", "merged_into")?;
            found.insert(
                row.try_get("", "id")?,
                StoredPerson {
                    created_at: row.try_get::<DateTime<Utc>>("", "created_at")?,
                    merged: merged_into.is_some(),
                    ..StoredPerson::default()
                },
            );
        }
        let of_people = |table: &str, columns: [&str; 3]| {
            Query::select()
                .columns(columns.map(col))
                .from(col(table))
                .and_where(Expr::col(col("person_id")).is_in(chunk.iter().cloned()))
                .to_owned()
        };
        for row in tx
            .query_all(&of_people("identifiers", ["person_id", "kind", "value"]))
            .await?
        {
            let person: String = row.try_get("", "person_id")?;
            if let Some(p) = found.get_mut(&person) {
                p.identifiers.insert(Identifier {
                    kind: row.try_get("", "kind")?,
                    value: row.try_get("", "value")?,
                });
            }
        }
        for row in tx
            .query_all(&of_people("person_traits", ["person_id", "name", "value"]))
            .await?
        {
            let person: String = row.try_get("", "person_id")?;
            if let Some(p) = found.get_mut(&person) {
                let value: String = row.try_get("", "value")?;
                p.traits.insert(
                    row.try_get("", "name")?,
                    serde_json::from_str(&value).unwrap_or(TraitValue::Null),
                );
            }
        }
        for row in tx
            .query_all(&of_people(
                "person_consents",
                ["person_id", "channel", "granted"],
            ))
            .await?
        {
            let person: String = row.try_get("", "person_id")?;
            if let Some(p) = found.get_mut(&person) {
                p.consents
                    .insert(row.try_get("", "channel")?, row.try_get("", "granted")?);
            }
        }
    }
    snapshot.people = found;
    Ok(snapshot)
}

/// Writes the group's rows, a table at a time.
async fn write(
    tx: &DatabaseTransaction,
    writes: &Writes,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    for chunk in writes.people.chunks(ROWS) {
        let mut insert = Query::insert();
        insert.into_table(col("people")).columns(
            [
                "id",
                "sticky_key",
                "created_at",
                "updated_at",
                "merged_into",
            ]
            .map(col),
        );
        for p in chunk {
            insert.values_panic([
                p.id.clone().into(),
                p.sticky_key.clone().into(),
                now.into(),
                now.into(),
                Option::<String>::None.into(),
            ]);
        }
        tx.execute(&insert).await?;
    }
    for chunk in writes.identifiers.chunks(ROWS) {
        let mut insert = Query::insert();
        insert
            .into_table(col("identifiers"))
            .columns(["kind", "value", "person_id", "created_at"].map(col));
        for (id, person) in chunk {
            insert.values_panic([
                id.kind.clone().into(),
                id.value.clone().into(),
                person.clone().into(),
                now.into(),
            ]);
        }
        tx.execute(&insert).await?;
    }
    for chunk in writes.links.chunks(ROWS) {
        let mut insert = Query::insert();
        insert.into_table(col("identity_links")).columns(
            [
                "from_kind",
                "from_value",
                "to_kind",
                "to_value",
                "person_id",
                "actor",
                "created_at",
            ]
            .map(col),
        );
        for link in chunk {
            insert.values_panic([
                link.from.kind.clone().into(),
                link.from.value.clone().into(),
                link.to.kind.clone().into(),
                link.to.value.clone().into(),
                link.person_id.clone().into(),
                link.actor.clone().into(),
                now.into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns(["from_kind", "from_value", "to_kind", "to_value"].map(col))
                .do_nothing()
                .to_owned(),
        );
        tx.execute(&insert).await?;
    }
    let (set, removed): (Vec<_>, Vec<_>) =
        writes.traits.iter().partition(|(_, value)| value.is_some());
    for chunk in set.chunks(ROWS) {
        let mut insert = Query::insert();
        insert
            .into_table(col("person_traits"))
            .columns(["person_id", "name", "value", "updated_at"].map(col));
        for ((person, name), value) in chunk {
            let value = value
                .as_ref()
                .map(TraitValue::to_string)
                .unwrap_or_default();
            insert.values_panic([
                person.clone().into(),
                name.clone().into(),
                value.into(),
                now.into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns(["person_id", "name"].map(col))
                .update_columns(["value", "updated_at"].map(col))
                .to_owned(),
        );
        tx.execute(&insert).await?;
    }
    for chunk in removed.chunks(ROWS) {
        let delete = Query::delete()
            .from_table(col("person_traits"))
            .and_where(
                Expr::tuple([Expr::col(col("person_id")), Expr::col(col("name"))]).in_tuples(
                    chunk
                        .iter()
                        .map(|((person, name), _)| (person.clone(), name.clone())),
                ),
            )
            .to_owned();
        tx.execute(&delete).await?;
    }
    let consents: Vec<_> = writes.consents.iter().collect();
    for chunk in consents.chunks(ROWS) {
        let mut insert = Query::insert();
        insert
            .into_table(col("person_consents"))
            .columns(["person_id", "channel", "granted", "source", "updated_at"].map(col));
        for ((person, channel), granted) in chunk {
            insert.values_panic([
                person.clone().into(),
                channel.clone().into(),
                (**granted).into(),
                "identify".into(),
                now.into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns(["person_id", "channel"].map(col))
                .update_columns(["granted", "source", "updated_at"].map(col))
                .to_owned(),
        );
        tx.execute(&insert).await?;
    }
    let touched: Vec<&String> = writes.touched.iter().collect();
    for chunk in touched.chunks(ROWS) {
        let update = Query::update()
            .table(col("people"))
            .value(col("updated_at"), SimpleExpr::from(now))
            .and_where(Expr::col(col("id")).is_in(chunk.iter().map(|s| (*s).clone())))
            .to_owned();
        tx.execute(&update).await?;
    }
    Ok(())
}
