//! Next-best channel: which of a person's channels reaches them best, by click-through
//! observed at three levels — the person, their segments, everyone — each shrunk toward
//! the broader one by empirical Bayes, so thin data counts for little and plenty of it
//! speaks for itself.
//!
//! Per channel, with impressions `n` and clicks `k` at a level and the broader level's
//! estimate `m`, the estimate is the beta-binomial posterior mean
//! `(k + s·m) / (n + s)`, where the prior strength `s` (in impressions) is fitted by the
//! method of moments across the groups of that level (segment sets, people) on the same
//! channel: `s = m(1−m)/τ² − 1`, with `τ²` the spread of true rates between groups
//! (observed weighted variance minus binomial noise). Too few groups to fit: a default.
//! Everyone's rate on a channel is itself shrunk toward the rate pooled over every
//! channel (so a channel nobody has data for ranks by that, not by a guess of 50 %).
//! Pure: no storage, no HTTP.

use serde::Serialize;

/// Impressions and clicks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Tally {
    pub impressions: i64,
    pub clicks: i64,
}

impl Tally {
    /// Counts `n` events of `kind` (`impression` or `click`; others are not tallied).
    pub fn add(&mut self, kind: &str, n: i64) {
        match kind {
            "impression" => self.impressions += n,
            "click" => self.clicks += n,
            _ => {}
        }
    }

    fn rate(self) -> Option<f64> {
        (self.impressions > 0)
            .then(|| self.clicks.clamp(0, self.impressions) as f64 / self.impressions as f64)
    }
}

/// Prior strength when too few groups show how much they differ.
pub const DEFAULT_STRENGTH: f64 = 100.0;
const MIN_STRENGTH: f64 = 5.0;
const MAX_STRENGTH: f64 = 100_000.0;
/// Groups needed to fit a prior strength.
const MIN_GROUPS: usize = 5;

/// The prior strength (impressions) that makes `groups` of one channel as spread out as
/// they are, around their pooled rate.
pub fn fitted_strength(groups: &[Tally]) -> f64 {
    let groups: Vec<Tally> = groups
        .iter()
        .copied()
        .filter(|g| g.impressions > 0)
        .collect();
    if groups.len() < MIN_GROUPS {
        return DEFAULT_STRENGTH;
    }
    let total: f64 = groups.iter().map(|g| g.impressions as f64).sum();
    let pooled = groups.iter().map(|g| g.clicks as f64).sum::<f64>() / total;
    if pooled <= 0.0 || pooled >= 1.0 {
        return DEFAULT_STRENGTH;
    }
    let observed = groups
        .iter()
        .map(|g| g.impressions as f64 * (g.rate().unwrap_or(0.0) - pooled).powi(2))
        .sum::<f64>()
        / total;
    // The part of that spread binomial noise alone would give.
    let noise = pooled * (1.0 - pooled) * groups.len() as f64 / total;
    let between = observed - noise;
    if between <= 0.0 {
        // No more spread than noise: the groups are alike, so lean on the broader level.
        return MAX_STRENGTH;
    }
    (pooled * (1.0 - pooled) / between - 1.0).clamp(MIN_STRENGTH, MAX_STRENGTH)
}

/// One channel's tallies at each level.
#[derive(Clone, Debug, Default)]
pub struct ChannelTallies {
    pub channel: String,
    pub person: Tally,
    pub segment: Tally,
    pub global: Tally,
}

/// Prior strengths per channel (from [`fitted_strength`]).
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct Strengths {
    /// Impressions a segment level needs to weigh as much as everyone's rate.
    pub segment: f64,
    /// Impressions a person needs to weigh as much as their segments' rate.
    pub person: f64,
}

/// A channel's place in the ranking, with the figures behind it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RankedChannel {
    pub channel: String,
    /// The estimated click-through for this person: what the ranking sorts by.
    pub score: f64,
    pub person: Tally,
    pub segment: Tally,
    pub global: Tally,
    /// The estimate at each level after shrinking (`all_channels`: the pooled rate every
    /// channel's is shrunk toward).
    pub all_channels: f64,
    pub global_estimate: f64,
    pub segment_estimate: f64,
    pub strengths: Strengths,
    /// Which level the estimate leans on most: `person`, `segment` or `global`.
    pub mostly_from: &'static str,
}

/// Shrinks `tally` toward `prior` with `strength` impressions of weight.
fn shrink(tally: Tally, prior: f64, strength: f64) -> f64 {
    (tally.clicks.clamp(0, tally.impressions) as f64 + strength * prior)
        / (tally.impressions.max(0) as f64 + strength)
}

/// Ranks `channels`, best first (ties by name, for a stable answer).
pub fn rank(channels: &[(ChannelTallies, Strengths)]) -> Vec<RankedChannel> {
    let globals: Vec<Tally> = channels.iter().map(|(t, _)| t.global).collect();
    // Every channel pooled, from a uniform prior (one click in two impressions).
    let pooled = Tally {
        impressions: globals.iter().map(|g| g.impressions.max(0)).sum(),
        clicks: globals.iter().map(|g| g.clicks.max(0)).sum(),
    };
    let all_channels = shrink(pooled, 0.5, 2.0);
    let across_channels = fitted_strength(&globals);
    let mut ranked: Vec<RankedChannel> = channels
        .iter()
        .map(|(t, strengths)| {
            let global_estimate = shrink(t.global, all_channels, across_channels);
            let segment_estimate = shrink(t.segment, global_estimate, strengths.segment);
            let score = shrink(t.person, segment_estimate, strengths.person);
            let person_weight =
                t.person.impressions as f64 / (t.person.impressions as f64 + strengths.person);
            let segment_weight = (1.0 - person_weight) * t.segment.impressions as f64
                / (t.segment.impressions as f64 + strengths.segment);
            let global_weight = 1.0 - person_weight - segment_weight;
            let mostly_from = if person_weight >= segment_weight && person_weight >= global_weight {
                "person"
            } else if segment_weight >= global_weight {
                "segment"
            } else {
                "global"
            };
            RankedChannel {
                channel: t.channel.clone(),
                score,
                person: t.person,
                segment: t.segment,
                global: t.global,
                all_channels,
                global_estimate,
                segment_estimate,
                strengths: *strengths,
                mostly_from,
            }
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.channel.cmp(&b.channel))
    });
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tally(impressions: i64, clicks: i64) -> Tally {
        Tally {
            impressions,
            clicks,
        }
    }

    fn strengths() -> Strengths {
        Strengths {
            segment: 200.0,
            person: 20.0,
        }
    }

    fn channel(
        name: &str,
        person: Tally,
        segment: Tally,
        global: Tally,
    ) -> (ChannelTallies, Strengths) {
        (
            ChannelTallies {
                channel: name.into(),
                person,
                segment,
                global,
            },
            strengths(),
        )
    }

    #[test]
    fn with_no_personal_data_the_segment_and_then_everyone_decide() {
        let ranked = rank(&[
            channel("email", tally(0, 0), tally(0, 0), tally(100_000, 2_000)),
            channel("push", tally(0, 0), tally(0, 0), tally(100_000, 5_000)),
        ]);
        assert_eq!(ranked[0].channel, "push");
        assert_eq!(ranked[0].mostly_from, "global");
        assert!((ranked[0].score - 0.05).abs() < 0.001);
        // A channel nobody has data for ranks by the pooled rate, not above the others.
        let ranked = rank(&[
            channel("email", tally(0, 0), tally(0, 0), tally(100_000, 2_000)),
            channel("push", tally(0, 0), tally(0, 0), tally(100_000, 5_000)),
            channel("chat", tally(0, 0), tally(0, 0), tally(0, 0)),
        ]);
        let order: Vec<&str> = ranked.iter().map(|r| r.channel.as_str()).collect();
        assert_eq!(order, ["push", "chat", "email"]);
        assert!(
            (ranked[1].score - 0.035).abs() < 0.001,
            "{}",
            ranked[1].score
        );
        // A segment that clearly prefers email turns it around.
        let ranked = rank(&[
            channel(
                "email",
                tally(0, 0),
                tally(5_000, 600),
                tally(100_000, 2_000),
            ),
            channel(
                "push",
                tally(0, 0),
                tally(5_000, 100),
                tally(100_000, 5_000),
            ),
        ]);
        assert_eq!(ranked[0].channel, "email");
        assert_eq!(ranked[0].mostly_from, "segment");
    }

    #[test]
    fn a_few_personal_clicks_move_the_estimate_only_a_little_and_many_decide() {
        let global = tally(100_000, 5_000);
        let thin = rank(&[channel("sms", tally(2, 2), tally(0, 0), global)]);
        // Two clicks in two impressions is not a 100 % click-through.
        assert!(thin[0].score < 0.2, "{}", thin[0].score);
        assert_eq!(thin[0].mostly_from, "global");
        let plenty = rank(&[channel("sms", tally(2_000, 600), tally(0, 0), global)]);
        assert!((plenty[0].score - 0.3).abs() < 0.01, "{}", plenty[0].score);
        assert_eq!(plenty[0].mostly_from, "person");
    }

    #[test]
    fn the_prior_strength_follows_how_much_groups_really_differ() {
        // Groups all at 5 %: spread is noise, lean on the broader level.
        let alike: Vec<Tally> = (0..20).map(|_| tally(1_000, 50)).collect();
        assert_eq!(fitted_strength(&alike), MAX_STRENGTH);
        // Groups from 1 % to 20 %: they differ, a group's own data counts early.
        let apart: Vec<Tally> = (0..20).map(|i| tally(1_000, 10 + i * 10)).collect();
        let s = fitted_strength(&apart);
        assert!((5.0..100.0).contains(&s), "{s}");
        // Too few groups: the default.
        assert_eq!(fitted_strength(&apart[..3]), DEFAULT_STRENGTH);
    }

    proptest! {
        /// The estimate always lies between the person's own rate and the level it is
        /// shrunk toward, and more of the same evidence moves it toward the person's rate.
        #[test]
        fn shrinking_stays_between_the_levels(n in 1i64..10_000, k_frac in 0.0f64..1.0, prior in 0.001f64..0.999, strength in 1.0f64..10_000.0) {
            let k = (n as f64 * k_frac) as i64;
            let own = k as f64 / n as f64;
            let estimate = shrink(tally(n, k), prior, strength);
            let (lo, hi) = if own < prior { (own, prior) } else { (prior, own) };
            prop_assert!(estimate >= lo - 1e-12 && estimate <= hi + 1e-12);
            let more = shrink(tally(n * 10, k * 10), prior, strength);
            prop_assert!((more - own).abs() <= (estimate - own).abs() + 1e-12);
        }
    }
}
