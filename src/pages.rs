//! The two HTML pages Tailor serves itself (`/docs`, `/dashboard`), each with a
//! Content-Security-Policy that allows exactly its own inline scripts and styles, by
//! hash: no `'unsafe-inline'`, so an injected `<script>` or handler never runs.

use actix_web::http::header;
use actix_web::HttpResponse;
use base64::Engine;
use sha2::{Digest, Sha256};

/// A self-contained page and its policy, computed once.
pub struct Page {
    html: String,
    policy: String,
}

impl Page {
    /// `extra` adds directives the page needs (e.g. `connect-src 'self'`).
    pub fn new(html: &str, extra: &str) -> Page {
        // Browsers hash an element's text after turning CRLF into LF: serve and hash
        // the same bytes, whatever line endings the checkout had.
        let html = html.replace("\r\n", "\n");
        let scripts = hashes(&html, "script");
        let styles = hashes(&html, "style");
        let policy = format!(
            "default-src 'none'; script-src {scripts}; style-src {styles}; {extra}; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        );
        Page { html, policy }
    }

    pub fn policy(&self) -> &str {
        &self.policy
    }

    pub fn respond(&self, cache_control: &'static str) -> HttpResponse {
        HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, cache_control))
            .insert_header((header::CONTENT_SECURITY_POLICY, self.policy.as_str()))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .content_type("text/html; charset=utf-8")
            .body(self.html.clone())
    }
}

/// `'sha256-…'` of every `<tag>` element's text, space-separated (`'none'` if there is
/// none). The hash covers exactly the bytes between the tags, as browsers hash them.
fn hashes(html: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else { break };
        let digest = Sha256::digest(&body.as_bytes()[..end]);
        found.push(format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ));
        rest = &body[end + close.len()..];
    }
    if found.is_empty() {
        "'none'".into()
    } else {
        found.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_inline_block_is_allowed_by_its_hash_and_nothing_inline_otherwise() {
        let page = Page::new(
            "<style>p{}</style><script>alert(1)</script><script>x()</script>",
            "connect-src 'self'",
        );
        // echo -n 'alert(1)' | openssl dgst -sha256 -binary | base64
        assert!(page
            .policy()
            .contains("script-src 'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI=' 'sha256-"));
        assert!(page.policy().contains("style-src 'sha256-"));
        assert!(!page.policy().contains("unsafe"));
        assert_eq!(hashes("<p>no scripts</p>", "script"), "'none'");
    }

    #[test]
    fn the_served_pages_have_no_inline_handlers_or_style_attributes() {
        // A hash covers `<script>` and `<style>` elements only: an `onclick="…"` or a
        // `style="…"` attribute in the markup would be blocked.
        for html in [
            include_str!("docs.html"),
            include_str!("governance/dashboard.html"),
        ] {
            assert!(!html.contains(" style=\"") && !html.contains(" onclick=\""));
            // Every script and style element is a bare `<script>`/`<style>`, so the
            // hash finder sees each one (an attribute would leave it unhashed: blocked).
            let policy = Page::new(html, "").policy().to_string();
            for tag in ["script", "style"] {
                let elements = html.matches(&format!("<{tag}")).count();
                let hashed = policy
                    .split(';')
                    .find(|d| d.trim().starts_with(&format!("{tag}-src")))
                    .map_or(0, |d| d.matches("'sha256-").count());
                assert!(elements > 0 && elements == hashed, "{tag}");
            }
        }
    }
}
