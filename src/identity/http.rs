//! `POST /v1/identify` (server key or staff `identify` scope), `GET /v1/people/{id}`
//! and `DELETE /v1/people/{id}` (erasure, staff role `privacy`).

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::directory::PeopleChanged;
use super::graph::{Identifier, TraitValue};
use super::wire::parse_identify;
use super::Identity;
use crate::auth::{Caller, StaffUser};
use crate::problem::{Problem, ProblemType};
use crate::storage::identity::{self as store, IdentifyError, IdentifyOutcome};

crate::role_set!(pub PrivacyStaff = Privacy);

/// The roles each staff route accepts, for the OpenAPI document (see
/// `authoring::http::STAFF_ROLES`); these routes also take a server key, and reading a
/// person or identifying takes a staff token with the `identify` scope.
pub const STAFF_ROLES: &[(&str, &str, &[crate::auth::Role])] = {
    use crate::auth::{Role, Roles};
    &[
        ("get", "/v1/people/{id}", &[Role::Privacy, Role::Admin]),
        (
            "get",
            "/v1/people/{id}/channels",
            &[Role::Privacy, Role::Admin],
        ),
        ("delete", "/v1/people/{id}", PrivacyStaff::ACCEPTED),
    ]
};

/// This area's part of the OpenAPI document (merged with the others by the application).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(identify, get_person, erase_person, person_channels),
    components(schemas(
        IdentifyAnswer,
        PersonAnswer,
        IdentifierDoc,
        MergeDoc,
        IdentifyDoc,
        super::service::ChannelRanking,
        super::service::ExcludedChannel,
        crate::engagement::reach::RankedChannel,
        crate::engagement::reach::Tally,
        crate::engagement::reach::Strengths
    ))
)]
pub struct Api;

/// `POST /v1/identify`'s body, for the document (the wire type keeps what was sent, so
/// each field is refused by name: see `identity::wire`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct IdentifyDoc {
    /// Identifier type → value (or values, for multi-valued types): the built-in
    /// `anonymous_id`, `device_id`, `customer_id`, `email_sha256`, `phone_sha256`,
    /// `loyalty_id`, `social_handle`, and any
    /// `identifier_types` configured. At most 20 in all.
    identifiers: std::collections::BTreeMap<String, String>,
    /// Trait → value, as the catalog's trait definitions type them.
    traits: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    /// Channel → whether the person may be reached there.
    consents: Option<std::collections::BTreeMap<String, bool>>,
}

/// Routes that need the database for every answer (see `resilience::gate`).
pub const NEEDS_DATABASE: &[&str] = &["/v1/identify", "/v1/people/"];

/// Registers this area's state and routes.
pub fn configure(service: web::Data<Identity>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(service);
        cfg.service(
            web::resource("/v1/identify")
                .wrap(actix_web::middleware::from_fn(crate::ratelimit::identify))
                .route(web::post().to(identify)),
        )
        .service(
            web::resource("/v1/people/{id}")
                .route(web::get().to(get_person))
                .route(web::delete().to(erase_person)),
        )
        .service(web::resource("/v1/people/{id}/channels").route(web::get().to(person_channels)));
    }
}

/// An identify body is small: a few identifiers, at most 100 traits.
pub(crate) const MAX_IDENTIFY_BYTES: usize = 64 * 1024;

fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IdentifyAnswer {
    pub person_id: String,
    /// A new person was created.
    pub created: bool,
    /// People merged into `person_id` (the oldest person survives).
    pub merged: Vec<String>,
    /// How many identifiers were new to the graph.
    pub linked: usize,
    pub traits_changed: Vec<String>,
    pub consents_changed: Vec<String>,
    /// Anything changed at all (`false` for a repeated call).
    pub changed: bool,
}

impl From<&IdentifyOutcome> for IdentifyAnswer {
    fn from(o: &IdentifyOutcome) -> Self {
        IdentifyAnswer {
            person_id: o.person_id.clone(),
            created: o.created,
            merged: o.merged.clone(),
            linked: o.linked.len(),
            traits_changed: o.traits_changed.clone(),
            consents_changed: o.consents_changed.clone(),
            changed: o.changed(),
        }
    }
}

/// `POST /v1/identify`: ties identifiers into one person and sets traits and consents.
#[utoipa::path(
    post,
    path = "/v1/identify",
    tag = "identity",
    request_body(content = IdentifyDoc, description = "`{\"identifiers\": {\"customer_id\": \"C1\", \"anonymous_id\": \"a1\"}, \"traits\": {...}, \"consents\": {\"sms\": false}}`", content_type = "application/json"),
    params(
        ("X-Api-Key" = Option<String>, Header, description = "A server key; or a staff token with the `identify` scope as `Authorization: Bearer`"),
    ),
    responses(
        (status = 200, description = "The person after the call", body = IdentifyAnswer),
        (status = 400, description = "Bad input, naming the field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid server key or staff token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this client network (or server key); retry after Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A staff token without the `identify` scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Two different strong identifiers of one type: not merged, recorded", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn identify(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<Identity>,
) -> Result<HttpResponse, Problem> {
    let caller = state.people.auth.server_or_staff(
        header_str(&req, "x-api-key"),
        header_str(&req, "authorization"),
        "identify",
        &[],
    )?;
    let body = crate::problem::read_body(
        payload,
        MAX_IDENTIFY_BYTES,
        "an identify call is at most 64 KiB",
    )
    .await?;
    let document: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Problem::invalid("body", format!("not JSON: {e}")))?;
    let catalog = state.catalog.current().await?;
    let mut command = parse_identify(&document, &state.people.types, &catalog)?;
    command.actor = caller.actor();
    let outcome = match state.identify.identify(command.clone()).await {
        Ok(outcome) => outcome,
        Err(IdentifyError::Conflict(conflict)) => {
            return Err(Problem::new(
                ProblemType::IdentityConflict,
                format!(
                    "these identifiers would give one person two different `{}` values; \
                     nothing was linked and the conflict has been recorded for review",
                    conflict.kind
                ),
            )
            .with_field(format!("identifiers.{}", conflict.kind)))
        }
        Err(IdentifyError::Storage(e)) => return Err(e.into()),
    };
    if outcome.changed() {
        let mut people = vec![outcome.person_id.clone()];
        people.extend(outcome.merged.iter().cloned());
        let mut identifiers: Vec<Identifier> = outcome.identifiers.clone();
        identifiers.extend(command.identifiers.iter().cloned());
        state
            .people
            .directory
            .announce(PeopleChanged::new(people, &identifiers))
            .await;
        tracing::info!(
            actor = %command.actor,
            created = outcome.created,
            merged = outcome.merged.len(),
            linked = outcome.linked.len(),
            "identify"
        );
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(IdentifyAnswer::from(&outcome)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IdentifierDoc {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MergeDoc {
    pub survivor_id: String,
    pub merged_id: String,
    pub actor: String,
    pub at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PersonAnswer {
    pub person_id: String,
    pub identifiers: Vec<IdentifierDoc>,
    #[schema(value_type = Object)]
    pub traits: BTreeMap<String, TraitValue>,
    pub consents: BTreeMap<String, bool>,
    pub segments: Vec<String>,
    pub merges: Vec<MergeDoc>,
}

fn person_caller(req: &HttpRequest, state: &Identity) -> Result<Caller, Problem> {
    Ok(state.people.auth.server_or_staff(
        header_str(req, "x-api-key"),
        header_str(req, "authorization"),
        "identify",
        &["privacy", "admin"],
    )?)
}

/// The person `id` names, for a caller allowed to read people (`404` naming `id` when
/// there is none).
async fn person_for(
    req: &HttpRequest,
    state: &Identity,
    id: &str,
) -> Result<crate::identity::model::PersonRecord, Problem> {
    person_caller(req, state)?;
    store::find_by_id(&state.db, id)
        .await?
        .ok_or_else(|| Problem::new(ProblemType::NotFound, "no such person").with_field("id"))
}

/// `GET /v1/people/{id}`: a person's identifiers, traits, consents, segments and merges.
#[utoipa::path(
    get,
    path = "/v1/people/{id}",
    tag = "identity",
    params(("id" = String, Path, description = "Person id (a merged-away id answers for its survivor)")),
    responses(
        (status = 200, description = "The person", body = PersonAnswer),
        (status = 401, description = "No valid server key or staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff token without role privacy/admin or scope identify", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person (or erased)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_person(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Identity>,
) -> Result<HttpResponse, Problem> {
    let record = person_for(&req, &state, &path).await?;
    let catalog = state.catalog.current().await?;
    let segments = catalog
        .segments_of(&catalog.person_traits(&record.traits))
        .into_iter()
        .map(String::from)
        .collect();
    let identifiers = store::identifiers_of(&state.db, &record.id)
        .await?
        .into_iter()
        .map(|i| IdentifierDoc {
            kind: i.kind,
            value: i.value,
        })
        .collect();
    let merges = store::merges_of(&state.db, &record.id)
        .await?
        .into_iter()
        .map(|m| MergeDoc {
            survivor_id: m.survivor_id,
            merged_id: m.merged_id,
            actor: m.actor,
            at: m.created_at.to_rfc3339(),
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(PersonAnswer {
            person_id: record.id.clone(),
            identifiers,
            traits: record.traits.clone(),
            consents: record.consents.clone(),
            segments,
            merges,
        }))
}

/// `GET /v1/people/{id}/channels`: the person's consented, serving channels ranked by
/// observed click-through (the person's, shrunk toward their segments', shrunk toward
/// everyone's), with the figures behind each place; for senders choosing where to
/// reach someone.
#[utoipa::path(
    get,
    path = "/v1/people/{id}/channels",
    tag = "identity",
    params(("id" = String, Path, description = "Person id (a merged-away id answers for its survivor)")),
    responses(
        (status = 200, description = "The ranking", body = super::service::ChannelRanking),
        (status = 401, description = "No valid server key or staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff token without role privacy/admin or scope identify", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person (or erased)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn person_channels(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Identity>,
) -> Result<HttpResponse, Problem> {
    let record = person_for(&req, &state, &path).await?;
    let anonymous_ids: Vec<String> = store::identifiers_of(&state.db, &record.id)
        .await?
        .into_iter()
        .filter(|i| i.kind == "anonymous_id")
        .map(|i| i.value)
        .collect();
    let ranking = state.rank_channels(&record, &anonymous_ids).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ranking))
}

/// `DELETE /v1/people/{id}`: erasure (role `privacy`). Identifiers, traits, consents and
/// links are removed, events keep only a pseudonym, and the action is audited.
#[utoipa::path(
    delete,
    path = "/v1/people/{id}",
    tag = "identity",
    params(("id" = String, Path, description = "Person id")),
    responses(
        (status = 200, description = "What was removed", body = Object),
        (status = 401, description = "No valid staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff token without the `privacy` role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn erase_person(
    staff: StaffUser<PrivacyStaff>,
    path: web::Path<String>,
    state: web::Data<Identity>,
) -> Result<HttpResponse, Problem> {
    let actor = staff.actor();
    let report = store::erase(
        &state.db,
        &path,
        &actor,
        |_| format!("erased:{}", uuid::Uuid::new_v4().simple()),
        |key| state.sources.person(key),
    )
    .await?
    .ok_or_else(|| Problem::new(ProblemType::NotFound, "no such person").with_field("id"))?;
    state
        .people
        .directory
        .announce(PeopleChanged::new(report.people.clone(), &report.removed))
        .await;
    tracing::info!(%actor, person = %report.person_id, "person erased");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(&report))
}
