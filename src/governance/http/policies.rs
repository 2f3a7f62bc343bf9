//! Policies (`/v1/governance/policies`) and evaluations (`/v1/governance/evaluations`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{no_store, DecisionDoc, GovernanceStaff, Readers};
use super::{BODY_LIMIT, BODY_LIMIT_TEXT};
use crate::auth::StaffUser;
use crate::governance::evaluator::EvaluationReport;
use crate::governance::policy::{self, PolicyDef};
use crate::governance::workflow::PolicySaved;
use crate::governance::Governance;
use crate::problem::{read_json, Problem};

#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyList {
    pub policies: Vec<PolicyDef>,
}

/// `GET /v1/governance/policies`
#[utoipa::path(get, path = "/v1/governance/policies", tag = "governance",
    responses((status = 200, body = PolicyList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_policies(
    state: web::Data<Governance>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let catalog = state.catalog.current().await?;
    Ok(no_store(
        StatusCode::OK,
        &PolicyList {
            policies: catalog.policies.clone(),
        },
    ))
}

/// `PUT /v1/governance/policies/{id}`: create or replace a policy (role `governance`).
/// A change that makes automatic action more ready (see [`policy::escalations`]) is not
/// applied: it becomes a pending `policy_change` decision that another member of staff
/// reviews and a third approves, like a retirement proposal (answered `202`).
#[utoipa::path(put, path = "/v1/governance/policies/{id}", tag = "governance",
    request_body = PolicyDef,
    responses((status = 200, description = "Applied", body = PolicyDef),
        (status = 202, description = "Automatic action made more ready: a pending policy_change decision awaits a second person", body = DecisionDoc),
        (status = 400, description = "Invalid, naming the field", body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn put_policy(
    path: web::Path<String>,
    body: web::Payload,
    state: web::Data<Governance>,
    who: StaffUser<GovernanceStaff>,
) -> Result<HttpResponse, Problem> {
    let policy: policy::PolicyDef = read_json(body, BODY_LIMIT, BODY_LIMIT_TEXT).await?;
    if policy.id != *path {
        return Err(Problem::invalid("id", "must match the id in the path"));
    }
    let id = policy.id.clone();
    match state.save_policy(policy, &who.actor()).await? {
        PolicySaved::AwaitsApproval(decision) => {
            tracing::info!(actor = %who.subject(), policy = %id, decision = decision.id, "policy change awaits approval");
            Ok(no_store(StatusCode::ACCEPTED, &DecisionDoc::from(decision)))
        }
        PolicySaved::Applied(policy) => {
            tracing::info!(actor = %who.subject(), policy = %id, "policy saved");
            Ok(no_store(StatusCode::OK, &policy))
        }
    }
}

/// `DELETE /v1/governance/policies/{id}` (role `governance`).
#[utoipa::path(delete, path = "/v1/governance/policies/{id}", tag = "governance",
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn delete_policy(
    path: web::Path<String>,
    state: web::Data<Governance>,
    who: StaffUser<GovernanceStaff>,
) -> Result<HttpResponse, Problem> {
    state.delete_policy(&path).await?;
    tracing::info!(actor = %who.subject(), policy = %path, "policy deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub struct EvaluateQuery {
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /v1/governance/evaluations[?dry_run=true]` (role `governance`).
#[utoipa::path(post, path = "/v1/governance/evaluations", tag = "governance",
    params(("dry_run" = Option<bool>, Query, description = "Judge and report, change nothing")),
    responses((status = 200, body = EvaluationReport), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn evaluate(
    query: web::Query<EvaluateQuery>,
    state: web::Data<Governance>,
    _staff: StaffUser<GovernanceStaff>,
) -> Result<HttpResponse, Problem> {
    let report = state.run_evaluation(query.dry_run).await?;
    Ok(no_store(StatusCode::OK, &report))
}
