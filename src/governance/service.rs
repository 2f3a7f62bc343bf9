//! What the governance area holds: the database (policies, decisions, rollups), the live
//! catalog it retires from and reinstates into, and the configured safeguards. The
//! scheduled evaluation and the evaluation endpoint both go through
//! [`Governance::run_evaluation`].

use sea_orm::DatabaseConnection;

use super::evaluator::{self, EvaluationReport, Safeguards};
use crate::catalog::live::LiveCatalog;
use crate::problem::Problem;

pub struct Governance {
    pub db: DatabaseConnection,
    pub catalog: LiveCatalog,
    pub safeguards: Safeguards,
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
        }
        if !report.purge_keys.is_empty() {
            // CDNs purge by these surrogate keys (Surrogate-Key / Cache-Tag on answers).
            tracing::info!(purge = %report.purge_keys.join(" "), "purge");
        }
        Ok(report)
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
