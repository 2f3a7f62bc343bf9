//! Adaptive allocation over HTTP, beside governance: what each adaptive placement is
//! serving and why (`GET /v1/governance/allocations`, roles that read governance), and
//! a recompute now instead of at the next scheduled one (`POST
//! /v1/governance/allocations/recompute`, role `governance`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::{Allocation, Allocator, RecomputeReport};
use crate::auth::StaffUser;
use crate::governance::http::{no_store, GovernanceStaff, Readers};
use crate::problem::Problem;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, recompute),
    components(schemas(
        AllocationList,
        Allocation,
        RecomputeReport,
        super::PlacementOutcome,
        super::thompson::ArmVerdict,
        crate::catalog::model::Reward
    ))
)]
pub struct Api;

pub const STAFF_ROLES: &[(&str, &str, &[crate::auth::Role])] = {
    use crate::auth::Roles;
    &[
        ("get", "/v1/governance/allocations", Readers::ACCEPTED),
        (
            "post",
            "/v1/governance/allocations/recompute",
            GovernanceStaff::ACCEPTED,
        ),
    ]
};

pub fn configure(service: web::Data<Allocator>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(service);
        cfg.service(web::resource("/v1/governance/allocations").route(web::get().to(list)))
            .service(
                web::resource("/v1/governance/allocations/recompute")
                    .route(web::post().to(recompute)),
            );
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AllocationList {
    pub allocations: Vec<Allocation>,
}

/// `GET /v1/governance/allocations`: each adaptive placement's last recompute.
#[utoipa::path(get, path = "/v1/governance/allocations", tag = "governance",
    responses((status = 200, body = AllocationList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    state: web::Data<Allocator>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let allocations = state.list().await?;
    Ok(no_store(StatusCode::OK, &AllocationList { allocations }))
}

/// `POST /v1/governance/allocations/recompute`: recompute every adaptive placement now.
#[utoipa::path(post, path = "/v1/governance/allocations/recompute", tag = "governance",
    responses((status = 200, body = RecomputeReport), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn recompute(
    state: web::Data<Allocator>,
    _staff: StaffUser<GovernanceStaff>,
) -> Result<HttpResponse, Problem> {
    let report = state.recompute(chrono::Utc::now()).await?;
    Ok(no_store(StatusCode::OK, &report))
}
