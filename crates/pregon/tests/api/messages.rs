//! `/api/v1/messages`: single and scheduled messages.

use serde_json::{json, Value};

use reqwest::Method;

use crate::helpers::{meta_bodies, meta_server, mount_meta_accept, spawn_app, TestApp, OTHER_KEY};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id: {v}")).to_string()
}

async fn wait_message(app: &TestApp, id: &str, status: &str) -> Value {
    crate::helpers::eventually(&format!("message {id} to be {status}"), || async {
        let m = app.get(&format!("/api/v1/messages/{id}")).await.expect(200);
        (m["status"] == status).then_some(m)
    })
    .await
}

#[tokio::test]
async fn a_single_message_is_sent() {
    let app = spawn_app().await;
    let template = app.template().await;
    let accepted = app
        .post(
            "/api/v1/messages",
            &json!({"to": "+58 412-123-4567", "template_id": template, "variables": {"nombre": "Juan", "monto": 25}}),
        )
        .await
        .expect(202);
    assert_eq!(accepted["status"], "queued");
    let mid = id(&accepted);
    let m = wait_message(&app, &mid, "sent").await;
    assert_eq!(m["phone"], "+584121234567");
    assert_eq!(m["campaign_id"], Value::Null);
    assert_eq!(m["attempts"], 1);
    assert_eq!(m["variables"], json!({"nombre": "Juan", "monto": "25"}));
    assert!(
        m["provider_message_id"].as_str().unwrap().starts_with("sandbox."),
        "{m}"
    );
    assert!(m["sent_at"].is_string());
    let statuses: Vec<&str> = m["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["queued", "sent"], "{m}");
    for e in m["events"].as_array().unwrap() {
        assert!(
            chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).is_ok(),
            "{e}"
        );
    }
    // The sandbox keeps what it would have sent.
    assert_eq!(m["events"][1]["detail"]["text"], "Hola Juan, tu saldo es 25.");
    // Sent already: too late to cancel.
    app.delete(&format!("/api/v1/messages/{mid}"))
        .await
        .expect_error(409, "illegal_transition");
}

#[tokio::test]
async fn a_single_message_goes_through_a_meta_sender() {
    let app = spawn_app().await;
    let server = meta_server().await;
    mount_meta_accept(&server).await;
    let sender = app.meta_sender(&server, 80.0).await;
    let template = app.template().await;
    let mid = id(&app
        .post(
            "/api/v1/messages",
            &json!({"to": "593995683452", "template_id": template, "sender_id": sender, "priority": 9,
                    "variables": {"nombre": "Ana", "monto": "3"}}),
        )
        .await
        .expect(202));
    let m = wait_message(&app, &mid, "sent").await;
    assert_eq!(m["provider_message_id"], "wamid.593995683452");
    assert_eq!(m["sender_id"], sender.as_str());
    let bodies = meta_bodies(&server).await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["to"], "593995683452");
    assert_eq!(bodies[0]["biz_opaque_callback_data"], mid.as_str());
}

#[tokio::test]
async fn a_scheduled_message_waits_and_can_be_cancelled() {
    let app = spawn_app().await;
    let template = app.template().await;
    let send_at = "2999-01-08T13:00:00Z";
    let mid = id(&app
        .post(
            "/api/v1/messages",
            &json!({"to": "+584121234567", "template_id": template, "send_at": send_at,
                    "variables": {"nombre": "Juan", "monto": "1"}}),
        )
        .await
        .expect(202));
    // A message sent now on the same sender goes out; the scheduled one stays.
    let now = id(&app
        .post(
            "/api/v1/messages",
            &json!({"to": "+584129876543", "template_id": template, "variables": {"nombre": "Ana", "monto": "2"}}),
        )
        .await
        .expect(202));
    wait_message(&app, &now, "sent").await;
    let m = app.get(&format!("/api/v1/messages/{mid}")).await.expect(200);
    assert_eq!(m["status"], "queued", "{m}");
    assert_eq!(m["attempts"], 0);
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(m["next_attempt_at"].as_str().expect("next_attempt_at")).unwrap(),
        chrono::DateTime::parse_from_rfc3339(send_at).unwrap()
    );

    let cancelled = app.delete(&format!("/api/v1/messages/{mid}")).await.expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    let m = app.get(&format!("/api/v1/messages/{mid}")).await.expect(200);
    assert_eq!(m["status"], "cancelled");
    assert_eq!(m["next_attempt_at"], Value::Null);
    let statuses: Vec<&str> = m["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["queued", "cancelled"]);
    app.delete(&format!("/api/v1/messages/{mid}"))
        .await
        .expect_error(409, "illegal_transition");
}

#[tokio::test]
async fn invalid_single_messages_are_422() {
    let app = spawn_app().await;
    let template = app.template().await;
    app.post("/api/v1/opt-outs", &json!({"phone": "+584120000777"}))
        .await
        .expect(201);
    let vars = json!({"nombre": "a", "monto": "b"});
    for (what, body, code) in [
        (
            "invalid phone",
            json!({"to": "not-a-phone", "template_id": template, "variables": vars}),
            "invalid_phone",
        ),
        (
            "too short",
            json!({"to": "+1234", "template_id": template, "variables": vars}),
            "invalid_phone",
        ),
        (
            "opted out",
            json!({"to": "+58 412 000 0777", "template_id": template, "variables": vars}),
            "opted_out",
        ),
        (
            "missing variable",
            json!({"to": "+584121234567", "template_id": template, "variables": {"nombre": "a"}}),
            "missing_variable",
        ),
        (
            "blank variable",
            json!({"to": "+584121234567", "template_id": template, "variables": {"nombre": "a", "monto": " "}}),
            "missing_variable",
        ),
        (
            "unknown template",
            json!({"to": "+584121234567", "template_id": "tpl_nope", "variables": vars}),
            "unknown_template",
        ),
        (
            "unknown sender",
            json!({"to": "+584121234567", "template_id": template, "sender_id": "snd_nope", "variables": vars}),
            "unknown_sender",
        ),
        (
            "bad send_at",
            json!({"to": "+584121234567", "template_id": template, "send_at": "tomorrow", "variables": vars}),
            "invalid_field",
        ),
        (
            "bad priority",
            json!({"to": "+584121234567", "template_id": template, "priority": 0, "variables": vars}),
            "invalid_field",
        ),
        (
            "no template",
            json!({"to": "+584121234567", "variables": vars}),
            "invalid_body",
        ),
    ] {
        let reply = app.post("/api/v1/messages", &body).await;
        assert_eq!(reply.status, 422, "{what}: {}", reply.text);
        reply.expect_error(422, code);
    }
    for missing in ["/api/v1/messages/999999", "/api/v1/messages/abc"] {
        app.get(missing).await.expect_error(404, "not_found");
        app.delete(missing).await.expect_error(404, "not_found");
    }
}

/// The ids of a message list page, in order.
fn listed(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {page}"))
        .iter()
        .map(id)
        .collect()
}

#[tokio::test]
async fn scheduled_messages_are_listed_soonest_first_until_cancelled_or_sent() {
    let app = spawn_app().await;
    let template = app.template().await;
    let send = |to: &'static str, send_at: Option<&'static str>| {
        let (app, template) = (&app, template.clone());
        async move {
            let mut body = json!({"to": to, "template_id": template, "variables": {"nombre": "A", "monto": "1"}});
            if let Some(at) = send_at {
                body["send_at"] = json!(at);
            }
            id(&app.post("/api/v1/messages", &body).await.expect(202))
        }
    };
    // The later one first: the list is by send time, not by creation.
    let later = send("+584121000001", Some("2999-03-01T10:00:00Z")).await;
    let sooner = send("+584121000002", Some("2999-02-01T10:00:00Z")).await;
    let now = send("+584121000003", None).await;
    wait_message(&app, &now, "sent").await;

    let scheduled = app.get("/api/v1/messages?scheduled=true").await.expect(200);
    assert_eq!(listed(&scheduled), vec![sooner.clone(), later.clone()], "{scheduled}");
    assert_eq!(scheduled["next_cursor"], Value::Null);
    let first = &scheduled["items"][0];
    assert_eq!(first["status"], "queued");
    assert_eq!(first["campaign_id"], Value::Null);
    for field in ["send_at", "next_attempt_at"] {
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(first[field].as_str().unwrap_or_default()).ok(),
            chrono::DateTime::parse_from_rfc3339("2999-02-01T10:00:00Z").ok(),
            "{field}: {first}"
        );
    }
    // Paged one at a time, with the same order.
    let page = app
        .get("/api/v1/messages?scheduled=true&status=queued&limit=1")
        .await
        .expect(200);
    assert_eq!(listed(&page), vec![sooner.clone()]);
    let cursor = page["next_cursor"].as_str().expect("a next page").to_string();
    let page = app
        .get(&format!("/api/v1/messages?scheduled=true&limit=1&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(listed(&page), vec![later.clone()]);
    // Every single message, newest first.
    let all = app.get("/api/v1/messages").await.expect(200);
    assert_eq!(listed(&all), vec![now.clone(), sooner.clone(), later.clone()]);
    let sent = app.get("/api/v1/messages?status=sent").await.expect(200);
    assert_eq!(listed(&sent), vec![now.clone()]);
    assert!(sent["items"][0]["send_at"].is_string(), "{sent}");

    // Cancelled: it leaves the list; one already sent cannot be.
    let cancelled = app.delete(&format!("/api/v1/messages/{sooner}")).await.expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    let scheduled = app.get("/api/v1/messages?scheduled=true").await.expect(200);
    assert_eq!(listed(&scheduled), vec![later.clone()]);
    app.delete(&format!("/api/v1/messages/{now}"))
        .await
        .expect_error(409, "illegal_transition");

    // Another tenant sees none of them, and their ids are 404 to it.
    let theirs = app
        .call(Method::GET, "/api/v1/messages?scheduled=true", Some(OTHER_KEY), None)
        .await
        .expect(200);
    assert_eq!(theirs["items"], json!([]));
    let theirs = app
        .call(Method::GET, "/api/v1/messages", Some(OTHER_KEY), None)
        .await
        .expect(200);
    assert_eq!(theirs["items"], json!([]));
    for method in [Method::GET, Method::DELETE] {
        app.call(method, &format!("/api/v1/messages/{later}"), Some(OTHER_KEY), None)
            .await
            .expect_error(404, "not_found");
    }
    assert_eq!(
        app.get(&format!("/api/v1/messages/{later}")).await.expect(200)["status"],
        "queued",
        "untouched by the other tenant"
    );
}

#[tokio::test]
async fn bad_message_list_queries_are_400() {
    let app = spawn_app().await;
    for (query, field) in [
        ("status=bogus", "status"),
        ("scheduled=maybe", "scheduled"),
        ("scheduled=true&status=sent", "status"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=many", "limit"),
        ("cursor=zzz", "cursor"),
        ("scheduled=true&cursor=12", "cursor"),
    ] {
        let err = app
            .get(&format!("/api/v1/messages?{query}"))
            .await
            .expect_error(400, "invalid_query");
        assert_eq!(err["error"]["details"][0]["field"], field, "{query}: {err}");
    }
    app.call(Method::GET, "/api/v1/messages", None, None)
        .await
        .expect_error(401, "unauthorized");
}
