//! The multipart reader, through the real router: any body posted to
//! `POST /api/v1/campaigns/import` as `multipart/form-data` with boundary `X`, on a real
//! SQLite database. No answer is a 5xx. `@TPL@` in the input stands for a real template's
//! id, so that inputs get past the template lookup into the CSV.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, Method, Request};
use libfuzzer_sys::fuzz_target;
use pregon::startup::{AppConfig, Application, Background};
use tower::ServiceExt;

const KEY: &str = "pgn_fuzz_owner";

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    template_id: String,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (router, template_id) = runtime.block_on(async {
            let mut config = AppConfig::for_database(&format!("sqlite://{}/fuzz.db", dir.path().display()));
            config.bootstrap_api_key = Some(KEY.into());
            config.background = Background::Off;
            config.limits.api_rate_limit = 1_000_000;
            let app = Application::build(config).await.expect("the application builds");
            let router = pregon::http::router(app.state().clone());
            let created = router
                .clone()
                .oneshot(
                    Request::builder()
                        .method(Method::POST)
                        .uri("/api/v1/templates")
                        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(r#"{"name": "fuzz", "language": "es", "body": "Hola {{nombre}}, {{codigo}}"}"#))
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(created.status(), 201, "the fuzz template is created");
            let body = axum::body::to_bytes(created.into_body(), 1 << 20).await.unwrap();
            let template: serde_json::Value = serde_json::from_slice(&body).unwrap();
            (router, template["id"].as_str().unwrap().to_string())
        });
        Harness { runtime, router, template_id, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let body = replace(data, b"@TPL@", h.template_id.as_bytes());
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/campaigns/import")
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=X")
        .body(Body::from(body))
        .unwrap();
    let status = h.runtime.block_on(h.router.clone().oneshot(request)).unwrap().status();
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
