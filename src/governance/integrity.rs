//! Checks that engagement is sound before governance acts on it. Pure functions, no
//! storage: the evaluator feeds them rollups.
//!
//! - **Diversity gate.** A verdict is only as good as the spread of who produced its
//!   evidence. For each policy metric, the events that can push a target *toward*
//!   failure (impressions for a rate where higher is better, opt-outs for the opt-out
//!   rate, the answers for CSAT/NPS/CES) must come from at least `min_sources` distinct
//!   sources with none above `max_source_share` of them; otherwise the target's verdict
//!   is `unreliable`. A peer that sets a relative threshold must pass the same gate on
//!   the events that make it look *better* (clicks, conversions; impressions for the
//!   opt-out rate), or it is no peer: inflating one variant's clicks cannot raise the
//!   bar its siblings are judged against.
//! - **Sample-ratio mismatch.** Variants that split traffic by weight must receive
//!   impressions in proportion to their weights; a Pearson chi-square test at
//!   [`SRM_SIGNIFICANCE`] says when they do not.
//! - **Volume jumps.** A target whose busiest day in the window exceeds
//!   [`JUMP_MULTIPLE`] × its median day had something unusual happen to it.

use std::collections::HashMap;

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::policy::Metric;

pub use crate::engagement::EvidenceKind;

/// The source judged events without a recorded source are counted under (events stored
/// before provenance existed): one source, so they can never carry a verdict alone.
pub const UNATTRIBUTED: &str = "unattributed";

/// The events that can make a target look worse, and those that can make it look
/// better, under a metric.
pub fn sides(metric: Metric) -> (&'static [EvidenceKind], &'static [EvidenceKind]) {
    use EvidenceKind::*;
    match metric {
        Metric::EngagementRate => (&[Impression], &[View, Click, Share, Conversion]),
        Metric::ClickThrough => (&[Impression], &[Click]),
        Metric::ConversionRate | Metric::RevenuePerImpression => (&[Impression], &[Conversion]),
        Metric::OptOutRate => (&[OptOut], &[Impression]),
        Metric::Csat => (&[Csat], &[Csat]),
        Metric::Nps => (&[Nps], &[Nps]),
        Metric::Ces => (&[Ces], &[Ces]),
    }
}

/// One target's judged events over a window, per source and kind.
#[derive(Clone, Debug, Default)]
pub struct SourceEvidence {
    per_source: HashMap<String, [i64; 11]>,
}

impl SourceEvidence {
    pub fn add(&mut self, source: &str, kind: EvidenceKind, events: i64) {
        let slot = EvidenceKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default();
        match self.per_source.get_mut(source) {
            Some(counts) => counts[slot] += events,
            None => {
                let mut counts = [0; 11];
                counts[slot] = events;
                self.per_source.insert(source.to_string(), counts);
            }
        }
    }

    /// How spread the events of `kinds` are over sources.
    pub fn diversity(&self, kinds: &[EvidenceKind]) -> Diversity {
        let slots: Vec<usize> = EvidenceKind::ALL
            .iter()
            .enumerate()
            .filter(|(_, k)| kinds.contains(k))
            .map(|(i, _)| i)
            .collect();
        let mut diversity = Diversity::default();
        let mut top = 0i64;
        for counts in self.per_source.values() {
            let n: i64 = slots.iter().map(|&i| counts[i].max(0)).sum();
            if n > 0 {
                diversity.sources += 1;
                diversity.events += n as u64;
                top = top.max(n);
            }
        }
        diversity.top_source_share = if diversity.events == 0 {
            0.0
        } else {
            top as f64 / diversity.events as f64
        };
        diversity
    }

    /// Diversity over every judged kind (for reports).
    pub fn overall(&self) -> Diversity {
        self.diversity(&EvidenceKind::ALL)
    }

    /// Events of `kind` over all sources.
    pub fn total(&self, kind: EvidenceKind) -> i64 {
        let slot = EvidenceKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default();
        self.per_source.values().map(|c| c[slot]).sum()
    }

    /// Counts what the rollups hold beyond what sources account for (events from
    /// before provenance) under [`UNATTRIBUTED`], so old evidence is one source.
    pub fn attribute_rest(&mut self, counts: &crate::engagement::Counts) {
        for kind in EvidenceKind::ALL {
            let rest = counts.of(kind) - self.total(kind);
            if rest > 0 {
                self.add(UNATTRIBUTED, kind, rest);
            }
        }
    }
}

/// How many sources produced a set of events, and the largest one's share.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Diversity {
    pub sources: u64,
    pub events: u64,
    /// The busiest source's share of `events`, 0–1.
    pub top_source_share: f64,
}

impl Diversity {
    /// `Err(reason)` when these events are too concentrated to act on. No events at all
    /// pass: nothing pushed the verdict that way.
    pub fn gate(&self, min_sources: u64, max_source_share: f64) -> Result<(), String> {
        if self.events == 0 {
            return Ok(());
        }
        if self.sources < min_sources {
            return Err(format!(
                "{} events from {} distinct sources, fewer than min_sources ({min_sources})",
                self.events, self.sources
            ));
        }
        if self.top_source_share > max_source_share {
            return Err(format!(
                "one source sent {:.1} % of {} events, more than max_source_share ({:.1} %)",
                self.top_source_share * 100.0,
                self.events,
                max_source_share * 100.0
            ));
        }
        Ok(())
    }
}

/// Significance of the sample-ratio-mismatch test: a mismatch is declared when a split
/// this far from its weights would happen by chance less than once in a thousand.
pub const SRM_SIGNIFICANCE: f64 = 0.001;
/// Fewest impressions expected in each arm before the test is run (the chi-square
/// approximation needs them, and a young split is not judged).
pub const SRM_MIN_EXPECTED: f64 = 20.0;

/// The result of a sample-ratio test over variants splitting traffic by weight.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SampleRatio {
    pub placement: String,
    /// (variant, weight, impressions), in the order tested.
    #[schema(value_type = Vec<Object>)]
    pub arms: Vec<(String, u32, u64)>,
    pub chi_square: f64,
    pub degrees_of_freedom: u32,
    pub p_value: f64,
    pub significance: f64,
    pub mismatch: bool,
}

/// Pearson's chi-square test of impressions against weights; `None` when there is no
/// split to test (fewer than two arms with weight) or too little traffic yet.
pub fn sample_ratio(placement: &str, arms: &[(String, u32, u64)]) -> Option<SampleRatio> {
    let weighted: Vec<&(String, u32, u64)> = arms.iter().filter(|(_, w, _)| *w > 0).collect();
    if weighted.len() < 2 {
        return None;
    }
    let total_weight: f64 = weighted.iter().map(|(_, w, _)| f64::from(*w)).sum();
    let total: f64 = weighted.iter().map(|(_, _, n)| *n as f64).sum();
    let expected: Vec<f64> = weighted
        .iter()
        .map(|(_, w, _)| total * f64::from(*w) / total_weight)
        .collect();
    if expected.iter().any(|e| *e < SRM_MIN_EXPECTED) {
        return None;
    }
    let chi_square: f64 = weighted
        .iter()
        .zip(&expected)
        .map(|((_, _, n), e)| (*n as f64 - e).powi(2) / e)
        .sum();
    let degrees_of_freedom = (weighted.len() - 1) as u32;
    let p_value = ChiSquared::new(f64::from(degrees_of_freedom))
        .map(|d| d.sf(chi_square))
        .unwrap_or(1.0);
    Some(SampleRatio {
        placement: placement.to_string(),
        arms: weighted.into_iter().cloned().collect(),
        chi_square,
        degrees_of_freedom,
        p_value,
        significance: SRM_SIGNIFICANCE,
        mismatch: p_value < SRM_SIGNIFICANCE,
    })
}

/// A busiest day above this multiple of the median day is a jump.
pub const JUMP_MULTIPLE: f64 = 5.0;
/// Days with traffic needed before a median means anything.
pub const JUMP_MIN_DAYS: usize = 3;

/// A jump in a target's judged daily volume.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VolumeJump {
    pub busiest_day: String,
    pub busiest_volume: i64,
    pub median_volume: f64,
    pub multiple: f64,
}

/// Looks for a jump: `days` are (day, judged events) for the policy window and the
/// fortnight before it; `window_start` is the window's first day. `None` when there is
/// no jump, or fewer than [`JUMP_MIN_DAYS`] days with traffic to compare with (a new
/// target has no baseline; the diversity gate still applies to it).
pub fn volume_jump(
    days: &[(chrono::NaiveDate, i64)],
    window_start: chrono::NaiveDate,
) -> Option<VolumeJump> {
    let mut volumes: Vec<f64> = days
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(_, n)| *n as f64)
        .collect();
    if volumes.len() < JUMP_MIN_DAYS {
        return None;
    }
    volumes.sort_by(f64::total_cmp);
    let median = super::stats::median(&volumes)?;
    let (day, busiest) = days
        .iter()
        .filter(|(d, _)| *d >= window_start)
        .max_by_key(|(_, n)| *n)?;
    (*busiest as f64 > JUMP_MULTIPLE * median).then(|| VolumeJump {
        busiest_day: day.to_string(),
        busiest_volume: *busiest,
        median_volume: median,
        multiple: JUMP_MULTIPLE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn evidence(rows: &[(&str, EvidenceKind, i64)]) -> SourceEvidence {
        let mut e = SourceEvidence::default();
        for (source, kind, n) in rows {
            e.add(source, *kind, *n);
        }
        e
    }

    #[test]
    fn one_source_or_a_few_cannot_pass_the_gate() {
        use EvidenceKind::*;
        // The forged flood: 200 opt-outs from one network.
        let flood = evidence(&[("net:a", OptOut, 200), ("net:a", Impression, 1800)]);
        let d = flood.diversity(&[OptOut]);
        assert_eq!((d.sources, d.events), (1, 200));
        assert!(d.gate(50, 0.05).unwrap_err().contains("min_sources"));
        // Spread over 40 networks: still too few.
        let mut spread = SourceEvidence::default();
        for i in 0..40 {
            spread.add(&format!("net:{i}"), OptOut, 5);
        }
        assert!(spread.diversity(&[OptOut]).gate(50, 0.05).is_err());
        // 200 networks, one of them loud: the share catches it.
        let mut loud = SourceEvidence::default();
        for i in 0..200 {
            loud.add(&format!("net:{i}"), OptOut, 2);
        }
        loud.add("net:0", OptOut, 100);
        let d = loud.diversity(&[OptOut]);
        assert!(
            d.gate(50, 0.05).unwrap_err().contains("max_source_share"),
            "{d:?}"
        );
        // Genuine spread passes; nothing at all passes too (nothing pushed that way).
        let mut genuine = SourceEvidence::default();
        for i in 0..200 {
            genuine.add(&format!("net:{i}"), OptOut, 2);
        }
        assert!(genuine.diversity(&[OptOut]).gate(50, 0.05).is_ok());
        assert!(genuine.diversity(&[Click]).gate(50, 0.05).is_ok());
    }

    #[test]
    fn events_without_a_source_are_one_source() {
        let mut e = evidence(&[("net:a", EvidenceKind::OptOut, 10)]);
        let counts = crate::engagement::Counts {
            opt_outs: 210,
            impressions: 5000,
            ..Default::default()
        };
        e.attribute_rest(&counts);
        let d = e.diversity(&[EvidenceKind::OptOut]);
        assert_eq!((d.sources, d.events), (2, 210));
        assert!((d.top_source_share - 200.0 / 210.0).abs() < 1e-12);
        assert_eq!(e.total(EvidenceKind::Impression), 5000);
    }

    #[test]
    fn sides_read_the_events_that_push_each_way() {
        assert_eq!(sides(Metric::OptOutRate).0, &[EvidenceKind::OptOut]);
        assert_eq!(sides(Metric::ClickThrough).0, &[EvidenceKind::Impression]);
        assert_eq!(sides(Metric::ClickThrough).1, &[EvidenceKind::Click]);
    }

    #[test]
    fn a_split_that_follows_its_weights_passes_and_a_skewed_one_does_not() {
        let arms = |a: u64, b: u64| vec![("a".to_string(), 70, a), ("b".to_string(), 30, b)];
        let fair = sample_ratio("p", &arms(7030, 2970)).unwrap();
        assert!(!fair.mismatch && fair.p_value > 0.3, "{fair:?}");
        // One variant logged twice.
        let doubled = sample_ratio("p", &arms(7000, 6000)).unwrap();
        assert!(doubled.mismatch && doubled.p_value < 1e-9, "{doubled:?}");
        // chi² for 60/40 against 50/50 over 1000 is 40 (scipy: chisquare([600, 400]) =
        // 40.0, p = 2.54e-10).
        let even =
            sample_ratio("p", &[("a".to_string(), 1, 600), ("b".to_string(), 1, 400)]).unwrap();
        assert!((even.chi_square - 40.0).abs() < 1e-9);
        assert!(
            (even.p_value - 2.5396e-10).abs() < 1e-13,
            "{}",
            even.p_value
        );
        // Too little traffic, or no split: no test.
        assert!(sample_ratio("p", &arms(30, 10)).is_none());
        assert!(sample_ratio("p", &[("a".to_string(), 1, 5000)]).is_none());
    }

    #[test]
    fn a_flood_day_is_a_jump_and_a_young_target_has_no_baseline() {
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let mut days: Vec<_> = (1..=20).map(|d| (day(d), 100)).collect();
        assert!(volume_jump(&days, day(7)).is_none());
        days.push((day(21), 2000));
        let jump = volume_jump(&days, day(7)).unwrap();
        assert_eq!((jump.busiest_volume, jump.median_volume), (2000, 100.0));
        assert!(volume_jump(&[(day(1), 10), (day(2), 5000)], day(1)).is_none());
    }

    proptest! {
        /// Impressions exactly in proportion to the weights never mismatch, and the
        /// p-value is a probability.
        #[test]
        fn proportional_splits_never_mismatch(weights in proptest::collection::vec(1u32..100, 2..6), scale in 10u64..1000) {
            let arms: Vec<(String, u32, u64)> = weights
                .iter()
                .enumerate()
                .map(|(i, w)| (format!("v{i}"), *w, u64::from(*w) * scale))
                .collect();
            if let Some(result) = sample_ratio("p", &arms) {
                prop_assert!(!result.mismatch);
                prop_assert!((0.0..=1.0).contains(&result.p_value));
                prop_assert!(result.chi_square.abs() < 1e-6);
            }
        }

        /// Diversity counts each source once and the top share is a share.
        #[test]
        fn diversity_is_a_share(counts in proptest::collection::vec(0i64..50, 1..40)) {
            let mut e = SourceEvidence::default();
            for (i, n) in counts.iter().enumerate() {
                e.add(&format!("s{i}"), EvidenceKind::Click, *n);
            }
            let d = e.diversity(&[EvidenceKind::Click]);
            prop_assert_eq!(d.sources as usize, counts.iter().filter(|n| **n > 0).count());
            prop_assert_eq!(d.events as i64, counts.iter().sum::<i64>());
            prop_assert!((0.0..=1.0).contains(&d.top_source_share));
        }
    }
}
