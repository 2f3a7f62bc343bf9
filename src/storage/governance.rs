//! Governance tables: failure runs per (target, policy), decisions with evidence, the
//! governance state of variants, and the evaluator's lease.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entities::{
    channel, governance_decision, governance_state, governance_status, key_value,
};
use super::StorageError;
use crate::catalog::model::ChannelState;
use crate::governance::approval::{Decision, DecisionStatus};
use crate::governance::policy::Scope;

pub use governance_status::Model as StatusRow;

/// Rows become domain decisions here: the rest of the area never sees a sea-orm model
/// or a status string.
fn into_decision(row: governance_decision::Model) -> Result<Decision, StorageError> {
    let status = DecisionStatus::parse(&row.status).ok_or_else(|| {
        StorageError::Db(sea_orm::DbErr::Custom(format!(
            "decision {} has an unknown status `{}`",
            row.id, row.status
        )))
    })?;
    Ok(Decision {
        id: row.id,
        period: row.period,
        scope: row.scope,
        target: row.target,
        policy: row.policy_id,
        action: row.action,
        status,
        evidence: row.evidence,
        proposed_by: row.proposed_by,
        reviewed_by: row.reviewed_by,
        review_comment: row.review_comment,
        decided_by: row.decided_by,
        decision_comment: row.decision_comment,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

const OPEN: [&str; 2] = ["pending", "reviewed"];

/// Every failure run of every target and policy (what one evaluation plans from).
pub async fn statuses<C: ConnectionTrait>(db: &C) -> Result<Vec<StatusRow>, StorageError> {
    Ok(governance_status::Entity::find().all(db).await?)
}

pub async fn put_status<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    target: &str,
    policy: &str,
    failures: i32,
    period: &str,
    verdict: &str,
) -> Result<(), StorageError> {
    governance_status::Entity::insert(governance_status::ActiveModel {
        scope: Set(scope.to_string()),
        target: Set(target.to_string()),
        policy_id: Set(policy.to_string()),
        failures: Set(failures),
        last_period: Set(period.to_string()),
        last_verdict: Set(verdict.to_string()),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            governance_status::Column::Scope,
            governance_status::Column::Target,
            governance_status::Column::PolicyId,
        ])
        .update_columns([
            governance_status::Column::Failures,
            governance_status::Column::LastPeriod,
            governance_status::Column::LastVerdict,
            governance_status::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Forgets a target's failure runs (after a reinstatement or a rejected proposal).
pub async fn reset_status<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    target: &str,
) -> Result<(), StorageError> {
    governance_status::Entity::update_many()
        .col_expr(
            governance_status::Column::Failures,
            sea_orm::sea_query::Expr::value(0),
        )
        .filter(governance_status::Column::Scope.eq(scope))
        .filter(governance_status::Column::Target.eq(target))
        .exec(db)
        .await?;
    Ok(())
}

pub struct NewDecision<'a> {
    pub period: &'a str,
    pub scope: &'a str,
    pub target: &'a str,
    pub policy: &'a str,
    pub action: &'a str,
    pub status: DecisionStatus,
    pub evidence: String,
    pub actor: &'a str,
    pub comment: Option<String>,
}

pub async fn insert_decision<C: ConnectionTrait>(
    db: &C,
    d: NewDecision<'_>,
) -> Result<i64, StorageError> {
    let now = Utc::now();
    let result = governance_decision::Entity::insert(governance_decision::ActiveModel {
        period: Set(d.period.to_string()),
        scope: Set(d.scope.to_string()),
        target: Set(d.target.to_string()),
        policy_id: Set(d.policy.to_string()),
        action: Set(d.action.to_string()),
        status: Set(d.status.as_str().to_string()),
        evidence: Set(d.evidence),
        proposed_by: Set(d.actor.to_string()),
        decided_by: Set(d.status.decided_on_insert().then(|| d.actor.to_string())),
        decision_comment: Set(d.comment),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(result.last_insert_id)
}

pub async fn decision<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<Decision>, StorageError> {
    governance_decision::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(into_decision)
        .transpose()
}

/// Decisions, newest first, optionally only those with a status.
pub async fn decisions<C: ConnectionTrait>(
    db: &C,
    status: Option<DecisionStatus>,
    limit: u64,
) -> Result<Vec<Decision>, StorageError> {
    let mut query = governance_decision::Entity::find();
    if let Some(status) = status {
        query = query.filter(governance_decision::Column::Status.eq(status.as_str()));
    }
    query
        .order_by_desc(governance_decision::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(into_decision)
        .collect()
}

/// Every target with an open proposal (pending or reviewed): (scope, target).
pub async fn open_proposals<C: ConnectionTrait>(
    db: &C,
) -> Result<std::collections::BTreeSet<(String, String)>, StorageError> {
    Ok(governance_decision::Entity::find()
        .filter(governance_decision::Column::Status.is_in(OPEN))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.scope, row.target))
        .collect())
}

/// Saves a decision's new status and reviewers, only if its status is still
/// `expected` (two reviewers acting at once: one wins, the other is told). `false`
/// when someone else changed it first.
pub async fn update_decision<C: ConnectionTrait>(
    db: &C,
    decision: &Decision,
    expected: DecisionStatus,
) -> Result<bool, StorageError> {
    use sea_orm::sea_query::Expr;
    let result = governance_decision::Entity::update_many()
        .col_expr(
            governance_decision::Column::Status,
            Expr::value(decision.status.as_str()),
        )
        .col_expr(
            governance_decision::Column::ReviewedBy,
            Expr::value(decision.reviewed_by.clone()),
        )
        .col_expr(
            governance_decision::Column::ReviewComment,
            Expr::value(decision.review_comment.clone()),
        )
        .col_expr(
            governance_decision::Column::DecidedBy,
            Expr::value(decision.decided_by.clone()),
        )
        .col_expr(
            governance_decision::Column::DecisionComment,
            Expr::value(decision.decision_comment.clone()),
        )
        .col_expr(
            governance_decision::Column::UpdatedAt,
            Expr::value(Utc::now()),
        )
        .filter(governance_decision::Column::Id.eq(decision.id))
        .filter(governance_decision::Column::Status.eq(expected.as_str()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Closes open proposals for a target that no longer needs them (it recovered, was
/// retired by another policy, or was reinstated).
pub async fn withdraw_proposals<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    target: &str,
) -> Result<(), StorageError> {
    use sea_orm::sea_query::Expr;
    governance_decision::Entity::update_many()
        .col_expr(
            governance_decision::Column::Status,
            Expr::value("withdrawn"),
        )
        .col_expr(
            governance_decision::Column::UpdatedAt,
            Expr::value(Utc::now()),
        )
        .filter(governance_decision::Column::Scope.eq(scope))
        .filter(governance_decision::Column::Target.eq(target))
        .filter(governance_decision::Column::Status.is_in(OPEN))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets a policy's failure runs (its definition changed or it is gone).
pub async fn reset_policy_runs<C: ConnectionTrait>(
    db: &C,
    policy: &str,
) -> Result<(), StorageError> {
    governance_status::Entity::delete_many()
        .filter(governance_status::Column::PolicyId.eq(policy))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets (or with `None` clears) a variant's governance state.
pub async fn set_state<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    target: &str,
    state: Option<&str>,
) -> Result<(), StorageError> {
    match state {
        None => {
            governance_state::Entity::delete_many()
                .filter(governance_state::Column::Scope.eq(scope))
                .filter(governance_state::Column::Target.eq(target))
                .exec(db)
                .await?;
        }
        Some(state) => {
            governance_state::Entity::insert(governance_state::ActiveModel {
                scope: Set(scope.to_string()),
                target: Set(target.to_string()),
                state: Set(state.to_string()),
                updated_at: Set(Utc::now()),
            })
            .on_conflict(
                OnConflict::columns([
                    governance_state::Column::Scope,
                    governance_state::Column::Target,
                ])
                .update_columns([
                    governance_state::Column::State,
                    governance_state::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        }
    }
    Ok(())
}

/// Sets a channel's or variant's governance state and bumps the content generation,
/// inside the caller's transaction (the decision that causes it commits with it).
pub async fn set_target_state<C: ConnectionTrait>(
    db: &C,
    scope: Scope,
    target: &str,
    state: crate::governance::TargetState,
) -> Result<(), StorageError> {
    use crate::governance::TargetState;
    match scope {
        Scope::Channel => {
            let state = match state {
                TargetState::Active => ChannelState::Active,
                TargetState::AtRisk => ChannelState::AtRisk,
                TargetState::Retired => ChannelState::Retired,
            };
            // An unknown channel changes nothing (and bumps nothing).
            let updated = channel::Entity::update_many()
                .col_expr(
                    channel::Column::State,
                    sea_orm::sea_query::Expr::value(state.as_str()),
                )
                .col_expr(
                    channel::Column::UpdatedAt,
                    sea_orm::sea_query::Expr::value(Utc::now()),
                )
                .filter(channel::Column::Id.eq(target))
                .exec(db)
                .await?;
            if updated.rows_affected == 0 {
                return Ok(());
            }
        }
        Scope::Variant => {
            let value = match state {
                TargetState::Active => None,
                TargetState::AtRisk => Some("at_risk"),
                TargetState::Retired => Some("retired"),
            };
            set_state(db, "variant", target, value).await?;
        }
    }
    super::bump_generation(db).await?;
    Ok(())
}

/// Every governance state of a scope: (target, state).
pub async fn states<C: ConnectionTrait>(
    db: &C,
    scope: &str,
) -> Result<Vec<(String, String)>, StorageError> {
    Ok(governance_state::Entity::find()
        .filter(governance_state::Column::Scope.eq(scope))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.target, r.state))
        .collect())
}

const LOCK_KEY: &str = "governance_lock";

/// Takes the evaluator's lease for `ttl` if no other holder has a live one. A
/// compare-and-set on one row: works alike on SQLite and PostgreSQL, across nodes.
pub async fn try_lock(
    db: &DatabaseConnection,
    holder: &str,
    now: DateTime<Utc>,
    ttl: chrono::Duration,
) -> Result<bool, StorageError> {
    try_lock_key(db, LOCK_KEY, holder, now, ttl).await
}

/// [`try_lock`] on the lease named `key` (each scheduled job has its own).
pub async fn try_lock_key(
    db: &DatabaseConnection,
    key: &str,
    holder: &str,
    now: DateTime<Utc>,
    ttl: chrono::Duration,
) -> Result<bool, StorageError> {
    let value = format!("{} {}", (now + ttl).timestamp(), holder);
    let current = key_value::Entity::find_by_id(key.to_string())
        .one(db)
        .await?;
    match current {
        None => {
            let inserted = key_value::Entity::insert(key_value::ActiveModel {
                key: Set(key.to_string()),
                value: Set(value),
            })
            .on_conflict_do_nothing()
            .exec(db)
            .await?;
            Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(_)))
        }
        Some(row) => {
            let expires: i64 = row
                .value
                .split_once(' ')
                .and_then(|(t, _)| t.parse().ok())
                .unwrap_or(0);
            let ours = row.value.split_once(' ').is_some_and(|(_, h)| h == holder);
            if expires > now.timestamp() && !ours {
                return Ok(false);
            }
            let updated = key_value::Entity::update_many()
                .col_expr(
                    key_value::Column::Value,
                    sea_orm::sea_query::Expr::value(value),
                )
                .filter(key_value::Column::Key.eq(key))
                .filter(key_value::Column::Value.eq(row.value))
                .exec(db)
                .await?;
            Ok(updated.rows_affected == 1)
        }
    }
}

pub async fn unlock(db: &DatabaseConnection, holder: &str) -> Result<(), StorageError> {
    unlock_key(db, LOCK_KEY, holder).await
}

/// Releases the lease named `key` if `holder` has it.
pub async fn unlock_key(
    db: &DatabaseConnection,
    key: &str,
    holder: &str,
) -> Result<(), StorageError> {
    key_value::Entity::delete_many()
        .filter(key_value::Column::Key.eq(key))
        .filter(key_value::Column::Value.like(format!("% {holder}")))
        .exec(db)
        .await?;
    Ok(())
}

/// Saves a policy and bumps the generation inside the caller's transaction.
pub async fn put_policy_in<C: ConnectionTrait>(
    tx: &C,
    policy: &crate::governance::policy::PolicyDef,
) -> Result<u64, StorageError> {
    let definition = super::to_json(policy);
    super::entities::governance_policy::Entity::insert(
        super::entities::governance_policy::ActiveModel {
            id: Set(policy.id.clone()),
            content_hash: Set(super::content_hash(&definition)),
            definition: Set(definition),
            updated_at: Set(Utc::now()),
        },
    )
    .on_conflict(
        OnConflict::column(super::entities::governance_policy::Column::Id)
            .update_columns([
                super::entities::governance_policy::Column::Definition,
                super::entities::governance_policy::Column::ContentHash,
                super::entities::governance_policy::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(tx)
    .await?;
    super::bump_generation(tx).await
}

/// The content hash of a stored policy (what a change was proposed against).
pub async fn policy_hash<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<String>, StorageError> {
    Ok(
        super::entities::governance_policy::Entity::find_by_id(id.to_string())
            .one(db)
            .await?
            .map(|row| row.content_hash),
    )
}

/// Saves a policy only if the stored one still has `expected_hash` (`None`: only if
/// there is none), and bumps the generation; `None` when it had changed.
pub async fn put_policy_if<C: ConnectionTrait>(
    tx: &C,
    policy: &crate::governance::policy::PolicyDef,
    expected_hash: Option<&str>,
) -> Result<Option<u64>, StorageError> {
    use super::entities::governance_policy::{ActiveModel, Column, Entity};
    use sea_orm::sea_query::Expr;
    let definition = super::to_json(policy);
    let hash = super::content_hash(&definition);
    let written = match expected_hash {
        Some(expected) => {
            Entity::update_many()
                .col_expr(Column::Definition, Expr::value(definition))
                .col_expr(Column::ContentHash, Expr::value(hash))
                .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(Column::Id.eq(policy.id.clone()))
                .filter(Column::ContentHash.eq(expected))
                .exec(tx)
                .await?
                .rows_affected
        }
        None => {
            Entity::insert(ActiveModel {
                id: Set(policy.id.clone()),
                content_hash: Set(hash),
                definition: Set(definition),
                updated_at: Set(Utc::now()),
            })
            .on_conflict(OnConflict::column(Column::Id).do_nothing().to_owned())
            .exec_without_returning(tx)
            .await?
        }
    };
    if written != 1 {
        return Ok(None);
    }
    Ok(Some(super::bump_generation(tx).await?))
}

/// Automatic retirements the evaluator applied since `since` (the rolling budget of
/// the circuit breaker).
pub async fn automatic_retirements_since<C: ConnectionTrait>(
    db: &C,
    since: DateTime<Utc>,
) -> Result<u64, StorageError> {
    Ok(governance_decision::Entity::find()
        .filter(governance_decision::Column::Action.eq("retire"))
        .filter(governance_decision::Column::Status.eq(DecisionStatus::Applied.as_str()))
        .filter(governance_decision::Column::ProposedBy.eq("evaluator"))
        .filter(governance_decision::Column::CreatedAt.gte(since))
        .count(db)
        .await?)
}

/// Deletes a policy inside the caller's transaction and bumps the generation; `None`
/// when there was none (nothing written).
pub async fn delete_policy_in<C: ConnectionTrait>(
    tx: &C,
    id: &str,
) -> Result<Option<u64>, StorageError> {
    let deleted = super::entities::governance_policy::Entity::delete_by_id(id.to_string())
        .exec(tx)
        .await?;
    if deleted.rows_affected == 0 {
        return Ok(None);
    }
    Ok(Some(super::bump_generation(tx).await?))
}
