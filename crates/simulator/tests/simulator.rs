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

// --- 2026: template lifecycle, marketing opt-outs, BSUIDs, pricing, pacing, throughput ----

use pregon_domain::{BusinessUserId, PricingCategory, TemplateCategory, TemplateQuality};
use pregon_providers::meta_webhooks::{self, DeliveryStatus, Event, Preference, TemplateEffect, TemplateEvent};
use pregon_simulator::{TemplateEventPlan, TemplateSpec};

const WABA: &str = "100000000000001";

fn spec(name: &str, language: &str, category: &str) -> TemplateSpec {
    TemplateSpec::from_meta(&json!({"name": name, "language": language, "category": category,
        "components": [{"type": "BODY", "text": "Hola {{1}}, {{2}}", "example": {"body_text": [["Ana", "10 USD"]]}}]}))
    .unwrap()
}

fn send_of(name: &str, language: &str, to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "template",
        "template": {"name": name, "language": {"code": language},
          "components": [{"type": "body", "parameters": [{"type": "text", "text": "Juan"}, {"type": "text", "text": "5"}]}]},
        "biz_opaque_callback_data": "msg_9"})
}

/// Promo (marketing) and saldo (utility) in Spanish, webhooks to `receiver`, no pair gap.
fn catalog_config(receiver: &MockServer) -> Config {
    Config {
        pair_gap: Duration::ZERO,
        templates: vec![spec("promo", "es", "MARKETING"), spec("saldo", "es", "UTILITY")],
        webhooks: WebhookConfig {
            meta_url: Some(format!("{}/webhooks/meta", receiver.uri())),
            app_secret: Some(APP_SECRET.into()),
            ..fast_webhooks()
        },
        ..config()
    }
}

impl Sim {
    async fn control(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/control/{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn meta_to(&self, endpoint: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/v21.0/{PHONE_ID}/{endpoint}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }
}

/// Waits (5 s at most) until the receiver holds a signed Meta webhook whose events satisfy
/// `wanted`, and returns those events; every webhook's signature is checked on the way.
async fn event_where(receiver: &MockServer, wanted: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        for request in receiver.received_requests().await.unwrap() {
            let signature = request.headers.get("x-hub-signature-256").unwrap().to_str().unwrap();
            assert!(verify_sha256_header(APP_SECRET.as_bytes(), &request.body, signature));
            let events = meta_webhooks::parse(&request.body).expect("the simulator posts JSON");
            if let Some(e) = events.into_iter().find(|e| wanted(e)) {
                return e;
            }
        }
        assert!(Instant::now() < deadline, "no such webhook arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_template_paused_mid_campaign_then_approved() {
    let receiver = receiver().await;
    let sim = start(catalog_config(&receiver)).await;
    assert_eq!(
        sim.meta(&send_of("promo", "es", "584121000001")).await.0,
        StatusCode::OK
    );

    let (status, answer) = sim
        .control(
            "templates/status",
            json!({"name": "promo", "language": "es", "event": "PAUSED"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["webhooks"][0]["entry"][0]["changes"][0]["field"],
        "message_template_status_update"
    );
    let Event::TemplateStatus(paused) = event_where(&receiver, |e| matches!(e, Event::TemplateStatus(_))).await else {
        unreachable!()
    };
    assert_eq!((paused.name.as_str(), paused.language.as_str()), ("promo", "es"));
    assert_eq!(paused.event, TemplateEvent::Paused);
    assert_eq!(paused.event.effect(), Some(TemplateEffect::Pause));
    assert_eq!(paused.category, Some(TemplateCategory::Marketing));
    assert_eq!(paused.waba_id.as_deref(), Some(WABA));
    assert!(
        paused.explanation().unwrap().contains("paused"),
        "Meta's reason is given"
    );

    // Paused: every send of it answers 132015, and the lookup says PAUSED.
    let (status, body) = sim.meta(&send_of("promo", "es", "584121000002")).await;
    assert_eq!((status, meta_code(&body)), (StatusCode::BAD_REQUEST, 132015));
    let (_, list) = sim
        .meta_get(&format!("/v21.0/{WABA}/message_templates?name=promo"), TOKEN)
        .await;
    assert_eq!(list["data"][0]["status"], "PAUSED");
    // Another template still goes.
    assert_eq!(
        sim.meta(&send_of("saldo", "es", "584121000002")).await.0,
        StatusCode::OK
    );

    // Approved again, after a delay: sends go once it has passed.
    let (status, answer) = sim
        .control(
            "templates/status",
            json!({"name": "promo", "event": "APPROVED", "delay_ms": 150}),
        )
        .await;
    assert_eq!((status, answer["languages"].clone()), (StatusCode::OK, json!(["es"])));
    assert_eq!(
        meta_code(&sim.meta(&send_of("promo", "es", "584121000003")).await.1),
        132015
    );
    let Event::TemplateStatus(approved) = event_where(
        &receiver,
        |e| matches!(e, Event::TemplateStatus(u) if u.event == TemplateEvent::Approved),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(approved.event.effect(), Some(TemplateEffect::Resume));
    assert_eq!(
        sim.meta(&send_of("promo", "es", "584121000003")).await.0,
        StatusCode::OK
    );

    // Disabled: 132016, for good.
    sim.control(
        "templates/status",
        json!({"name": "promo", "language": "es", "event": "DISABLED"}),
    )
    .await;
    assert_eq!(
        meta_code(&sim.meta(&send_of("promo", "es", "584121000004")).await.1),
        132016
    );
}

#[tokio::test]
async fn planned_template_events_fire_at_their_time() {
    let receiver = receiver().await;
    let sim = start(Config {
        template_events: vec![TemplateEventPlan::parse("promo/es=PAUSED@150").unwrap()],
        ..catalog_config(&receiver)
    })
    .await;
    assert_eq!(
        sim.meta(&send_of("promo", "es", "584121000001")).await.0,
        StatusCode::OK
    );
    let Event::TemplateStatus(u) = event_where(&receiver, |e| matches!(e, Event::TemplateStatus(_))).await else {
        unreachable!()
    };
    assert_eq!(u.event, TemplateEvent::Paused);
    assert_eq!(
        meta_code(&sim.meta(&send_of("promo", "es", "584121000002")).await.1),
        132015
    );
}

#[tokio::test]
async fn quality_updates_are_posted_and_listed() {
    let receiver = receiver().await;
    let sim = start(catalog_config(&receiver)).await;
    let (status, _) = sim
        .control("templates/quality", json!({"name": "saldo", "score": "RED"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let Event::TemplateQuality(q) = event_where(&receiver, |e| matches!(e, Event::TemplateQuality(_))).await else {
        unreachable!()
    };
    assert_eq!(
        (q.previous, q.quality),
        (TemplateQuality::Unknown, TemplateQuality::Red)
    );
    assert_eq!(q.name, "saldo");
    let (_, list) = sim
        .meta_get(&format!("/v21.0/{WABA}/message_templates?name=saldo"), TOKEN)
        .await;
    assert_eq!(list["data"][0]["quality_score"]["score"], "RED");
}

#[tokio::test]
async fn a_marketing_stop_mid_campaign_skips_marketing_but_not_utility() {
    let receiver = receiver().await;
    let sim = start(catalog_config(&receiver)).await;
    let ana = "584121234567";
    assert_eq!(sim.meta(&send_of("promo", "es", ana)).await.0, StatusCode::OK);

    let (status, answer) = sim
        .control(
            "user-preferences",
            json!({"phone": "+58 412 123 4567", "value": "stop"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let Event::UserPreference(p) = event_where(&receiver, |e| matches!(e, Event::UserPreference(_))).await else {
        unreachable!()
    };
    assert_eq!((p.phone.as_deref(), p.preference), (Some(ana), Preference::Stop));
    assert_eq!(
        p.phone_number_id.as_deref(),
        Some(PHONE_ID),
        "the number the last send used"
    );

    // The next marketing send fails 131050; a utility send still goes.
    let (status, body) = sim.meta(&send_of("promo", "es", ana)).await;
    assert_eq!((status, meta_code(&body)), (StatusCode::BAD_REQUEST, 131050));
    assert_eq!(sim.meta(&send_of("saldo", "es", ana)).await.0, StatusCode::OK);
    // Classified by pregon's own table.
    assert_eq!(
        pregon_providers::classify::meta_reason(131050),
        Some(pregon_providers::ErrorReason::MarketingOptOut)
    );

    sim.control("user-preferences", json!({"phone": ana, "value": "resume"}))
        .await;
    assert_eq!(sim.meta(&send_of("promo", "es", ana)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn chosen_recipients_get_131050_and_other_meta_codes_now_or_later() {
    let receiver = receiver().await;
    let sim = start(Config {
        marketing_stopped_numbers: ["+584121234567".to_string()].into(),
        meta_fail_codes: [("584149876543".to_string(), 131049)].into(),
        ..catalog_config(&receiver)
    })
    .await;
    assert_eq!(
        meta_code(&sim.meta(&send_of("promo", "es", "584121234567")).await.1),
        131050
    );
    assert_eq!(
        sim.meta(&send_of("saldo", "es", "584121234567")).await.0,
        StatusCode::OK
    );
    let (status, body) = sim.meta(&send_of("saldo", "es", "584149876543")).await;
    assert_eq!((status, meta_code(&body)), (StatusCode::BAD_REQUEST, 131049));
    assert!(body["error"]["error_data"]["details"]
        .as_str()
        .unwrap()
        .contains("ecosystem"));

    // With --fail-async: accepted, then a failed webhook with the code.
    let receiver = self::receiver().await;
    let sim = start(Config {
        marketing_stopped_numbers: ["+584121234567".to_string()].into(),
        fail_async: true,
        ..catalog_config(&receiver)
    })
    .await;
    let (status, _) = sim.meta(&send_of("promo", "es", "584121234567")).await;
    assert_eq!(status, StatusCode::OK);
    let Event::Status(s) = event_where(&receiver, |e| matches!(e, Event::Status(_))).await else {
        unreachable!()
    };
    assert_eq!(s.status, DeliveryStatus::Failed);
    assert_eq!(s.errors[0].code, Some(131050));
    assert_eq!(s.error_reason(), Some(pregon_providers::ErrorReason::MarketingOptOut));
    assert_eq!(s.pricing.unwrap().billable, Some(false));
}

#[tokio::test]
async fn status_webhooks_are_priced_by_the_templates_category() {
    let receiver = receiver().await;
    let sim = start(catalog_config(&receiver)).await;
    let (_, body) = sim.meta(&send_of("saldo", "es", "584121000001")).await;
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_string();
    let Event::Status(s) = event_where(&receiver, |e| matches!(e, Event::Status(s) if s.wamid == wamid)).await else {
        unreachable!()
    };
    let pricing = s.pricing.unwrap();
    assert_eq!(pricing.category, Some(PricingCategory::Utility));
    assert!(pricing.is_charged());
    assert_eq!(s.callback_data.as_deref(), Some("msg_9"));

    // Through the Marketing Messages API: marketing_lite; a utility template is refused there.
    let mut mm = send_of("promo", "es", "584121000002");
    mm["product_policy"] = json!("CLOUD_API_FALLBACK");
    mm["message_activity_sharing"] = json!(true);
    let (status, body) = sim.meta_to("marketing_messages", &mm).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_string();
    let Event::Status(s) = event_where(&receiver, |e| matches!(e, Event::Status(s) if s.wamid == wamid)).await else {
        unreachable!()
    };
    assert_eq!(s.pricing.unwrap().category, Some(PricingCategory::MarketingLite));
    let (status, body) = sim
        .meta_to("marketing_messages", &send_of("saldo", "es", "584121000003"))
        .await;
    assert_eq!((status, meta_code(&body)), (StatusCode::BAD_REQUEST, 100));
}

#[tokio::test]
async fn pregons_meta_provider_sends_marketing_through_the_marketing_messages_api() {
    use pregon_domain::template::Rendered;
    use pregon_providers::{meta, OutboundMessage, Provider};
    let receiver = receiver().await;
    let sim = start(catalog_config(&receiver)).await;
    let provider = meta::Meta::new(
        pregon_providers::http_client(Duration::from_secs(5)),
        &format!("{}/v21.0", sim.base),
        PHONE_ID.into(),
        TOKEN.into(),
    )
    .unwrap()
    .with_marketing_messages(Some(meta::MarketingMessages {
        product_policy: Some(meta::ProductPolicy::Strict),
        activity_sharing: Some(false),
    }));
    let message = |template: &str, category, to: &str| OutboundMessage {
        to: to.into(),
        from: "+15555550100".into(),
        template_name: template.into(),
        language: "es".into(),
        rendered: Rendered {
            text: "Hola Ana, 10 USD".into(),
            body_parameters: vec!["Ana".into(), "10 USD".into()],
            header_image: None,
        },
        callback_data: "7".into(),
        content_sid: None,
        status_callback: None,
        recipient_user_id: None,
        category: Some(category),
        expires_at: None,
        body_parameter_names: None,
    };
    let promo = provider
        .send(&message("promo", TemplateCategory::Marketing, "+584121000001"))
        .await
        .unwrap();
    let saldo = provider
        .send(&message("saldo", TemplateCategory::Utility, "+584121000002"))
        .await
        .unwrap();
    let priced = |wamid: String| {
        let receiver = &receiver;
        async move {
            let Event::Status(s) = event_where(receiver, |e| matches!(e, Event::Status(s) if s.wamid == wamid)).await
            else {
                unreachable!()
            };
            s.pricing.unwrap().category
        }
    };
    assert_eq!(
        priced(promo.provider_message_id).await,
        Some(PricingCategory::MarketingLite)
    );
    assert_eq!(priced(saldo.provider_message_id).await, Some(PricingCategory::Utility));
}

#[tokio::test]
async fn users_known_by_a_bsuid_alone_are_sent_to_and_reply() {
    let receiver = receiver().await;
    let sim = start(Config {
        templates: vec![spec("promo", "es", "MARKETING"), spec("codigo", "es", "AUTHENTICATION")],
        ..catalog_config(&receiver)
    })
    .await;
    let bsuid = "VE.8812345678901234";
    let mut to_user = send_of("promo", "es", "unused");
    to_user.as_object_mut().unwrap().remove("to");
    to_user["recipient"] = json!(bsuid);
    let (status, body) = sim.meta(&to_user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["contacts"], json!([{"input": bsuid, "user_id": bsuid}]));
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_string();
    let Event::Status(s) = event_where(&receiver, |e| matches!(e, Event::Status(s) if s.wamid == wamid)).await else {
        unreachable!()
    };
    assert_eq!(s.recipient_phone, None);
    assert_eq!(s.recipient_user_id.unwrap().as_str(), bsuid);

    // Authentication templates need a phone (131062).
    let mut code = to_user.clone();
    code["template"]["name"] = json!("codigo");
    assert_eq!(meta_code(&sim.meta(&code).await.1), 131062);

    // A reply from the BSUID alone, then an opt-out by BSUID: marketing to it fails 131050.
    let (status, answer) = sim
        .control(
            "inbound",
            json!({"user_id": bsuid, "text": "STOP", "username": "@ana", "context": wamid}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let Event::Inbound(m) = event_where(&receiver, |e| matches!(e, Event::Inbound(_))).await else {
        unreachable!()
    };
    assert_eq!(
        (m.from_phone, m.from_user_id.as_ref().map(BusinessUserId::as_str)),
        (None, Some(bsuid))
    );
    assert_eq!((m.text.as_deref(), m.username.as_deref()), (Some("STOP"), Some("@ana")));
    assert_eq!(m.context_wamid.as_deref(), Some(wamid.as_str()));
    sim.control("user-preferences", json!({"user_id": bsuid, "value": "stop"}))
        .await;
    let Event::UserPreference(p) = event_where(&receiver, |e| matches!(e, Event::UserPreference(_))).await else {
        unreachable!()
    };
    assert_eq!((p.phone, p.user_id.unwrap().as_str()), (None, bsuid));
    assert_eq!(meta_code(&sim.meta(&to_user).await.1), 131050);
}

#[tokio::test]
async fn with_user_ids_every_webhook_links_the_phone_to_its_bsuid() {
    let receiver = receiver().await;
    let sim = start(Config {
        user_ids: true,
        ..catalog_config(&receiver)
    })
    .await;
    let (_, body) = sim.meta(&send_of("promo", "es", "584121234567")).await;
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_string();
    let Event::Status(s) = event_where(&receiver, |e| matches!(e, Event::Status(s) if s.wamid == wamid)).await else {
        unreachable!()
    };
    assert_eq!(s.recipient_phone.as_deref(), Some("584121234567"));
    let user = s.recipient_user_id.unwrap();
    assert_eq!(user.country_code(), "VE", "the BSUID's prefix is the phone's country");
    // The same user replies: phone and BSUID both.
    sim.control("inbound", json!({"from": "+584121234567", "text": "hola"}))
        .await;
    let Event::Inbound(m) = event_where(&receiver, |e| matches!(e, Event::Inbound(_))).await else {
        unreachable!()
    };
    assert_eq!(
        (m.from_phone.as_deref(), m.from_user_id),
        (Some("584121234567"), Some(user))
    );
}

#[tokio::test]
async fn a_throughput_upgrade_raises_the_limit_after_a_short_downtime() {
    let receiver = receiver().await;
    let sim = start(Config {
        mps: 5,
        high_mps: 50,
        ..catalog_config(&receiver)
    })
    .await;
    let provider = pregon_providers::meta::Meta::new(
        pregon_providers::http_client(Duration::from_secs(5)),
        &format!("{}/v21.0", sim.base),
        PHONE_ID.into(),
        TOKEN.into(),
    )
    .unwrap();
    let number = provider.phone_number().await.unwrap();
    assert_eq!(number.throughput, Some(pregon_providers::ThroughputLevel::Standard));

    let (status, _) = sim
        .control("throughput", json!({"level": "HIGH", "downtime_ms": 200}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = sim.meta(&send_of("promo", "es", "584121000001")).await;
    assert_eq!(
        (status, meta_code(&body)),
        (StatusCode::BAD_REQUEST, 131057),
        "upgrading"
    );
    let Event::PhoneNumberQuality(u) = event_where(&receiver, |e| matches!(e, Event::PhoneNumberQuality(_))).await
    else {
        unreachable!()
    };
    assert_eq!(u.throughput(), Some(pregon_providers::ThroughputLevel::High));
    assert_eq!(u.display_phone_number.as_deref(), Some("15555550100"));
    assert_eq!(u.limit(), Some(pregon_domain::MessagingTier::Unlimited));

    let number = provider.phone_number().await.unwrap();
    assert_eq!(number.throughput, Some(pregon_providers::ThroughputLevel::High));
    let bodies: Vec<Value> = (0..20)
        .map(|i| send_of("saldo", "es", &format!("58412{i:07}")))
        .collect();
    let answers = join_all(bodies.iter().map(|b| sim.meta(b))).await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::OK),
        "50 a second now, not 5"
    );
}

#[tokio::test]
async fn template_pacing_holds_messages_then_sends_or_drops_them() {
    let receiver = receiver().await;
    let sim = start(Config {
        paced_templates: ["promo".to_string()].into(),
        pacing_hold: Duration::from_millis(200),
        ..catalog_config(&receiver)
    })
    .await;
    let (status, body) = sim.meta(&send_of("promo", "es", "584121000001")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["messages"][0]["message_status"], "held_for_quality_assessment");
    let released = body["messages"][0]["id"].as_str().unwrap().to_string();
    let Event::Status(s) = event_where(&receiver, |e| matches!(e, Event::Status(s) if s.wamid == released)).await
    else {
        unreachable!()
    };
    assert_eq!(s.status, DeliveryStatus::Sent, "released after the hold");

    // A held message whose template is paused during the hold is dropped with 132015.
    let (_, body) = sim.meta(&send_of("promo", "es", "584121000002")).await;
    let dropped = body["messages"][0]["id"].as_str().unwrap().to_string();
    sim.control(
        "templates/status",
        json!({"name": "promo", "language": "es", "event": "PAUSED"}),
    )
    .await;
    let Event::Status(s) = event_where(&receiver, |e| matches!(e, Event::Status(s) if s.wamid == dropped)).await else {
        unreachable!()
    };
    assert_eq!(s.status, DeliveryStatus::Failed);
    assert_eq!(s.error_reason(), Some(pregon_providers::ErrorReason::TemplatePaused));
    // A template not paced answers `accepted`.
    let (_, body) = sim.meta(&send_of("saldo", "es", "584121000003")).await;
    assert_eq!(body["messages"][0]["message_status"], "accepted");
}

#[tokio::test]
async fn pregon_lists_every_template_the_simulator_knows_page_by_page() {
    let templates: Vec<TemplateSpec> = (0..130)
        .map(|i| {
            spec(
                &format!("plantilla_{i:03}"),
                if i % 2 == 0 { "es" } else { "en_US" },
                "UTILITY",
            )
        })
        .collect();
    let sim = start(Config { templates, ..config() }).await;
    // By hand: 50 a page, three pages.
    let (_, first) = sim
        .meta_get(&format!("/v21.0/{WABA}/message_templates?limit=50"), TOKEN)
        .await;
    assert_eq!(first["data"].as_array().unwrap().len(), 50);
    let next = first["paging"]["next"].as_str().unwrap().to_string();
    let path = next.split_once(&sim.base).map(|(_, p)| p.to_string()).unwrap();
    let (_, second) = sim.meta_get(&path, TOKEN).await;
    assert_eq!(second["data"][0]["name"], "plantilla_050");
    let (status, body) = sim
        .meta_get(&format!("/v21.0/{WABA}/message_templates?after=junk"), TOKEN)
        .await;
    assert_eq!((status, meta_code(&body)), (StatusCode::BAD_REQUEST, 100));

    // pregon's client: 100 a page, so two pages, every template typed.
    let provider = pregon_providers::meta::Meta::new(
        pregon_providers::http_client(Duration::from_secs(5)),
        &format!("{}/v21.0", sim.base),
        PHONE_ID.into(),
        TOKEN.into(),
    )
    .unwrap()
    .with_waba_id(Some(WABA.into()));
    sim.sim.reset_stats();
    let all = provider.list_templates().await.unwrap();
    assert_eq!(all.len(), 130);
    assert_eq!(sim.stats().await.lookups, 2, "two pages");
    let t = &all[7];
    assert_eq!(
        (t.name.as_str(), t.category),
        ("plantilla_007", Some(TemplateCategory::Utility))
    );
    assert_eq!(t.placeholders, ["1", "2"]);
    assert_eq!(t.body_examples, ["Ana", "10 USD"]);
    assert_eq!(t.status, Some(pregon_domain::TemplateStatus::Approved));
}

#[tokio::test]
async fn twilio_codes_for_chosen_numbers_come_in_the_status_callbacks() {
    let receiver = receiver().await;
    let callback = format!("{}/twilio", receiver.uri());
    let codes = [63014u32, 63049, 63016, 63018, 63024, 63025, 63062, 30036];
    let sim = start(Config {
        auth_token: Some(AUTH_TOKEN.into()),
        pair_gap: Duration::ZERO,
        twilio_fail_codes: codes
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("58412000000{i}"), *c))
            .collect(),
        webhooks: WebhookConfig {
            twilio_url: Some(callback.clone()),
            ..fast_webhooks()
        },
        ..config()
    })
    .await;
    for i in 0..codes.len() {
        let (status, body) = sim.twilio(FROM, &format!("whatsapp:+58412000000{i}"), "hola").await;
        assert_eq!(status, StatusCode::CREATED, "accepted first: {body}");
    }
    let requests = received(&receiver, codes.len()).await;
    let mut seen: Vec<u32> = requests
        .iter()
        .map(|r| {
            let form = form_of(r);
            let signature = r.headers.get("x-twilio-signature").unwrap().to_str().unwrap();
            assert!(verify_twilio(AUTH_TOKEN, &callback, &form, signature));
            assert_eq!(value(&form, "MessageStatus"), Some("failed"));
            value(&form, "ErrorCode").unwrap().parse().unwrap()
        })
        .collect();
    seen.sort();
    let mut expected = codes.to_vec();
    expected.sort();
    assert_eq!(seen, expected);
    // pregon's table reads them.
    use pregon_providers::classify::{twilio, twilio_reason};
    use pregon_providers::ErrorReason;
    assert_eq!(twilio_reason(63014), Some(ErrorReason::RecipientOptedOut));
    assert_eq!(twilio_reason(30036), Some(ErrorReason::Expired));
    assert_eq!(twilio(63018, 200), pregon_providers::ErrorClass::Retryable);
}

#[tokio::test]
async fn twilio_takes_a_messaging_service_and_a_validity_period() {
    let receiver = receiver().await;
    let callback = format!("{}/twilio", receiver.uri());
    let sim = start(Config {
        auth_token: Some(AUTH_TOKEN.into()),
        pair_gap: Duration::ZERO,
        webhooks: WebhookConfig {
            twilio_url: Some(callback),
            sent_delay: Duration::from_millis(1_500),
            ..fast_webhooks()
        },
        ..config()
    })
    .await;
    let service = "MG0123456789abcdef0123456789abcdef";
    let (status, body) = sim
        .twilio_as(
            AUTH_TOKEN,
            &[
                ("MessagingServiceSid", service),
                ("To", "whatsapp:+14155550100"),
                ("Body", "hola"),
                ("ValidityPeriod", "600"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["messaging_service_sid"].as_str()),
        (Some("accepted"), Some(service))
    );

    // A validity period shorter than the time in Twilio's queue: failed with 30036.
    let (status, _) = sim
        .twilio_as(
            AUTH_TOKEN,
            &[
                ("From", FROM),
                ("To", "whatsapp:+14155550101"),
                ("Body", "hola"),
                ("ValidityPeriod", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let requests = received(&receiver, 2).await;
    let form = requests
        .iter()
        .map(form_of)
        .find(|f| value(f, "To") == Some("whatsapp:+14155550101"))
        .unwrap();
    assert_eq!(
        (value(&form, "MessageStatus"), value(&form, "ErrorCode")),
        (Some("failed"), Some("30036"))
    );

    for bad in ["0", "36001", "soon"] {
        let (status, body) = sim
            .twilio_as(
                AUTH_TOKEN,
                &[
                    ("From", FROM),
                    ("To", "whatsapp:+14155550102"),
                    ("Body", "x"),
                    ("ValidityPeriod", bad),
                ],
            )
            .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(21624)),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn control_requests_that_cannot_be_done_answer_400_never_500() {
    let sim = start(config()).await;
    let cases = [
        (
            "templates/status",
            json!({"name": "promo", "language": "es", "event": "EXPLODED"}),
        ),
        ("templates/status", json!({"name": "never_seen", "event": "PAUSED"})),
        (
            "templates/status",
            json!({"name": " ", "language": "es", "event": "PAUSED"}),
        ),
        (
            "templates/status",
            json!({"name": "promo", "language": "es", "event": "PAUSED", "category": "NEWS"}),
        ),
        (
            "templates/quality",
            json!({"name": "promo", "language": "es", "score": "PURPLE"}),
        ),
        (
            "user-preferences",
            json!({"phone": "+584121234567", "value": "maybe", "phone_number_id": "1"}),
        ),
        ("user-preferences", json!({"value": "stop", "phone_number_id": "1"})),
        (
            "user-preferences",
            json!({"user_id": "not-a-bsuid", "value": "stop", "phone_number_id": "1"}),
        ),
        ("user-preferences", json!({"phone": "+584121234567", "value": "stop"})),
        (
            "inbound",
            json!({"from": "abc", "text": "hola", "phone_number_id": "1"}),
        ),
        ("throughput", json!({"level": "ULTRA"})),
    ];
    for (path, body) in cases {
        let (status, answer) = sim.control(path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    // Unknown fields and malformed bodies are refused by the JSON reader (4xx).
    for (path, body) in [
        ("throughput", json!({"level": "HIGH", "speed": 9})),
        ("inbound", json!("just a string")),
    ] {
        let (status, _) = sim.control(path, body).await;
        assert!(status.is_client_error(), "{path}: {status}");
    }
    // Without a webhook URL, a change is made and nothing is posted.
    let (status, answer) = sim
        .control(
            "templates/status",
            json!({"name": "promo", "language": "es", "event": "PAUSED"}),
        )
        .await;
    assert_eq!((status, answer["webhook"].as_bool()), (StatusCode::OK, Some(false)));
    assert_eq!(
        meta_code(&sim.meta(&send_of("promo", "es", "584121000001")).await.1),
        132015
    );
    assert_eq!(sim.stats().await.webhooks_sent, 0);
}
