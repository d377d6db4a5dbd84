//! The console's settings, audience, messages and system pages over HTTP: what each role
//! sees, that user-supplied text is escaped, searches and lists, and the opt-out CSV import
//! behind the audience page. Chromium drives the same pages in `console-tests/`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Reply, Session, TestApp, OWNER_EMAIL, OWNER_PASSWORD};

const PASSWORD: &str = "una clave muy larga";

/// A person of `role`, signed in.
async fn person(app: &TestApp, email: &str, role: &str) -> Session {
    app.post(
        "/api/v1/users",
        &json!({"email": email, "name": format!("Persona {role}"), "role": role, "password": PASSWORD}),
    )
    .await
    .expect(201);
    app.session(email, PASSWORD).await
}

async fn page(app: &TestApp, path: &str, session: &Session) -> String {
    let reply = app.call_as(Method::GET, path, session, None, false).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    reply.text
}

async fn upload(app: &TestApp, csv: &str, fields: &[(&str, &str)]) -> Reply {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
            .file_name("bajas.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    app.send(app.request(Method::POST, "/api/v1/opt-outs/import").multipart(form))
        .await
}

#[tokio::test]
async fn settings_show_people_keys_and_the_log_to_owners_and_a_notice_to_others() {
    let app = spawn_app().await;
    let owner = app.session(OWNER_EMAIL, OWNER_PASSWORD).await;
    let made = app
        .post("/api/v1/api-keys", &json!({"name": "<b>ERP</b>", "role": "operator"}))
        .await
        .expect(201);
    let secret = made["key"].as_str().unwrap();
    let viewer = person(&app, "lectora@example.com", "viewer").await;

    let html = page(&app, "/settings", &owner).await;
    assert!(html.contains("lectora@example.com"), "the people are listed");
    assert!(
        html.contains("ERP") && !html.contains("<b>ERP</b>"),
        "a key's name is escaped: {html}"
    );
    assert!(!html.contains(secret), "a key is never shown again");
    assert!(
        html.contains(r#"data-api-form="/api/v1/api-keys""#),
        "owners make keys here"
    );
    assert!(html.contains(r#"data-api-form="/api/v1/webhook-secret/rotate""#));
    assert!(
        html.contains("api_key.create"),
        "the audit log lists the key's creation"
    );
    // The owner cannot remove themselves from here; the viewer can be removed.
    let removals = html
        .matches("data-api-method=\"DELETE\" data-api-then=\"reload\"")
        .count();
    assert_eq!(
        removals, 3,
        "the viewer and two keys (the test key and the new one) can be removed, not the owner"
    );

    let filtered = page(&app, "/settings?action=user.create", &owner).await;
    assert!(filtered.contains("user.create") && !filtered.contains("<code>api_key.create</code>"));

    let html = page(&app, "/settings", &viewer).await;
    assert!(html.contains("Solo para propietarios"), "{html}");
    assert!(
        !html.contains("data-api-form") && !html.contains("data-api-url"),
        "no control a viewer cannot use"
    );
    assert!(!html.contains("lectora@example.com"), "nor the people");
}

#[tokio::test]
async fn the_audience_page_finds_by_phone_escapes_reasons_and_hides_changes_from_viewers() {
    let app = spawn_app().await;
    for (phone, reason) in [
        ("+584121234567", "<script>alert(1)</script>"),
        ("+584129876543", "BAJA"),
        ("+593995683452", "no quiere"),
    ] {
        app.post("/api/v1/opt-outs", &json!({"phone": phone, "reason": reason}))
            .await
            .expect(201);
    }
    app.post(
        "/api/v1/opt-ins",
        &json!({"phone": "+573001234567", "source": "web_form"}),
    )
    .await
    .expect(201);
    let owner = app.session(OWNER_EMAIL, OWNER_PASSWORD).await;
    let html = page(&app, "/audience", &owner).await;
    assert!(
        html.contains("alert(1)") && !html.contains("<script>alert"),
        "a reason is escaped"
    );
    assert!(html.contains("+573001234567"), "opt-ins are listed too");
    assert!(
        html.contains(r#"data-api-url="/api/v1/opt-outs/%2B584121234567""#),
        "{html}"
    );

    let found = page(&app, "/audience?phone=%2B58412", &owner).await;
    assert!(found.contains("+584121234567") && found.contains("+584129876543"));
    assert!(!found.contains("+593995683452") && !found.contains("+573001234567"));
    let api: Value = app.get("/api/v1/opt-outs?phone=59399").await.expect(200);
    assert_eq!(api["items"].as_array().unwrap().len(), 1, "{api}");
    app.get("/api/v1/opt-outs?phone=12a")
        .await
        .expect_error(400, "invalid_query");
    let nothing = page(&app, "/audience?phone=abc", &owner).await;
    assert!(
        !nothing.contains("+584121234567"),
        "a search that is no phone finds nothing"
    );

    let viewer = person(&app, "lector@example.com", "viewer").await;
    let html = page(&app, "/audience", &viewer).await;
    assert!(html.contains("+584121234567"));
    assert!(
        !html.contains("data-api-url") && !html.contains("data-api-form"),
        "no buttons for a viewer"
    );
}

#[tokio::test]
async fn opt_outs_import_from_a_csv_in_one_go_and_report_what_they_could_not_read() {
    let app = spawn_app().await;
    app.post("/api/v1/opt-outs", &json!({"phone": "+584121234567", "reason": "STOP"}))
        .await
        .expect(201);
    let csv = "Nombre;Celular\nAna;+584121234567\nLuis;04129876543\nEva;no es un número\nAna;+584121234567\nJosé;+593995683452\n";
    let report = upload(&app, csv, &[("default_region", "VE"), ("reason", "lista del CRM")])
        .await
        .expect(200);
    assert_eq!(
        (
            &report["received"],
            &report["added"],
            &report["already"],
            &report["invalid_count"]
        ),
        (&json!(5), &json!(2), &json!(2), &json!(1)),
        "{report}"
    );
    assert_eq!(report["invalid"][0]["row"], 4, "{report}");
    let listed: Value = app.get("/api/v1/opt-outs").await.expect(200);
    let items = listed["items"].as_array().unwrap();
    let phones: Vec<&str> = items.iter().map(|o| o["phone"].as_str().unwrap()).collect();
    assert_eq!(phones, ["+584121234567", "+584129876543", "+593995683452"]);
    assert_eq!(
        items[0]["reason"], "STOP",
        "an import does not overwrite what was there"
    );
    assert_eq!(
        (&items[1]["source"], &items[1]["reason"]),
        (&json!("import"), &json!("lista del CRM"))
    );

    // Nothing half-written: a file without a phone column writes nothing.
    upload(&app, "Nombre;Edad\nAna;30\n", &[])
        .await
        .expect_error(422, "missing_phone_column");
    upload(&app, csv, &[("default_region", "Narnia")])
        .await
        .expect_error(422, "invalid_field");
    upload(&app, csv, &[("colour", "red")])
        .await
        .expect_error(422, "invalid_field");
    let after: Value = app.get("/api/v1/opt-outs").await.expect(200);
    assert_eq!(after["items"].as_array().unwrap().len(), 3);
    let not_multipart = app.post("/api/v1/opt-outs/import", &json!({"file": "x"})).await;
    not_multipart.expect_error(415, "unsupported_media_type");
    let audit: Value = app.get("/api/v1/audit?action=opt_out.create").await.expect(200);
    assert_eq!(audit["items"][0]["details"]["added"], 2, "{audit}");
}

#[tokio::test]
async fn the_messages_page_lists_scheduled_messages_soonest_first_and_the_history() {
    let app = spawn_app().await;
    let template = app.template().await;
    app.default_sender().await;
    let later = app
        .post(
            "/api/v1/messages",
            &json!({"to": "+584121111111", "template_id": template, "variables": {"nombre": "Luis", "monto": "5"},
                    "send_at": "2099-06-02T10:00:00Z"}),
        )
        .await
        .expect(202);
    app.post(
        "/api/v1/messages",
        &json!({"to": "+584122222222", "template_id": template, "variables": {"nombre": "<i>Ana</i>", "monto": "7"},
                "send_at": "2099-06-01T10:00:00Z"}),
    )
    .await
    .expect(202);
    let owner = app.session(OWNER_EMAIL, OWNER_PASSWORD).await;
    let html = page(&app, "/messages", &owner).await;
    let scheduled = html
        .split("id=\"scheduled\"")
        .nth(1)
        .unwrap()
        .split("id=\"history\"")
        .next()
        .unwrap();
    let (first, second) = (
        scheduled.find("+584122222222").expect("the sooner one"),
        scheduled.find("+584121111111").expect("the later one"),
    );
    assert!(first < second, "soonest first");
    assert!(html.contains(&format!(
        r#"data-api-url="/api/v1/messages/{}""#,
        later["id"].as_str().unwrap()
    )));
    assert!(html.contains(r#"data-api-form="/api/v1/messages""#));
    assert!(html.contains("En cola"), "the history says each state in words");

    let viewer = person(&app, "lector@example.com", "viewer").await;
    let html = page(&app, "/messages?status=queued", &viewer).await;
    assert!(html.contains("+584121111111"));
    assert!(!html.contains("data-api-url") && !html.contains("data-api-form"));
    let english = page(&app, "/messages?lang=en", &viewer).await;
    assert!(english.contains("Scheduled") && english.contains("Queued"));
}

#[tokio::test]
async fn the_system_page_says_the_database_answers_and_lists_the_dispatchers() {
    let app = spawn_app().await;
    let sender = app.default_sender().await;
    let owner = app.session(OWNER_EMAIL, OWNER_PASSWORD).await;
    let api: Value = app.get("/api/v1/system").await.expect(200);
    let html = page(&app, "/system", &owner).await;
    assert!(html.contains("Responde"), "{html}");
    for d in api["dispatchers"].as_array().unwrap() {
        assert!(html.contains(d["id"].as_str().unwrap()), "every dispatcher is listed");
        let held: Vec<&str> = d["senders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        if held.contains(&sender["id"].as_str().unwrap()) {
            assert!(html.contains(sender["name"].as_str().unwrap()), "its senders by name");
        }
    }
    assert!(html.contains(&format!("<dd>{}</dd>", api["queue_depth"])), "{html}");
}
