//! Provider webhooks: Meta's handshake, signed status reports (monotonic, deduplicated,
//! counted once), replies and stop words, account updates, and Twilio's status callbacks
//! and incoming messages.

use pregon_providers::signature::{sha256_header, twilio_signature};
use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{contacts, counts, digits, phones, spawn_app, spawn_app_with, Reply, TestApp, OTHER_KEY};

const APP_SECRET: &str = "meta-app-secret";
const PHONE_NUMBER_ID: &str = "1142";
const WABA: &str = "102290129340398";
const SENDER_PHONE: &str = "+593995683452";
const VERIFY_TOKEN: &str = "verify-me-123";
const T1: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z, in seconds as Meta writes them

async fn app() -> TestApp {
    spawn_app_with(|c| c.reports.meta_verify_token = Some(VERIFY_TOKEN.into())).await
}

impl TestApp {
    /// A Meta sender with an app secret, whose Cloud API is `server`.
    async fn signed_meta_sender(&self, server: &MockServer, rate: f64) -> String {
        let s = self
            .create_sender(json!({
                "name": "Ventas", "provider": "meta", "phone_number": SENDER_PHONE,
                "credentials": {"access_token": "tok", "phone_number_id": PHONE_NUMBER_ID,
                                "waba_id": WABA, "app_secret": APP_SECRET},
                "base_url": format!("{}/v21.0", server.uri()), "messages_per_second": rate
            }))
            .await;
        assert_eq!(s["provider_account"], PHONE_NUMBER_ID);
        s["id"].as_str().expect("a sender id").to_string()
    }

    /// POSTs a Meta webhook body with the given `X-Hub-Signature-256` (none when `None`).
    pub(crate) async fn post_meta(&self, body: &str, signature: Option<String>) -> Reply {
        let mut request = self
            .client
            .post(self.url("/webhooks/meta"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(s) = signature {
            request = request.header("x-hub-signature-256", s);
        }
        self.send(request).await
    }

    /// POSTs a Meta webhook body signed with the sender's app secret; expects 200.
    pub(crate) async fn meta_webhook(&self, body: &str) {
        let reply = self.post_meta(body, Some(sign(body))).await;
        assert_eq!(reply.status.as_u16(), 200, "webhook refused: {}", reply.text);
    }

    async fn message(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/messages/{id}")).await.expect(200)
    }
}

fn sign(body: &str) -> String {
    sha256_header(APP_SECRET.as_bytes(), body.as_bytes())
}

/// A `messages` change for the Meta sender (number id `1142`, account `WABA`).
pub(crate) fn meta_body(value: Value) -> String {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "593995683452", "phone_number_id": PHONE_NUMBER_ID});
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": WABA, "changes": [{"value": value, "field": "messages"}]}]})
    .to_string()
}

fn status(provider_id: &str, status: &str, at: i64) -> Value {
    json!({"id": provider_id, "status": status, "timestamp": at.to_string(), "recipient_id": "584121001001",
           "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing", "type": "regular"}})
}

fn statuses(list: &[Value]) -> String {
    meta_body(json!({"statuses": list}))
}

fn inbound(from_phone: &str, id: &str, text: &str) -> String {
    meta_body(json!({
        "contacts": [{"profile": {"name": "Cliente"}, "wa_id": digits(from_phone)}],
        "messages": [{"from": digits(from_phone), "id": id, "timestamp": T1.to_string(),
                      "text": {"body": text}, "type": "text"}]
    }))
}

/// An account-level change (`phone_number_quality_update`, `account_update`).
fn account_body(field: &str, value: Value) -> String {
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": WABA, "time": T1, "changes": [{"value": value, "field": field}]}]})
    .to_string()
}

/// What pregon sent to the fake Cloud API, in order.
async fn meta_sent(server: &MockServer) -> Vec<Value> {
    let requests = server.received_requests().await.expect("request recording is on");
    requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| r.body_json::<Value>().expect("a JSON body"))
        .collect()
}

/// An app with a Meta sender and a completed campaign of `n` contacts through it.
async fn sent_campaign(n: usize) -> (TestApp, MockServer, String, Vec<Value>) {
    let app = app().await;
    let server = crate::helpers::meta_accepting(WABA).await;
    let sender = app.signed_meta_sender(&server, 1000.0).await;
    let template = app.template().await;
    let c = app
        .create_campaign(json!({"name": "c", "sender_id": sender, "template_id": template,
                                "contacts": contacts(&phones(n))}))
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    app.wait_status(&id, "completed").await;
    let messages = app.messages(&id, None).await;
    assert!(messages.iter().all(|m| m["status"] == "sent"), "{messages:?}");
    (app, server, id, messages)
}

fn pid(message: &Value) -> String {
    message["provider_message_id"]
        .as_str()
        .expect("a provider id")
        .to_string()
}

fn mid(message: &Value) -> String {
    message["id"].as_str().expect("an id").to_string()
}

#[tokio::test]
async fn the_meta_handshake_answers_the_challenge_only_to_the_verify_token() {
    let app = app().await;
    let ok = app
        .call(
            Method::GET,
            &format!("/webhooks/meta?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"),
            None,
            None,
        )
        .await;
    assert_eq!((ok.status.as_u16(), ok.text.as_str()), (200, "1158201444"));
    assert!(ok.content_type().starts_with("text/plain"), "{}", ok.content_type());
    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=verify-me-123&hub.challenge=1",
        "hub.mode=subscribe&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=verify-me-123",
    ] {
        let r = app
            .call(Method::GET, &format!("/webhooks/meta?{query}"), None, None)
            .await;
        r.expect_error(403, "forbidden");
    }
    // Without a configured token, nothing passes.
    let bare = spawn_app().await;
    let r = bare
        .call(
            Method::GET,
            "/webhooks/meta?hub.mode=subscribe&hub.verify_token=&hub.challenge=1",
            None,
            None,
        )
        .await;
    r.expect_error(403, "forbidden");
}

#[tokio::test]
async fn signed_statuses_move_a_message_to_delivered_then_read_and_never_back() {
    let (app, _server, campaign, messages) = sent_campaign(2).await;
    let (m, wamid) = (mid(&messages[0]), pid(&messages[0]));

    app.meta_webhook(&statuses(&[status(&wamid, "delivered", T1)])).await;
    let after = app.message(&m).await;
    assert_eq!(after["status"], "delivered");
    assert_eq!(after["delivered_at"], "2026-01-01T00:00:00.000Z");
    let c = app.campaign(&campaign).await;
    assert_eq!((counts(&c)["sent"], counts(&c)["delivered"]), (1, 1));

    app.meta_webhook(&statuses(&[status(&wamid, "read", T1 + 60)])).await;
    let after = app.message(&m).await;
    assert_eq!(
        (after["status"].as_str(), after["read_at"].as_str()),
        (Some("read"), Some("2026-01-01T00:01:00.000Z"))
    );
    let c = app.campaign(&campaign).await;
    assert_eq!(
        (
            counts(&c)["sent"],
            counts(&c)["delivered"],
            counts(&c)["read"],
            c["total"].as_i64()
        ),
        (1, 0, 1, Some(2)),
        "a message counts once, in its current state"
    );

    // A late delivered (a redelivery, then a stray later one) changes nothing.
    app.meta_webhook(&statuses(&[status(&wamid, "delivered", T1)])).await;
    app.meta_webhook(&statuses(&[status(&wamid, "delivered", T1 + 120)]))
        .await;
    let after = app.message(&m).await;
    assert_eq!(after["status"], "read");
    assert_eq!(after["delivered_at"], "2026-01-01T00:00:00.000Z");
    let c2 = app.campaign(&campaign).await;
    assert_eq!(counts(&c2), counts(&c));

    // The history shows each provider status once, with its detail.
    let events = after["events"].as_array().unwrap();
    let names: Vec<&str> = events.iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["sent", "delivered", "read"], "{events:?}");
    let delivered = &events[1]["detail"];
    assert_eq!(
        (
            &delivered["source"],
            &delivered["provider_status"],
            &delivered["pricing"]["pricing_model"]
        ),
        (&json!("meta"), &json!("delivered"), &json!("PMP"))
    );
    assert_eq!(events[1]["at"], "2026-01-01T00:00:00.000Z");

    // A duplicate of the last one is ignored too.
    app.meta_webhook(&statuses(&[status(&wamid, "read", T1 + 60)])).await;
    assert_eq!(app.message(&m).await["events"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn statuses_arriving_out_of_order_end_at_the_highest_and_failures_keep_their_error() {
    let (app, _server, campaign, messages) = sent_campaign(3).await;
    // Read before delivered, both in one request; and a failure for another.
    let failed = json!({"id": pid(&messages[1]), "status": "failed", "timestamp": T1.to_string(),
        "errors": [{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
                    "error_data": {"details": "Message Undeliverable."}}]});
    app.meta_webhook(&statuses(&[
        status(&pid(&messages[0]), "read", T1 + 30),
        status(&pid(&messages[0]), "delivered", T1 + 10),
        failed,
    ]))
    .await;
    let m0 = app.message(&mid(&messages[0])).await;
    assert_eq!(
        (
            m0["status"].as_str(),
            m0["delivered_at"].as_str(),
            m0["read_at"].as_str()
        ),
        (
            Some("read"),
            Some("2026-01-01T00:00:10.000Z"),
            Some("2026-01-01T00:00:30.000Z")
        )
    );
    let m1 = app.message(&mid(&messages[1])).await;
    assert_eq!(
        (
            m1["status"].as_str(),
            m1["error_code"].as_str(),
            m1["error_message"].as_str()
        ),
        (Some("failed"), Some("131026"), Some("Message undeliverable"))
    );
    // A failure after delivery is history only.
    app.meta_webhook(&statuses(&[status(&pid(&messages[2]), "delivered", T1)]))
        .await;
    app.meta_webhook(&statuses(&[
        json!({"id": pid(&messages[2]), "status": "failed", "timestamp": (T1 + 5).to_string(),
        "errors": [{"code": 131049, "title": "x"}]}),
    ]))
    .await;
    let m2 = app.message(&mid(&messages[2])).await;
    assert_eq!(
        (m2["status"].as_str(), m2["error_code"].as_str()),
        (Some("delivered"), None)
    );
    let c = app.campaign(&campaign).await;
    let n = counts(&c);
    assert_eq!((n["sent"], n["delivered"], n["read"], n["failed"]), (0, 1, 1, 1));
    assert_eq!(app.messages(&campaign, Some("failed")).await.len(), 1);
}

#[tokio::test]
async fn forged_or_missing_signatures_are_refused_and_change_nothing() {
    let (app, _server, campaign, messages) = sent_campaign(1).await;
    let body = statuses(&[status(&pid(&messages[0]), "read", T1)]);
    let forged = sha256_header(b"not-the-app-secret", body.as_bytes());
    app.post_meta(&body, Some(forged))
        .await
        .expect_error(401, "invalid_signature");
    app.post_meta(&body, None).await.expect_error(401, "invalid_signature");
    // Signed, then tampered with.
    let tampered = body.replace("\"read\"", "\"delivered\"");
    app.post_meta(&tampered, Some(sign(&body)))
        .await
        .expect_error(401, "invalid_signature");
    app.post_meta(&body, Some("sha256=".into()))
        .await
        .expect_error(401, "invalid_signature");
    // About a number no sender has: refused unless a known app signed it (then ignored).
    let elsewhere = body.replace(PHONE_NUMBER_ID, "999999");
    app.post_meta(&elsewhere, Some(sha256_header(b"x", elsewhere.as_bytes())))
        .await
        .expect_error(401, "invalid_signature");
    app.meta_webhook(&elsewhere).await;
    // A stop word in a forged reply opts nobody out.
    let stop = inbound(&phones(1)[0], "wamid.forged", "STOP");
    app.post_meta(&stop, Some(sha256_header(b"x", stop.as_bytes())))
        .await
        .expect_error(401, "invalid_signature");

    let m = app.message(&mid(&messages[0])).await;
    assert_eq!(
        (m["status"].as_str(), m["events"].as_array().unwrap().len()),
        (Some("sent"), 1)
    );
    assert_eq!(counts(&app.campaign(&campaign).await)["sent"], 1);
    let opt_outs = app.get("/api/v1/opt-outs").await.expect(200);
    assert!(opt_outs["items"].as_array().unwrap().is_empty());
    // Not JSON at all: 400 in the error shape.
    app.post_meta("{nope", Some(sign("{nope")))
        .await
        .expect_error(400, "malformed_json");
}

#[tokio::test]
async fn statuses_about_unknown_messages_are_accepted_and_ignored() {
    let (app, _server, campaign, messages) = sent_campaign(1).await;
    app.meta_webhook(&statuses(&[status("wamid.never-sent-by-us", "delivered", T1)]))
        .await;
    // A body with nothing pregon acts on is fine too.
    app.meta_webhook(&meta_body(json!({"statuses": []}))).await;
    let m = app.message(&mid(&messages[0])).await;
    assert_eq!(m["status"], "sent");
    assert_eq!(counts(&app.campaign(&campaign).await)["delivered"], 0);
    // A NUL in a reply (which PostgreSQL cannot store) is dropped, not a failed batch.
    app.meta_webhook(&inbound("+593991234567", "wamid.nul", "a\u{0}b"))
        .await;
    let replies = app.get("/api/v1/replies?phone=%2B593991234567").await.expect(200);
    assert_eq!(replies["items"][0]["text"], "ab");
}

#[tokio::test]
async fn a_stop_reply_opts_the_number_out_and_the_next_campaign_skips_it() {
    let (app, server, campaign, messages) = sent_campaign(2).await;
    let phone = messages[0]["phone"].as_str().unwrap().to_string();
    app.meta_webhook(&inbound(&phone, "wamid.r1", "Hola, ¿qué es esto?"))
        .await;
    app.meta_webhook(&inbound(&phone, "wamid.r2", "  Bája ")).await;
    // Meta redelivers: stored once.
    app.meta_webhook(&inbound(&phone, "wamid.r2", "  Bája ")).await;

    let opt_outs = app.get("/api/v1/opt-outs").await.expect(200);
    let items = opt_outs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{opt_outs}");
    assert_eq!(
        (items[0]["phone"].as_str(), items[0]["source"].as_str()),
        (Some(phone.as_str()), Some("reply"))
    );

    let replies = app
        .get(&format!("/api/v1/replies?phone={}", phone.replace('+', "%2B")))
        .await
        .expect(200);
    let list = replies["items"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{replies}");
    assert_eq!(
        (
            list[0]["text"].as_str(),
            list[0]["opted_out"].as_bool(),
            list[0]["type"].as_str()
        ),
        (Some("  Bája "), Some(true), Some("text"))
    );
    assert_eq!(
        (list[1]["opted_out"].as_bool(), list[1]["campaign_id"].as_str()),
        (Some(false), Some(campaign.as_str()))
    );
    let by_campaign = app
        .get(&format!("/api/v1/campaigns/{campaign}/replies?limit=1"))
        .await
        .expect(200);
    assert_eq!(by_campaign["items"][0]["provider_message_id"], "wamid.r2");
    let next = by_campaign["next_cursor"].as_str().expect("a second page");
    let page2 = app
        .get(&format!("/api/v1/campaigns/{campaign}/replies?limit=1&cursor={next}"))
        .await
        .expect(200);
    assert_eq!(page2["items"][0]["provider_message_id"], "wamid.r1");
    // Tenant-scoped.
    let other = app
        .call(Method::GET, "/api/v1/replies", Some(OTHER_KEY), None)
        .await
        .expect(200);
    assert!(other["items"].as_array().unwrap().is_empty());
    app.call(
        Method::GET,
        &format!("/api/v1/campaigns/{campaign}/replies"),
        Some(OTHER_KEY),
        None,
    )
    .await
    .expect_error(404, "not_found");
    app.get("/api/v1/replies?phone=abc")
        .await
        .expect_error(422, "invalid_phone");

    // The next campaign to the same contacts skips the number that said BAJA.
    let sender = app.get(&format!("/api/v1/campaigns/{campaign}")).await.expect(200)["sender_id"].clone();
    let template = app.get(&format!("/api/v1/campaigns/{campaign}")).await.expect(200)["template_id"].clone();
    let before = meta_sent(&server).await.len();
    let again = app
        .create_campaign(json!({"name": "c2", "sender_id": sender, "template_id": template,
                                "contacts": contacts(&phones(2))}))
        .await;
    assert_eq!(again["import"]["skipped"]["opted_out"], 1, "{again}");
    let id = again["id"].as_str().unwrap();
    app.wait_status(id, "completed").await;
    let sent_now: Vec<Value> = meta_sent(&server).await.split_off(before);
    assert_eq!(sent_now.len(), 1);
    assert_ne!(sent_now[0]["to"], digits(&phone));
}

#[tokio::test]
async fn quality_and_account_updates_change_the_sender() {
    let app = app().await;
    let server = crate::helpers::meta_accepting(WABA).await;
    // Slow enough that the campaign is still running when the account is disabled.
    let sender = app.signed_meta_sender(&server, 1.0).await;
    let template = app.template().await;
    let c = app
        .create_campaign(json!({"name": "slow", "sender_id": sender, "template_id": template,
                                "contacts": contacts(&phones(30))}))
        .await;
    let campaign = c["id"].as_str().unwrap().to_string();

    app.meta_webhook(&account_body(
        "phone_number_quality_update",
        json!({"display_phone_number": "593995683452", "event": "FLAGGED", "current_limit": "TIER_10K"}),
    ))
    .await;
    let s = app.get(&format!("/api/v1/senders/{sender}")).await.expect(200);
    assert_eq!(
        (s["quality_rating"].as_str(), s["status"].as_str()),
        (Some("RED"), Some("active"))
    );
    assert_eq!(s["daily_limit"], 10_000, "the sender follows the messaging tier: {s}");

    app.meta_webhook(&account_body(
        "account_update",
        json!({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "January 1, 2026"}}),
    ))
    .await;
    let s = app.get(&format!("/api/v1/senders/{sender}")).await.expect(200);
    assert_eq!(s["status"], "suspended");
    // Its campaigns wait for it, in the same transaction as the suspension.
    let paused = app.wait_status(&campaign, "paused").await;
    assert_eq!(paused["paused_reason"], "sender_paused", "{paused}");
    assert_eq!(paused["paused_detail"], "the sender is suspended", "{paused}");

    app.meta_webhook(&account_body(
        "account_update",
        json!({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE"}}),
    ))
    .await;
    app.meta_webhook(&account_body(
        "phone_number_quality_update",
        json!({"display_phone_number": "593995683452", "event": "UPGRADE", "current_limit": "TIER_100K"}),
    ))
    .await;
    let s = app.get(&format!("/api/v1/senders/{sender}")).await.expect(200);
    assert_eq!(
        (s["quality_rating"].as_str(), s["status"].as_str()),
        (Some("GREEN"), Some("active"))
    );
    assert_eq!(s["daily_limit"], 100_000);
    // Reinstated: the campaign resumes by itself.
    let resumed = app.campaign(&campaign).await;
    assert_eq!(
        (resumed["status"].as_str(), &resumed["paused_reason"]),
        (Some("running"), &Value::Null),
        "{resumed}"
    );
    // Another number's update, and a forged one, leave it alone.
    app.meta_webhook(&account_body(
        "phone_number_quality_update",
        json!({"display_phone_number": "15550783881", "event": "FLAGGED"}),
    ))
    .await;
    let forged = account_body("account_update", json!({"event": "ACCOUNT_DELETED"}));
    app.post_meta(&forged, Some(sha256_header(b"x", forged.as_bytes())))
        .await
        .expect_error(401, "invalid_signature");
    let s = app.get(&format!("/api/v1/senders/{sender}")).await.expect(200);
    assert_eq!(
        (s["quality_rating"].as_str(), s["status"].as_str()),
        (Some("GREEN"), Some("active"))
    );
}

// --- Twilio -------------------------------------------------------------------------

const ACCOUNT_SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const AUTH_TOKEN: &str = "twilio-auth-token";
const TWILIO_FROM: &str = "+14155238886";

/// A Twilio API accepting every message with sid `SM<recipient digits, padded>`.
async fn twilio_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{ACCOUNT_SID}.json")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sid": ACCOUNT_SID, "status": "active"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")))
        .respond_with(|r: &Request| {
            let to: String = form_urlencoded::parse(&r.body)
                .find(|(k, _)| k == "To")
                .map(|(_, v)| digits(&v))
                .unwrap_or_default();
            ResponseTemplate::new(201)
                .set_body_json(json!({"sid": format!("SM{to:0>32}"), "status": "queued", "account_sid": ACCOUNT_SID}))
        })
        .mount(&server)
        .await;
    server
}

/// An app (behind a proxy at `public_url`, when given) with a Twilio sender and a completed
/// campaign of `n` contacts through it.
async fn twilio_campaign(public_url: Option<&str>, n: usize) -> (TestApp, MockServer, String, Vec<Value>) {
    let public_url = public_url.map(str::to_string);
    let app = spawn_app_with(|c| c.reports.public_url = public_url).await;
    let server = twilio_server().await;
    let s = app
        .create_sender(
            json!({"name": "Twilio", "provider": "twilio", "phone_number": TWILIO_FROM,
            "credentials": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
            "base_url": server.uri(), "messages_per_second": 1000}),
        )
        .await;
    assert_eq!(s["provider_account"], ACCOUNT_SID);
    let template = app.template().await;
    let c = app
        .create_campaign(json!({"name": "t", "sender_id": s["id"], "template_id": template,
                                "contacts": contacts(&phones(n))}))
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    app.wait_status(&id, "completed").await;
    let messages = app.messages(&id, None).await;
    assert!(messages.iter().all(|m| m["status"] == "sent"), "{messages:?}");
    (app, server, id, messages)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn status_callback(sid: &str, to: &str, status: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p = pairs(&[
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("ChannelPrefix", "whatsapp"),
        ("From", &format!("whatsapp:{TWILIO_FROM}")),
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("To", &format!("whatsapp:{to}")),
    ]);
    p.extend(pairs(extra));
    p
}

impl Reply {
    /// Asserts Twilio's answer: 200 with an empty TwiML `<Response/>`.
    fn expect_twiml(&self) {
        assert_eq!(self.status.as_u16(), 200, "webhook refused: {}", self.text);
        assert!(self.content_type().starts_with("text/xml"), "{}", self.content_type());
        assert!(self.text.contains("<Response/>"), "{}", self.text);
    }
}

impl TestApp {
    /// POSTs Twilio form fields signed for `signed_url` with `token` (unsigned when `None`).
    async fn post_twilio(&self, params: &[(String, String)], signed_url: &str, token: Option<&str>) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .finish();
        let mut request = self
            .client
            .post(self.url("/webhooks/twilio"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(token) = token {
            request = request.header("x-twilio-signature", twilio_signature(token, signed_url, params));
        }
        self.send(request).await
    }
}

#[tokio::test]
async fn twilio_status_callbacks_update_messages_behind_a_proxy() {
    let public = "https://pregon.example.com";
    let (app, _server, campaign, messages) = twilio_campaign(Some(public), 2).await;
    let url = format!("{public}/webhooks/twilio");
    let (sid, to) = (pid(&messages[0]), messages[0]["phone"].as_str().unwrap().to_string());
    assert!(sid.starts_with("SM"));

    app.post_twilio(&status_callback(&sid, &to, "delivered", &[]), &url, Some(AUTH_TOKEN))
        .await
        .expect_twiml();
    assert_eq!(app.message(&mid(&messages[0])).await["status"], "delivered");

    let read = status_callback(&sid, &to, "read", &[("EventType", "READ")]);
    app.post_twilio(&read, &url, Some(AUTH_TOKEN)).await.expect_twiml();
    // Late and lower: nothing changes.
    app.post_twilio(&status_callback(&sid, &to, "sent", &[]), &url, Some(AUTH_TOKEN))
        .await
        .expect_twiml();
    let undelivered = status_callback(&sid, &to, "undelivered", &[("ErrorCode", "63016")]);
    app.post_twilio(&undelivered, &url, Some(AUTH_TOKEN))
        .await
        .expect_twiml();
    let m = app.message(&mid(&messages[0])).await;
    assert_eq!(m["status"], "read");
    let names: Vec<&str> = m["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["sent", "delivered", "read", "sent", "failed"]);

    // The other one fails, with Twilio's code.
    let (sid1, to1) = (pid(&messages[1]), messages[1]["phone"].as_str().unwrap().to_string());
    let failed = status_callback(&sid1, &to1, "failed", &[("ErrorCode", "63024")]);
    app.post_twilio(&failed, &url, Some(AUTH_TOKEN)).await.expect_twiml();
    let m1 = app.message(&mid(&messages[1])).await;
    assert_eq!(
        (m1["status"].as_str(), m1["error_code"].as_str()),
        (Some("failed"), Some("63024"))
    );
    let n = counts(&app.campaign(&campaign).await);
    assert_eq!((n["sent"], n["read"], n["failed"]), (0, 1, 1));

    // Forged, unsigned, signed for another URL, or for another account: 401, nothing changes.
    let delivered1 = status_callback(&sid1, &to1, "delivered", &[]);
    app.post_twilio(&delivered1, &url, Some("wrong-token"))
        .await
        .expect_error(401, "invalid_signature");
    app.post_twilio(&delivered1, &url, None)
        .await
        .expect_error(401, "invalid_signature");
    app.post_twilio(&delivered1, &app.url("/webhooks/twilio"), Some(AUTH_TOKEN))
        .await
        .expect_error(401, "invalid_signature");
    let mut other_account = delivered1.clone();
    other_account[0].1 = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".into();
    app.post_twilio(&other_account, &url, Some(AUTH_TOKEN))
        .await
        .expect_error(401, "invalid_signature");
    assert_eq!(app.message(&mid(&messages[1])).await["status"], "failed");
    // An unknown MessageSid is accepted and ignored.
    let unknown = status_callback("SMffffffffffffffffffffffffffffffff", &to1, "delivered", &[]);
    app.post_twilio(&unknown, &url, Some(AUTH_TOKEN)).await.expect_twiml();
}

#[tokio::test]
async fn twilio_incoming_stop_opts_out_with_the_url_from_the_host_header() {
    let (app, _server, campaign, messages) = twilio_campaign(None, 1).await;
    // No public URL: the signed URL is rebuilt as http:// + Host + path (+ query).
    let url = app.url("/webhooks/twilio?src=wa");
    let phone = messages[0]["phone"].as_str().unwrap().to_string();
    let params = pairs(&[
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("Body", "Stop"),
        ("From", &format!("whatsapp:{phone}")),
        ("MessageSid", "SMcccccccccccccccccccccccccccccccc"),
        ("NumMedia", "0"),
        ("ProfileName", "Cliente"),
        ("SmsMessageSid", "SMcccccccccccccccccccccccccccccccc"),
        ("SmsStatus", "received"),
        ("To", &format!("whatsapp:{TWILIO_FROM}")),
        ("WaId", &digits(&phone)),
    ]);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish();
    let reply = app
        .send(
            app.client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-twilio-signature", twilio_signature(AUTH_TOKEN, &url, &params))
                .body(body),
        )
        .await;
    reply.expect_twiml();
    let opt_outs = app.get("/api/v1/opt-outs").await.expect(200);
    assert_eq!(opt_outs["items"][0]["phone"], phone.as_str());
    assert_eq!(opt_outs["items"][0]["source"], "reply");
    let replies = app
        .get(&format!("/api/v1/campaigns/{campaign}/replies"))
        .await
        .expect(200);
    assert_eq!(replies["items"][0]["text"], "Stop");
    assert_eq!(replies["items"][0]["opted_out"], true);
}

#[tokio::test]
async fn webhook_routes_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.expect(200);
    for route in [
        "/webhooks/meta",
        "/webhooks/twilio",
        "/api/v1/replies",
        "/api/v1/campaigns/{id}/replies",
    ] {
        assert!(doc["paths"][route].is_object(), "{route} is not documented");
    }
}

#[tokio::test]
async fn template_status_updates_pause_resume_and_end_that_templates_campaigns() {
    let app = app().await;
    let server = crate::helpers::meta_accepting(WABA).await;
    // Slow enough that the campaigns are still going when the updates arrive.
    let sender = app.signed_meta_sender(&server, 1.0).await;
    let template = app.template().await;
    let other = app
        .create_template(json!({"name": "otra", "language": "es", "body": "Hola {{nombre}} {{monto}}"}))
        .await;
    let c = app
        .create_campaign(json!({"name": "slow", "sender_id": sender, "template_id": template,
                                "contacts": contacts(&phones(30))}))
        .await;
    let mine = c["id"].as_str().unwrap().to_string();
    // Another template's campaign, on the tenant's sandbox sender.
    let c = app
        .create_campaign(json!({"name": "otra", "template_id": other["id"], "contacts": contacts(&phones(30))}))
        .await;
    let untouched = c["id"].as_str().unwrap().to_string();
    let going = |c: Value| ["running", "completed"].contains(&c["status"].as_str().unwrap_or_default());
    let update = |event: &str| {
        account_body(
            "message_template_status_update",
            json!({"event": event, "message_template_id": 594425479261596_i64,
                   "message_template_name": "saldo", "message_template_language": "es",
                   "reason": "NONE",
                   "other_info": {"title": "FIRST_PAUSE", "description": "Your template has been paused for 3 hours"}}),
        )
    };

    app.meta_webhook(&update("PAUSED")).await;
    let c = app.campaign(&mine).await;
    assert_eq!(
        (&c["status"], &c["paused_reason"]),
        (&json!("paused"), &json!("template_paused")),
        "{c}"
    );
    assert!(
        going(app.campaign(&untouched).await),
        "another template's campaign goes on"
    );
    let t = app.get(&format!("/api/v1/templates/{template}")).await.expect(200);
    assert_eq!(t["status"], "paused", "{t}");
    // A forged update changes nothing.
    let forged = app.post_meta(&update("DISABLED"), Some(sign("something else"))).await;
    assert_eq!(forged.status.as_u16(), 401);
    assert_eq!(app.campaign(&mine).await["status"], "paused");

    app.meta_webhook(&update("APPROVED")).await;
    assert_eq!(
        app.campaign(&mine).await["status"],
        "running",
        "resumed: exactly what the pause paused"
    );

    app.meta_webhook(&update("DISABLED")).await;
    let c = app.campaign(&mine).await;
    assert_eq!(
        (&c["status"], &c["failure_reason"]),
        (&json!("failed"), &json!("template_disabled")),
        "{c}"
    );
    assert_eq!(c["counts"]["queued"], 0, "{c}");
    assert!(going(app.campaign(&untouched).await));
    let t = app.get(&format!("/api/v1/templates/{template}")).await.expect(200);
    assert_eq!(t["status"], "disabled");
}

#[tokio::test]
async fn a_user_who_stops_marketing_is_opted_out_of_marketing_and_resuming_lifts_only_that() {
    let app = app().await;
    let server = crate::helpers::meta_accepting(WABA).await;
    app.signed_meta_sender(&server, 10.0).await;
    let preference = |wa_id: &str, value: &str| {
        account_body(
            "user_preferences",
            json!({"messaging_product": "whatsapp",
                   "metadata": {"display_phone_number": "593995683452", "phone_number_id": PHONE_NUMBER_ID},
                   "contacts": [{"wa_id": wa_id, "profile": {"name": "Ana"}}],
                   "user_preferences": [{"wa_id": wa_id, "detail": "User requested to stop marketing messages",
                                         "category": "marketing_messages", "value": value, "timestamp": T1}]}),
        )
    };
    app.meta_webhook(&preference("584121234567", "stop")).await;
    let listed = app.get("/api/v1/opt-outs").await.expect(200);
    let o = &listed["items"][0];
    assert_eq!(
        (&o["phone"], &o["scope"], &o["source"]),
        (&json!("+584121234567"), &json!("marketing"), &json!("provider")),
        "{listed}"
    );
    // Someone opted out of everything by hand keeps it whatever their marketing preference.
    app.post(
        "/api/v1/opt-outs",
        &json!({"phone": "+584129999999", "reason": "pidió no recibir nada"}),
    )
    .await
    .expect(201);
    app.meta_webhook(&preference("584129999999", "resume")).await;
    app.meta_webhook(&preference("584121234567", "resume")).await;
    let listed = app.get("/api/v1/opt-outs").await.expect(200);
    let phones: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["phone"].as_str().unwrap())
        .collect();
    assert_eq!(phones, ["+584129999999"], "{listed}");
    // Unsigned, it changes nothing.
    let forged = app.post_meta(&preference("584121234567", "stop"), None).await;
    assert_eq!(forged.status.as_u16(), 401);
    assert_eq!(
        app.get("/api/v1/opt-outs").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
