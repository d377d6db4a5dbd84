//! Shared harness for the process-level tests: a fixed-answer Meta-compatible provider, the
//! real `pregon` binary as a child process (killed when its guard drops), and a small API
//! client.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::routing::post;
use axum::{Json, Router};
use rand::Rng;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How often the tests look again.
pub const POLL: Duration = Duration::from_millis(50);

/// The number the tests' sender pretends to be.
pub const SENDER_PHONE: &str = "+593995683452";

// ---------------------------------------------------------------------------------------
// The provider

#[derive(Default)]
struct ProviderState {
    /// Requests received per phone (E.164, with `+`), counted on arrival.
    received: Mutex<HashMap<String, u32>>,
    /// Requests answered (the handler finished and returned its answer).
    answered: AtomicU64,
    /// Requests arrived and neither answered nor abandoned by their client yet.
    in_flight: AtomicI64,
    next_id: AtomicU64,
    latency_ms: (u64, u64),
}

/// A Meta Cloud API stand-in on loopback that accepts every message after a small latency.
pub struct FakeMeta {
    pub addr: SocketAddr,
    state: Arc<ProviderState>,
    task: tokio::task::JoinHandle<()>,
}

async fn accept_message(
    State(state): State<Arc<ProviderState>>,
    UrlPath(_phone_number_id): UrlPath<String>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let to = body["to"].as_str().unwrap_or_default();
    let phone = if to.starts_with('+') {
        to.to_string()
    } else {
        format!("+{to}")
    };
    *state.received.lock().unwrap().entry(phone).or_insert(0) += 1;
    let _in_flight = InFlight::enter(&state);
    let latency = {
        let (lo, hi) = state.latency_ms;
        rand::thread_rng().gen_range(lo..=hi)
    };
    tokio::time::sleep(Duration::from_millis(latency)).await;
    let n = state.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    state.answered.fetch_add(1, Ordering::Relaxed);
    Json(json!({"messaging_product": "whatsapp", "messages": [{"id": format!("wamid.{n}")}]}))
}

/// Counts a request in flight until its handler finishes or is dropped (client gone).
struct InFlight<'a>(&'a ProviderState);

impl<'a> InFlight<'a> {
    fn enter(state: &'a ProviderState) -> Self {
        state.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FakeMeta {
    /// Starts the provider; each answer takes between `lo` and `hi` milliseconds.
    pub async fn start(lo: u64, hi: u64) -> FakeMeta {
        let state = Arc::new(ProviderState {
            latency_ms: (lo, hi),
            ..ProviderState::default()
        });
        let app = Router::new()
            .route("/v21.0/{phone_number_id}/messages", post(accept_message))
            // The credentials check of the pre-flight on campaign start.
            .route(
                "/v21.0/{phone_number_id}",
                axum::routing::get(|| async { Json(json!({"id": "ok"})) }),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeMeta { addr, state, task }
    }

    /// The `base_url` of a sender pointed at this provider.
    pub fn base_url(&self) -> String {
        format!("http://{}/v21.0", self.addr)
    }

    /// Requests received so far, per phone.
    pub fn received(&self) -> HashMap<String, u32> {
        self.state.received.lock().unwrap().clone()
    }

    /// Requests received so far, all phones together.
    pub fn received_total(&self) -> u64 {
        self.state.received.lock().unwrap().values().map(|&n| n as u64).sum()
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> i64 {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// Requests answered so far.
    pub fn answered(&self) -> u64 {
        self.state.answered.load(Ordering::Relaxed)
    }
}

impl Drop for FakeMeta {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------
// The binary

/// A `sqlite://` URL for a database file in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("p.db").display())
}

/// A command running the `pregon` binary with none of the caller's `PREGON_*` settings.
pub fn pregon_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pregon"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PREGON_") {
            cmd.env_remove(name);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A running `pregon serve`. Dropping the guard kills the process.
pub struct Server {
    child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// What the process printed on stdout up to and including the "listening" line.
    pub stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `pregon serve` on `database_url` on an ephemeral port and waits for `/health`.
    /// `api_key` becomes `PREGON_BOOTSTRAP_API_KEY` when given.
    pub async fn start(database_url: &str, api_key: Option<&str>) -> Server {
        Server::start_with(database_url, api_key, &[]).await
    }

    /// [`Server::start`] with more environment variables.
    pub async fn start_with(database_url: &str, api_key: Option<&str>, env: &[(&str, &str)]) -> Server {
        let mut cmd = pregon_command();
        cmd.arg("serve")
            .env("PREGON_DATABASE_URL", database_url)
            .env("PREGON_LISTEN", "127.0.0.1:0")
            .env("PREGON_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(key) = api_key {
            cmd.env("PREGON_BOOTSTRAP_API_KEY", key);
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("the pregon binary starts");
        let pid = child.id().expect("a running child has a pid");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
            let sink = stderr.clone();
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut s = sink.lock().unwrap();
                    if s.len() < 1 << 20 {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            });
        }
        let mut server = Server {
            child,
            pid,
            base: String::new(),
            stdout: Vec::new(),
            stderr,
        };
        let mut lines = BufReader::new(server.child.stdout.take().unwrap()).lines();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let line = tokio::time::timeout_at(deadline, lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("pregon did not say where it listens within 20 s"))
                .expect("reading pregon's stdout");
            let Some(line) = line else {
                let status = server.child.wait().await;
                panic!(
                    "pregon exited before listening ({status:?}); stderr:\n{}",
                    server.stderr()
                );
            };
            server.stdout.push(line.clone());
            if let Some(addr) = line.strip_prefix("pregon listening on ") {
                server.base = addr.trim().to_string();
                break;
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = reqwest::Client::new();
        wait_until("pregon answers /health", Duration::from_secs(20), || {
            let http = http.clone();
            let url = format!("{}/health", server.base);
            async move { matches!(http.get(url).send().await, Ok(r) if r.status().is_success()) }
        })
        .await;
        server
    }

    /// A client for this server's API.
    pub fn api(&self, key: &str) -> Api {
        Api::new(&self.base, key)
    }

    /// What the process wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGKILL, and reap the process so that its pid is gone.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("killing pregon");
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid);
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.expect("waiting for pregon"),
            Err(_) => panic!(
                "pregon did not exit within {limit:?} of SIGTERM; stderr:\n{}",
                self.stderr()
            ),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.start_kill();
        }
        if std::thread::panicking() {
            let text = self.stderr();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            eprintln!("--- pregon (pid {}) stderr, last lines ---", self.pid);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Polls `check` every [`POLL`] until it holds; panics after `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

// ---------------------------------------------------------------------------------------
// The API

/// A thin client for `/api/v1`.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
        }
    }

    /// GET a path under the server root; returns status and JSON body.
    pub async fn get_raw(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// GET, expecting 200.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.get_raw(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// POST JSON, expecting `expect`.
    pub async fn post(&self, path: &str, body: &Value, expect: u16) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, expect, "POST {path}: {answer}");
        answer
    }

    pub async fn campaign(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/campaigns/{id}")).await
    }

    /// Every phone of the campaign's messages in `status`, paging through the list.
    pub async fn phones_in(&self, campaign_id: &str, status: &str) -> Vec<String> {
        let mut phones = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/campaigns/{campaign_id}/messages?status={status}&limit=200");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&path).await;
            for m in page["items"].as_array().expect("a list has items") {
                assert_eq!(m["status"], status, "the filter holds: {m}");
                phones.push(m["phone"].as_str().unwrap().to_string());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return phones,
            }
        }
    }
}

/// `n` distinct valid Venezuelan mobile numbers.
pub fn phones(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+58412{:07}", 1_000_000 + i)).collect()
}

/// Creates a Meta sender pointed at `provider`, a template and a running campaign to
/// `phones`; returns the campaign id.
pub async fn create_campaign(api: &Api, provider: &FakeMeta, phones: &[String]) -> String {
    let sender = api
        .post(
            "/api/v1/senders",
            &json!({
                "name": "crash", "provider": "meta", "phone_number": SENDER_PHONE,
                "credentials": {"access_token": "t", "phone_number_id": "1"},
                "base_url": provider.base_url(), "messages_per_second": 400, "is_default": true
            }),
            201,
        )
        .await;
    let template = api
        .post(
            "/api/v1/templates",
            &json!({"name": "t", "language": "es", "body": "Hola {{nombre}}"}),
            201,
        )
        .await;
    let contacts: Vec<Value> = phones
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"phone": p, "nombre": format!("Cliente {i}")}))
        .collect();
    let campaign = api
        .post(
            "/api/v1/campaigns",
            &json!({
                "name": "crash test", "sender_id": sender["id"], "template_id": template["id"],
                "contacts": contacts
            }),
            201,
        )
        .await;
    assert_eq!(campaign["import"]["accepted"], phones.len(), "{}", campaign["import"]);
    assert_eq!(campaign["total"], phones.len());
    assert_eq!(campaign["status"], "running");
    campaign["id"].as_str().unwrap().to_string()
}

/// A campaign's count in one state.
pub fn count(campaign: &Value, state: &str) -> i64 {
    campaign["counts"][state]
        .as_i64()
        .unwrap_or_else(|| panic!("no count {state:?} in {campaign}"))
}

/// Checks the counts add up to the total and returns them by state.
pub fn counts(campaign: &Value) -> HashMap<String, i64> {
    let map: HashMap<String, i64> = campaign["counts"]
        .as_object()
        .expect("a campaign has counts")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
        .collect();
    let sum: i64 = map.values().sum();
    assert_eq!(
        Some(sum),
        campaign["total"].as_i64(),
        "counts add up to total: {campaign}"
    );
    map
}

/// Checks no phone got more than one request and every one belongs to the campaign.
pub fn assert_no_duplicates(received: &HashMap<String, u32>, phones: &[String]) {
    let dups: Vec<(&String, &u32)> = received.iter().filter(|(_, &n)| n > 1).collect();
    assert!(dups.is_empty(), "phones that got more than one message: {dups:?}");
    let known: HashSet<&String> = phones.iter().collect();
    let strangers: Vec<&String> = received.keys().filter(|p| !known.contains(p)).collect();
    assert!(
        strangers.is_empty(),
        "requests to phones not in the campaign: {strangers:?}"
    );
}
