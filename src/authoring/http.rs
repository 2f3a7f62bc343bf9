//! The admin API (`/v1/admin/...`): placements, variants and Fluent resources, their
//! versions and diffs, the review workflow, preview and translation coverage.
//!
//! Roles: every endpoint needs a staff token. `marketer` writes drafts and submits
//! them, `reviewer` approves or rejects (never their own version), only `publisher`
//! publishes or archives; `admin` can do all but publish. Placements have no review:
//! a marketer may create one (it serves nothing until a variant is published), only a
//! publisher or admin changes or archives one, which is live at once.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::workflow::{self, Action, Stage, StepError};
use super::Authoring;
use super::{LiveLocales, Strictness};
use crate::auth::{Role, StaffClaims, StaffUser};
use crate::catalog::model::{
    ContentSet, DeviceClass, FieldValue, FluentFile, PlacementDef, VariantDef, VariantState,
};
use crate::l10n::L10n;
use crate::problem::{json_body, read_body, ContentError, Problem, ProblemType};
use crate::storage::authoring::{self as store, Kind, NewVersion, Saved, Stepped, VersionRow};
use crate::storage::{self, StorageError};

/// This area's part of the OpenAPI document (merged with the others by the application).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_placements,
        create_placement,
        get_placement,
        put_placement,
        archive_placement,
        versions,
        versions_diff,
        create_variant,
        get_variant,
        put_variant,
        act_on_variant,
        list_locale_files,
        get_locale_file,
        put_locale_file,
        act_on_locale_file,
        locale_file_versions,
        locale_file_diff,
        coverage,
        super::preview::preview
    ),
    components(schemas(
        PlacementList,
        PlacementAnswer,
        VariantSummary,
        VariantInput,
        VariantAnswer,
        VariantVersionDoc,
        VersionDoc,
        StepBody,
        StepAnswer,
        VariantLocales,
        FluentAnswer,
        LocaleFileList,
        LocaleFileSummary,
        HistoryAnswer,
        AuditDoc,
        DiffAnswer,
        VersionAnswer,
        super::LiveLocales,
        super::IncompleteLocale,
        super::Coverage,
        super::MessageCoverage,
        super::LocaleCoverage,
        super::preview::PreviewRequest,
        super::preview::PreviewAnswer,
        super::preview::VariantExplained,
        super::preview::Reason,
        super::preview::RenderedLocale,
        super::preview::ChosenVariant
    ))
)]
pub struct Api;

/// Registers this area's state and routes.
pub fn configure(service: web::Data<Authoring>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(service);
        // History first: `/v1/admin/variants/{id}/{action}` would take these paths too.
        cfg.service(
            web::resource("/v1/admin/{kind:placements|variants}/{id}/versions")
                .route(web::get().to(versions)),
        )
        .service(
            web::resource("/v1/admin/{kind:placements|variants}/{id}/diff")
                .route(web::get().to(versions_diff)),
        )
        .service(
            web::resource("/v1/admin/placements")
                .route(web::get().to(list_placements))
                .route(web::post().to(create_placement)),
        )
        .service(
            web::resource("/v1/admin/placements/{id}")
                .route(web::get().to(get_placement))
                .route(web::put().to(put_placement)),
        )
        .service(
            web::resource("/v1/admin/placements/{id}/archive")
                .route(web::post().to(archive_placement)),
        )
        .service(
            web::resource("/v1/admin/placements/{id}/variants")
                .route(web::post().to(create_variant)),
        )
        .service(
            web::resource("/v1/admin/variants/{id}")
                .route(web::get().to(get_variant))
                .route(web::put().to(put_variant)),
        )
        .service(
            web::resource("/v1/admin/variants/{id}/{action}").route(web::post().to(act_on_variant)),
        )
        .service(web::resource("/v1/admin/locales").route(web::get().to(list_locale_files)))
        .service(
            web::resource("/v1/admin/locales/{locale}/{file}")
                .route(web::get().to(get_locale_file))
                .route(web::put().to(put_locale_file)),
        )
        .service(
            web::resource("/v1/admin/locales/{locale}/{file}/versions")
                .route(web::get().to(locale_file_versions)),
        )
        .service(
            web::resource("/v1/admin/locales/{locale}/{file}/diff")
                .route(web::get().to(locale_file_diff)),
        )
        .service(
            web::resource("/v1/admin/locales/{locale}/{file}/{action}")
                .route(web::post().to(act_on_locale_file)),
        )
        .service(web::resource("/v1/admin/preview").route(web::post().to(super::preview::preview)))
        .service(web::resource("/v1/admin/translations/coverage").route(web::get().to(coverage)));
    }
}

crate::role_set!(
    /// Everyone who works on content; workflow steps check their own roles on top.
    pub Readers = Marketer, Reviewer, Publisher, Admin
);
crate::role_set!(pub Authors = Marketer, Admin);
crate::role_set!(pub PlacementCreators = Marketer, Publisher, Admin);
crate::role_set!(
    /// Placement changes are live at once: publishing, so the publisher's alone.
    pub PlacementEditors = Publisher
);
/// Previewing a stored person shows their traits and consents: personal data.
pub(super) const PERSON_READERS: [Role; 2] = [Role::Privacy, Role::Admin];
const BODY_LIMIT: usize = 256 * 1024;

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

impl From<&VersionRow> for VersionDoc {
    fn from(row: &VersionRow) -> VersionDoc {
        VersionDoc {
            version: row.version as u32,
            state: row.state.clone(),
            author: row.author.clone(),
            created_at: row.created_at,
            changed_by: row.changed_by.clone(),
            changed_at: row.changed_at,
            note: row.note.clone(),
        }
    }
}

/// A version's document as the API shows it; a variant's carries the version's
/// workflow state (the stored definition keeps the state it was written with).
fn document_of(row: &VersionRow) -> serde_json::Value {
    match row.kind.as_str() {
        "fluent" => serde_json::Value::String(row.document.clone()),
        kind => {
            let mut document: serde_json::Value =
                serde_json::from_str(&row.document).unwrap_or(serde_json::Value::Null);
            if kind == "variant" && document.is_object() {
                document["state"] = serde_json::Value::from(row.state.as_str());
            }
            document
        }
    }
}

/// The version an editor started from: `If-Match: "3"` (or a bare `3`).
fn if_match(req: &HttpRequest) -> Result<Option<u32>, Problem> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::invalid(
                "If-Match",
                "give the version the edit starts from, e.g. If-Match: \"3\"",
            )
        })
}

fn content_changed() -> Problem {
    Problem::new(
        ProblemType::Conflict,
        "live content changed while this was being checked; try again",
    )
}

fn exists(kind: &str, id: &str) -> Problem {
    Problem::new(
        ProblemType::Conflict,
        format!("{kind} `{id}` exists; PUT changes it"),
    )
    .with_field("id")
}

fn stale(latest: u32) -> Problem {
    Problem::new(
        ProblemType::VersionMismatch,
        format!("version {latest} was saved since; reload it and apply the edit again"),
    )
    .with_field("If-Match")
}

fn not_found(what: &str, field: &str) -> Problem {
    Problem::new(ProblemType::NotFound, format!("no {what}")).with_field(field)
}

fn invalid_content(errors: Vec<ContentError>) -> Problem {
    let detail = errors.first().map(|e| e.reason.clone()).unwrap_or_default();
    Problem::invalid_content(detail, errors)
}

/// Tells every node and the CDN that live content changed.
async fn went_live(state: &Authoring, generation: u64, keys: Vec<String>, reason: String) {
    state.catalog.announce_change(generation).await;
    state.purger.purge(keys, reason, generation);
}

async fn live_content(state: &Authoring) -> Result<ContentSet, Problem> {
    Ok(storage::load_content(&state.db).await?.0)
}

/// The live content and the catalog generation it is: a change checked against it
/// goes live only if nothing else did meanwhile.
async fn live_content_at(state: &Authoring) -> Result<(ContentSet, u64), Problem> {
    Ok(storage::load_content(&state.db).await?)
}

/// Runs content checks (Fluent parsing, rendering every locale) off the async workers.
async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Problem::internal(&e))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

// ---------------------------------------------------------------------------------
// Placements

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

async fn placement_answer(
    state: &Authoring,
    def: &PlacementDef,
) -> Result<PlacementAnswer, Problem> {
    let version = store::latest(&state.db, Kind::Placement, &def.id)
        .await?
        .map_or(1, |r| r.version as u32);
    let latest = store::latest_per_target(&state.db, Kind::Variant, Some(&def.id)).await?;
    Ok(summarise(def, version, &latest))
}

/// A placement with its variants: live versions, and the newest version of each.
fn summarise(def: &PlacementDef, version: u32, latest: &[VersionRow]) -> PlacementAnswer {
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
    for row in latest
        .iter()
        .filter(|r| r.placement_id.as_deref() == Some(def.id.as_str()))
    {
        match variants.iter_mut().find(|v| v.id == row.target) {
            Some(summary) => {
                summary.latest_version = Some(row.version as u32);
                summary.latest_state = Some(row.state.clone());
            }
            None => variants.push(VariantSummary {
                id: row.target.clone(),
                live_version: None,
                live_state: None,
                latest_version: Some(row.version as u32),
                latest_state: Some(row.state.clone()),
            }),
        }
    }
    PlacementAnswer {
        id: def.id.clone(),
        version,
        definition: serde_json::to_value(PlacementDef {
            variants: Vec::new(),
            ..def.clone()
        })
        .unwrap_or_default(),
        archived: def.archived,
        variants,
    }
}

/// `GET /v1/admin/placements`
#[utoipa::path(get, path = "/v1/admin/placements", tag = "authoring",
    responses((status = 200, body = PlacementList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_placements(
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let content = live_content(&state).await?;
    // Two queries for the whole list, not two per placement.
    let latest_variants = store::latest_per_target(&state.db, Kind::Variant, None).await?;
    let versions = store::latest_per_target(&state.db, Kind::Placement, None).await?;
    let placements = content
        .placements
        .iter()
        .map(|def| {
            let version = versions
                .iter()
                .find(|r| r.target == def.id)
                .map_or(1, |r| r.version as u32);
            summarise(def, version, &latest_variants)
        })
        .collect();
    Ok(no_store().json(PlacementList { placements }))
}

fn no_store() -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    response
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
    if !valid_id(&def.id) {
        return Err(Problem::invalid(
            "id",
            "a placement id is 1-64 of [a-z0-9_.-]",
        ));
    }
    Ok(def)
}

async fn save_placement(
    state: &Authoring,
    claims: &StaffClaims,
    def: PlacementDef,
    based_on: Option<u32>,
    (content, generation): &(ContentSet, u64),
) -> Result<(PlacementAnswer, u32), Problem> {
    let mut checked = def.clone();
    checked.variants = content
        .placements
        .iter()
        .find(|p| p.id == def.id)
        .map(|p| p.variants.clone())
        .unwrap_or_default();
    let errors = {
        let (content, checked) = (content.clone(), checked.clone());
        let default_locale = state.default_locale.clone();
        off_the_runtime(move || super::check_placement(&content, &checked, &default_locale)).await?
    };
    if !errors.is_empty() {
        return Err(invalid_content(errors));
    }
    let document = crate::storage::to_json(&def);
    let seed = content.placements.iter().find(|p| p.id == def.id).map(|p| {
        (
            1,
            crate::storage::to_json(&PlacementDef {
                variants: Vec::new(),
                ..p.clone()
            }),
        )
    });
    let saved = store::save(
        &state.db,
        NewVersion {
            kind: Kind::Placement,
            target: &def.id,
            placement_id: None,
            document: &|_| document.clone(),
            actor: &claims.actor(),
            based_on,
            publish: true,
            seed,
            checked_at: Some(*generation),
        },
    )
    .await?;
    let (row, generation) = match saved {
        // Another creation of the same id won the race.
        Saved::Stale { .. } if based_on == Some(0) => return Err(exists("placement", &def.id)),
        Saved::Stale { latest } => return Err(stale(latest)),
        Saved::ContentChanged => return Err(content_changed()),
        Saved::Version { row, generation } => (row, generation),
    };
    if let Some(generation) = generation {
        went_live(
            state,
            generation,
            vec![format!("placement/{}", def.id)],
            format!("placement {} version {}", def.id, row.version),
        )
        .await;
    }
    let content = live_content(state).await?;
    let live = content
        .placements
        .iter()
        .find(|p| p.id == def.id)
        .cloned()
        .unwrap_or(checked);
    Ok((placement_answer(state, &live).await?, row.version as u32))
}

/// `POST /v1/admin/placements`: a new placement, live at once (it serves nothing until
/// one of its variants is published).
#[utoipa::path(post, path = "/v1/admin/placements", tag = "authoring",
    request_body(content = Object, description = "A placement as in content/placements/*.toml, without variants"),
    responses((status = 201, body = PlacementAnswer), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_placement(
    payload: web::Payload,
    state: web::Data<Authoring>,
    claims: StaffUser<PlacementCreators>,
) -> Result<HttpResponse, Problem> {
    let body = read_body(payload, BODY_LIMIT, "a placement is at most 256 KiB").await?;
    let def = placement_body(&body, None)?;
    let content = live_content_at(&state).await?;
    if content.0.placements.iter().any(|p| p.id == def.id)
        || store::latest(&state.db, Kind::Placement, &def.id)
            .await?
            .is_some()
    {
        return Err(exists("placement", &def.id));
    }
    let (answer, _) = save_placement(&state, &claims, def, Some(0), &content).await?;
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
    let content = live_content(&state).await?;
    let def = content
        .placements
        .iter()
        .find(|p| p.id == *path)
        .ok_or_else(|| not_found("such placement", "id"))?;
    let answer = placement_answer(&state, def).await?;
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
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<Authoring>,
    claims: StaffUser<PlacementEditors>,
) -> Result<HttpResponse, Problem> {
    let based_on = if_match(&req)?;
    let body = read_body(payload, BODY_LIMIT, "a placement is at most 256 KiB").await?;
    let def = placement_body(&body, Some(&path))?;
    let content = live_content_at(&state).await?;
    if !content.0.placements.iter().any(|p| p.id == def.id) {
        return Err(not_found(
            "such placement; POST /v1/admin/placements creates one",
            "id",
        ));
    }
    let (answer, version) = save_placement(&state, &claims, def, based_on, &content).await?;
    Ok(no_store()
        .insert_header((header::ETAG, format!("\"{version}\"")))
        .json(answer))
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
    let content = live_content_at(&state).await?;
    let def = content
        .0
        .placements
        .iter()
        .find(|p| p.id == *path)
        .ok_or_else(|| not_found("such placement", "id"))?;
    if def.archived {
        return Err(Problem::new(
            ProblemType::Conflict,
            "the placement is archived already",
        ));
    }
    let archived = PlacementDef {
        archived: true,
        variants: Vec::new(),
        ..def.clone()
    };
    let (answer, _) = save_placement(&state, &claims, archived, None, &content).await?;
    Ok(no_store().json(answer))
}

// ---------------------------------------------------------------------------------
// Variants

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
    pub fields: std::collections::BTreeMap<String, FieldValue>,
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

async fn variant_answer(state: &Authoring, id: &str) -> Result<Option<VariantAnswer>, Problem> {
    let live = store::live_variant(&state.db, id).await?;
    let latest = store::latest(&state.db, Kind::Variant, id).await?;
    let Some(placement) = latest
        .as_ref()
        .and_then(|r| r.placement_id.clone())
        .or_else(|| live.as_ref().map(|l| l.placement_id.clone()))
    else {
        return Ok(None);
    };
    let live_doc = match &live {
        Some(row) => {
            let version = store::version(&state.db, Kind::Variant, id, row.version as u32).await?;
            Some(VariantVersionDoc {
                version: version
                    .as_ref()
                    .map(VersionDoc::from)
                    .unwrap_or(VersionDoc {
                        version: row.version as u32,
                        state: row.state.clone(),
                        author: "import".into(),
                        created_at: row.updated_at,
                        changed_by: "import".into(),
                        changed_at: row.updated_at,
                        note: None,
                    }),
                definition: serde_json::from_str(&row.definition).unwrap_or_default(),
            })
        }
        None => None,
    };
    Ok(Some(VariantAnswer {
        id: id.to_string(),
        placement,
        live: live_doc,
        latest: latest.as_ref().map(|row| VariantVersionDoc {
            version: VersionDoc::from(row),
            definition: document_of(row),
        }),
    }))
}

async fn variant_errors(
    state: &Authoring,
    content: &ContentSet,
    placement: &PlacementDef,
    def: &VariantDef,
    strictness: Strictness,
) -> Result<(), Problem> {
    let (content, placement, def) = (content.clone(), placement.clone(), def.clone());
    let default_locale = state.default_locale.clone();
    let errors = off_the_runtime(move || {
        super::check_variant(&content, &placement, &def, &default_locale, strictness)
    })
    .await?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(invalid_content(errors))
    }
}

async fn save_variant(
    state: &Authoring,
    claims: &StaffClaims,
    placement: &str,
    def: VariantDef,
    based_on: Option<u32>,
    seed: Option<(u32, String)>,
) -> Result<VariantAnswer, Problem> {
    let document = |number: u32| {
        crate::storage::to_json(&VariantDef {
            version: number,
            ..def.clone()
        })
    };
    match store::save(
        &state.db,
        NewVersion {
            kind: Kind::Variant,
            target: &def.id,
            placement_id: Some(placement),
            document: &document,
            actor: &claims.actor(),
            based_on,
            publish: false,
            seed,
            checked_at: None,
        },
    )
    .await?
    {
        // Another creation of the same id won the race.
        Saved::Stale { .. } if based_on == Some(0) => Err(exists("variant", &def.id)),
        Saved::Stale { latest } => Err(stale(latest)),
        Saved::ContentChanged => Err(content_changed()),
        Saved::Version { .. } => variant_answer(state, &def.id)
            .await?
            .ok_or_else(|| not_found("such variant", "id")),
    }
}

fn placement_of<'c>(content: &'c ContentSet, id: &str) -> Result<&'c PlacementDef, Problem> {
    let placement = content
        .placements
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| not_found("such placement", "placement"))?;
    if placement.archived {
        return Err(Problem::new(
            ProblemType::Conflict,
            format!("placement `{id}` is archived"),
        )
        .with_field("placement"));
    }
    Ok(placement)
}

/// `POST /v1/admin/placements/{id}/variants`: a new variant, as a draft.
#[utoipa::path(post, path = "/v1/admin/placements/{id}/variants", tag = "authoring",
    request_body = VariantInput,
    responses((status = 201, body = VariantAnswer), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_variant(
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<Authoring>,
    claims: StaffUser<Authors>,
) -> Result<HttpResponse, Problem> {
    let body = read_body(payload, BODY_LIMIT, "a variant is at most 256 KiB").await?;
    let input: VariantInput = json_body(&body)?;
    let id = input
        .id
        .clone()
        .ok_or_else(|| Problem::invalid("id", "a new variant needs an id"))?;
    if !valid_id(&id) {
        return Err(Problem::invalid(
            "id",
            "a variant id is 1-64 of [a-z0-9_.-]",
        ));
    }
    let content = live_content(&state).await?;
    let placement = placement_of(&content, &path)?;
    if store::live_variant(&state.db, &id).await?.is_some()
        || store::latest(&state.db, Kind::Variant, &id)
            .await?
            .is_some()
    {
        return Err(Problem::new(
            ProblemType::Conflict,
            format!("variant `{id}` exists; PUT /v1/admin/variants/{id} changes it"),
        )
        .with_field("id"));
    }
    let def = input.into_def(id.clone());
    variant_errors(&state, &content, placement, &def, Strictness::Draft).await?;
    let answer = save_variant(&state, &claims, &placement.id, def, Some(0), None).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/admin/variants/{id}")))
        .json(answer))
}

/// `GET /v1/admin/variants/{id}`: the live version and the newest one.
#[utoipa::path(get, path = "/v1/admin/variants/{id}", tag = "authoring",
    responses((status = 200, body = VariantAnswer), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_variant(
    path: web::Path<String>,
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let answer = variant_answer(&state, &path)
        .await?
        .ok_or_else(|| not_found("such variant", "id"))?;
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
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<Authoring>,
    claims: StaffUser<Authors>,
) -> Result<HttpResponse, Problem> {
    let based_on = if_match(&req)?;
    let body = read_body(payload, BODY_LIMIT, "a variant is at most 256 KiB").await?;
    let input: VariantInput = json_body(&body)?;
    if input.id.as_deref().is_some_and(|id| id != path.as_str()) {
        return Err(Problem::invalid(
            "id",
            "the body names another variant than the path",
        ));
    }
    let live = store::live_variant(&state.db, &path).await?;
    let latest = store::latest(&state.db, Kind::Variant, &path).await?;
    let placement_id = latest
        .as_ref()
        .and_then(|r| r.placement_id.clone())
        .or_else(|| live.as_ref().map(|l| l.placement_id.clone()))
        .ok_or_else(|| not_found("such variant", "id"))?;
    let content = live_content(&state).await?;
    let placement = placement_of(&content, &placement_id)?;
    let def = input.into_def(path.to_string());
    variant_errors(&state, &content, placement, &def, Strictness::Draft).await?;
    let seed = live.map(|l| (l.version as u32, l.definition));
    let answer = save_variant(&state, &claims, &placement_id, def, based_on, seed).await?;
    Ok(no_store().json(answer))
}

// ---------------------------------------------------------------------------------
// The workflow, for variants and Fluent resources alike

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    /// The version to act on; the newest when absent.
    #[serde(default)]
    pub version: Option<u32>,
    /// Why (kept with the version and in the audit log).
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StepAnswer {
    pub target: String,
    pub version: u32,
    pub state: String,
    /// The catalog generation, when live content changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Publishing a variant: where it is live (the locale completeness gate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locales: Option<LiveLocales>,
    /// Publishing a Fluent resource: the published variants using its messages, and
    /// where each is live now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantLocales>,
    /// Surrogate keys purged from the CDN.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub purged: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VariantLocales {
    pub id: String,
    #[serde(flatten)]
    pub locales: LiveLocales,
}

async fn step_body(payload: web::Payload) -> Result<StepBody, Problem> {
    let body = read_body(
        payload,
        16 * 1024,
        "a workflow step's body is at most 16 KiB",
    )
    .await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(StepBody::default());
    }
    let step: StepBody = json_body(&body)?;
    if step.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(Problem::invalid(
            "note",
            "a note is at most 2000 characters",
        ));
    }
    Ok(step)
}

/// The version a step acts on, where it stands, and the stage it moves to.
async fn plan_step(
    state: &Authoring,
    kind: Kind,
    target: &str,
    action: Action,
    step: &StepBody,
    claims: &StaffClaims,
) -> Result<(VersionRow, Stage), Problem> {
    // Approving or publishing says what was read: a newer save must not ride along.
    if step.version.is_none() && matches!(action, Action::Approve | Action::Publish) {
        return Err(Problem::invalid(
            "version",
            format!(
                "name the version to {}: {{\"version\": N}}",
                action.as_str()
            ),
        ));
    }
    let row = match step.version {
        Some(n) => store::version(&state.db, kind, target, n).await?,
        // Archiving takes the serving version out of service, whatever drafts exist.
        None if action == Action::Archive => {
            let history = store::history(&state.db, kind, target).await?;
            let serving = history.iter().rposition(|r| r.state == "published");
            match serving {
                Some(index) => history.into_iter().nth(index),
                None => history.into_iter().last(),
            }
        }
        None => store::latest(&state.db, kind, target).await?,
    }
    .ok_or_else(|| match step.version {
        Some(_) => not_found("such version", "version"),
        None => not_found("version of it to act on", "id"),
    })?;
    // Imported files may carry states outside the workflow (`retired`).
    let from = Stage::parse(&row.state).ok_or_else(|| {
        Problem::new(
            ProblemType::Conflict,
            format!(
                "version {} is `{}`, outside the review workflow; save a new version",
                row.version, row.state
            ),
        )
        .with_field("version")
    })?;
    if action == Action::Publish {
        // A pending version older than what serves (an import went live meanwhile) would
        // take the live content back in time.
        if let Some(newer) = store::history(&state.db, kind, target)
            .await?
            .iter()
            .find(|r| r.state == "published" && r.version > row.version)
        {
            return Err(Problem::new(
                ProblemType::Conflict,
                format!(
                    "version {} is live and newer than version {}; save a new version",
                    newer.version, row.version
                ),
            )
            .with_field("version"));
        }
    }
    let to = workflow::step(
        action,
        from,
        row.version as u32,
        &claims.actor(),
        &row.author,
    )
    .map_err(|e| match e {
        StepError::OwnWork { .. } => Problem::new(ProblemType::Forbidden, e.to_string()),
        StepError::WrongStage { .. } => {
            Problem::new(ProblemType::Conflict, e.to_string()).with_field("version")
        }
    })?;
    Ok((row, to))
}

async fn apply_step(
    state: &Authoring,
    row: &VersionRow,
    to: Stage,
    action: Action,
    claims: &StaffClaims,
    note: Option<&str>,
    checked_at: Option<u64>,
) -> Result<Option<u64>, Problem> {
    match store::step(
        &state.db,
        row,
        to.as_str(),
        &claims.actor(),
        note,
        action.as_str(),
        checked_at,
    )
    .await?
    {
        Stepped::Done { generation } => Ok(generation),
        Stepped::ContentChanged => Err(content_changed()),
        Stepped::StateChanged => Err(Problem::new(
            ProblemType::Conflict,
            format!("version {} changed state meanwhile; reload it", row.version),
        )
        .with_field("version")),
    }
}

fn parse_action(name: &str) -> Result<Action, Problem> {
    Action::parse(name).ok_or_else(|| {
        Problem::new(
            ProblemType::NotFound,
            format!("no action `{name}`; one of submit, approve, reject, publish, archive"),
        )
        .with_field("action")
    })
}

/// The live Fluent files with each file's pending (newest unpublished) version in
/// place of the live one: what a submitted variant will meet once translations land.
pub(super) async fn fluent_with_pending(
    state: &Authoring,
    live: &[FluentFile],
) -> Result<Vec<FluentFile>, Problem> {
    let mut files = live.to_vec();
    for row in store::latest_per_target(&state.db, Kind::Fluent, None).await? {
        if !Stage::parse(&row.state).is_some_and(Stage::is_pending) {
            continue;
        }
        let Some((locale, path)) = row.target.split_once('/') else {
            continue;
        };
        match files
            .iter_mut()
            .find(|f| f.locale == locale && f.path == path)
        {
            Some(file) => file.source = row.document.clone(),
            None => files.push(FluentFile {
                locale: locale.to_string(),
                path: path.to_string(),
                source: row.document.clone(),
            }),
        }
    }
    Ok(files)
}

/// `POST /v1/admin/variants/{id}/{action}`: `submit` (marketer), `approve` or
/// `reject` (reviewer; not the version's author), `publish` or `archive` (publisher).
#[utoipa::path(post, path = "/v1/admin/variants/{id}/{action}", tag = "authoring",
    params(("action" = String, Path, description = "submit, approve, reject, publish or archive")),
    request_body(content = Option<StepBody>),
    responses((status = 200, body = StepAnswer), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn act_on_variant(
    claims: StaffUser<Readers>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<Authoring>,
) -> Result<HttpResponse, Problem> {
    let (id, action) = path.into_inner();
    let action = parse_action(&action)?;
    claims.require(action.roles())?;
    let step = step_body(payload).await?;
    let (row, to) = plan_step(&state, Kind::Variant, &id, action, &step, &claims).await?;
    let placement_id = row.placement_id.clone().unwrap_or_default();
    let (mut content, generation) = live_content_at(&state).await?;
    let mut locales = None;
    if matches!(action, Action::Submit | Action::Publish) {
        let def: VariantDef = serde_json::from_str(&row.document).map_err(|e| {
            Problem::internal(&StorageError::Document {
                id: id.clone(),
                source: e,
            })
        })?;
        let placement = placement_of(&content, &placement_id)?.clone();
        if action == Action::Submit {
            let live_files = content.fluent.clone();
            content.fluent = fluent_with_pending(&state, &live_files).await?;
        }
        // Publishing checks against what is live: a message still in review does not
        // count yet.
        variant_errors(&state, &content, &placement, &def, Strictness::Submit).await?;
        let (l10n, _) = L10n::build(&content.fluent, &state.default_locale);
        locales = Some(super::live_locales(&l10n, &placement, &def));
    }
    // A publish goes live only on the content it was checked against.
    let checked_at = (action == Action::Publish).then_some(generation);
    let generation = apply_step(
        &state,
        &row,
        to,
        action,
        &claims,
        step.note.as_deref(),
        checked_at,
    )
    .await?;
    let mut purged = Vec::new();
    if let Some(generation) = generation {
        purged = vec![format!("placement/{placement_id}"), format!("variant/{id}")];
        went_live(
            &state,
            generation,
            purged.clone(),
            format!("variant {id} version {} {}", row.version, to.as_str()),
        )
        .await;
    }
    Ok(no_store().json(StepAnswer {
        target: id,
        version: row.version as u32,
        state: to.as_str().to_string(),
        generation,
        locales: locales.filter(|_| action == Action::Publish),
        variants: Vec::new(),
        purged,
    }))
}

// ---------------------------------------------------------------------------------
// Fluent resources

/// `{locale}/{file}.ftl` from the path, checked.
fn fluent_path(locale: &str, file: &str) -> Result<(String, String), Problem> {
    let parsed: unic_langid::LanguageIdentifier = locale.parse().map_err(|_| {
        Problem::invalid("locale", format!("`{locale}` is not a BCP 47 language tag"))
    })?;
    if locale.len() > 35 {
        return Err(Problem::invalid(
            "locale",
            "a locale tag is at most 35 characters",
        ));
    }
    if parsed != locale {
        return Err(Problem::invalid(
            "locale",
            format!("write the locale as `{parsed}`"),
        ));
    }
    let stem = file.strip_suffix(".ftl").ok_or_else(|| {
        Problem::new(
            ProblemType::NotFound,
            "Fluent resources are named <file>.ftl",
        )
        .with_field("file")
    })?;
    if stem.is_empty()
        || stem.len() > 64
        || !stem.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        })
    {
        return Err(Problem::invalid(
            "file",
            "a resource name is 1-64 of [a-z0-9_.-] and .ftl",
        ));
    }
    Ok((locale.to_string(), file.to_string()))
}

#[derive(Deserialize)]
pub struct VersionQuery {
    /// A version number; the newest when absent.
    version: Option<u32>,
}

/// `GET /v1/admin/locales/{locale}/{file}.ftl`: the newest version's source (or
/// `?version=N`), as `text/plain`; `ETag` is the version, `Tailor-State` its state.
#[utoipa::path(get, path = "/v1/admin/locales/{locale}/{file}", tag = "authoring",
    params(("file" = String, Path, description = "e.g. home.ftl"), ("version" = Option<u32>, Query, description = "A version; the newest when absent")),
    responses((status = 200, description = "The Fluent source", content_type = "text/plain"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_locale_file(
    path: web::Path<(String, String)>,
    query: web::Query<VersionQuery>,
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let (locale, file) = fluent_path(&path.0, &path.1)?;
    let target = store::fluent_target(&locale, &file);
    let row = match query.version {
        Some(n) => store::version(&state.db, Kind::Fluent, &target, n).await?,
        None => store::latest(&state.db, Kind::Fluent, &target).await?,
    };
    let (version, stage, source) = match row {
        Some(row) => (row.version as u32, row.state, row.document),
        None if query.version.is_none() => {
            let live = store::live_fluent(&state.db).await?;
            let (_, _, source) = live
                .into_iter()
                .find(|(l, p, _)| *l == locale && *p == file)
                .ok_or_else(|| not_found("such Fluent resource", "file"))?;
            (1, "published".to_string(), source)
        }
        None => return Err(not_found("such version", "version")),
    };
    Ok(no_store()
        .insert_header((header::ETAG, format!("\"{version}\"")))
        .insert_header(("Tailor-Version", version.to_string()))
        .insert_header(("Tailor-State", stage))
        .content_type("text/plain; charset=utf-8")
        .body(source))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FluentAnswer {
    pub locale: String,
    pub file: String,
    #[serde(flatten)]
    pub version: VersionDoc,
    /// The message ids the resource defines.
    pub messages: Vec<String>,
}

/// The ids of the messages a Fluent source defines (whatever parses).
fn message_ids(source: &str) -> Vec<String> {
    let resource = match fluent_syntax::parser::parse(source) {
        Ok(resource) => resource,
        Err((resource, _)) => resource,
    };
    resource
        .body
        .iter()
        .filter_map(|entry| match entry {
            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
            _ => None,
        })
        .collect()
}

/// `PUT /v1/admin/locales/{locale}/{file}.ftl` (`text/plain`): a new draft version,
/// parsed first: a syntax error is a `422` with line and column.
#[utoipa::path(put, path = "/v1/admin/locales/{locale}/{file}", tag = "authoring",
    request_body(content = String, content_type = "text/plain"),
    params(("If-Match" = Option<String>, Header, description = "The version the edit starts from")),
    responses((status = 200, body = FluentAnswer), (status = 201, body = FluentAnswer), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 412, body = Problem), (status = 413, body = Problem),
        (status = 422, description = "Fluent syntax errors, each with line and column", body = Problem)))]
pub async fn put_locale_file(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<Authoring>,
    claims: StaffUser<Authors>,
) -> Result<HttpResponse, Problem> {
    let (locale, file) = fluent_path(&path.0, &path.1)?;
    let based_on = if_match(&req)?;
    let body = read_body(payload, BODY_LIMIT, "a Fluent resource is at most 256 KiB").await?;
    let source = String::from_utf8(body.to_vec())
        .map_err(|_| Problem::invalid("body", "a Fluent resource is UTF-8 text"))?;
    let live = store::live_fluent(&state.db).await?;
    let live_files: Vec<FluentFile> = live
        .iter()
        .map(|(l, p, s)| FluentFile {
            locale: l.clone(),
            path: p.clone(),
            source: s.clone(),
        })
        .collect();
    let candidate = FluentFile {
        locale: locale.clone(),
        path: file.clone(),
        source: source.clone(),
    };
    let errors = super::check_fluent(&live_files, &candidate);
    if !errors.is_empty() {
        return Err(Problem::invalid_content(
            format!(
                "{} Fluent error(s); the first: {}",
                errors.len(),
                errors[0].reason
            ),
            errors,
        ));
    }
    let target = store::fluent_target(&locale, &file);
    let seed = live
        .iter()
        .find(|(l, p, _)| *l == locale && *p == file)
        .map(|(_, _, s)| (1, s.clone()));
    let created = seed.is_none()
        && store::latest(&state.db, Kind::Fluent, &target)
            .await?
            .is_none();
    let saved = store::save(
        &state.db,
        NewVersion {
            kind: Kind::Fluent,
            target: &target,
            placement_id: None,
            document: &|_| source.clone(),
            actor: &claims.actor(),
            based_on,
            publish: false,
            seed,
            checked_at: None,
        },
    )
    .await?;
    let row = match saved {
        Saved::Stale { latest } => return Err(stale(latest)),
        Saved::ContentChanged => return Err(content_changed()),
        Saved::Version { row, .. } => row,
    };
    let answer = FluentAnswer {
        locale,
        file,
        version: VersionDoc::from(&*row),
        messages: message_ids(&source),
    };
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response
        .insert_header((header::ETAG, format!("\"{}\"", row.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(answer))
}

/// `POST /v1/admin/locales/{locale}/{file}.ftl/{action}`: the workflow for a Fluent
/// resource. Publishing (or archiving) a version that would leave a published variant
/// without its default-locale message is refused.
#[utoipa::path(post, path = "/v1/admin/locales/{locale}/{file}/{action}", tag = "authoring",
    params(("action" = String, Path, description = "submit, approve, reject, publish or archive")),
    request_body(content = Option<StepBody>),
    responses((status = 200, body = StepAnswer), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn act_on_locale_file(
    claims: StaffUser<Readers>,
    path: web::Path<(String, String, String)>,
    payload: web::Payload,
    state: web::Data<Authoring>,
) -> Result<HttpResponse, Problem> {
    let (locale, file, action) = path.into_inner();
    let (locale, file) = fluent_path(&locale, &file)?;
    let action = parse_action(&action)?;
    claims.require(action.roles())?;
    let step = step_body(payload).await?;
    let target = store::fluent_target(&locale, &file);
    let (row, to) = plan_step(&state, Kind::Fluent, &target, action, &step, &claims).await?;
    let (mut content, checked_generation) = live_content_at(&state).await?;
    let goes_live = to == Stage::Published || (to == Stage::Archived && row.state == "published");
    let mut affected = Vec::new();
    let mut purged: Vec<String> = Vec::new();
    if goes_live {
        let old = content
            .fluent
            .iter()
            .find(|f| f.locale == locale && f.path == file)
            .map(|f| f.source.clone())
            .unwrap_or_default();
        let candidate = FluentFile {
            locale: locale.clone(),
            path: file.clone(),
            source: row.document.clone(),
        };
        if to == Stage::Published {
            // Another resource of the locale may have gained one of its ids since the save.
            let errors = super::check_fluent(&content.fluent, &candidate);
            if !errors.is_empty() {
                return Err(invalid_content(errors));
            }
        }
        content
            .fluent
            .retain(|f| !(f.locale == locale && f.path == file));
        if to == Stage::Published {
            content.fluent.push(candidate);
        }
        // One build of the resulting bundles serves the check and the report.
        let default_locale = state.default_locale.clone();
        let (errors, l10n, content) = off_the_runtime(move || {
            let (l10n, _) = L10n::build(&content.fluent, &default_locale);
            (super::broken_by(&content, &l10n), l10n, content)
        })
        .await?;
        if !errors.is_empty() {
            return Err(invalid_content(errors));
        }
        let mut touched = message_ids(&old);
        touched.extend(message_ids(&row.document));
        for (placement, variant) in content.published_variants() {
            let uses = |m: &str| touched.iter().any(|t| t == m);
            // Terms and message references reach any message of the locale, so every
            // placement that renders a message is purged, not only the direct users.
            let key = format!("placement/{}", placement.id);
            if crate::catalog::messages_of(variant).next().is_some() && !purged.contains(&key) {
                purged.push(key);
            }
            if crate::catalog::messages_of(variant).any(uses) {
                affected.push(VariantLocales {
                    id: variant.id.clone(),
                    locales: super::live_locales(&l10n, placement, variant),
                });
            }
        }
    }
    // Going live (a publish, or archiving what serves) only on the content checked.
    let checked_at = goes_live.then_some(checked_generation);
    let generation = apply_step(
        &state,
        &row,
        to,
        action,
        &claims,
        step.note.as_deref(),
        checked_at,
    )
    .await?;
    match generation {
        Some(generation) => {
            went_live(
                &state,
                generation,
                purged.clone(),
                format!(
                    "Fluent resource {target} version {} {}",
                    row.version,
                    to.as_str()
                ),
            )
            .await
        }
        None => purged.clear(),
    }
    Ok(no_store().json(StepAnswer {
        target,
        version: row.version as u32,
        state: to.as_str().to_string(),
        generation,
        locales: None,
        variants: affected,
        purged,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LocaleFileSummary {
    pub locale: String,
    pub file: String,
    pub live: bool,
    pub latest_version: Option<u32>,
    pub latest_state: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LocaleFileList {
    pub files: Vec<LocaleFileSummary>,
}

/// `GET /v1/admin/locales`: every Fluent resource, live or pending.
#[utoipa::path(get, path = "/v1/admin/locales", tag = "authoring",
    responses((status = 200, body = LocaleFileList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_locale_files(
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let mut files: Vec<LocaleFileSummary> = store::live_fluent(&state.db)
        .await?
        .into_iter()
        .map(|(locale, file, _)| LocaleFileSummary {
            locale,
            file,
            live: true,
            latest_version: None,
            latest_state: None,
        })
        .collect();
    for row in store::latest_per_target(&state.db, Kind::Fluent, None).await? {
        let Some((locale, file)) = row.target.split_once('/') else {
            continue;
        };
        match files
            .iter_mut()
            .find(|f| f.locale == locale && f.file == file)
        {
            Some(summary) => {
                summary.latest_version = Some(row.version as u32);
                summary.latest_state = Some(row.state.clone());
            }
            None => files.push(LocaleFileSummary {
                locale: locale.to_string(),
                file: file.to_string(),
                live: false,
                latest_version: Some(row.version as u32),
                latest_state: Some(row.state.clone()),
            }),
        }
    }
    files.sort_by(|a, b| (&a.locale, &a.file).cmp(&(&b.locale, &b.file)));
    Ok(no_store().json(LocaleFileList { files }))
}

// ---------------------------------------------------------------------------------
// History: versions, one version, diffs

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
    /// The definition (placements, variants) or the Fluent source.
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
}

async fn history(
    state: &Authoring,
    kind: Kind,
    target: &str,
    one: Option<u32>,
) -> Result<HttpResponse, Problem> {
    let rows = store::history(&state.db, kind, target).await?;
    if rows.is_empty() {
        return Err(not_found(
            "history for it (nothing was saved or imported)",
            "id",
        ));
    }
    if let Some(number) = one {
        let row = rows
            .iter()
            .find(|r| r.version as u32 == number)
            .ok_or_else(|| not_found("such version", "version"))?;
        return Ok(no_store().json(VersionAnswer {
            version: VersionDoc::from(row),
            document: document_of(row),
        }));
    }
    let audit = store::audit_trail(&state.db, kind, target)
        .await?
        .into_iter()
        .map(|a| AuditDoc {
            actor: a.actor,
            action: a.action,
            at: a.created_at,
            detail: serde_json::from_str(&a.detail).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(no_store().json(HistoryAnswer {
        kind: kind.as_str().to_string(),
        target: target.to_string(),
        versions: rows.iter().map(VersionDoc::from).collect(),
        audit,
    }))
}

async fn diff(
    state: &Authoring,
    kind: Kind,
    target: &str,
    query: &DiffQuery,
) -> Result<HttpResponse, Problem> {
    let rows = store::history(&state.db, kind, target).await?;
    let newest = rows
        .last()
        .ok_or_else(|| not_found("history for it", "id"))?
        .version as u32;
    let to_number = query.to.unwrap_or(newest);
    let from_number = query.from.unwrap_or(to_number.saturating_sub(1));
    let find = |number: u32, field: &str| {
        rows.iter()
            .find(|r| r.version as u32 == number)
            .ok_or_else(|| not_found(&format!("version {number}"), field))
    };
    let (from, to) = (find(from_number, "from")?, find(to_number, "to")?);
    let text = |row: &VersionRow| match document_of(row) {
        serde_json::Value::String(source) => source,
        document => document.to_string(),
    };
    let (from_name, to_name) = (
        format!("{target} version {from_number}"),
        format!("{target} version {to_number}"),
    );
    let (from_text, to_text) = (text(from), text(to));
    let diff =
        off_the_runtime(move || super::diff(&from_name, &from_text, &to_name, &to_text)).await?;
    Ok(no_store().json(DiffAnswer {
        target: target.to_string(),
        diff,
        from: VersionDoc::from(from),
        to: VersionDoc::from(to),
    }))
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    /// One version with its document, instead of the list.
    version: Option<u32>,
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
    responses((status = 200, body = HistoryAnswer), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
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
    responses((status = 200, body = HistoryAnswer), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn locale_file_versions(
    path: web::Path<(String, String)>,
    query: web::Query<HistoryQuery>,
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let (locale, file) = fluent_path(&path.0, &path.1)?;
    history(
        &state,
        Kind::Fluent,
        &store::fluent_target(&locale, &file),
        query.version,
    )
    .await
}

/// `GET /v1/admin/locales/{locale}/{file}.ftl/diff?from=&to=`
#[utoipa::path(get, path = "/v1/admin/locales/{locale}/{file}/diff", tag = "authoring",
    params(("from" = Option<u32>, Query,), ("to" = Option<u32>, Query,)),
    responses((status = 200, body = DiffAnswer), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn locale_file_diff(
    path: web::Path<(String, String)>,
    query: web::Query<DiffQuery>,
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let (locale, file) = fluent_path(&path.0, &path.1)?;
    diff(
        &state,
        Kind::Fluent,
        &store::fluent_target(&locale, &file),
        &query,
    )
    .await
}

// ---------------------------------------------------------------------------------
// Coverage

/// `GET /v1/admin/translations/coverage`: for every message a published variant uses,
/// the locales that lack it (the variant is not live there) or fall back.
#[utoipa::path(get, path = "/v1/admin/translations/coverage", tag = "authoring",
    responses((status = 200, body = super::Coverage), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn coverage(
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let catalog = state.catalog.current().await?;
    let content = live_content(&state).await?;
    Ok(no_store().json(super::coverage(&content, &catalog.l10n)))
}
