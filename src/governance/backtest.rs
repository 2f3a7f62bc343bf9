//! Backtests: what policies would have done, day by day, had they been switched on at a
//! given day — judged with the real planner ([`super::plan::plan`]) over each day's
//! stored rollups, with every consequence (failure runs, at-risk marks, retirements,
//! proposals, recoveries) carried from one day to the next in memory. Nothing is
//! written.
//!
//! A replay starts from nothing at risk or retired by governance and no failure runs
//! (protected channels stay protected); proposals are taken as left open (nobody
//! approves during a backtest), which keeps a proposed target from being proposed again.
//! [`Replay`] is pure: the evaluator reads each day's input, this decides.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::evaluator::Safeguards;
use super::plan::{self, EvaluationInput, Planned, Run};
use super::policy::{PolicyDef, Scope};
use super::Finding;
use crate::catalog::model::ChannelState;

/// The longest backtest, in days.
pub const MAX_DAYS: i64 = 366;

/// One replayed day.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BacktestDay {
    /// The UTC day judged (as of its last second).
    pub day: NaiveDate,
    /// Targets marked at risk that day (a first failure), as `scope/target`.
    pub flagged: Vec<String>,
    /// Retirements proposed that day (a `propose` policy, or a safeguard).
    pub proposed: Vec<String>,
    /// Targets retired that day (an `auto` policy).
    pub retired: Vec<String>,
    /// At-risk targets that passed again.
    pub recovered: Vec<String>,
    /// Every action with its policy and the safeguards that changed it.
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<serde_json::Value>,
    /// Every finding of the day: the evidence behind the actions.
    pub findings: Vec<Finding>,
}

impl BacktestDay {
    /// Whether the day retired or proposed anything.
    pub fn acted(&self) -> bool {
        !self.retired.is_empty() || !self.proposed.is_empty()
    }
}

/// The state a replay carries from day to day.
#[derive(Clone, Debug, Default)]
pub struct Replay {
    channels: BTreeMap<String, ChannelState>,
    variants: BTreeMap<String, String>,
    runs: BTreeMap<(String, String, String), Run>,
    open_proposals: BTreeSet<(String, String)>,
    automatic_retirements: Vec<DateTime<Utc>>,
}

impl Replay {
    /// A replay over `channels` (only `protected` is kept: governance's own marks start
    /// again).
    pub fn new<'a>(channels: impl IntoIterator<Item = (&'a String, &'a ChannelState)>) -> Replay {
        Replay {
            channels: channels
                .into_iter()
                .map(|(id, state)| {
                    let state = match state {
                        ChannelState::Protected => ChannelState::Protected,
                        _ => ChannelState::Active,
                    };
                    (id.clone(), state)
                })
                .collect(),
            ..Replay::default()
        }
    }

    /// Judges one day: `input` is what the evaluator read for it (its governance state
    /// is replaced by the replay's), `now` the day's last second.
    pub fn day(
        &mut self,
        mut input: EvaluationInput,
        policies: &[PolicyDef],
        safeguards: Safeguards,
        now: DateTime<Utc>,
    ) -> BacktestDay {
        // Channels the replay has not met yet (added since) start active.
        for channel in input.channels.keys() {
            self.channels
                .entry(channel.clone())
                .or_insert(ChannelState::Active);
        }
        input.channels = self.channels.clone();
        input.variants = self.variants.clone();
        input.runs = self.runs.clone();
        input.open_proposals = self.open_proposals.clone();
        let day_ago = now - chrono::Duration::hours(24);
        self.automatic_retirements.retain(|t| *t > day_ago);
        input.recent_automatic_retirements = self.automatic_retirements.len() as u64;

        let plan = plan::plan(&input, policies, safeguards, now);
        let mut day = BacktestDay {
            day: now.date_naive(),
            flagged: Vec::new(),
            proposed: Vec::new(),
            retired: Vec::new(),
            recovered: Vec::new(),
            actions: Vec::new(),
            findings: plan.findings,
        };
        for update in plan.runs {
            self.runs.insert(
                (
                    update.scope.as_str().to_string(),
                    update.target,
                    update.policy,
                ),
                Run {
                    failures: update.failures,
                    last_period: plan.period.clone(),
                    last_verdict: update.verdict.to_string(),
                },
            );
        }
        for action in plan.actions {
            let name = format!("{}/{}", action.scope.as_str(), action.target);
            match action.action {
                Planned::Retire => {
                    self.set(action.scope, &action.target, "retired");
                    self.open_proposals
                        .remove(&(action.scope.as_str().to_string(), action.target.clone()));
                    self.automatic_retirements.push(now);
                    day.retired.push(name);
                }
                Planned::Propose => {
                    self.open_proposals
                        .insert((action.scope.as_str().to_string(), action.target.clone()));
                    day.proposed.push(name);
                }
                Planned::AtRisk => {
                    self.set(action.scope, &action.target, "at_risk");
                    day.flagged.push(name);
                }
                Planned::Held => {}
            }
            day.actions.push(serde_json::json!({
                "scope": action.scope,
                "target": action.target,
                "policy": action.policy,
                "action": action.action.as_str(),
                "safeguards": action.safeguards,
            }));
        }
        for (scope, target) in plan.recoveries {
            self.set(scope, &target, "active");
            self.open_proposals
                .remove(&(scope.as_str().to_string(), target.clone()));
            day.recovered.push(format!("{}/{target}", scope.as_str()));
        }
        day
    }

    fn set(&mut self, scope: Scope, target: &str, state: &str) {
        match scope {
            Scope::Channel => {
                let state = match state {
                    "retired" => ChannelState::Retired,
                    "at_risk" => ChannelState::AtRisk,
                    _ => ChannelState::Active,
                };
                self.channels.insert(target.to_string(), state);
            }
            Scope::Variant => {
                if state == "active" {
                    self.variants.remove(target);
                } else {
                    self.variants.insert(target.to_string(), state.to_string());
                }
            }
        }
    }
}

/// The last second of `day` (UTC): a past day is judged as its evaluation at the end of
/// that day would have been.
pub fn end_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(23, 59, 59).unwrap_or_default().and_utc()
}
