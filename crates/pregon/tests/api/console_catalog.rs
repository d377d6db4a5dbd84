//! The console's templates and senders pages over HTTP, and the API routes they add: what
//! a person wrote is escaped, credentials never reach a page, a viewer gets no button, the
//! connection test passes and fails with the provider's words, and a template sync creates
//! then updates. What a person does with them in a browser is tested in Chromium by
//! `console-tests/tests/catalog.test.mjs`.

use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{
    meta_error, meta_server, mount_meta_credentials, spawn_app, Session, TestApp, META_CREDENTIALS_PATH, OWNER_EMAIL,
    OWNER_PASSWORD,
};

/// A console page's HTML, as the session's person in `lang`.
async fn page(app: &TestApp, path: &str, session: &Session, lang: &str) -> String {
    let reply = app
        .send(
            app.request(Method::GET, path)
                .header(reqwest::header::COOKIE, &session.cookie)
                .header(reqwest::header::ACCEPT_LANGUAGE, lang),
        )
        .await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    reply.text
}

async fn owner(app: &TestApp) -> Session {
    app.session(OWNER_EMAIL, OWNER_PASSWORD).await
}

async fn viewer(app: &TestApp) -> Session {
    app.post(
        "/api/v1/users",
        &json!({"email": "vera@example.com", "name": "Vera", "role": "viewer", "password": "una clave muy larga"}),
    )
    .await
    .expect(201);
    app.session("vera@example.com", "una clave muy larga").await
}

#[tokio::test]
async fn the_templates_page_shows_badges_in_words_and_escapes_the_body() {
    let app = spawn_app().await;
    app.create_template(json!({
        "name": "promo<b>", "language": "es", "category": "utility",
        "body": "<script>alert('x')</script> Hola {{nombre}}"
    }))
    .await;
    let session = owner(&app).await;
    let html = page(&app, "/templates", &session, "es").await;
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; Hola {{nombre}}"),
        "{html}"
    );
    assert!(html.contains("promo&#60;b&#62;"), "{html}");
    for words in [
        "Utilidad",
        "Aprobada",
        "Sin calificar",
        "Crear plantilla",
        "Vista previa",
    ] {
        assert!(html.contains(words), "{words}: {html}");
    }
    assert!(!html.contains('⟦'), "a message is missing: {html}");
    let html = page(&app, "/templates", &session, "en").await;
    for words in ["Utility", "Approved", "Not rated", "Create template"] {
        assert!(html.contains(words), "{words}: {html}");
    }
    assert!(!html.contains('⟦'), "a message is missing: {html}");
}

#[tokio::test]
async fn a_template_preview_form_has_a_field_per_variable() {
    let app = spawn_app().await;
    let t = app
        .create_template(json!({"name": "t", "language": "es", "body": "Hola {{nombre}}, debe {{monto}}"}))
        .await;
    let session = owner(&app).await;
    let id = t["id"].as_str().unwrap();
    let html = page(&app, &format!("/templates?preview={id}"), &session, "es").await;
    assert!(html.contains(r#"name="nombre""#), "{html}");
    assert!(html.contains(r#"name="monto""#), "{html}");
    assert!(html.contains(&format!(r#"data-preview-url="/api/v1/templates/{id}/preview""#)));
}

#[tokio::test]
async fn the_senders_page_escapes_names_and_never_shows_credentials() {
    let app = spawn_app().await;
    let sender = app
        .create_sender(json!({
            "name": "<img src=x onerror=alert(1)>", "provider": "meta", "phone_number": "+593995683452",
            "credentials": {"access_token": "tok-very-secret-4411", "phone_number_id": "1142",
                            "app_secret": "app-secret-9932"},
            "messaging_tier": "TIER_250"
        }))
        .await;
    let session = owner(&app).await;
    let id = sender["id"].as_str().unwrap();
    for path in ["/senders".to_string(), format!("/senders?edit={id}")] {
        for lang in ["es", "en"] {
            let html = page(&app, &path, &session, lang).await;
            assert!(!html.contains("<img src=x"), "{html}");
            assert!(html.contains("&#60;img src=x onerror=alert(1)&#62;"), "{html}");
            for secret in ["tok-very-secret-4411", "app-secret-9932"] {
                assert!(!html.contains(secret), "{path} shows a credential: {html}");
            }
            assert!(!html.contains('⟦'), "a message is missing: {html}");
        }
    }
    let html = page(&app, "/senders", &session, "es").await;
    assert!(html.contains("TIER_250"), "{html}");
    assert!(html.contains(r#"<meter min="0" max="250" value="0""#), "{html}");
    assert!(html.contains("0 de 250"), "{html}");
    assert!(html.contains("Probar conexión"), "{html}");
    let edit = page(&app, &format!("/senders?edit={id}"), &session, "es").await;
    assert!(edit.contains("Deje los campos vacíos para conservarlas"), "{edit}");
    assert!(edit.contains(&format!(
        r#"data-api-form="/api/v1/senders/{id}" data-api-method="PATCH""#
    )));
}

#[tokio::test]
async fn a_viewer_sees_no_button_and_its_direct_post_is_refused() {
    let app = spawn_app().await;
    app.create_template(json!({"name": "t", "language": "es", "body": "Hola"}))
        .await;
    let session = viewer(&app).await;
    for path in ["/templates", "/senders"] {
        let html = page(&app, path, &session, "es").await;
        for control in [
            "data-api-url",
            "data-api-form",
            "data-test-url",
            "data-preview-url",
            "<button type=\"button\"",
        ] {
            assert!(!html.contains(control), "{path}: a viewer gets {control}: {html}");
        }
        // The list itself is there.
        assert!(html.contains("<table class=\"table\">"), "{html}");
    }
    let reply = app
        .call_as(
            Method::POST,
            "/api/v1/templates",
            &session,
            Some(&json!({"name": "x", "language": "es", "body": "Hola"})),
            true,
        )
        .await;
    reply.expect_error(403, "forbidden");
}

#[tokio::test]
async fn the_connection_test_passes_with_the_numbers_facts_and_fails_with_the_providers_words() {
    let app = spawn_app().await;
    let server = meta_server().await;
    let ok = app.meta_sender(&server, 10.0).await;
    let passed = app.post_empty(&format!("/api/v1/senders/{ok}/test")).await.expect(200);
    assert_eq!(passed["ok"], true, "{passed}");
    assert_eq!(passed["checks"][0]["name"], "credentials", "{passed}");
    assert_eq!(passed["checks"][0]["ok"], true, "{passed}");

    let refused_server = meta_server().await;
    Mock::given(method("GET"))
        .and(path(META_CREDENTIALS_PATH))
        .respond_with(meta_error(
            401,
            190,
            "Error validating access token: Session has expired",
        ))
        .mount(&refused_server)
        .await;
    let bad = app
        .create_sender(json!({
            "name": "Caducado", "provider": "meta", "phone_number": "+593995683453",
            "credentials": {"access_token": "old", "phone_number_id": "1142"},
            "base_url": format!("{}/v21.0", refused_server.uri())
        }))
        .await;
    let bad = bad["id"].as_str().unwrap();
    let failed = app.post_empty(&format!("/api/v1/senders/{bad}/test")).await.expect(200);
    assert_eq!(failed["ok"], false, "{failed}");
    assert_eq!(failed["checks"][0]["code"], "190", "{failed}");
    assert!(
        failed["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("Session has expired"),
        "{failed}"
    );

    // A rating the test reads is kept, and the list says it.
    let rated_server = meta_server().await;
    Mock::given(method("GET"))
        .and(path(META_CREDENTIALS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "1142", "quality_rating": "YELLOW", "throughput": {"level": "STANDARD"},
            "whatsapp_business_manager_messaging_limit": "TIER_2K"
        })))
        .mount(&rated_server)
        .await;
    let rated = app
        .create_sender(json!({
            "name": "Medio", "provider": "meta", "phone_number": "+593995683454",
            "credentials": {"access_token": "tok", "phone_number_id": "1142"},
            "base_url": format!("{}/v21.0", rated_server.uri())
        }))
        .await;
    let rated = rated["id"].as_str().unwrap();
    let facts = app
        .post_empty(&format!("/api/v1/senders/{rated}/test"))
        .await
        .expect(200);
    assert_eq!(facts["ok"], true, "{facts}");
    assert_eq!(facts["quality"], "yellow", "{facts}");
    assert_eq!(facts["messaging_tier"], "TIER_2K", "{facts}");
    assert_eq!(facts["throughput"], 80, "{facts}");
    let stored = app.get(&format!("/api/v1/senders/{rated}")).await.expect(200);
    assert_eq!(stored["quality_rating"], "YELLOW", "{stored}");
    let session = owner(&app).await;
    let html = page(&app, "/senders", &session, "es").await;
    assert!(html.contains("Calidad media"), "{html}");

    let sandbox = app.default_sender().await;
    let sandbox = sandbox["id"].as_str().unwrap();
    let plain = app
        .post_empty(&format!("/api/v1/senders/{sandbox}/test"))
        .await
        .expect(200);
    assert_eq!(plain["ok"], true, "{plain}");
    app.post_empty("/api/v1/senders/nope/test")
        .await
        .expect_error(404, "not_found");
}

fn template_object(name: &str, status: &str, quality: &str, body: &str) -> Value {
    json!({
        "id": format!("id-{name}"), "name": name, "language": "es", "status": status,
        "category": "UTILITY", "quality_score": {"score": quality},
        "parameter_format": "POSITIONAL",
        "components": [{"type": "BODY", "text": body}]
    })
}

/// Two pages of templates at `GET /v21.0/77/message_templates`.
async fn mount_templates(server: &wiremock::MockServer, first_status: &str, body: &str) {
    server.reset().await;
    mount_meta_credentials(server).await;
    Mock::given(method("GET"))
        .and(path("/v21.0/77/message_templates"))
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [template_object("aviso", first_status, "GREEN", body)],
            "paging": {"cursors": {"after": "P2"}, "next": format!("{}/v21.0/77/message_templates?after=P2", server.uri())}
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/77/message_templates"))
        .and(query_param("after", "P2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [template_object("cobro", "PENDING", "UNKNOWN", "Debe {{1}}")],
            "paging": {"cursors": {"after": "END"}}
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_sync_reads_every_page_then_updates_what_it_created() {
    let app = spawn_app().await;
    let server = meta_server().await;
    mount_templates(&server, "APPROVED", "Hola {{1}}").await;
    let sender = app
        .create_sender(json!({
            "name": "Ventas", "provider": "meta", "phone_number": "+593995683452",
            "credentials": {"access_token": "tok", "phone_number_id": "1142", "waba_id": "77"},
            "base_url": format!("{}/v21.0", server.uri())
        }))
        .await;
    let sender = sender["id"].as_str().unwrap();
    let first = app
        .post("/api/v1/templates/sync", &json!({"sender_id": sender}))
        .await
        .expect(200);
    assert_eq!(
        (first["created"].as_i64(), first["updated"].as_i64()),
        (Some(2), Some(0)),
        "{first}"
    );
    let aviso = &first["items"][0];
    assert_eq!(aviso["name"], "aviso");
    assert_eq!(aviso["category"], "utility");
    assert_eq!(aviso["status"], "approved");
    assert_eq!(aviso["quality"], "green");
    assert_eq!(first["items"][1]["status"], "pending");

    // The connection test counts the account's templates.
    let tested = app
        .post_empty(&format!("/api/v1/senders/{sender}/test"))
        .await
        .expect(200);
    assert_eq!(tested["templates"], 2, "{tested}");

    mount_templates(&server, "PAUSED", "Hola {{1}}, de nuevo").await;
    let second = app
        .post("/api/v1/templates/sync", &json!({"sender_id": sender}))
        .await
        .expect(200);
    assert_eq!(
        (second["created"].as_i64(), second["updated"].as_i64()),
        (Some(0), Some(2)),
        "{second}"
    );
    assert_eq!(second["items"][0]["id"], aviso["id"], "the same template, updated");
    let stored = app
        .get(&format!("/api/v1/templates/{}", aviso["id"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(stored["status"], "paused");
    assert_eq!(stored["body"], "Hola {{1}}, de nuevo");

    let audit = app.get("/api/v1/audit?action=template.sync").await.expect(200);
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(2), "{audit}");

    // A sandbox sender holds no templates to sync.
    let sandbox = app.default_sender().await;
    app.post("/api/v1/templates/sync", &json!({"sender_id": sandbox["id"]}))
        .await
        .expect_error(422, "invalid_field");
}
