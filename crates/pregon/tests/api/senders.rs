//! `/api/v1/senders`: create, list, get, patch, delete, validation; credentials never leave.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{contacts, ids, phones, spawn_app, spawn_stepped_app_with, TestApp};

const SECRET: &str = "EAAG-very-secret-token-9f3a";
const APP_SECRET: &str = "app-secret-77c1";

fn meta_body() -> Value {
    json!({
        "name": "Ventas", "provider": "meta", "phone_number": "+593995683452",
        "credentials": {"access_token": SECRET, "phone_number_id": "1142000", "waba_id": "1234", "app_secret": APP_SECRET},
        "base_url": "https://graph.facebook.com/v21.0", "messages_per_second": 80, "daily_limit": 1000
    })
}

fn assert_no_secrets(text: &str) {
    assert!(!text.contains(SECRET), "the access token leaked: {text}");
    assert!(!text.contains(APP_SECRET), "the app secret leaked: {text}");
    assert!(!text.contains("credentials"), "credentials leaked: {text}");
}

#[tokio::test]
async fn a_new_install_has_one_default_sandbox_sender() {
    let app = spawn_app().await;
    let list = app.get("/api/v1/senders").await.expect(200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["provider"], "sandbox");
    assert_eq!(items[0]["is_default"], true);
    assert_eq!(items[0]["status"], "active");
    assert_eq!(list["next_cursor"], Value::Null);
}

#[tokio::test]
async fn create_get_and_list_never_show_credentials() {
    let app = spawn_app().await;
    let reply = app.post("/api/v1/senders", &meta_body()).await;
    assert_no_secrets(&reply.text);
    let created = reply.expect(201);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["provider"], "meta");
    assert_eq!(created["phone_number"], "+593995683452");
    assert_eq!(created["messages_per_second"], 80.0);
    assert_eq!(created["daily_limit"], 1000);
    assert_eq!(created["is_default"], false);
    assert_eq!(created["status"], "active");

    let reply = app.get(&format!("/api/v1/senders/{id}")).await;
    assert_no_secrets(&reply.text);
    let got = reply.expect(200);
    assert_eq!(got, created, "GET answers what POST answered");

    let reply = app.get("/api/v1/senders").await;
    assert_no_secrets(&reply.text);
    let list = reply.expect(200);
    assert!(ids(&list).contains(&id), "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    let reply = app
        .patch(
            &format!("/api/v1/senders/{id}"),
            &json!({"credentials": {"access_token": SECRET, "phone_number_id": "1142001"}}),
        )
        .await;
    assert_no_secrets(&reply.text);
    reply.expect(200);

    // A national phone in its own country's format, and defaults by provider.
    let s = app
        .create_sender(
            json!({"name": "EC", "provider": "META", "phone_number": "+593 99 568 3452",
            "credentials": {"access_token": "t", "phone_number_id": "1"}}),
        )
        .await;
    assert_eq!(s["phone_number"], "+593995683452");
    assert_eq!(s["provider"], "meta");
    assert_eq!(s["messages_per_second"], 80.0);
    assert_eq!(s["daily_limit"], Value::Null);
    let s = app
        .create_sender(json!({"name": "Pruebas", "provider": "sandbox"}))
        .await;
    assert_eq!(s["messages_per_second"], 1000.0);
}

#[tokio::test]
async fn list_pages_with_a_cursor() {
    let app = spawn_app().await;
    for i in 0..4 {
        app.create_sender(json!({"name": format!("S{i}"), "provider": "sandbox"}))
            .await;
    }
    let first = app.get("/api/v1/senders?limit=2").await.expect(200);
    assert_eq!(ids(&first).len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a next cursor");
    let second = app
        .get(&format!("/api/v1/senders?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(ids(&second).len(), 2);
    let cursor = second["next_cursor"].as_str().expect("a next cursor");
    let third = app
        .get(&format!("/api/v1/senders?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(ids(&third).len(), 1);
    assert_eq!(third["next_cursor"], Value::Null);
    let mut all: Vec<String> = [ids(&first), ids(&second), ids(&third)].concat();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 5, "every sender once");
}

async fn sender(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/senders/{id}")).await.expect(200)
}

#[tokio::test]
async fn patch_changes_fields_and_moves_the_default() {
    let app = spawn_app().await;
    let sandbox = app.default_sender().await["id"].as_str().unwrap().to_string();
    let id = app.create_sender(meta_body()).await["id"].as_str().unwrap().to_string();

    let patched = app
        .patch(
            &format!("/api/v1/senders/{id}"),
            &json!({"name": "Cobranzas", "messages_per_second": 250.5, "daily_limit": 10000, "status": "paused"}),
        )
        .await
        .expect(200);
    assert_eq!(patched["name"], "Cobranzas");
    let got = sender(&app, &id).await;
    assert_eq!(got["name"], "Cobranzas");
    assert_eq!(got["messages_per_second"], 250.5);
    assert_eq!(got["daily_limit"], 10000);
    assert_eq!(got["status"], "paused");
    assert_eq!(got["phone_number"], "+593995683452", "untouched fields stay");
    assert_eq!(got["base_url"], "https://graph.facebook.com/v21.0");

    // An absent field stays; an explicit null clears it.
    app.patch(&format!("/api/v1/senders/{id}"), &json!({"name": "Cobranzas 2"}))
        .await
        .expect(200);
    assert_eq!(sender(&app, &id).await["daily_limit"], 10000);
    app.patch(&format!("/api/v1/senders/{id}"), &json!({"daily_limit": null}))
        .await
        .expect(200);
    assert_eq!(sender(&app, &id).await["daily_limit"], Value::Null);

    // is_default moves the default: exactly one, the new one.
    app.patch(&format!("/api/v1/senders/{id}"), &json!({"is_default": true}))
        .await
        .expect(200);
    assert_eq!(app.default_sender().await["id"], id.as_str());
    assert_eq!(sender(&app, &sandbox).await["is_default"], false);

    // A campaign without sender_id goes through the default.
    let template = app.template().await;
    let c = app
        .create_campaign(
            json!({"name": "d", "template_id": template, "contacts": contacts(&phones(1)), "start": false}),
        )
        .await;
    assert_eq!(c["sender_id"], id.as_str());

    // Creating a sender with is_default moves it again.
    let third = app
        .create_sender(json!({"name": "Nuevo", "provider": "sandbox", "is_default": true}))
        .await;
    assert_eq!(app.default_sender().await["id"], third["id"]);
    assert_eq!(sender(&app, &id).await["is_default"], false);
}

#[tokio::test]
async fn delete_is_204_then_404() {
    let app = spawn_app().await;
    let id = app.create_sender(meta_body()).await["id"].as_str().unwrap().to_string();
    let reply = app.delete(&format!("/api/v1/senders/{id}")).await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    assert!(reply.text.is_empty());
    app.get(&format!("/api/v1/senders/{id}"))
        .await
        .expect_error(404, "not_found");
    app.delete(&format!("/api/v1/senders/{id}"))
        .await
        .expect_error(404, "not_found");
    app.patch(&format!("/api/v1/senders/{id}"), &json!({"name": "x"}))
        .await
        .expect_error(404, "not_found");
    assert!(!ids(&app.get("/api/v1/senders").await.expect(200)).contains(&id));
    // A deleted sender cannot be used.
    let template = app.template().await;
    app.post(
        "/api/v1/campaigns",
        &json!({"name": "x", "template_id": template, "sender_id": id, "contacts": contacts(&phones(1))}),
    )
    .await
    .expect_error(422, "unknown_sender");
}

#[tokio::test]
async fn deleting_the_default_sender_leaves_none() {
    let app = spawn_app().await;
    let sandbox = app.default_sender().await["id"].as_str().unwrap().to_string();
    assert_eq!(app.delete(&format!("/api/v1/senders/{sandbox}")).await.status, 204);
    let template = app.template().await;
    app.post(
        "/api/v1/campaigns",
        &json!({"name": "x", "template_id": template, "contacts": contacts(&phones(1))}),
    )
    .await
    .expect_error(422, "no_default_sender");
    app.post(
        "/api/v1/messages",
        &json!({"to": "+584121234567", "template_id": template, "variables": {"nombre": "a", "monto": "b"}}),
    )
    .await
    .expect_error(422, "no_default_sender");
    assert_eq!(app.get("/api/v1/campaigns").await.expect(200)["items"], json!([]));
}

#[tokio::test]
async fn a_sender_with_unfinished_campaigns_cannot_be_deleted() {
    let app = spawn_app().await;
    let template = app.template().await;
    let id = app.create_sender(json!({"name": "Lenta", "provider": "sandbox"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A paused sender is not dispatched: its campaign waits for it.
    app.patch(&format!("/api/v1/senders/{id}"), &json!({"status": "paused"}))
        .await
        .expect(200);
    let running = app
        .create_campaign(
            json!({"name": "r", "template_id": template, "sender_id": id, "contacts": contacts(&phones(2))}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let waiting = app.campaign(&running).await;
    assert_eq!(
        (waiting["status"].as_str(), waiting["paused_reason"].as_str()),
        (Some("paused"), Some("sender_paused"))
    );
    app.delete(&format!("/api/v1/senders/{id}"))
        .await
        .expect_error(409, "conflict");

    // A person's pause makes the pause theirs.
    app.post_empty(&format!("/api/v1/campaigns/{running}/pause"))
        .await
        .expect(200);
    let paused = app.campaign(&running).await;
    assert_eq!(
        (paused["status"].as_str(), paused["paused_reason"].as_str()),
        (Some("paused"), Some("user"))
    );
    app.delete(&format!("/api/v1/senders/{id}"))
        .await
        .expect_error(409, "conflict");
    assert_eq!(sender(&app, &id).await["id"], id.as_str(), "still there");

    app.post_empty(&format!("/api/v1/campaigns/{running}/cancel"))
        .await
        .expect(200);
    assert_eq!(app.delete(&format!("/api/v1/senders/{id}")).await.status, 204);
    app.get(&format!("/api/v1/senders/{id}"))
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn invalid_senders_are_422() {
    let app = spawn_app().await;
    let meta = |patch: Value| {
        let mut body = meta_body();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases = [
        ("bad provider", meta(json!({"provider": "telegram"})), "provider"),
        (
            "bad phone",
            meta(json!({"phone_number": "not-a-phone"})),
            "phone_number",
        ),
        ("short phone", meta(json!({"phone_number": "+12"})), "phone_number"),
        ("no phone for meta", meta(json!({"phone_number": null})), "phone_number"),
        ("no credentials", meta(json!({"credentials": null})), "credentials"),
        (
            "no token",
            meta(json!({"credentials": {"phone_number_id": "1142"}})),
            "credentials",
        ),
        (
            "no phone number id",
            meta(json!({"credentials": {"access_token": "t"}})),
            "credentials",
        ),
        (
            "non-string credential",
            meta(json!({"credentials": {"access_token": 5, "phone_number_id": "1"}})),
            "credentials",
        ),
        ("rate 0", meta(json!({"messages_per_second": 0})), "messages_per_second"),
        (
            "negative rate",
            meta(json!({"messages_per_second": -5})),
            "messages_per_second",
        ),
        (
            "rate too high",
            meta(json!({"messages_per_second": 100001})),
            "messages_per_second",
        ),
        ("daily limit 0", meta(json!({"daily_limit": 0})), "daily_limit"),
        ("empty name", meta(json!({"name": "  "})), "name"),
        (
            "bad base url",
            meta(json!({"base_url": "ftp://example.com"})),
            "base_url",
        ),
    ];
    for (what, body, field) in cases {
        let reply = app.post("/api/v1/senders", &body).await;
        assert_eq!(reply.status, 422, "{what}: {}", reply.text);
        let err = reply.expect_error(422, "invalid_field");
        assert_eq!(err["error"]["details"][0]["field"], field, "{what}: {err}");
    }
    // A Twilio sender needs its account SID and auth token.
    let reply = app
        .post(
            "/api/v1/senders",
            &json!({"name": "T", "provider": "twilio", "phone_number": "+14155550100",
                    "credentials": {"account_sid": "AC1"}}),
        )
        .await;
    let err = reply.expect_error(422, "invalid_field");
    assert_eq!(err["error"]["details"][0]["field"], "credentials", "{err}");
    // Nothing was created.
    assert_eq!(ids(&app.get("/api/v1/senders").await.expect(200)).len(), 1);

    // The boundary is accepted.
    let s = app.create_sender(meta(json!({"messages_per_second": 100000}))).await;
    assert_eq!(s["messages_per_second"], 100000.0);
    let id = s["id"].as_str().unwrap();

    for (what, body, field) in [
        ("rate 0", json!({"messages_per_second": 0}), "messages_per_second"),
        (
            "rate too high",
            json!({"messages_per_second": 1e6}),
            "messages_per_second",
        ),
        ("bad status", json!({"status": "broken"}), "status"),
        ("bad phone", json!({"phone_number": "12"}), "phone_number"),
        (
            "credentials without token",
            json!({"credentials": {"phone_number_id": "1"}}),
            "credentials",
        ),
    ] {
        let reply = app.patch(&format!("/api/v1/senders/{id}"), &body).await;
        let err = reply.expect_error(422, "invalid_field");
        assert_eq!(err["error"]["details"][0]["field"], field, "{what}: {err}");
    }
    assert_eq!(
        sender(&app, id).await["messages_per_second"],
        100000.0,
        "a refused patch changes nothing"
    );
}

#[tokio::test]
async fn a_twilio_sender_is_accepted_at_one_message_per_second() {
    let app = spawn_app().await;
    let t = app
        .create_sender(
            json!({"name": "T", "provider": "twilio", "phone_number": "+14155238886",
                              "credentials": {"account_sid": "AC1", "auth_token": "x"}}),
        )
        .await;
    assert_eq!(t["provider"], "twilio");
    assert_eq!(t["phone_number"], "+14155238886");
    assert_eq!(t["messages_per_second"], 1.0);
    assert_eq!(t["base_url"], json!(null));
    assert!(!t.to_string().contains("auth_token"), "no credentials in answers: {t}");
    let id = t["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/senders/{id}")).await.expect(200), t);
}

/// (status, paused_reason) of a campaign.
async fn state(app: &TestApp, campaign: &str) -> (String, Value) {
    let c = app.campaign(campaign).await;
    (
        c["status"].as_str().unwrap_or_default().to_string(),
        c["paused_reason"].clone(),
    )
}

#[tokio::test]
async fn a_paused_sender_holds_its_campaigns_until_it_is_active_again() {
    // No pair gap: the campaigns share their phones, and each is to finish in one dispatch.
    let app = spawn_stepped_app_with(|c| c.dispatch.pair_gap = Duration::ZERO).await;
    let template = app.template().await;
    // One message a second: still running when the sender is paused.
    let sender = app
        .create_sender(json!({"name": "Lenta", "provider": "sandbox", "messages_per_second": 1}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let create = |name: &'static str| {
        let (app, template, sender) = (&app, template.clone(), sender.clone());
        async move {
            app.create_campaign(
                json!({"name": name, "template_id": template, "sender_id": sender, "contacts": contacts(&phones(20))}),
            )
            .await["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let running = create("r").await;
    let by_user = create("u").await;
    app.post_empty(&format!("/api/v1/campaigns/{by_user}/pause"))
        .await
        .expect(200);
    assert_eq!(state(&app, &running).await.0, "running");
    let sending = app.dispatch_in_background();
    app.wait_campaign(&running, "a first message sent", |c| c["counts"]["sent"] != 0)
        .await;

    let patched = app
        .patch(&format!("/api/v1/senders/{sender}"), &json!({"status": "paused"}))
        .await
        .expect(200);
    assert_eq!(patched["status"], "paused");
    // In the same transaction: no wait.
    let held = app.campaign(&running).await;
    assert_eq!(
        (
            held["status"].as_str(),
            held["paused_reason"].as_str(),
            held["paused_detail"].as_str()
        ),
        (Some("paused"), Some("sender_paused"), Some("the sender is paused")),
        "{held}"
    );
    assert_eq!(state(&app, &by_user).await, ("paused".into(), json!("user")));
    // The dispatch ends once what was in flight is recorded: nothing more is sent.
    sending.await.expect("the dispatch pass ends");
    let settled = app.campaign(&running).await;
    let n = &settled["counts"];
    assert_eq!((&n["claimed"], &n["sending"]), (&json!(0), &json!(0)), "{settled}");
    assert!(n["sent"].as_i64().unwrap() < 20, "paused before the end: {settled}");
    let new_one = create("n").await;
    assert_eq!(state(&app, &new_one).await, ("paused".into(), json!("sender_paused")));
    // Resuming while the sender is paused keeps it waiting for the sender (200).
    let resumed = app
        .post_empty(&format!("/api/v1/campaigns/{running}/resume"))
        .await
        .expect(200);
    assert_eq!(
        (resumed["status"].as_str(), resumed["paused_reason"].as_str()),
        (Some("paused"), Some("sender_paused"))
    );
    app.dispatch_all_pending().await;
    assert_eq!(app.campaign(&running).await["counts"], settled["counts"]);

    // Active again (and fast): the held campaigns resume and complete; the user's stays.
    let patched = app
        .patch(
            &format!("/api/v1/senders/{sender}"),
            &json!({"status": "active", "messages_per_second": 1000}),
        )
        .await
        .expect(200);
    assert_eq!(patched["status"], "active");
    assert_eq!(state(&app, &running).await.1, Value::Null);
    app.dispatch_all_pending().await;
    for id in [&running, &new_one] {
        let done = app.campaign(id).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["counts"]["sent"], 20, "{done}");
        assert_eq!(done["paused_reason"], Value::Null);
    }
    assert_eq!(state(&app, &by_user).await, ("paused".into(), json!("user")));
}

#[tokio::test]
async fn exactly_one_sender_is_the_default() {
    let app = spawn_app().await;
    let sandbox = app.default_sender().await["id"].as_str().unwrap().to_string();
    let second = app
        .create_sender(json!({"name": "Dos", "provider": "sandbox", "is_default": true}))
        .await;
    assert_eq!(second["is_default"], true);
    assert_eq!(app.default_sender().await["id"], second["id"]);
    assert_eq!(sender(&app, &sandbox).await["is_default"], false);
    // A sender created without is_default leaves the default alone.
    let third = app.create_sender(json!({"name": "Tres", "provider": "sandbox"})).await;
    assert_eq!(third["is_default"], false);
    assert_eq!(app.default_sender().await["id"], second["id"]);
    // PATCH is_default moves it back; every list shows exactly one (default_sender checks).
    app.patch(&format!("/api/v1/senders/{sandbox}"), &json!({"is_default": true}))
        .await
        .expect(200);
    assert_eq!(app.default_sender().await["id"], sandbox.as_str());
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(sender(&app, second_id).await["is_default"], false);
    // Another tenant's default is its own.
    let theirs = app
        .call(
            reqwest::Method::GET,
            "/api/v1/senders",
            Some(crate::helpers::OTHER_KEY),
            None,
        )
        .await
        .expect(200);
    let defaults: Vec<&Value> = theirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["is_default"] == true)
        .collect();
    assert_eq!(defaults.len(), 1, "{theirs}");
    assert_ne!(defaults[0]["id"], sandbox.as_str());
}
