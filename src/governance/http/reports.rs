//! What reviewers read: the engagement report (JSON or CSV), every target's state, the
//! sample-ratio tests, and the dashboard page that charts them.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{no_store, Readers};
use crate::auth::StaffUser;
use crate::governance::integrity::SampleRatio;
use crate::governance::report::{ReportRow, GROUPS};
use crate::governance::Governance;
use crate::problem::Problem;

#[derive(Deserialize)]
pub struct ReportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub group_by: Option<String>,
    pub format: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EngagementReport {
    pub from: String,
    pub to: String,
    pub group_by: Vec<String>,
    pub rows: Vec<ReportRow>,
}

fn day(field: &str, value: Option<&str>) -> Result<Option<chrono::NaiveDate>, Problem> {
    use chrono::Datelike;
    value
        .map(|v| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .filter(|d| (2000..=9999).contains(&d.year()))
                .ok_or_else(|| Problem::invalid(field, "must be a date, YYYY-MM-DD, from 2000"))
        })
        .transpose()
}

/// A report request, checked: the days, the distinct groups in order, CSV or not.
struct ReportRequest {
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    group_by: Vec<&'static str>,
    csv: bool,
}

fn report_request(req: &HttpRequest, query: &ReportQuery) -> Result<ReportRequest, Problem> {
    let to = day("to", query.to.as_deref())?.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let from = match day("from", query.from.as_deref())? {
        Some(from) => from,
        None => to - chrono::Duration::days(27),
    };
    if from > to {
        return Err(Problem::invalid("from", "must not be after `to`"));
    }
    if (to - from).num_days() > 366 {
        return Err(Problem::invalid("from", "a report covers at most 366 days"));
    }
    let mut group_by: Vec<&'static str> = Vec::new();
    for name in query
        .group_by
        .as_deref()
        .unwrap_or("channel")
        .split(',')
        .map(str::trim)
    {
        let Some(group) = GROUPS.iter().copied().find(|g| *g == name) else {
            return Err(Problem::invalid(
                "group_by",
                format!("`{name}` is not one of {}", GROUPS.join(", ")),
            ));
        };
        if !group_by.contains(&group) {
            group_by.push(group);
        }
    }
    let csv = match query.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(_) => return Err(Problem::invalid("format", "must be json or csv")),
        None => req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
    };
    Ok(ReportRequest {
        from,
        to,
        group_by,
        csv,
    })
}

/// `GET /v1/reports/engagement`: rollups per group over a date range, as JSON or CSV
/// (`format=csv` or `Accept: text/csv`); roles `governance` or `analyst`.
#[utoipa::path(get, path = "/v1/reports/engagement", tag = "governance",
    params(
        ("from" = Option<String>, Query, description = "First day, YYYY-MM-DD (default: 27 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, YYYY-MM-DD (default: today, UTC)"),
        ("group_by" = Option<String>, Query, description = "Comma-separated: channel, placement, variant, locale, device, segment, day (default channel)"),
        ("format" = Option<String>, Query, description = "json (default) or csv"),
    ),
    responses(
        (status = 200, description = "The report: JSON, or CSV with `format=csv` (one header line, then a row per group)",
            content((EngagementReport = "application/json"), (String = "text/csv"))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn engagement_report(
    req: HttpRequest,
    query: web::Query<ReportQuery>,
    state: web::Data<Governance>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let ReportRequest {
        from,
        to,
        group_by,
        csv,
    } = report_request(&req, &query)?;
    let rows: Vec<ReportRow> = state.engagement(&group_by, from, to).await?;
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "private, no-store"));
    response.insert_header((header::VARY, "Accept"));
    if csv {
        return Ok(response
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"engagement-{from}-{to}.csv\""),
            ))
            .body(crate::governance::report::to_csv(&group_by, &rows)));
    }
    Ok(response.json(EngagementReport {
        from: from.to_string(),
        to: to.to_string(),
        group_by: group_by.iter().map(|g| g.to_string()).collect(),
        rows,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SampleRatios {
    /// Every weighted split of published variants with enough traffic to test, over
    /// the last 7 days; `mismatch` holds automatic action in that placement.
    pub sample_ratios: Vec<SampleRatio>,
}

/// `GET /v1/governance/sample-ratios`: the sample-ratio test of every weighted split now.
#[utoipa::path(get, path = "/v1/governance/sample-ratios", tag = "governance",
    responses((status = 200, body = SampleRatios), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn sample_ratios(
    state: web::Data<Governance>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let sample_ratios = state.sample_ratios().await?;
    Ok(no_store(StatusCode::OK, &SampleRatios { sample_ratios }))
}

/// `GET /dashboard`: the reviewers' page (self-contained; its data calls carry the staff
/// token the reviewer pastes, so the page itself is public).
pub async fn dashboard() -> HttpResponse {
    static PAGE: std::sync::LazyLock<crate::pages::Page> = std::sync::LazyLock::new(|| {
        crate::pages::Page::new(
            include_str!("../dashboard.html"),
            "connect-src 'self'; img-src 'self'",
        )
    });
    PAGE.respond("no-cache")
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StateEntry {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
    pub state: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct States {
    pub channels: Vec<StateEntry>,
    pub variants: Vec<StateEntry>,
}

/// `GET /v1/governance/states`: every channel's and variant's current state.
#[utoipa::path(get, path = "/v1/governance/states", tag = "governance",
    responses((status = 200, body = States), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn states(
    state: web::Data<Governance>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let (channels, variants) = state.target_states().await?;
    let entry = |(id, placement, state)| StateEntry {
        id,
        placement,
        state,
    };
    Ok(no_store(
        StatusCode::OK,
        &States {
            channels: channels
                .into_iter()
                .map(|(id, state)| entry((id, None, state)))
                .collect(),
            variants: variants
                .into_iter()
                .map(|(id, placement, state)| entry((id, Some(placement), state)))
                .collect(),
        },
    ))
}
