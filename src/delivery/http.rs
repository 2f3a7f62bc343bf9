//! Delivery's endpoints: parse the request, call context → decide → render, and map
//! the result to headers a CDN can trust.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{BufMut, Bytes, BytesMut};
use chrono::Utc;
use serde::Serialize;

use super::answer::{self, Outcome, Sharing};
use super::{Delivery, PurgeKeys};
use crate::context::{self, HeadersRead, RawRequest};
use crate::problem::{Problem, ProblemType};
use crate::render::Warning;

/// This area's part of the OpenAPI document (merged with the others by the application).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        content_one,
        content_batch,
        cohort_context,
        super::purge_log::list_purges,
        super::sync_http::sync,
        super::sdk::latest,
        super::sdk::pinned
    ),
    components(schemas(
        super::sync_http::SyncAnswer,
        super::sync_http::SyncItem,
        CohortAnswer,
        super::purge_log::PurgeList,
        super::purge_log::PurgeDoc,
        answer::ContentAnswerDoc,
        answer::EmptyDecisionDoc,
        crate::problem::Problem
    ))
)]
pub struct Api;

/// Registers this area's state and routes.
pub fn configure(service: web::Data<Delivery>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(service);
        cfg.service(web::resource("/v1/content/{placement}").route(web::get().to(content_one)))
            .service(web::resource("/v1/content").route(web::get().to(content_batch)))
            .service(
                web::resource("/v1/context")
                    .wrap(actix_web::middleware::from_fn(crate::ratelimit::context))
                    .route(web::get().to(cohort_context)),
            )
            .service(
                web::resource("/v1/sync")
                    .wrap(actix_web::middleware::from_fn(crate::ratelimit::context))
                    .route(web::get().to(super::sync_http::sync)),
            )
            .service(web::resource("/sdk/tailor.js").route(web::get().to(super::sdk::latest)))
            .service(
                web::resource("/sdk/tailor-{version}").route(web::get().to(super::sdk::pinned)),
            )
            .service(
                web::resource("/v1/admin/purges")
                    .route(web::get().to(super::purge_log::list_purges)),
            );
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn raw_request(req: &HttpRequest) -> RawRequest<'_> {
    RawRequest {
        query: req.query_string(),
        accept_language: header(req, "accept-language"),
        ch_ua_mobile: header(req, "sec-ch-ua-mobile"),
        user_agent: header(req, "user-agent"),
        anonymous_id: header(req, "x-anonymous-id"),
        authorization: header(req, "authorization"),
        api_key: header(req, "x-api-key"),
    }
}

/// How the request names its person. With a cohort key an anonymous id is not needed
/// (the key stands for them), so it is neither checked nor looked up.
fn naming_of<'a>(
    raw: &RawRequest<'a>,
    params: &'a context::Params<'a>,
) -> crate::identity::Naming<'a> {
    let mut naming = params.naming(raw);
    if params.cohort.is_some() {
        naming.anonymous_id = None;
    }
    naming
}

/// The person the request names, resolved. When they cannot be looked up (database
/// and Redis unreachable, person not cached here) the content is what nobody in
/// particular would get, and a warning says so (see [`respond`]): never an error.
async fn person_of(
    state: &Delivery,
    raw: &RawRequest<'_>,
    params: &context::Params<'_>,
    shortfalls: &mut Vec<Warning>,
) -> Result<Option<crate::identity::Person>, Problem> {
    let resolved = state
        .people
        .person_or_nobody(&naming_of(raw, params))
        .await?;
    if resolved.unresolved {
        shortfalls.push(Warning {
            code: "person-unresolved",
            field: None,
            detail: "the person could not be looked up just now; this is the answer for nobody in particular".into(),
        });
    }
    Ok(resolved.person)
}

/// Whether the person reached the placement's frequency cap; when their recent
/// impressions cannot be read (database down), not capped, with a warning.
async fn capped(
    state: &Delivery,
    catalog: &crate::catalog::Catalog,
    ctx: &context::RequestContext,
    placement: &str,
    shortfalls: &mut Vec<Warning>,
) -> Result<bool, Problem> {
    let checked = answer::is_capped(
        Some(&state.fatigue),
        &state.db,
        Some(&state.database),
        catalog,
        ctx,
        placement,
    )
    .await;
    match checked {
        Ok(capped) => Ok(capped),
        Err(e) if e.is_outage() => {
            shortfalls.push(Warning {
                code: "frequency-cap-unchecked",
                field: None,
                detail: format!(
                    "{placement}: recent impressions could not be read; its frequency cap was not applied"
                ),
            });
            Ok(false)
        }
        Err(e) => Err(Problem::from(e)),
    }
}

/// `If-None-Match` against our ETag. Weak comparison (RFC 9110 §13.1.2): a CDN that
/// compressed the body hands back `W/"…"`, which still names this representation.
fn not_modified(req: &HttpRequest, etag: &HeaderValue) -> bool {
    let Some(value) = req.headers().get(header::IF_NONE_MATCH) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let etag = etag.as_bytes();
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag)
}

fn cache_control(sharing: &Sharing, settings: &crate::config::Settings) -> String {
    if sharing.private {
        return "private, no-cache".to_string();
    }
    let mut max_age = sharing.max_age.min(settings.cache.max_age_secs);
    let mut stale = if sharing.temporal {
        0
    } else {
        settings.cache.stale_while_revalidate_secs
    };
    if let Some(until) = sharing.until_change {
        max_age = max_age.min(until);
        stale = stale.min(until - max_age);
    }
    if stale == 0 {
        format!("public, max-age={max_age}")
    } else {
        format!("public, max-age={max_age}, stale-while-revalidate={stale}")
    }
}

/// The answer with its caching headers; `None` is the empty decision (`204`). An
/// answer with `shortfalls` (made without a dependency) is private, lists them in its
/// `warnings` and names their codes in `Tailor-Degraded` (a `204` has no body).
fn respond(
    req: &HttpRequest,
    body: Option<(Bytes, HeaderValue)>,
    sharing: &Sharing,
    read: HeadersRead,
    purge_keys: &PurgeKeys,
    settings: &crate::config::Settings,
    shortfalls: &[Warning],
) -> HttpResponse {
    let mut sharing = *sharing;
    let body = match body {
        Some((bytes, _)) if !shortfalls.is_empty() => {
            sharing.private = true;
            let bytes = answer::with_warnings(&bytes, shortfalls);
            let etag = answer::etag_of(&bytes);
            Some((bytes, etag))
        }
        other => {
            sharing.private |= !shortfalls.is_empty();
            other
        }
    };
    let sharing = &sharing;
    let unchanged = body
        .as_ref()
        .is_some_and(|(_, etag)| not_modified(req, etag));
    let mut response = match (&body, unchanged) {
        (None, _) => HttpResponse::NoContent(),
        (Some(_), true) => HttpResponse::NotModified(),
        (Some(_), false) => HttpResponse::Ok(),
    };
    if let Some((_, etag)) = &body {
        response.insert_header((header::ETAG, etag.clone()));
    }
    response.insert_header((header::CACHE_CONTROL, cache_control(sharing, settings)));
    let vary = sharing.vary(read).vary();
    if !vary.is_empty() {
        response.insert_header((header::VARY, vary));
    }
    if vary_reads_client_hints(req) {
        response.insert_header(("Accept-CH", "Sec-CH-UA-Mobile"));
    }
    if !purge_keys.keys.is_empty() {
        response.insert_header(("Surrogate-Key", purge_keys.surrogate_key.clone()));
        response.insert_header(("Cache-Tag", purge_keys.cache_tag.clone()));
    }
    if !shortfalls.is_empty() {
        let mut codes: Vec<&str> = shortfalls.iter().map(|w| w.code).collect();
        codes.dedup();
        response.insert_header(("Tailor-Degraded", codes.join(", ")));
    }
    match body {
        Some((body, _)) if !unchanged => response.content_type("application/json").body(body),
        _ => response.finish(),
    }
}

/// Ask browsers for the mobile hint when they did not send it.
fn vary_reads_client_hints(req: &HttpRequest) -> bool {
    !req.headers().contains_key("sec-ch-ua-mobile")
        && req.headers().contains_key(header::USER_AGENT)
}

/// `GET /v1/content/{placement}`: one placement's content for the request's context.
#[utoipa::path(
    get,
    path = "/v1/content/{placement}",
    tag = "delivery",
    params(
        ("placement" = String, Path, description = "Placement id, e.g. `home.hero`"),
        ("channel" = Option<String>, Query, description = "Channel id (default `web`)"),
        ("device" = Option<String>, Query, description = "desktop, mobile, tablet, tv, wearable, voice, unknown; default from Sec-CH-UA-Mobile / User-Agent"),
        ("locale" = Option<String>, Query, description = "Comma-separated BCP 47 tags; default from Accept-Language"),
        ("country" = Option<String>, Query, description = "ISO 3166-1 alpha-2"),
        ("anonymous_id" = Option<String>, Query, description = "The person (or header X-Anonymous-Id)"),
        ("cohort" = Option<String>, Query, description = "Cohort key from GET /v1/context: makes a person-dependent answer shareable"),
    ),
    responses(
        (status = 200, description = "The content answer", body = answer::ContentAnswerDoc),
        (status = 204, description = "No variant is eligible for this context"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown placement", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The channel is retired", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn content_one(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Delivery>,
) -> Result<HttpResponse, Problem> {
    let catalog = state.catalog().await?;
    let raw = raw_request(&req);
    let params = context::parse_params(raw.query)?;
    let mut shortfalls = Vec::new();
    let person = person_of(&state, &raw, &params, &mut shortfalls).await?;
    let ctx = context::resolve(&raw, &params, &catalog, &state.signer, Utc::now(), person)?;
    let capped = capped(&state, &catalog, &ctx, &path, &mut shortfalls).await?;
    let response = match answer::answer(&state, &catalog, &ctx, &path, capped)? {
        Outcome::Content { answer, sharing } => respond(
            &req,
            Some((answer.body.clone(), answer.etag.clone())),
            &sharing,
            ctx.headers_read,
            &answer.purge_keys,
            &state.settings,
            &shortfalls,
        ),
        Outcome::Empty { sharing, placement } => respond(
            &req,
            None,
            &sharing,
            ctx.headers_read,
            &PurgeKeys::new(format!("placement/{placement}")),
            &state.settings,
            &shortfalls,
        ),
    };
    Ok(response)
}

/// `GET /v1/content?placements=a,b,c`: several placements, answered in the order asked.
#[utoipa::path(
    get,
    path = "/v1/content",
    tag = "delivery",
    params(
        ("placements" = String, Query, description = "Comma-separated placement ids (at most `max_batch_placements`)"),
        ("channel" = Option<String>, Query, description = "As for one placement"),
        ("device" = Option<String>, Query),
        ("locale" = Option<String>, Query),
        ("anonymous_id" = Option<String>, Query),
        ("cohort" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "`{\"items\": [...]}`: a content answer, an empty decision (`variant: null`) or a problem per placement", body = answer::BatchDoc),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The channel is retired", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn content_batch(
    req: HttpRequest,
    state: web::Data<Delivery>,
) -> Result<HttpResponse, Problem> {
    let catalog = state.catalog().await?;
    let raw = raw_request(&req);
    let params = context::parse_params(raw.query)?;
    let list = params.placements.as_deref().ok_or_else(|| {
        Problem::invalid(
            "placements",
            "give the placements to answer: placements=a,b,c",
        )
    })?;
    let ids: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let max = state.settings.max_batch_placements;
    if ids.is_empty() || ids.len() > max {
        return Err(Problem::invalid(
            "placements",
            format!("give 1 to {max} placement ids"),
        ));
    }
    let mut shortfalls = Vec::new();
    let person = person_of(&state, &raw, &params, &mut shortfalls).await?;
    let ctx = context::resolve(&raw, &params, &catalog, &state.signer, Utc::now(), person)?;

    let mut body = BytesMut::with_capacity(1024 * ids.len());
    body.put_slice(b"{\"items\":[");
    let mut sharing = Sharing::shared();
    let mut keys: Vec<String> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        let capped = capped(&state, &catalog, &ctx, id, &mut shortfalls).await?;
        match answer::answer(&state, &catalog, &ctx, id, capped) {
            Ok(Outcome::Content {
                answer,
                sharing: item,
            }) => {
                body.put_slice(&answer.body);
                sharing.merge(&item);
                keys.push(answer.purge_keys.keys.clone());
            }
            Ok(Outcome::Empty {
                sharing: item,
                placement,
            }) => {
                sharing.merge(&item);
                keys.push(format!("placement/{placement}"));
                let empty = answer::empty_decision(&placement, &catalog, &ctx);
                body.put_slice(&serde_json::to_vec(&empty).unwrap_or_default());
            }
            Err(problem) => {
                #[derive(Serialize)]
                struct ItemProblem<'a> {
                    #[serde(flatten)]
                    problem: &'a Problem,
                    placement: &'a str,
                }
                if problem.problem_type() == Some(ProblemType::Internal) {
                    return Err(problem);
                }
                body.put_slice(
                    &serde_json::to_vec(&ItemProblem {
                        problem: &problem,
                        placement: id,
                    })
                    .unwrap_or_default(),
                );
            }
        }
    }
    body.put_slice(b"]}");
    let surrogate = keys.join(" ");
    let body = body.freeze();
    let etag = answer::etag_of(&body);
    Ok(respond(
        &req,
        Some((body, etag)),
        &sharing,
        ctx.headers_read,
        &PurgeKeys::new(surrogate),
        &state.settings,
        &shortfalls,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CohortAnswer {
    /// Signed key to pass as `cohort=` on content requests.
    pub cohort: String,
    /// The person's sticky bucket in [0, 1000).
    pub bucket: u16,
    /// The person's segments (only for a person named by a token or a server key).
    pub segments: Vec<String>,
    /// RFC 3339 expiry of the key.
    pub expires_at: String,
}

/// `GET /v1/context`: the person's cohort key (private; never cache it in a shared cache).
#[utoipa::path(
    get,
    path = "/v1/context",
    tag = "delivery",
    params(
        ("anonymous_id" = Option<String>, Query, description = "The person (or header X-Anonymous-Id); or an identity token as `Authorization: Bearer`"),
        ("person_id" = Option<String>, Query, description = "With X-Api-Key: a person by id"),
    ),
    responses(
        (status = 200, description = "The cohort key", body = CohortAnswer),
        (status = 400, description = "No or a malformed person id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The person could not be looked up just now (database down); retry after Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this client network (or server key); retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cohort_context(
    req: HttpRequest,
    state: web::Data<Delivery>,
) -> Result<HttpResponse, Problem> {
    let raw = raw_request(&req);
    let params = context::parse_params(raw.query)?;
    // A cohort key stands for the person for hours: never issued from a guess, so
    // a person who cannot be looked up gets a 503 here (content still degrades).
    let Some(person) = state.people.person(&naming_of(&raw, &params)).await? else {
        return Err(Problem::invalid(
            "anonymous_id",
            "name the person with X-Anonymous-Id or anonymous_id, an identity token, or a server key with id.<type>",
        ));
    };
    let bucket = person.bucket();
    // Segments only for a verified person: an anonymous id must not reveal traits.
    let segments: Vec<String> = match person.traits() {
        Some(stored) => {
            let catalog = state.catalog().await?;
            catalog
                .segments_of(&catalog.person_traits(stored))
                .into_iter()
                .map(String::from)
                .collect()
        }
        None => Vec::new(),
    };
    let now = Utc::now();
    let opted_out: Vec<String> = person
        .record
        .as_ref()
        .map(|r| {
            r.consents
                .iter()
                .filter(|(_, granted)| !**granted)
                .map(|(channel, _)| channel.clone())
                .collect()
        })
        .unwrap_or_default();
    let (cohort, exp) = state.signer.cohort_key_with_opt_outs(
        bucket,
        &segments,
        &opted_out,
        now.timestamp().max(0) as u64,
        state.settings.cohort_ttl_secs,
    );
    tracing::debug!(person = %person.log_id(), bucket, "cohort issued");
    let expires_at = chrono::DateTime::from_timestamp(exp as i64, 0)
        .unwrap_or(now)
        .to_rfc3339();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header((header::VARY, "X-Anonymous-Id, Authorization"))
        .json(CohortAnswer {
            cohort,
            bucket,
            segments,
            expires_at,
        }))
}
