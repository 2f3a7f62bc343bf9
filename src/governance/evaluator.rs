//! Runs the policies against the engagement rollups and acts: a first failure marks the
//! target `at_risk`; enough consecutive failing periods retire it (`auto`) or propose
//! its retirement (`propose`). One evaluator acts at a time (a lease in the database),
//! and failures are counted once per period (a UTC day), so running twice in a period
//! on the same data changes nothing the second time.
//!
//! This module owns the I/O of a run: the lease, [`read_input`] (everything a run
//! decides from), and [`apply`] (every write of the run, in one transaction). What is
//! decided is [`super::plan`], which is pure.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde::Serialize;

use super::approval::DecisionStatus;
use super::integrity::{sample_ratio, EvidenceKind, SampleRatio};
use super::plan::{self, Arrivals, EvaluationInput, Plan, Planned, Run};
use super::policy::{Mode, PolicyDef, Scope};
use super::{Finding, Observation, TargetState};
use crate::catalog::model::{AllocationMode, ContentSet};
use crate::storage::events::{sum_arrivals, sum_revenue, sum_rollups, sum_sources, sum_traffic};
use crate::storage::governance::{self as store, NewDecision};
use crate::storage::{self, StorageError};

/// Who the evaluator is in decision records.
pub const EVALUATOR: &str = "evaluator";

/// Limits on automatic action (configuration, not policy).
#[derive(Clone, Copy, Debug)]
pub struct Safeguards {
    /// More automatic retirements than this within 24 hours (those already applied
    /// plus those an evaluation plans): the planned ones become proposals.
    pub max_auto_retirements: u32,
}

impl Default for Safeguards {
    fn default() -> Self {
        Safeguards {
            max_auto_retirements: 3,
        }
    }
}

/// Days of impressions the sample-ratio test reads.
pub const SRM_WINDOW_DAYS: i64 = 7;
/// Days before a policy window that the volume-jump baseline also reads.
pub const JUMP_BASELINE_DAYS: i64 = 14;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ActionTaken {
    pub scope: Scope,
    pub target: String,
    pub policy: String,
    /// `at_risk`, `retire` (auto mode), `propose`, or `held` (an at-risk mark a
    /// safeguard held back).
    pub action: String,
    pub decision_id: Option<i64>,
    /// Why an automatic action became a proposal (or was held): sample-ratio mismatch,
    /// a volume jump, the circuit breaker.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub safeguards: Vec<String>,
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
    /// Every weighted split tested for sample-ratio mismatch, with the result.
    pub sample_ratios: Vec<SampleRatio>,
}

/// One evaluation. `dry_run` judges and reports what would happen, writing nothing.
pub async fn evaluate(
    db: &DatabaseConnection,
    policies: &[PolicyDef],
    safeguards: Safeguards,
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
            sample_ratios: Vec::new(),
        });
    }
    let result = run(db, policies, safeguards, now, dry_run).await;
    if !dry_run {
        if let Err(e) = store::unlock(db, &holder).await {
            tracing::warn!(error = %e, "could not release the evaluator lease; it expires by itself");
        }
    }
    result
}

/// What `policies` would have done each day of `[from, to]` had they been switched on at
/// `from` (see [`super::backtest`]): each day's input read as of its last second, judged
/// by the real planner, nothing written.
pub async fn backtest(
    db: &DatabaseConnection,
    policies: &[PolicyDef],
    safeguards: Safeguards,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<Vec<super::backtest::BacktestDay>, StorageError> {
    let (content, _) = storage::load_content(db).await?;
    let mut replay =
        super::backtest::Replay::new(content.channels.iter().map(|c| (&c.id, &c.state)));
    let mut days = Vec::new();
    let mut day = from;
    while day <= to {
        let now = super::backtest::end_of(day);
        let input = read_input(db, policies, now).await?;
        days.push(replay.day(input, policies, safeguards, now));
        day += chrono::Duration::days(1);
    }
    Ok(days)
}

/// Read, plan, write: the only I/O of a run is [`read_input`] before the plan and
/// [`apply`] after it.
async fn run(
    db: &DatabaseConnection,
    policies: &[PolicyDef],
    safeguards: Safeguards,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<EvaluationReport, StorageError> {
    let input = read_input(db, policies, now).await?;
    let plan = plan::plan(&input, policies, safeguards, now);
    let applied = if dry_run {
        Applied {
            decision_ids: vec![None; plan.actions.len()],
            purge_keys: Vec::new(),
            generation: None,
        }
    } else {
        apply(db, &plan).await?
    };
    let actions = plan
        .actions
        .into_iter()
        .zip(applied.decision_ids)
        .map(|(a, decision_id)| ActionTaken {
            scope: a.scope,
            target: a.target,
            policy: a.policy,
            action: a.action.as_str().into(),
            decision_id,
            safeguards: a.safeguards,
        })
        .collect();
    Ok(EvaluationReport {
        period: plan.period,
        dry_run,
        skipped: None,
        findings: plan.findings,
        actions,
        purge_keys: applied.purge_keys,
        generation: applied.generation,
        sample_ratios: plan.sample_ratios,
    })
}

/// Everything a run decides from: states, every window's engagement, failure runs,
/// open proposals, the circuit breaker's count, the sample-ratio tests, and arrivals
/// for the jump checks of the windows an automatic policy judges.
pub async fn read_input(
    db: &DatabaseConnection,
    policies: &[PolicyDef],
    now: DateTime<Utc>,
) -> Result<EvaluationInput, StorageError> {
    let (content, _) = storage::load_content(db).await?;
    let until = now.date_naive();
    let mut windows = BTreeMap::new();
    let mut arrivals = BTreeMap::new();
    for policy in policies {
        let key = (policy.scope, policy.window_days);
        let window_start = until - chrono::Duration::days(i64::from(policy.window_days) - 1);
        if let Entry::Vacant(slot) = windows.entry(key) {
            slot.insert(observe_window(db, policy.scope, window_start, until).await?);
        }
        // Only an automatic policy retires, and only a retirement checks for jumps.
        if policy.mode == Mode::Auto {
            if let Entry::Vacant(slot) = arrivals.entry(key) {
                let since = window_start - chrono::Duration::days(JUMP_BASELINE_DAYS);
                slot.insert(read_arrivals(db, policy.scope, since, until).await?);
            }
        }
    }
    let runs = store::statuses(db)
        .await?
        .into_iter()
        .map(|s| {
            let run = Run {
                failures: s.failures,
                last_period: s.last_period,
                last_verdict: s.last_verdict,
            };
            ((s.scope, s.target, s.policy_id), run)
        })
        .collect();
    Ok(EvaluationInput {
        channels: content
            .channels
            .iter()
            .map(|c| (c.id.clone(), c.state))
            .collect(),
        variants: store::states(db, "variant").await?.into_iter().collect(),
        placement_of: content
            .placements
            .iter()
            .flat_map(|p| p.variants.iter().map(move |v| (v.id.clone(), p.id.clone())))
            .collect(),
        windows,
        runs,
        open_proposals: store::open_proposals(db).await?,
        recent_automatic_retirements: store::automatic_retirements_since(
            db,
            now - chrono::Duration::hours(24),
        )
        .await?,
        sample_ratios: sample_ratios(db, &content, now).await?,
        arrivals,
    })
}

/// Every target's engagement over `[since, until]`: judged counts, revenue, who
/// produced them, and the bot events left out of them.
async fn observe_window(
    db: &DatabaseConnection,
    scope: Scope,
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> Result<Vec<Observation>, StorageError> {
    let group: &[&str] = match scope {
        Scope::Channel => &["channel"],
        Scope::Variant => &["placement", "variant"],
    };
    let split = |keys: &[String]| match scope {
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
                sources: Default::default(),
                bot_events: 0,
            },
        );
    }
    for (keys, currency, amount) in sum_revenue(db, group, since, until).await? {
        let (target, peer_group) = split(&keys);
        if let Some(o) = by_target.get_mut(&(peer_group, target)) {
            *o.revenue_minor.entry(currency).or_default() += amount;
        }
    }
    for (keys, source, kind, events) in sum_sources(db, group, since, until).await? {
        let (target, peer_group) = split(&keys);
        if let (Some(o), Some(kind)) = (
            by_target.get_mut(&(peer_group, target)),
            EvidenceKind::parse(&kind),
        ) {
            o.sources.add(&source, kind, events);
        }
    }
    for o in by_target.values_mut() {
        o.sources.attribute_rest(&o.counts);
    }
    for (keys, class, events) in sum_traffic(db, group, since, until).await? {
        let (target, peer_group) = split(&keys);
        if let Some(o) = by_target.get_mut(&(peer_group, target)) {
            if class == crate::engagement::TrafficClass::Bot.as_str() {
                o.bot_events += events;
            }
        }
    }
    Ok(by_target.into_values().collect())
}

/// Judged events per target, day of arrival and kind over `[since, until]`. Arrival
/// days, not the days events claim: a flood backdated over weeks still arrives at once.
async fn read_arrivals(
    db: &DatabaseConnection,
    scope: Scope,
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> Result<Arrivals, StorageError> {
    let group: &[&str] = match scope {
        Scope::Channel => &["channel"],
        Scope::Variant => &["variant"],
    };
    let mut arrivals = Arrivals::new();
    for (keys, day, kind, events) in sum_arrivals(db, group, since, until).await? {
        if let Some(kind) = EvidenceKind::parse(&kind) {
            arrivals
                .entry(keys[0].clone())
                .or_default()
                .entry(day)
                .or_default()
                .add("", kind, events);
        }
    }
    Ok(arrivals)
}

/// What writing a plan produced.
struct Applied {
    /// Per planned action, the decision recorded for it (none for a held mark).
    decision_ids: Vec<Option<i64>>,
    /// Surrogate keys of what was retired.
    purge_keys: Vec<String>,
    /// The content generation after the writes, when a state changed.
    generation: Option<u64>,
}

/// Writes every row of one run in one transaction: failure runs, decisions, state
/// changes (each bumping the generation), withdrawn proposals, recoveries. A failure
/// part-way leaves nothing half-done for the next run to count twice.
async fn apply(db: &DatabaseConnection, plan: &Plan) -> Result<Applied, StorageError> {
    let tx = db.begin().await?;
    let period = plan.period.as_str();
    for r in &plan.runs {
        let scope = r.scope.as_str();
        store::put_status(
            &tx, scope, &r.target, &r.policy, r.failures, period, r.verdict,
        )
        .await?;
    }
    let mut decision_ids = Vec::with_capacity(plan.actions.len());
    let mut purge = BTreeSet::new();
    let mut changed = false;
    for action in &plan.actions {
        let scope = action.scope.as_str();
        let (decision_action, status) = match action.action {
            Planned::Held => {
                decision_ids.push(None);
                continue;
            }
            Planned::Retire => ("retire", DecisionStatus::Applied),
            Planned::Propose => ("retire", DecisionStatus::Pending),
            Planned::AtRisk => ("at_risk", DecisionStatus::Recorded),
        };
        let id = store::insert_decision(
            &tx,
            NewDecision {
                period,
                scope,
                target: &action.target,
                policy: &action.policy,
                action: decision_action,
                status,
                evidence: action.evidence.clone(),
                actor: EVALUATOR,
                comment: None,
            },
        )
        .await?;
        decision_ids.push(Some(id));
        match action.action {
            Planned::Retire => {
                store::set_target_state(&tx, action.scope, &action.target, TargetState::Retired)
                    .await?;
                store::withdraw_proposals(&tx, scope, &action.target).await?;
                purge.insert(format!("{scope}/{}", action.target));
                changed = true;
            }
            Planned::AtRisk => {
                store::set_target_state(&tx, action.scope, &action.target, TargetState::AtRisk)
                    .await?;
                changed = true;
            }
            Planned::Propose | Planned::Held => {}
        }
    }
    for (scope, target) in &plan.recoveries {
        store::set_target_state(&tx, *scope, target, TargetState::Active).await?;
        // A proposal for a target that recovered is no longer wanted.
        store::withdraw_proposals(&tx, scope.as_str(), target).await?;
        changed = true;
    }
    tx.commit().await?;
    let generation = if changed {
        Some(storage::generation(db).await?)
    } else {
        None
    };
    Ok(Applied {
        decision_ids,
        purge_keys: purge.into_iter().collect(),
        generation,
    })
}

/// Sample-ratio tests of every weighted split (not adaptive placements): per placement, published variants that
/// compete for the same requests (same priority, rule, channels, devices and schedule)
/// with weights, against their judged impressions of the last [`SRM_WINDOW_DAYS`] —
/// counted from the first day every one of them had impressions, so a variant
/// published mid-week is not a mismatch. A variant with no impression at all while its
/// siblings have many is counted from the window's start (that is a mismatch).
pub async fn sample_ratios(
    db: &DatabaseConnection,
    content: &ContentSet,
    now: DateTime<Utc>,
) -> Result<Vec<SampleRatio>, StorageError> {
    let until = now.date_naive();
    let since = until - chrono::Duration::days(SRM_WINDOW_DAYS - 1);
    let mut groups: BTreeMap<(&str, String), Vec<(&str, u32)>> = BTreeMap::new();
    for (placement, variant) in content.published_variants() {
        // Adaptive placements split by learned shares, not weights: no ratio to test.
        if variant.weight == 0 || placement.allocation == AllocationMode::Adaptive {
            continue;
        }
        let signature = serde_json::json!([
            variant.priority,
            variant.rule,
            variant.channels,
            variant.devices,
            variant.starts_at,
            variant.ends_at
        ])
        .to_string();
        groups
            .entry((placement.id.as_str(), signature))
            .or_default()
            .push((variant.id.as_str(), variant.weight));
    }
    groups.retain(|_, arms| arms.len() >= 2);
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    // (placement, variant) → impressions per day.
    let mut daily: BTreeMap<(String, String), BTreeMap<String, i64>> = BTreeMap::new();
    for sum in sum_rollups(db, &["placement", "variant", "day"], since, until).await? {
        if sum.counts.impressions > 0 {
            daily
                .entry((sum.keys[0].clone(), sum.keys[1].clone()))
                .or_default()
                .insert(sum.keys[2].clone(), sum.counts.impressions);
        }
    }
    let mut results = Vec::new();
    for ((placement, _), arms) in groups {
        let days_of = |variant: &str| daily.get(&(placement.to_string(), variant.to_string()));
        let start = arms
            .iter()
            .map(|(v, _)| {
                days_of(v)
                    .and_then(|d| d.keys().next().cloned())
                    .unwrap_or_else(|| since.to_string())
            })
            .max()
            .unwrap_or_else(|| since.to_string());
        let counted: Vec<(String, u32, u64)> = arms
            .iter()
            .map(|(v, w)| {
                let n: i64 = days_of(v)
                    .map(|d| d.range(start.clone()..).map(|(_, n)| *n).sum())
                    .unwrap_or(0);
                (v.to_string(), *w, n.max(0) as u64)
            })
            .collect();
        if let Some(result) = sample_ratio(placement, &counted) {
            results.push(result);
        }
    }
    Ok(results)
}
