//! Adaptive allocation's arithmetic: from each arm's engagement (per source, over the
//! window) to the share of traffic it gets. Pure: no storage, no clock.
//!
//! 1. **Evidence gate.** An arm's events are counted source by source. A source that
//!    sent more of any kind (impressions, rewards, opt-outs, survey answers) than its
//!    allowance — the larger of [`ALLOWANCE_FLOOR`] and `max_source_share` of the arm's
//!    events of that kind — is discounted entirely, and the check repeats over what is
//!    left. An arm whose events come from fewer than `min_sources` sources has no
//!    evidence yet and is judged by the prior alone. So a flood from one source moves
//!    nothing, and one source can move an arm's rates by at most its allowance.
//! 2. **Thompson sampling.** Each arm's reward rate (clicks or conversions per
//!    impression) has a Beta posterior whose prior is centred on the placement's pooled
//!    rate with the weight of [`PRIOR_IMPRESSIONS`] impressions. An arm's share is the
//!    probability that it is the best, estimated from [`DRAWS`] joint draws seeded by the
//!    evidence itself (the same evidence always gives the same shares).
//! 3. **Guardrails.** An arm whose opt-out rate, or whose share of NPS detractors (0–6),
//!    is above `guardrail_factor` × the other arms' pooled rate with 95 % posterior
//!    probability is cut to the floor, whatever its reward.
//! 4. **Floor.** Every arm keeps at least `floor` of the traffic, so learning never stops.

use rand::SeedableRng;
use rand_distr::{Beta, Distribution};
use serde::Serialize;

/// A source may always send this many events of a kind to an arm.
pub const ALLOWANCE_FLOOR: u64 = 3;
/// The prior's weight, in impressions at the placement's pooled rate.
pub const PRIOR_IMPRESSIONS: f64 = 20.0;
/// Joint posterior draws behind each share.
pub const DRAWS: usize = 10_000;
/// Posterior probability at which a guardrail cuts an arm.
pub const GUARDRAIL_CONFIDENCE: f64 = 0.95;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tuning {
    pub floor: f64,
    pub min_sources: u64,
    pub max_source_share: f64,
    pub guardrail_factor: f64,
}

/// One source's events on one arm over the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceCounts {
    pub impressions: u64,
    pub rewards: u64,
    pub opt_outs: u64,
    /// NPS answers.
    pub nps: u64,
}

impl SourceCounts {
    fn kinds(&self) -> [u64; 4] {
        [self.impressions, self.rewards, self.opt_outs, self.nps]
    }
    fn add(&mut self, other: &SourceCounts) {
        self.impressions += other.impressions;
        self.rewards += other.rewards;
        self.opt_outs += other.opt_outs;
        self.nps += other.nps;
    }
}

/// One arm's evidence as stored: per source, plus the NPS detractors among its
/// answers (stored per arm, not per source).
#[derive(Clone, Debug, Default)]
pub struct ArmInput {
    pub variant: String,
    pub sources: Vec<(String, SourceCounts)>,
    pub nps_detractors: u64,
}

/// What the evidence gate kept of one arm.
#[derive(Clone, Debug, Default, PartialEq)]
struct Trusted {
    counts: SourceCounts,
    sources: u64,
    discounted_sources: u64,
    discounted_events: u64,
    /// Survey answers came only from sources within their allowance.
    nps_clean: bool,
}

fn trusted(sources: &[(String, SourceCounts)], tuning: &Tuning) -> Trusted {
    let mut kept: Vec<&SourceCounts> = sources.iter().map(|(_, c)| c).collect();
    let mut discounted = Trusted {
        nps_clean: true,
        ..Trusted::default()
    };
    loop {
        let mut total = SourceCounts::default();
        kept.iter().for_each(|c| total.add(c));
        let allowance = total
            .kinds()
            .map(|n| ALLOWANCE_FLOOR.max((tuning.max_source_share * n as f64).floor() as u64));
        let before = kept.len();
        kept.retain(|c| {
            let within = c.kinds().iter().zip(&allowance).all(|(n, a)| n <= a);
            if !within {
                discounted.discounted_sources += 1;
                discounted.discounted_events += c.kinds().iter().sum::<u64>();
                discounted.nps_clean &= c.nps == 0;
            }
            within
        });
        if kept.len() == before {
            discounted.counts = total;
            discounted.sources = kept
                .iter()
                .filter(|c| c.kinds().iter().any(|&n| n > 0))
                .count() as u64;
            return discounted;
        }
    }
}

/// The judgement on one arm: its trusted evidence, its chance of being best, any
/// guardrail, and its share.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ArmVerdict {
    pub variant: String,
    /// Trusted events (after the evidence gate).
    pub impressions: u64,
    pub rewards: u64,
    pub opt_outs: u64,
    pub nps_answers: u64,
    pub nps_detractors: u64,
    /// Distinct sources behind the trusted events.
    pub sources: u64,
    /// Sources discounted by the evidence gate, and the events they sent.
    pub discounted_sources: u64,
    pub discounted_events: u64,
    /// Fewer than `min_sources` sources: judged by the prior alone.
    pub thin: bool,
    /// Posterior mean reward rate.
    pub reward_rate: f64,
    /// Probability of being the best arm (Thompson sampling's share before guardrails
    /// and the floor).
    pub p_best: f64,
    /// Why a guardrail cut the arm to the floor.
    pub guardrail: Option<String>,
    /// The share of traffic it gets.
    pub share: f64,
}

/// Shares for `arms` (in order, summing to 1), judged by `tuning`; `salt` (the
/// placement) varies the draws between placements.
pub fn allocate(arms: &[ArmInput], tuning: &Tuning, salt: &str) -> Vec<ArmVerdict> {
    let n = arms.len();
    if n == 0 {
        return Vec::new();
    }
    let gated: Vec<Trusted> = arms.iter().map(|a| trusted(&a.sources, tuning)).collect();
    let thin: Vec<bool> = gated
        .iter()
        .map(|t| t.sources < tuning.min_sources)
        .collect();
    let used = |i: usize| {
        if thin[i] {
            SourceCounts::default()
        } else {
            gated[i].counts
        }
    };
    let (pooled_rewards, pooled_impressions) = (0..n).fold((0u64, 0u64), |(r, m), i| {
        let c = used(i);
        (r + c.rewards.min(c.impressions), m + c.impressions)
    });
    let pooled_rate = if pooled_impressions == 0 {
        0.0
    } else {
        pooled_rewards as f64 / pooled_impressions as f64
    };
    // Seeded by the evidence: the same evidence always gives the same shares.
    let mut seed_parts: Vec<u8> = salt.as_bytes().to_vec();
    for i in 0..n {
        for k in used(i).kinds() {
            seed_parts.extend_from_slice(&k.to_le_bytes());
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(crate::catalog::stable_hash(&[&seed_parts]));
    // (alpha, beta) of each arm's posterior; both are at least 1.
    let parameters: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let c = used(i);
            let rewards = c.rewards.min(c.impressions) as f64;
            (
                1.0 + PRIOR_IMPRESSIONS * pooled_rate + rewards,
                1.0 + PRIOR_IMPRESSIONS * (1.0 - pooled_rate) + (c.impressions as f64 - rewards),
            )
        })
        .collect();
    let posteriors: Vec<Beta<f64>> = parameters
        .iter()
        .filter_map(|&(alpha, beta)| Beta::new(alpha, beta).ok())
        .collect();
    if posteriors.len() != n {
        return Vec::new();
    }
    let mut wins = vec![0u32; n];
    let mut draw = vec![0.0f64; n];
    for _ in 0..DRAWS {
        for (d, posterior) in draw.iter_mut().zip(&posteriors) {
            *d = posterior.sample(&mut rng);
        }
        let best = (0..n)
            .max_by(|&a, &b| draw[a].total_cmp(&draw[b]).then(b.cmp(&a)))
            .unwrap_or(0);
        wins[best] += 1;
    }
    let guardrails: Vec<Option<String>> = (0..n)
        .map(|i| guardrail(i, &gated, &thin, arms, tuning, &mut rng))
        .collect();
    let floor = tuning.floor.clamp(0.0, 1.0 / n as f64);
    let open: f64 = (0..n)
        .filter(|&i| guardrails[i].is_none())
        .map(|i| f64::from(wins[i]))
        .sum();
    let open_arms = guardrails.iter().filter(|g| g.is_none()).count();
    (0..n)
        .map(|i| {
            let p_best = f64::from(wins[i]) / DRAWS as f64;
            let earned = match (&guardrails[i], open > 0.0) {
                (Some(_), _) => 0.0,
                (None, true) => f64::from(wins[i]) / open,
                (None, false) => 1.0 / open_arms as f64,
            };
            // Every arm cut: each keeps the floor and the rest is spread evenly.
            let share = if open_arms == 0 {
                1.0 / n as f64
            } else {
                floor + (1.0 - n as f64 * floor) * earned
            };
            ArmVerdict {
                variant: arms[i].variant.clone(),
                impressions: gated[i].counts.impressions,
                rewards: gated[i].counts.rewards,
                opt_outs: gated[i].counts.opt_outs,
                nps_answers: gated[i].counts.nps,
                nps_detractors: arms[i].nps_detractors.min(gated[i].counts.nps),
                sources: gated[i].sources,
                discounted_sources: gated[i].discounted_sources,
                discounted_events: gated[i].discounted_events,
                thin: thin[i],
                reward_rate: parameters[i].0 / (parameters[i].0 + parameters[i].1),
                p_best,
                guardrail: guardrails[i].clone(),
                share,
            }
        })
        .collect()
}

/// Why arm `i` is cut to the floor, if it is: its rate of opt-outs per impression, or
/// its share of NPS detractors, is above `guardrail_factor` × the other (non-thin)
/// arms' pooled rate with [`GUARDRAIL_CONFIDENCE`] posterior probability.
fn guardrail(
    i: usize,
    gated: &[Trusted],
    thin: &[bool],
    arms: &[ArmInput],
    tuning: &Tuning,
    rng: &mut rand::rngs::StdRng,
) -> Option<String> {
    if thin[i] {
        return None;
    }
    let others = (0..gated.len()).filter(|&j| j != i && !thin[j]);
    let (mut impressions, mut opt_outs, mut answers, mut detractors) = (0u64, 0u64, 0u64, 0u64);
    let mut others_clean = true;
    for j in others {
        let c = &gated[j].counts;
        impressions += c.impressions;
        opt_outs += c.opt_outs.min(c.impressions);
        answers += c.nps;
        detractors += arms[j].nps_detractors.min(c.nps);
        others_clean &= gated[j].nps_clean;
    }
    let own = &gated[i].counts;
    let worse = |own_events: u64,
                 own_trials: u64,
                 their_events: u64,
                 their_trials: u64,
                 rng: &mut rand::rngs::StdRng| {
        if own_trials == 0 || their_trials == 0 {
            return None;
        }
        let mine = Beta::new(
            1.0 + own_events as f64,
            1.0 + (own_trials - own_events) as f64,
        )
        .ok()?;
        let theirs = Beta::new(
            1.0 + their_events as f64,
            1.0 + (their_trials - their_events) as f64,
        )
        .ok()?;
        let above = (0..DRAWS)
            .filter(|_| mine.sample(rng) > tuning.guardrail_factor * theirs.sample(rng))
            .count();
        let probability = above as f64 / DRAWS as f64;
        (probability >= GUARDRAIL_CONFIDENCE).then_some(probability)
    };
    let own_opt_outs = own.opt_outs.min(own.impressions);
    if let Some(p) = worse(own_opt_outs, own.impressions, opt_outs, impressions, rng) {
        return Some(format!(
            "opt-outs: {own_opt_outs} of {} impressions ({:.2} %) against {opt_outs} of {impressions} ({:.2} %) on the other arms; above {}× theirs with probability {:.3}",
            own.impressions,
            percent(own_opt_outs, own.impressions),
            percent(opt_outs, impressions),
            tuning.guardrail_factor,
            p
        ));
    }
    if gated[i].nps_clean && others_clean {
        let own_detractors = arms[i].nps_detractors.min(own.nps);
        if let Some(p) = worse(own_detractors, own.nps, detractors, answers, rng) {
            return Some(format!(
                "NPS detractors: {own_detractors} of {} answers ({:.1} %) against {detractors} of {answers} ({:.1} %) on the other arms; above {}× theirs with probability {:.3}",
                own.nps,
                percent(own_detractors, own.nps),
                percent(detractors, answers),
                tuning.guardrail_factor,
                p
            ));
        }
    }
    None
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
