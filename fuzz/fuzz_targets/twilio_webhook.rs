//! Twilio webhook bodies (form-encoded status callbacks and incoming messages): any bytes,
//! read by the form and event readers, then POSTed to the real router's `/webhooks/twilio`
//! after `AccountSid=<the Twilio sender's>&`, signed with its auth token over the public
//! URL (so that they get past the signature into the event reader and the report writer),
//! on a real SQLite database. No answer is a 5xx.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use axum::body::Body;
use axum::http::{header, Method, Request};
use libfuzzer_sys::fuzz_target;
use pregon::reports::twilio::{read, Form};
use pregon_providers::signature::twilio_signature;

fuzz_target!(|data: &[u8]| {
    let _ = read(&Form::parse(data));
    let h = common::harness();
    let mut body = format!("AccountSid={}&", common::TWILIO_ACCOUNT_SID).into_bytes();
    body.extend_from_slice(data);
    let form = Form::parse(&body);
    let url = format!("{}/webhooks/twilio", common::PUBLIC_URL);
    let request = Request::builder()
        .method(Method::POST)
        .uri("/webhooks/twilio")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            "x-twilio-signature",
            twilio_signature(common::TWILIO_AUTH_TOKEN, &url, &form.0),
        )
        .body(Body::from(body))
        .unwrap();
    let status = h.send(request).status();
    assert!(!status.is_server_error(), "answered {status}");
});
