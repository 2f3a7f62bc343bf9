//! Governance: policies read engagement and retire the channels and variants that stop
//! earning their place — automatically or after two people agree — with the evidence
//! kept. [`assess`] judges each target (statistics in [`stats`], evidence quality in
//! [`integrity`]); [`plan`] decides what an evaluation does; [`evaluator`] reads its
//! input and writes its plan; [`approval`] is the four-eyes state machine of decisions;
//! [`workflow`] is what staff do (policies, decisions, reinstatement); [`http`] serves
//! it all. The pure modules (`assess`, `plan`, `approval`, `stats`, `report`) do no I/O.

pub mod approval;
pub mod backtest;
pub mod evaluator;
pub mod http;
pub mod integrity;
pub mod plan;
pub mod policy;
pub mod report;
mod service;
#[cfg(test)]
mod simulation;
pub mod stats;
pub mod workflow;

pub use service::{check_past_day, check_range, Governance};

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engagement::Counts;
use integrity::{sides, Diversity, SourceEvidence};
use policy::{Metric, Peer, PolicyDef, Scope, Threshold};
use stats::{benjamini_hochberg, median, Direction, Estimate};

/// Engagement of one channel or variant over a policy's window.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    pub target: String,
    /// Who it is compared with: the placement for variants, empty for channels.
    pub peer_group: String,
    pub counts: Counts,
    /// Revenue in minor units, per currency.
    pub revenue_minor: BTreeMap<String, i64>,
    /// Who produced the judged events, per source and kind.
    pub sources: SourceEvidence,
    /// Bot events over the window (stored, never judged), for the report.
    pub bot_events: i64,
}

/// A channel's or variant's governance state, as governance sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetState {
    Active,
    AtRisk,
    Retired,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// Fewer observations than the policy's minimum sample: no action either way.
    Insufficient,
    /// Would be judged, but the policy protects it.
    Protected,
    /// The evidence is too concentrated to act on (see `evidence.reason`): no action
    /// either way, and no failure is counted.
    Unreliable,
}

/// How trustworthy a finding's evidence is.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EvidenceQuality {
    /// Spread of the events that push this target toward failure.
    pub against: Diversity,
    /// Spread of every judged event of the target.
    pub overall: Diversity,
    /// Bot events over the window, and their share of all its events.
    pub bot_events: i64,
    pub bot_share: f64,
    /// Why the evidence fails the gate, when it does.
    pub reason: Option<String>,
    /// Peers left out of the threshold because their evidence fails the gate.
    pub excluded_peers: Vec<String>,
}

/// One policy's judgement of one target, with everything it was based on.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Finding {
    pub policy: String,
    pub scope: Scope,
    pub target: String,
    pub metric: Metric,
    pub value: f64,
    /// The interval at the policy's confidence.
    pub low: f64,
    pub high: f64,
    pub confidence: f64,
    /// Observations behind the value (impressions; answers for feedback metrics).
    pub n: u64,
    pub threshold: Option<f64>,
    /// One-sided p-value of "at least as good as the threshold".
    pub p_value: f64,
    /// Benjamini–Hochberg adjusted over every test of the evaluation.
    pub q_value: f64,
    pub verdict: Verdict,
    /// Diversity of the evidence and the bot share (the gate's inputs).
    pub evidence: EvidenceQuality,
    /// The raw counts of the window.
    #[schema(value_type = Object)]
    pub counts: serde_json::Value,
}

fn estimate(metric: Metric, o: &Observation, policy: &PolicyDef) -> Estimate {
    let c = &o.counts;
    let impressions = c.impressions.max(0) as u64;
    let count = |v: i64| v.max(0) as u64;
    let confidence = policy.confidence;
    match metric {
        Metric::EngagementRate => Estimate::rate(
            count(c.views + c.clicks + c.shares + c.conversions).min(impressions),
            impressions,
            confidence,
        ),
        Metric::ClickThrough => Estimate::rate(count(c.clicks), impressions, confidence),
        Metric::ConversionRate => Estimate::rate(count(c.conversions), impressions, confidence),
        Metric::OptOutRate => Estimate::rate(count(c.opt_outs), impressions, confidence),
        // Without a conversion there is no order value to scale by: no judgement.
        Metric::RevenuePerImpression if c.conversions <= 0 => Estimate::rate(0, 0, confidence),
        Metric::RevenuePerImpression => {
            let currency = policy.currency.as_deref().unwrap_or("EUR");
            let minor = o.revenue_minor.get(currency).copied().unwrap_or(0).max(0);
            let exponent = iso_currency::Currency::from_code(currency)
                .and_then(|c| c.exponent())
                .unwrap_or(2);
            let revenue = minor as f64 / 10f64.powi(i32::from(exponent));
            let order_value = if c.conversions > 0 {
                revenue / c.conversions as f64
            } else {
                0.0
            };
            Estimate::scaled_rate(count(c.conversions), impressions, order_value, confidence)
        }
        Metric::Csat => {
            Estimate::bounded_mean(c.csat_sum as f64, count(c.csat_count), 1.0, 5.0, confidence)
        }
        Metric::Ces => {
            Estimate::bounded_mean(c.ces_sum as f64, count(c.ces_count), 1.0, 7.0, confidence)
        }
        Metric::Nps => Estimate::nps(
            count(c.nps_promoters),
            count(c.nps_detractors),
            count(c.nps_count),
            confidence,
        ),
    }
}

fn counts_json(c: &Counts, revenue: &BTreeMap<String, i64>) -> serde_json::Value {
    serde_json::json!({
        "impressions": c.impressions, "views": c.views, "clicks": c.clicks,
        "conversions": c.conversions, "shares": c.shares, "opt_outs": c.opt_outs,
        "csat_count": c.csat_count, "csat_sum": c.csat_sum,
        "nps_count": c.nps_count, "nps_promoters": c.nps_promoters,
        "nps_detractors": c.nps_detractors, "ces_count": c.ces_count, "ces_sum": c.ces_sum,
        "revenue_minor": revenue,
    })
}

/// Judges every target of every policy. `observations` maps a scope to its targets'
/// engagement over each policy's window (keyed by policy id).
pub fn assess(
    policies: &[PolicyDef],
    observations: &BTreeMap<String, Vec<Observation>>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for policy in policies {
        let Some(targets) = observations.get(&policy.id) else {
            continue;
        };
        let direction = policy.metric.direction();
        let estimates: Vec<Estimate> = targets
            .iter()
            .map(|o| estimate(policy.metric, o, policy))
            .collect();
        // The gate, both ways: what may fail a target, what may make it a peer.
        let (worse_kinds, better_kinds) = sides(policy.metric);
        let gate = |d: &Diversity| d.gate(policy.min_sources, policy.max_source_share);
        let against: Vec<Diversity> = targets
            .iter()
            .map(|o| o.sources.diversity(worse_kinds))
            .collect();
        let peer_ok: Vec<bool> = targets
            .iter()
            .map(|o| gate(&o.sources.diversity(better_kinds)).is_ok())
            .collect();
        for (index, (o, e)) in targets.iter().zip(&estimates).enumerate() {
            let sufficient = e.n >= policy.min_sample;
            let threshold = threshold_for(policy, targets, &estimates, &peer_ok, index);
            let p_value = match (sufficient, threshold) {
                (true, Some(t)) => e.p_value_worse(t, direction),
                _ => 1.0,
            };
            let reason = gate(&against[index]).err();
            let verdict = if !sufficient || threshold.is_none() {
                Verdict::Insufficient
            } else if policy.protected.contains(&o.target) {
                Verdict::Protected
            } else if reason.is_some() {
                Verdict::Unreliable
            } else {
                // Decided below, once every p-value of the evaluation is known.
                Verdict::Pass
            };
            let all_events = o.sources.overall().events as i64 + o.bot_events;
            let excluded_peers = match policy.threshold {
                Threshold::Absolute { .. } => Vec::new(),
                Threshold::Relative { .. } => targets
                    .iter()
                    .enumerate()
                    .filter(|(i, p)| *i != index && p.peer_group == o.peer_group && !peer_ok[*i])
                    .map(|(_, p)| p.target.clone())
                    .collect(),
            };
            let evidence = EvidenceQuality {
                against: against[index],
                overall: o.sources.overall(),
                bot_events: o.bot_events,
                bot_share: if all_events > 0 {
                    o.bot_events as f64 / all_events as f64
                } else {
                    0.0
                },
                reason,
                excluded_peers,
            };
            findings.push(Finding {
                policy: policy.id.clone(),
                scope: policy.scope,
                target: o.target.clone(),
                metric: policy.metric,
                value: e.value,
                low: e.low,
                high: e.high,
                confidence: policy.confidence,
                n: e.n,
                threshold,
                p_value,
                q_value: 1.0,
                verdict,
                evidence,
                counts: counts_json(&o.counts, &o.revenue_minor),
            });
        }
    }
    control_false_discoveries(&mut findings);
    findings
}

/// The bar target `index` is judged against: the policy's absolute one, or its peers'
/// median or best times the factor.
fn threshold_for(
    policy: &PolicyDef,
    targets: &[Observation],
    estimates: &[Estimate],
    peer_ok: &[bool],
    index: usize,
) -> Option<f64> {
    let o = &targets[index];
    match policy.threshold {
        Threshold::Absolute { absolute } => Some(absolute),
        Threshold::Relative {
            relative_to,
            factor,
        } => {
            // The others of its group: a target is not its own peer, and one whose good
            // numbers come from too few sources sets no bar.
            let peers: Vec<f64> = targets
                .iter()
                .zip(estimates)
                .enumerate()
                .filter(|(i, (p, pe))| {
                    *i != index
                        && p.peer_group == o.peer_group
                        && pe.n >= policy.min_sample
                        && peer_ok[*i]
                })
                .map(|(_, (_, pe))| pe.value)
                .collect();
            let peer = match relative_to {
                Peer::Median => median(&peers),
                Peer::Best => match policy.metric.direction() {
                    Direction::HigherIsBetter => peers.iter().copied().reduce(f64::max),
                    Direction::LowerIsBetter => peers.iter().copied().reduce(f64::min),
                },
            };
            peer.map(|p| p * factor)
        }
    }
}

/// False discovery control over every judged test of one evaluation: a judged finding
/// fails only when its whole interval is on the wrong side and its q-value is small.
fn control_false_discoveries(findings: &mut [Finding]) {
    let judged: Vec<usize> = findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.verdict == Verdict::Pass)
        .map(|(i, _)| i)
        .collect();
    let q = benjamini_hochberg(
        &judged
            .iter()
            .map(|&i| findings[i].p_value)
            .collect::<Vec<_>>(),
    );
    for (&i, q) in judged.iter().zip(q) {
        let f = &mut findings[i];
        f.q_value = q;
        let worse = match (f.threshold, f.metric.direction()) {
            (Some(t), Direction::HigherIsBetter) => f.high < t,
            (Some(t), Direction::LowerIsBetter) => f.low > t,
            (None, _) => false,
        };
        if worse && q <= 1.0 - f.confidence {
            f.verdict = Verdict::Fail;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy::Mode;

    #[test]
    fn revenue_without_conversions_is_not_judged() {
        let rpi = PolicyDef {
            currency: Some("EUR".into()),
            ..policy(
                "rpi",
                Scope::Channel,
                Metric::RevenuePerImpression,
                Threshold::Absolute { absolute: 0.01 },
            )
        };
        let observations = BTreeMap::from([(
            "rpi".to_string(),
            vec![channel("web", 10_000, 100, 0), channel("sms", 10_000, 5, 0)],
        )]);
        let findings = assess(&[rpi], &observations);
        assert!(findings.iter().all(|f| f.verdict == Verdict::Insufficient));
    }
    use rand::{Rng, SeedableRng};

    fn policy(id: &str, scope: Scope, metric: Metric, threshold: Threshold) -> PolicyDef {
        PolicyDef {
            id: id.into(),
            description: String::new(),
            scope,
            metric,
            threshold,
            window_days: 28,
            min_sample: 500,
            confidence: 0.95,
            consecutive_failures: 1,
            mode: Mode::Auto,
            protected: vec![],
            currency: None,
            // These tests are about the statistics; the gate has its own.
            min_sources: 1,
            max_source_share: 1.0,
        }
    }

    fn channel(target: &str, impressions: i64, clicks: i64, opt_outs: i64) -> Observation {
        Observation {
            target: target.into(),
            counts: Counts {
                impressions,
                clicks,
                opt_outs,
                ..Counts::default()
            },
            ..Observation::default()
        }
    }

    fn verdicts(findings: &[Finding]) -> Vec<(String, Verdict)> {
        findings
            .iter()
            .map(|f| (f.target.clone(), f.verdict))
            .collect()
    }

    #[test]
    fn a_clearly_worse_channel_fails_and_a_small_one_is_not_judged() {
        let ctr = policy(
            "ctr",
            Scope::Channel,
            Metric::ClickThrough,
            Threshold::Relative {
                relative_to: Peer::Median,
                factor: 0.5,
            },
        );
        let observations = BTreeMap::from([(
            "ctr".to_string(),
            vec![
                channel("web", 10_000, 800, 0),
                channel("email", 10_000, 700, 0),
                channel("sms", 10_000, 90, 0),
                channel("push", 100, 0, 0),
            ],
        )]);
        let findings = assess(std::slice::from_ref(&ctr), &observations);
        assert_eq!(
            verdicts(&findings),
            vec![
                ("web".into(), Verdict::Pass),
                ("email".into(), Verdict::Pass),
                ("sms".into(), Verdict::Fail),
                ("push".into(), Verdict::Insufficient),
            ]
        );
        let sms = &findings[2];
        // Half the median of its peers (web 8 %, email 7 %; push has too few impressions).
        assert!(
            (sms.threshold.unwrap() - 0.0375).abs() < 1e-9,
            "{:?}",
            sms.threshold
        );
        assert!(sms.high < 0.0375 && sms.q_value < 0.05);
        // Protected channels are judged but never fail.
        let protected = PolicyDef {
            protected: vec!["sms".into()],
            ..ctr
        };
        assert_eq!(
            assess(&[protected], &observations)[2].verdict,
            Verdict::Protected
        );
    }

    #[test]
    fn a_variant_that_wins_on_clicks_but_drives_opt_outs_still_fails() {
        let ctr = policy(
            "variant-ctr",
            Scope::Variant,
            Metric::ClickThrough,
            Threshold::Relative {
                relative_to: Peer::Best,
                factor: 0.5,
            },
        );
        let opt_outs = policy(
            "variant-opt-outs",
            Scope::Variant,
            Metric::OptOutRate,
            Threshold::Absolute { absolute: 0.01 },
        );
        let variant = |id: &str, clicks: i64, opt_outs: i64| Observation {
            peer_group: "home.hero".into(),
            ..channel(id, 5_000, clicks, opt_outs)
        };
        let targets = vec![variant("clickbait", 900, 200), variant("honest", 600, 5)];
        let observations = BTreeMap::from([
            ("variant-ctr".to_string(), targets.clone()),
            ("variant-opt-outs".to_string(), targets),
        ]);
        let findings = assess(&[ctr, opt_outs], &observations);
        let failing: Vec<_> = findings
            .iter()
            .filter(|f| f.verdict == Verdict::Fail)
            .map(|f| (f.policy.as_str(), f.target.as_str()))
            .collect();
        assert_eq!(failing, vec![("variant-opt-outs", "clickbait")]);
    }

    /// No real difference between channels: 100 evaluations of 8 channels with the same
    /// true click-through (noise only), judged against their peers, retire nothing —
    /// not even a single failing finding, let alone the consecutive ones retirement needs.
    #[test]
    fn noise_alone_retires_nothing_in_100_evaluations() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(20261125);
        let policies = [
            policy(
                "ctr-median",
                Scope::Channel,
                Metric::ClickThrough,
                Threshold::Relative {
                    relative_to: Peer::Median,
                    factor: 0.8,
                },
            ),
            policy(
                "ctr-best",
                Scope::Channel,
                Metric::ClickThrough,
                Threshold::Relative {
                    relative_to: Peer::Best,
                    factor: 0.6,
                },
            ),
        ];
        let mut failures = 0;
        for _ in 0..100 {
            let targets: Vec<Observation> = (0..8)
                .map(|i| {
                    let n = 2_000;
                    let clicks = (0..n).filter(|_| rng.random_bool(0.05)).count() as i64;
                    channel(&format!("channel-{i}"), n, clicks, 0)
                })
                .collect();
            let observations = BTreeMap::from([
                ("ctr-median".to_string(), targets.clone()),
                ("ctr-best".to_string(), targets),
            ]);
            failures += assess(&policies, &observations)
                .iter()
                .filter(|f| f.verdict == Verdict::Fail)
                .count();
        }
        assert_eq!(failures, 0);
    }
}
