//! Users without phone numbers (BSUID, docs/providers.md §1.6): contacts and single messages
//! that name a business-scoped user ID are sent to Meta's `recipient`, shown with their
//! `user_id` in the API and the export; a BSUID-only stop reply opts that user out, and
//! covers its phone once the two are seen together; malformed ones are refused or ignored.

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{assert_error_shape, eventually, meta_request, TestApp};

const APP_SECRET: &str = "meta-app-secret";
const PHONE_NUMBER_ID: &str = "1142";
const WABA: &str = "102290129340398";
const T1: i64 = 1_767_225_600;

/// A Cloud API acceptance whose message id names the recipient: `wamid.<to or recipient>`,
/// answering `contacts[].user_id` for a send to a BSUID as Meta documents.
fn accept(request: &Request) -> ResponseTemplate {
    let body = request.body_json::<Value>().unwrap_or_default();
    let (to, recipient) = (body["to"].as_str(), body["recipient"].as_str());
    let contact = match (to, recipient) {
        (Some(t), _) => json!({"input": t, "wa_id": t}),
        (None, r) => json!({"input": r, "user_id": r}),
    };
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [contact],
        "messages": [{"id": format!("wamid.{}", to.or(recipient).unwrap_or_default())}]
    }))
}

async fn setup() -> (TestApp, MockServer, String, String) {
    let app = crate::helpers::spawn_app().await;
    let server = MockServer::start().await;
    meta_request().respond_with(accept).mount(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{PHONE_NUMBER_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": PHONE_NUMBER_ID})))
        .mount(&server)
        .await;
    crate::helpers::mount_meta_template_approved(&server, WABA).await;
    let sender = app
        .create_sender(json!({
            "name": "Ventas", "provider": "meta", "phone_number": "+593995683452",
            "credentials": {"access_token": "tok", "phone_number_id": PHONE_NUMBER_ID,
                            "waba_id": WABA, "app_secret": APP_SECRET},
            "base_url": format!("{}/v21.0", server.uri()), "messages_per_second": 1000.0
        }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let template = app.template().await;
    (app, server, sender, template)
}

fn contact(identity: Value) -> Value {
    let mut c = identity;
    c["nombre"] = json!("Ana");
    c["monto"] = json!("10");
    c
}

/// Meta reports `message` delivered to `recipient_id`, naming `recipient_user_id` with it;
/// the message as the API shows it afterwards.
async fn delivered_naming(app: &TestApp, message: &Value, recipient_id: &str, recipient_user_id: &str) -> Value {
    let pid = message["provider_message_id"].as_str().unwrap();
    app.meta_webhook(&crate::webhooks::meta_body(json!({"statuses": [{
        "id": pid, "status": "delivered", "timestamp": T1.to_string(),
        "recipient_id": recipient_id, "recipient_user_id": recipient_user_id}]})))
        .await;
    app.get(&format!("/api/v1/messages/{}", message["id"].as_str().unwrap()))
        .await
        .expect(200)
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    crate::helpers::meta_bodies(server).await
}

async fn campaign(app: &TestApp, sender: &str, template: &str, contacts: Vec<Value>) -> (String, Value) {
    let created = app
        .create_campaign(json!({"name": "bsuid", "sender_id": sender, "template_id": template, "contacts": contacts}))
        .await;
    (created["id"].as_str().unwrap().to_string(), created)
}

#[tokio::test]
async fn a_bsuid_only_contact_is_sent_to_its_recipient_and_shown_with_its_user_id() {
    let (app, server, sender, template) = setup().await;
    let (id, created) = campaign(
        &app,
        &sender,
        &template,
        vec![
            contact(json!({"user_id": "VE.5501"})),
            contact(json!({"phone": "+584121001001", "user_id": "ve.5502"})),
            contact(json!({"user_id": "VE.5501"})),
            contact(json!({"user_id": "VE.5502"})),
            contact(json!({"user_id": "not-a-bsuid"})),
            contact(json!({})),
        ],
    )
    .await;
    let import = &created["import"];
    assert_eq!(import["accepted"], 2, "{created}");
    assert_eq!(
        import["skipped"]["duplicate"], 2,
        "the same user by BSUID twice: {created}"
    );
    assert_eq!(import["skipped"]["invalid_phone"], 2, "{created}");
    let bad = import["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["row"] == 5)
        .unwrap();
    assert!(bad["reason"].as_str().unwrap().contains("invalid user_id"), "{bad}");
    assert_eq!(bad["user_id"], "not-a-bsuid");
    app.wait_status(&id, "completed").await;

    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    let to_user = sent
        .iter()
        .find(|b| b.get("to").is_none())
        .expect("a send without `to`");
    assert_eq!(to_user["recipient"], "VE.5501", "{to_user}");
    let to_phone = sent.iter().find(|b| b.get("to").is_some()).unwrap();
    assert_eq!(to_phone["to"], "584121001001");
    assert!(to_phone.get("recipient").is_none(), "a phone wins: {to_phone}");

    let messages = app.messages(&id, Some("sent")).await;
    let by_user: Vec<(Value, Value)> = messages
        .iter()
        .map(|m| (m["phone"].clone(), m["user_id"].clone()))
        .collect();
    assert!(by_user.contains(&(Value::Null, json!("VE.5501"))), "{by_user:?}");
    assert!(
        by_user.contains(&(json!("+584121001001"), json!("VE.5502"))),
        "{by_user:?}"
    );
    let one = messages.iter().find(|m| m["user_id"] == "VE.5501").unwrap();
    let got = app
        .get(&format!("/api/v1/messages/{}", one["id"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(
        (got["phone"].clone(), got["user_id"].clone()),
        (Value::Null, json!("VE.5501"))
    );

    let export = app.get(&format!("/api/v1/campaigns/{id}/messages.csv")).await;
    assert_eq!(export.status.as_u16(), 200, "{}", export.text);
    let mut lines = export.text.lines();
    assert!(
        lines.next().unwrap().ends_with(",skip_reason,user_id"),
        "{}",
        export.text
    );
    let rows: Vec<&str> = lines.collect();
    assert!(
        rows.iter().any(|l| l.starts_with(",sent,") && l.ends_with(",VE.5501")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|l| l.starts_with("+584121001001,sent,") && l.ends_with(",VE.5502")),
        "{rows:?}"
    );

    // A single message by BSUID goes to `recipient` too.
    let single = app
        .post(
            "/api/v1/messages",
            &json!({"user_id": "BR.77", "template_id": template, "sender_id": sender,
                    "variables": {"nombre": "Bia", "monto": "3"}}),
        )
        .await
        .expect(202);
    let single_id = single["id"].as_str().unwrap().to_string();
    eventually("the single message sent", || {
        let app = &app;
        let single_id = &single_id;
        async move {
            let m = app.get(&format!("/api/v1/messages/{single_id}")).await.expect(200);
            (m["status"] == "sent").then_some(m)
        }
    })
    .await;
    let sent = bodies(&server).await;
    assert!(
        sent.iter().any(|b| b["recipient"] == "BR.77" && b.get("to").is_none()),
        "{sent:?}"
    );
}

#[tokio::test]
async fn a_bsuid_only_stop_blocks_that_user_and_its_phone_once_linked() {
    let (app, _server, sender, template) = setup().await;
    // A reply from a user without a phone: `from_user_id` alone.
    app.meta_webhook(&crate::webhooks::meta_body(json!({
        "contacts": [{"profile": {"name": "Ana"}, "user_id": "VE.77"}],
        "messages": [{"from_user_id": "VE.77", "id": "wamid.in.1", "timestamp": T1.to_string(),
                      "text": {"body": "STOP"}, "type": "text"}]
    })))
    .await;
    let replies = app.get("/api/v1/replies").await.expect(200);
    let r = &replies["items"][0];
    assert_eq!(
        (r["phone"].clone(), r["user_id"].clone(), r["opted_out"].clone()),
        (Value::Null, json!("VE.77"), json!(true))
    );
    let opt_outs = app.get("/api/v1/opt-outs").await.expect(200);
    let items = opt_outs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{opt_outs}");
    assert_eq!(
        (items[0]["phone"].clone(), items[0]["user_id"].clone()),
        (Value::Null, json!("VE.77"))
    );
    assert_eq!(items[0]["source"], "reply");

    let phone = "+584121002002";
    let (second, created) = campaign(
        &app,
        &sender,
        &template,
        vec![contact(json!({"user_id": "VE.77"})), contact(json!({"phone": phone}))],
    )
    .await;
    assert_eq!(created["import"]["skipped"]["opted_out"], 1, "{created}");
    assert_eq!(
        created["import"]["accepted"], 1,
        "the phone is not linked yet: {created}"
    );
    app.wait_status(&second, "completed").await;
    let sent = app.messages(&second, Some("sent")).await;
    assert_eq!(sent[0]["user_id"], Value::Null);

    // Meta reports the phone's BSUID in a status: it fills the message and links the two.
    let m = delivered_naming(&app, &sent[0], "584121002002", "VE.77").await;
    assert_eq!(
        (m["status"].clone(), m["user_id"].clone()),
        (json!("delivered"), json!("VE.77"))
    );

    let (_, third) = campaign(&app, &sender, &template, vec![contact(json!({"phone": phone}))]).await;
    assert_eq!(
        third["import"]["skipped"]["opted_out"], 1,
        "the BSUID's opt-out covers its phone: {third}"
    );
    assert_eq!(third["import"]["accepted"], 0);
    // And a single message to that phone is refused as opted out.
    app.post(
        "/api/v1/messages",
        &json!({"to": phone, "template_id": template, "sender_id": sender,
                                          "variables": {"nombre": "A", "monto": "1"}}),
    )
    .await
    .expect_error(422, "opted_out");
}

#[tokio::test]
async fn malformed_user_ids_are_refused_at_the_api_and_ignored_in_webhooks() {
    let (app, _server, sender, template) = setup().await;
    for body in [
        json!({"user_id": "nope", "template_id": template}),
        json!({"user_id": "US.", "to": "+584121003003", "template_id": template}),
    ] {
        let r = app.post("/api/v1/messages", &body).await;
        assert_error_shape(&r);
        r.expect_error(422, "invalid_user_id");
    }
    app.post("/api/v1/messages", &json!({"template_id": template}))
        .await
        .expect_error(422, "invalid_body");
    app.post("/api/v1/opt-outs", &json!({"user_id": "U.1"}))
        .await
        .expect_error(422, "invalid_user_id");
    app.post("/api/v1/opt-outs", &json!({}))
        .await
        .expect_error(422, "invalid_body");
    let made = app
        .post("/api/v1/opt-outs", &json!({"user_id": "us.123"}))
        .await
        .expect(201);
    assert_eq!(
        (made["phone"].clone(), made["user_id"].clone()),
        (Value::Null, json!("US.123"))
    );
    assert_eq!(app.delete("/api/v1/opt-outs/US.123").await.status.as_u16(), 204);

    // A reply whose only identifier is malformed is ignored; so is a status's bad BSUID.
    app.meta_webhook(&crate::webhooks::meta_body(json!({
        "messages": [{"from_user_id": "VE 77!", "id": "wamid.in.bad", "timestamp": T1.to_string(),
                      "text": {"body": "STOP"}, "type": "text"}]
    })))
    .await;
    assert!(app.get("/api/v1/replies").await.expect(200)["items"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(app.get("/api/v1/opt-outs").await.expect(200)["items"]
        .as_array()
        .unwrap()
        .is_empty());

    let (id, _) = campaign(
        &app,
        &sender,
        &template,
        vec![contact(json!({"phone": "+584121004004"}))],
    )
    .await;
    app.wait_status(&id, "completed").await;
    let sent = app.messages(&id, Some("sent")).await;
    let m = delivered_naming(&app, &sent[0], "584121004004", "<script>").await;
    assert_eq!(
        (m["status"].clone(), m["user_id"].clone()),
        (json!("delivered"), Value::Null)
    );
}

#[tokio::test]
async fn through_the_simulator_a_bsuid_only_user_is_sent_to_and_its_stop_and_preference_are_kept() {
    let app = crate::helpers::spawn_app().await;
    let (addr, simulator) = pregon_simulator::Simulator::start(crate::helpers::simulated_meta(&app))
        .await
        .unwrap();
    let sender = app
        .simulated_meta_sender(addr, json!({"messages_per_second": 50}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let template = app.template().await;
    let (id, _) = campaign(
        &app,
        &sender,
        &template,
        vec![
            contact(json!({"user_id": "VE.901"})),
            contact(json!({"user_id": "VE.902"})),
        ],
    )
    .await;
    app.wait_status(&id, "completed").await;
    assert_eq!(
        app.messages(&id, Some("sent")).await.len()
            + app.messages(&id, Some("delivered")).await.len()
            + app.messages(&id, Some("read")).await.len(),
        2
    );
    assert_eq!(simulator.stats().accepted, 2, "the simulator took both by `recipient`");

    let control = |route: &'static str, body: Value| {
        let client = app.client.clone();
        async move {
            let r = client
                .post(format!("http://{addr}{route}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{route}: {}", r.text().await.unwrap());
        }
    };
    control("/control/inbound", json!({"user_id": "VE.901", "text": "STOP"})).await;
    control(
        "/control/user-preferences",
        json!({"user_id": "VE.902", "value": "stop"}),
    )
    .await;
    let opt_outs = eventually("both opt-outs recorded", || {
        let app = &app;
        async move {
            let list = app.get("/api/v1/opt-outs").await.expect(200);
            (list["items"].as_array().unwrap().len() == 2).then_some(list)
        }
    })
    .await;
    let scopes: Vec<(Value, Value, Value)> = opt_outs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["user_id"].clone(), o["scope"].clone(), o["source"].clone()))
        .collect();
    assert_eq!(
        scopes,
        vec![
            (json!("VE.901"), json!("all"), json!("reply")),
            (json!("VE.902"), json!("marketing"), json!("provider"))
        ]
    );
    let (_, next) = campaign(
        &app,
        &sender,
        &template,
        vec![
            contact(json!({"user_id": "VE.901"})),
            contact(json!({"user_id": "VE.902"})),
        ],
    )
    .await;
    assert_eq!(next["import"]["skipped"]["opted_out"], 2, "{next}");
    // Resuming lifts the BSUID's marketing opt-out.
    control(
        "/control/user-preferences",
        json!({"user_id": "VE.902", "value": "resume"}),
    )
    .await;
    eventually("the marketing opt-out lifted", || {
        let app = &app;
        async move {
            let list = app.get("/api/v1/opt-outs").await.expect(200);
            (list["items"].as_array().unwrap().len() == 1).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn a_sender_that_cannot_reach_a_bsuid_fails_that_message_for_good_and_sends_the_rest() {
    let app = crate::helpers::spawn_app().await;
    let sandbox = app.default_sender().await["id"].as_str().unwrap().to_string();
    let template = app.template().await;
    let (id, _) = campaign(
        &app,
        &sandbox,
        &template,
        vec![
            contact(json!({"user_id": "VE.1"})),
            contact(json!({"phone": "+584121005005"})),
        ],
    )
    .await;
    let done = app.wait_status(&id, "completed").await;
    assert_eq!(crate::helpers::counts(&done)["failed"], 1, "{done}");
    let failed = app.messages(&id, Some("failed")).await;
    assert_eq!(
        (failed[0]["user_id"].clone(), failed[0]["error_code"].clone()),
        (json!("VE.1"), json!("no_phone"))
    );
    assert_eq!(failed[0]["attempts"], 1, "permanent: never retried");
}
