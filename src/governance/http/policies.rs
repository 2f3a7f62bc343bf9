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

/// `dry_run` and `as_of`, each at most once; every problem names its parameter.
struct EvaluateQuery {
    dry_run: bool,
    as_of: Option<chrono::NaiveDate>,
}

impl EvaluateQuery {
    fn parse(query: &str) -> Result<EvaluateQuery, Problem> {
        let params = crate::problem::single_params(query, &["dry_run", "as_of"])?;
        let dry_run = match params.get("dry_run").map(|v| &**v) {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(Problem::invalid("dry_run", "must be true or false")),
        };
        let as_of = params
            .get("as_of")
            .map(|day| parse_day("as_of", day))
            .transpose()?;
        Ok(EvaluateQuery {
            dry_run: dry_run.unwrap_or(false),
            as_of,
        })
    }
}

/// `POST /v1/governance/evaluations[?dry_run=true][&as_of=YYYY-MM-DD]` (role
/// `governance`).
#[utoipa::path(post, path = "/v1/governance/evaluations", tag = "governance",
    params(
        ("dry_run" = Option<bool>, Query, description = "Judge and report, change nothing"),
        ("as_of" = Option<String>, Query, description = "Judge as if it were the end of this UTC day (YYYY-MM-DD); always a dry run"),
    ),
    responses((status = 200, body = EvaluationReport), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn evaluate(
    req: actix_web::HttpRequest,
    state: web::Data<Governance>,
    _staff: StaffUser<GovernanceStaff>,
) -> Result<HttpResponse, Problem> {
    let query = EvaluateQuery::parse(req.query_string())?;
    let report = match query.as_of {
        Some(day) => state.evaluate_as_of(day).await?,
        None => state.run_evaluation(query.dry_run).await?,
    };
    Ok(no_store(StatusCode::OK, &report))
}

/// Exactly `YYYY-MM-DD` (chrono alone also takes signs, wider years and spaces).
fn parse_day(field: &'static str, text: &str) -> Result<chrono::NaiveDate, Problem> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    shaped
        .then(|| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| Problem::invalid(field, "must be a date, YYYY-MM-DD"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BacktestBody {
    from: String,
    to: String,
    /// Policies to try instead of the stored ones (e.g. one being edited).
    policies: Option<Vec<PolicyDef>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BacktestAnswer {
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    /// The policies replayed.
    pub policies: Vec<String>,
    /// Days that retired or proposed something.
    pub acting_days: usize,
    pub days: Vec<crate::governance::backtest::BacktestDay>,
}

/// `POST /v1/governance/backtests` with `{"from", "to", "policies"?}`: what the policies
/// would have done each day, changing nothing (roles that read governance).
#[utoipa::path(post, path = "/v1/governance/backtests", tag = "governance",
    request_body(content = Object, description = "`{\"from\": \"2026-11-01\", \"to\": \"2026-11-30\", \"policies\": [<policy>...]}`; without `policies`, the stored ones"),
    responses((status = 200, body = BacktestAnswer), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn backtest(
    body: web::Payload,
    state: web::Data<Governance>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let body: BacktestBody = read_json(body, BODY_LIMIT, BODY_LIMIT_TEXT).await?;
    let from = parse_day("from", &body.from)?;
    let to = parse_day("to", &body.to)?;
    let names = body
        .policies
        .as_ref()
        .map(|p| p.iter().map(|p| p.id.clone()).collect());
    let days = state.backtest(body.policies, from, to).await?;
    let policies = match names {
        Some(names) => names,
        None => state
            .catalog
            .current()
            .await?
            .policies
            .iter()
            .map(|p| p.id.clone())
            .collect(),
    };
    Ok(no_store(
        StatusCode::OK,
        &BacktestAnswer {
            from,
            to,
            policies,
            acting_days: days.iter().filter(|d| d.acted()).count(),
            days,
        },
    ))
}
