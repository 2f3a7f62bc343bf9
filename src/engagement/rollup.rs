//! Rolling events up: the daily rollup's key ([`RollupKey`]) and increments
//! ([`Rollup`], counted by [`super::counts`]), the evidence kinds governance reads
//! ([`EvidenceKind`]) and the per-source, per-arrival-day and per-traffic-class counts,
//! and the velocity histogram's buckets.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::counts::{Counter, Counts};
use super::event::{EventKind, FeedbackKind, NewEvent};
use super::provenance::TrafficClass;

/// The grouping of the daily rollup.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    pub day: NaiveDate,
    pub placement: String,
    pub variant: String,
    pub channel: String,
    pub device: String,
    pub locale: String,
}

impl RollupKey {
    pub fn of(event: &NewEvent) -> RollupKey {
        let d = &event.decision;
        RollupKey {
            day: event.occurred_at.date_naive(),
            placement: d.placement.clone(),
            variant: d.variant.clone(),
            channel: d.channel.clone(),
            device: d.device.clone(),
            locale: d.locale.clone(),
        }
    }
}

/// Rollup increments for a set of newly stored events.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rollup {
    pub daily: HashMap<RollupKey, Counts>,
    /// (key, currency) → (conversions, amount in minor units)
    pub revenue: HashMap<(RollupKey, String), (i64, i64)>,
}

/// The judged rollups of newly stored events: bot traffic is left out (it is counted in
/// [`traffic_counts`] and never judged).
pub fn rollup<'a>(events: impl IntoIterator<Item = &'a NewEvent>) -> Rollup {
    let mut rollup = Rollup::default();
    for event in events.into_iter().filter(|e| e.traffic.is_judged()) {
        let key = RollupKey::of(event);
        if let Some(revenue) = &event.revenue {
            let entry = rollup
                .revenue
                .entry((key.clone(), revenue.currency.clone()))
                .or_default();
            entry.0 += 1;
            entry.1 = entry.1.saturating_add(revenue.minor);
        }
        rollup.daily.entry(key).or_default().add(event);
    }
    rollup
}

/// What an event contributes as evidence, as governance reads it: its kind, with
/// feedback split by survey (`csat`, `nps`, `ces`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EvidenceKind {
    Impression,
    View,
    Click,
    Conversion,
    Dismiss,
    OptIn,
    OptOut,
    Share,
    Csat,
    Nps,
    Ces,
}

impl EvidenceKind {
    pub const ALL: [EvidenceKind; 11] = [
        EvidenceKind::Impression,
        EvidenceKind::View,
        EvidenceKind::Click,
        EvidenceKind::Conversion,
        EvidenceKind::Dismiss,
        EvidenceKind::OptIn,
        EvidenceKind::OptOut,
        EvidenceKind::Share,
        EvidenceKind::Csat,
        EvidenceKind::Nps,
        EvidenceKind::Ces,
    ];

    /// The event's evidence kind; `None` for feedback without an answer (which
    /// validation never lets through, and the rollups would not count either).
    pub fn of(event: &NewEvent) -> Option<EvidenceKind> {
        Some(match (event.kind, &event.feedback) {
            (EventKind::Feedback, Some(f)) => match f.kind {
                FeedbackKind::Csat => EvidenceKind::Csat,
                FeedbackKind::Nps => EvidenceKind::Nps,
                FeedbackKind::Ces => EvidenceKind::Ces,
            },
            (EventKind::Impression, _) => EvidenceKind::Impression,
            (EventKind::View, _) => EvidenceKind::View,
            (EventKind::Click, _) => EvidenceKind::Click,
            (EventKind::Conversion, _) => EvidenceKind::Conversion,
            (EventKind::Dismiss, _) => EvidenceKind::Dismiss,
            (EventKind::OptIn, _) => EvidenceKind::OptIn,
            (EventKind::OptOut, _) => EvidenceKind::OptOut,
            (EventKind::Share, _) => EvidenceKind::Share,
            (EventKind::Feedback, None) => return None,
        })
    }

    /// As stored in `source_daily.kind` and `arrivals_daily.kind`: the event kind's
    /// name, or the survey's.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Impression => EventKind::Impression.as_str(),
            EvidenceKind::View => EventKind::View.as_str(),
            EvidenceKind::Click => EventKind::Click.as_str(),
            EvidenceKind::Conversion => EventKind::Conversion.as_str(),
            EvidenceKind::Dismiss => EventKind::Dismiss.as_str(),
            EvidenceKind::OptIn => EventKind::OptIn.as_str(),
            EvidenceKind::OptOut => EventKind::OptOut.as_str(),
            EvidenceKind::Share => EventKind::Share.as_str(),
            EvidenceKind::Csat => FeedbackKind::Csat.as_str(),
            EvidenceKind::Nps => FeedbackKind::Nps.as_str(),
            EvidenceKind::Ces => FeedbackKind::Ces.as_str(),
        }
    }

    pub fn parse(value: &str) -> Option<EvidenceKind> {
        EvidenceKind::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// The counter that counts this kind of evidence (events, or a survey's answers).
    pub fn counter(self) -> Counter {
        match self {
            EvidenceKind::Impression => Counter::Impressions,
            EvidenceKind::View => Counter::Views,
            EvidenceKind::Click => Counter::Clicks,
            EvidenceKind::Conversion => Counter::Conversions,
            EvidenceKind::Dismiss => Counter::Dismissals,
            EvidenceKind::OptIn => Counter::OptIns,
            EvidenceKind::OptOut => Counter::OptOuts,
            EvidenceKind::Share => Counter::Shares,
            EvidenceKind::Csat => Counter::CsatCount,
            EvidenceKind::Nps => Counter::NpsCount,
            EvidenceKind::Ces => Counter::CesCount,
        }
    }
}

impl Counts {
    /// How many events of `kind` these counts hold.
    pub fn of(&self, kind: EvidenceKind) -> i64 {
        kind.counter().get(self)
    }

    /// Judged events these counts hold (feedback answers counted once each).
    pub fn events(&self) -> i64 {
        EvidenceKind::ALL.into_iter().map(|k| self.of(k)).sum()
    }
}

/// Beside the evidence kinds, `source_daily` counts each source's NPS detractors
/// (scores 0–6) under this kind, so adaptive allocation can take a discounted
/// source's detractors out with its answers. Governance reads only evidence kinds.
pub const NPS_DETRACTOR_KIND: &str = "nps_detractor";

/// Per-source increments of judged events: (day key, source, evidence kind) → count,
/// and NPS detractors under [`NPS_DETRACTOR_KIND`].
pub fn source_counts<'a>(
    events: impl IntoIterator<Item = &'a NewEvent>,
) -> HashMap<(RollupKey, String, &'static str), i64> {
    let mut counts = HashMap::new();
    for event in events.into_iter().filter(|e| e.traffic.is_judged()) {
        if let Some(kind) = EvidenceKind::of(event) {
            *counts
                .entry((RollupKey::of(event), event.source.clone(), kind.as_str()))
                .or_default() += 1;
            let detractor =
                kind == EvidenceKind::Nps && event.feedback.as_ref().is_some_and(|f| f.score <= 6);
            if detractor {
                *counts
                    .entry((
                        RollupKey::of(event),
                        event.source.clone(),
                        NPS_DETRACTOR_KIND,
                    ))
                    .or_default() += 1;
            }
        }
    }
    counts
}

/// Judged events by the day they arrived: (key with the arrival day, evidence kind) →
/// count.
pub fn arrival_counts<'a>(
    events: impl IntoIterator<Item = &'a NewEvent>,
    arrived: NaiveDate,
) -> HashMap<(RollupKey, &'static str), i64> {
    let mut counts = HashMap::new();
    for event in events.into_iter().filter(|e| e.traffic.is_judged()) {
        let key = RollupKey {
            day: arrived,
            ..RollupKey::of(event)
        };
        if let Some(kind) = EvidenceKind::of(event) {
            *counts.entry((key, kind.as_str())).or_default() += 1;
        }
    }
    counts
}

/// Events per traffic class: (day key, class) → count, bots included.
pub fn traffic_counts<'a>(
    events: impl IntoIterator<Item = &'a NewEvent>,
) -> HashMap<(RollupKey, TrafficClass), i64> {
    let mut counts = HashMap::new();
    for event in events {
        *counts
            .entry((RollupKey::of(event), event.traffic))
            .or_default() += 1;
    }
    counts
}

/// Velocity histogram bucket of a delay: bucket `b` holds `[2^b − 1, 2^(b+1) − 1)`
/// seconds, so one second and one month both fit in 23 small rows per group.
pub fn velocity_bucket(seconds: i64) -> i16 {
    let seconds = seconds.max(0) as u64;
    (u64::BITS - (seconds + 1).leading_zeros() - 1) as i16
}

/// The `q`-quantile (0–1) of a velocity histogram, in seconds, interpolated linearly
/// inside the bucket it falls in. `None` for an empty histogram.
pub fn velocity_quantile(histogram: &[(i16, i64)], q: f64) -> Option<f64> {
    let total: i64 = histogram.iter().map(|(_, c)| *c).sum();
    if total == 0 {
        return None;
    }
    let mut sorted: Vec<(i16, i64)> = histogram.to_vec();
    sorted.sort();
    let target = q.clamp(0.0, 1.0) * total as f64;
    let mut seen = 0f64;
    for (bucket, count) in &sorted {
        let next = seen + *count as f64;
        if next >= target && *count > 0 {
            let low = (1u64 << *bucket) as f64 - 1.0;
            let high = (1u64 << (*bucket + 1)) as f64 - 1.0;
            let within = ((target - seen) / *count as f64).clamp(0.0, 1.0);
            return Some(low + within * (high - low));
        }
        seen = next;
    }
    sorted.last().map(|(b, _)| (1u64 << (*b + 1)) as f64 - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engagement::counts::Measure;
    use crate::engagement::wire::tests::{parse, parse_with, signer, token};

    #[test]
    fn each_evidence_kind_has_the_counter_that_counts_it() {
        for kind in EvidenceKind::ALL {
            let counted = match kind.counter().measure() {
                Measure::Events(event) => event.as_str(),
                Measure::Answers(survey) => survey.as_str(),
                other => panic!("{kind:?} is counted by {other:?}"),
            };
            assert_eq!(counted, kind.as_str());
        }
    }

    #[test]
    fn bots_are_stored_with_their_source_but_never_rolled_up() {
        let t = token(&signer());
        let human =
            parse(serde_json::json!({"event_id": "1", "type": "click", "tracking_token": t}))
                .unwrap();
        let bot = parse_with(
            serde_json::json!({"event_id": "2", "type": "click", "tracking_token": t}),
            TrafficClass::Bot,
        )
        .unwrap();
        assert_eq!(human.source, "net:test");
        assert_eq!(bot.traffic, TrafficClass::Bot);
        let rolled = rollup([&human, &bot]);
        assert_eq!(rolled.daily.values().map(|c| c.clicks).sum::<i64>(), 1);
        assert_eq!(source_counts([&human, &bot]).values().sum::<i64>(), 1);
        assert_eq!(traffic_counts([&human, &bot]).len(), 2);
    }

    #[test]
    fn rollups_count_each_kind_and_score() {
        let t = token(&signer());
        let events: Vec<NewEvent> = [
            serde_json::json!({"event_id": "1", "type": "impression", "tracking_token": t}),
            serde_json::json!({"event_id": "2", "type": "click", "tracking_token": t}),
            serde_json::json!({"event_id": "3", "type": "conversion", "tracking_token": t, "revenue": {"amount": "10", "currency": "EUR"}}),
            serde_json::json!({"event_id": "4", "type": "conversion", "tracking_token": t, "revenue": {"amount": "2.50", "currency": "EUR"}}),
            serde_json::json!({"event_id": "5", "type": "feedback", "tracking_token": t, "feedback": {"kind": "nps", "score": 10}}),
            serde_json::json!({"event_id": "6", "type": "feedback", "tracking_token": t, "feedback": {"kind": "nps", "score": 3}}),
            serde_json::json!({"event_id": "7", "type": "feedback", "tracking_token": t, "feedback": {"kind": "csat", "score": 4}}),
        ]
        .into_iter()
        .map(|e| parse(e).unwrap())
        .collect();
        let rollup = rollup(&events);
        assert_eq!(rollup.daily.len(), 1);
        let counts = rollup.daily.values().next().unwrap();
        assert_eq!(
            (counts.impressions, counts.clicks, counts.conversions),
            (1, 1, 2)
        );
        assert_eq!(
            (
                counts.nps_count,
                counts.nps_sum,
                counts.nps_promoters,
                counts.nps_detractors
            ),
            (2, 13, 1, 1)
        );
        assert_eq!((counts.csat_count, counts.csat_sum), (1, 4));
        assert_eq!(rollup.revenue.values().next(), Some(&(2, 1250)));
    }

    #[test]
    fn velocity_buckets_and_quantiles() {
        assert_eq!(velocity_bucket(0), 0);
        assert_eq!(velocity_bucket(1), 1);
        assert_eq!(velocity_bucket(2), 1);
        assert_eq!(velocity_bucket(3), 2);
        assert_eq!(velocity_bucket(86_400), 16);
        // 10 delays of ~1–2 s and 10 of ~1–2 h: the median sits at the top of the first
        // group, p90 inside the second.
        let histogram = [(velocity_bucket(2), 10), (velocity_bucket(5000), 10)];
        let median = velocity_quantile(&histogram, 0.5).unwrap();
        assert!((1.0..=3.0).contains(&median), "{median}");
        let p90 = velocity_quantile(&histogram, 0.9).unwrap();
        assert!((4095.0..=8191.0).contains(&p90), "{p90}");
        assert_eq!(velocity_quantile(&[], 0.5), None);
    }
}
