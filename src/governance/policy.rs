//! Retirement policies (`content/governance.toml`, or the API) and their checks.

use serde::{Deserialize, Serialize};

use super::stats::Direction;

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Channel,
    Variant,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Channel => "channel",
            Scope::Variant => "variant",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// (views + clicks + shares + conversions) / impressions, capped at 1.
    EngagementRate,
    /// clicks / impressions.
    ClickThrough,
    /// conversions / impressions.
    ConversionRate,
    /// revenue (in the policy's currency) / impressions.
    RevenuePerImpression,
    /// opt-outs / impressions; higher is worse.
    OptOutRate,
    /// CSAT mean, 1–5.
    Csat,
    /// NPS, promoters − detractors, in points.
    Nps,
    /// CES mean, 1–7 (effort; higher is worse).
    Ces,
}

impl Metric {
    pub fn direction(self) -> Direction {
        match self {
            Metric::OptOutRate | Metric::Ces => Direction::LowerIsBetter,
            _ => Direction::HigherIsBetter,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::EngagementRate => "engagement_rate",
            Metric::ClickThrough => "click_through",
            Metric::ConversionRate => "conversion_rate",
            Metric::RevenuePerImpression => "revenue_per_impression",
            Metric::OptOutRate => "opt_out_rate",
            Metric::Csat => "csat",
            Metric::Nps => "nps",
            Metric::Ces => "ces",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    Best,
    Median,
}

/// An absolute value, or a factor of the best or median peer (channels are each other's
/// peers; a variant's peers are the variants of its placement).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum Threshold {
    Absolute { absolute: f64 },
    Relative { relative_to: Peer, factor: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Act at once: the channel or variant is retired.
    Auto,
    /// Propose: a reviewer and then a different approver decide.
    Propose,
}

fn default_confidence() -> f64 {
    0.95
}
fn default_consecutive() -> u32 {
    2
}
fn default_window() -> u32 {
    28
}
/// Distinct sources the evidence of an action must come from, by default.
pub const DEFAULT_MIN_SOURCES: u64 = 50;
/// Largest share of a target's evidence one source may have, by default.
pub const DEFAULT_MAX_SOURCE_SHARE: f64 = 0.05;
fn default_min_sources() -> u64 {
    DEFAULT_MIN_SOURCES
}
fn default_max_source_share() -> f64 {
    DEFAULT_MAX_SOURCE_SHARE
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDef {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub scope: Scope,
    pub metric: Metric,
    pub threshold: Threshold,
    /// Rolling window, in days.
    #[serde(default = "default_window")]
    pub window_days: u32,
    /// Fewer observations (impressions; feedback answers for CSAT/NPS/CES) means no action.
    pub min_sample: u64,
    /// Two-sided confidence of the interval; `1 - confidence` is the false discovery rate.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Failing evaluations (one per period) before acting; the first marks `at_risk`.
    #[serde(default = "default_consecutive")]
    pub consecutive_failures: u32,
    pub mode: Mode,
    /// Channel ids (channel scope) or variant ids (variant scope) never retired.
    #[serde(default)]
    pub protected: Vec<String>,
    /// For revenue per impression: the currency counted.
    #[serde(default)]
    pub currency: Option<String>,
    /// The evidence gate: the events that push a target toward failure must come from
    /// at least this many distinct sources (client networks or verified people)...
    #[serde(default = "default_min_sources")]
    pub min_sources: u64,
    /// ...and no one source may have sent more than this share of them (0–1).
    #[serde(default = "default_max_source_share")]
    pub max_source_share: f64,
}

/// What is wrong with policies tried together (a backtest's): none, an id given twice,
/// or the first problem of one of them; `None` when they can be replayed.
pub fn check_list(policies: &[PolicyDef], channel_ids: &[&str]) -> Option<String> {
    if policies.is_empty() {
        return Some("give at least one policy".into());
    }
    for (i, policy) in policies.iter().enumerate() {
        if policies[..i].iter().any(|p| p.id == policy.id) {
            return Some(format!("policy `{}` is given twice", policy.id));
        }
        if let Some((field, message)) = check(policy, channel_ids).into_iter().next() {
            return Some(format!("policy `{}`: {field} {message}", policy.id));
        }
    }
    None
}

/// Problems with a policy, as (field, message); empty when it is valid.
pub fn check(policy: &PolicyDef, channel_ids: &[&str]) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let valid_id = !policy.id.is_empty()
        && policy.id.len() <= 64
        && policy
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid_id {
        problems.push(("id", "must be 1-64 of [a-z0-9_-]".to_string()));
    }
    if !(1..=365).contains(&policy.window_days) {
        problems.push(("window_days", "must be between 1 and 365".into()));
    }
    if policy.min_sample == 0 {
        problems.push(("min_sample", "must be at least 1".into()));
    }
    if !(0.5..=0.999).contains(&policy.confidence) {
        problems.push(("confidence", "must be between 0.5 and 0.999".into()));
    }
    if !(1..=1_000_000).contains(&policy.min_sources) {
        problems.push(("min_sources", "must be between 1 and 1000000".into()));
    }
    if !(policy.max_source_share > 0.0 && policy.max_source_share <= 1.0) {
        problems.push(("max_source_share", "must be above 0 and at most 1".into()));
    }
    if !(1..=30).contains(&policy.consecutive_failures) {
        problems.push(("consecutive_failures", "must be between 1 and 30".into()));
    }
    match policy.threshold {
        Threshold::Absolute { absolute } if !absolute.is_finite() => {
            problems.push(("threshold", "must be a finite number".into()))
        }
        Threshold::Absolute { absolute } => {
            let rate = matches!(
                policy.metric,
                Metric::EngagementRate
                    | Metric::ClickThrough
                    | Metric::ConversionRate
                    | Metric::OptOutRate
            );
            let range = match policy.metric {
                Metric::Csat => Some((1.0, 5.0)),
                Metric::Ces => Some((1.0, 7.0)),
                Metric::Nps => Some((-100.0, 100.0)),
                _ if rate => Some((0.0, 1.0)),
                _ => None,
            };
            if let Some((low, high)) = range {
                if !(low..=high).contains(&absolute) {
                    problems.push((
                        "threshold",
                        format!("{} is between {low} and {high}", policy.metric.as_str()),
                    ));
                }
            } else if absolute < 0.0 {
                problems.push(("threshold", "must not be negative".into()));
            }
        }
        Threshold::Relative { factor, .. } => {
            // The peer value is itself an estimate, judged as if it were known: a margin
            // of at least 20 % keeps noise between equals from crossing the threshold.
            let ok = match policy.metric.direction() {
                Direction::HigherIsBetter => factor.is_finite() && factor > 0.0 && factor <= 0.8,
                Direction::LowerIsBetter => factor.is_finite() && (1.25..=10.0).contains(&factor),
            };
            if policy.metric == Metric::Nps {
                problems.push((
                    "threshold",
                    "NPS can be negative: give an absolute threshold".into(),
                ));
            } else if !ok {
                problems.push((
                    "threshold",
                    match policy.metric.direction() {
                        Direction::HigherIsBetter => {
                            "factor must be above 0 and at most 0.8 (a margin below the peer)"
                        }
                        Direction::LowerIsBetter => {
                            "factor must be between 1.25 and 10 (a margin above the peer)"
                        }
                    }
                    .into(),
                ));
            }
        }
    }
    if policy.metric == Metric::RevenuePerImpression {
        let ok = policy
            .currency
            .as_deref()
            .is_some_and(|c| iso_currency::Currency::from_code(c).is_some());
        if !ok {
            problems.push((
                "currency",
                "revenue_per_impression needs an ISO 4217 currency".into(),
            ));
        }
    }
    if policy.scope == Scope::Channel {
        for id in &policy.protected {
            if !channel_ids.contains(&id.as_str()) {
                problems.push(("protected", format!("unknown channel `{id}`")));
            }
        }
    }
    problems
}

/// What in a policy change makes governance act more readily *on its own*: a new or
/// changed policy in `auto` mode that retires sooner, on less evidence, or more of
/// what it judges. Such a change needs a second person's approval, like a retirement
/// proposal. Changes toward caution (and every `propose`-mode policy) apply at once.
pub fn escalations(previous: Option<&PolicyDef>, next: &PolicyDef) -> Vec<String> {
    if next.mode != Mode::Auto {
        return Vec::new();
    }
    let Some(old) = previous else {
        return vec!["a new policy that acts automatically (mode = \"auto\")".into()];
    };
    let mut found = Vec::new();
    if old.mode != Mode::Auto {
        found.push("switches to automatic action (mode = \"auto\")".into());
    }
    if old.scope != next.scope || old.metric != next.metric || old.currency != next.currency {
        found.push("judges another scope, metric or currency".into());
    }
    if stricter(old, next) {
        found.push("a stricter threshold".into());
    }
    let mut weaker = |cond: bool, what: &str| {
        if cond {
            found.push(what.to_string());
        }
    };
    weaker(next.min_sample < old.min_sample, "a lower min_sample");
    weaker(next.confidence < old.confidence, "a lower confidence");
    weaker(
        next.consecutive_failures < old.consecutive_failures,
        "fewer consecutive_failures",
    );
    weaker(next.window_days < old.window_days, "a shorter window");
    weaker(next.min_sources < old.min_sources, "a lower min_sources");
    weaker(
        next.max_source_share > old.max_source_share,
        "a higher max_source_share",
    );
    weaker(
        old.protected.iter().any(|p| !next.protected.contains(p)),
        "fewer protected targets",
    );
    found
}

/// Would `next`'s threshold fail something `old`'s would pass?
fn stricter(old: &PolicyDef, next: &PolicyDef) -> bool {
    let higher_is_better = next.metric.direction() == Direction::HigherIsBetter;
    match (old.threshold, next.threshold) {
        (Threshold::Absolute { absolute: a }, Threshold::Absolute { absolute: b }) => {
            if higher_is_better {
                b > a
            } else {
                b < a
            }
        }
        (
            Threshold::Relative {
                relative_to: peer_a,
                factor: a,
            },
            Threshold::Relative {
                relative_to: peer_b,
                factor: b,
            },
        ) => {
            // The best peer sets a harder bar than the median one.
            let harder_peer = peer_a == Peer::Median && peer_b == Peer::Best;
            harder_peer || if higher_is_better { b > a } else { b < a }
        }
        // Absolute against relative cannot be compared: treat it as stricter.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto() -> PolicyDef {
        PolicyDef {
            id: "variant-opt-outs".into(),
            description: String::new(),
            scope: Scope::Variant,
            metric: Metric::OptOutRate,
            threshold: Threshold::Absolute { absolute: 0.01 },
            window_days: 14,
            min_sample: 1000,
            confidence: 0.95,
            consecutive_failures: 1,
            mode: Mode::Auto,
            protected: vec!["keep".into()],
            currency: None,
            min_sources: DEFAULT_MIN_SOURCES,
            max_source_share: DEFAULT_MAX_SOURCE_SHARE,
        }
    }

    #[test]
    fn automation_that_acts_sooner_needs_a_second_person() {
        let old = auto();
        assert_eq!(escalations(None, &old).len(), 1);
        assert!(escalations(Some(&old), &old).is_empty(), "no change");
        let cases: Vec<(PolicyDef, &str)> = vec![
            (
                PolicyDef {
                    min_sample: 100,
                    ..auto()
                },
                "min_sample",
            ),
            (
                PolicyDef {
                    threshold: Threshold::Absolute { absolute: 0.005 },
                    ..auto()
                },
                "stricter",
            ),
            (
                PolicyDef {
                    min_sources: 5,
                    ..auto()
                },
                "min_sources",
            ),
            (
                PolicyDef {
                    max_source_share: 0.5,
                    ..auto()
                },
                "max_source_share",
            ),
            (
                PolicyDef {
                    protected: vec![],
                    ..auto()
                },
                "protected",
            ),
            (
                PolicyDef {
                    confidence: 0.8,
                    ..auto()
                },
                "confidence",
            ),
        ];
        for (next, what) in cases {
            let found = escalations(Some(&old), &next);
            assert!(found.iter().any(|f| f.contains(what)), "{what}: {found:?}");
        }
        let from_propose = PolicyDef {
            mode: Mode::Propose,
            ..auto()
        };
        assert!(escalations(Some(&from_propose), &old)[0].contains("automatic"));
        // Toward caution, or anything in propose mode: at once.
        let cautious = PolicyDef {
            min_sample: 5000,
            threshold: Threshold::Absolute { absolute: 0.02 },
            ..auto()
        };
        assert!(escalations(Some(&old), &cautious).is_empty());
        assert!(escalations(None, &from_propose).is_empty());
        // Higher is better: a higher bar is stricter.
        let ctr = |factor| PolicyDef {
            metric: Metric::ClickThrough,
            threshold: Threshold::Relative {
                relative_to: Peer::Median,
                factor,
            },
            ..auto()
        };
        assert!(!escalations(Some(&ctr(0.5)), &ctr(0.6)).is_empty());
        assert!(escalations(Some(&ctr(0.5)), &ctr(0.4)).is_empty());
    }
}
