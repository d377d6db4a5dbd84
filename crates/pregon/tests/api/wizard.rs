//! What the new-campaign wizard needs from the import, and its page: a `field_mapping`
//! that feeds the phone and the template's variables from columns named otherwise (stored
//! with the campaign), refused when wrong; a dry run that reports every row and writes
//! nothing; one campaign for a double submit with one `Idempotency-Key`; the page for an
//! operator and not for a viewer. The wizard in a browser is `console-tests/tests/wizard.test.mjs`.

use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::json;
use wiremock::MockServer;

use crate::helpers::{
    assert_error_shape, mount_meta_accept, sent_requests, spawn_app, spawn_stepped_app, Reply, TestApp,
};

const CSV: &str = "Celular;Nombre completo\n+584121234567;Ana Pérez\n+584121234568;Luis Gómez\n";

async fn greeting(app: &TestApp) -> String {
    let t = app
        .create_template(json!({"name": "saludo", "language": "es", "body": "Hola {{nombre}}, gracias."}))
        .await;
    t["id"].as_str().unwrap().to_string()
}

fn form(csv: &str, fields: &[(&str, &str)]) -> Form {
    let mut form = Form::new().part(
        "file",
        Part::bytes(csv.as_bytes().to_vec())
            .file_name("contactos.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    form
}

async fn campaign_count(app: &TestApp) -> usize {
    app.get("/api/v1/campaigns").await.expect(200)["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_mapping_imports_columns_named_otherwise_and_sends_their_values() {
    let app = spawn_stepped_app().await;
    let server = MockServer::start().await;
    mount_meta_accept(&server).await;
    let sender = app.meta_sender(&server, 50.0).await;
    let template = greeting(&app).await;
    // Without a mapping the phone is found ("Celular") but no column feeds "nombre".
    let plain = app
        .import(
            CSV,
            &[
                ("name", "Sin mapa"),
                ("template_id", &template),
                ("sender_id", &sender),
                ("start", "false"),
            ],
        )
        .await
        .expect(201);
    assert_eq!(plain["import"]["skipped"]["missing_variable"], 2, "{plain}");
    assert!(plain.get("field_mapping").is_none(), "{plain}");

    let mapping = json!({"phone": "Celular", "nombre": "Nombre completo"});
    let created = app
        .import(
            CSV,
            &[
                ("name", "Con mapa"),
                ("template_id", &template),
                ("sender_id", &sender),
                ("field_mapping", &mapping.to_string()),
            ],
        )
        .await
        .expect(201);
    assert_eq!(created["import"]["accepted"], 2, "{created}");
    assert_eq!(created["field_mapping"], mapping, "{created}");
    let id = created["id"].as_str().unwrap();
    let stored = app.campaign(id).await;
    assert_eq!(stored["field_mapping"], mapping, "{stored}");
    assert_eq!(stored["settings"]["field_mapping"], mapping, "{stored}");
    app.dispatch_all_pending().await;
    let bodies: Vec<String> = sent_requests(&server)
        .await
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).to_string())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("Ana Pérez") && b.contains("584121234567")),
        "{bodies:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("Luis Gómez") && b.contains("584121234568")),
        "{bodies:?}"
    );
}

#[tokio::test]
async fn a_bad_mapping_is_refused_in_the_error_shape_and_creates_nothing() {
    let app = spawn_app().await;
    let template = greeting(&app).await;
    let with = |mapping: &str| {
        vec![
            ("name", "Mal".to_string()),
            ("template_id", template.clone()),
            ("field_mapping", mapping.to_string()),
        ]
    };
    for bad in [
        "not json",
        r#"["Celular"]"#,
        r#"{"phone": 3}"#,
        r#"{"phone": "Celular", "apellido": "Nombre completo"}"#,
        r#"{"phone": "Celular", "nombre": ""}"#,
    ] {
        let fields = with(bad);
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = app.import(CSV, &fields).await;
        let body = reply.expect_error(422, "invalid_field");
        assert_error_shape(&reply);
        assert_eq!(body["error"]["details"][0]["field"], "field_mapping", "{bad}: {body}");
    }
    let fields = with(r#"{"phone": "Celular", "nombre": "Nombre"}"#);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let reply = app.import(CSV, &fields).await;
    let body = reply.expect_error(422, "unknown_column");
    assert_error_shape(&reply);
    assert_eq!(
        body["error"]["details"][0],
        json!({"field": "field_mapping", "key": "nombre", "column": "Nombre"})
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("Nombre completo"),
        "{body}"
    );
    let fields = with(r#"{"phone": "Móvil", "nombre": "Nombre completo"}"#);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.import(CSV, &fields).await.expect_error(422, "unknown_column");
    app.import(CSV, &[("name", "x"), ("template_id", &template), ("separator", "|")])
        .await
        .expect_error(422, "invalid_field");
    assert_eq!(campaign_count(&app).await, 0);
}

#[tokio::test]
async fn a_dry_run_reports_every_row_and_writes_nothing() {
    let app = spawn_app().await;
    let template = greeting(&app).await;
    app.post("/api/v1/opt-outs", &json!({"phone": "+584120000777"}))
        .await
        .expect(201);
    // Tab-separated, no header row: columns are named by position.
    let csv = "+584121234567\tAna\n12\tCorto\n+584121234567\tAna otra vez\n+584120000777\tBaja\n+584121234569\t\n";
    let mapping = json!({"phone": "1", "nombre": "2"}).to_string();
    let fields = [
        ("name", "Prueba"),
        ("template_id", template.as_str()),
        ("header", "false"),
        ("field_mapping", mapping.as_str()),
        ("dry_run", "true"),
    ];
    let reply = app.import(csv, &fields).await;
    let report = reply.expect(200);
    assert_eq!(report["dry_run"], true, "{report}");
    assert!(report.get("id").is_none(), "{report}");
    let import = &report["import"];
    assert_eq!(import["accepted"], 1, "{report}");
    assert_eq!(
        import["skipped"],
        json!({"invalid_phone": 1, "duplicate": 1, "opted_out": 1, "missing_variable": 1})
    );
    let rows: Vec<(i64, &str, &str)> = import["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["skip_reason"].as_str().unwrap(),
                e["phone"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (2, "invalid_phone", "12"),
            (3, "duplicate", "+584121234567"),
            (4, "opted_out", "+584120000777"),
            (5, "missing_variable", "+584121234569"),
        ]
    );
    assert_eq!(campaign_count(&app).await, 0, "a dry run creates nothing");
    // The same upload, for real, creates the campaign the dry run described.
    let real = app.import(csv, &fields[..4]).await.expect(201);
    assert_eq!(real["import"]["skipped"], import["skipped"]);
    assert_eq!(campaign_count(&app).await, 1);
}

async fn submit(app: &TestApp, template: &str, key: &str) -> Reply {
    let mapping = json!({"phone": "Celular", "nombre": "Nombre completo"}).to_string();
    let form = form(
        CSV,
        &[
            ("name", "Doble clic"),
            ("template_id", template),
            ("field_mapping", &mapping),
            ("start", "false"),
        ],
    );
    app.send(
        app.request(Method::POST, "/api/v1/campaigns/import")
            .header("Idempotency-Key", key)
            .multipart(form),
    )
    .await
}

#[tokio::test]
async fn a_double_submit_with_one_key_makes_one_campaign() {
    let app = spawn_app().await;
    let template = greeting(&app).await;
    let first = submit(&app, &template, "wiz_double_click").await.expect(201);
    let second = submit(&app, &template, "wiz_double_click").await.expect(201);
    assert_eq!(first["id"], second["id"]);
    assert_eq!(campaign_count(&app).await, 1);
    let other = submit(&app, &template, "wiz_another_page").await.expect(201);
    assert_ne!(other["id"], first["id"]);
    assert_eq!(campaign_count(&app).await, 2);
}

async fn page_as(app: &TestApp, cookie: &str) -> Reply {
    app.send(app.request(Method::GET, "/campaigns/new").header("cookie", cookie))
        .await
}

#[tokio::test]
async fn the_wizard_is_for_operators_and_a_viewer_gets_none() {
    let app = spawn_app().await;
    let template = greeting(&app).await;
    app.post(
        "/api/v1/users",
        &json!({"email": "vera@example.com", "name": "Vera", "role": "viewer", "password": "una clave muy larga"}),
    )
    .await
    .expect(201);
    let owner = app
        .session(crate::helpers::OWNER_EMAIL, crate::helpers::OWNER_PASSWORD)
        .await;
    let reply = page_as(&app, &owner.cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.text.contains("data-wizard"), "{}", reply.text);
    assert!(
        reply.text.contains(&format!(r#"<option value="{template}""#)),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains(r#"data-variables="[&#34;nombre&#34;]""#),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("/assets/wizard."), "{}", reply.text);
    let vera = app.session("vera@example.com", "una clave muy larga").await;
    let reply = page_as(&app, &vera.cookie).await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert!(!reply.text.contains("data-wizard"), "{}", reply.text);
}
