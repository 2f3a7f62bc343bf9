//! What the governance area holds: the database (policies, decisions, rollups), the live
//! catalog it retires from and reinstates into, and the configured safeguards. The
//! scheduled evaluation and the evaluation endpoint both go through
//! [`Governance::run_evaluation`]; what reviewers read (reports, states, sample ratios)
//! is here too. What staff change is in [`super::workflow`].

use sea_orm::DatabaseConnection;

use super::evaluator::{self, EvaluationReport, Safeguards};
use super::integrity::SampleRatio;
use super::report::{self, Provenance, ReportRow};
use crate::catalog::live::LiveCatalog;
use crate::problem::Problem;
use crate::storage::events as rollups;
use crate::storage::governance as store;

pub struct Governance {
    pub db: DatabaseConnection,
    pub catalog: LiveCatalog,
    pub safeguards: Safeguards,
    /// Retirements and reinstatements purge what they changed from CDNs.
    pub purger: crate::delivery::purge::Purger,
}

impl Governance {
    /// Runs every policy once (the lease in the database lets one node act per run),
    /// then announces a retirement to every node.
    pub async fn run_evaluation(&self, dry_run: bool) -> Result<EvaluationReport, Problem> {
        let catalog = self.catalog.current().await?;
        let report = evaluator::evaluate(
            &self.db,
            &catalog.policies,
            self.safeguards,
            chrono::Utc::now(),
            dry_run,
        )
        .await?;
        if let Some(generation) = report.generation {
            self.catalog.announce_change(generation).await;
            // CDNs purge by these surrogate keys (Surrogate-Key / Cache-Tag on answers).
            drop(self.purger.purge(
                report.purge_keys.clone(),
                format!("governance evaluation {}", report.period),
                generation,
            ));
        }
        Ok(report)
    }

    /// Judges as if it were the end of UTC day `as_of` (a dry run: nothing changes).
    pub async fn evaluate_as_of(
        &self,
        as_of: chrono::NaiveDate,
    ) -> Result<EvaluationReport, Problem> {
        check_past_day("as_of", as_of)?;
        let catalog = self.catalog.current().await?;
        Ok(evaluator::evaluate(
            &self.db,
            &catalog.policies,
            self.safeguards,
            super::backtest::end_of(as_of),
            true,
        )
        .await?)
    }

    /// What `policies` (the stored ones when `None`) would have done each day of
    /// `[from, to]`; nothing changes.
    pub async fn backtest(
        &self,
        policies: Option<Vec<super::policy::PolicyDef>>,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<super::backtest::BacktestDay>, Problem> {
        check_range(from, to)?;
        let catalog = self.catalog.current().await?;
        let policies = match policies {
            Some(policies) => {
                if let Some(problem) = super::policy::check_list(&policies, &catalog.channel_ids())
                {
                    return Err(Problem::invalid("policies", problem));
                }
                policies
            }
            None => catalog.policies.clone(),
        };
        Ok(evaluator::backtest(&self.db, &policies, self.safeguards, from, to).await?)
    }

    /// Runs the policies every `every`, logging each report; runs until aborted.
    pub async fn evaluate_periodically(&self, every: std::time::Duration) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            match self.run_evaluation(false).await {
                Ok(report) => tracing::info!(
                    period = %report.period,
                    findings = report.findings.len(),
                    actions = report.actions.len(),
                    skipped = report.skipped.is_some(),
                    "governance evaluation"
                ),
                Err(problem) => tracing::warn!(%problem, "governance evaluation failed"),
            }
        }
    }
}

/// A day to judge must be over or under way: the future has no engagement yet.
pub fn check_past_day(field: &'static str, day: chrono::NaiveDate) -> Result<(), Problem> {
    if day > chrono::Utc::now().date_naive() {
        return Err(Problem::invalid(field, "must be today or earlier (UTC)"));
    }
    // Windows and baselines reach back months from the day: keep that arithmetic far
    // from the calendar's ends (and from days no engagement can have).
    if day < EARLIEST_DAY {
        return Err(Problem::invalid(field, "must be 2000-01-01 or later"));
    }
    Ok(())
}

/// The earliest day governance judges.
pub const EARLIEST_DAY: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(day) => day,
    None => chrono::NaiveDate::MIN,
};

/// A backtest's days: `from` ≤ `to` ≤ today, at most [`super::backtest::MAX_DAYS`].
pub fn check_range(from: chrono::NaiveDate, to: chrono::NaiveDate) -> Result<(), Problem> {
    check_past_day("to", to)?;
    check_past_day("from", from)?;
    if from > to {
        return Err(Problem::invalid("from", "must not be after `to`"));
    }
    if (to - from).num_days() >= super::backtest::MAX_DAYS {
        return Err(Problem::invalid(
            "from",
            format!(
                "a backtest spans at most {} days",
                super::backtest::MAX_DAYS
            ),
        ));
    }
    Ok(())
}

/// (channel id, state) and (variant id, placement id, state), in catalog order.
pub type TargetStates = (Vec<(String, String)>, Vec<(String, String, String)>);

impl Governance {
    /// The engagement report's rows per `group_by` over `[from, to]`.
    pub async fn engagement(
        &self,
        group_by: &[&str],
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<ReportRow>, Problem> {
        let db = &self.db;
        let (sums, revenue, velocity, provenance) = if group_by.contains(&"segment") {
            // Rollups are not kept per segment: read the event log (no velocity).
            let (sums, revenue, sources, traffic) =
                rollups::sum_by_segment(db, group_by, from, to).await?;
            (sums, revenue, Vec::new(), Provenance { sources, traffic })
        } else {
            let sources = rollups::sum_sources(db, group_by, from, to)
                .await?
                .into_iter()
                .map(|(keys, source, _kind, n)| (keys, source, n))
                .collect();
            (
                rollups::sum_rollups(db, group_by, from, to).await?,
                rollups::sum_revenue(db, group_by, from, to).await?,
                rollups::sum_velocity(db, group_by, from, to).await?,
                Provenance {
                    sources,
                    traffic: rollups::sum_traffic(db, group_by, from, to).await?,
                },
            )
        };
        Ok(report::build(group_by, sums, revenue, velocity, provenance))
    }

    /// The sample-ratio test of every weighted split now.
    pub async fn sample_ratios(&self) -> Result<Vec<SampleRatio>, Problem> {
        let (content, _) = crate::storage::load_content(&self.db).await?;
        Ok(evaluator::sample_ratios(&self.db, &content, chrono::Utc::now()).await?)
    }

    /// Every channel's and variant's current state: the catalog's, overridden for
    /// variants by what governance stored (this node's catalog may lag).
    pub async fn target_states(&self) -> Result<TargetStates, Problem> {
        let catalog = self.catalog.current().await?;
        let governed: std::collections::BTreeMap<String, String> =
            store::states(&self.db, "variant")
                .await?
                .into_iter()
                .collect();
        let channels = catalog
            .channels
            .iter()
            .map(|c| (c.id.to_string(), c.def.state.as_str().to_string()))
            .collect();
        let mut variants = Vec::new();
        for placement in &catalog.placements {
            for v in &placement.variants {
                let state = governed
                    .get(v.id.as_ref())
                    .cloned()
                    .unwrap_or_else(|| v.state.as_str().to_string());
                variants.push((v.id.to_string(), placement.id.to_string(), state));
            }
        }
        Ok((channels, variants))
    }
}
