//! Placement handlers (`/v1/admin/placements...`) and what they answer.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::http::{no_store, IfMatch, PlacementCreators, PlacementEditors, Readers, BODY_LIMIT};
use super::usecases::PlacementState;
use super::Authoring;
use crate::auth::StaffUser;
use crate::catalog::ids::{valid_id, IdKind};
use crate::catalog::model::PlacementDef;
use crate::problem::{json_body, read_body, Problem};

#[derive(Serialize, utoipa::ToSchema)]
pub struct VariantSummary {
    pub id: String,
    /// The version serving (or last served), if it was ever published.
    pub live_version: Option<u32>,
    pub live_state: Option<String>,
    /// The newest version and where it stands.
    pub latest_version: Option<u32>,
    pub latest_state: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PlacementAnswer {
    pub id: String,
    /// The newest version of the placement's definition.
    pub version: u32,
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    pub archived: bool,
    pub variants: Vec<VariantSummary>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PlacementList {
    pub placements: Vec<PlacementAnswer>,
}

/// A placement with its variants: live versions, and the newest version of each.
impl From<PlacementState> for PlacementAnswer {
    fn from(state: PlacementState) -> PlacementAnswer {
        let def = state.def;
        let mut variants: Vec<VariantSummary> = def
            .variants
            .iter()
            .map(|v| VariantSummary {
                id: v.id.clone(),
                live_version: Some(v.version),
                live_state: Some(v.state.as_str().to_string()),
                latest_version: None,
                latest_state: None,
            })
            .collect();
        for version in state.variants {
            let latest_state = Some(version.stage.as_str().to_string());
            match variants.iter_mut().find(|v| v.id == version.target) {
                Some(summary) => {
                    summary.latest_version = Some(version.version);
                    summary.latest_state = latest_state;
                }
                None => variants.push(VariantSummary {
                    id: version.target,
                    live_version: None,
                    live_state: None,
                    latest_version: Some(version.version),
                    latest_state,
                }),
            }
        }
        PlacementAnswer {
            id: def.id.clone(),
            version: state.version,
            archived: def.archived,
            definition: serde_json::to_value(PlacementDef {
                variants: Vec::new(),
                ..def
            })
            .unwrap_or_default(),
            variants,
        }
    }
}

/// A placement as the API takes it: the file format's fields, variants apart.
fn placement_body(body: &[u8], path_id: Option<&str>) -> Result<PlacementDef, Problem> {
    let mut def: PlacementDef = json_body(body)?;
    if !def.variants.is_empty() {
        return Err(Problem::invalid(
            "variant",
            "variants are authored one by one at /v1/admin/placements/{id}/variants",
        ));
    }
    if let Some(id) = path_id {
        if def.id.is_empty() {
            def.id = id.to_string();
        } else if def.id != id {
            return Err(Problem::invalid(
                "id",
                format!("the body names `{}`, the path `{id}`", def.id),
            ));
        }
    }
    if !valid_id(&def.id, IdKind::Placement) {
        return Err(Problem::invalid(
            "id",
            "a placement id is 1-64 of [a-z0-9_.-]",
        ));
    }
    Ok(def)
}

/// `GET /v1/admin/placements`
#[utoipa::path(get, path = "/v1/admin/placements", tag = "authoring",
    responses((status = 200, body = PlacementList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_placements(
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let placements = state.placements().await?;
    Ok(no_store().json(PlacementList {
        placements: placements.into_iter().map(PlacementAnswer::from).collect(),
    }))
}

/// `POST /v1/admin/placements`: a new placement, live at once (it serves nothing until
/// one of its variants is published).
#[utoipa::path(post, path = "/v1/admin/placements", tag = "authoring",
    request_body(content = Object, description = "A placement as in content/placements/*.toml, without variants"),
    responses((status = 201, body = PlacementAnswer), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_placement(
    claims: StaffUser<PlacementCreators>,
    payload: web::Payload,
    state: web::Data<Authoring>,
) -> Result<HttpResponse, Problem> {
    let body = read_body(payload, BODY_LIMIT, "a placement is at most 256 KiB").await?;
    let def = placement_body(&body, None)?;
    let answer = PlacementAnswer::from(state.create_placement(&claims.actor(), def).await?);
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/v1/admin/placements/{}", answer.id),
        ))
        .insert_header((header::ETAG, format!("\"{}\"", answer.version)))
        .json(answer))
}

/// `GET /v1/admin/placements/{id}`
#[utoipa::path(get, path = "/v1/admin/placements/{id}", tag = "authoring",
    responses((status = 200, body = PlacementAnswer), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_placement(
    path: web::Path<String>,
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let answer = PlacementAnswer::from(state.placement(&path).await?);
    Ok(no_store()
        .insert_header((header::ETAG, format!("\"{}\"", answer.version)))
        .json(answer))
}

/// `PUT /v1/admin/placements/{id}`: a new version of the definition, live at once.
#[utoipa::path(put, path = "/v1/admin/placements/{id}", tag = "authoring",
    request_body(content = Object, description = "The whole placement, without variants"),
    params(("If-Match" = Option<String>, Header, description = "The version the edit starts from")),
    responses((status = 200, body = PlacementAnswer), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn put_placement(
    claims: StaffUser<PlacementEditors>,
    IfMatch(based_on): IfMatch,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<Authoring>,
) -> Result<HttpResponse, Problem> {
    let body = read_body(payload, BODY_LIMIT, "a placement is at most 256 KiB").await?;
    let def = placement_body(&body, Some(&path))?;
    let (placement, version) = state
        .change_placement(&claims.actor(), def, based_on)
        .await?;
    Ok(no_store()
        .insert_header((header::ETAG, format!("\"{version}\"")))
        .json(PlacementAnswer::from(placement)))
}

/// `POST /v1/admin/placements/{id}/archive`: stops serving the placement (its history
/// is kept; a `PUT` with `"archived": false` brings it back).
#[utoipa::path(post, path = "/v1/admin/placements/{id}/archive", tag = "authoring",
    responses((status = 200, body = PlacementAnswer), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn archive_placement(
    path: web::Path<String>,
    state: web::Data<Authoring>,
    claims: StaffUser<PlacementEditors>,
) -> Result<HttpResponse, Problem> {
    let placement = state.archive_placement(&claims.actor(), &path).await?;
    Ok(no_store().json(PlacementAnswer::from(placement)))
}
