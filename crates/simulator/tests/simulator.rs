//! The simulator in-process on port 0, driven over HTTP with reqwest; status webhooks land
//! on wiremock receivers and their signatures are checked with pregon's own verifiers.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::future::join_all;
use pregon_providers::signature::{verify_sha256_header, verify_twilio};
use pregon_simulator::{Config, Latency, Simulator, Stats, WebhookConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "EAAG-simulated";
const PHONE_ID: &str = "1142";
const APP_SECRET: &str = "test_app_secret";
const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const AUTH_TOKEN: &str = "twilio-auth-token";
const FROM: &str = "whatsapp:+14155238886";

/// Port 0, no latency, default limits (80 msg/s, 6 s pair gap), no webhooks.
fn config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        latency: Latency::fixed(Duration::ZERO),
        ..Config::default()
    }
}

/// Webhooks after 10 ms steps, every message delivered and read.
fn fast_webhooks() -> WebhookConfig {
    WebhookConfig {
        sent_delay: Duration::from_millis(10),
        delivered_delay: Duration::from_millis(10),
        read_delay: Duration::from_millis(10),
        delivered_fraction: 1.0,
        read_fraction: 1.0,
        ..WebhookConfig::default()
    }
}

struct Sim {
    base: String,
    http: reqwest::Client,
    sim: Simulator,
}

async fn start(config: Config) -> Sim {
    let (addr, sim) = Simulator::start(config).await.expect("the simulator starts");
    Sim {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        sim,
    }
}

fn template(to: &str) -> Value {
    json!({"messaging_product":"whatsapp","recipient_type":"individual","to":to,"type":"template",
        "template":{"name":"promo_fibra_visual","language":{"code":"es"},
          "components":[{"type":"body","parameters":[{"type":"text","text":"Juan"},{"type":"text","text":"25 USD"}]}]},
        "biz_opaque_callback_data":"msg_77"})
}

impl Sim {
    async fn meta_as(&self, token: Option<&str>, phone_id: &str, body: &Value) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(format!("{}/v21.0/{phone_id}/messages", self.base))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn meta(&self, body: &Value) -> (StatusCode, Value) {
        self.meta_as(Some(TOKEN), PHONE_ID, body).await
    }

    async fn meta_get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn twilio_as(&self, password: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/2010-04-01/Accounts/{ACCOUNT}/Messages.json", self.base))
            .basic_auth(ACCOUNT, Some(password))
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn twilio(&self, from: &str, to: &str, body: &str) -> (StatusCode, Value) {
        self.twilio_as(AUTH_TOKEN, &[("From", from), ("To", to), ("Body", body)])
            .await
    }

    async fn stats(&self) -> Stats {
        self.http
            .get(format!("{}/stats", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn meta_code(body: &Value) -> i64 {
    body["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not a Meta error: {body}"))
}

/// Waits until the receiver has `n` requests (5 s at most) and returns them.
async fn received(server: &MockServer, n: usize) -> Vec<Request> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let requests = server.received_requests().await.unwrap();
        if requests.len() >= n || Instant::now() > deadline {
            return requests;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the stats satisfy `done` (5 s at most) and returns them.
async fn stats_when(sim: &Sim, done: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = sim.stats().await;
        if done(&stats) || Instant::now() > deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

fn form_of(request: &Request) -> Vec<(String, String)> {
    let body = String::from_utf8(request.body.clone()).unwrap();
    reqwest::Url::parse(&format!("http://form/?{body}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn value<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn meta_accepts_a_template_with_the_documented_answer() {
    let sim = start(config()).await;
    let (status, body) = sim.meta(&template("16505551234")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(
        body["contacts"],
        json!([{"input": "16505551234", "wa_id": "16505551234"}])
    );
    let id = body["messages"][0]["id"].as_str().unwrap();
    assert!(id.starts_with("wamid."), "{id}");
    assert_eq!(body["messages"][0]["message_status"], "accepted");

    // A leading + is tolerated; wa_id is digits. Ids are unique.
    let (status, other) = sim.meta(&template("+584121234567")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        other["contacts"][0],
        json!({"input": "+584121234567", "wa_id": "584121234567"})
    );
    assert_ne!(other["messages"][0]["id"], body["messages"][0]["id"]);

    let stats = sim.stats().await;
    assert_eq!((stats.requests, stats.accepted, stats.rejected.total), (2, 2, 0));
}

#[tokio::test]
async fn meta_checks_the_bearer_token() {
    let sim = start(Config {
        bad_tokens: ["expired".to_string()].into(),
        ..config()
    })
    .await;
    let (status, body) = sim.meta_as(None, PHONE_ID, &template("16505551234")).await;
    assert_eq!((status, meta_code(&body)), (StatusCode::UNAUTHORIZED, 190));
    assert_eq!(body["error"]["type"], "OAuthException");
    let (status, body) = sim.meta_as(Some("expired"), PHONE_ID, &template("16505551234")).await;
    assert_eq!((status, meta_code(&body)), (StatusCode::UNAUTHORIZED, 190));

    // The credentials check.
    let (status, body) = sim.meta_get("/v21.0/1142", TOKEN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], "1142");
    let (status, body) = sim.meta_get("/v21.0/1142", "expired").await;
    assert_eq!((status, meta_code(&body)), (StatusCode::UNAUTHORIZED, 190));

    let stats = sim.stats().await;
    assert_eq!(stats.rejected.by_code["190"], 2);
    assert_eq!(stats.lookups, 2);

    // With --access-tokens, only those pass.
    let sim = start(Config {
        access_tokens: ["good".to_string()].into(),
        ..config()
    })
    .await;
    let (status, _) = sim.meta_as(Some("good"), PHONE_ID, &template("16505551234")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = sim.meta_as(Some("other"), PHONE_ID, &template("16505551235")).await;
    assert_eq!((status, meta_code(&body)), (StatusCode::UNAUTHORIZED, 190));
}

#[tokio::test]
async fn meta_templates_are_approved_unless_listed() {
    let sim = start(Config {
        unapproved_templates: ["promo_fibra_visual".to_string()].into(),
        ..config()
    })
    .await;
    let (status, body) = sim
        .meta_get("/v21.0/100000000000001/message_templates?name=bienvenida", TOKEN)
        .await;
    assert_eq!(status, StatusCode::OK);
    let data = body["data"].as_array().unwrap();
    assert!(data
        .iter()
        .all(|t| t["name"] == "bienvenida" && t["status"] == "APPROVED"));
    assert!(data.iter().any(|t| t["language"] == "es"), "every language");
    let (_, body) = sim
        .meta_get(
            "/v21.0/100000000000001/message_templates?name=bienvenida&language=es_MX",
            TOKEN,
        )
        .await;
    assert_eq!(body["data"][0]["language"], "es_MX");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let (_, body) = sim
        .meta_get(
            "/v21.0/100000000000001/message_templates?name=promo_fibra_visual",
            TOKEN,
        )
        .await;
    assert_eq!(body["data"][0]["status"], "REJECTED");
    let (status, body) = sim.meta(&template("16505551234")).await;
    assert_eq!((status, meta_code(&body)), (StatusCode::NOT_FOUND, 132001));
}

#[tokio::test]
async fn meta_rejects_malformed_messages() {
    let sim = start(config()).await;
    let mut missing = template("16505551234");
    missing["template"].as_object_mut().unwrap().remove("name");
    let (status, body) = sim.meta(&missing).await;
    assert_eq!((status, meta_code(&body)), (StatusCode::BAD_REQUEST, 131008));
    assert!(body["error"]["error_data"]["details"]
        .as_str()
        .unwrap()
        .contains("template.name"));

    let mut bad = template("16505551234");
    bad["messaging_product"] = json!("sms");
    assert_eq!(meta_code(&sim.meta(&bad).await.1), 100);
    let mut bad = template("16505551234");
    bad["to"] = json!("(650) 555-1234");
    assert_eq!(meta_code(&sim.meta(&bad).await.1), 100);
    let text = json!({"messaging_product":"whatsapp","to":"16505551234","type":"text","text":{"body":"hi"}});
    assert_eq!(meta_code(&sim.meta(&text).await.1), 131047);

    let stats = sim.stats().await;
    assert_eq!((stats.requests, stats.accepted), (4, 0));
    assert_eq!(stats.rejected.by_code["100"], 2);
}

#[tokio::test]
async fn sending_faster_than_mps_is_throttled_and_the_peak_reported() {
    let sim = start(Config {
        mps: 5,
        pair_gap: Duration::ZERO,
        ..config()
    })
    .await;
    let bodies: Vec<Value> = (0..20).map(|i| template(&format!("1650555{i:04}"))).collect();
    let answers = join_all(bodies.iter().map(|b| sim.meta(b))).await;
    let accepted = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let throttled: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s != StatusCode::OK)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(accepted, 5, "20 sends within a second, 5 allowed");
    assert!(throttled.iter().all(|b| meta_code(b) == 130429), "{throttled:?}");

    // Another sender number has its own budget.
    let (status, _) = sim.meta_as(Some(TOKEN), "2222", &template("16505559999")).await;
    assert_eq!(status, StatusCode::OK);

    let stats = sim.stats().await;
    assert_eq!(stats.rejected.by_code["130429"], 15);
    assert_eq!(stats.peak_rate_per_second.by_sender[PHONE_ID], 20);
    assert_eq!(stats.peak_rate_per_second.by_sender["2222"], 1);
    assert_eq!(stats.peak_rate_per_second.overall, 21);
    assert_eq!(stats.peak_accepted_rate_per_second.by_sender[PHONE_ID], 5);

    // Twilio: the same budget per From, answered 63018.
    let sends = (0..8).map(|i| format!("whatsapp:+1650555{i:04}")).collect::<Vec<_>>();
    let answers = join_all(sends.iter().map(|to| sim.twilio(FROM, to, "hola"))).await;
    let codes: Vec<Option<i64>> = answers.iter().map(|(_, b)| b["code"].as_i64()).collect();
    assert_eq!(codes.iter().filter(|c| c.is_none()).count(), 5, "{codes:?}");
    assert!(answers
        .iter()
        .filter(|(s, _)| *s != StatusCode::CREATED)
        .all(|(s, b)| *s == StatusCode::TOO_MANY_REQUESTS && b["code"] == 63018));

    // Still within the second (half of it skipped): no budget left.
    sim.sim.skip_ahead(Duration::from_millis(500));
    assert_eq!(meta_code(&sim.meta(&template("16505558888")).await.1), 130429);
    // The next second has a fresh budget.
    sim.sim.skip_ahead(Duration::from_millis(550));
    assert_eq!(sim.meta(&template("16505558888")).await.0, StatusCode::OK);

    // --mps-burst lets a second hold a few more.
    let sim = start(Config {
        mps: 5,
        mps_burst: 2,
        pair_gap: Duration::ZERO,
        ..config()
    })
    .await;
    let answers = join_all(bodies.iter().map(|b| sim.meta(b))).await;
    assert_eq!(answers.iter().filter(|(s, _)| *s == StatusCode::OK).count(), 7);
}

#[tokio::test]
async fn a_second_message_to_the_same_recipient_within_the_gap_hits_the_pair_rate() {
    let sim = start(config()).await;
    assert_eq!(sim.meta(&template("16505551234")).await.0, StatusCode::OK);
    let (status, body) = sim.meta(&template("16505551234")).await;
    assert_eq!((status, meta_code(&body)), (StatusCode::BAD_REQUEST, 131056));
    // Another recipient, or another sender number, is fine.
    assert_eq!(sim.meta(&template("16505550000")).await.0, StatusCode::OK);
    assert_eq!(
        sim.meta_as(Some(TOKEN), "2222", &template("16505551234")).await.0,
        StatusCode::OK
    );

    let to = "whatsapp:+16505551234";
    assert_eq!(sim.twilio(FROM, to, "uno").await.0, StatusCode::CREATED);
    let (status, body) = sim.twilio(FROM, to, "dos").await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (StatusCode::TOO_MANY_REQUESTS, Some(63018))
    );

    // The same pair is allowed again once the gap has passed (skipped, not slept through).
    let sim = start(Config {
        pair_gap: Duration::from_secs(10),
        ..config()
    })
    .await;
    assert_eq!(sim.meta(&template("16505551234")).await.0, StatusCode::OK);
    assert_eq!(meta_code(&sim.meta(&template("16505551234")).await.1), 131056);
    sim.sim.skip_ahead(Duration::from_secs(5));
    assert_eq!(
        meta_code(&sim.meta(&template("16505551234")).await.1),
        131056,
        "within the gap"
    );
    sim.sim.skip_ahead(Duration::from_secs(5));
    assert_eq!(sim.meta(&template("16505551234")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn chosen_numbers_fail_permanently_on_the_send() {
    let sim = start(Config {
        fail_numbers: ["+584121234567".to_string()].into(),
        ..config()
    })
    .await;
    let (status, body) = sim.meta(&template("584121234567")).await;
    assert_eq!((status, meta_code(&body)), (StatusCode::BAD_REQUEST, 131026));
    let (status, body) = sim.twilio(FROM, "whatsapp:+584121234567", "hola").await;
    assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(21211)));
    assert_eq!(body["more_info"], "https://www.twilio.com/docs/errors/21211");
    assert_eq!(body["status"], 400);
    assert_eq!(sim.meta(&template("584121234568")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn meta_status_webhooks_are_signed_and_shaped_as_meta_sends_them() {
    let receiver = receiver().await;
    let sim = start(Config {
        waba_id: "102290129340398".into(),
        display_phone_number: "15550783881".into(),
        webhooks: WebhookConfig {
            meta_url: Some(format!("{}/webhooks/meta", receiver.uri())),
            app_secret: Some(APP_SECRET.into()),
            ..fast_webhooks()
        },
        ..config()
    })
    .await;
    let (_, body) = sim.meta(&template("16505551234")).await;
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_string();

    let requests = received(&receiver, 3).await;
    assert_eq!(requests.len(), 3);
    let mut statuses = Vec::new();
    for request in &requests {
        assert_eq!(request.url.path(), "/webhooks/meta");
        let signature = request.headers.get("x-hub-signature-256").unwrap().to_str().unwrap();
        assert!(verify_sha256_header(APP_SECRET.as_bytes(), &request.body, signature));
        assert!(!verify_sha256_header(b"another secret", &request.body, signature));
        let event: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(event["object"], "whatsapp_business_account");
        let entry = &event["entry"][0];
        assert_eq!(entry["id"], "102290129340398");
        let change = &entry["changes"][0];
        assert_eq!(change["field"], "messages");
        assert_eq!(change["value"]["messaging_product"], "whatsapp");
        assert_eq!(
            change["value"]["metadata"],
            json!({"display_phone_number": "15550783881", "phone_number_id": PHONE_ID})
        );
        let status = &change["value"]["statuses"][0];
        assert_eq!(status["id"], wamid.as_str());
        assert_eq!(status["recipient_id"], "16505551234");
        assert_eq!(status["biz_opaque_callback_data"], "msg_77");
        assert!(status["timestamp"].as_str().unwrap().parse::<u64>().unwrap() > 1_700_000_000);
        assert_eq!(status["pricing"]["pricing_model"], "PMP");
        assert!(status.get("errors").is_none());
        statuses.push(status["status"].as_str().unwrap().to_string());
    }
    assert_eq!(statuses, ["sent", "delivered", "read"]);
    let stats = stats_when(&sim, |s| s.webhooks_sent == 3).await;
    assert_eq!((stats.webhooks_sent, stats.webhooks_failed), (3, 0));
}

#[tokio::test]
async fn chosen_numbers_can_fail_later_through_a_failed_webhook() {
    let receiver = receiver().await;
    let sim = start(Config {
        fail_numbers: ["+584121234567".to_string()].into(),
        fail_async: true,
        webhooks: WebhookConfig {
            meta_url: Some(format!("{}/webhooks/meta", receiver.uri())),
            app_secret: Some(APP_SECRET.into()),
            ..fast_webhooks()
        },
        ..config()
    })
    .await;
    let (status, _) = sim.meta(&template("584121234567")).await;
    assert_eq!(status, StatusCode::OK, "accepted first");
    let requests = received(&receiver, 1).await;
    let event: Value = serde_json::from_slice(&requests[0].body).unwrap();
    let status = &event["entry"][0]["changes"][0]["value"]["statuses"][0];
    assert_eq!(status["status"], "failed");
    assert_eq!(status["errors"][0]["code"], 131026);
    assert!(status["errors"][0]["title"].is_string());
    assert!(status["errors"][0]["error_data"]["details"].is_string());
    // Nothing follows a failure: once nothing is planned any more, it was the only one.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.sim.webhooks_pending() > 0 {
        assert!(Instant::now() < deadline, "webhooks still planned");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn twilio_takes_a_form_and_signs_its_status_callbacks() {
    let receiver = receiver().await;
    let callback = format!("{}/webhooks/twilio", receiver.uri());
    let sim = start(Config {
        auth_token: Some(AUTH_TOKEN.into()),
        webhooks: WebhookConfig {
            twilio_url: Some(callback.clone()),
            ..fast_webhooks()
        },
        ..config()
    })
    .await;

    let (status, body) = sim
        .twilio_as(
            AUTH_TOKEN,
            &[
                ("From", FROM),
                ("To", "whatsapp:+14155550100"),
                ("ContentSid", "HXaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                ("ContentVariables", r#"{"1":"Asha","2":"ORD-9271"}"#),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sid = body["sid"].as_str().unwrap().to_string();
    assert!(
        sid.len() == 34 && sid.starts_with("SM") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{sid}"
    );
    assert_eq!(body["status"], "queued");
    assert_eq!(body["account_sid"], ACCOUNT);
    assert_eq!(
        (body["from"].as_str(), body["to"].as_str()),
        (Some(FROM), Some("whatsapp:+14155550100"))
    );
    assert!(body["error_code"].is_null());

    let requests = received(&receiver, 3).await;
    assert_eq!(requests.len(), 3);
    let mut statuses = Vec::new();
    for request in &requests {
        assert_eq!(
            request.headers.get("content-type").unwrap(),
            "application/x-www-form-urlencoded"
        );
        let form = form_of(request);
        let signature = request.headers.get("x-twilio-signature").unwrap().to_str().unwrap();
        assert!(verify_twilio(AUTH_TOKEN, &callback, &form, signature), "{form:?}");
        assert!(!verify_twilio("wrong", &callback, &form, signature));
        assert_eq!(value(&form, "MessageSid"), Some(sid.as_str()));
        assert_eq!(value(&form, "AccountSid"), Some(ACCOUNT));
        assert_eq!(value(&form, "From"), Some(FROM));
        assert_eq!(value(&form, "To"), Some("whatsapp:+14155550100"));
        statuses.push(value(&form, "MessageStatus").unwrap().to_string());
    }
    assert_eq!(statuses, ["sent", "delivered", "read"]);

    // Basic auth: the wrong token, or another account, answers 20003.
    let (status, body) = sim
        .twilio_as(
            "nope",
            &[("From", FROM), ("To", "whatsapp:+14155550101"), ("Body", "x")],
        )
        .await;
    assert_eq!((status, body["code"].as_i64()), (StatusCode::UNAUTHORIZED, Some(20003)));
    assert_eq!(body["more_info"], "https://www.twilio.com/docs/errors/20003");
    let response = sim
        .http
        .get(format!("{}/2010-04-01/Accounts/{ACCOUNT}.json", sim.base))
        .basic_auth(ACCOUNT, Some(AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["sid"], ACCOUNT);
    let response = sim
        .http
        .get(format!("{}/2010-04-01/Accounts/{ACCOUNT}.json", sim.base))
        .basic_auth("ACother", Some(AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Missing fields.
    let (status, body) = sim.twilio_as(AUTH_TOKEN, &[("From", FROM), ("Body", "x")]).await;
    assert_eq!((status, body["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(21604)));
    let (_, body) = sim.twilio(FROM, "whatsapp:4155550100", "x").await;
    assert_eq!(body["code"], 21211);
}

#[tokio::test]
async fn twilio_async_failures_carry_an_error_code() {
    let receiver = receiver().await;
    let callback = format!("{}/status", receiver.uri());
    let sim = start(Config {
        fail_numbers: ["+584121234567".to_string()].into(),
        fail_async: true,
        ..config()
    })
    .await;
    // The callback comes from the send's StatusCallback; without --auth-token it is signed
    // with the password the send used.
    let (status, _) = sim
        .twilio_as(
            "any-token",
            &[
                ("From", FROM),
                ("To", "whatsapp:+584121234567"),
                ("Body", "hola"),
                ("StatusCallback", &callback),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let requests = received(&receiver, 1).await;
    let form = form_of(&requests[0]);
    let signature = requests[0].headers.get("x-twilio-signature").unwrap().to_str().unwrap();
    assert!(verify_twilio("any-token", &callback, &form, signature));
    assert_eq!(value(&form, "MessageStatus"), Some("failed"));
    assert_eq!(value(&form, "ErrorCode"), Some("63024"));
}

#[tokio::test]
async fn resends_are_counted_as_duplicates_and_reset_clears_the_stats() {
    let sim = start(Config {
        pair_gap: Duration::ZERO,
        ..config()
    })
    .await;
    assert_eq!(sim.meta(&template("16505551234")).await.0, StatusCode::OK);
    assert_eq!(sim.meta(&template("16505551234")).await.0, StatusCode::OK);
    // Another body to the same recipient is not a resend.
    let mut other = template("16505551234");
    other["template"]["components"][0]["parameters"][0]["text"] = json!("Ana");
    assert_eq!(sim.meta(&other).await.0, StatusCode::OK);
    assert_eq!(
        sim.twilio(FROM, "whatsapp:+16505551234", "hola").await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        sim.twilio(FROM, "whatsapp:+16505551234", "hola").await.0,
        StatusCode::CREATED
    );

    let stats = sim.stats().await;
    assert_eq!((stats.accepted, stats.duplicates), (5, 2));
    assert_eq!(sim.sim.stats(), stats, "in-process stats match GET /stats");

    let response = sim.http.post(format!("{}/stats/reset", sim.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sim.stats().await, Stats::default());
    // After a reset, the same message again counts as new.
    assert_eq!(sim.meta(&template("16505551234")).await.0, StatusCode::OK);
    assert_eq!(sim.stats().await.duplicates, 0);
}

#[tokio::test]
async fn injected_server_errors_and_throttling() {
    let sim = start(Config {
        error_rate_5xx: 1.0,
        ..config()
    })
    .await;
    let (status, body) = sim.meta(&template("16505551234")).await;
    assert_eq!((status, meta_code(&body)), (StatusCode::INTERNAL_SERVER_ERROR, 131000));
    let (status, body) = sim.twilio(FROM, "whatsapp:+16505551234", "x").await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some(20500))
    );

    let sim = start(Config {
        throttle_rate: 1.0,
        ..config()
    })
    .await;
    let (status, body) = sim.meta(&template("16505551234")).await;
    assert_eq!((status, meta_code(&body)), (StatusCode::BAD_REQUEST, 130429));
    assert!(body["error"]["error_data"]["details"].is_string());
    let (status, body) = sim.twilio(FROM, "whatsapp:+16505551234", "x").await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (StatusCode::TOO_MANY_REQUESTS, Some(20429))
    );
}

#[tokio::test]
async fn the_same_seed_makes_the_same_choices() {
    async fn run(seed: u64) -> Vec<(StatusCode, Value)> {
        let sim = start(Config {
            error_rate_5xx: 0.3,
            throttle_rate: 0.2,
            pair_gap: Duration::ZERO,
            seed: Some(seed),
            ..config()
        })
        .await;
        let mut answers = Vec::new();
        for i in 0..30 {
            let (status, mut body) = sim.meta(&template(&format!("1650555{i:04}"))).await;
            body["error"]["fbtrace_id"] = Value::Null;
            answers.push((status, body));
        }
        answers
    }
    let first = run(42).await;
    assert_eq!(first, run(42).await);
    let statuses: HashSet<StatusCode> = first.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses.len(), 3, "a mix of 200, 400 and 500");
    assert_ne!(first, run(43).await);
}

#[tokio::test]
async fn answers_wait_for_the_configured_latency() {
    let sim = start(Config {
        latency: Latency::fixed(Duration::from_millis(150)),
        ..config()
    })
    .await;
    let started = Instant::now();
    assert_eq!(sim.meta(&template("16505551234")).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn webhooks_are_retried_then_given_up_without_slowing_the_api() {
    // The receiver refuses once, then accepts: one retry and the status arrives.
    let flaky = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&flaky)
        .await;
    Mock::given(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&flaky)
        .await;
    let sim = start(Config {
        webhooks: WebhookConfig {
            meta_url: Some(format!("{}/hook", flaky.uri())),
            delivered_fraction: 0.0,
            ..fast_webhooks()
        },
        ..config()
    })
    .await;
    sim.meta(&template("16505551234")).await;
    let stats = stats_when(&sim, |s| s.webhooks_sent == 1).await;
    assert_eq!((stats.webhooks_sent, stats.webhooks_failed), (1, 0));
    assert_eq!(flaky.received_requests().await.unwrap().len(), 2);

    // A receiver that always refuses: given up after the retries.
    let down = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&down)
        .await;
    let sim = start(Config {
        webhooks: WebhookConfig {
            meta_url: Some(down.uri()),
            delivered_fraction: 0.0,
            retries: 1,
            ..fast_webhooks()
        },
        ..config()
    })
    .await;
    sim.meta(&template("16505551234")).await;
    let stats = stats_when(&sim, |s| s.webhooks_failed == 1).await;
    assert_eq!((stats.webhooks_sent, stats.webhooks_failed), (0, 1));
    assert_eq!(down.received_requests().await.unwrap().len(), 2);

    // A receiver that hangs, and a tiny queue: the API still answers at once, and the
    // webhooks that do not fit are dropped.
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&slow)
        .await;
    let sim = start(Config {
        pair_gap: Duration::ZERO,
        mps: 0,
        webhooks: WebhookConfig {
            meta_url: Some(slow.uri()),
            workers: 1,
            queue: 2,
            sent_delay: Duration::ZERO,
            ..fast_webhooks()
        },
        ..config()
    })
    .await;
    let started = Instant::now();
    for i in 0..40 {
        assert_eq!(sim.meta(&template(&format!("1650555{i:04}"))).await.0, StatusCode::OK);
    }
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let stats = stats_when(&sim, |s| s.webhooks_dropped > 0).await;
    assert!(stats.webhooks_dropped > 0, "{stats:?}");
}
