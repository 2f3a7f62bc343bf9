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
//! 2. **Thompson sampling.** Each arm's reward rate (rewards per impression) has a
//!    Beta posterior whose prior has the placement's pooled rate as its mean and the
//!    weight of [`PRIOR_IMPRESSIONS`] impressions, so an arm without evidence is
//!    explored without being favoured. An arm's share is the probability that it is the
//!    best, estimated from [`DRAWS`] joint draws seeded by the evidence itself (the
//!    same evidence always gives the same shares).
//! 3. **Guardrails.** An arm whose opt-out rate, or whose share of NPS detractors (0–6),
//!    is above `guardrail_factor` × the other arms' pooled rate with
//!    [`GUARDRAIL_CONFIDENCE`] posterior probability is cut to the floor, whatever its
//!    reward — once those opt-outs (or answers) come from at least `min_sources`
//!    distinct sources, as governance asks of the events that push toward failure.
//! 4. **Floor.** Every arm keeps at least `floor` of the traffic, so learning never stops.

use rand::SeedableRng;
use rand_distr::{Beta, Distribution};
use serde::Serialize;

/// A source may always send this many events of a kind to an arm.
pub const ALLOWANCE_FLOOR: u64 = 3;
/// The prior's weight, in impressions at the placement's pooled rate.
pub const PRIOR_IMPRESSIONS: f64 = 20.0;
/// Added to both prior parameters, so a placement with no reward yet still has a
/// proper prior (its mean stays within 0.25 % of the pooled rate).
const PRIOR_FLOOR: f64 = 0.05;
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
    /// NPS answers, and the detractors (0–6) among them.
    pub nps: u64,
    pub detractors: u64,
}

impl SourceCounts {
    /// The kinds a source's allowance applies to (detractors are part of `nps`).
    fn kinds(&self) -> [u64; 4] {
        [self.impressions, self.rewards, self.opt_outs, self.nps]
    }
    fn add(&mut self, other: &SourceCounts) {
        self.impressions += other.impressions;
        self.rewards += other.rewards;
        self.opt_outs += other.opt_outs;
        self.nps += other.nps;
        self.detractors += other.detractors;
    }
}

/// One arm's evidence as stored: per source.
#[derive(Clone, Debug, Default)]
pub struct ArmInput {
    pub variant: String,
    pub sources: Vec<(String, SourceCounts)>,
}

/// What the evidence gate kept of one arm.
#[derive(Clone, Debug, Default, PartialEq)]
struct Trusted {
    counts: SourceCounts,
    /// Distinct sources behind the kept events, the kept opt-outs and the kept answers.
    sources: u64,
    opt_out_sources: u64,
    nps_sources: u64,
    discounted_sources: u64,
    discounted_events: u64,
}

fn trusted(sources: &[(String, SourceCounts)], tuning: &Tuning) -> Trusted {
    let mut kept: Vec<&SourceCounts> = sources.iter().map(|(_, c)| c).collect();
    let mut gate = Trusted::default();
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
                gate.discounted_sources += 1;
                gate.discounted_events += c.kinds().iter().sum::<u64>();
            }
            within
        });
        if kept.len() == before {
            let count =
                |has: fn(&SourceCounts) -> bool| kept.iter().filter(|c| has(c)).count() as u64;
            gate.counts = total;
            gate.sources = count(|c| c.kinds().iter().any(|&n| n > 0));
            gate.opt_out_sources = count(|c| c.opt_outs > 0);
            gate.nps_sources = count(|c| c.nps > 0);
            return gate;
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
    /// The share of traffic it earned (the served share steps toward it).
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
    for t in &gated {
        for k in t.counts.kinds() {
            seed_parts.extend_from_slice(&k.to_le_bytes());
        }
        seed_parts.extend_from_slice(&t.counts.detractors.to_le_bytes());
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(crate::catalog::stable_hash(&[&seed_parts]));
    // (alpha, beta) of each arm's posterior; both are positive and finite.
    let parameters: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let c = used(i);
            let rewards = c.rewards.min(c.impressions) as f64;
            (
                PRIOR_FLOOR + PRIOR_IMPRESSIONS * pooled_rate + rewards,
                PRIOR_FLOOR
                    + PRIOR_IMPRESSIONS * (1.0 - pooled_rate)
                    + (c.impressions as f64 - rewards),
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
        .map(|i| guardrail(i, &gated, tuning, &mut rng))
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
            // Every arm cut: each gets an equal share.
            let share = if open_arms == 0 {
                1.0 / n as f64
            } else {
                floor + (1.0 - n as f64 * floor) * earned
            };
            let c = gated[i].counts;
            ArmVerdict {
                variant: arms[i].variant.clone(),
                impressions: c.impressions,
                rewards: c.rewards,
                opt_outs: c.opt_outs,
                nps_answers: c.nps,
                nps_detractors: c.detractors.min(c.nps),
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
/// its share of NPS detractors, is above `guardrail_factor` × the other arms' pooled
/// rate with [`GUARDRAIL_CONFIDENCE`] posterior probability, and those opt-outs (or
/// answers) come from at least `min_sources` distinct sources.
fn guardrail(
    i: usize,
    gated: &[Trusted],
    tuning: &Tuning,
    rng: &mut rand::rngs::StdRng,
) -> Option<String> {
    let mut others = SourceCounts::default();
    for (j, t) in gated.iter().enumerate() {
        if j != i {
            others.add(&t.counts);
        }
    }
    let own = &gated[i].counts;
    let mut worse = |own_events: u64, own_trials: u64, their_events: u64, their_trials: u64| {
        if own_trials == 0 || their_trials == 0 {
            return None;
        }
        let (own_events, their_events) =
            (own_events.min(own_trials), their_events.min(their_trials));
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
    if gated[i].opt_out_sources >= tuning.min_sources {
        if let Some(p) = worse(
            own.opt_outs,
            own.impressions,
            others.opt_outs,
            others.impressions,
        ) {
            return Some(format!(
                "opt-outs: {} of {} impressions ({:.2} %) against {} of {} ({:.2} %) on the other arms; above {}× theirs with probability {:.3}",
                own.opt_outs,
                own.impressions,
                percent(own.opt_outs, own.impressions),
                others.opt_outs,
                others.impressions,
                percent(others.opt_outs, others.impressions),
                tuning.guardrail_factor,
                p
            ));
        }
    }
    if gated[i].nps_sources >= tuning.min_sources {
        if let Some(p) = worse(own.detractors, own.nps, others.detractors, others.nps) {
            return Some(format!(
                "NPS detractors: {} of {} answers ({:.1} %) against {} of {} ({:.1} %) on the other arms; above {}× theirs with probability {:.3}",
                own.detractors,
                own.nps,
                percent(own.detractors, own.nps),
                others.detractors,
                others.nps,
                percent(others.detractors, others.nps),
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
