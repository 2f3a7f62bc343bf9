//! Decisions (`/v1/governance/decisions`): the list, the review/approve/reject steps,
//! and reinstatement (recorded as a decision).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{no_store, GovernanceStaff, Readers};
use super::{BODY_LIMIT, BODY_LIMIT_TEXT};
use crate::auth::{Role, RolesCheckedByHandler, StaffUser};
use crate::governance::approval::{Decision, DecisionStatus, Verb};
use crate::governance::Governance;
use crate::problem::{read_json, Problem, ProblemType};

#[derive(Serialize, utoipa::ToSchema)]
pub struct DecisionDoc {
    pub id: i64,
    pub scope: String,
    pub target: String,
    pub policy: String,
    /// `at_risk`, `retire` or `reinstate`.
    pub action: String,
    /// `recorded`, `applied`, `pending`, `reviewed`, `approved` or `rejected`.
    pub status: String,
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    pub period: String,
    pub proposed_by: String,
    pub reviewed_by: Option<String>,
    pub review_comment: Option<String>,
    pub decided_by: Option<String>,
    pub decision_comment: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Decision> for DecisionDoc {
    fn from(d: Decision) -> Self {
        DecisionDoc {
            id: d.id,
            evidence: serde_json::from_str(&d.evidence).unwrap_or(serde_json::Value::Null),
            scope: d.scope,
            target: d.target,
            policy: d.policy,
            action: d.action,
            status: d.status.as_str().to_string(),
            period: d.period,
            proposed_by: d.proposed_by,
            reviewed_by: d.reviewed_by,
            review_comment: d.review_comment,
            decided_by: d.decided_by,
            decision_comment: d.decision_comment,
            created_at: d.created_at.to_rfc3339(),
            updated_at: d.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DecisionList {
    pub decisions: Vec<DecisionDoc>,
}

#[derive(Deserialize)]
pub struct DecisionQuery {
    pub status: Option<String>,
}

/// `GET /v1/governance/decisions[?status=pending]`: decisions with evidence, newest first.
#[utoipa::path(get, path = "/v1/governance/decisions", tag = "governance",
    params(("status" = Option<String>, Query, description = "recorded, applied, pending, reviewed, approved, rejected")),
    responses((status = 200, body = DecisionList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_decisions(
    query: web::Query<DecisionQuery>,
    state: web::Data<Governance>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            DecisionStatus::parse(s)
                .ok_or_else(|| Problem::invalid("status", "unknown decision status"))
        })
        .transpose()?;
    let decisions = state.decisions(status).await?;
    Ok(no_store(
        StatusCode::OK,
        &DecisionList {
            decisions: decisions.into_iter().map(DecisionDoc::from).collect(),
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    comment: String,
}

/// `POST /v1/governance/decisions/{id}/review|approve|reject` with `{"comment"}`.
#[utoipa::path(post, path = "/v1/governance/decisions/{id}/{verb}", tag = "governance",
    params(("id" = i64, Path), ("verb" = String, Path, description = "review (role governance), approve or reject (role governance_approver)")),
    request_body(content = String, description = "`{\"comment\": \"...\"}`", content_type = "application/json"),
    responses((status = 200, body = DecisionDoc), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, description = "Wrong role, or the proposer/reviewer approving their own", body = Problem),
        (status = 404, body = Problem), (status = 409, description = "Not in a state for this", body = Problem)))]
pub async fn act(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Payload,
    state: web::Data<Governance>,
) -> Result<HttpResponse, Problem> {
    let (id, verb) = path.into_inner();
    // An unknown verb is a 404 before the token is looked at; then each verb needs its
    // own role, and the 403 names it.
    let verb = Verb::parse(&verb)
        .ok_or_else(|| Problem::new(ProblemType::NotFound, "no such action").with_field("verb"))?;
    let who = StaffUser::<RolesCheckedByHandler>::of(&req)?;
    who.require(match verb {
        Verb::Review => &[Role::Governance],
        Verb::Approve | Verb::Reject => &[Role::GovernanceApprover],
    })?;
    let id: i64 = id
        .parse()
        .map_err(|_| Problem::invalid("id", "is not a decision id"))?;
    let CommentBody { comment } = read_json(body, BODY_LIMIT, BODY_LIMIT_TEXT).await?;
    if comment.trim().is_empty() || comment.chars().count() > 2000 {
        return Err(Problem::invalid(
            "comment",
            "give a comment of 1 to 2000 characters",
        ));
    }
    let decision = state.act(id, verb, &who.actor(), &comment).await?;
    Ok(no_store(StatusCode::OK, &DecisionDoc::from(decision)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReinstateBody {
    scope: String,
    target: String,
    comment: String,
}

/// `POST /v1/governance/reinstate` `{"scope", "target", "comment"}` (role `governance`):
/// serves a retired channel or variant again, recorded as a decision.
#[utoipa::path(post, path = "/v1/governance/reinstate", tag = "governance",
    request_body(content = String, description = "`{\"scope\": \"channel\", \"target\": \"sms\", \"comment\": \"...\"}`", content_type = "application/json"),
    responses((status = 200, body = DecisionDoc), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn reinstate(
    body: web::Payload,
    state: web::Data<Governance>,
    who: StaffUser<GovernanceStaff>,
) -> Result<HttpResponse, Problem> {
    let ReinstateBody {
        scope,
        target,
        comment,
    } = read_json(body, BODY_LIMIT, BODY_LIMIT_TEXT).await?;
    let decision = state
        .reinstate(&scope, &target, comment, &who.actor())
        .await?;
    Ok(no_store(StatusCode::OK, &DecisionDoc::from(decision)))
}
