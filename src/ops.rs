//! Operations endpoints: liveness, readiness, metrics, the channel registry, and the
//! OpenAPI document with a small self-contained docs page (no CDN assets, so it works
//! on an offline operator network too).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::OpenApi;

use crate::catalog::model::ChannelState;
use crate::problem::Problem;
use crate::resilience::{Dependency, Status};

/// The document's head and the operations endpoints; each area adds its own paths and
/// schemas (`<area>::http::Api`), merged by the application into one document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tailor",
        description = "Contextual, localised, edge-cacheable content delivery."
    ),
    paths(channels, healthz, readyz, metrics),
    components(schemas(
        Problem,
        crate::problem::ContentError,
        ChannelList,
        ChannelEntry,
        Readiness,
        crate::resilience::Status
    ))
)]
pub struct ApiDoc;

/// What the operations endpoints hold.
pub struct Ops {
    /// What the background probes last found (`/readyz` never probes on the request).
    pub database: std::sync::Arc<Dependency>,
    pub redis: Option<std::sync::Arc<Dependency>>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub live: crate::catalog::live::LiveCatalog,
    /// The whole API's OpenAPI document, serialised once.
    pub openapi: bytes::Bytes,
}

/// Who may read `/metrics` on a listener: metrics name routes, dependencies and volumes,
/// which are an attacker's map, so they are never public on the main listener unless
/// development mode says so.
#[derive(Clone)]
pub enum MetricsAccess {
    /// Callers that present `Authorization: Bearer <metrics_token>`.
    Token(crate::config::Secret),
    /// Anyone who reaches the listener (the metrics listener without a token, or the
    /// main listener in development mode).
    Open,
    /// Not on this listener (it is on `metrics_bind`, or not configured at all).
    NotHere(&'static str),
}

impl MetricsAccess {
    /// The main listener's access under these settings.
    pub fn main(settings: &crate::config::Settings) -> MetricsAccess {
        match (&settings.metrics_bind, &settings.metrics_token) {
            (Some(_), _) => {
                MetricsAccess::NotHere("metrics are served on the metrics listener (metrics_bind)")
            }
            (None, Some(token)) => MetricsAccess::Token(token.clone()),
            (None, None) if settings.dev_mode => MetricsAccess::Open,
            (None, None) => MetricsAccess::NotHere(
                "metrics are served only with metrics_token or on metrics_bind",
            ),
        }
    }

    /// The metrics listener's access under these settings.
    pub fn separate(settings: &crate::config::Settings) -> MetricsAccess {
        settings
            .metrics_token
            .clone()
            .map_or(MetricsAccess::Open, MetricsAccess::Token)
    }

    fn check(&self, authorization: Option<&str>) -> Result<(), Problem> {
        use crate::problem::ProblemType;
        match self {
            MetricsAccess::Open => Ok(()),
            MetricsAccess::NotHere(why) => Err(Problem::new(ProblemType::NotFound, *why)),
            MetricsAccess::Token(token) => {
                let offered = crate::auth::bearer(authorization)
                    .ok()
                    .flatten()
                    .unwrap_or("");
                if constant_time_eq::constant_time_eq(offered.as_bytes(), token.expose().as_bytes())
                {
                    Ok(())
                } else {
                    Err(Problem::new(
                        ProblemType::Unauthorized,
                        "metrics need Authorization: Bearer <metrics_token>",
                    )
                    .with_field("Authorization"))
                }
            }
        }
    }
}

/// The `/metrics` route alone, for the metrics listener (`metrics_bind`).
pub fn configure_metrics(
    service: web::Data<Ops>,
    access: MetricsAccess,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(service)
            .app_data(web::Data::new(access))
            .route("/metrics", web::get().to(metrics));
    }
}

/// Registers this area's state and routes.
pub fn configure(
    service: web::Data<Ops>,
    metrics_access: MetricsAccess,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(service)
            .app_data(web::Data::new(metrics_access));
        cfg.route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .route("/openapi.json", web::get().to(openapi))
            .route("/docs", web::get().to(docs))
            .route("/v1/channels", web::get().to(channels));
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Health { status: "ok" })
}

/// What `/readyz` reports: overall, and per dependency.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`, or `degraded`: a dependency is down and the node serves what it can
    /// without it (see the README's Operations section).
    status: &'static str,
    /// Per dependency (`database`, and `redis` when configured): what the background
    /// probe last found.
    dependencies: std::collections::BTreeMap<&'static str, Status>,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadinessQuery {
    /// `true`: answer `503` while any dependency is down (for deployments that would
    /// rather drain a degraded node than let it serve).
    #[serde(default)]
    strict: bool,
}

/// Readiness, from the background probes' latest findings: it never waits on a
/// dependency. A node with a dependency down still serves (content for nobody in
/// particular, cached people; see Operations), so it stays in rotation (`200`,
/// `degraded`) unless `strict=true` asks otherwise: every node shares the database and
/// Redis, and taking them all out would turn a degraded service into none.
#[utoipa::path(get, path = "/readyz", tag = "ops", params(ReadinessQuery), responses(
    (status = 200, description = "Ready, or degraded (a dependency is down)", body = Readiness),
    (status = 503, description = "`strict=true` and a dependency is down", body = Readiness),
))]
pub async fn readyz(state: web::Data<Ops>, query: web::Query<ReadinessQuery>) -> HttpResponse {
    let mut dependencies = std::collections::BTreeMap::new();
    dependencies.insert("database", state.database.status());
    if let Some(redis) = &state.redis {
        dependencies.insert("redis", redis.status());
    }
    let degraded = dependencies.values().any(|status| status.state == "down");
    let mut response = match (degraded, query.strict) {
        (true, true) => HttpResponse::ServiceUnavailable(),
        _ => HttpResponse::Ok(),
    };
    if degraded && query.strict {
        response.insert_header((header::RETRY_AFTER, "1"));
    }
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Readiness {
            status: if degraded { "degraded" } else { "ready" },
            dependencies,
        })
}

/// Prometheus metrics: with `metrics_token`, or on the `metrics_bind` listener (or in
/// development mode).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    security(("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 401, description = "No or a wrong metrics token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Metrics are not served on this listener", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn metrics(
    state: web::Data<Ops>,
    access: web::Data<MetricsAccess>,
    request: actix_web::HttpRequest,
) -> Result<HttpResponse, Problem> {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    access.check(authorization)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render()))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelEntry {
    id: String,
    state: ChannelState,
    description: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelList {
    channels: Vec<ChannelEntry>,
}

/// The channel registry with each channel's state.
#[utoipa::path(get, path = "/v1/channels", tag = "delivery", responses((status = 200, body = ChannelList)))]
pub async fn channels(state: web::Data<Ops>) -> Result<HttpResponse, Problem> {
    let catalog = state.live.current().await?;
    let channels = catalog
        .channels
        .iter()
        .map(|c| ChannelEntry {
            id: c.id.to_string(),
            state: c.state(),
            description: c.def.description.clone(),
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=30"))
        .insert_header(("Surrogate-Key", "channels"))
        .json(ChannelList { channels }))
}

async fn openapi(state: web::Data<Ops>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi.clone())
}

async fn docs() -> HttpResponse {
    static PAGE: std::sync::LazyLock<crate::pages::Page> = std::sync::LazyLock::new(|| {
        crate::pages::Page::new(include_str!("docs.html"), "connect-src 'self'")
    });
    PAGE.respond("public, max-age=300")
}
