//! The multipart reader, through the real router: any body posted to
//! `POST /api/v1/campaigns/import` as `multipart/form-data` with boundary `X`, on a real
//! SQLite database. No answer is a 5xx. `@TPL@` in the input stands for a real template's
//! id, so that inputs get past the template lookup into the CSV.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use axum::body::Body;
use axum::http::{header, Method, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let h = common::harness();
    let body = replace(data, b"@TPL@", h.template_id.as_bytes());
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/campaigns/import")
        .header(header::AUTHORIZATION, format!("Bearer {}", common::KEY))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=X")
        .body(Body::from(body))
        .unwrap();
    let status = h.send(request).status();
    assert!(!status.is_server_error(), "answered {status}");
});

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(i) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(to);
        rest = &rest[i + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}
