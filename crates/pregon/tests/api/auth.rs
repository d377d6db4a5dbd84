//! API keys: no key or a wrong one is 401; another tenant's resources are 404.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{contacts, ids, phones, spawn_app, OTHER_KEY};

#[tokio::test]
async fn a_missing_or_wrong_key_is_401() {
    let app = spawn_app().await;
    let body = json!({"name": "x", "language": "es", "body": "Hola"});
    for (method, path) in [
        (Method::GET, "/api/v1/campaigns"),
        (Method::GET, "/api/v1/senders"),
        (Method::POST, "/api/v1/templates"),
        (Method::GET, "/api/v1/opt-outs"),
        (Method::GET, "/api/v1/messages/1"),
        (Method::GET, "/api/v1/system"),
    ] {
        for key in [None, Some("pgn_wrong"), Some("")] {
            let reply = app.call(method.clone(), path, key, Some(&body)).await;
            reply.expect_error(401, "unauthorized");
        }
    }
    // Not a bearer token at all.
    let reply = app
        .send(
            app.client
                .get(app.url("/api/v1/campaigns"))
                .header("authorization", "Basic cGduX3Rlc3Rfa2V5Og=="),
        )
        .await;
    reply.expect_error(401, "unauthorized");
    // A refused request changed nothing.
    let templates = app.get("/api/v1/templates").await.expect(200);
    assert_eq!(templates["items"], json!([]));
}

#[tokio::test]
async fn another_tenants_resources_are_404() {
    let app = spawn_app().await;
    let template = app.template().await;
    let sender = app.create_sender(json!({"name": "Mine", "provider": "sandbox"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let campaign = app
        .create_campaign(json!({"name": "mine", "template_id": template, "sender_id": sender,
            "contacts": contacts(&phones(2)), "start": false}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let message = app
        .post(
            "/api/v1/messages",
            &json!({"to": "+584121234567", "template_id": template, "variables": {"nombre": "A", "monto": "1"},
                    "send_at": "2999-01-01T00:00:00Z"}),
        )
        .await
        .expect(202)["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post("/api/v1/opt-outs", &json!({"phone": "+584129999999"}))
        .await
        .expect(201);

    let other = |method: Method, path: String| {
        let app = &app;
        async move { app.call(method, &path, Some(OTHER_KEY), Some(&json!({}))).await }
    };
    for (method, path) in [
        (Method::GET, format!("/api/v1/campaigns/{campaign}")),
        (Method::GET, format!("/api/v1/campaigns/{campaign}/messages")),
        (Method::GET, format!("/api/v1/campaigns/{campaign}/messages.csv")),
        (Method::GET, format!("/api/v1/campaigns/{campaign}/events")),
        (Method::POST, format!("/api/v1/campaigns/{campaign}/start")),
        (Method::POST, format!("/api/v1/campaigns/{campaign}/cancel")),
        (Method::GET, format!("/api/v1/senders/{sender}")),
        (Method::PATCH, format!("/api/v1/senders/{sender}")),
        (Method::DELETE, format!("/api/v1/senders/{sender}")),
        (Method::GET, format!("/api/v1/templates/{template}")),
        (Method::POST, format!("/api/v1/templates/{template}/preview")),
        (Method::DELETE, format!("/api/v1/templates/{template}")),
        (Method::GET, format!("/api/v1/messages/{message}")),
        (Method::DELETE, format!("/api/v1/messages/{message}")),
        (Method::DELETE, "/api/v1/opt-outs/+584129999999".to_string()),
    ] {
        let reply = other(method.clone(), path.clone()).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text);
        reply.expect_error(404, "not_found");
    }

    // Nor can the other tenant use them, or see them in lists.
    let reply = app
        .call(
            Method::POST,
            "/api/v1/campaigns",
            Some(OTHER_KEY),
            Some(&json!({"name": "theirs", "template_id": template, "contacts": contacts(&phones(1))})),
        )
        .await;
    reply.expect_error(422, "unknown_template");
    let their_template = app
        .call(
            Method::POST,
            "/api/v1/templates",
            Some(OTHER_KEY),
            Some(&json!({"name": "t", "language": "es", "body": "Hola {{nombre}} {{monto}}"})),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = app
        .call(
            Method::POST,
            "/api/v1/campaigns",
            Some(OTHER_KEY),
            Some(
                &json!({"name": "theirs", "template_id": their_template, "sender_id": sender,
                         "contacts": contacts(&phones(1))}),
            ),
        )
        .await;
    reply.expect_error(422, "unknown_sender");
    for list in ["/api/v1/campaigns", "/api/v1/opt-outs"] {
        let page = app.call(Method::GET, list, Some(OTHER_KEY), None).await.expect(200);
        assert_eq!(page["items"], json!([]), "{list}");
    }
    let templates = app
        .call(Method::GET, "/api/v1/templates", Some(OTHER_KEY), None)
        .await
        .expect(200);
    assert_eq!(ids(&templates), vec![their_template]);
    let senders = app
        .call(Method::GET, "/api/v1/senders", Some(OTHER_KEY), None)
        .await
        .expect(200);
    assert!(!ids(&senders).contains(&sender));

    // Everything is still there for its owner.
    assert_eq!(app.campaign(&campaign).await["status"], "draft");
    app.get(&format!("/api/v1/senders/{sender}")).await.expect(200);
    app.get(&format!("/api/v1/templates/{template}")).await.expect(200);
    assert_eq!(
        app.get(&format!("/api/v1/messages/{message}")).await.expect(200)["status"],
        "queued"
    );
    let opt_outs = app.get("/api/v1/opt-outs").await.expect(200);
    assert_eq!(opt_outs["items"][0]["phone"], "+584129999999");
}
