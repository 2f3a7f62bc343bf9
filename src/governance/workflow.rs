//! What staff do to governance, as calls on [`Governance`]: save or delete a policy
//! (an escalation becomes a `policy_change` decision), act on a decision (the rules are
//! [`super::approval`]; this applies a step and its consequences), and reinstate. Each
//! call writes its rows in one transaction and tells the nodes after it commits.

use sea_orm::{DatabaseTransaction, TransactionTrait};

use super::approval::{self, ApprovalError, Decision, DecisionStatus, Verb};
use super::policy::{self, PolicyDef, Scope};
use super::{Governance, TargetState};
use crate::problem::{Problem, ProblemType};
use crate::storage::governance::{self as store, NewDecision};
use crate::storage::StorageError;

/// Decisions about policies themselves (scope and action of a pending policy change).
pub const POLICY_SCOPE: &str = "policy";
pub const POLICY_CHANGE: &str = "policy_change";

/// How a policy save ended.
pub enum PolicySaved {
    /// Saved and in force.
    Applied(PolicyDef),
    /// It made automatic action more ready: a pending decision awaits two more people.
    AwaitsApproval(Decision),
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

async fn begin(state: &Governance) -> Result<DatabaseTransaction, StorageError> {
    Ok(state.db.begin().await?)
}

async fn commit(tx: DatabaseTransaction) -> Result<(), StorageError> {
    Ok(tx.commit().await?)
}

fn parse_scope(scope: &str) -> Result<Scope, Problem> {
    match scope {
        "channel" => Ok(Scope::Channel),
        "variant" => Ok(Scope::Variant),
        _ => Err(Problem::invalid("scope", "must be channel or variant")),
    }
}

impl Governance {
    /// Creates or replaces a policy. A change that makes automatic action more ready
    /// (see [`policy::escalations`]) is not applied: it becomes a pending
    /// `policy_change` decision, reviewed and approved like a retirement proposal.
    pub async fn save_policy(
        &self,
        policy: PolicyDef,
        actor: &str,
    ) -> Result<PolicySaved, Problem> {
        let catalog = self.catalog.current().await?;
        let channels = catalog.channel_ids();
        if let Some((field, message)) = policy::check(&policy, &channels).into_iter().next() {
            return Err(Problem::invalid(field, message));
        }
        let previous = catalog.policies.iter().find(|p| p.id == policy.id);
        let escalations = policy::escalations(previous, &policy);
        let tx = begin(self).await?;
        if !escalations.is_empty() {
            // Four eyes: a newer request replaces an older pending one for this policy.
            store::withdraw_proposals(&tx, POLICY_SCOPE, &policy.id).await?;
            // What it replaces, by the stored row's hash: the approval applies the change
            // only over exactly that (compare-and-set in the approving transaction).
            let previous_hash = store::policy_hash(&tx, &policy.id).await?;
            let evidence = serde_json::json!({
                "policy": policy,
                "previous": previous,
                "previous_hash": previous_hash,
                "escalations": escalations,
            });
            let id = store::insert_decision(
                &tx,
                NewDecision {
                    period: &today(),
                    scope: POLICY_SCOPE,
                    target: &policy.id,
                    policy: &policy.id,
                    action: POLICY_CHANGE,
                    status: DecisionStatus::Pending,
                    evidence: evidence.to_string(),
                    actor,
                    comment: None,
                },
            )
            .await?;
            let decision = store::decision(&tx, id).await?.ok_or_else(|| {
                Problem::new(ProblemType::Unavailable, "the decision was not stored")
            })?;
            commit(tx).await?;
            return Ok(PolicySaved::AwaitsApproval(decision));
        }
        let generation = store::put_policy_in(&tx, &policy).await?;
        // A pending change was proposed against what this replaces: it no longer applies.
        store::withdraw_proposals(&tx, POLICY_SCOPE, &policy.id).await?;
        // A changed definition starts its runs again: old failures judged another rule.
        store::reset_policy_runs(&tx, &policy.id).await?;
        commit(tx).await?;
        self.catalog.announce_change(generation).await;
        Ok(PolicySaved::Applied(policy))
    }

    /// Deletes a policy with its failure runs and pending changes.
    pub async fn delete_policy(&self, id: &str) -> Result<(), Problem> {
        let tx = begin(self).await?;
        let generation = store::delete_policy_in(&tx, id).await?.ok_or_else(|| {
            Problem::new(ProblemType::NotFound, "no such policy").with_field("id")
        })?;
        store::reset_policy_runs(&tx, id).await?;
        store::withdraw_proposals(&tx, POLICY_SCOPE, id).await?;
        commit(tx).await?;
        self.catalog.announce_change(generation).await;
        Ok(())
    }

    /// Decisions, newest first (at most 500), optionally only those with a status.
    pub async fn decisions(
        &self,
        status: Option<DecisionStatus>,
    ) -> Result<Vec<Decision>, Problem> {
        Ok(store::decisions(&self.db, status, 500).await?)
    }

    /// `actor` takes `verb` on decision `id`: the step and its consequence (a
    /// retirement, a reset failure count, an applied policy) commit together, and only
    /// if nobody acted on the decision in between.
    pub async fn act(
        &self,
        id: i64,
        verb: Verb,
        actor: &str,
        comment: &str,
    ) -> Result<Decision, Problem> {
        let decision = store::decision(&self.db, id).await?.ok_or_else(|| {
            Problem::new(ProblemType::NotFound, "no such decision").with_field("id")
        })?;
        let step = approval::apply(&decision, verb, actor, comment)?;
        let decision = step.applied_to(decision);
        if decision.scope == POLICY_SCOPE {
            if decision.status == DecisionStatus::Approved {
                self.approve_policy_change(&decision, step.from).await?;
                tracing::info!(%actor, decision = id, "policy change approved and applied");
            } else {
                let tx = begin(self).await?;
                save_step(&tx, &decision, step.from).await?;
                commit(tx).await?;
                tracing::info!(%actor, decision = id, status = %decision.status, "policy change decision");
            }
            return Ok(decision);
        }
        let scope = parse_scope(&decision.scope)?;
        let tx = begin(self).await?;
        save_step(&tx, &decision, step.from).await?;
        match decision.status {
            DecisionStatus::Approved => {
                store::set_target_state(&tx, scope, &decision.target, TargetState::Retired).await?
            }
            // A rejected proposal starts the failure count again.
            DecisionStatus::Rejected => {
                store::reset_status(&tx, &decision.scope, &decision.target).await?
            }
            _ => {}
        }
        commit(tx).await?;
        if decision.status == DecisionStatus::Approved {
            self.announce(scope, &decision.target, "retired on approval")
                .await?;
        }
        tracing::info!(%actor, decision = id, status = %decision.status, "governance decision");
        Ok(decision)
    }

    /// Applies the policy a `policy_change` decision carries and records the approval,
    /// in one transaction — only if the stored policy is still the one the change was
    /// proposed against (compare-and-set on its content hash: a later edit, a
    /// deletion, a file import, or a switch to `propose` made in a hurry is never
    /// undone by approving an older request; such a request is withdrawn).
    async fn approve_policy_change(
        &self,
        decision: &Decision,
        expected: DecisionStatus,
    ) -> Result<(), Problem> {
        let evidence: serde_json::Value =
            serde_json::from_str(&decision.evidence).map_err(|e| Problem::internal(&e))?;
        let policy: PolicyDef = serde_json::from_value(evidence["policy"].clone())
            .map_err(|e| Problem::internal(&e))?;
        let previous_hash = evidence["previous_hash"].as_str();
        let catalog = self.catalog.current().await?;
        if let Some((field, message)) = policy::check(&policy, &catalog.channel_ids())
            .into_iter()
            .next()
        {
            // Channels may have changed since it was proposed.
            return Err(Problem::invalid(field, message));
        }
        let tx = begin(self).await?;
        save_step(&tx, decision, expected).await?;
        let Some(generation) = store::put_policy_if(&tx, &policy, previous_hash).await? else {
            tx.rollback().await.map_err(StorageError::from)?;
            store::withdraw_proposals(&self.db, POLICY_SCOPE, &policy.id).await?;
            return Err(ApprovalError::PolicyChanged.into());
        };
        store::reset_policy_runs(&tx, &policy.id).await?;
        commit(tx).await?;
        self.catalog.announce_change(generation).await;
        Ok(())
    }

    /// Serves a retired (or at-risk) channel or variant again, recorded as a decision:
    /// the state, the reset failure runs, the withdrawn proposals and the decision
    /// commit together.
    pub async fn reinstate(
        &self,
        scope: &str,
        target: &str,
        comment: String,
        actor: &str,
    ) -> Result<Decision, Problem> {
        let scope_kind = parse_scope(scope)?;
        if comment.trim().is_empty() {
            return Err(Problem::invalid("comment", "say why it is reinstated"));
        }
        let catalog = self.catalog.current().await?;
        let known = match scope_kind {
            Scope::Channel => catalog.channel(target).is_some(),
            Scope::Variant => catalog
                .placements
                .iter()
                .any(|p| p.variants.iter().any(|v| *v.id == *target)),
        };
        if !known {
            return Err(
                Problem::new(ProblemType::NotFound, format!("no {scope} `{target}`"))
                    .with_field("target"),
            );
        }
        // Only what governance took out of service comes back this way (a protected or
        // active channel keeps its state).
        let current = match scope_kind {
            // From the database: this node's catalog may not have reloaded yet.
            Scope::Channel => crate::storage::channel_state(&self.db, target)
                .await?
                .unwrap_or_default(),
            Scope::Variant => store::states(&self.db, "variant")
                .await?
                .into_iter()
                .find(|(t, _)| *t == target)
                .map(|(_, s)| s)
                .unwrap_or_else(|| "active".into()),
        };
        if current != "retired" && current != "at_risk" {
            return Err(Problem::new(
                ProblemType::Conflict,
                format!("{scope} `{target}` is {current}, not retired"),
            )
            .with_field("target"));
        }
        let tx = begin(self).await?;
        store::set_target_state(&tx, scope_kind, target, TargetState::Active).await?;
        store::reset_status(&tx, scope, target).await?;
        store::withdraw_proposals(&tx, scope, target).await?;
        let id = store::insert_decision(
            &tx,
            NewDecision {
                period: &today(),
                scope,
                target,
                policy: "",
                action: "reinstate",
                status: DecisionStatus::Applied,
                evidence: serde_json::json!({"reinstated_by": actor}).to_string(),
                actor,
                comment: Some(comment),
            },
        )
        .await?;
        let decision = store::decision(&tx, id)
            .await?
            .ok_or_else(|| Problem::new(ProblemType::NotFound, "decision vanished"))?;
        commit(tx).await?;
        self.announce(scope_kind, target, "reinstated").await?;
        tracing::info!(%actor, %scope, %target, "reinstated");
        Ok(decision)
    }

    /// Tells every node about a state change and purges its surrogate key from CDNs.
    async fn announce(&self, scope: Scope, target: &str, what: &str) -> Result<(), Problem> {
        let generation = crate::storage::generation(&self.db).await?;
        self.catalog.announce_change(generation).await;
        drop(self.purger.purge(
            vec![format!("{}/{target}", scope.as_str())],
            format!("{} {target} {what}", scope.as_str()),
            generation,
        ));
        Ok(())
    }
}

/// Saves a step over the status it was taken from (compare-and-set: of two people
/// acting at once, one wins and the other is told).
async fn save_step(
    tx: &DatabaseTransaction,
    decision: &Decision,
    expected: DecisionStatus,
) -> Result<(), Problem> {
    if !store::update_decision(tx, decision, expected).await? {
        return Err(ApprovalError::Superseded.into());
    }
    Ok(())
}
