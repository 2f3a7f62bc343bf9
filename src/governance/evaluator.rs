//! Runs the policies against the engagement rollups and acts: a first failure marks the
//! target `at_risk`; enough consecutive failing periods retire it (`auto`) or propose
//! its retirement (`propose`). One evaluator acts at a time (a lease in the database),
//! and failures are counted once per period (a UTC day), so running twice in a period
//! on the same data changes nothing the second time.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;

use super::policy::{Mode, PolicyDef, Scope};
use super::{assess, Finding, Observation, Verdict};
use crate::catalog::model::ChannelState;
use crate::storage::events::{sum_revenue, sum_rollups};
use crate::storage::governance::{self as store, NewDecision};
use crate::storage::{self, StorageError};

/// Who the evaluator is in decision records.
pub const EVALUATOR: &str = "evaluator";

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ActionTaken {
    pub scope: Scope,
    pub target: String,
    pub policy: String,
    /// `at_risk`, `retire` (auto mode) or `propose`.
    pub action: String,
    pub decision_id: Option<i64>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EvaluationReport {
    pub period: String,
    pub dry_run: bool,
    /// Set when another evaluator held the lease: nothing was evaluated.
    pub skipped: Option<String>,
    pub findings: Vec<Finding>,
    pub actions: Vec<ActionTaken>,
    /// Surrogate keys to purge from CDNs (`channel/<id>`, `variant/<id>`).
    pub purge_keys: Vec<String>,
    /// The content generation after the actions (when anything changed).
    pub generation: Option<u64>,
}

/// The channels' and variants' current governance states.
struct States {
    channels: BTreeMap<String, ChannelState>,
    variants: BTreeMap<String, String>,
}

async fn states(db: &DatabaseConnection) -> Result<States, StorageError> {
    let (content, _) = storage::load_content(db).await?;
    Ok(States {
        channels: content
            .channels
            .iter()
            .map(|c| (c.id.clone(), c.state))
            .collect(),
        variants: store::states(db, "variant").await?.into_iter().collect(),
    })
}

impl States {
    fn retired(&self, scope: Scope, target: &str) -> bool {
        match scope {
            Scope::Channel => self.channels.get(target) == Some(&ChannelState::Retired),
            Scope::Variant => self.variants.get(target).is_some_and(|s| s == "retired"),
        }
    }
    fn at_risk(&self, scope: Scope, target: &str) -> bool {
        match scope {
            Scope::Channel => self.channels.get(target) == Some(&ChannelState::AtRisk),
            Scope::Variant => self.variants.get(target).is_some_and(|s| s == "at_risk"),
        }
    }
}

/// The window's engagement per policy, leaving out what is already retired.
async fn observe(
    db: &DatabaseConnection,
    policies: &[PolicyDef],
    states: &States,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, Vec<Observation>>, StorageError> {
    let until = now.date_naive();
    let mut observations = BTreeMap::new();
    for policy in policies {
        let since = until - chrono::Duration::days(i64::from(policy.window_days) - 1);
        let group: &[&str] = match policy.scope {
            Scope::Channel => &["channel"],
            Scope::Variant => &["placement", "variant"],
        };
        let split = |keys: &[String]| match policy.scope {
            Scope::Channel => (keys[0].clone(), String::new()),
            Scope::Variant => (keys[1].clone(), keys[0].clone()),
        };
        let mut by_target: BTreeMap<(String, String), Observation> = BTreeMap::new();
        for sum in sum_rollups(db, group, since, until).await? {
            let (target, peer_group) = split(&sum.keys);
            by_target.insert(
                (peer_group.clone(), target.clone()),
                Observation {
                    target,
                    peer_group,
                    counts: sum.counts,
                    revenue_minor: BTreeMap::new(),
                },
            );
        }
        for (keys, currency, amount) in sum_revenue(db, group, since, until).await? {
            let (target, peer_group) = split(&keys);
            if let Some(o) = by_target.get_mut(&(peer_group, target)) {
                *o.revenue_minor.entry(currency).or_default() += amount;
            }
        }
        let targets: Vec<Observation> = by_target
            .into_values()
            .filter(|o| !states.retired(policy.scope, &o.target))
            .collect();
        observations.insert(policy.id.clone(), targets);
    }
    Ok(observations)
}

/// One evaluation. `dry_run` judges and reports what would happen, writing nothing.
pub async fn evaluate(
    db: &DatabaseConnection,
    policies: &[PolicyDef],
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<EvaluationReport, StorageError> {
    let period = now.date_naive().to_string();
    let holder = uuid::Uuid::new_v4().to_string();
    if !dry_run && !store::try_lock(db, &holder, now, chrono::Duration::minutes(10)).await? {
        return Ok(EvaluationReport {
            period,
            dry_run,
            skipped: Some("another evaluator holds the lease".into()),
            findings: Vec::new(),
            actions: Vec::new(),
            purge_keys: Vec::new(),
            generation: None,
        });
    }
    let result = run(db, policies, now, dry_run, &period).await;
    if !dry_run {
        if let Err(e) = store::unlock(db, &holder).await {
            tracing::warn!(error = %e, "could not release the evaluator lease; it expires by itself");
        }
    }
    result
}

async fn run(
    db: &DatabaseConnection,
    policies: &[PolicyDef],
    now: DateTime<Utc>,
    dry_run: bool,
    period: &str,
) -> Result<EvaluationReport, StorageError> {
    let states = states(db).await?;
    // Channels whose state is `protected` are protected by every channel policy.
    let policies: Vec<PolicyDef> = policies
        .iter()
        .cloned()
        .map(|mut p| {
            if p.scope == Scope::Channel {
                p.protected.extend(
                    states
                        .channels
                        .iter()
                        .filter(|(_, s)| **s == ChannelState::Protected)
                        .map(|(id, _)| id.clone()),
                );
            }
            p
        })
        .collect();
    let policies = policies.as_slice();
    let observations = observe(db, policies, &states, now).await?;
    let findings = assess(policies, &observations);
    let by_id: BTreeMap<&str, &PolicyDef> = policies.iter().map(|p| (p.id.as_str(), p)).collect();

    let mut actions = Vec::new();
    let mut purge = BTreeSet::new();
    let mut changed = false;
    // Targets with a failing finding this evaluation (they stay at risk).
    let failing: BTreeSet<(Scope, &str)> = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .map(|f| (f.scope, f.target.as_str()))
        .collect();
    let yesterday = (now.date_naive() - chrono::Duration::days(1)).to_string();

    // Pass 1: count each (target, policy) run once per period; collect what each
    // failing finding calls for.
    let mut planned: BTreeMap<(Scope, String), (Planned, &Finding, &PolicyDef, i32)> =
        BTreeMap::new();
    for finding in &findings {
        let Some(policy) = by_id.get(finding.policy.as_str()) else {
            continue;
        };
        if finding.verdict == Verdict::Insufficient {
            // Not judged: this period stays open for a later run with more data.
            continue;
        }
        let scope = finding.scope.as_str();
        let status = store::status_of(db, scope, &finding.target, &policy.id).await?;
        if status.as_ref().is_some_and(|s| s.last_period == period) {
            // Already counted in this period: running again changes nothing.
            continue;
        }
        // A run continues only from the day before: a gap (no evaluation, or no
        // judgement) starts it again, which can only make governance slower to act.
        let run = status
            .as_ref()
            .filter(|s| s.last_period == yesterday && s.last_verdict == "fail")
            .map_or(0, |s| s.failures);
        let (failures, verdict) = match finding.verdict {
            Verdict::Fail => (run + 1, "fail"),
            Verdict::Pass => (0, "pass"),
            Verdict::Insufficient => continue,
            Verdict::Protected => (0, "protected"),
        };
        if !dry_run {
            store::put_status(
                db,
                scope,
                &finding.target,
                &policy.id,
                failures,
                period,
                verdict,
            )
            .await?;
        }
        if finding.verdict != Verdict::Fail {
            continue;
        }
        let reached = failures >= policy.consecutive_failures as i32;
        let wanted = match (reached, policy.mode) {
            (true, Mode::Auto) => Planned::Retire,
            (true, Mode::Propose) => Planned::Propose,
            (false, _) if !states.at_risk(finding.scope, &finding.target) => Planned::AtRisk,
            (false, _) => continue,
        };
        let key = (finding.scope, finding.target.clone());
        // The strongest action any policy calls for wins (a guardrail's retirement is
        // not held back by another policy's first failure).
        if planned.get(&key).is_none_or(|(p, ..)| wanted > *p) {
            planned.insert(key, (wanted, finding, policy, failures));
        }
    }

    // Pass 2: act once per target.
    for ((scope_kind, target), (wanted, finding, policy, failures)) in planned {
        let scope = scope_kind.as_str();
        if wanted == Planned::Propose && store::open_proposal(db, scope, &target).await?.is_some() {
            continue;
        }
        let evidence = serde_json::json!({
            "finding": finding,
            "policy": policy,
            "consecutive_failures": failures,
            "period": period,
            "evaluated_at": now.to_rfc3339(),
        })
        .to_string();
        let mut decision_id = None;
        if !dry_run {
            let (decision_action, status) = match wanted {
                Planned::Retire => ("retire", "applied"),
                Planned::Propose => ("retire", "pending"),
                Planned::AtRisk => ("at_risk", "recorded"),
            };
            decision_id = Some(
                store::insert_decision(
                    db,
                    NewDecision {
                        period,
                        scope,
                        target: &target,
                        policy: &policy.id,
                        action: decision_action,
                        status,
                        evidence,
                        actor: EVALUATOR,
                        comment: None,
                    },
                )
                .await?,
            );
            match wanted {
                Planned::Retire => {
                    set_state(db, scope_kind, &target, TargetState::Retired).await?;
                    store::withdraw_proposals(db, scope, &target).await?;
                    purge.insert(format!("{scope}/{target}"));
                    changed = true;
                }
                Planned::AtRisk => {
                    set_state(db, scope_kind, &target, TargetState::AtRisk).await?;
                    changed = true;
                }
                Planned::Propose => {}
            }
        }
        actions.push(ActionTaken {
            scope: scope_kind,
            target,
            policy: policy.id.clone(),
            action: wanted.as_str().into(),
            decision_id,
        });
    }

    // At-risk targets that passed everything this time are active again.
    if !dry_run {
        let judged: BTreeSet<(Scope, &str)> = findings
            .iter()
            .filter(|f| f.verdict == Verdict::Pass)
            .map(|f| (f.scope, f.target.as_str()))
            .collect();
        for (scope, target) in judged.difference(&failing) {
            if states.at_risk(*scope, target) {
                set_state(db, *scope, target, TargetState::Active).await?;
                // A proposal for a target that recovered is no longer wanted.
                store::withdraw_proposals(db, scope.as_str(), target).await?;
                changed = true;
            }
        }
    }
    let generation = if changed {
        Some(storage::generation(db).await?)
    } else {
        None
    };
    Ok(EvaluationReport {
        period: period.to_string(),
        dry_run,
        skipped: None,
        findings,
        actions,
        purge_keys: purge.into_iter().collect(),
        generation,
    })
}

/// What a failing target calls for, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Planned {
    AtRisk,
    Propose,
    Retire,
}

impl Planned {
    fn as_str(self) -> &'static str {
        match self {
            Planned::AtRisk => "at_risk",
            Planned::Propose => "propose",
            Planned::Retire => "retire",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetState {
    Active,
    AtRisk,
    Retired,
}

/// Sets a channel's or variant's governance state and bumps the content generation.
pub async fn set_state(
    db: &DatabaseConnection,
    scope: Scope,
    target: &str,
    state: TargetState,
) -> Result<bool, StorageError> {
    match scope {
        Scope::Channel => {
            let channel_state = match state {
                TargetState::Active => ChannelState::Active,
                TargetState::AtRisk => ChannelState::AtRisk,
                TargetState::Retired => ChannelState::Retired,
            };
            storage::set_channel_state(db, target, channel_state).await
        }
        Scope::Variant => {
            let value = match state {
                TargetState::Active => None,
                TargetState::AtRisk => Some("at_risk"),
                TargetState::Retired => Some("retired"),
            };
            store::set_state(db, "variant", target, value).await?;
            storage::bump_generation(db).await?;
            Ok(true)
        }
    }
}
