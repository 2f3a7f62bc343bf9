//! Engagement over HTTP: `POST /v1/events` (JSON, or `text/plain` from
//! `navigator.sendBeacon`), tracked links `GET /v1/t/{token}` and open pixels
//! `GET /v1/o/{token}.gif` for email and SMS.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::writer::WriteError;
use super::Engagement;
use super::{
    parse_event, EventContext, EventKind, NewEvent, Origin, Rejection, TrafficClass,
    MAX_BATCH_BYTES, MAX_EVENTS_PER_BATCH,
};
use crate::catalog::CompiledField;
use crate::problem::{Problem, ProblemType};

/// This area's part of the OpenAPI document (merged with the others by the application).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(post_events, tracked_link, open_pixel),
    components(schemas(
        EventsAccepted,
        crate::engagement::Rejection,
        EventBatchDoc,
        EventDoc,
        RevenueDoc,
        FeedbackDoc
    ))
)]
pub struct Api;

/// `POST /v1/events`'s body, for the document: the wire types keep what was sent
/// (`engagement::wire`) so each event can be refused by field, which a schema cannot say.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EventBatchDoc {
    #[schema(min_items = 1, max_items = 500)]
    events: Vec<EventDoc>,
}

/// One event: a tracking token from a content answer says what was shown to whom.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EventDoc {
    /// The client's id for the event: a retry with the same id is stored once.
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,64}$")]
    event_id: String,
    #[schema(
        rename = "type",
        pattern = "^(impression|view|click|conversion|dismiss|opt_in|opt_out|share|feedback)$"
    )]
    kind: String,
    #[schema(min_length = 1, max_length = 4096)]
    tracking_token: String,
    /// RFC 3339; the server's receive time when absent.
    occurred_at: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    anonymous_id: Option<String>,
    /// Conversions only.
    revenue: Option<RevenueDoc>,
    /// Feedback only.
    feedback: Option<FeedbackDoc>,
}

/// `{"amount": "12.50", "currency": "EUR"}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RevenueDoc {
    #[schema(pattern = "^[0-9]{1,12}(\\.[0-9]{1,4})?$")]
    amount: String,
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: String,
}

/// `{"kind": "nps", "score": 9, "comment": "..."}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct FeedbackDoc {
    #[schema(pattern = "^(csat|nps|ces)$")]
    kind: String,
    #[schema(minimum = 0, maximum = 10)]
    score: i64,
    #[schema(max_length = 2000)]
    comment: Option<String>,
}

/// Registers this area's state and routes.
pub fn configure(service: web::Data<Engagement>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(service);
        use crate::ratelimit;
        use actix_web::middleware::from_fn;
        cfg.service(
            web::resource("/v1/events")
                .wrap(from_fn(ratelimit::events))
                .route(web::post().to(post_events)),
        )
        .service(
            web::resource("/v1/t/{token}")
                .wrap(from_fn(ratelimit::links))
                .route(web::get().to(tracked_link)),
        )
        .service(
            web::resource("/v1/o/{file}")
                .wrap(from_fn(ratelimit::links))
                .route(web::get().to(open_pixel)),
        );
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventsAccepted {
    /// Events stored by this call.
    pub accepted: usize,
    /// Events whose `event_id` was already stored (not counted again).
    pub duplicates: usize,
    pub rejected: Vec<Rejection>,
}

impl From<WriteError> for Problem {
    fn from(error: WriteError) -> Problem {
        Problem::new(
            ProblemType::Unavailable,
            // A transaction cut short by a timeout may still have committed: the
            // resend is safe either way (event ids are counted once).
            format!("{error}; send the same events again (their ids make them count once)"),
        )
        .with_retry_after(1)
    }
}

/// `POST /v1/events`: a batch of engagement events.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "engagement",
    request_body(
        content((EventBatchDoc = "application/json"), (EventBatchDoc = "text/plain")),
        description = "At most 500 events and 1 MiB; `application/json`, or the same JSON as `text/plain` (what `navigator.sendBeacon` sends)"
    ),
    params(("X-Anonymous-Id" = Option<String>, Header, description = "The person, for events without their own `anonymous_id`"),
        ("X-Api-Key" = Option<String>, Header, description = "A server key: the people the events name are vouched for (their source is the person, not the network)")),
    responses(
        (status = 202, description = "Stored (committed) events, duplicates, and each rejected event with its index, field and reason (an expired tracking token is rejected per event)", body = EventsAccepted),
        (status = 400, description = "Not a JSON batch", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A bad identity token or server key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More than 500 events or 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this client network; retry after Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable: nothing stored, retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_events(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<Engagement>,
) -> Result<HttpResponse, Problem> {
    let body =
        crate::problem::read_body(payload, MAX_BATCH_BYTES, "a batch is at most 1 MiB").await?;
    let document: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Problem::invalid("body", format!("not JSON: {e}")))?;
    let events = document
        .get("events")
        .and_then(|e| e.as_array())
        .ok_or_else(|| Problem::invalid("events", "the body must be {\"events\": [...]}"))?;
    if events.len() > MAX_EVENTS_PER_BATCH {
        return Err(Problem::new(
            ProblemType::PayloadTooLarge,
            format!(
                "{} events; a batch holds at most {MAX_EVENTS_PER_BATCH}",
                events.len()
            ),
        )
        .with_field("events"));
    }
    // A malformed batch-wide id is the request's fault, not one event's: refused whole.
    let batch_person = match req.headers().get("x-anonymous-id") {
        None => None,
        Some(value) => {
            let id = value
                .to_str()
                .ok()
                .filter(|id| crate::identity::check_anonymous_id(id).is_ok());
            Some(id.ok_or_else(|| {
                Problem::invalid(
                    "X-Anonymous-Id",
                    "an anonymous id is 1 to 128 of letters, digits and - _ . :",
                )
            })?)
        }
    };
    // The person: an identity token names them for the whole batch (a bad token is
    // refused); anonymous ids are mapped to the person the graph ties them to.
    let claim = crate::identity::claim(
        &crate::identity::Naming {
            authorization: req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            ..crate::identity::Naming::default()
        },
        &state.people.auth,
        &state.people.types,
    )?;
    let verified = crate::identity::resolve(&claim, &state.people.directory).await?;
    // A server key vouches for the people its events name; a wrong key is refused.
    let server_key = match req.headers().get("x-api-key") {
        None => None,
        Some(value) => {
            let index = value
                .to_str()
                .ok()
                .and_then(|key| state.people.auth.server_key(key))
                .ok_or_else(|| {
                    Problem::new(ProblemType::Unauthorized, "the server key is not valid")
                        .with_field("X-Api-Key")
                })?;
            Some(state.provenance.names.server_key(index))
        }
    };
    let network = state.provenance.network_source(&req);
    let mut anonymous: Vec<&str> = events
        .iter()
        .filter_map(|e| e.get("anonymous_id").and_then(|v| v.as_str()))
        .chain(batch_person)
        .filter(|id| crate::identity::check_anonymous_id(id).is_ok())
        .collect();
    anonymous.sort_unstable();
    anonymous.dedup();
    let person_keys = if verified.is_some() || anonymous.is_empty() {
        Default::default()
    } else {
        state.people.directory.anonymous_keys(&anonymous).await?
    };
    let ctx = EventContext {
        signer: &state.signer,
        now: Utc::now(),
        batch_person,
        person_keys: &person_keys,
        verified_person: verified.as_ref().map(|p| p.key.as_str()),
        origin: Origin {
            network: &network,
            server_key: server_key.as_deref(),
            traffic: TrafficClass::of_user_agent(
                req.headers()
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()),
            ),
            names: &state.provenance.names,
        },
    };
    let mut valid = Vec::with_capacity(events.len());
    let mut rejected = Vec::new();
    for (index, event) in events.iter().enumerate() {
        match parse_event(index, event, &ctx) {
            Ok(event) => valid.push(event),
            Err(rejection) => rejected.push(rejection),
        }
    }
    let bots = valid
        .iter()
        .filter(|e| e.traffic == TrafficClass::Bot)
        .count();
    let stored = state.events.write(valid).await?;
    let accepted = stored.iter().filter(|new| **new).count();
    state.metrics.events_accepted.inc_by(accepted as u64);
    if bots > 0 {
        state.metrics.bot_events.inc_by(bots as u64);
    }
    Ok(HttpResponse::Accepted()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(EventsAccepted {
            accepted,
            duplicates: stored.len() - accepted,
            rejected,
        }))
}

/// Logs a click or an open from an email/SMS token — unless the token's counting life
/// is over. The reader's click or image must not fail on our account, so a write
/// failure is logged, not answered.
async fn log_link_event(
    state: &Engagement,
    req: &HttpRequest,
    kind: EventKind,
    claims: crate::tokens::LinkClaims,
    link: Option<String>,
) {
    if !claims.counts_at(Utc::now().timestamp().max(0) as u64) {
        state.metrics.expired_link_events.inc();
        return;
    }
    let prefix = if kind == EventKind::Click {
        "click"
    } else {
        "open"
    };
    // A link made for an anonymous id counts for the person the graph ties it to now.
    let person_key = match claims.an.as_deref().and_then(|k| k.strip_prefix("anon:")) {
        Some(id) => match state.people.directory.anonymous_keys(&[id]).await {
            Ok(keys) => keys.get(id).cloned().or(claims.an.clone()),
            Err(e) => {
                tracing::debug!(error = %e, "person lookup for a tracked link failed");
                claims.an.clone()
            }
        },
        None => claims.an.clone(),
    };
    let event = NewEvent {
        event_id: format!("{prefix}-{}", uuid::Uuid::new_v4().simple()),
        kind,
        occurred_at: Utc::now(),
        person_key,
        decision: claims.into(),
        revenue: None,
        feedback: None,
        link,
        // Anyone who has the email can follow its links: the network is the source.
        source: state.provenance.network_source(req),
        traffic: TrafficClass::of_user_agent(
            req.headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        ),
    };
    if let Err(e) = state.events.write(vec![event]).await {
        // The redirect (or pixel) is served anyway; the count is lost, and counted.
        state.metrics.link_events_lost.inc();
        tracing::debug!(error = %e, kind = kind.as_str(), "email/SMS engagement not stored");
    }
}

/// `GET /v1/t/{token}`: a tracked link from an email or SMS. Logs the click (while the
/// token counts: `tracking_token_ttl`), then redirects to the link the variant defines
/// — only that one: the token names the variant and field, never a URL, so it cannot
/// become an open redirect. An expired token still redirects; it logs nothing.
#[utoipa::path(
    get,
    path = "/v1/t/{token}",
    tag = "engagement",
    params(("token" = String, Path, description = "Link token from a content answer's `tracking.links`")),
    responses(
        (status = 302, description = "To the variant's link (an expired token still redirects; it logs nothing)"),
        (status = 400, description = "Not a link token Tailor signed", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this client network (or server key); retry after Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The variant or its link no longer exists", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn tracked_link(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Engagement>,
) -> Result<HttpResponse, Problem> {
    let claims = state
        .signer
        .verify_link(&path)
        .map_err(|_| Problem::invalid("token", "not a link token Tailor signed"))?;
    let field = claims
        .lk
        .clone()
        .ok_or_else(|| Problem::invalid("token", "this token is an open pixel, not a link"))?;
    let catalog = state.catalog.current().await?;
    let target = catalog
        .placement(&claims.pl)
        .and_then(|(_, p)| p.variants.iter().find(|v| *v.id == *claims.va))
        .and_then(|v| v.fields.iter().find(|f| *f.name == *field))
        .and_then(|f| match &f.value {
            CompiledField::Url(url) => Some(url.to_string()),
            _ => None,
        })
        .ok_or_else(|| {
            Problem::new(
                ProblemType::NotFound,
                "the link's variant or field no longer exists",
            )
        })?;
    log_link_event(&state, &req, EventKind::Click, claims, Some(field)).await;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, target))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// 1×1 transparent GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// `GET /v1/o/{token}.gif`: an email open, logged as the email's impression.
#[utoipa::path(
    get,
    path = "/v1/o/{token}.gif",
    tag = "engagement",
    params(("token" = String, Path, description = "Open token from a content answer's `tracking.open_pixel`")),
    responses(
        (status = 200, description = "A 1×1 GIF, never cached", content_type = "image/gif"),
        (status = 400, description = "Not an open token Tailor signed", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this client network (or server key); retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn open_pixel(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Engagement>,
) -> Result<HttpResponse, Problem> {
    let token = path
        .strip_suffix(".gif")
        .ok_or_else(|| Problem::new(ProblemType::NotFound, "open pixels end in .gif"))?;
    let claims = state
        .signer
        .verify_link(token)
        .map_err(|_| Problem::invalid("token", "not an open token Tailor signed"))?;
    if claims.lk.is_some() {
        return Err(Problem::invalid(
            "token",
            "this token is a link, not an open pixel",
        ));
    }
    log_link_event(&state, &req, EventKind::Impression, claims, None).await;
    Ok(HttpResponse::Ok()
        .content_type("image/gif")
        .insert_header((header::CACHE_CONTROL, "no-store, max-age=0"))
        .body(PIXEL))
}
