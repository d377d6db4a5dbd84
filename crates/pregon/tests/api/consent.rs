//! Opt-outs re-checked just before each send, the opt-in registry, and campaigns that
//! require consent.

use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{contacts, counts, digits, meta_server, mount_meta_accept, phones, spawn_app, TestApp, OTHER_KEY};

/// A Cloud API that accepts every message and answers the pre-flight check of the sender.
async fn cloud_api() -> MockServer {
    let server = meta_server().await;
    mount_meta_accept(&server).await;
    Mock::given(method("GET"))
        .and(path("/v21.0/1142"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1142"})))
        .mount(&server)
        .await;
    server
}

/// The recipients (`to`) of the messages the Cloud API received, with how many each.
async fn sent_to(server: &MockServer) -> std::collections::BTreeMap<String, usize> {
    let mut per = std::collections::BTreeMap::new();
    for r in server.received_requests().await.expect("recording") {
        if r.method.as_str() == "POST" {
            let body: Value = r.body_json().expect("a JSON message");
            *per.entry(body["to"].as_str().unwrap_or_default().to_string())
                .or_insert(0) += 1;
        }
    }
    per
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id: {v}")).to_string()
}

/// The message of `phone` in a campaign.
async fn message_of(app: &TestApp, campaign: &str, phone: &str) -> Value {
    app.messages(campaign, None)
        .await
        .into_iter()
        .find(|m| m["phone"] == phone)
        .unwrap_or_else(|| panic!("no message to {phone}"))
}

/// Asserts the message was skipped for `reason` just before sending, with an event.
async fn assert_skipped_before_sending(app: &TestApp, campaign: &str, phone: &str, reason: &str) {
    let m = message_of(app, campaign, phone).await;
    assert_eq!(
        (m["status"].as_str(), m["skip_reason"].as_str()),
        (Some("skipped"), Some(reason)),
        "{m}"
    );
    assert_eq!(m["attempts"], 0, "never attempted: {m}");
    let full = app.get(&format!("/api/v1/messages/{}", id(&m))).await.expect(200);
    let last = full["events"]
        .as_array()
        .and_then(|e| e.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["status"], "skipped", "{full}");
    assert_eq!(last["detail"]["reason"], reason, "{full}");
}

#[tokio::test]
async fn an_opt_out_after_import_skips_the_message_before_sending() {
    let app = spawn_app().await;
    let server = cloud_api().await;
    // One a second: the last contact is sent about two seconds after the campaign starts.
    let sender = app.meta_sender(&server, 1.0).await;
    let template = app.template().await;
    let list = phones(3);
    let created = app
        .create_campaign(json!({"name": "baja", "template_id": template, "sender_id": sender,
            "contacts": contacts(&list)}))
        .await;
    assert_eq!(created["import"]["accepted"], 3);
    let cid = id(&created);
    app.post("/api/v1/opt-outs", &json!({"phone": list[2], "reason": "BAJA"}))
        .await
        .expect(201);

    let done = app.wait_status(&cid, "completed").await;
    let n = counts(&done);
    assert_eq!(
        (n["sent"], n["skipped"], done["total"].as_i64()),
        (2, 1, Some(3)),
        "{done}"
    );
    assert_skipped_before_sending(&app, &cid, &list[2], "opted_out").await;
    let per = sent_to(&server).await;
    assert!(
        !per.contains_key(&digits(&list[2])),
        "an opted-out number never reaches the provider: {per:?}"
    );
    assert_eq!(per.len(), 2, "{per:?}");
}

#[tokio::test]
async fn opt_ins_can_be_added_listed_and_withdrawn() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/api/v1/opt-ins",
            &json!({"phone": "+58 412-123-4567", "source": "web_form", "evidence": "form 77, 2026-01-02"}),
        )
        .await
        .expect(201);
    assert_eq!(created["phone"], "+584121234567", "stored in E.164");
    assert_eq!(created["source"], "web_form");
    assert_eq!(created["evidence"], "form 77, 2026-01-02");
    assert!(created["created_at"].is_string());
    let plain = app
        .post("/api/v1/opt-ins", &json!({"phone": "584129876543"}))
        .await
        .expect(201);
    assert_eq!(
        (plain["source"].as_str(), &plain["evidence"]),
        (Some("api"), &Value::Null)
    );

    let list = app.get("/api/v1/opt-ins").await.expect(200);
    let listed: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["phone"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["+584121234567", "+584129876543"]);
    assert_eq!(list["next_cursor"], Value::Null);
    let theirs = app
        .call(Method::GET, "/api/v1/opt-ins", Some(OTHER_KEY), None)
        .await
        .expect(200);
    assert_eq!(theirs["items"], json!([]), "another tenant's registry is its own");

    app.post("/api/v1/opt-ins", &json!({"phone": "not a phone"}))
        .await
        .expect_error(422, "invalid_phone");
    app.post("/api/v1/opt-ins", &json!({"phone": "+584121234567", "source": ""}))
        .await
        .expect_error(422, "invalid_field");

    let reply = app.delete("/api/v1/opt-ins/+584121234567").await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    app.delete("/api/v1/opt-ins/+584121234567")
        .await
        .expect_error(404, "not_found");
    app.call(Method::DELETE, "/api/v1/opt-ins/+584129876543", Some(OTHER_KEY), None)
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn require_consent_skips_contacts_without_an_opt_in_and_sends_to_the_rest() {
    let app = spawn_app().await;
    let template = app.template().await;
    let list = phones(3);
    for p in &list[..2] {
        app.post("/api/v1/opt-ins", &json!({"phone": p})).await.expect(201);
    }
    let created = app
        .create_campaign(
            json!({"name": "consent", "template_id": template, "contacts": contacts(&list),
            "require_consent": true}),
        )
        .await;
    assert_eq!(created["import"]["accepted"], 2, "{created}");
    assert_eq!(created["import"]["skipped"]["no_consent"], 1, "{created}");
    assert_eq!(created["import"]["errors"][0]["row"], 3, "{created}");
    assert_eq!(created["settings"]["require_consent"], true);
    let cid = id(&created);
    let done = app.wait_status(&cid, "completed").await;
    let n = counts(&done);
    assert_eq!((n["sent"], n["skipped"]), (2, 1), "{done}");
    let m = message_of(&app, &cid, &list[2]).await;
    assert_eq!(
        (m["status"].as_str(), m["skip_reason"].as_str()),
        (Some("skipped"), Some("no_consent"))
    );
    for p in &list[..2] {
        assert_eq!(message_of(&app, &cid, p).await["status"], "sent");
    }

    // The same from CSV.
    let csv = format!(
        "phone,nombre,monto\n{},Ana,1\n{},Bo,2\n{},Cy,3\n",
        list[0], list[1], list[2]
    );
    let imported = app
        .import(
            csv,
            &[
                ("name", "csv consent"),
                ("template_id", &template),
                ("require_consent", "true"),
            ],
        )
        .await
        .expect(201);
    assert_eq!(imported["import"]["accepted"], 2, "{imported}");
    assert_eq!(imported["import"]["skipped"]["no_consent"], 1, "{imported}");
    let bad = app
        .import(
            "phone,nombre,monto\n+584121234567,a,1\n",
            &[("name", "x"), ("template_id", &template), ("require_consent", "maybe")],
        )
        .await;
    bad.expect_error(422, "invalid_field");

    // Without the requirement, consent is not asked for.
    let open = app
        .create_campaign(json!({"name": "open", "template_id": template, "contacts": contacts(&list)}))
        .await;
    assert_eq!(open["import"]["accepted"], 3);
    assert_eq!(open["settings"]["require_consent"], false);
    assert!(
        open["import"]["skipped"].get("no_consent").is_none(),
        "reported only where consent is required: {open}"
    );
}

#[tokio::test]
async fn consent_withdrawn_after_import_is_checked_again_before_sending() {
    let app = spawn_app().await;
    let server = cloud_api().await;
    let sender = app.meta_sender(&server, 1.0).await;
    let template = app.template().await;
    let list = phones(3);
    for p in &list {
        app.post("/api/v1/opt-ins", &json!({"phone": p})).await.expect(201);
    }
    let created = app
        .create_campaign(json!({"name": "consent", "template_id": template, "sender_id": sender,
            "contacts": contacts(&list), "require_consent": true}))
        .await;
    assert_eq!(created["import"]["accepted"], 3);
    let cid = id(&created);
    let reply = app.delete(&format!("/api/v1/opt-ins/{}", list[2])).await;
    assert_eq!(reply.status, 204, "{}", reply.text);

    let done = app.wait_status(&cid, "completed").await;
    let n = counts(&done);
    assert_eq!((n["sent"], n["skipped"]), (2, 1), "{done}");
    assert_skipped_before_sending(&app, &cid, &list[2], "no_consent").await;
    let per = sent_to(&server).await;
    assert!(!per.contains_key(&digits(&list[2])), "{per:?}");
}
