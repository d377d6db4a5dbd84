//! Security headers on every answer of the application.
//!
//! - `Content-Security-Policy`: scripts, styles, fonts and connections only from this
//!   origin, so no inline script or style runs (the console has none: behaviour is in our
//!   modules, wired by `data-*` attributes, and style in `app.css`). Images may also be
//!   `data:` or `https:` (template header images). No plugins, no `<base>`, forms post
//!   here only, and no page of ours may be framed.
//! - `X-Frame-Options: DENY`, for browsers older than `frame-ancestors`.
//! - `Referrer-Policy: same-origin`: campaign ids in our URLs never leave in a Referer.
//! - `X-Content-Type-Options: nosniff`.
//!
//! `/docs` (the Scalar API reference, whose page loads its script from a CDN) is the one
//! path without the policy; it keeps the other headers.

use axum::extract::Request;
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The console's policy.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: https:; connect-src 'self'; font-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Whether `path` is served without the policy.
fn exempt(path: &str) -> bool {
    path == "/docs" || path.starts_with("/docs/")
}

/// Middleware adding the headers; a handler's own values are kept.
pub async fn headers(request: Request, next: Next) -> Response {
    let with_policy = !exempt(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if with_policy {
        headers
            .entry(CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE));
    }
    headers
        .entry(X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    headers
        .entry(REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    headers
        .entry(X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_api_reference_page_is_exempt() {
        assert!(exempt("/docs"));
        assert!(exempt("/docs/"));
        assert!(!exempt("/"));
        assert!(!exempt("/docsx"));
        assert!(!exempt("/assets/app.css"));
        assert!(!exempt("/api/v1/campaigns"));
    }

    #[test]
    fn the_policy_has_no_unsafe_sources() {
        assert!(!CONTENT_SECURITY_POLICY_VALUE.contains("unsafe"));
        assert!(!CONTENT_SECURITY_POLICY_VALUE.contains("  "));
        for directive in ["script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
            assert!(CONTENT_SECURITY_POLICY_VALUE.contains(directive), "{directive}");
        }
    }
}
