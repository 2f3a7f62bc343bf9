//! What one evaluation decides, with no I/O: from an [`EvaluationInput`] (everything the
//! evaluator read) to a [`Plan`] (findings, failure runs to save, the action per target,
//! recoveries). [`super::evaluator`] reads the input, calls [`plan`], and writes the
//! plan in one transaction — so everything here can be tested with hand-built inputs.
//!
//! The rules: failures are counted once per period (a UTC day) and a run continues only
//! from the day before; the strongest action any policy calls for wins per target
//! (retire > propose > at_risk); a safeguard (sample-ratio mismatch, a volume jump, the
//! circuit breaker) turns a retirement into a proposal and holds at-risk marks in a
//! mismatched placement; a proposal a person is reading is not overtaken.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::evaluator::Safeguards;
use super::integrity::{sides, volume_jump, EvidenceKind, SampleRatio, SourceEvidence, VolumeJump};
use super::policy::{Mode, Peer, PolicyDef, Scope, Threshold};
use super::stats::Direction;
use super::{assess, Finding, Observation, Verdict};
use crate::catalog::model::ChannelState;

/// A (target, policy) failure run as last saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub failures: i32,
    pub last_period: String,
    pub last_verdict: String,
}

/// Target → day of arrival → judged events per evidence kind.
pub type Arrivals = BTreeMap<String, BTreeMap<chrono::NaiveDate, SourceEvidence>>;

/// Everything one evaluation reads, read before anything is decided.
#[derive(Clone, Debug, Default)]
pub struct EvaluationInput {
    /// Every channel's stored state.
    pub channels: BTreeMap<String, ChannelState>,
    /// Variants' governance states (`at_risk`, `retired`); absent means active.
    pub variants: BTreeMap<String, String>,
    /// Variant → its placement.
    pub placement_of: BTreeMap<String, String>,
    /// Every target's engagement per (scope, window in days), retired ones included.
    pub windows: BTreeMap<(Scope, u32), Vec<Observation>>,
    /// Failure runs by (scope, target, policy).
    pub runs: BTreeMap<(String, String, String), Run>,
    /// (scope, target) with an open proposal.
    pub open_proposals: BTreeSet<(String, String)>,
    /// Automatic retirements applied within the 24 hours before now.
    pub recent_automatic_retirements: u64,
    /// The sample-ratio tests of every weighted split.
    pub sample_ratios: Vec<SampleRatio>,
    /// Judged events by day of arrival per (scope, window in days), for the jump
    /// checks; a window without an entry has no baseline (no jump is found).
    pub arrivals: BTreeMap<(Scope, u32), Arrivals>,
}

impl EvaluationInput {
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

/// What a failing target calls for, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Planned {
    /// An at-risk mark a safeguard held back.
    Held,
    AtRisk,
    Propose,
    Retire,
}

impl Planned {
    pub fn as_str(self) -> &'static str {
        match self {
            Planned::Held => "held",
            Planned::AtRisk => "at_risk",
            Planned::Propose => "propose",
            Planned::Retire => "retire",
        }
    }
}

/// A failure run to save for (scope, target, policy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunUpdate {
    pub scope: Scope,
    pub target: String,
    pub policy: String,
    pub failures: i32,
    pub verdict: &'static str,
}

/// The one action for a target.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedAction {
    pub scope: Scope,
    pub target: String,
    pub policy: String,
    pub action: Planned,
    /// Why a safeguard changed it.
    pub safeguards: Vec<String>,
    /// The decision's evidence (JSON), for every action but a held one.
    pub evidence: String,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub period: String,
    pub findings: Vec<Finding>,
    pub runs: Vec<RunUpdate>,
    /// Ordered by (scope, target).
    pub actions: Vec<PlannedAction>,
    /// At-risk targets that passed everything: active again.
    pub recoveries: Vec<(Scope, String)>,
    pub sample_ratios: Vec<SampleRatio>,
}

/// What one failing finding calls for, before the safeguards.
struct Candidate<'a> {
    wanted: Planned,
    finding: &'a Finding,
    policy: &'a PolicyDef,
    failures: i32,
}

type Candidates<'a> = BTreeMap<(Scope, String), Candidate<'a>>;
/// Per target: the safeguards' reasons and their evidence.
type Safeguarded = BTreeMap<(Scope, String), (Vec<String>, serde_json::Value)>;

/// One evaluation's decisions.
pub fn plan(
    input: &EvaluationInput,
    policies: &[PolicyDef],
    safeguards: Safeguards,
    now: DateTime<Utc>,
) -> Plan {
    let period = now.date_naive().to_string();
    let policies = protect(policies, &input.channels);
    let observations = observations(input, &policies);
    let findings = assess(&policies, &observations);
    let (runs, mut candidates) = count_runs(input, &policies, &findings, &period, now);
    let mut safeguarded = check_soundness(input, &findings, &mut candidates, now);
    circuit_breaker(input, safeguards, &mut candidates, &mut safeguarded);
    let actions = actions(input, candidates, safeguarded, &period, now);
    let recoveries = recoveries(input, &findings);
    Plan {
        period,
        findings,
        runs,
        actions,
        recoveries,
        sample_ratios: input.sample_ratios.clone(),
    }
}

/// Channels whose state is `protected` are protected by every channel policy.
fn protect(policies: &[PolicyDef], channels: &BTreeMap<String, ChannelState>) -> Vec<PolicyDef> {
    policies
        .iter()
        .cloned()
        .map(|mut p| {
            if p.scope == Scope::Channel {
                p.protected.extend(
                    channels
                        .iter()
                        .filter(|(_, s)| **s == ChannelState::Protected)
                        .map(|(id, _)| id.clone()),
                );
            }
            p
        })
        .collect()
}

/// Each policy's window, leaving out what is already retired.
fn observations(
    input: &EvaluationInput,
    policies: &[PolicyDef],
) -> BTreeMap<String, Vec<Observation>> {
    policies
        .iter()
        .map(|policy| {
            let targets = input
                .windows
                .get(&(policy.scope, policy.window_days))
                .into_iter()
                .flatten()
                .filter(|o| !input.retired(policy.scope, &o.target))
                .cloned()
                .collect();
            (policy.id.clone(), targets)
        })
        .collect()
}

/// Counts each (target, policy) run once per period and collects what each failing
/// finding calls for; the strongest action any policy calls for wins (a guardrail's
/// retirement is not held back by another policy's first failure).
fn count_runs<'a>(
    input: &EvaluationInput,
    policies: &'a [PolicyDef],
    findings: &'a [Finding],
    period: &str,
    now: DateTime<Utc>,
) -> (Vec<RunUpdate>, Candidates<'a>) {
    let by_id: BTreeMap<&str, &PolicyDef> = policies.iter().map(|p| (p.id.as_str(), p)).collect();
    let yesterday = (now.date_naive() - chrono::Duration::days(1)).to_string();
    // Runs saved by this plan, seen by later findings of the same key as a save would be.
    let mut saved: BTreeMap<(String, String, String), Run> = BTreeMap::new();
    let mut updates = Vec::new();
    let mut candidates = Candidates::new();
    for finding in findings {
        let Some(policy) = by_id.get(finding.policy.as_str()).copied() else {
            continue;
        };
        let (failures, verdict) = match finding.verdict {
            Verdict::Fail => (None, "fail"),
            Verdict::Pass => (Some(0), "pass"),
            Verdict::Protected => (Some(0), "protected"),
            // Not judged (too little data, or evidence too concentrated to trust): this
            // period stays open for a later run, and no failure is counted.
            Verdict::Insufficient | Verdict::Unreliable => continue,
        };
        let key = (
            finding.scope.as_str().to_string(),
            finding.target.clone(),
            policy.id.clone(),
        );
        let status = saved.get(&key).or_else(|| input.runs.get(&key));
        if status.is_some_and(|s| s.last_period == period) {
            // Already counted in this period: running again changes nothing.
            continue;
        }
        // A run continues only from the day before: a gap (no evaluation, or no
        // judgement) starts it again, which can only make governance slower to act.
        let run = status
            .filter(|s| s.last_period == yesterday && s.last_verdict == "fail")
            .map_or(0, |s| s.failures);
        let failures = failures.unwrap_or(run + 1);
        saved.insert(
            key,
            Run {
                failures,
                last_period: period.to_string(),
                last_verdict: verdict.to_string(),
            },
        );
        updates.push(RunUpdate {
            scope: finding.scope,
            target: finding.target.clone(),
            policy: policy.id.clone(),
            failures,
            verdict,
        });
        if finding.verdict != Verdict::Fail {
            continue;
        }
        let reached = failures >= policy.consecutive_failures as i32;
        let wanted = match (reached, policy.mode) {
            (true, Mode::Auto) => Planned::Retire,
            (true, Mode::Propose) => Planned::Propose,
            (false, _) if !input.at_risk(finding.scope, &finding.target) => Planned::AtRisk,
            (false, _) => continue,
        };
        let key = (finding.scope, finding.target.clone());
        if candidates.get(&key).is_none_or(|c| wanted > c.wanted) {
            candidates.insert(
                key,
                Candidate {
                    wanted,
                    finding,
                    policy,
                    failures,
                },
            );
        }
    }
    (updates, candidates)
}

/// Automatic action needs sound data. A placement whose weighted split mismatches its
/// weights, or a target (or a peer setting its bar) whose volume jumped, turn a
/// retirement into a proposal (and hold at-risk marks in a mismatched placement), with
/// the reason kept as evidence.
fn check_soundness(
    input: &EvaluationInput,
    findings: &[Finding],
    candidates: &mut Candidates<'_>,
    now: DateTime<Utc>,
) -> Safeguarded {
    let mismatched: BTreeMap<&str, &SampleRatio> = input
        .sample_ratios
        .iter()
        .filter(|r| r.mismatch)
        .map(|r| (r.placement.as_str(), r))
        .collect();
    let mut safeguarded = Safeguarded::new();
    for ((scope, target), candidate) in candidates.iter_mut() {
        let mut reasons = Vec::new();
        let mut details = serde_json::Map::new();
        if *scope == Scope::Variant {
            if let Some(srm) = input
                .placement_of
                .get(target.as_str())
                .and_then(|p| mismatched.get(p.as_str()))
            {
                reasons.push(format!(
                    "sample-ratio mismatch in {}: impressions do not follow the weights (chi-square {:.1}, p = {:.2e} < {})",
                    srm.placement, srm.chi_square, srm.p_value, srm.significance
                ));
                details.insert("sample_ratio".into(), serde_json::json!(srm));
            }
        }
        if candidate.wanted == Planned::Retire {
            check_jumps(
                input,
                findings,
                *scope,
                target,
                candidate,
                now,
                &mut reasons,
                &mut details,
            );
        }
        if !reasons.is_empty() {
            candidate.wanted = match candidate.wanted {
                Planned::Retire => Planned::Propose,
                Planned::AtRisk if details.contains_key("sample_ratio") => Planned::Held,
                other => other,
            };
            safeguarded.insert(
                (*scope, target.clone()),
                (reasons, serde_json::Value::Object(details)),
            );
        }
    }
    safeguarded
}

/// The jump checks of a retirement: the events against the target, and the events in
/// favour of the peers that set a relative threshold.
#[allow(clippy::too_many_arguments)]
fn check_jumps(
    input: &EvaluationInput,
    findings: &[Finding],
    scope: Scope,
    target: &str,
    candidate: &Candidate<'_>,
    now: DateTime<Utc>,
    reasons: &mut Vec<String>,
    details: &mut serde_json::Map<String, serde_json::Value>,
) {
    let policy = candidate.policy;
    let (worse, better) = sides(policy.metric);
    if let Some(jump) = jump_of(input, scope, target, worse, policy, now) {
        reasons.push(format!(
            "the events against it jumped: {} arrived on {}, more than {}× the median day ({:.0})",
            jump.busiest_volume, jump.busiest_day, jump.multiple, jump.median_volume
        ));
        details.insert("volume_jump".into(), serde_json::json!(jump));
    }
    // A relative threshold is only as sound as the peers that set it: the events that
    // make a peer look better must not have jumped either.
    let Threshold::Relative { relative_to, .. } = policy.threshold else {
        return;
    };
    let same_group = |other: &str| match scope {
        Scope::Channel => true,
        Scope::Variant => input.placement_of.get(other) == input.placement_of.get(target),
    };
    let peers: Vec<&Finding> = findings
        .iter()
        .filter(|f| {
            f.policy == policy.id
                && f.target != target
                && same_group(&f.target)
                && f.n >= policy.min_sample
                && !candidate
                    .finding
                    .evidence
                    .excluded_peers
                    .contains(&f.target)
        })
        .collect();
    let mut peer_jumps = serde_json::Map::new();
    for peer in bar_setters(&peers, relative_to, policy.metric.direction()) {
        if let Some(jump) = jump_of(input, scope, peer, better, policy, now) {
            reasons.push(format!(
                "a peer setting its threshold jumped: {peer} had {} events in its favour arrive on {}, more than {}× its median day ({:.0})",
                jump.busiest_volume, jump.busiest_day, jump.multiple, jump.median_volume
            ));
            peer_jumps.insert(peer.to_string(), serde_json::json!(jump));
        }
    }
    if !peer_jumps.is_empty() {
        details.insert(
            "peer_volume_jumps".into(),
            serde_json::Value::Object(peer_jumps),
        );
    }
}

/// A jump in `target`'s daily arrivals of `kinds` over the policy's window and the
/// baseline before it.
fn jump_of(
    input: &EvaluationInput,
    scope: Scope,
    target: &str,
    kinds: &[EvidenceKind],
    policy: &PolicyDef,
    now: DateTime<Utc>,
) -> Option<VolumeJump> {
    let window_start = now.date_naive() - chrono::Duration::days(i64::from(policy.window_days) - 1);
    let days = input
        .arrivals
        .get(&(scope, policy.window_days))?
        .get(target)?;
    let daily: Vec<(chrono::NaiveDate, i64)> = days
        .iter()
        .map(|(day, e)| (*day, kinds.iter().map(|k| e.total(*k)).sum()))
        .collect();
    volume_jump(&daily, window_start)
}

/// The peers whose values set a relative threshold: the best one, or those at or on
/// the better side of the median (they hold it where it is).
fn bar_setters<'f>(peers: &[&'f Finding], relative_to: Peer, direction: Direction) -> Vec<&'f str> {
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

/// More automatic retirements within 24 hours than the safeguard allows (those already
/// applied plus those planned) turn the planned ones into proposals. The budget is per
/// rolling day, not per run: evaluations run hourly and on demand.
fn circuit_breaker(
    input: &EvaluationInput,
    safeguards: Safeguards,
    candidates: &mut Candidates<'_>,
    safeguarded: &mut Safeguarded,
) {
    let planned_now = candidates
        .values()
        .filter(|c| c.wanted == Planned::Retire)
        .count();
    let earlier = input.recent_automatic_retirements as usize;
    let retirements = planned_now + earlier;
    if planned_now == 0 || retirements <= safeguards.max_auto_retirements as usize {
        return;
    }
    let reason = format!(
        "circuit breaker: {retirements} automatic retirements within 24 hours ({earlier} already applied), more than governance_max_auto_retirements ({})",
        safeguards.max_auto_retirements
    );
    for ((scope, target), candidate) in candidates.iter_mut() {
        if candidate.wanted == Planned::Retire {
            candidate.wanted = Planned::Propose;
            let entry = safeguarded
                .entry((*scope, target.clone()))
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

/// One action per target, with its evidence.
fn actions(
    input: &EvaluationInput,
    candidates: Candidates<'_>,
    mut safeguarded: Safeguarded,
    period: &str,
    now: DateTime<Utc>,
) -> Vec<PlannedAction> {
    let mut actions = Vec::new();
    for ((scope, target), candidate) in candidates {
        let (held_because, safeguard_evidence) = safeguarded
            .remove(&(scope, target.clone()))
            .unwrap_or_default();
        // A proposal a person is reading is not overtaken by automation: once a
        // safeguard made it a proposal, it stays one until decided.
        if matches!(candidate.wanted, Planned::Propose | Planned::Retire)
            && input
                .open_proposals
                .contains(&(scope.as_str().to_string(), target.clone()))
        {
            continue;
        }
        let evidence = if candidate.wanted == Planned::Held {
            String::new()
        } else {
            serde_json::json!({
                "finding": candidate.finding,
                "policy": candidate.policy,
                "consecutive_failures": candidate.failures,
                "period": period,
                "evaluated_at": now.to_rfc3339(),
                "safeguards": held_because,
                "safeguard_evidence": safeguard_evidence,
            })
            .to_string()
        };
        actions.push(PlannedAction {
            scope,
            target,
            policy: candidate.policy.id.clone(),
            action: candidate.wanted,
            safeguards: held_because,
            evidence,
        });
    }
    actions
}

/// At-risk targets that passed every policy judging them this time.
fn recoveries(input: &EvaluationInput, findings: &[Finding]) -> Vec<(Scope, String)> {
    let failing: BTreeSet<(Scope, &str)> = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .map(|f| (f.scope, f.target.as_str()))
        .collect();
    let passed: BTreeSet<(Scope, &str)> = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Pass)
        .map(|f| (f.scope, f.target.as_str()))
        .collect();
    passed
        .difference(&failing)
        .filter(|(scope, target)| input.at_risk(*scope, target))
        .map(|(scope, target)| (*scope, target.to_string()))
        .collect()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
