//! `GET /v1/admin/purges`: the purge log, for staff who need to know whether a change
//! reached the CDN (or which purges failed and left stale copies until `max-age`).

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::Delivery;
use crate::auth::StaffUser;
use crate::problem::Problem;
use crate::storage::purges::{self, PurgeRow};

#[derive(Serialize, utoipa::ToSchema)]
pub struct PurgeDoc {
    pub id: i64,
    pub created_at: String,
    /// `webhook`, `fastly` or `cloudflare`.
    pub provider: String,
    /// 1: sent when the change was made; 2: sent again once every node had it.
    pub round: i32,
    pub keys: Vec<String>,
    pub reason: String,
    /// The catalog generation the change made.
    pub generation: i64,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub finished_at: Option<String>,
}

impl From<PurgeRow> for PurgeDoc {
    fn from(row: PurgeRow) -> Self {
        PurgeDoc {
            id: row.id,
            created_at: row.created_at.to_rfc3339(),
            provider: row.provider,
            round: row.round,
            keys: row.keys.split_whitespace().map(str::to_string).collect(),
            reason: row.reason,
            generation: row.generation,
            status: row.status,
            attempts: row.attempts,
            last_error: row.last_error,
            finished_at: row.finished_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PurgeList {
    pub purges: Vec<PurgeDoc>,
}

/// The purge log's route and the roles it accepts (for the OpenAPI document).
pub const STAFF_ROLES: &[(&str, &str, &[crate::auth::Role])] = {
    use crate::auth::Roles;
    &[("get", "/v1/admin/purges", crate::auth::AnyStaff::ACCEPTED)]
};

const STATUSES: [&str; 3] = ["pending", "sent", "failed"];
const MAX_LIMIT: u64 = 500;

/// `GET /v1/admin/purges[?status=failed&limit=100]`: purges, newest first (any staff role).
#[utoipa::path(get, path = "/v1/admin/purges", tag = "authoring",
    params(
        ("status" = Option<String>, Query, description = "pending, sent or failed", pattern = "^(pending|sent|failed)$"),
        ("limit" = Option<u64>, Query, description = "1-500, default 100", minimum = 1, maximum = 500),
    ),
    responses((status = 200, body = PurgeList), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_purges(
    req: actix_web::HttpRequest,
    state: web::Data<Delivery>,
    _staff: StaffUser,
) -> Result<HttpResponse, Problem> {
    let params = crate::problem::single_params(req.query_string(), &["status", "limit"])?;
    let status = params.get("status").map(|v| &**v);
    let limit = params.get("limit").map(|v| &**v);
    if status.is_some_and(|s| !STATUSES.contains(&s)) {
        return Err(Problem::invalid(
            "status",
            "must be pending, sent or failed",
        ));
    }
    let limit = match limit {
        None => 100,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| Problem::invalid("limit", "must be a whole number from 1 to 500"))?,
    };
    let rows = purges::recent(&state.db, status, limit).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "private, no-store"))
        .json(PurgeList {
            purges: rows.into_iter().map(PurgeDoc::from).collect(),
        }))
}
