//! Real providers through the API: pre-flight checks when a campaign starts, a Twilio sender
//! end to end, throttling that slows the sender instead of spending attempts, and template
//! errors that pause their campaign.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{
    assert_total_is_sum, contacts, counts, meta_error, meta_request, meta_server, mount_meta_accept, phones,
    sent_requests, spawn_app, spawn_app_with, TestApp,
};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id: {v}")).to_string()
}

/// A Meta sender of WABA 555 whose Cloud API is `server` (token `tok`, number id 1142).
async fn waba_sender(app: &TestApp, server: &MockServer) -> String {
    id(&app
        .create_sender(json!({
            "name": "Ventas", "provider": "meta", "phone_number": "+593995683452",
            "credentials": {"access_token": "tok", "phone_number_id": "1142", "waba_id": "555"},
            "base_url": format!("{}/v21.0", server.uri()), "messages_per_second": 1000
        }))
        .await)
}

/// Answers the credentials check of number 1142: 200 while `ok` holds, else Meta's 190.
async fn mount_credentials_switch(server: &MockServer) -> Arc<AtomicBool> {
    let ok = Arc::new(AtomicBool::new(true));
    let flag = ok.clone();
    Mock::given(method("GET"))
        .and(path("/v21.0/1142"))
        .and(header("authorization", "Bearer tok"))
        .respond_with(move |_: &Request| {
            if flag.load(Ordering::SeqCst) {
                ResponseTemplate::new(200).set_body_json(json!({"id": "1142"}))
            } else {
                meta_error(401, 190, "Error validating access token: Session has expired")
            }
        })
        .mount(server)
        .await;
    ok
}

/// WABA 555's templates named `saldo`.
async fn mount_templates(server: &MockServer, entries: Value) {
    Mock::given(method("GET"))
        .and(path("/v21.0/555/message_templates"))
        .and(query_param("name", "saldo"))
        .and(header("authorization", "Bearer tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": entries})))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_template_not_approved_refuses_the_campaign_and_creates_nothing() {
    let app = spawn_app().await;
    let server = meta_server().await;
    mount_credentials_switch(&server).await;
    mount_templates(
        &server,
        json!([
            {"name": "saldo", "language": "en_US", "status": "APPROVED", "id": "1"},
            {"name": "saldo", "language": "es", "status": "REJECTED", "id": "2"}
        ]),
    )
    .await;
    mount_meta_accept(&server).await;
    let sender = waba_sender(&app, &server).await;
    let template = app.template().await;
    let body = json!({"name": "no", "template_id": template, "sender_id": sender, "contacts": contacts(&phones(3))});

    let err = app
        .post("/api/v1/campaigns", &body)
        .await
        .expect_error(422, "preflight_failed");
    let detail = &err["error"]["details"][0];
    assert_eq!(detail["code"], "template_not_approved", "{err}");
    assert_eq!(detail["sender_id"], sender.as_str());
    assert!(detail["reason"].as_str().unwrap().contains("REJECTED"), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("REJECTED"), "{err}");
    assert!(app.campaign_ids("").await.is_empty(), "nothing was created");
    assert!(sent_requests(&server).await.is_empty(), "nothing was sent");

    // A draft is not checked; starting it is.
    let mut draft = body.clone();
    draft["start"] = json!(false);
    let cid = id(&app.create_campaign(draft).await);
    app.post_empty(&format!("/api/v1/campaigns/{cid}/start"))
        .await
        .expect_error(422, "preflight_failed");
    let c = app.campaign(&cid).await;
    assert_eq!((c["status"].as_str(), counts(&c)["queued"]), (Some("draft"), 3), "{c}");

    // A language the template does not exist in is refused too.
    let en = app
        .create_template(json!({"name": "saldo", "language": "fr", "body": "Bonjour {{nombre}} {{monto}}"}))
        .await;
    let err = app
        .post(
            "/api/v1/campaigns",
            &json!({"name": "fr", "template_id": en["id"], "sender_id": sender, "contacts": contacts(&phones(1))}),
        )
        .await
        .expect_error(422, "preflight_failed");
    assert_eq!(err["error"]["details"][0]["code"], "template_not_found", "{err}");

    // Approved in that language: created and sent.
    let approved = app
        .create_template(json!({"name": "saldo", "language": "en_US", "body": "Hi {{nombre}}, {{monto}}"}))
        .await;
    let cid = id(&app
        .create_campaign(json!({"name": "ok", "template_id": approved["id"], "sender_id": sender,
                                "contacts": contacts(&phones(2))}))
        .await);
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["sent"], 2, "{done}");
}

#[tokio::test]
async fn a_bad_token_refuses_start_and_resume_with_the_providers_words() {
    let app = spawn_app().await;
    let server = meta_server().await;
    let credentials_ok = mount_credentials_switch(&server).await;
    mount_meta_accept(&server).await;
    // No waba_id: the credentials are checked, the template is not.
    let sender = id(&app
        .create_sender(json!({
            "name": "Ventas", "provider": "meta", "phone_number": "+593995683452",
            "credentials": {"access_token": "tok", "phone_number_id": "1142"},
            "base_url": format!("{}/v21.0", server.uri()), "messages_per_second": 5
        }))
        .await);
    let template = app.template().await;
    credentials_ok.store(false, Ordering::SeqCst);
    let body = json!({"name": "c", "template_id": template, "sender_id": sender, "contacts": contacts(&phones(10))});
    let err = app
        .post("/api/v1/campaigns", &body)
        .await
        .expect_error(422, "preflight_failed");
    assert_eq!(err["error"]["details"][0]["code"], "190", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Session has expired"),
        "{err}"
    );
    assert!(app.campaign_ids("").await.is_empty());

    credentials_ok.store(true, Ordering::SeqCst);
    let cid = id(&app.create_campaign(body).await);
    app.post_empty(&format!("/api/v1/campaigns/{cid}/pause"))
        .await
        .expect(200);
    app.wait_status(&cid, "paused").await;
    credentials_ok.store(false, Ordering::SeqCst);
    app.post_empty(&format!("/api/v1/campaigns/{cid}/resume"))
        .await
        .expect_error(422, "preflight_failed");
    assert_eq!(app.campaign(&cid).await["status"], "paused");
    // An illegal transition is still a 409, not a pre-flight failure.
    app.post_empty(&format!("/api/v1/campaigns/{cid}/start"))
        .await
        .expect_error(409, "illegal_transition");

    credentials_ok.store(true, Ordering::SeqCst);
    app.post_empty(&format!("/api/v1/campaigns/{cid}/resume"))
        .await
        .expect(200);
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["sent"], 10, "{done}");
}

const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const CONTENT_SID: &str = "HX0123456789abcdef0123456789abcdef";

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:twilio-token"))
    )
}

/// A fake Twilio: the account answers `status`; every message is created (201) with
/// `SM<n>` unless `first` says otherwise for the first `n` requests.
async fn twilio_server(account_status: u16, first: Option<(ResponseTemplate, u64)>) -> MockServer {
    let server = MockServer::start().await;
    let account = if account_status == 200 {
        ResponseTemplate::new(200).set_body_json(json!({"sid": SID, "status": "active"}))
    } else {
        ResponseTemplate::new(account_status).set_body_json(json!({
            "code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": account_status
        }))
    };
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
        .and(header("authorization", basic().as_str()))
        .respond_with(account)
        .mount(&server)
        .await;
    let messages = format!("/2010-04-01/Accounts/{SID}/Messages.json");
    if let Some((answer, n)) = first {
        Mock::given(method("POST"))
            .and(path(messages.as_str()))
            .respond_with(answer)
            .up_to_n_times(n)
            .with_priority(1)
            .mount(&server)
            .await;
    }
    let next = AtomicUsize::new(0);
    Mock::given(method("POST"))
        .and(path(messages.as_str()))
        .and(header("authorization", basic().as_str()))
        .respond_with(move |_: &Request| {
            let n = next.fetch_add(1, Ordering::SeqCst) + 1;
            ResponseTemplate::new(201).set_body_json(json!({
                "sid": format!("SM{n:032x}"), "status": "queued", "account_sid": SID,
                "error_code": null, "error_message": null
            }))
        })
        .mount(&server)
        .await;
    server
}

async fn twilio_sender(app: &TestApp, server: &MockServer) -> String {
    id(&app
        .create_sender(json!({
            "name": "Twilio", "provider": "twilio", "phone_number": "+14155238886",
            "credentials": {"account_sid": SID, "auth_token": "twilio-token"},
            "base_url": server.uri(), "messages_per_second": 1000
        }))
        .await)
}

fn form(request: &Request) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
    std::str::from_utf8(&request.body)
        .unwrap()
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect()
}

#[tokio::test]
async fn a_twilio_campaign_sends_content_templates_and_text() {
    let app = spawn_app_with(|c| c.dispatch.public_url = Some("https://pregon.example.com".into())).await;
    let server = twilio_server(200, None).await;
    let sender = twilio_sender(&app, &server).await;
    let with_sid = app
        .create_template(json!({"name": "saldo", "language": "es", "body": "Hola {{nombre}}, tu saldo es {{monto}}.",
                                "header_image": "https://cdn.example.com/{{nombre}}.jpg", "twilio_content_sid": CONTENT_SID}))
        .await;
    let text = app.template().await;
    let list = phones(2);

    let a = id(&app
        .create_campaign(
            json!({"name": "sid", "template_id": with_sid["id"], "sender_id": sender,
                                "contacts": [{"phone": list[0], "nombre": "Ana", "monto": "5 \"USD\""}]}),
        )
        .await);
    app.wait_status(&a, "completed").await;
    let b = id(&app
        .create_campaign(json!({"name": "text", "template_id": text, "sender_id": sender,
                                "contacts": [{"phone": list[1], "nombre": "Luis", "monto": "7 USD"}]}))
        .await);
    app.wait_status(&b, "completed").await;

    let sent = sent_requests(&server).await;
    assert_eq!(sent.len(), 2);
    for r in &sent {
        assert_eq!(r.headers.get("authorization").unwrap().to_str().unwrap(), basic());
        assert!(r
            .headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded"));
    }
    let first = form(&sent[0]);
    assert_eq!(first["To"], format!("whatsapp:{}", list[0]));
    assert_eq!(first["From"], "whatsapp:+14155238886");
    assert_eq!(first["ContentSid"], CONTENT_SID);
    assert_eq!(
        serde_json::from_str::<Value>(&first["ContentVariables"]).unwrap(),
        json!({"1": "Ana", "2": "5 \"USD\""})
    );
    assert_eq!(first["MediaUrl"], "https://cdn.example.com/Ana.jpg");
    assert_eq!(first["StatusCallback"], "https://pregon.example.com/webhooks/twilio");
    assert!(!first.contains_key("Body"), "{first:?}");

    let second = form(&sent[1]);
    assert_eq!(second["To"], format!("whatsapp:{}", list[1]));
    assert_eq!(second["Body"], "Hola Luis, tu saldo es 7 USD.");
    assert!(
        !second.contains_key("ContentSid") && !second.contains_key("MediaUrl"),
        "{second:?}"
    );
    assert_eq!(second["StatusCallback"], "https://pregon.example.com/webhooks/twilio");

    for (cid, sid) in [(&a, 1), (&b, 2)] {
        let m = &app.messages(cid, None).await[0];
        assert_eq!(m["status"], "sent", "{m}");
        assert_eq!(m["provider_message_id"], format!("SM{sid:032x}"), "{m}");
    }
}

#[tokio::test]
async fn twilio_without_a_public_url_sends_no_status_callback_and_keeps_its_error_codes() {
    let app = spawn_app().await;
    let server = twilio_server(
        200,
        Some((
            ResponseTemplate::new(400).set_body_json(json!({
                "code": 21211, "message": "The 'To' number whatsapp:+584121001001 is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400
            })),
            1,
        )),
    )
    .await;
    let sender = twilio_sender(&app, &server).await;
    let template = app.template().await;
    let list = phones(2);
    let cid = id(&app
        .create_campaign(
            json!({"name": "t", "template_id": template, "sender_id": sender, "contacts": contacts(&list)}),
        )
        .await);
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!((counts(&done)["sent"], counts(&done)["failed"]), (1, 1), "{done}");
    let failed = &app.messages(&cid, Some("failed")).await[0];
    assert_eq!(failed["error_code"], "21211");
    assert!(
        failed["error_message"]
            .as_str()
            .unwrap()
            .contains("not a valid phone number"),
        "{failed}"
    );
    assert_eq!(failed["attempts"], 1);
    for r in sent_requests(&server).await {
        assert!(!form(&r).contains_key("StatusCallback"));
    }
}

#[tokio::test]
async fn twilio_preflight_refuses_bad_credentials() {
    let app = spawn_app().await;
    let server = twilio_server(401, None).await;
    let sender = twilio_sender(&app, &server).await;
    let template = app.template().await;
    let err = app
        .post(
            "/api/v1/campaigns",
            &json!({"name": "t", "template_id": template, "sender_id": sender, "contacts": contacts(&phones(1))}),
        )
        .await
        .expect_error(422, "preflight_failed");
    assert_eq!(err["error"]["details"][0]["code"], "20003", "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("Authenticate"));
    assert!(app.campaign_ids("").await.is_empty());
    assert!(sent_requests(&server).await.is_empty());
}

#[tokio::test]
async fn throttling_holds_the_sender_and_spends_no_attempt() {
    let app = spawn_app().await;
    let server = twilio_server(
        200,
        Some((
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"code": 20429, "message": "Too Many Requests", "status": 429})),
            1,
        )),
    )
    .await;
    let sender = twilio_sender(&app, &server).await;
    let template = app.template().await;
    let started = Instant::now();
    // One attempt only: had the throttled answer spent it, the message would fail.
    let cid = id(&app
        .create_campaign(json!({"name": "t", "template_id": template, "sender_id": sender,
                                "contacts": contacts(&phones(1)), "retry": {"max_attempts": 1}}))
        .await);
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["sent"], 1, "{done}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the sender held off for the Retry-After"
    );
    let m = &app.messages(&cid, None).await[0];
    assert_eq!(m["attempts"], 1, "{m}");
    let full = app.get(&format!("/api/v1/messages/{}", id(m))).await.expect(200);
    let events = full["events"].as_array().unwrap();
    let statuses: Vec<&str> = events.iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["queued", "sent"], "{full}");
    assert_eq!(events[0]["detail"]["error_code"], "20429");
    assert!(events[0]["detail"]["next_attempt_at"].is_i64(), "{full}");
    assert_eq!(sent_requests(&server).await.len(), 2);
}

#[tokio::test]
async fn a_meta_throughput_error_requeues_instead_of_failing() {
    let app = spawn_app().await;
    let server = meta_server().await;
    meta_request()
        .respond_with(meta_error(400, 130429, "(#130429) Rate limit hit"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_meta_accept(&server).await;
    let sender = app.meta_sender(&server, 1000.0).await;
    let template = app.template().await;
    let cid = id(&app
        .create_campaign(json!({"name": "m", "template_id": template, "sender_id": sender,
                                "contacts": contacts(&phones(2)), "retry": {"max_attempts": 1}}))
        .await);
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!((counts(&done)["sent"], counts(&done)["failed"]), (2, 0), "{done}");
    for m in app.messages(&cid, None).await {
        assert_eq!(m["attempts"], 1, "{m}");
    }
}

#[tokio::test]
async fn a_paused_template_pauses_its_campaign_and_spends_no_attempt() {
    let app = spawn_app().await;
    let server = meta_server().await;
    meta_request()
        .respond_with(meta_error(400, 132015, "Template is paused due to low quality"))
        .mount(&server)
        .await;
    let sender = app.meta_sender(&server, 1000.0).await;
    let template = app.template().await;
    let cid = id(&app
        .create_campaign(json!({"name": "m", "template_id": template, "sender_id": sender,
                                "contacts": contacts(&phones(4))}))
        .await);
    let paused = app.wait_status(&cid, "paused").await;
    // WhatsApp's pause (132015) is its own reason: the template's approval ends it.
    assert_eq!(paused["paused_reason"], "template_paused", "{paused}");
    assert!(paused["paused_detail"].as_str().unwrap().contains("132015"), "{paused}");
    assert_eq!(
        (counts(&paused)["queued"], counts(&paused)["failed"]),
        (4, 0),
        "{paused}"
    );
    for m in app.messages(&cid, None).await {
        assert_eq!(m["attempts"], 0, "{m}");
    }
    // The sender itself is fine: its other campaigns go on.
    assert_eq!(
        app.get(&format!("/api/v1/senders/{sender}")).await.expect(200)["status"],
        "active"
    );
}

#[tokio::test]
async fn a_disabled_template_ends_its_campaign_failed_and_sends_nothing_more() {
    let app = spawn_app().await;
    let server = meta_server().await;
    meta_request()
        .respond_with(meta_error(400, 132016, "Template is disabled due to low quality"))
        .mount(&server)
        .await;
    let sender = app.meta_sender(&server, 1000.0).await;
    let template = app.template().await;
    let cid = id(&app
        .create_campaign(json!({"name": "m", "template_id": template, "sender_id": sender,
                                "contacts": contacts(&phones(5))}))
        .await);
    let failed = app.wait_status(&cid, "failed").await;
    assert_eq!(failed["failure_reason"], "template_disabled", "{failed}");
    assert!(
        failed["failure_detail"].as_str().unwrap().contains("132016"),
        "{failed}"
    );
    assert!(failed["completed_at"].is_string(), "{failed}");
    // Nothing was sent, nothing failed as a message: what was queued is cancelled.
    let n = counts(&failed);
    assert_eq!(
        (n["sent"], n["failed"], n["queued"], n["claimed"], n["sending"]),
        (0, 0, 0, 0, 0),
        "{failed}"
    );
    assert_eq!(n["cancelled"], 5, "{failed}");
    assert_total_is_sum(&failed);
    // Its end is final: it cannot be resumed or retried.
    app.post_empty(&format!("/api/v1/campaigns/{cid}/resume"))
        .await
        .expect_error(409, "illegal_transition");
}

#[tokio::test]
async fn a_recipient_who_stopped_marketing_is_skipped_not_failed_and_never_pauses_the_campaign() {
    let app = spawn_app().await;
    let server = meta_server().await;
    // Every recipient stopped marketing messages from this business (131050): many more
    // than the auto-pause threshold, none of them a fault of the campaign.
    meta_request()
        .respond_with(meta_error(
            400,
            131050,
            "Unable to deliver: the user has stopped marketing messages",
        ))
        .mount(&server)
        .await;
    let sender = app.meta_sender(&server, 1000.0).await;
    let template = app.template().await;
    let cid = id(&app
        .create_campaign(json!({"name": "m", "template_id": template, "sender_id": sender,
                                "contacts": contacts(&phones(6)),
                                "auto_pause": {"max_failure_rate": 0.1, "min_failures": 2}}))
        .await);
    let done = app.wait_status(&cid, "completed").await;
    let n = counts(&done);
    assert_eq!((n["skipped"], n["failed"]), (6, 0), "{done}");
    for m in app.messages(&cid, None).await {
        assert_eq!(m["skip_reason"], "opted_out", "{m}");
        assert_eq!(m["error_code"], "131050", "the provider's answer is kept: {m}");
        assert_eq!(m["attempts"], 1, "{m}");
    }
    // The register remembers it, for marketing only: the next marketing campaign skips them
    // at import, without asking the provider; a utility one still writes to them.
    let listed = app.get("/api/v1/opt-outs").await.expect(200);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 6, "{listed}");
    for o in items {
        assert_eq!(
            (&o["scope"], &o["source"]),
            (&json!("marketing"), &json!("provider")),
            "{o}"
        );
        assert_eq!(o["reason"], "provider error 131050");
    }
    let sends = |r: Vec<wiremock::Request>| r.iter().filter(|r| r.method.as_str() == "POST").count();
    let requests = sends(server.received_requests().await.unwrap());
    let again = app
        .create_campaign(json!({"name": "m2", "template_id": template, "sender_id": sender,
                                "contacts": contacts(&phones(6))}))
        .await;
    assert_eq!(again["import"]["skipped"]["opted_out"], 6, "{again}");
    let utility = app
        .create_template(json!({"name": "saldo", "language": "en", "category": "utility",
                                "body": "Hi {{nombre}}, your balance is {{monto}}."}))
        .await;
    let sandbox = app.default_sender().await;
    let bill = app
        .create_campaign(
            json!({"name": "factura", "template_id": utility["id"], "sender_id": sandbox["id"],
                                "contacts": contacts(&phones(6))}),
        )
        .await;
    assert_eq!(
        bill["import"]["accepted"], 6,
        "a marketing opt-out does not cover utility messages: {bill}"
    );
    let done = app.wait_status(bill["id"].as_str().unwrap(), "completed").await;
    assert_eq!(counts(&done)["sent"], 6, "{done}");
    assert_eq!(
        sends(server.received_requests().await.unwrap()),
        requests,
        "the skipped marketing campaign sent the provider nothing"
    );
}
