//! The harness: a real pregon (API + dispatcher) on a loopback port with its own SQLite file,
//! a second tenant, an HTTP client, and a wiremock server standing in for the Meta Cloud API.
//!
//! [`spawn_app`] runs the dispatcher and the notifier in the background, as `serve` does.
//! [`spawn_stepped_app`] leaves them to the test, which says when work happens
//! ([`TestApp::dispatch_all_pending`], [`TestApp::deliver_notifications`]): what did not
//! happen then, did not happen, with no wait standing in for the proof.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pregon::dispatch::Dispatcher;
use pregon::notifications::Notifier;
use pregon::startup::{AppConfig, Application, Background};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The API key of tenant `default` (bootstrap key).
pub const KEY: &str = "pgn_test_key";
/// The API key of tenant `other`.
pub const OTHER_KEY: &str = "pgn_other";
/// Where pregon posts a Meta sender's messages (base URL `<mock>/v21.0`, phone number id 1142).
pub const META_PATH: &str = "/v21.0/1142/messages";
/// How long any wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A running pregon.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub client: reqwest::Client,
    /// The dispatcher and the notifier of a stepped app ([`spawn_stepped_app`]).
    stepped: Option<(Arc<Dispatcher>, Arc<Notifier>)>,
    stop: CancellationToken,
    dir: Arc<TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One HTTP answer, read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON; fails the test when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}), status {}: {}", self.status, self.text))
    }

    pub fn content_type(&self) -> String {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts the status and returns the JSON body.
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        if self.text.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Asserts an error answer: its status, and the shape
    /// `{"error": {"code": "<code>", "message": "<sentence>", "details": […]}}`.
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        assert_error_shape(self);
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "unexpected error code: {}", self.text);
        body
    }
}

/// Asserts the error shape whatever the status (never a 500 for client mistakes).
pub fn assert_error_shape(reply: &Reply) {
    assert!(
        reply.status.is_client_error(),
        "expected a 4xx, got {}: {}",
        reply.status,
        reply.text
    );
    assert!(
        reply.content_type().starts_with("application/json"),
        "error content type {:?}: {}",
        reply.content_type(),
        reply.text
    );
    let body = reply.json();
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("no error object: {}", reply.text));
    let code = error["code"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "code is not snake_case: {}",
        reply.text
    );
    assert!(
        error["message"].as_str().is_some_and(|m| !m.trim().is_empty()),
        "no message: {}",
        reply.text
    );
    assert!(error["details"].is_array(), "details is not a list: {}", reply.text);
}

/// Starts pregon with the test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts pregon with its dispatcher and notifier stepped by the test.
pub async fn spawn_stepped_app() -> TestApp {
    spawn_stepped_app_with(|_| {}).await
}

/// Starts pregon with its dispatcher and notifier stepped by the test, changed by `configure`.
pub async fn spawn_stepped_app_with(configure: impl FnOnce(&mut AppConfig)) -> TestApp {
    spawn_app_with(|c| {
        c.background = Background::Stepped;
        configure(c);
    })
    .await
}

/// Starts pregon with the test defaults, changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut AppConfig)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
    spawn_app_in(dir, configure).await
}

/// The email and password of tenant `default`'s first owner.
pub const OWNER_EMAIL: &str = "owner@example.com";
pub const OWNER_PASSWORD: &str = "correct horse battery staple";

/// Starts pregon on the database in `dir` (a new one, or one a previous app left).
async fn spawn_app_in(dir: Arc<TempDir>, configure: impl FnOnce(&mut AppConfig)) -> TestApp {
    let mut config = AppConfig::for_database(&format!("sqlite://{}/p.db", dir.path().display()));
    config.bootstrap_api_key = Some(KEY.into());
    config.dispatch.sandbox_latency = Duration::ZERO;
    config.dispatch.poll_interval = Duration::from_millis(20);
    // The harness polls as fast as it likes; the API rate limit has tests of its own.
    config.limits.api_rate_limit = 1_000_000;
    config.bootstrap_email = Some(OWNER_EMAIL.into());
    config.bootstrap_password = Some(OWNER_PASSWORD.into());
    configure(&mut config);
    let config_is_stepped = config.background == Background::Stepped;
    let app = Application::build(config).await.expect("the application builds");
    let now = chrono::Utc::now().timestamp_millis();
    if app.state().store.tenant_count().await.expect("tenants") < 2 {
        pregon::startup::create_tenant(
            app.state().store.as_ref(),
            &app.state().master_key,
            "other",
            Some(OTHER_KEY.into()),
            now,
            pregon_store::Actor::cli("test"),
        )
        .await
        .expect("a second tenant");
    }
    let addr = app.local_addr();
    let stepped = match (app.dispatcher(), app.notifier()) {
        (Some(d), Some(n)) if config_is_stepped => Some((d.clone(), n.clone())),
        _ => None,
    };
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    TestApp {
        address: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client"),
        stepped,
        stop,
        dir,
    }
}

/// A console session: its cookie and its CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl TestApp {
    /// Stops this pregon and starts another on the same database (a restart).
    pub async fn restart(self) -> TestApp {
        let dir = self.dir.clone();
        drop(self);
        spawn_app_in(dir, |_| {}).await
    }

    /// `POST /api/v1/sessions`.
    pub async fn sign_in(&self, email: &str, password: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(&json!({"email": email, "password": password})),
        )
        .await
    }

    /// Signs in; fails the test unless it works.
    pub async fn session(&self, email: &str, password: &str) -> Session {
        let reply = self.sign_in(email, password).await;
        let body = reply.expect(201);
        let set_cookie = reply
            .headers
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("a Set-Cookie");
        let cookie = set_cookie.split(';').next().unwrap().trim().to_string();
        Session {
            cookie,
            csrf: body["csrf_token"].as_str().expect("a CSRF token").to_string(),
        }
    }

    /// A request made with a session's cookie, and its CSRF token when `csrf`.
    pub async fn call_as(
        &self,
        method: Method,
        path: &str,
        session: &Session,
        body: Option<&Value>,
        csrf: bool,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header(reqwest::header::COOKIE, &session.cookie);
        if csrf {
            request = request.header("x-csrf-token", &session.csrf);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }
}

/// Polls `check` every 10 ms until it returns `Some`, failing the test after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the wall clock has moved to a later millisecond (ids are ordered by it).
pub async fn next_millisecond() {
    let start = chrono::Utc::now().timestamp_millis();
    eventually("the next millisecond", || async {
        (chrono::Utc::now().timestamp_millis() > start).then_some(())
    })
    .await
}

/// `n` distinct valid Venezuelan mobile numbers, E.164.
pub fn phones(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("+58412{:07}", 1_000 + i)).collect()
}

/// Contacts for [`TestApp::template`]: one per phone, every variable filled.
pub fn contacts(phones: &[String]) -> Vec<Value> {
    phones
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"phone": p, "nombre": format!("Cliente {i}"), "monto": format!("{i}.00 USD")}))
        .collect()
}

/// The counts of a campaign as (name, number).
pub fn counts(campaign: &Value) -> BTreeMap<String, i64> {
    campaign["counts"]
        .as_object()
        .unwrap_or_else(|| panic!("no counts: {campaign}"))
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_i64().unwrap_or_else(|| panic!("count {k} is not a number")),
            )
        })
        .collect()
}

/// Asserts `total` is the sum of `counts` and that every documented count is there.
pub fn assert_total_is_sum(campaign: &Value) {
    let c = counts(campaign);
    for name in [
        "queued",
        "claimed",
        "sending",
        "sent",
        "delivered",
        "read",
        "failed",
        "unknown",
        "skipped",
        "cancelled",
    ] {
        assert!(c.contains_key(name), "counts lacks {name}: {campaign}");
    }
    assert_eq!(
        campaign["total"].as_i64(),
        Some(c.values().sum::<i64>()),
        "total is not the sum of counts: {campaign}"
    );
}

impl TestApp {
    fn stepped(&self) -> &(Arc<Dispatcher>, Arc<Notifier>) {
        self.stepped
            .as_ref()
            .expect("a stepped app (spawn_stepped_app) to step its dispatcher and notifier")
    }

    /// Sends what is due now; returns once it is sent and every outcome recorded.
    pub async fn dispatch_all_pending(&self) {
        self.stepped().0.run_once().await.expect("a dispatch pass");
    }

    /// [`Self::dispatch_all_pending`] in a task of its own, for a test that acts while it
    /// sends; awaiting the handle waits for the pass to end.
    pub fn dispatch_in_background(&self) -> tokio::task::JoinHandle<()> {
        let dispatcher = self.stepped().0.clone();
        tokio::spawn(async move { dispatcher.run_once().await.expect("a dispatch pass") })
    }

    /// Delivers the notifications due now (until none is); returns how many attempts it made.
    pub async fn deliver_notifications(&self) -> usize {
        let notifier = &self.stepped().1;
        let mut attempts = 0;
        loop {
            match notifier.deliver_due().await.expect("a delivery pass") {
                0 => return attempts,
                n => attempts += n,
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Sends a request with an optional API key and JSON body.
    pub async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<&Value>) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the request reaches pregon");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        Reply { status, headers, text }
    }

    /// A request builder carrying the default tenant's key.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(KEY)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, Some(KEY), None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(KEY), Some(body)).await
    }

    /// A POST without a body (campaign actions).
    pub async fn post_empty(&self, path: &str) -> Reply {
        self.call(Method::POST, path, Some(KEY), None).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::PATCH, path, Some(KEY), Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, Some(KEY), None).await
    }

    /// Creates a template (201) and returns it as answered.
    pub async fn create_template(&self, body: Value) -> Value {
        self.post("/api/v1/templates", &body).await.expect(201)
    }

    /// `Hola {{nombre}}, tu saldo es {{monto}}.`: the template [`contacts`] fill.
    pub async fn template(&self) -> String {
        let t = self
            .create_template(
                json!({"name": "saldo", "language": "es", "body": "Hola {{nombre}}, tu saldo es {{monto}}."}),
            )
            .await;
        t["id"].as_str().expect("a template id").to_string()
    }

    /// Creates a sender (201) and returns it as answered.
    pub async fn create_sender(&self, body: Value) -> Value {
        self.post("/api/v1/senders", &body).await.expect(201)
    }

    /// A Meta sender whose Cloud API is `server`, at `rate` messages per second. The server
    /// is taught to pass the pre-flight credentials check ([`mount_meta_credentials`]).
    pub async fn meta_sender(&self, server: &MockServer, rate: f64) -> String {
        mount_meta_credentials(server).await;
        let s = self
            .create_sender(json!({
                "name": "Ventas", "provider": "meta", "phone_number": "+593995683452",
                "credentials": {"access_token": "tok", "phone_number_id": "1142"},
                "base_url": format!("{}/v21.0", server.uri()), "messages_per_second": rate
            }))
            .await;
        s["id"].as_str().expect("a sender id").to_string()
    }

    /// The tenant's default sender id (the bootstrap sandbox until moved).
    pub async fn default_sender(&self) -> Value {
        let list = self.get("/api/v1/senders").await.expect(200);
        let defaults: Vec<&Value> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|s| s["is_default"] == true)
            .collect();
        assert_eq!(defaults.len(), 1, "exactly one default sender: {list}");
        defaults[0].clone()
    }

    /// Creates a campaign from JSON (201) and returns the answer (campaign + import report).
    pub async fn create_campaign(&self, body: Value) -> Value {
        let created = self.post("/api/v1/campaigns", &body).await.expect(201);
        assert_total_is_sum(&created);
        created
    }

    /// Uploads a CSV campaign.
    /// A draft campaign of one contact with `template`; its id.
    pub async fn draft_campaign(&self, template: &str) -> String {
        self.create_campaign(json!({"name": "draft", "template_id": template,
                                    "contacts": contacts(&phones(1)), "start": false}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn import(&self, csv: impl Into<Vec<u8>>, fields: &[(&str, &str)]) -> Reply {
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(csv.into())
                .file_name("contactos.csv")
                .mime_str("text/csv")
                .expect("a mime type"),
        );
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        self.send(self.request(Method::POST, "/api/v1/campaigns/import").multipart(form))
            .await
    }

    pub async fn campaign(&self, id: &str) -> Value {
        let c = self.get(&format!("/api/v1/campaigns/{id}")).await.expect(200);
        assert_total_is_sum(&c);
        c
    }

    /// Polls a campaign until `done` holds, failing with its last state after the deadline.
    pub async fn wait_campaign(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let c = self.campaign(id).await;
            if done(&c) {
                return c;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; campaign: {c}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for a campaign to reach `status` with nothing claimed or in flight.
    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        self.wait_campaign(id, status, |c| {
            let n = counts(c);
            c["status"] == status && n["claimed"] == 0 && n["sending"] == 0
        })
        .await
    }

    /// Every message of a campaign (all pages), optionally of one status.
    pub async fn messages(&self, campaign_id: &str, status: Option<&str>) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/campaigns/{campaign_id}/messages?limit=200");
            if let Some(s) = status {
                path.push_str(&format!("&status={s}"));
            }
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&path).await.expect(200);
            out.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }

    /// Campaign ids in list order.
    pub async fn campaign_ids(&self, query: &str) -> Vec<String> {
        let list = self.get(&format!("/api/v1/campaigns{query}")).await.expect(200);
        ids(&list)
    }
}

/// The `id`s of a list page's items, in order.
pub fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|i| i["id"].as_str().expect("an id").to_string())
        .collect()
}

/// A fake Cloud API.
pub async fn meta_server() -> MockServer {
    MockServer::start().await
}

/// A Cloud API acceptance whose message id names the recipient: `wamid.<to>`.
pub fn meta_accept(request: &Request) -> ResponseTemplate {
    let to = request
        .body_json::<Value>()
        .ok()
        .and_then(|b| b["to"].as_str().map(str::to_string))
        .unwrap_or_default();
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": format!("wamid.{to}")}]
    }))
}

/// A Cloud API error answer.
pub fn meta_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}
    }))
}

/// The matcher every pregon request to the fake Cloud API must pass.
pub fn meta_request() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path(META_PATH))
        .and(header("authorization", "Bearer tok"))
}

/// Where pre-flight checks a Meta sender's token: `GET <base>/<phone_number_id>`.
pub const META_CREDENTIALS_PATH: &str = "/v21.0/1142";

/// Mounts the pre-flight credentials check of a Meta sender (token `tok`): 200.
pub async fn mount_meta_credentials(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(META_CREDENTIALS_PATH))
        .and(header("authorization", "Bearer tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "1142", "display_phone_number": "+593 99 568 3452", "verified_name": "Ventas"
        })))
        .mount(server)
        .await;
}

/// Mounts the rest of a campaign pre-flight for WhatsApp Business Account `waba`: template
/// `saldo` approved in `es` (with [`mount_meta_credentials`] or a number lookup of its own).
pub async fn mount_meta_template_approved(server: &MockServer, waba: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{waba}/message_templates")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{"name": "saldo", "language": "es", "status": "APPROVED", "id": "1"}]
        })))
        .mount(server)
        .await;
}

/// A Cloud API that accepts every message, and passes the campaign pre-flight: the number
/// (`1142`), and template `saldo` approved in `es` in WhatsApp Business Account `waba`.
pub async fn meta_accepting(waba: &str) -> MockServer {
    let server = meta_server().await;
    mount_meta_accept(&server).await;
    Mock::given(method("GET"))
        .and(path(META_CREDENTIALS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1142"})))
        .mount(&server)
        .await;
    mount_meta_template_approved(&server, waba).await;
    server
}

/// The message requests (POSTs) a fake provider received, pre-flight checks left out.
pub async fn sent_requests(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .into_iter()
        .filter(|r| r.method == Method::POST)
        .collect()
}

/// Mounts a Cloud API that accepts every message.
pub async fn mount_meta_accept(server: &MockServer) {
    meta_request().respond_with(meta_accept).mount(server).await;
}

/// Mounts a Cloud API that answers `failing` while the switch is on and accepts otherwise.
pub async fn mount_meta_switch(server: &MockServer, failing: ResponseTemplate) -> Arc<AtomicBool> {
    let on = Arc::new(AtomicBool::new(true));
    let flag = on.clone();
    meta_request()
        .respond_with(move |r: &Request| {
            if flag.load(Ordering::SeqCst) {
                failing.clone()
            } else {
                meta_accept(r)
            }
        })
        .mount(server)
        .await;
    on
}

/// The JSON bodies pregon sent to the fake Cloud API.
pub async fn meta_bodies(server: &MockServer) -> Vec<Value> {
    sent_requests(server)
        .await
        .iter()
        .map(|r| r.body_json::<Value>().expect("a JSON request body"))
        .collect()
}

/// How many requests went to each recipient (`to`, digits without `+`).
pub async fn requests_per_phone(server: &MockServer) -> BTreeMap<String, usize> {
    let mut per = BTreeMap::new();
    for body in meta_bodies(server).await {
        *per.entry(body["to"].as_str().expect("a `to`").to_string()).or_insert(0) += 1;
    }
    per
}

/// `+584121234567` → `584121234567`, the form Meta's `to` takes.
pub fn digits(phone: &str) -> String {
    phone.trim_start_matches('+').to_string()
}

/// `pregon simulate`'s Meta side for one test: 5 ms latency, 100 messages per second, no
/// pair gap, a fixed seed, and signed webhooks (app secret `sim-secret`) to `app`, with no
/// asynchronous failures.
pub fn simulated_meta(app: &TestApp) -> pregon_simulator::Config {
    let mut config = pregon_simulator::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        access_tokens: ["sim-token".to_string()].into(),
        latency: pregon_simulator::Latency::fixed(Duration::from_millis(5)),
        mps: 100,
        pair_gap: Duration::ZERO,
        seed: Some(7),
        ..Default::default()
    };
    config.webhooks.meta_url = Some(format!("{}/webhooks/meta", app.address));
    config.webhooks.app_secret = Some("sim-secret".into());
    config.webhooks.async_failure_rate = 0.0;
    config
}

impl TestApp {
    /// A Meta sender on the simulator at `addr` (its number `+593995683452`, id `1142`),
    /// with `extra` fields (`messages_per_second`, …) merged in.
    pub async fn simulated_meta_sender(&self, addr: std::net::SocketAddr, extra: Value) -> Value {
        let mut body = json!({"name": "sim", "provider": "meta", "phone_number": "+593995683452",
            "credentials": {"access_token": "sim-token", "phone_number_id": "1142",
                            "waba_id": "100000000000001", "app_secret": "sim-secret"},
            "base_url": format!("http://{addr}/v21.0")});
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        self.create_sender(body).await
    }
}
