//! `/api/v1/templates`: create, list, get, delete, variables, preview, validation.

use serde_json::{json, Value};

use crate::helpers::{contacts, ids, phones, spawn_app};

fn factura() -> Value {
    json!({"name": "promo_fibra_visual", "language": "es",
           "body": "Hola {{nombre}}, tu factura de {{monto}} vence el {{fecha}}. Gracias {{nombre}}.",
           "header_image": "{{url_imagen}}"})
}

#[tokio::test]
async fn a_twilio_content_sid_is_kept_and_validated() {
    let app = spawn_app().await;
    let sid = "HX0123456789abcdef0123456789ABCDEF";
    let mut body = factura();
    body["twilio_content_sid"] = json!(sid);
    let created = app.create_template(body).await;
    assert_eq!(created["twilio_content_sid"], sid);
    let id = created["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/templates/{id}")).await.expect(200), created);
    assert_eq!(app.create_template(factura()).await["twilio_content_sid"], Value::Null);

    for bad in [
        "HX0123",
        "MG0123456789abcdef0123456789abcdef",
        "HX0123456789abcdef0123456789abcdeg",
        "HX0123456789abcdef0123456789abcdef0",
        "hx0123456789abcdef0123456789abcdef",
    ] {
        let mut body = factura();
        body["twilio_content_sid"] = json!(bad);
        let err = app
            .post("/api/v1/templates", &body)
            .await
            .expect_error(422, "invalid_field");
        assert_eq!(
            err["error"]["details"][0]["field"], "twilio_content_sid",
            "{bad}: {err}"
        );
    }
    assert_eq!(ids(&app.get("/api/v1/templates").await.expect(200)).len(), 2);
}

#[tokio::test]
async fn create_get_list_delete() {
    let app = spawn_app().await;
    let created = app.create_template(factura()).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["name"], "promo_fibra_visual");
    assert_eq!(created["language"], "es");
    assert_eq!(created["header_image"], "{{url_imagen}}");
    assert_eq!(
        created["variables"],
        json!(["nombre", "monto", "fecha", "url_imagen"]),
        "placeholders in order of appearance, each once, body before header"
    );

    let got = app.get(&format!("/api/v1/templates/{id}")).await.expect(200);
    assert_eq!(got, created);
    let other = app
        .create_template(json!({"name": "aviso", "language": "en_US", "body": "Plain text, no variables"}))
        .await;
    assert_eq!(other["variables"], json!([]));
    assert_eq!(other["header_image"], Value::Null);

    let list = app.get("/api/v1/templates").await.expect(200);
    let mut listed = ids(&list);
    listed.sort();
    let mut expected = vec![id.clone(), other["id"].as_str().unwrap().to_string()];
    expected.sort();
    assert_eq!(listed, expected);
    let page = app.get("/api/v1/templates?limit=1").await.expect(200);
    assert_eq!(ids(&page).len(), 1);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let page2 = app
        .get(&format!("/api/v1/templates?limit=1&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(ids(&page2).len(), 1);
    assert_ne!(ids(&page), ids(&page2));
    assert_eq!(page2["next_cursor"], Value::Null);

    let reply = app.delete(&format!("/api/v1/templates/{id}")).await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    app.get(&format!("/api/v1/templates/{id}"))
        .await
        .expect_error(404, "not_found");
    app.delete(&format!("/api/v1/templates/{id}"))
        .await
        .expect_error(404, "not_found");
    assert_eq!(ids(&app.get("/api/v1/templates").await.expect(200)).len(), 1);
    // A deleted template makes no new campaign.
    app.post(
        "/api/v1/campaigns",
        &json!({"name": "x", "template_id": id, "contacts": [{"phone": "+584121234567", "nombre": "a",
                "monto": "b", "fecha": "c", "url_imagen": "https://x/y.jpg"}]}),
    )
    .await
    .expect_error(422, "unknown_template");
}

#[tokio::test]
async fn a_campaign_created_before_its_template_was_deleted_still_sends() {
    let app = spawn_app().await;
    let template = app.template().await;
    let c = app
        .create_campaign(
            json!({"name": "x", "template_id": template, "contacts": contacts(&phones(2)), "start": false}),
        )
        .await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/templates/{template}")).await.status, 204);
    app.post_empty(&format!("/api/v1/campaigns/{id}/start"))
        .await
        .expect(200);
    let done = app.wait_status(id, "completed").await;
    assert_eq!(done["counts"]["sent"], 2, "{done}");
}

#[tokio::test]
async fn preview_renders_and_reports_missing_variables() {
    let app = spawn_app().await;
    let id = app.create_template(factura()).await["id"].as_str().unwrap().to_string();
    let full = app
        .post(
            &format!("/api/v1/templates/{id}/preview"),
            &json!({"variables": {"nombre": "Juan", "monto": "25.00 USD", "fecha": "08/01", "url_imagen": "https://ejemplo.com/img1.jpg", "extra": 5}}),
        )
        .await
        .expect(200);
    assert_eq!(
        full["text"],
        "Hola Juan, tu factura de 25.00 USD vence el 08/01. Gracias Juan."
    );
    assert_eq!(full["body_parameters"], json!(["Juan", "25.00 USD", "08/01", "Juan"]));
    assert_eq!(full["header_image"], "https://ejemplo.com/img1.jpg");
    assert_eq!(full["missing_variables"], json!([]));

    let partial = app
        .post(
            &format!("/api/v1/templates/{id}/preview"),
            &json!({"variables": {"nombre": "Ana", "monto": 30, "fecha": "  "}}),
        )
        .await
        .expect(200);
    assert_eq!(partial["text"], "Hola Ana, tu factura de 30 vence el . Gracias Ana.");
    assert_eq!(partial["missing_variables"], json!(["fecha", "url_imagen"]));

    let empty = app
        .post(&format!("/api/v1/templates/{id}/preview"), &json!({}))
        .await
        .expect(200);
    assert_eq!(
        empty["missing_variables"],
        json!(["nombre", "monto", "fecha", "url_imagen"])
    );

    app.post("/api/v1/templates/tpl_nope/preview", &json!({"variables": {}}))
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn invalid_templates_are_422() {
    let app = spawn_app().await;
    let cases = [
        (
            "unclosed",
            json!({"name": "t", "language": "es", "body": "Hola {{nombre"}),
            "body",
        ),
        (
            "unclosed later",
            json!({"name": "t", "language": "es", "body": "Hola {{a}} y {{b"}),
            "body",
        ),
        (
            "empty placeholder",
            json!({"name": "t", "language": "es", "body": "Hola {{}}"}),
            "body",
        ),
        (
            "bad placeholder name",
            json!({"name": "t", "language": "es", "body": "Hola {{mi nombre}}"}),
            "body",
        ),
        (
            "empty body",
            json!({"name": "t", "language": "es", "body": "   "}),
            "body",
        ),
        (
            "body too long",
            json!({"name": "t", "language": "es", "body": "x".repeat(5000)}),
            "body",
        ),
        (
            "unclosed header",
            json!({"name": "t", "language": "es", "body": "Hola", "header_image": "{{url"}),
            "",
        ),
        (
            "empty name",
            json!({"name": "", "language": "es", "body": "Hola"}),
            "name",
        ),
        (
            "bad language",
            json!({"name": "t", "language": "e s!", "body": "Hola"}),
            "language",
        ),
        (
            "empty language",
            json!({"name": "t", "language": "", "body": "Hola"}),
            "language",
        ),
    ];
    for (what, body, field) in cases {
        let reply = app.post("/api/v1/templates", &body).await;
        assert_eq!(reply.status, 422, "{what}: {}", reply.text);
        let err = reply.expect_error(422, "invalid_field");
        if !field.is_empty() {
            assert_eq!(err["error"]["details"][0]["field"], field, "{what}: {err}");
        }
    }
    app.post("/api/v1/templates", &json!({"name": "t", "body": "Hola"}))
        .await
        .expect_error(422, "invalid_body");
    assert_eq!(app.get("/api/v1/templates").await.expect(200)["items"], json!([]));
}
