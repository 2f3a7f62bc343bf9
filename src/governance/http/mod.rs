//! Governance over HTTP: policies (role `governance`), evaluations, decisions with their
//! two-level approval (`governance` reviews, a different `governance_approver`
//! approves or rejects), reinstatement, and the reports and dashboard reviewers read.
//!
//! Handlers are thin: typed extractors, one call on [`Governance`], the result mapped
//! to a response. Every error leaves as a [`Problem`]; the approval rules' errors are
//! mapped to one here ([`From<ApprovalError>`]).

mod decisions;
mod policies;
mod reports;

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::approval::ApprovalError;
use super::Governance;
use crate::problem::{Problem, ProblemType};

pub use decisions::{DecisionDoc, DecisionList};
pub use policies::PolicyList;
pub use reports::{EngagementReport, SampleRatios, StateEntry, States};

/// This area's part of the OpenAPI document (merged with the others by the application).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        policies::list_policies,
        policies::put_policy,
        policies::delete_policy,
        policies::evaluate,
        policies::backtest,
        decisions::list_decisions,
        decisions::act,
        decisions::reinstate,
        reports::engagement_report,
        reports::states,
        reports::sample_ratios
    ),
    components(schemas(
        policies::BacktestAnswer,
        crate::governance::backtest::BacktestDay,
        PolicyList,
        DecisionList,
        DecisionDoc,
        super::policy::PolicyDef,
        super::evaluator::EvaluationReport,
        super::evaluator::ActionTaken,
        super::Finding,
        EngagementReport,
        super::report::ReportRow,
        States,
        StateEntry,
        SampleRatios,
        super::integrity::SampleRatio,
        super::integrity::Diversity,
        super::integrity::VolumeJump,
        super::EvidenceQuality
    ))
)]
pub struct Api;

/// Policies, comments and reinstatements: bodies up to the size actix allowed them
/// before they were read through `read_json`.
pub(crate) const BODY_LIMIT: usize = 256 * 1024;
const BODY_LIMIT_TEXT: &str = "a governance request is at most 256 KiB";

/// Routes that need the database for every answer (see `resilience::gate`); the
/// dashboard is a static page, served anyway.
pub const NEEDS_DATABASE: &[&str] = &["/v1/governance/", "/v1/reports/"];

/// Registers this area's state and routes.
pub fn configure(service: web::Data<Governance>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(service);
        cfg.service(
            web::resource("/v1/governance/policies").route(web::get().to(policies::list_policies)),
        )
        .service(
            web::resource("/v1/governance/policies/{id}")
                .route(web::put().to(policies::put_policy))
                .route(web::delete().to(policies::delete_policy)),
        )
        .service(
            web::resource("/v1/governance/evaluations").route(web::post().to(policies::evaluate)),
        )
        .service(
            web::resource("/v1/governance/backtests").route(web::post().to(policies::backtest)),
        )
        .service(
            web::resource("/v1/governance/decisions")
                .route(web::get().to(decisions::list_decisions)),
        )
        .service(
            web::resource("/v1/governance/decisions/{id}/{verb}")
                .route(web::post().to(decisions::act)),
        )
        .service(
            web::resource("/v1/governance/reinstate").route(web::post().to(decisions::reinstate)),
        )
        .service(
            web::resource("/v1/reports/engagement")
                .route(web::get().to(reports::engagement_report)),
        )
        .service(web::resource("/v1/governance/states").route(web::get().to(reports::states)))
        .service(
            web::resource("/v1/governance/sample-ratios")
                .route(web::get().to(reports::sample_ratios)),
        )
        .service(web::resource("/dashboard").route(web::get().to(reports::dashboard)));
    }
}

crate::role_set!(pub Readers = Governance, GovernanceApprover, Analyst, Admin);

/// The roles each staff route accepts, for the OpenAPI document (see
/// `authoring::http::STAFF_ROLES`). A decision's verbs list both; `review` needs
/// `governance`, `approve` and `reject` need `governance_approver`.
pub const STAFF_ROLES: &[(&str, &str, &[crate::auth::Role])] = {
    use crate::auth::{Role, Roles};
    &[
        ("get", "/v1/governance/policies", Readers::ACCEPTED),
        (
            "put",
            "/v1/governance/policies/{id}",
            GovernanceStaff::ACCEPTED,
        ),
        (
            "delete",
            "/v1/governance/policies/{id}",
            GovernanceStaff::ACCEPTED,
        ),
        (
            "post",
            "/v1/governance/evaluations",
            GovernanceStaff::ACCEPTED,
        ),
        ("post", "/v1/governance/backtests", Readers::ACCEPTED),
        ("get", "/v1/governance/decisions", Readers::ACCEPTED),
        (
            "post",
            "/v1/governance/decisions/{id}/{verb}",
            &[Role::Governance, Role::GovernanceApprover],
        ),
        (
            "post",
            "/v1/governance/reinstate",
            GovernanceStaff::ACCEPTED,
        ),
        ("get", "/v1/reports/engagement", Readers::ACCEPTED),
        ("get", "/v1/governance/states", Readers::ACCEPTED),
        ("get", "/v1/governance/sample-ratios", Readers::ACCEPTED),
    ]
};
crate::role_set!(
    /// Policies, evaluations, reviews and reinstatements.
    pub GovernanceStaff = Governance
);

/// The approval rules' errors as problems: a broken four-eyes rule is forbidden, a
/// decision in the wrong state (or changed meanwhile) is a conflict.
impl From<ApprovalError> for Problem {
    fn from(error: ApprovalError) -> Problem {
        let kind = match error {
            ApprovalError::FourEyes(_) => ProblemType::Forbidden,
            ApprovalError::NotPending(_)
            | ApprovalError::NotReviewed(_)
            | ApprovalError::NotOpen(_)
            | ApprovalError::Superseded
            | ApprovalError::PolicyChanged => ProblemType::Conflict,
        };
        Problem::new(kind, error.to_string())
    }
}

/// A JSON answer nobody may cache (governance data is per-staff and changes at once).
pub(crate) fn no_store(
    status: actix_web::http::StatusCode,
    body: &impl serde::Serialize,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}
