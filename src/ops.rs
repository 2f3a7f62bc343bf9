//! Operations endpoints: liveness, readiness, metrics, the channel registry, and the
//! OpenAPI document with a small self-contained docs page (no CDN assets, so it works
//! on an offline operator network too).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::OpenApi;

use crate::app::AppState;
use crate::catalog::model::ChannelState;
use crate::problem::{Problem, ProblemType};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tailor",
        description = "Contextual, localised, edge-cacheable content delivery."
    ),
    paths(
        crate::delivery::content_one,
        crate::delivery::content_batch,
        crate::delivery::cohort_context,
        crate::engagement::http::post_events,
        crate::engagement::http::tracked_link,
        crate::engagement::http::open_pixel,
        crate::identity::http::identify,
        crate::identity::http::get_person,
        crate::identity::http::erase_person,
        crate::governance::http::list_policies,
        crate::governance::http::put_policy,
        crate::governance::http::delete_policy,
        crate::governance::http::evaluate,
        crate::governance::http::list_decisions,
        crate::governance::http::act,
        crate::governance::http::reinstate,
        crate::governance::http::engagement_report,
        crate::governance::http::states,
        crate::governance::http::sample_ratios,
        crate::authoring::http::list_placements,
        crate::authoring::http::create_placement,
        crate::authoring::http::get_placement,
        crate::authoring::http::put_placement,
        crate::authoring::http::archive_placement,
        crate::authoring::http::versions,
        crate::authoring::http::versions_diff,
        crate::authoring::http::create_variant,
        crate::authoring::http::get_variant,
        crate::authoring::http::put_variant,
        crate::authoring::http::act_on_variant,
        crate::authoring::http::list_locale_files,
        crate::authoring::http::get_locale_file,
        crate::authoring::http::put_locale_file,
        crate::authoring::http::act_on_locale_file,
        crate::authoring::http::locale_file_versions,
        crate::authoring::http::locale_file_diff,
        crate::authoring::http::coverage,
        crate::authoring::preview::preview,
        channels,
        healthz,
        readyz,
        metrics,
    ),
    components(schemas(
        Problem,
        crate::problem::ContentError,
        crate::authoring::http::PlacementList,
        crate::authoring::http::PlacementAnswer,
        crate::authoring::http::VariantSummary,
        crate::authoring::http::VariantInput,
        crate::authoring::http::VariantAnswer,
        crate::authoring::http::VariantVersionDoc,
        crate::authoring::http::VersionDoc,
        crate::authoring::http::StepBody,
        crate::authoring::http::StepAnswer,
        crate::authoring::http::VariantLocales,
        crate::authoring::http::FluentAnswer,
        crate::authoring::http::LocaleFileList,
        crate::authoring::http::LocaleFileSummary,
        crate::authoring::http::HistoryAnswer,
        crate::authoring::http::AuditDoc,
        crate::authoring::http::DiffAnswer,
        crate::authoring::http::VersionAnswer,
        crate::authoring::LiveLocales,
        crate::authoring::IncompleteLocale,
        crate::authoring::Coverage,
        crate::authoring::MessageCoverage,
        crate::authoring::LocaleCoverage,
        crate::authoring::preview::PreviewRequest,
        crate::authoring::preview::PreviewAnswer,
        crate::authoring::preview::VariantExplained,
        crate::authoring::preview::Reason,
        crate::authoring::preview::RenderedLocale,
        crate::authoring::preview::ChosenVariant,
        ChannelList,
        ChannelEntry,
        crate::delivery::CohortAnswer,
        crate::engagement::http::EventsAccepted,
        crate::engagement::Rejection,
        crate::identity::http::IdentifyAnswer,
        crate::identity::http::PersonAnswer,
        crate::identity::http::IdentifierDoc,
        crate::identity::http::MergeDoc,
        crate::governance::http::PolicyList,
        crate::governance::http::DecisionList,
        crate::governance::http::DecisionDoc,
        crate::governance::policy::PolicyDef,
        crate::governance::evaluator::EvaluationReport,
        crate::governance::evaluator::ActionTaken,
        crate::governance::Finding,
        crate::governance::http::EngagementReport,
        crate::governance::report::ReportRow,
        crate::governance::http::States,
        crate::governance::http::StateEntry,
        crate::governance::http::SampleRatios,
        crate::governance::integrity::SampleRatio,
        crate::governance::integrity::Diversity,
        crate::governance::integrity::VolumeJump,
        crate::governance::EvidenceQuality
    ))
)]
pub struct ApiDoc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/openapi.json", web::get().to(openapi))
        .route("/docs", web::get().to(docs))
        .route("/v1/channels", web::get().to(channels));
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
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
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
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
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
pub async fn channels(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let catalog = state.catalog().await?;
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

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(include_str!("docs.html"))
}
