//! `Idempotency-Key` over HTTP: a retried create answers the first answer and creates
//! nothing again, across a restart; another body is 422; a key still running is 409; a
//! multipart upload sent again (with a new boundary) is the same request.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{contacts, eventually, meta_server, mount_meta_accept, phones, spawn_app, TestApp, KEY};

async fn keyed_post(app: &TestApp, path: &str, key: &str, body: &Value) -> crate::helpers::Reply {
    app.send(
        app.request(Method::POST, path)
            .header("idempotency-key", key)
            .json(body),
    )
    .await
}

async fn campaign_count(app: &TestApp) -> usize {
    app.get("/api/v1/campaigns").await.expect(200)["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_retried_create_answers_the_first_answer_and_creates_nothing_again() {
    let app = spawn_app().await;
    let template = app.template().await;
    let body = json!({"name": "promo", "template_id": template, "contacts": contacts(&phones(3)), "start": false});
    let first = keyed_post(&app, "/api/v1/campaigns", "retry-1", &body).await;
    let created = first.expect(201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = keyed_post(&app, "/api/v1/campaigns", "retry-1", &body).await;
    assert_eq!(again.status.as_u16(), 201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.json(), created, "the first answer, exactly");
    assert_eq!(campaign_count(&app).await, 1);
    // Another body with the same key is refused, and creates nothing.
    let other = json!({"name": "otra", "template_id": template, "contacts": contacts(&phones(1)), "start": false});
    keyed_post(&app, "/api/v1/campaigns", "retry-1", &other)
        .await
        .expect_error(422, "idempotency_key_reused");
    // The same key on another route is another request too.
    keyed_post(&app, "/api/v1/opt-outs", "retry-1", &json!({"phone": "+584121234567"}))
        .await
        .expect_error(422, "idempotency_key_reused");
    assert_eq!(campaign_count(&app).await, 1);
    // Without a key, every POST is its own.
    app.create_campaign(body.clone()).await;
    assert_eq!(campaign_count(&app).await, 2);
    // Keys are a tenant's own: another tenant's same key is a new request.
    let theirs = app
        .send(
            app.client
                .post(app.url("/api/v1/opt-outs"))
                .bearer_auth(crate::helpers::OTHER_KEY)
                .header("idempotency-key", "retry-1")
                .json(&json!({"phone": "+584121234567"})),
        )
        .await;
    theirs.expect(201);
    // The change and its key were written together: the audit row names what it made.
    let audit = app.get("/api/v1/audit?action=campaign.create").await.expect(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_answer_that_was_a_refusal_is_given_again_too() {
    let app = spawn_app().await;
    let body = json!({"name": "x", "template_id": "tpl_missing", "contacts": contacts(&phones(1))});
    let first = keyed_post(&app, "/api/v1/campaigns", "bad-1", &body).await;
    let refused = first.expect_error(422, "unknown_template");
    let again = keyed_post(&app, "/api/v1/campaigns", "bad-1", &body).await;
    assert_eq!(again.status.as_u16(), 422);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.json(), refused);
}

#[tokio::test]
async fn keys_are_checked_and_survive_a_restart() {
    let app = spawn_app().await;
    let body = json!({"phone": "+584121234567", "reason": "no"});
    for bad in ["", "has space", &"k".repeat(256), "ñandú"] {
        let reply = app
            .send(
                app.request(Method::POST, "/api/v1/opt-outs")
                    .header(
                        "idempotency-key",
                        reqwest::header::HeaderValue::from_bytes(bad.as_bytes()).unwrap(),
                    )
                    .json(&body),
            )
            .await;
        reply.expect_error(400, "invalid_idempotency_key");
    }
    assert_eq!(
        app.get("/api/v1/opt-outs").await.expect(200)["items"],
        json!([]),
        "nothing half-written"
    );
    let first = keyed_post(&app, "/api/v1/opt-outs", "survives", &body)
        .await
        .expect(201);
    let app = app.restart().await;
    let again = keyed_post(&app, "/api/v1/opt-outs", "survives", &body).await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.json(), first);
    let audit = app.get("/api/v1/audit?action=opt_out.create").await.expect(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "added once");
}

#[tokio::test]
async fn a_key_whose_first_request_still_runs_is_409() {
    let app = spawn_app().await;
    let server = meta_server().await;
    mount_meta_accept(&server).await;
    // The provider's pre-flight answers slowly: the first request holds its key meanwhile.
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"data": [{"name": "promo_fibra_visual", "language": "es", "status": "APPROVED"}],
                                      "id": "1142", "verified_name": "Pregon"}),
                )
                .set_delay(Duration::from_millis(1_500)),
        )
        .mount(&server)
        .await;
    let sender = app.meta_sender(&server, 10.0).await;
    let template = app.template().await;
    let body = json!({"name": "slow", "template_id": template, "sender_id": sender, "contacts": contacts(&phones(2))});
    let slow = {
        let (address, body) = (app.address.clone(), body.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{address}/api/v1/campaigns"))
                .bearer_auth(KEY)
                .header("idempotency-key", "slow-1")
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    eventually("the pre-flight to reach the provider", || async {
        (!server.received_requests().await.unwrap_or_default().is_empty()).then_some(())
    })
    .await;
    keyed_post(&app, "/api/v1/campaigns", "slow-1", &body)
        .await
        .expect_error(409, "idempotency_key_in_progress");
    assert_eq!(slow.await.unwrap().as_u16(), 201);
    let replay = keyed_post(&app, "/api/v1/campaigns", "slow-1", &body).await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(campaign_count(&app).await, 1);
}

#[tokio::test]
async fn an_upload_sent_again_with_a_new_boundary_is_the_same_request() {
    let app = spawn_app().await;
    let template = app.template().await;
    let csv = "telefono,nombre,monto,fecha\n584121234567,Ana,10,hoy\n584121234568,Luis,20,hoy\n";
    let upload = |key: &str| {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("contactos.csv"),
            )
            .text("name", "importada")
            .text("template_id", template.clone())
            .text("start", "false");
        app.request(Method::POST, "/api/v1/campaigns/import")
            .header("idempotency-key", key.to_string())
            .multipart(form)
    };
    let first = app.send(upload("upload-1")).await;
    let created = first.expect(201);
    assert_eq!(created["import"]["accepted"], 2);
    let again = app.send(upload("upload-1")).await;
    assert_eq!(again.headers["idempotent-replayed"], "true", "{}", again.text);
    assert_eq!(again.json(), created);
    assert_eq!(campaign_count(&app).await, 1);
}
