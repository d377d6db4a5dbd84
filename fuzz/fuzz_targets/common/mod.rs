//! The application the HTTP targets post to: the real router on a real SQLite database in
//! a temporary folder, built once per fuzzing process, with an owner's API key, a template,
//! a Meta sender (app secret [`META_APP_SECRET`], phone number id [`META_PHONE_NUMBER_ID`])
//! and a Twilio sender ([`TWILIO_ACCOUNT_SID`], auth token [`TWILIO_AUTH_TOKEN`]), so that
//! signed webhooks get past the signature check into the readers and the report writer.
#![allow(dead_code)]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, Method, Request, Response};
use pregon::startup::{AppConfig, Application, Background};
use tower::ServiceExt;

pub const KEY: &str = "pgn_fuzz_owner";
pub const META_APP_SECRET: &str = "fuzz-app-secret";
pub const META_PHONE_NUMBER_ID: &str = "106540352242922";
pub const META_WABA: &str = "102290129340398";
pub const TWILIO_ACCOUNT_SID: &str = "AC0123";
pub const TWILIO_AUTH_TOKEN: &str = "fuzz-auth-token";
/// The public URL Twilio signatures are computed over (`<PUBLIC_URL>/webhooks/twilio`).
pub const PUBLIC_URL: &str = "https://pregon.fuzz";

pub struct Harness {
    pub runtime: tokio::runtime::Runtime,
    pub router: axum::Router,
    pub template_id: String,
    // Holds the application (and its background report writer) alive.
    _app: Application,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Sends one request through the router and waits for its answer.
    pub fn send(&self, request: Request<Body>) -> Response<Body> {
        self.runtime.block_on(self.router.clone().oneshot(request)).unwrap()
    }
}

pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (app, router, template_id) = runtime.block_on(async {
            let mut config = AppConfig::for_database(&format!("sqlite://{}/fuzz.db", dir.path().display()));
            config.bootstrap_api_key = Some(KEY.into());
            config.background = Background::Off;
            config.limits.api_rate_limit = 1_000_000;
            config.reports.public_url = Some(PUBLIC_URL.into());
            let app = Application::build(config).await.expect("the application builds");
            let router = pregon::http::router(app.state().clone());
            let template = post_json(
                &router,
                "/api/v1/templates",
                r#"{"name": "fuzz", "language": "es", "body": "Hola {{nombre}}, {{codigo}}"}"#,
            )
            .await;
            let meta = serde_json::json!({
                "name": "Meta", "provider": "meta", "phone_number": "+593995683452",
                "credentials": {"access_token": "tok", "phone_number_id": META_PHONE_NUMBER_ID,
                                "waba_id": META_WABA, "app_secret": META_APP_SECRET},
                "base_url": "http://127.0.0.1:9/v21.0"
            });
            post_json(&router, "/api/v1/senders", &meta.to_string()).await;
            let twilio = serde_json::json!({
                "name": "Twilio", "provider": "twilio", "phone_number": "+14155238886",
                "credentials": {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN},
                "base_url": "http://127.0.0.1:9"
            });
            post_json(&router, "/api/v1/senders", &twilio.to_string()).await;
            (app, router, template["id"].as_str().unwrap().to_string())
        });
        Harness {
            runtime,
            router,
            template_id,
            _app: app,
            _dir: dir,
        }
    })
}

/// POSTs JSON as the owner; expects 201 and returns the answer.
async fn post_json(router: &axum::Router, uri: &str, body: &str) -> serde_json::Value {
    let response = router
        .clone()
        .oneshot(
            Request::builder()
                .method(Method::POST)
                .uri(uri)
                .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    assert_eq!(status, 201, "{uri}: {}", String::from_utf8_lossy(&bytes));
    serde_json::from_slice(&bytes).unwrap()
}
