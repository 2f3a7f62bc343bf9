//! Variant handlers (`/v1/admin/placements/{id}/variants`, `/v1/admin/variants/...`,
//! their workflow steps) and what they answer.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::history::VersionDoc;
use super::http::{no_store, Authors, IfMatch, Readers, StepAnswer, StepBody, BODY_LIMIT};
use super::usecases::{document_of, LiveView, VariantView};
use super::workflow::Action;
use super::Authoring;
use crate::auth::{RolesCheckedByHandler, StaffUser};
use crate::catalog::ids::{valid_id, IdKind};
use crate::catalog::model::{DeviceClass, FieldValue, VariantDef, VariantState};
use crate::problem::{read_json, Problem};

/// A variant as the API takes it: the file format's fields; the server keeps the
/// version number and the workflow state.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub devices: Option<Vec<DeviceClass>>,
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, FieldValue>,
}

fn one() -> u32 {
    1
}

impl VariantInput {
    fn into_def(self, id: String) -> VariantDef {
        VariantDef {
            id,
            version: 0,
            state: VariantState::Draft,
            channels: self.channels,
            devices: self.devices,
            rule: self.rule,
            priority: self.priority,
            weight: self.weight,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            fields: self.fields,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VariantVersionDoc {
    #[serde(flatten)]
    pub version: VersionDoc,
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VariantAnswer {
    pub id: String,
    pub placement: String,
    /// What serves (or last served): absent until a version is published.
    pub live: Option<VariantVersionDoc>,
    /// The newest version.
    pub latest: Option<VariantVersionDoc>,
}

impl From<VariantView> for VariantAnswer {
    fn from(view: VariantView) -> VariantAnswer {
        VariantAnswer {
            id: view.id,
            placement: view.placement,
            live: view
                .live
                .map(|LiveView { live, recorded }| VariantVersionDoc {
                    // Put live by the content files and never edited: the import made it.
                    version: recorded
                        .as_ref()
                        .map(VersionDoc::from)
                        .unwrap_or(VersionDoc {
                            version: live.version,
                            state: live.stage.as_str().to_string(),
                            author: "import".into(),
                            created_at: live.updated_at,
                            changed_by: "import".into(),
                            changed_at: live.updated_at,
                            note: None,
                        }),
                    definition: serde_json::from_str(&live.definition).unwrap_or_default(),
                }),
            latest: view.latest.as_ref().map(|version| VariantVersionDoc {
                version: VersionDoc::from(version),
                definition: document_of(version),
            }),
        }
    }
}

/// `POST /v1/admin/placements/{id}/variants`: a new variant, as a draft.
#[utoipa::path(post, path = "/v1/admin/placements/{id}/variants", tag = "authoring",
    request_body = VariantInput,
    responses((status = 201, body = VariantAnswer), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_variant(
    claims: StaffUser<Authors>,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<Authoring>,
) -> Result<HttpResponse, Problem> {
    let input: VariantInput =
        read_json(payload, BODY_LIMIT, "a variant is at most 256 KiB").await?;
    let id = input
        .id
        .clone()
        .ok_or_else(|| Problem::invalid("id", "a new variant needs an id"))?;
    if !valid_id(&id, IdKind::Variant) {
        return Err(Problem::invalid(
            "id",
            "a variant id is 1-64 of [a-z0-9_.-]",
        ));
    }
    let view = state
        .create_variant(&claims.actor(), &path, input.into_def(id.clone()))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/admin/variants/{id}")))
        .json(VariantAnswer::from(view)))
}

/// `GET /v1/admin/variants/{id}`: the live version and the newest one.
#[utoipa::path(get, path = "/v1/admin/variants/{id}", tag = "authoring",
    responses((status = 200, body = VariantAnswer), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_variant(
    path: web::Path<String>,
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let answer = VariantAnswer::from(
        state
            .variant(&path)
            .await?
            .ok_or_else(|| super::error::AuthoringError::not_found("such variant", "id"))?,
    );
    let etag = answer
        .latest
        .as_ref()
        .or(answer.live.as_ref())
        .map_or(0, |v| v.version.version);
    Ok(no_store()
        .insert_header((header::ETAG, format!("\"{etag}\"")))
        .json(answer))
}

/// `PUT /v1/admin/variants/{id}`: a new draft version. A published version keeps
/// serving until the draft is approved and published.
#[utoipa::path(put, path = "/v1/admin/variants/{id}", tag = "authoring",
    request_body = VariantInput,
    params(("If-Match" = Option<String>, Header, description = "The version the edit starts from")),
    responses((status = 200, body = VariantAnswer), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn put_variant(
    claims: StaffUser<Authors>,
    IfMatch(based_on): IfMatch,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<Authoring>,
) -> Result<HttpResponse, Problem> {
    let input: VariantInput =
        read_json(payload, BODY_LIMIT, "a variant is at most 256 KiB").await?;
    if input.id.as_deref().is_some_and(|id| id != path.as_str()) {
        return Err(Problem::invalid(
            "id",
            "the body names another variant than the path",
        ));
    }
    let view = state
        .change_variant(&claims.actor(), input.into_def(path.into_inner()), based_on)
        .await?;
    Ok(no_store().json(VariantAnswer::from(view)))
}

/// `POST /v1/admin/variants/{id}/{action}`: `submit` (marketer), `approve` or
/// `reject` (reviewer; not the version's author), `publish` or `archive` (publisher).
#[utoipa::path(post, path = "/v1/admin/variants/{id}/{action}", tag = "authoring",
    params(("action" = String, Path, description = "submit, approve, reject, publish or archive")),
    request_body(content = Option<StepBody>),
    responses((status = 200, body = StepAnswer), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn act_on_variant(
    claims: StaffUser<RolesCheckedByHandler>,
    path: web::Path<(String, Action)>,
    payload: web::Payload,
    state: web::Data<Authoring>,
) -> Result<HttpResponse, Problem> {
    let (id, action) = path.into_inner();
    claims.require(action.roles())?;
    let step = StepBody::read(payload).await?;
    let outcome = state
        .step_variant(&claims.actor(), &id, action, &step)
        .await?;
    Ok(no_store().json(StepAnswer::from(outcome)))
}
