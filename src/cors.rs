//! Cross-origin access for browsers. The paths a website calls from its own pages —
//! content, the cohort context and events — answer the origins listed in
//! `cors_allowed_origins` (none by default: then nothing here runs). Staff and
//! operations paths never do: a browser on another origin gets no CORS headers there.
//!
//! `actix-cors` does the protocol (preflight, `Vary: Origin`); this module only says
//! who and what.

use std::collections::HashSet;

use actix_cors::Cors;
use actix_web::http::{header, Method};

/// Path prefixes a page on an allowed origin may call.
pub const PUBLIC_PATHS: &[&str] = &["/v1/content", "/v1/context", "/v1/events", "/v1/sync"];

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE_SECS: usize = 600;

/// The CORS middleware for `origins` (exact `scheme://host[:port]` values, or `*`).
pub fn cors(origins: &[String]) -> Cors {
    let any = origins.iter().any(|o| o == "*");
    let allowed: HashSet<Vec<u8>> = origins.iter().map(|o| o.as_bytes().to_vec()).collect();
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            let public = PUBLIC_PATHS
                .iter()
                .any(|prefix| head.uri.path().starts_with(prefix));
            public && (any || allowed.contains(origin.as_bytes()))
        })
        .allowed_methods([Method::GET, Method::HEAD, Method::POST])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("x-anonymous-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            header::HeaderName::from_static("tailor-degraded"),
        ])
        .max_age(PREFLIGHT_MAX_AGE_SECS)
        // Other origins (and clients that are not browsers) are answered as usual,
        // without CORS headers: the browser is what refuses them.
        .block_on_origin_mismatch(false)
}

/// Whether `origin` is a valid entry of `cors_allowed_origins`: `*`, or
/// `http(s)://host[:port]` with nothing after it.
pub fn valid_origin(origin: &str) -> bool {
    if origin == "*" {
        return true;
    }
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => (host, Some(port)),
        _ => (rest, None),
    };
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
        && port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in [
            "*",
            "https://shop.example.com",
            "http://127.0.0.1:8081",
            "http://localhost:3000",
        ] {
            assert!(valid_origin(good), "{good}");
        }
        for bad in [
            "shop.example.com",
            "https://shop.example.com/",
            "https://shop.example.com/path",
            "ftp://shop.example.com",
            "https://",
            "http://host:port",
            "https://shop.example.com:99999",
        ] {
            assert!(!valid_origin(bad), "{bad}");
        }
    }
}
