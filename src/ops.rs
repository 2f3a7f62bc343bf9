//! Operations endpoints: liveness, readiness, metrics, the channel registry, and the
//! OpenAPI document with a small self-contained docs page (no CDN assets, so it works
//! on an offline operator network too).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::OpenApi;

use crate::catalog::model::ChannelState;
use crate::problem::{Problem, ProblemType};

/// The document's head and the operations endpoints; each area adds its own paths and
/// schemas (`<area>::http::Api`), merged by the application into one document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tailor",
        description = "Contextual, localised, edge-cacheable content delivery."
    ),
    paths(channels, healthz, readyz, metrics),
    components(schemas(Problem, crate::problem::ContentError, ChannelList, ChannelEntry))
)]
pub struct ApiDoc;

/// What the operations endpoints hold.
pub struct Ops {
    pub db: sea_orm::DatabaseConnection,
    pub redis: Option<redis::aio::ConnectionManager>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub live: crate::catalog::live::LiveCatalog,
    /// The whole API's OpenAPI document, serialised once.
    pub openapi: bytes::Bytes,
}

/// Registers this area's state and routes.
pub fn configure(service: web::Data<Ops>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(service);
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

/// Readiness: the database (and Redis, when configured) answer.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "A dependency is down", body = Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(state: web::Data<Ops>) -> Result<HttpResponse, Problem> {
    crate::storage::ping(&state.db).await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: database");
        Problem::new(ProblemType::Unavailable, "the database is not reachable").with_retry_after(5)
    })?;
    if let Some(redis) = &state.redis {
        let mut conn = redis.clone();
        let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
        if let Err(e) = pong {
            tracing::warn!(error = %e, "readiness: redis");
            return Err(
                Problem::new(ProblemType::Unavailable, "Redis is not reachable")
                    .with_retry_after(5),
            );
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Health { status: "ready" }))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(state: web::Data<Ops>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
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
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(include_str!("docs.html"))
}
