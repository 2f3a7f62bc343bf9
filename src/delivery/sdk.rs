//! The web SDK (`sdk/tailor.js`), served by Tailor itself so a page needs no other
//! host: `/sdk/tailor.js` (revalidated every few minutes) and
//! `/sdk/tailor-<version>.js` (immutable: pin it for reproducible pages). Both answer
//! any origin, since a page imports it cross-origin as a module script.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::problem::{Problem, ProblemType};

/// The SDK, compiled in.
pub const SOURCE: &str = include_str!("../../sdk/tailor.js");

/// The SDK's version, from its first line (`export const VERSION = "1.2.3";`).
pub fn version() -> &'static str {
    SOURCE
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("export const VERSION = \""))
        .and_then(|rest| rest.strip_suffix("\";"))
        .unwrap_or("0")
}

fn etag() -> &'static str {
    static ETAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ETAG.get_or_init(|| {
        format!(
            "\"{:032x}\"",
            xxhash_rust::xxh3::xxh3_128(SOURCE.as_bytes())
        )
    })
}

/// `GET /sdk/tailor.js`.
#[utoipa::path(get, path = "/sdk/tailor.js", tag = "delivery",
    responses((status = 200, description = "The web SDK, an ES module (`text/javascript`), for any origin", content_type = "text/javascript"), (status = 304, description = "Not modified")))]
pub async fn latest(req: HttpRequest) -> HttpResponse {
    serve(&req, "public, max-age=300, stale-while-revalidate=86400")
}

/// `GET /sdk/tailor-{version}.js`.
#[utoipa::path(get, path = "/sdk/tailor-{version}", tag = "delivery",
    params(("version" = String, Path, description = "`<version>.js`, e.g. `1.0.0.js`: the SDK this server carries")),
    responses((status = 200, description = "That version of the web SDK, immutable", content_type = "text/javascript"), (status = 304, description = "Not modified"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn pinned(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, Problem> {
    let asked = path.into_inner();
    if asked.strip_suffix(".js") != Some(version()) {
        return Err(Problem::new(
            ProblemType::NotFound,
            format!("this server has SDK version {}", version()),
        ));
    }
    Ok(serve(&req, "public, max-age=31536000, immutable"))
}

fn serve(req: &HttpRequest, cache_control: &'static str) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        // Weak comparison, as If-None-Match asks for: `W/"…"` matches `"…"`.
        .is_some_and(|tags| {
            tags.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag()
            })
        });
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::ETAG, etag()))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(("Cross-Origin-Resource-Policy", "cross-origin"));
    if fresh {
        return response.finish();
    }
    response
        .content_type("text/javascript; charset=utf-8")
        .body(SOURCE)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_is_read_from_the_first_line() {
        let version = super::version();
        assert_ne!(
            version, "0",
            "sdk/tailor.js must start with its VERSION line"
        );
        assert!(
            version.split('.').all(|part| part.parse::<u32>().is_ok()),
            "{version}"
        );
    }
}
