//! History handlers: every version of a placement, variant or Fluent resource with its
//! audit trail, one version with its document, and diffs.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::http::{no_store, FluentPath, Readers};
use super::usecases::{document_of, History};
use super::Authoring;
use crate::auth::StaffUser;
use crate::problem::Problem;
use crate::storage::authoring::{fluent_target, Kind, Version};

/// One version in a history.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VersionDoc {
    pub version: u32,
    /// `draft`, `in_review`, `approved`, `published`, `archived` or `superseded`.
    pub state: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<&Version> for VersionDoc {
    fn from(version: &Version) -> VersionDoc {
        VersionDoc {
            version: version.version,
            state: version.stage.as_str().to_string(),
            author: version.author.clone(),
            created_at: version.created_at,
            changed_by: version.changed_by.clone(),
            changed_at: version.changed_at,
            note: version.note.clone(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditDoc {
    pub actor: String,
    pub action: String,
    pub at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryAnswer {
    pub kind: String,
    pub target: String,
    pub versions: Vec<VersionDoc>,
    /// Every change and workflow step, oldest first.
    pub audit: Vec<AuditDoc>,
}

#[derive(Deserialize)]
pub struct DiffQuery {
    /// The older version; the one before `to` when absent.
    from: Option<u32>,
    /// The newer version; the newest when absent.
    to: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DiffAnswer {
    pub target: String,
    pub from: VersionDoc,
    pub to: VersionDoc,
    /// A unified diff (JSON documents pretty-printed first).
    pub diff: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VersionAnswer {
    #[serde(flatten)]
    pub version: VersionDoc,
    /// The definition (placements, variants: an object) or the Fluent source (a string).
    pub document: serde_json::Value,
}

/// `…/versions`' answer: the history, or with `?version=N` that one version.
pub struct HistoryOrVersion;

impl utoipa::PartialSchema for HistoryOrVersion {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::any_of(&["HistoryAnswer", "VersionAnswer"])
    }
}

impl utoipa::ToSchema for HistoryOrVersion {}

#[derive(Deserialize)]
pub struct HistoryQuery {
    /// One version with its document, instead of the list.
    version: Option<u32>,
}

/// The history of a target, or (`one`) one version with its document.
async fn history(
    state: &Authoring,
    kind: Kind,
    target: &str,
    one: Option<u32>,
) -> Result<HttpResponse, Problem> {
    if let Some(number) = one {
        let version = state.version(kind, target, number).await?;
        return Ok(no_store().json(VersionAnswer {
            version: VersionDoc::from(&version),
            document: document_of(&version),
        }));
    }
    let History { versions, audit } = state.history(kind, target).await?;
    Ok(no_store().json(HistoryAnswer {
        kind: kind.as_str().to_string(),
        target: target.to_string(),
        versions: versions.iter().map(VersionDoc::from).collect(),
        audit: audit
            .into_iter()
            .map(|a| AuditDoc {
                actor: a.actor,
                action: a.action,
                at: a.at,
                detail: serde_json::from_str(&a.detail).unwrap_or(serde_json::Value::Null),
            })
            .collect(),
    }))
}

async fn diff(
    state: &Authoring,
    kind: Kind,
    target: &str,
    query: &DiffQuery,
) -> Result<HttpResponse, Problem> {
    let diff = state.diff(kind, target, query.from, query.to).await?;
    Ok(no_store().json(DiffAnswer {
        target: target.to_string(),
        diff: diff.diff,
        from: VersionDoc::from(&diff.from),
        to: VersionDoc::from(&diff.to),
    }))
}

/// `placements` or `variants`, from the path.
fn kind_of_path(kind: &str) -> Kind {
    match kind {
        "placements" => Kind::Placement,
        _ => Kind::Variant,
    }
}

/// `GET /v1/admin/{placements|variants}/{id}/versions`: the history with its audit
/// trail (or `?version=N`, one version with its document).
#[utoipa::path(get, path = "/v1/admin/{kind}/{id}/versions", tag = "authoring",
    params(("kind" = String, Path, description = "placements or variants"),
        ("version" = Option<u32>, Query, description = "One version, with its document")),
    responses((status = 200, body = HistoryOrVersion), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn versions(
    path: web::Path<(String, String)>,
    query: web::Query<HistoryQuery>,
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    history(&state, kind_of_path(&path.0), &path.1, query.version).await
}

/// `GET /v1/admin/{placements|variants}/{id}/diff?from=&to=`
#[utoipa::path(get, path = "/v1/admin/{kind}/{id}/diff", tag = "authoring",
    params(("kind" = String, Path, description = "placements or variants"),
        ("from" = Option<u32>, Query,), ("to" = Option<u32>, Query,)),
    responses((status = 200, body = DiffAnswer), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn versions_diff(
    path: web::Path<(String, String)>,
    query: web::Query<DiffQuery>,
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    diff(&state, kind_of_path(&path.0), &path.1, &query).await
}

/// `GET /v1/admin/locales/{locale}/{file}.ftl/versions`
#[utoipa::path(get, path = "/v1/admin/locales/{locale}/{file}/versions", tag = "authoring",
    params(("version" = Option<u32>, Query, description = "One version, with its source")),
    responses((status = 200, body = HistoryOrVersion), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn locale_file_versions(
    // In this order: a bad query is a 400 before the token is looked at, as it always was.
    query: web::Query<HistoryQuery>,
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
    path: FluentPath,
) -> Result<HttpResponse, Problem> {
    let target = fluent_target(&path.locale, &path.file);
    history(&state, Kind::Fluent, &target, query.version).await
}

/// `GET /v1/admin/locales/{locale}/{file}.ftl/diff?from=&to=`
#[utoipa::path(get, path = "/v1/admin/locales/{locale}/{file}/diff", tag = "authoring",
    params(("from" = Option<u32>, Query,), ("to" = Option<u32>, Query,)),
    responses((status = 200, body = DiffAnswer), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn locale_file_diff(
    query: web::Query<DiffQuery>,
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
    path: FluentPath,
) -> Result<HttpResponse, Problem> {
    let target = fluent_target(&path.locale, &path.file);
    diff(&state, Kind::Fluent, &target, &query).await
}
