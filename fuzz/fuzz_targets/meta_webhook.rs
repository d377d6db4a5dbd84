//! Meta webhook bodies: any bytes, read by the providers crate and the status reader, then
//! POSTed to the real router's `/webhooks/meta`, signed with the Meta sender's app secret
//! (so that they get past the signature into routing and the report writer), on a real
//! SQLite database. No answer is a 5xx.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use axum::body::Body;
use axum::http::{header, Method, Request};
use libfuzzer_sys::fuzz_target;
use pregon_providers::signature::sha256_header;

fuzz_target!(|data: &[u8]| {
    let _ = pregon_providers::meta_webhooks::parse(data);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = pregon::reports::meta::parse(&value);
    }
    let h = common::harness();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/webhooks/meta")
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            "x-hub-signature-256",
            sha256_header(common::META_APP_SECRET.as_bytes(), data),
        )
        .body(Body::from(data.to_vec()))
        .unwrap();
    let status = h.send(request).status();
    assert!(!status.is_server_error(), "answered {status}");
});
