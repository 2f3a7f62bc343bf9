//! Governance over HTTP: policies (role `governance`), evaluations, decisions with their
//! two-level approval (`governance` reviews, a different `governance_approver`
//! approves or rejects), reinstatement.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::evaluator::{self, set_state, EvaluationReport, TargetState};
use super::policy::{self, PolicyDef, Scope};
use super::Governance;
use crate::auth::{Role, StaffUser};
use crate::problem::json_body;
use crate::problem::{Problem, ProblemType};
use crate::storage::governance::{self as store, DecisionRow, NewDecision};

/// This area's part of the OpenAPI document (merged with the others by the application).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_policies,
        put_policy,
        delete_policy,
        evaluate,
        list_decisions,
        act,
        reinstate,
        engagement_report,
        states,
        sample_ratios
    ),
    components(schemas(
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

/// Registers this area's state and routes.
pub fn configure(service: web::Data<Governance>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(service);
        cfg.service(web::resource("/v1/governance/policies").route(web::get().to(list_policies)))
            .service(
                web::resource("/v1/governance/policies/{id}")
                    .route(web::put().to(put_policy))
                    .route(web::delete().to(delete_policy)),
            )
            .service(web::resource("/v1/governance/evaluations").route(web::post().to(evaluate)))
            .service(web::resource("/v1/governance/decisions").route(web::get().to(list_decisions)))
            .service(
                web::resource("/v1/governance/decisions/{id}/{verb:review|approve|reject}")
                    .route(web::post().to(act)),
            )
            .service(web::resource("/v1/governance/reinstate").route(web::post().to(reinstate)))
            .service(
                web::resource("/v1/reports/engagement").route(web::get().to(engagement_report)),
            )
            .service(web::resource("/v1/governance/states").route(web::get().to(states)))
            .service(
                web::resource("/v1/governance/sample-ratios").route(web::get().to(sample_ratios)),
            )
            .service(web::resource("/dashboard").route(web::get().to(dashboard)));
    }
}

crate::role_set!(pub Readers = Governance, GovernanceApprover, Analyst, Admin);
crate::role_set!(
    /// Policies, evaluations, reviews and reinstatements.
    pub GovernanceStaff = Governance
);
crate::role_set!(
    /// Acting on a decision: reviewing (`governance`) or deciding (`governance_approver`).
    pub DecisionMakers = Governance, GovernanceApprover
);

/// Decisions about policies themselves (scope and action of a pending policy change).
const POLICY_SCOPE: &str = "policy";
const POLICY_CHANGE: &str = "policy_change";

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
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(PolicyList {
            policies: catalog.policies.clone(),
        }))
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
    body: web::Bytes,
    state: web::Data<Governance>,
    who: StaffUser<GovernanceStaff>,
) -> Result<HttpResponse, Problem> {
    let policy: PolicyDef = json_body(&body)?;
    if policy.id != *path {
        return Err(Problem::invalid("id", "must match the id in the path"));
    }
    let catalog = state.catalog.current().await?;
    let channels = catalog.channel_ids();
    if let Some((field, message)) = policy::check(&policy, &channels).into_iter().next() {
        return Err(Problem::invalid(field, message));
    }
    let previous = catalog.policies.iter().find(|p| p.id == policy.id);
    let escalations = policy::escalations(previous, &policy);
    if !escalations.is_empty() {
        // Four eyes: a newer request replaces an older pending one for this policy.
        store::withdraw_proposals(&state.db, POLICY_SCOPE, &policy.id).await?;
        // What it replaces, by the stored row's hash: the approval applies the change
        // only over exactly that (compare-and-set in the approving transaction).
        let previous_hash = store::policy_hash(&state.db, &policy.id).await?;
        let evidence = serde_json::json!({
            "policy": policy,
            "previous": previous,
            "previous_hash": previous_hash,
            "escalations": escalations,
        });
        let id = store::insert_decision(
            &state.db,
            NewDecision {
                period: &chrono::Utc::now().date_naive().to_string(),
                scope: POLICY_SCOPE,
                target: &policy.id,
                policy: &policy.id,
                action: POLICY_CHANGE,
                status: "pending",
                evidence: evidence.to_string(),
                actor: &who.actor(),
                comment: None,
            },
        )
        .await?;
        tracing::info!(actor = %who.subject(), policy = %policy.id, decision = id, "policy change awaits approval");
        let row = store::decision(&state.db, id)
            .await?
            .ok_or_else(|| Problem::new(ProblemType::Unavailable, "the decision was not stored"))?;
        return Ok(HttpResponse::Accepted()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(DecisionDoc::from(row)));
    }
    let generation = store::put_policy(&state.db, &policy).await?;
    // A pending change was proposed against what this replaces: it no longer applies.
    store::withdraw_proposals(&state.db, POLICY_SCOPE, &policy.id).await?;
    // A changed definition starts its runs again: old failures judged another rule.
    store::reset_policy_runs(&state.db, &policy.id).await?;
    tracing::info!(actor = %who.subject(), policy = %policy.id, "policy saved");
    state.catalog.announce_change(generation).await;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(policy))
}

/// `DELETE /v1/governance/policies/{id}` (role `governance`).
#[utoipa::path(delete, path = "/v1/governance/policies/{id}", tag = "governance",
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn delete_policy(
    path: web::Path<String>,
    state: web::Data<Governance>,
    who: StaffUser<GovernanceStaff>,
) -> Result<HttpResponse, Problem> {
    let generation = store::delete_policy(&state.db, &path)
        .await?
        .ok_or_else(|| Problem::new(ProblemType::NotFound, "no such policy").with_field("id"))?;
    store::reset_policy_runs(&state.db, &path).await?;
    store::withdraw_proposals(&state.db, POLICY_SCOPE, &path).await?;
    tracing::info!(actor = %who.subject(), policy = %path, "policy deleted");
    state.catalog.announce_change(generation).await;
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
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(report))
}

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

impl From<DecisionRow> for DecisionDoc {
    fn from(r: DecisionRow) -> Self {
        DecisionDoc {
            id: r.id,
            evidence: serde_json::from_str(&r.evidence).unwrap_or(serde_json::Value::Null),
            scope: r.scope,
            target: r.target,
            policy: r.policy_id,
            action: r.action,
            status: r.status,
            period: r.period,
            proposed_by: r.proposed_by,
            reviewed_by: r.reviewed_by,
            review_comment: r.review_comment,
            decided_by: r.decided_by,
            decision_comment: r.decision_comment,
            created_at: r.created_at.to_rfc3339(),
            updated_at: r.updated_at.to_rfc3339(),
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
    if let Some(status) = &query.status {
        if ![
            "recorded",
            "applied",
            "pending",
            "reviewed",
            "approved",
            "rejected",
            "withdrawn",
        ]
        .contains(&status.as_str())
        {
            return Err(Problem::invalid("status", "unknown decision status"));
        }
    }
    let rows = store::decisions(&state.db, query.status.as_deref(), 500).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(DecisionList {
            decisions: rows.into_iter().map(DecisionDoc::from).collect(),
        }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    comment: String,
}

fn conflict(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemType::Conflict, detail)
}

/// `POST /v1/governance/decisions/{id}/review|approve|reject` with `{"comment"}`.
#[utoipa::path(post, path = "/v1/governance/decisions/{id}/{verb}", tag = "governance",
    params(("id" = i64, Path), ("verb" = String, Path, description = "review (role governance), approve or reject (role governance_approver)")),
    request_body(content = String, description = "`{\"comment\": \"...\"}`", content_type = "application/json"),
    responses((status = 200, body = DecisionDoc), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, description = "Wrong role, or the proposer/reviewer approving their own", body = Problem),
        (status = 404, body = Problem), (status = 409, description = "Not in a state for this", body = Problem)))]
pub async fn act(
    who: StaffUser<DecisionMakers>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<Governance>,
) -> Result<HttpResponse, Problem> {
    let (id, verb) = path.into_inner();
    // The route admits only these verbs; each needs its own role.
    who.require(match verb.as_str() {
        "review" => &[Role::Governance],
        _ => &[Role::GovernanceApprover],
    })?;
    let actor = who.actor();
    let id: i64 = id
        .parse()
        .map_err(|_| Problem::invalid("id", "is not a decision id"))?;
    let CommentBody { comment } = json_body(&body)?;
    if comment.trim().is_empty() || comment.chars().count() > 2000 {
        return Err(Problem::invalid(
            "comment",
            "give a comment of 1 to 2000 characters",
        ));
    }
    let mut row = store::decision(&state.db, id)
        .await?
        .ok_or_else(|| Problem::new(ProblemType::NotFound, "no such decision").with_field("id"))?;
    let expected = row.status.clone();
    match verb.as_str() {
        "review" => {
            if row.status != "pending" {
                return Err(conflict(format!(
                    "the decision is {}, not pending",
                    row.status
                )));
            }
            if row.proposed_by == actor {
                return Err(Problem::new(
                    ProblemType::Forbidden,
                    "the proposer cannot review their own proposal",
                ));
            }
            row.status = "reviewed".into();
            row.reviewed_by = Some(actor.clone());
            row.review_comment = Some(comment);
        }
        "approve" => {
            if row.status != "reviewed" {
                return Err(conflict(format!(
                    "the decision is {}; it must be reviewed before it is approved",
                    row.status
                )));
            }
            if row.proposed_by == actor || row.reviewed_by.as_deref() == Some(actor.as_str()) {
                return Err(Problem::new(
                    ProblemType::Forbidden,
                    "whoever proposed or reviewed a decision cannot also approve it",
                ));
            }
            row.status = "approved".into();
            row.decided_by = Some(actor.clone());
            row.decision_comment = Some(comment);
        }
        _ => {
            if row.status != "pending" && row.status != "reviewed" {
                return Err(conflict(format!(
                    "the decision is {}, not open",
                    row.status
                )));
            }
            if row.proposed_by == actor || row.reviewed_by.as_deref() == Some(actor.as_str()) {
                return Err(Problem::new(
                    ProblemType::Forbidden,
                    "whoever proposed or reviewed a decision cannot also decide it",
                ));
            }
            row.status = "rejected".into();
            row.decided_by = Some(actor.clone());
            row.decision_comment = Some(comment);
        }
    }
    if row.scope == POLICY_SCOPE && row.status == "approved" {
        // The approval and the change it approves are one transaction.
        approve_policy_change(&state, &row, &expected).await?;
        tracing::info!(%actor, decision = id, "policy change approved and applied");
        return Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(DecisionDoc::from(row)));
    }
    if !store::update_decision(&state.db, &row, &expected).await? {
        return Err(conflict(
            "someone else acted on this decision first; reload it",
        ));
    }
    if row.scope == POLICY_SCOPE {
        tracing::info!(%actor, decision = id, status = %row.status, "policy change decision");
        return Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(DecisionDoc::from(row)));
    }
    let scope = parse_scope(&row.scope)?;
    match row.status.as_str() {
        "approved" => {
            set_state(&state.db, scope, &row.target, TargetState::Retired).await?;
            announce(&state, scope, &row.target).await?;
        }
        // A rejected proposal starts the failure count again.
        "rejected" => store::reset_status(&state.db, &row.scope, &row.target).await?,
        _ => {}
    }
    tracing::info!(%actor, decision = id, status = %row.status, "governance decision");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(DecisionDoc::from(row)))
}

/// Applies the policy a `policy_change` decision carries and records the approval, in
/// one transaction — only if the stored policy is still the one the change was
/// proposed against (compare-and-set on its content hash: a later edit, a deletion, a
/// file import, or a switch to `propose` made in a hurry is never undone by approving
/// an older request; such a request is withdrawn).
async fn approve_policy_change(
    state: &Governance,
    row: &DecisionRow,
    expected_status: &str,
) -> Result<(), Problem> {
    use sea_orm::TransactionTrait;
    let evidence: serde_json::Value =
        serde_json::from_str(&row.evidence).map_err(|e| Problem::internal(&e))?;
    let policy: PolicyDef =
        serde_json::from_value(evidence["policy"].clone()).map_err(|e| Problem::internal(&e))?;
    let previous_hash = evidence["previous_hash"].as_str();
    let catalog = state.catalog.current().await?;
    if let Some((field, message)) = policy::check(&policy, &catalog.channel_ids())
        .into_iter()
        .next()
    {
        // Channels may have changed since it was proposed.
        return Err(Problem::invalid(field, message));
    }
    let tx = state
        .db
        .begin()
        .await
        .map_err(crate::storage::StorageError::from)?;
    if !store::update_decision(&tx, row, expected_status).await? {
        return Err(conflict(
            "someone else acted on this decision first; reload it",
        ));
    }
    let Some(generation) = store::put_policy_if(&tx, &policy, previous_hash).await? else {
        tx.rollback()
            .await
            .map_err(crate::storage::StorageError::from)?;
        store::withdraw_proposals(&state.db, POLICY_SCOPE, &policy.id).await?;
        return Err(conflict(
            "the policy changed since this change was proposed, so it was withdrawn; propose it again against the current policy",
        ));
    };
    store::reset_policy_runs(&tx, &policy.id).await?;
    tx.commit()
        .await
        .map_err(crate::storage::StorageError::from)?;
    state.catalog.announce_change(generation).await;
    Ok(())
}

fn parse_scope(scope: &str) -> Result<Scope, Problem> {
    match scope {
        "channel" => Ok(Scope::Channel),
        "variant" => Ok(Scope::Variant),
        _ => Err(Problem::invalid("scope", "must be channel or variant")),
    }
}

async fn announce(state: &Governance, scope: Scope, target: &str) -> Result<(), Problem> {
    let generation = crate::storage::generation(&state.db).await?;
    state.catalog.announce_change(generation).await;
    tracing::info!(purge = %format!("{}/{target}", scope.as_str()), "purge");
    Ok(())
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
    body: web::Bytes,
    state: web::Data<Governance>,
    who: StaffUser<GovernanceStaff>,
) -> Result<HttpResponse, Problem> {
    let actor = who.actor();
    let ReinstateBody {
        scope,
        target,
        comment,
    } = json_body(&body)?;
    let scope_kind = parse_scope(&scope)?;
    if comment.trim().is_empty() {
        return Err(Problem::invalid("comment", "say why it is reinstated"));
    }
    let catalog = state.catalog.current().await?;
    let known = match scope_kind {
        Scope::Channel => catalog.channel(&target).is_some(),
        Scope::Variant => catalog
            .placements
            .iter()
            .any(|p| p.variants.iter().any(|v| *v.id == *target)),
    };
    if !known {
        return Err(
            Problem::new(ProblemType::NotFound, format!("no {scope} `{target}`"))
                .with_field("target"),
        );
    }
    // Only what governance took out of service comes back this way (a protected or
    // active channel keeps its state).
    let current = match scope_kind {
        // From the database: this node's catalog may not have reloaded yet.
        Scope::Channel => crate::storage::channel_state(&state.db, &target)
            .await?
            .unwrap_or_default(),
        Scope::Variant => store::states(&state.db, "variant")
            .await?
            .into_iter()
            .find(|(t, _)| *t == target)
            .map(|(_, s)| s)
            .unwrap_or_else(|| "active".into()),
    };
    if current != "retired" && current != "at_risk" {
        return Err(
            conflict(format!("{scope} `{target}` is {current}, not retired")).with_field("target"),
        );
    }
    set_state(&state.db, scope_kind, &target, TargetState::Active).await?;
    store::reset_status(&state.db, &scope, &target).await?;
    store::withdraw_proposals(&state.db, &scope, &target).await?;
    let id = store::insert_decision(
        &state.db,
        NewDecision {
            period: &chrono::Utc::now().date_naive().to_string(),
            scope: &scope,
            target: &target,
            policy: "",
            action: "reinstate",
            status: "applied",
            evidence: serde_json::json!({"reinstated_by": actor}).to_string(),
            actor: &actor,
            comment: Some(comment),
        },
    )
    .await?;
    announce(&state, scope_kind, &target).await?;
    let row = store::decision(&state.db, id)
        .await?
        .ok_or_else(|| Problem::new(ProblemType::NotFound, "decision vanished"))?;
    tracing::info!(%actor, %scope, %target, "reinstated");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(DecisionDoc::from(row)))
}

#[derive(Deserialize)]
pub struct ReportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub group_by: Option<String>,
    pub format: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EngagementReport {
    pub from: String,
    pub to: String,
    pub group_by: Vec<String>,
    pub rows: Vec<super::report::ReportRow>,
}

fn day(field: &str, value: Option<&str>) -> Result<Option<chrono::NaiveDate>, Problem> {
    use chrono::Datelike;
    value
        .map(|v| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .filter(|d| (2000..=9999).contains(&d.year()))
                .ok_or_else(|| Problem::invalid(field, "must be a date, YYYY-MM-DD, from 2000"))
        })
        .transpose()
}

/// `GET /v1/reports/engagement`: rollups per group over a date range, as JSON or CSV
/// (`format=csv` or `Accept: text/csv`); roles `governance` or `analyst`.
#[utoipa::path(get, path = "/v1/reports/engagement", tag = "governance",
    params(
        ("from" = Option<String>, Query, description = "First day, YYYY-MM-DD (default: 27 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, YYYY-MM-DD (default: today, UTC)"),
        ("group_by" = Option<String>, Query, description = "Comma-separated: channel, placement, variant, locale, device, segment, day (default channel)"),
        ("format" = Option<String>, Query, description = "json (default) or csv"),
    ),
    responses((status = 200, body = EngagementReport), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn engagement_report(
    req: HttpRequest,
    query: web::Query<ReportQuery>,
    state: web::Data<Governance>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let to = day("to", query.to.as_deref())?.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let from = match day("from", query.from.as_deref())? {
        Some(from) => from,
        None => to - chrono::Duration::days(27),
    };
    if from > to {
        return Err(Problem::invalid("from", "must not be after `to`"));
    }
    if (to - from).num_days() > 366 {
        return Err(Problem::invalid("from", "a report covers at most 366 days"));
    }
    let mut group_by: Vec<&str> = Vec::new();
    for name in query
        .group_by
        .as_deref()
        .unwrap_or("channel")
        .split(',')
        .map(str::trim)
    {
        if !super::report::GROUPS.contains(&name) {
            return Err(Problem::invalid(
                "group_by",
                format!(
                    "`{name}` is not one of {}",
                    super::report::GROUPS.join(", ")
                ),
            ));
        }
        if !group_by.contains(&name) {
            group_by.push(name);
        }
    }
    let csv = match query.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(_) => return Err(Problem::invalid("format", "must be json or csv")),
        None => req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
    };
    use crate::storage::events as rollups;
    let (sums, revenue, velocity, provenance) = if group_by.contains(&"segment") {
        // Rollups are not kept per segment: read the event log (no velocity).
        let (sums, revenue, sources, traffic) =
            rollups::sum_by_segment(&state.db, &group_by, from, to).await?;
        (
            sums,
            revenue,
            Vec::new(),
            super::report::Provenance { sources, traffic },
        )
    } else {
        let sources = rollups::sum_sources(&state.db, &group_by, from, to)
            .await?
            .into_iter()
            .map(|(keys, source, _kind, n)| (keys, source, n))
            .collect();
        (
            rollups::sum_rollups(&state.db, &group_by, from, to).await?,
            rollups::sum_revenue(&state.db, &group_by, from, to).await?,
            rollups::sum_velocity(&state.db, &group_by, from, to).await?,
            super::report::Provenance {
                sources,
                traffic: rollups::sum_traffic(&state.db, &group_by, from, to).await?,
            },
        )
    };
    let rows = super::report::build(&group_by, sums, revenue, velocity, provenance);
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "private, no-store"));
    response.insert_header((header::VARY, "Accept"));
    if csv {
        return Ok(response
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"engagement-{from}-{to}.csv\""),
            ))
            .body(super::report::to_csv(&group_by, &rows)));
    }
    Ok(response.json(EngagementReport {
        from: from.to_string(),
        to: to.to_string(),
        group_by: group_by.iter().map(|g| g.to_string()).collect(),
        rows,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SampleRatios {
    /// Every weighted split of published variants with enough traffic to test, over
    /// the last 7 days; `mismatch` holds automatic action in that placement.
    pub sample_ratios: Vec<super::integrity::SampleRatio>,
}

/// `GET /v1/governance/sample-ratios`: the sample-ratio test of every weighted split now.
#[utoipa::path(get, path = "/v1/governance/sample-ratios", tag = "governance",
    responses((status = 200, body = SampleRatios), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn sample_ratios(
    state: web::Data<Governance>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let (content, _) = crate::storage::load_content(&state.db).await?;
    let sample_ratios = evaluator::sample_ratios(&state.db, &content, chrono::Utc::now()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(SampleRatios { sample_ratios }))
}

/// `GET /dashboard`: the reviewers' page (self-contained; its data calls carry the staff
/// token the reviewer pastes, so the page itself is public).
pub async fn dashboard() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self'; frame-ancestors 'none'",
        ))
        .content_type("text/html; charset=utf-8")
        .body(include_str!("dashboard.html"))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StateEntry {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
    pub state: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct States {
    pub channels: Vec<StateEntry>,
    pub variants: Vec<StateEntry>,
}

/// `GET /v1/governance/states`: every channel's and variant's current state.
#[utoipa::path(get, path = "/v1/governance/states", tag = "governance",
    responses((status = 200, body = States), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn states(
    state: web::Data<Governance>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let catalog = state.catalog.current().await?;
    let governed: std::collections::BTreeMap<String, String> = store::states(&state.db, "variant")
        .await?
        .into_iter()
        .collect();
    let channels = catalog
        .channels
        .iter()
        .map(|c| StateEntry {
            id: c.id.to_string(),
            placement: None,
            state: c.def.state.as_str().to_string(),
        })
        .collect();
    let mut variants = Vec::new();
    for placement in &catalog.placements {
        for v in &placement.variants {
            variants.push(StateEntry {
                id: v.id.to_string(),
                placement: Some(placement.id.to_string()),
                state: governed
                    .get(v.id.as_ref())
                    .cloned()
                    .unwrap_or_else(|| v.state.as_str().to_string()),
            });
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(States { channels, variants }))
}
