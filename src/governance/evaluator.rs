//! Runs the policies against the engagement rollups and acts: a first failure marks the
//! target `at_risk`; enough consecutive failing periods retire it (`auto`) or propose
//! its retirement (`propose`). One evaluator acts at a time (a lease in the database),
//! and failures are counted once per period (a UTC day), so running twice in a period
//! on the same data changes nothing the second time.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;

use super::integrity::{
    sample_ratio, sides, volume_jump, EvidenceKind, SampleRatio, SourceEvidence, VolumeJump,
};
use super::policy::{Mode, PolicyDef, Scope};
use super::{assess, Finding, Observation, Verdict};
use crate::catalog::model::{ChannelState, ContentSet};
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

/// The channels' and variants' current governance states.
struct States {
    channels: BTreeMap<String, ChannelState>,
    variants: BTreeMap<String, String>,
    content: ContentSet,
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
        content,
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

/// The window's engagement per policy, leaving out what is already retired. Policies
/// with the same scope and window share one read of the rollups.
async fn observe(
    db: &DatabaseConnection,
    policies: &[PolicyDef],
    states: &States,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, Vec<Observation>>, StorageError> {
    let until = now.date_naive();
    let mut read: BTreeMap<(Scope, u32), Vec<Observation>> = BTreeMap::new();
    let mut observations = BTreeMap::new();
    for policy in policies {
        let key = (policy.scope, policy.window_days);
        if let std::collections::btree_map::Entry::Vacant(slot) = read.entry(key) {
            let since = until - chrono::Duration::days(i64::from(policy.window_days) - 1);
            slot.insert(observe_window(db, policy.scope, since, until).await?);
        }
        let targets: Vec<Observation> = read[&key]
            .iter()
            .filter(|o| !states.retired(policy.scope, &o.target))
            .cloned()
            .collect();
        observations.insert(policy.id.clone(), targets);
    }
    Ok(observations)
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
    let result = run(db, policies, safeguards, now, dry_run, &period).await;
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
    safeguards: Safeguards,
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
        if matches!(finding.verdict, Verdict::Insufficient | Verdict::Unreliable) {
            // Not judged (too little data, or evidence too concentrated to trust): this
            // period stays open for a later run, and no failure is counted.
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
            // Not judged: no failure counted, the period stays open.
            Verdict::Insufficient | Verdict::Unreliable => continue,
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

    // Safeguards: automatic action needs sound data. A placement whose weighted split
    // mismatches its weights, a target whose volume jumped, or more retirements than
    // the circuit breaker allows turn retirements into proposals (and hold at-risk
    // marks in a mismatched placement), with the reason kept as evidence.
    let sample_ratios = sample_ratios(db, &states.content, now).await?;
    let mismatched: BTreeMap<&str, &SampleRatio> = sample_ratios
        .iter()
        .filter(|r| r.mismatch)
        .map(|r| (r.placement.as_str(), r))
        .collect();
    let placement_of: BTreeMap<&str, &str> = states
        .content
        .placements
        .iter()
        .flat_map(|p| {
            p.variants
                .iter()
                .map(move |v| (v.id.as_str(), p.id.as_str()))
        })
        .collect();
    let mut safeguarded: BTreeMap<(Scope, String), (Vec<String>, serde_json::Value)> =
        BTreeMap::new();
    let mut jumps = Jumps::default();
    for ((scope_kind, target), (wanted, judged, policy, _)) in planned.iter_mut() {
        let mut reasons = Vec::new();
        let mut details = serde_json::Map::new();
        if *scope_kind == Scope::Variant {
            if let Some(srm) = placement_of
                .get(target.as_str())
                .and_then(|p| mismatched.get(p))
            {
                reasons.push(format!(
                    "sample-ratio mismatch in {}: impressions do not follow the weights (chi-square {:.1}, p = {:.2e} < {})",
                    srm.placement, srm.chi_square, srm.p_value, srm.significance
                ));
                details.insert("sample_ratio".into(), serde_json::json!(srm));
            }
        }
        if *wanted == Planned::Retire {
            // The events that push this target toward failure, by the day they arrived.
            let (worse, better) = sides(policy.metric);
            if let Some(jump) = jumps
                .of(db, *scope_kind, target, worse, policy, now)
                .await?
            {
                reasons.push(format!(
                    "the events against it jumped: {} arrived on {}, more than {}× the median day ({:.0})",
                    jump.busiest_volume, jump.busiest_day, jump.multiple, jump.median_volume
                ));
                details.insert("volume_jump".into(), serde_json::json!(jump));
            }
            // A relative threshold is only as sound as the peers that set it: the events
            // that make a peer look better must not have jumped either.
            if let super::policy::Threshold::Relative { relative_to, .. } = policy.threshold {
                let same_group = |other: &str| match scope_kind {
                    Scope::Channel => true,
                    Scope::Variant => placement_of.get(other) == placement_of.get(target.as_str()),
                };
                let peers: Vec<&Finding> = findings
                    .iter()
                    .filter(|f| {
                        f.policy == policy.id
                            && f.target != *target
                            && same_group(&f.target)
                            && f.n >= policy.min_sample
                            && !judged.evidence.excluded_peers.contains(&f.target)
                    })
                    .collect();
                let mut peer_jumps = serde_json::Map::new();
                for peer in bar_setters(&peers, relative_to, policy.metric.direction()) {
                    let peer = peer.to_string();
                    if let Some(jump) = jumps
                        .of(db, *scope_kind, &peer, better, policy, now)
                        .await?
                    {
                        reasons.push(format!(
                            "a peer setting its threshold jumped: {peer} had {} events in its favour arrive on {}, more than {}× its median day ({:.0})",
                            jump.busiest_volume, jump.busiest_day, jump.multiple, jump.median_volume
                        ));
                        peer_jumps.insert(peer, serde_json::json!(jump));
                    }
                }
                if !peer_jumps.is_empty() {
                    details.insert(
                        "peer_volume_jumps".into(),
                        serde_json::Value::Object(peer_jumps),
                    );
                }
            }
        }
        if !reasons.is_empty() {
            *wanted = match *wanted {
                Planned::Retire => Planned::Propose,
                Planned::AtRisk if details.contains_key("sample_ratio") => Planned::Held,
                other => other,
            };
            safeguarded.insert(
                (*scope_kind, target.clone()),
                (reasons, serde_json::Value::Object(details)),
            );
        }
    }
    // The budget is per rolling day, not per run: evaluations run hourly and on demand.
    let planned_now = planned
        .values()
        .filter(|(w, ..)| *w == Planned::Retire)
        .count();
    let earlier =
        store::automatic_retirements_since(db, now - chrono::Duration::hours(24)).await? as usize;
    let retirements = planned_now + earlier;
    if planned_now > 0 && retirements > safeguards.max_auto_retirements as usize {
        let reason = format!(
            "circuit breaker: {retirements} automatic retirements within 24 hours ({earlier} already applied), more than governance_max_auto_retirements ({})",
            safeguards.max_auto_retirements
        );
        for ((scope_kind, target), (wanted, ..)) in planned.iter_mut() {
            if *wanted == Planned::Retire {
                *wanted = Planned::Propose;
                let entry = safeguarded
                    .entry((*scope_kind, target.clone()))
                    .or_insert_with(|| (Vec::new(), serde_json::json!({})));
                entry.0.push(reason.clone());
                entry.1["circuit_breaker"] = serde_json::json!({
                    "automatic_retirements": retirements,
                    "already_applied_within_24h": earlier,
                    "max_auto_retirements": safeguards.max_auto_retirements,
                });
            }
        }
    }

    // Pass 2: act once per target.
    for ((scope_kind, target), (wanted, finding, policy, failures)) in planned {
        let scope = scope_kind.as_str();
        let (held_because, safeguard_evidence) = safeguarded
            .remove(&(scope_kind, target.clone()))
            .unwrap_or_default();
        if wanted == Planned::Held {
            actions.push(ActionTaken {
                scope: scope_kind,
                target,
                policy: policy.id.clone(),
                action: wanted.as_str().into(),
                decision_id: None,
                safeguards: held_because,
            });
            continue;
        }
        // A proposal a person is reading is not overtaken by automation: once a safeguard
        // made it a proposal, it stays one until decided.
        if matches!(wanted, Planned::Propose | Planned::Retire)
            && store::open_proposal(db, scope, &target).await?.is_some()
        {
            continue;
        }
        let evidence = serde_json::json!({
            "finding": finding,
            "policy": policy,
            "consecutive_failures": failures,
            "period": period,
            "evaluated_at": now.to_rfc3339(),
            "safeguards": held_because,
            "safeguard_evidence": safeguard_evidence,
        })
        .to_string();
        let mut decision_id = None;
        if !dry_run {
            let (decision_action, status) = match wanted {
                Planned::Retire => ("retire", "applied"),
                Planned::Propose => ("retire", "pending"),
                Planned::AtRisk | Planned::Held => ("at_risk", "recorded"),
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
                Planned::Propose | Planned::Held => {}
            }
        }
        actions.push(ActionTaken {
            scope: scope_kind,
            target,
            policy: policy.id.clone(),
            action: wanted.as_str().into(),
            decision_id,
            safeguards: held_because,
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
        sample_ratios,
    })
}

/// Sample-ratio tests of every weighted split: per placement, published variants that
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
        if variant.weight == 0 {
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

/// The peers whose values set a relative threshold: the best one, or those at or on
/// the better side of the median (they hold it where it is).
fn bar_setters<'f>(
    peers: &[&'f Finding],
    relative_to: super::policy::Peer,
    direction: super::stats::Direction,
) -> Vec<&'f str> {
    use super::policy::Peer;
    use super::stats::Direction;
    // Ordered from the most to the least favourable value.
    let mut ordered: Vec<&Finding> = peers.to_vec();
    ordered.sort_by(|a, b| match direction {
        Direction::HigherIsBetter => b.value.total_cmp(&a.value),
        Direction::LowerIsBetter => a.value.total_cmp(&b.value),
    });
    match relative_to {
        Peer::Best => ordered
            .first()
            .map(|f| f.target.as_str())
            .into_iter()
            .collect(),
        Peer::Median => {
            let values: Vec<f64> = ordered.iter().map(|f| f.value).collect();
            let Some(median) = super::stats::median(&values) else {
                return Vec::new();
            };
            ordered
                .iter()
                .filter(|f| match direction {
                    Direction::HigherIsBetter => f.value >= median,
                    Direction::LowerIsBetter => f.value <= median,
                })
                .map(|f| f.target.as_str())
                .collect()
        }
    }
}

/// Judged events per target, day of arrival and kind, read once per (scope, window)
/// when a retirement needs its jump checks. Arrival days, not the days events claim:
/// a flood backdated over weeks still arrives at once.
#[derive(Default)]
struct Jumps {
    loaded: BTreeMap<(Scope, u32), Arrivals>,
}

/// Target → day of arrival → judged events per evidence kind.
type Arrivals = BTreeMap<String, BTreeMap<chrono::NaiveDate, SourceEvidence>>;

impl Jumps {
    async fn load(
        &mut self,
        db: &DatabaseConnection,
        scope: Scope,
        policy: &PolicyDef,
        now: DateTime<Utc>,
    ) -> Result<&Arrivals, StorageError> {
        let until = now.date_naive();
        let window_start = until - chrono::Duration::days(i64::from(policy.window_days) - 1);
        let key = (scope, policy.window_days);
        if let std::collections::btree_map::Entry::Vacant(slot) = self.loaded.entry(key) {
            let since = window_start - chrono::Duration::days(JUMP_BASELINE_DAYS);
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
            slot.insert(arrivals);
        }
        Ok(&self.loaded[&key])
    }

    /// A jump in `target`'s daily arrivals of `kinds`.
    async fn of(
        &mut self,
        db: &DatabaseConnection,
        scope: Scope,
        target: &str,
        kinds: &[EvidenceKind],
        policy: &PolicyDef,
        now: DateTime<Utc>,
    ) -> Result<Option<VolumeJump>, StorageError> {
        let window_start =
            now.date_naive() - chrono::Duration::days(i64::from(policy.window_days) - 1);
        let arrivals = self.load(db, scope, policy, now).await?;
        Ok(arrivals.get(target).and_then(|days| {
            let daily: Vec<(chrono::NaiveDate, i64)> = days
                .iter()
                .map(|(day, e)| (*day, kinds.iter().map(|k| e.total(*k)).sum()))
                .collect();
            volume_jump(&daily, window_start)
        }))
    }
}

/// What a failing target calls for, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Planned {
    /// An at-risk mark a safeguard held back.
    Held,
    AtRisk,
    Propose,
    Retire,
}

impl Planned {
    fn as_str(self) -> &'static str {
        match self {
            Planned::Held => "held",
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
