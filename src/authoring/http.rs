//! The admin API (`/v1/admin/...`): the route table, the roles, and what every resource's
//! handlers share (the `If-Match` and Fluent path extractors, a step's body, unknown
//! workflow actions). The handlers live with their resource: [`super::placements`],
//! [`super::variants`], [`super::fluent`], [`super::history`], [`super::preview`].
//!
//! Roles: every endpoint needs a staff token. `marketer` writes drafts and submits
//! them, `reviewer` approves or rejects (never their own version), only `publisher`
//! publishes or archives; `admin` can do all but publish. Placements have no review:
//! a marketer may create one (it serves nothing until a variant is published), only a
//! publisher or admin changes or archives one, which is live at once.

use actix_web::dev::Url;
use actix_web::guard::{Guard, GuardContext};
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::usecases::StepRequest;
use super::{fluent, history, placements, preview, variants, Authoring};
use crate::auth::{Role, StaffUser};
use crate::problem::{json_body, read_body, Problem, ProblemType};

/// This area's part of the OpenAPI document (merged with the others by the application).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        placements::list_placements,
        placements::create_placement,
        placements::get_placement,
        placements::put_placement,
        placements::archive_placement,
        history::versions,
        history::versions_diff,
        variants::create_variant,
        variants::get_variant,
        variants::put_variant,
        variants::act_on_variant,
        fluent::list_locale_files,
        fluent::get_locale_file,
        fluent::put_locale_file,
        fluent::act_on_locale_file,
        history::locale_file_versions,
        history::locale_file_diff,
        coverage,
        preview::preview
    ),
    components(schemas(
        placements::PlacementList,
        placements::PlacementAnswer,
        placements::VariantSummary,
        variants::VariantInput,
        variants::VariantAnswer,
        variants::VariantVersionDoc,
        history::VersionDoc,
        StepBody,
        StepAnswer,
        VariantLocales,
        fluent::FluentAnswer,
        fluent::LocaleFileList,
        fluent::LocaleFileSummary,
        history::HistoryAnswer,
        history::AuditDoc,
        history::DiffAnswer,
        history::VersionAnswer,
        super::LiveLocales,
        super::IncompleteLocale,
        super::Coverage,
        super::MessageCoverage,
        super::LocaleCoverage,
        preview::PreviewRequest,
        preview::PreviewAnswer,
        preview::VariantExplained,
        preview::Reason,
        preview::RenderedLocale,
        preview::ChosenVariant
    ))
)]
pub struct Api;

/// The workflow verbs, as a route pattern: an action route takes no other segment, so it
/// never competes with the history routes beside it.
const ACTIONS: &str = "submit|approve|reject|publish|archive";
/// Every last segment that has a route of its own after a variant or Fluent resource.
const OWN_SEGMENTS: &[&str] = &[
    "submit", "approve", "reject", "publish", "archive", "versions", "diff",
];

/// Routes that need the database for every answer (see `resilience::gate`).
pub const NEEDS_DATABASE: &[&str] = &["/v1/admin/"];

/// Registers this area's state and routes. No two resources match the same path, so
/// their order does not matter.
pub fn configure(service: web::Data<Authoring>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(service);
        cfg.service(
            web::resource("/v1/admin/placements")
                .route(web::get().to(placements::list_placements))
                .route(web::post().to(placements::create_placement)),
        )
        .service(
            web::resource("/v1/admin/placements/{id}")
                .route(web::get().to(placements::get_placement))
                .route(web::put().to(placements::put_placement)),
        )
        .service(
            web::resource("/v1/admin/placements/{id}/archive")
                .route(web::post().to(placements::archive_placement)),
        )
        .service(
            web::resource("/v1/admin/placements/{id}/variants")
                .route(web::post().to(variants::create_variant)),
        )
        .service(
            web::resource("/v1/admin/{kind:placements|variants}/{id}/versions")
                .route(web::get().to(history::versions)),
        )
        .service(
            web::resource("/v1/admin/{kind:placements|variants}/{id}/diff")
                .route(web::get().to(history::versions_diff)),
        )
        .service(
            web::resource("/v1/admin/variants/{id}")
                .route(web::get().to(variants::get_variant))
                .route(web::put().to(variants::put_variant)),
        )
        .service(
            web::resource(format!("/v1/admin/variants/{{id}}/{{action:{ACTIONS}}}"))
                .route(web::post().to(variants::act_on_variant)),
        )
        .service(
            web::resource("/v1/admin/variants/{id}/{action}")
                .guard(LastSegmentNotIn(OWN_SEGMENTS))
                .route(web::post().to(unknown_variant_action)),
        )
        .service(web::resource("/v1/admin/locales").route(web::get().to(fluent::list_locale_files)))
        .service(
            web::resource("/v1/admin/locales/{locale}/{file}")
                .route(web::get().to(fluent::get_locale_file))
                .route(web::put().to(fluent::put_locale_file)),
        )
        .service(
            web::resource("/v1/admin/locales/{locale}/{file}/versions")
                .route(web::get().to(history::locale_file_versions)),
        )
        .service(
            web::resource("/v1/admin/locales/{locale}/{file}/diff")
                .route(web::get().to(history::locale_file_diff)),
        )
        .service(
            web::resource(format!(
                "/v1/admin/locales/{{locale}}/{{file}}/{{action:{ACTIONS}}}"
            ))
            .route(web::post().to(fluent::act_on_locale_file)),
        )
        .service(
            web::resource("/v1/admin/locales/{locale}/{file}/{action}")
                .guard(LastSegmentNotIn(OWN_SEGMENTS))
                .route(web::post().to(unknown_locale_file_action)),
        )
        .service(web::resource("/v1/admin/preview").route(web::post().to(preview::preview)))
        .service(web::resource("/v1/admin/translations/coverage").route(web::get().to(coverage)));
    }
}

crate::role_set!(
    /// Everyone who works on content; workflow steps check their own roles on top.
    pub Readers = Marketer, Reviewer, Publisher, Admin
);
crate::role_set!(pub Authors = Marketer, Admin);

/// The roles each staff route accepts, for the OpenAPI document's security
/// requirements (a black-box test holds the server to them). Workflow steps list every
/// role some step accepts; each step's own roles are in [`super::workflow::Action::roles`].
pub const STAFF_ROLES: &[(&str, &str, &[Role])] = {
    use crate::auth::Roles;
    const STEPS: &[Role] = &[Role::Marketer, Role::Reviewer, Role::Publisher, Role::Admin];
    &[
        ("get", "/v1/admin/placements", Readers::ACCEPTED),
        ("post", "/v1/admin/placements", PlacementCreators::ACCEPTED),
        ("get", "/v1/admin/placements/{id}", Readers::ACCEPTED),
        (
            "put",
            "/v1/admin/placements/{id}",
            PlacementEditors::ACCEPTED,
        ),
        (
            "post",
            "/v1/admin/placements/{id}/archive",
            PlacementEditors::ACCEPTED,
        ),
        (
            "post",
            "/v1/admin/placements/{id}/variants",
            Authors::ACCEPTED,
        ),
        ("get", "/v1/admin/{kind}/{id}/versions", Readers::ACCEPTED),
        ("get", "/v1/admin/{kind}/{id}/diff", Readers::ACCEPTED),
        ("get", "/v1/admin/variants/{id}", Readers::ACCEPTED),
        ("put", "/v1/admin/variants/{id}", Authors::ACCEPTED),
        ("post", "/v1/admin/variants/{id}/{action}", STEPS),
        ("get", "/v1/admin/locales", Readers::ACCEPTED),
        (
            "get",
            "/v1/admin/locales/{locale}/{file}",
            Readers::ACCEPTED,
        ),
        (
            "put",
            "/v1/admin/locales/{locale}/{file}",
            Authors::ACCEPTED,
        ),
        (
            "get",
            "/v1/admin/locales/{locale}/{file}/versions",
            Readers::ACCEPTED,
        ),
        (
            "get",
            "/v1/admin/locales/{locale}/{file}/diff",
            Readers::ACCEPTED,
        ),
        ("post", "/v1/admin/locales/{locale}/{file}/{action}", STEPS),
        (
            "post",
            "/v1/admin/preview",
            super::preview::Previewers::ACCEPTED,
        ),
        ("get", "/v1/admin/translations/coverage", Readers::ACCEPTED),
    ]
};
crate::role_set!(pub PlacementCreators = Marketer, Publisher, Admin);
crate::role_set!(
    /// Placement changes are live at once: publishing, so the publisher's alone.
    pub PlacementEditors = Publisher
);
/// Previewing a stored person shows their traits and consents: personal data.
pub(super) const PERSON_READERS: [Role; 2] = [Role::Privacy, Role::Admin];
pub(crate) const BODY_LIMIT: usize = 256 * 1024;

/// A `200` that no cache keeps.
pub(super) fn no_store() -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    response
}

/// Matches when the path's last segment, as the router reads it, is none of the names:
/// the unknown-action fallbacks then share no path with the routes owning those names.
struct LastSegmentNotIn(&'static [&'static str]);

impl Guard for LastSegmentNotIn {
    fn check(&self, ctx: &GuardContext<'_>) -> bool {
        // The router matches the re-quoted path (`%73ubmit` is `submit`): so does this.
        let url = Url::new(ctx.head().uri.clone());
        let last = url.path().rsplit('/').next().unwrap_or_default();
        !self.0.contains(&last)
    }
}

fn unknown_action(name: &str) -> Problem {
    Problem::new(
        ProblemType::NotFound,
        format!("no action `{name}`; one of submit, approve, reject, publish, archive"),
    )
    .with_field("action")
}

/// `POST /v1/admin/variants/{id}/{anything else}`: names the actions there are (before
/// any token is checked, as it always has).
async fn unknown_variant_action(
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    Err(unknown_action(&path.1))
}

/// `POST /v1/admin/locales/{locale}/{file}/{anything else}`: the resource's path is
/// checked first, as for the actions there are.
async fn unknown_locale_file_action(
    _file: FluentPath,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, Problem> {
    Err(unknown_action(&path.2))
}

/// The version an editor started from: `If-Match: "3"` (or a bare `3`); absent, none.
pub struct IfMatch(pub Option<u32>);

impl FromRequest for IfMatch {
    type Error = Problem;
    type Future = std::future::Ready<Result<IfMatch, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let parsed = match req.headers().get(header::IF_MATCH) {
            None => Ok(IfMatch(None)),
            Some(value) => value
                .to_str()
                .ok()
                .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
                .and_then(|v| v.parse().ok())
                .map(|n| IfMatch(Some(n)))
                .ok_or_else(|| {
                    Problem::invalid(
                        "If-Match",
                        "give the version the edit starts from, e.g. If-Match: \"3\"",
                    )
                }),
        };
        std::future::ready(parsed)
    }
}

/// `{locale}/{file}.ftl` from the path, checked: a BCP 47 tag in canonical form and a
/// resource name.
pub struct FluentPath {
    pub locale: String,
    pub file: String,
}

impl FromRequest for FluentPath {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<FluentPath, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        #[derive(Deserialize)]
        struct Segments {
            locale: String,
            file: String,
        }
        let checked = web::Path::<Segments>::from_request(req, payload)
            .into_inner()
            .and_then(|segments| Ok(FluentPath::checked(&segments.locale, &segments.file)?));
        std::future::ready(checked)
    }
}

impl FluentPath {
    fn checked(locale: &str, file: &str) -> Result<FluentPath, Problem> {
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
        Ok(FluentPath {
            locale: locale.to_string(),
            file: file.to_string(),
        })
    }
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

impl StepBody {
    /// Reads a step's body (read after the step's roles were checked: a caller who may
    /// not take the step learns that first). Empty: the defaults.
    pub(super) async fn read(payload: web::Payload) -> Result<StepRequest, Problem> {
        let body = read_body(
            payload,
            16 * 1024,
            "a workflow step's body is at most 16 KiB",
        )
        .await?;
        // Empty or `null`: the defaults (the document calls the body optional).
        if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
            return Ok(StepRequest::default());
        }
        let step: StepBody = json_body(&body)?;
        if step.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
            return Err(Problem::invalid(
                "note",
                "a note is at most 2000 characters",
            ));
        }
        Ok(StepRequest {
            version: step.version,
            note: step.note,
        })
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct StepAnswer {
    pub target: String,
    pub version: u32,
    pub state: String,
    /// The catalog generation, when live content changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Publishing a variant: where it is live (the locale completeness gate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locales: Option<super::LiveLocales>,
    /// Publishing a Fluent resource: the published variants using its messages, and
    /// where each is live now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantLocales>,
    /// Surrogate keys purged from the CDN.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub purged: Vec<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct VariantLocales {
    pub id: String,
    #[serde(flatten)]
    pub locales: super::LiveLocales,
}

impl From<super::usecases::StepOutcome> for StepAnswer {
    fn from(outcome: super::usecases::StepOutcome) -> StepAnswer {
        StepAnswer {
            target: outcome.target,
            version: outcome.version,
            state: outcome.stage.as_str().to_string(),
            generation: outcome.generation,
            locales: outcome.locales,
            variants: outcome
                .variants
                .into_iter()
                .map(|(id, locales)| VariantLocales { id, locales })
                .collect(),
            purged: outcome.purged,
        }
    }
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
    Ok(no_store().json(state.coverage().await?))
}
