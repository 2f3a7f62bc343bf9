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
