//! Health, metrics, the OpenAPI document, `/docs`, the console's front page and the
//! dispatcher overview.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{contacts, eventually, phones, spawn_app};

#[tokio::test]
async fn health_reports_the_database() {
    let app = spawn_app().await;
    let reply = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(
        reply.expect(200),
        json!({"status": "ok", "database": "ok", "storage": "ok"})
    );
}

#[tokio::test]
async fn ready_says_ready_once_migrated_and_writable() {
    let app = spawn_app().await;
    let reply = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(reply.expect(200), json!({"status": "ready"}));
    // Not behind a key, and not counted by the API's rate limit: probes come often.
    for _ in 0..150 {
        assert_eq!(app.call(Method::GET, "/ready", None, None).await.status, 200);
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_sends() {
    let app = spawn_app().await;
    let template = app.template().await;
    let created = app
        .create_campaign(json!({"name": "m", "template_id": template, "contacts": contacts(&phones(3))}))
        .await;
    app.wait_status(created["id"].as_str().unwrap(), "completed").await;

    let reply = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.content_type().starts_with("application/openmetrics-text"),
        "{}",
        reply.content_type()
    );
    // Summed over the series' labels (tenant, sender, status); tests/api/metrics.rs
    // parses the exposition properly.
    let sum = |name: &str, with: &str| -> f64 {
        reply
            .text
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .filter(|l| l.contains(with))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
            .sum()
    };
    assert!(
        reply.text.contains("# TYPE pregon_running_campaigns gauge"),
        "{}",
        reply.text
    );
    assert_eq!(sum("pregon_messages_total", "status=\"sent\""), 3.0);
    assert_eq!(sum("pregon_queue_depth", ""), 0.0);
    assert_eq!(sum("pregon_running_campaigns", ""), 0.0);
}

#[tokio::test]
async fn openapi_document_lists_the_api() {
    let app = spawn_app().await;
    let reply = app.call(Method::GET, "/openapi.json", None, None).await;
    let doc = reply.expect(200);
    assert!(reply.content_type().starts_with("application/json"));
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/campaigns",
        "/api/v1/campaigns/import",
        "/api/v1/campaigns/{id}/events",
        "/api/v1/senders",
        "/api/v1/templates",
        "/api/v1/messages",
        "/api/v1/opt-outs",
        "/health",
    ] {
        assert!(paths.contains_key(p), "{p} is not in the OpenAPI paths");
    }
}

#[tokio::test]
async fn docs_and_console_are_html() {
    let app = spawn_app().await;
    for path in ["/docs", "/"] {
        let reply = app.call(Method::GET, path, None, None).await;
        assert_eq!(reply.status, 200, "{path}");
        assert!(
            reply.content_type().starts_with("text/html"),
            "{path}: {}",
            reply.content_type()
        );
        assert!(reply.text.to_lowercase().contains("<html"), "{path}");
    }
    // `/` is the console, rendered on the server: whoever is not signed in gets its login
    // form (a person's email and password, never an API key kept in the browser).
    let console = app.call(Method::GET, "/", None, None).await;
    assert!(console.text.contains(r#"<html lang="es">"#), "{}", console.text);
    assert!(console.text.contains("Iniciar sesión"), "{}", console.text);
    assert!(
        console.text.contains(r#"autocomplete="current-password""#),
        "{}",
        console.text
    );
    assert!(!console.text.contains("localStorage"), "{}", console.text);
}

#[tokio::test]
async fn system_lists_the_one_dispatcher() {
    let app = spawn_app().await;
    app.call(Method::GET, "/api/v1/system", None, None)
        .await
        .expect_error(401, "unauthorized");
    let system: Value = eventually("the dispatcher to register", || async {
        let s = app.get("/api/v1/system").await.expect(200);
        (s["dispatchers"].as_array().map(Vec::len) == Some(1)).then_some(s)
    })
    .await;
    let d = &system["dispatchers"][0];
    assert!(d["id"].as_str().is_some_and(|id| !id.is_empty()), "{system}");
    assert!(d["host"].as_str().is_some_and(|h| !h.is_empty()), "{system}");
    assert_eq!(d["pid"].as_u64(), Some(u64::from(std::process::id())));
    assert!(
        d["version"].is_string() && d["last_heartbeat_at"].is_string(),
        "{system}"
    );
    assert!(d["senders"].is_array(), "{system}");
    assert_eq!(system["queue_depth"], 0);
    assert_eq!(system["running_campaigns"], 0);
}
