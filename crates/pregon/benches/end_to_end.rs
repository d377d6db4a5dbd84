//! End-to-end benchmark: the real `pregon serve` binary, a fresh SQLite database, a CSV
//! import and a whole campaign sent through a provider.
//!
//! ```text
//! cargo bench -p pregon --bench end_to_end -- [--messages 100000] [--provider http|sandbox] \
//!     [--runs 3] [--latency-ms 0] [--database sqlite|postgres]
//! ```
//!
//! `--database postgres` runs on a fresh database per run on the local PostgreSQL
//! (`PREGON_BENCH_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! - `--provider http`: a fixed-answer Meta-compatible provider runs inside this process
//!   (`POST /v21.0/{id}/messages` → `{"messaging_product":"whatsapp","messages":[{"id":"wamid.N"}]}`
//!   after `--latency-ms`), and a `meta` sender at 100,000 messages/second points at it.
//! - `--provider sandbox`: the default sandbox sender, raised to 100,000 messages/second,
//!   with no simulated latency.
//!
//! Each run starts its own server on its own database, times the import (multipart
//! `POST /api/v1/campaigns/import`, `start=false`), then times from `POST …/start` until the
//! campaign is `completed` (polled every 50 ms), and reads the server's peak RSS (`VmHWM`)
//! before stopping it with SIGTERM. One JSON line per run goes to stdout, then (with
//! `--runs` > 1) one line of medians; progress goes to stderr. Besides the rates, each line
//! carries the server's CPU seconds while sending (`send_cpu_sec`), this process's
//! (`bench_cpu_sec`: the provider and the client) and the 1-minute load average at the start,
//! so that figures from a shared machine can be judged.
//!
//! Environment: `PREGON_BENCH_BIN` runs another `pregon` build (a saved baseline, say);
//! `PREGON_BENCH_LOG` replaces the server's `PREGON_LOG=warn` (e.g.
//! `warn,sqlx::query=debug` logs every statement with its duration); `TMPDIR` places the
//! database.

use std::io::Write as _;
use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::{json, Value};

const API_KEY: &str = "pregon_bench_0123456789abcdef0123456789abcdef";
const TEMPLATE_BODY: &str = "Hola {{nombre}}, tu factura de {{monto}} vence el {{fecha}}.";
const RATE: f64 = 100_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProviderKind {
    Http,
    Sandbox,
}

impl ProviderKind {
    fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Http => "http",
            ProviderKind::Sandbox => "sandbox",
        }
    }
}

#[derive(Debug, Clone)]
struct Options {
    messages: usize,
    provider: ProviderKind,
    runs: usize,
    latency_ms: u64,
    /// `sqlite`, or `postgres` for a fresh database per run on the server at
    /// `PREGON_BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
    database: String,
}

fn parse_args() -> Result<Options> {
    let mut o = Options {
        messages: 100_000,
        provider: ProviderKind::Http,
        runs: 1,
        latency_ms: 0,
        database: "sqlite".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| anyhow!("{what} needs a value"))
        };
        match name.as_str() {
            "--messages" => o.messages = value("--messages")?.parse().context("--messages")?,
            "--runs" => o.runs = value("--runs")?.parse().context("--runs")?,
            "--latency-ms" => o.latency_ms = value("--latency-ms")?.parse().context("--latency-ms")?,
            "--database" => {
                o.database = value("--database")?;
                ensure!(
                    o.database == "sqlite" || o.database == "postgres",
                    "--database must be sqlite or postgres"
                );
            }
            "--provider" => {
                o.provider = match value("--provider")?.as_str() {
                    "http" => ProviderKind::Http,
                    "sandbox" => ProviderKind::Sandbox,
                    other => bail!("--provider must be http or sandbox, not {other:?}"),
                }
            }
            // cargo passes `--bench` to harness-less benchmarks.
            "--bench" => {}
            "-h" | "--help" => {
                eprintln!(
                    "usage: cargo bench -p pregon --bench end_to_end -- [--messages N] \
                     [--provider http|sandbox] [--runs K] [--latency-ms MS]"
                );
                std::process::exit(0);
            }
            other if other.starts_with('-') => bail!("unknown option {other:?}"),
            // A filter given to `cargo bench NAME`: nothing to filter here.
            _ => {}
        }
    }
    ensure!(o.messages > 0, "--messages must be positive");
    ensure!(o.runs > 0, "--runs must be positive");
    ensure!(
        o.provider == ProviderKind::Http || o.latency_ms == 0,
        "--latency-ms applies to --provider http only (the sandbox runs with PREGON_SANDBOX_LATENCY_MS=0)"
    );
    Ok(o)
}

#[derive(Debug, Clone, Copy)]
struct RunResult {
    import_rows_per_sec: f64,
    messages_per_sec: f64,
    peak_rss_mb: f64,
    wall_sec: f64,
    import_sec: f64,
    send_sec: f64,
    /// CPU seconds (user + system) the server spent while sending.
    send_cpu_sec: f64,
    /// CPU seconds this process (provider and client) spent meanwhile.
    bench_cpu_sec: f64,
    /// The machine's 1-minute load average when the run started.
    loadavg: f64,
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("end_to_end: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let o = parse_args()?;
    // `PREGON_BENCH_BIN` runs another build (say, a saved baseline) against the same workload.
    let bin_override = std::env::var("PREGON_BENCH_BIN").ok();
    let bin = bin_override.as_deref().unwrap_or(env!("CARGO_BIN_EXE_pregon"));
    eprintln!(
        "end_to_end: {} messages, provider {}, {} run(s), provider latency {} ms, binary {bin}",
        o.messages,
        o.provider.as_str(),
        o.runs,
        o.latency_ms
    );
    // The in-process provider and the client share one runtime; two workers so the provider
    // is never the bottleneck of the server it measures.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut results = Vec::with_capacity(o.runs);
    for run in 1..=o.runs {
        eprintln!("end_to_end: run {run}/{}", o.runs);
        let r = rt.block_on(one_run(bin, &o))?;
        let line = Line::new(&o, &r, Some(run), None);
        println!("{}", serde_json::to_string(&line)?);
        std::io::stdout().flush()?;
        results.push(r);
    }
    if o.runs > 1 {
        let med = |f: fn(&RunResult) -> f64| median(results.iter().map(f).collect());
        let m = RunResult {
            import_rows_per_sec: med(|r| r.import_rows_per_sec),
            messages_per_sec: med(|r| r.messages_per_sec),
            peak_rss_mb: med(|r| r.peak_rss_mb),
            wall_sec: med(|r| r.wall_sec),
            import_sec: med(|r| r.import_sec),
            send_sec: med(|r| r.send_sec),
            send_cpu_sec: med(|r| r.send_cpu_sec),
            bench_cpu_sec: med(|r| r.bench_cpu_sec),
            loadavg: med(|r| r.loadavg),
        };
        let line = Line::new(&o, &m, None, Some(o.runs));
        println!("{}", serde_json::to_string(&line)?);
    }
    Ok(())
}

/// One line of output; fields in this order.
#[derive(serde::Serialize)]
struct Line {
    database: String,
    provider: &'static str,
    messages: usize,
    latency_ms: u64,
    import_rows_per_sec: f64,
    messages_per_sec: f64,
    peak_rss_mb: f64,
    wall_sec: f64,
    import_sec: f64,
    send_sec: f64,
    send_cpu_sec: f64,
    bench_cpu_sec: f64,
    loadavg: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<usize>,
    /// Present on the final line: the median of this many runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    median_of_runs: Option<usize>,
}

impl Line {
    fn new(o: &Options, r: &RunResult, run: Option<usize>, median_of_runs: Option<usize>) -> Self {
        Line {
            database: o.database.clone(),
            provider: o.provider.as_str(),
            messages: o.messages,
            latency_ms: o.latency_ms,
            import_rows_per_sec: round1(r.import_rows_per_sec),
            messages_per_sec: round1(r.messages_per_sec),
            peak_rss_mb: round1(r.peak_rss_mb),
            wall_sec: round3(r.wall_sec),
            import_sec: round3(r.import_sec),
            send_sec: round3(r.send_sec),
            send_cpu_sec: round3(r.send_cpu_sec),
            bench_cpu_sec: round3(r.bench_cpu_sec),
            loadavg: (r.loadavg * 100.0).round() / 100.0,
            run,
            median_of_runs,
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> Result<f64> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    Ok((ticks(11) + ticks(12)) / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// The 1-minute load average.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// A free loopback port (the listener is closed again, so another process can take it).
fn free_port() -> Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The `pregon serve` child; stopped (SIGTERM, then SIGKILL after 30 s) when dropped.
struct Server {
    child: Option<Child>,
    pid: u32,
    base: String,
    // Kept to the end: the database lives in it.
    _dir: tempfile::TempDir,
    /// Dropped after the server stops (fields drop in order).
    _postgres: Option<PostgresDatabase>,
}

/// A fresh PostgreSQL database for one run, dropped afterwards (through `psql`).
struct PostgresDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    fn create() -> Result<Self> {
        let admin = std::env::var("PREGON_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("pregon_bench_{:016x}", rand::random::<u64>());
        let out = Command::new("psql")
            .args([admin.as_str(), "-qAtc", &format!("create database {name}")])
            .output()
            .context("running psql")?;
        ensure!(
            out.status.success(),
            "creating {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin).to_string();
        Ok(PostgresDatabase {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.admin.as_str(),
                "-qAtc",
                &format!("drop database if exists {} with (force)", self.name),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Server {
    fn start(bin: &str, database: &str) -> Result<Self> {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let port = free_port()?;
        let (url, postgres) = if database == "postgres" {
            let pg = PostgresDatabase::create()?;
            (pg.url.clone(), Some(pg))
        } else {
            (format!("sqlite://{}", dir.path().join("pregon.db").display()), None)
        };
        let mut command = Command::new(bin);
        if postgres.is_some() {
            command.env("PREGON_MASTER_KEY", "ab".repeat(32));
        } else {
            command.env_remove("PREGON_MASTER_KEY");
        }
        let child = command
            .arg("serve")
            .env("PREGON_DATABASE_URL", &url)
            .env("PREGON_BOOTSTRAP_API_KEY", API_KEY)
            .env("PREGON_LISTEN", format!("127.0.0.1:{port}"))
            // `PREGON_BENCH_LOG` overrides, e.g. `warn,sqlx::query=debug` to time every statement.
            .env(
                "PREGON_LOG",
                std::env::var("PREGON_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("PREGON_SANDBOX_LATENCY_MS", "0")
            .env_remove("PREGON_MAX_IN_FLIGHT")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            // Its banner would mix with our JSON lines; its logs (stderr) are progress.
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {bin} serve"))?;
        let pid = child.id();
        Ok(Server {
            child: Some(child),
            pid,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
            _postgres: postgres,
        })
    }

    /// Whether the child is still running.
    fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                bail!("pregon exited early: {status}");
            }
        }
        Ok(())
    }

    /// Peak resident set size so far, in MiB (`VmHWM`).
    fn peak_rss_mb(&self) -> Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .with_context(|| format!("reading /proc/{}/status", self.pid))?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("no VmHWM in /proc/{}/status", self.pid))?;
        Ok(kb / 1024.0)
    }

    /// SIGTERM, then wait (SIGKILL after 30 s). Returns the exit status when it stopped.
    fn stop(&mut self) -> Result<std::process::ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("pregon was already stopped");
        };
        if child.try_wait()?.is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "end_to_end: pregon (pid {}) ignored SIGTERM for 30 s; killing it",
                    self.pid
                );
                let _ = child.kill();
                return Ok(child.wait()?);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
    }
}

/// The in-process fixed-answer Meta-compatible provider; aborted when dropped.
struct FakeMeta {
    port: u16,
    received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeMeta {
    async fn start(latency: Duration) -> Result<Self> {
        use axum::extract::{Path as UrlPath, State};
        use axum::routing::post;

        #[derive(Clone)]
        struct St {
            received: Arc<AtomicU64>,
            latency: Duration,
        }

        async fn messages(
            State(st): State<St>,
            UrlPath(_id): UrlPath<String>,
            _body: bytes::Bytes,
        ) -> axum::Json<Value> {
            let n = st.received.fetch_add(1, Ordering::Relaxed);
            if !st.latency.is_zero() {
                tokio::time::sleep(st.latency).await;
            }
            axum::Json(json!({"messaging_product": "whatsapp", "messages": [{"id": format!("wamid.{n}")}]}))
        }

        let received = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new()
            .route("/v21.0/{id}/messages", post(messages))
            // The credentials check of the pre-flight on campaign start.
            .route(
                "/v21.0/{id}",
                axum::routing::get(|| async { axum::Json(json!({"id": "ok"})) }),
            )
            .with_state(St {
                received: received.clone(),
                latency,
            });
        // A deep accept queue: pregon opens one connection per request in flight (HTTP/1.1),
        // thousands at once, and the default backlog of 1,024 would drop SYNs (each one a
        // 1 s retransmission) the way no real provider does.
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind("127.0.0.1:0".parse()?)?;
        let listener = socket.listen(8192)?;
        let port = listener.local_addr()?.port();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("end_to_end: fake provider stopped: {e}");
            }
        });
        Ok(FakeMeta { port, received, task })
    }

    fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for FakeMeta {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A JSON client of the server's API.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn answer(resp: reqwest::Response, what: &str) -> Result<Value> {
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("{what}: reading the answer"))?;
        ensure!(status.is_success(), "{what}: HTTP {status}: {text}");
        serde_json::from_str(&text).with_context(|| format!("{what}: answer is not JSON: {text}"))
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let resp = self.http.get(self.url(path)).bearer_auth(API_KEY).send().await?;
        Self::answer(resp, &format!("GET {path}")).await
    }

    async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Result<Value> {
        let resp = self
            .http
            .request(method.clone(), self.url(path))
            .bearer_auth(API_KEY)
            .json(body)
            .send()
            .await?;
        Self::answer(resp, &format!("{method} {path}")).await
    }
}

fn str_field<'a>(v: &'a Value, name: &str) -> Result<&'a str> {
    v[name].as_str().ok_or_else(|| anyhow!("no string {name:?} in {v}"))
}

fn int_field(v: &Value, name: &str) -> Result<u64> {
    v.pointer(name)
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow!("no integer {name:?} in {v}"))
}

/// `phone,nombre,monto,fecha` with `n` distinct valid Venezuelan mobile numbers.
fn build_csv(n: usize) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(n * 56 + 32);
    s.push_str("phone,nombre,monto,fecha\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "+58412{:07},Cliente {i},{}.{:02} USD,2026-02-{:02}",
            i % 10_000_000,
            10 + i % 990,
            i % 100,
            1 + i % 28
        );
    }
    s.into_bytes()
}

async fn wait_healthy(server: &mut Server, http: &reqwest::Client) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        server.check_alive()?;
        if let Ok(r) = http.get(format!("{}/health", server.base)).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        ensure!(Instant::now() < deadline, "pregon was not healthy within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn one_run(bin: &str, o: &Options) -> Result<RunResult> {
    ensure!(o.messages <= 10_000_000, "at most 10,000,000 distinct phones");
    let wall = Instant::now();
    let loadavg = load_average();
    let fake = match o.provider {
        ProviderKind::Http => Some(FakeMeta::start(Duration::from_millis(o.latency_ms)).await?),
        ProviderKind::Sandbox => None,
    };
    let mut server = Server::start(bin, &o.database)?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?;
    wait_healthy(&mut server, &http).await?;
    let api = Api {
        http,
        base: server.base.clone(),
    };
    eprintln!(
        "end_to_end: pregon pid {} healthy at {} after {:.2} s",
        server.pid,
        server.base,
        wall.elapsed().as_secs_f64()
    );

    // The sender.
    let sender_id = match &fake {
        Some(fake) => {
            let s = api
                .send_json(
                    reqwest::Method::POST,
                    "/api/v1/senders",
                    &json!({
                        "name": "bench-meta",
                        "provider": "meta",
                        "phone_number": "+593995683452",
                        "credentials": {"access_token": "t", "phone_number_id": "1"},
                        "base_url": format!("http://127.0.0.1:{}/v21.0", fake.port),
                        "messages_per_second": RATE,
                        "is_default": true,
                    }),
                )
                .await?;
            str_field(&s, "id")?.to_string()
        }
        None => {
            let list = api.get("/api/v1/senders?limit=200").await?;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            let found = items
                .iter()
                .find(|s| s["provider"] == "sandbox" && s["is_default"] == true)
                .or_else(|| items.iter().find(|s| s["provider"] == "sandbox"));
            match found {
                Some(s) => {
                    let id = str_field(s, "id")?.to_string();
                    api.send_json(
                        reqwest::Method::PATCH,
                        &format!("/api/v1/senders/{id}"),
                        &json!({"messages_per_second": RATE, "is_default": true}),
                    )
                    .await?;
                    id
                }
                None => {
                    let s = api
                        .send_json(
                            reqwest::Method::POST,
                            "/api/v1/senders",
                            &json!({"name": "bench-sandbox", "provider": "sandbox",
                                    "phone_number": "+593995683453",
                                    "messages_per_second": RATE, "is_default": true}),
                        )
                        .await?;
                    str_field(&s, "id")?.to_string()
                }
            }
        }
    };

    let template = api
        .send_json(
            reqwest::Method::POST,
            "/api/v1/templates",
            &json!({"name": "factura_vencimiento", "language": "es", "body": TEMPLATE_BODY}),
        )
        .await?;
    let template_id = str_field(&template, "id")?.to_string();

    // Import.
    let csv = build_csv(o.messages);
    let csv_mb = csv.len() as f64 / 1_048_576.0;
    let form = reqwest::multipart::Form::new()
        .text("name", "bench")
        .text("template_id", template_id)
        .text("sender_id", sender_id)
        .text("start", "false")
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv)
                .file_name("contacts.csv")
                .mime_str("text/csv")?,
        );
    let t = Instant::now();
    let resp = api
        .http
        .post(api.url("/api/v1/campaigns/import"))
        .bearer_auth(API_KEY)
        .multipart(form)
        .send()
        .await?;
    let created = Api::answer(resp, "POST /api/v1/campaigns/import").await?;
    let import_sec = t.elapsed().as_secs_f64();
    let campaign_id = str_field(&created, "id")?.to_string();
    let accepted = int_field(&created, "/import/accepted")?;
    ensure!(
        accepted == o.messages as u64,
        "the import accepted {accepted} of {} contacts: {}",
        o.messages,
        created["import"]
    );
    ensure!(
        created["status"] == "draft",
        "the campaign should be a draft: {}",
        created["status"]
    );
    eprintln!(
        "end_to_end: imported {} contacts ({csv_mb:.1} MiB of CSV) in {import_sec:.3} s",
        o.messages
    );

    // Send.
    let server_pid = server.pid.to_string();
    let cpu_before = (cpu_seconds(&server_pid)?, cpu_seconds("self")?);
    let t = Instant::now();
    api.send_json(
        reqwest::Method::POST,
        &format!("/api/v1/campaigns/{campaign_id}/start"),
        &json!({}),
    )
    .await?;
    let path = format!("/api/v1/campaigns/{campaign_id}");
    let mut last_report = Instant::now();
    let campaign = loop {
        let c = api.get(&path).await?;
        let send_sec = t.elapsed().as_secs_f64();
        match c["status"].as_str() {
            Some("completed") => break c,
            Some("running") => {}
            other => bail!("the campaign is {other:?}, not running: {c}"),
        }
        if last_report.elapsed() >= Duration::from_secs(2) {
            last_report = Instant::now();
            eprintln!(
                "end_to_end:   {:.1} s: sent {} of {}",
                send_sec, c["counts"]["sent"], o.messages
            );
        }
        ensure!(send_sec < 600.0, "the campaign did not complete within 10 minutes: {c}");
        server.check_alive()?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let send_sec = t.elapsed().as_secs_f64();
    let send_cpu_sec = cpu_seconds(&server_pid)? - cpu_before.0;
    let bench_cpu_sec = cpu_seconds("self")? - cpu_before.1;
    let sent = int_field(&campaign, "/counts/sent")?;
    let total = int_field(&campaign, "/total")?;
    ensure!(
        sent == o.messages as u64 && total == o.messages as u64,
        "sent {sent} (total {total}) of {} messages: {}",
        o.messages,
        campaign["counts"]
    );
    if let Some(fake) = &fake {
        let received = fake.received();
        ensure!(
            received == o.messages as u64,
            "the provider received {received} requests for {} messages",
            o.messages
        );
    }

    let peak_rss_mb = server.peak_rss_mb()?;
    let status = server.stop()?;
    if !status.success() {
        eprintln!("end_to_end: warning: pregon exited with {status}");
    }
    drop(fake);
    let wall_sec = wall.elapsed().as_secs_f64();
    let r = RunResult {
        import_rows_per_sec: o.messages as f64 / import_sec,
        messages_per_sec: sent as f64 / send_sec,
        peak_rss_mb,
        wall_sec,
        import_sec,
        send_sec,
        send_cpu_sec,
        bench_cpu_sec,
        loadavg,
    };
    eprintln!(
        "end_to_end: sent {sent} in {send_sec:.3} s = {:.0} msg/s; import {:.0} rows/s; peak RSS {peak_rss_mb:.1} MiB; \
         server CPU {send_cpu_sec:.2} s ({:.0} µs/message), bench CPU {bench_cpu_sec:.2} s; load {loadavg:.2}",
        r.messages_per_sec,
        r.import_rows_per_sec,
        send_cpu_sec * 1e6 / sent.max(1) as f64
    );
    Ok(r)
}
