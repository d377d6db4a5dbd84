//! End-to-end benchmark: the real `pregon serve` binary, a fresh SQLite database, a CSV
//! import and a whole campaign sent through a provider.
//!
//! ```text
//! cargo bench -p pregon --bench end_to_end -- [--messages 100000] [--provider http|sandbox] \
//!     [--runs 3] [--latency-ms 0] [--database sqlite|postgres] [--processes 1] [--senders N]
//! ```
//!
//! `--database postgres` runs on a fresh database per run on the local PostgreSQL
//! (`PREGON_BENCH_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! `--processes N` (N ≥ 2, PostgreSQL only) runs `pregon serve` plus N − 1 `pregon worker`s
//! on the same database, each with its own `PREGON_HOSTNAME` (`bench-1`, `bench-2`, …).
//! Work is partitioned by sender, so the run has N senders of the same kind, each at the
//! same rate, and N campaigns of `--messages / N` distinct contacts, one per sender: all
//! imported (the import time is the total), then all started; the send time runs from the
//! first start until every campaign is `completed`. Peak RSS is the largest of the
//! processes', `send_cpu_sec` their sum; the JSON lines then carry `"processes": N` and, per
//! run, `processes_sending`: how many processes were seen holding a sender's lease (sampled
//! through `GET /api/v1/system`). The processes do not balance senders among themselves:
//! whichever dispatcher looks first takes a sender, so some runs may leave a worker idle.
//! `--senders M` (default: as many as processes) sets the number of senders and campaigns on
//! its own, e.g. `--processes 1 --senders 2` as the control for `--processes 2`.
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
//! before stopping it (and any workers) with SIGTERM. One JSON line per run goes to stdout,
//! then (with `--runs` > 1) one line of medians; progress goes to stderr. Besides the rates,
//! each line carries the server's CPU seconds while sending (`send_cpu_sec`), this process's
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
    /// pregon processes on the database: `pregon serve`, then `pregon worker`s; as many
    /// senders and campaigns unless `senders` says otherwise.
    processes: usize,
    /// Senders, each with one campaign of `messages / senders` contacts (`--senders`,
    /// default: `processes`).
    senders: usize,
}

fn parse_args() -> Result<Options> {
    let mut o = Options {
        messages: 100_000,
        provider: ProviderKind::Http,
        runs: 1,
        latency_ms: 0,
        database: "sqlite".into(),
        processes: 1,
        senders: 0,
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
            "--processes" => o.processes = value("--processes")?.parse().context("--processes")?,
            "--senders" => o.senders = value("--senders")?.parse().context("--senders")?,
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
                     [--provider http|sandbox] [--runs K] [--latency-ms MS] \
                     [--database sqlite|postgres] [--processes N] [--senders M]"
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
    ensure!(o.processes > 0, "--processes must be positive");
    ensure!(
        o.processes == 1 || o.database == "postgres",
        "--processes {} needs --database postgres: several processes share work through \
         sender leases in one PostgreSQL database (SQLite allows one writer at a time)",
        o.processes
    );
    if o.senders == 0 {
        o.senders = o.processes;
    }
    ensure!(
        o.messages >= o.senders,
        "--messages must be at least the number of senders (one campaign per sender)"
    );
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
    /// With several processes: how many were seen holding a sender's lease while sending.
    processes_sending: Option<usize>,
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
    if o.processes > 1 || o.senders > 1 {
        eprintln!(
            "end_to_end: {} process(es) (pregon serve + {} pregon worker), {} senders, {} campaigns",
            o.processes,
            o.processes - 1,
            o.senders,
            o.senders
        );
    }
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
            // Per run only.
            processes_sending: None,
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
    /// pregon processes; left out when 1.
    #[serde(skip_serializing_if = "is_one")]
    processes: usize,
    /// Senders (and campaigns); left out when 1.
    #[serde(skip_serializing_if = "is_one")]
    senders: usize,
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
    /// With several processes, on each run's line: how many sent (held a sender's lease).
    #[serde(skip_serializing_if = "Option::is_none")]
    processes_sending: Option<usize>,
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
            processes: o.processes,
            senders: o.senders,
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
            processes_sending: r.processes_sending,
            run,
            median_of_runs,
        }
    }
}

fn is_one(n: &usize) -> bool {
    *n == 1
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

/// A `pregon` child process; stopped (SIGTERM, then SIGKILL after 30 s) when dropped.
struct Pregon {
    child: Option<Child>,
    pid: u32,
    /// `pregon`, or `pregon worker bench-2`, for messages.
    name: String,
}

/// The `pregon serve` child and, with `--processes` > 1, its `pregon worker`s; all stopped
/// when dropped.
struct Server {
    serve: Pregon,
    /// Stopped after `serve` and before the database goes (fields drop in order).
    workers: Vec<Pregon>,
    pid: u32,
    base: String,
    /// The database URL the workers join.
    url: String,
    // Kept to the end: the database lives in it.
    dir: tempfile::TempDir,
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

/// Credential encryption key of every process on a PostgreSQL database (required there, and
/// the same on every process).
fn postgres_master_key() -> String {
    "ab".repeat(32)
}

impl Server {
    /// `pregon serve`; `hostname` (`PREGON_HOSTNAME`) is set when several processes run.
    fn start(bin: &str, database: &str, hostname: Option<&str>) -> Result<Self> {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let port = free_port()?;
        let (url, postgres) = if database == "postgres" {
            let pg = PostgresDatabase::create()?;
            (pg.url.clone(), Some(pg))
        } else {
            (format!("sqlite://{}", dir.path().join("pregon.db").display()), None)
        };
        let mut command = pregon_command(bin, "serve", &url, postgres.is_some(), dir.path(), hostname);
        command
            .env("PREGON_BOOTSTRAP_API_KEY", API_KEY)
            .env("PREGON_LISTEN", format!("127.0.0.1:{port}"));
        let serve = Pregon::spawn(command, "pregon".into())?;
        Ok(Server {
            pid: serve.pid,
            serve,
            workers: Vec::new(),
            base: format!("http://127.0.0.1:{port}"),
            url,
            dir,
            _postgres: postgres,
        })
    }

    /// One more `pregon worker` on the same database.
    fn start_worker(&mut self, bin: &str, hostname: &str) -> Result<u32> {
        let command = pregon_command(bin, "worker", &self.url, true, self.dir.path(), Some(hostname));
        let worker = Pregon::spawn(command, format!("pregon worker {hostname}"))?;
        let pid = worker.pid;
        self.workers.push(worker);
        Ok(pid)
    }

    /// Every process: `serve` first, then the workers.
    fn processes(&self) -> impl Iterator<Item = &Pregon> {
        std::iter::once(&self.serve).chain(&self.workers)
    }

    /// Whether every child is still running.
    fn check_alive(&mut self) -> Result<()> {
        self.serve.check_alive()?;
        for worker in &mut self.workers {
            worker.check_alive()?;
        }
        Ok(())
    }

    /// Peak resident set size so far, in MiB (`VmHWM`): the largest of the processes'.
    fn peak_rss_mb(&self) -> Result<f64> {
        let mut peak: f64 = 0.0;
        for p in self.processes() {
            peak = peak.max(p.peak_rss_mb()?);
        }
        Ok(peak)
    }

    /// SIGTERM to every process at once, then wait for each (SIGKILL after 30 s). Returns
    /// each one's name and exit status.
    fn stop(&mut self) -> Result<Vec<(String, std::process::ExitStatus)>> {
        for p in std::iter::once(&mut self.serve).chain(&mut self.workers) {
            p.terminate()?;
        }
        let mut statuses = Vec::new();
        for p in std::iter::once(&mut self.serve).chain(&mut self.workers) {
            if p.child.is_some() {
                statuses.push((p.name.clone(), p.stop()?));
            }
        }
        Ok(statuses)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// `pregon <subcommand>` on `url`, with the benchmark's environment.
fn pregon_command(
    bin: &str,
    subcommand: &str,
    url: &str,
    postgres: bool,
    dir: &std::path::Path,
    hostname: Option<&str>,
) -> Command {
    let mut command = Command::new(bin);
    if postgres {
        command.env("PREGON_MASTER_KEY", postgres_master_key());
    } else {
        command.env_remove("PREGON_MASTER_KEY");
    }
    if let Some(hostname) = hostname {
        // Each process its own host name, so that none is ever taken for another one.
        command.env("PREGON_HOSTNAME", hostname);
    }
    command
        .arg(subcommand)
        .env("PREGON_DATABASE_URL", url)
        // `PREGON_BENCH_LOG` overrides, e.g. `warn,sqlx::query=debug` to time every statement.
        .env(
            "PREGON_LOG",
            std::env::var("PREGON_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .env("PREGON_SANDBOX_LATENCY_MS", "0")
        .env_remove("PREGON_MAX_IN_FLIGHT")
        .current_dir(dir)
        .stdin(Stdio::null())
        // Its banner would mix with our JSON lines; its logs (stderr) are progress.
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

impl Pregon {
    fn spawn(mut command: Command, name: String) -> Result<Self> {
        let child = command.spawn().with_context(|| {
            let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
            format!(
                "starting {} {}",
                command.get_program().to_string_lossy(),
                args.join(" ")
            )
        })?;
        Ok(Pregon {
            pid: child.id(),
            child: Some(child),
            name,
        })
    }

    /// Whether the child is still running.
    fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                bail!("{} exited early: {status}", self.name);
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

    /// SIGTERM, unless it has stopped already.
    fn terminate(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut() {
            if child.try_wait()?.is_none() {
                let _ = Command::new("kill")
                    .args(["-TERM", &self.pid.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        Ok(())
    }

    /// SIGTERM, then wait (SIGKILL after 30 s). Returns the exit status when it stopped.
    fn stop(&mut self) -> Result<std::process::ExitStatus> {
        self.terminate()?;
        let Some(mut child) = self.child.take() else {
            bail!("{} was already stopped", self.name);
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "end_to_end: {} (pid {}) ignored SIGTERM for 30 s; killing it",
                    self.name, self.pid
                );
                let _ = child.kill();
                return Ok(child.wait()?);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pregon {
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

/// `phone,nombre,monto,fecha` with `n` distinct valid Venezuelan mobile numbers, from contact
/// number `first` on (so that campaigns built from different ranges share no phone).
fn build_csv(first: usize, n: usize) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(n * 56 + 32);
    s.push_str("phone,nombre,monto,fecha\n");
    for i in first..first + n {
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

/// Waits until `n` dispatchers have registered in the database (`GET /api/v1/system`).
async fn wait_dispatchers(server: &mut Server, api: &Api, n: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        server.check_alive()?;
        let system = api.get("/api/v1/system").await?;
        let registered = system["dispatchers"].as_array().map_or(0, Vec::len);
        if registered >= n {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{registered} of {n} dispatchers registered within 60 s: {system}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Records which process (by host name) holds which sender's lease right now.
async fn sample_owners(
    api: &Api,
    sender_ids: &[String],
    owners: &mut std::collections::BTreeMap<String, std::collections::BTreeSet<usize>>,
) -> Result<()> {
    let system = api.get("/api/v1/system").await?;
    for d in system["dispatchers"].as_array().into_iter().flatten() {
        let host = d["host"].as_str().unwrap_or("?").to_string();
        let held = owners.entry(host).or_default();
        for s in d["senders"].as_array().into_iter().flatten() {
            if let Some(k) = sender_ids.iter().position(|id| s == id.as_str()) {
                held.insert(k + 1);
            }
        }
    }
    Ok(())
}

/// `bench-1`, `bench-2`, … : process `k`'s `PREGON_HOSTNAME` (1-based).
fn bench_hostname(k: usize) -> String {
    format!("bench-{k}")
}

async fn one_run(bin: &str, o: &Options) -> Result<RunResult> {
    ensure!(o.messages <= 10_000_000, "at most 10,000,000 distinct phones");
    let wall = Instant::now();
    let loadavg = load_average();
    let several = o.processes > 1;
    let fake = match o.provider {
        ProviderKind::Http => Some(FakeMeta::start(Duration::from_millis(o.latency_ms)).await?),
        ProviderKind::Sandbox => None,
    };
    let hostname = |k: usize| several.then(|| bench_hostname(k));
    let mut server = Server::start(bin, &o.database, hostname(1).as_deref())?;
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
    if several {
        // Started once `serve` has migrated the database.
        for k in 2..=o.processes {
            let pid = server.start_worker(bin, &bench_hostname(k))?;
            eprintln!("end_to_end: pregon worker {} pid {pid}", bench_hostname(k));
        }
        wait_dispatchers(&mut server, &api, o.processes).await?;
        eprintln!(
            "end_to_end: {} dispatchers registered after {:.2} s",
            o.processes,
            wall.elapsed().as_secs_f64()
        );
    }

    // The senders (by default one per process), each at the same rate.
    let mut sender_ids = Vec::with_capacity(o.senders);
    for k in 0..o.senders {
        // The first one is named as with a single process.
        let suffix = if k == 0 { String::new() } else { format!("-{}", k + 1) };
        let sender_id = match &fake {
            Some(fake) => {
                let s = api
                    .send_json(
                        reqwest::Method::POST,
                        "/api/v1/senders",
                        &json!({
                            "name": format!("bench-meta{suffix}"),
                            "provider": "meta",
                            "phone_number": format!("+59399568{}", 3452 + k),
                            "credentials": {"access_token": "t", "phone_number_id": (k + 1).to_string()},
                            "base_url": format!("http://127.0.0.1:{}/v21.0", fake.port),
                            "messages_per_second": RATE,
                            "is_default": k == 0,
                        }),
                    )
                    .await?;
                str_field(&s, "id")?.to_string()
            }
            None if k > 0 => {
                let s = api
                    .send_json(
                        reqwest::Method::POST,
                        "/api/v1/senders",
                        &json!({"name": format!("bench-sandbox{suffix}"), "provider": "sandbox",
                                "phone_number": format!("+59399568{}", 3460 + k),
                                "messages_per_second": RATE}),
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
        sender_ids.push(sender_id);
    }

    let template = api
        .send_json(
            reqwest::Method::POST,
            "/api/v1/templates",
            &json!({"name": "factura_vencimiento", "language": "es", "body": TEMPLATE_BODY}),
        )
        .await?;
    let template_id = str_field(&template, "id")?.to_string();

    // Import: one campaign per sender, `messages / senders` distinct contacts each (the
    // first ones one more when it does not divide).
    let mut campaigns = Vec::with_capacity(o.senders);
    let mut csv_mb = 0.0;
    let mut import_sec = 0.0;
    let mut first = 0;
    for (k, sender_id) in sender_ids.iter().enumerate() {
        let size = o.messages / o.senders + usize::from(k < o.messages % o.senders);
        let csv = build_csv(first, size);
        first += size;
        csv_mb += csv.len() as f64 / 1_048_576.0;
        let name = if o.senders > 1 {
            format!("bench-{}", k + 1)
        } else {
            "bench".into()
        };
        let form = reqwest::multipart::Form::new()
            .text("name", name)
            .text("template_id", template_id.clone())
            .text("sender_id", sender_id.clone())
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
        import_sec += t.elapsed().as_secs_f64();
        let accepted = int_field(&created, "/import/accepted")?;
        ensure!(
            accepted == size as u64,
            "the import accepted {accepted} of {size} contacts: {}",
            created["import"]
        );
        ensure!(
            created["status"] == "draft",
            "the campaign should be a draft: {}",
            created["status"]
        );
        campaigns.push((str_field(&created, "id")?.to_string(), size as u64));
    }
    let import_rss_mb = server.peak_rss_mb()?;
    let in_campaigns = if o.senders > 1 {
        format!(" as {} campaigns", o.senders)
    } else {
        String::new()
    };
    eprintln!(
        "end_to_end: imported {} contacts ({csv_mb:.1} MiB of CSV){in_campaigns} in {import_sec:.3} s, peak RSS {import_rss_mb:.1} MiB",
        o.messages
    );

    // Send.
    let pids: Vec<String> = server.processes().map(|p| p.pid.to_string()).collect();
    let cpu_before = pids.iter().map(|pid| cpu_seconds(pid)).collect::<Result<Vec<_>>>()?;
    let bench_cpu_before = cpu_seconds("self")?;
    let t = Instant::now();
    for (campaign_id, _) in &campaigns {
        api.send_json(
            reqwest::Method::POST,
            &format!("/api/v1/campaigns/{campaign_id}/start"),
            &json!({}),
        )
        .await?;
    }
    // The last answer for each campaign; polled until it is `completed`.
    let mut finished: Vec<Option<Value>> = vec![None; campaigns.len()];
    let mut owners = std::collections::BTreeMap::new();
    // Whether every sender has been seen held by some process.
    let mut owners_known = false;
    let mut last_report = Instant::now();
    loop {
        let mut sent_so_far = 0;
        for ((campaign_id, _), done) in campaigns.iter().zip(finished.iter_mut()) {
            if let Some(c) = done {
                sent_so_far += c["counts"]["sent"].as_u64().unwrap_or(0);
                continue;
            }
            let c = api.get(&format!("/api/v1/campaigns/{campaign_id}")).await?;
            sent_so_far += c["counts"]["sent"].as_u64().unwrap_or(0);
            match c["status"].as_str() {
                Some("completed") => *done = Some(c),
                Some("running") => {}
                other => bail!("the campaign is {other:?}, not running: {c}"),
            }
        }
        let send_sec = t.elapsed().as_secs_f64();
        if finished.iter().all(Option::is_some) {
            break;
        }
        // Who sends for whom: at every poll until each sender has been seen held, then at
        // every progress line.
        let report = last_report.elapsed() >= Duration::from_secs(2);
        if several && (report || !owners_known) {
            sample_owners(&api, &sender_ids, &mut owners).await?;
            let held: std::collections::BTreeSet<usize> = owners.values().flatten().copied().collect();
            owners_known = held.len() == sender_ids.len();
        }
        if report {
            last_report = Instant::now();
            eprintln!(
                "end_to_end:   {:.1} s: sent {} of {}",
                send_sec, sent_so_far, o.messages
            );
        }
        ensure!(
            send_sec < 600.0,
            "the campaigns did not complete within 10 minutes: {sent_so_far} of {} sent",
            o.messages
        );
        server.check_alive()?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let send_sec = t.elapsed().as_secs_f64();
    let cpu_after = pids.iter().map(|pid| cpu_seconds(pid)).collect::<Result<Vec<_>>>()?;
    let cpu_each: Vec<f64> = cpu_after.iter().zip(&cpu_before).map(|(a, b)| a - b).collect();
    let send_cpu_sec: f64 = cpu_each.iter().sum();
    let bench_cpu_sec = cpu_seconds("self")? - bench_cpu_before;
    let (mut sent, mut total) = (0, 0);
    for ((_, size), campaign) in campaigns.iter().zip(finished.iter().flatten()) {
        let s = int_field(campaign, "/counts/sent")?;
        let n = int_field(campaign, "/total")?;
        ensure!(
            s == *size && n == *size,
            "sent {s} (total {n}) of {size} messages: {}",
            campaign["counts"]
        );
        sent += s;
        total += n;
    }
    ensure!(
        sent == o.messages as u64 && total == o.messages as u64,
        "sent {sent} (total {total}) of {} messages",
        o.messages
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
    let rss_each = server
        .processes()
        .map(Pregon::peak_rss_mb)
        .collect::<Result<Vec<_>>>()?;
    for (name, status) in server.stop()? {
        if !status.success() {
            eprintln!("end_to_end: warning: {name} exited with {status}");
        }
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
        processes_sending: several.then(|| owners.values().filter(|s| !s.is_empty()).count()),
    };
    eprintln!(
        "end_to_end: sent {sent} in {send_sec:.3} s = {:.0} msg/s; import {:.0} rows/s; peak RSS {peak_rss_mb:.1} MiB; \
         server CPU {send_cpu_sec:.2} s ({:.0} µs/message), bench CPU {bench_cpu_sec:.2} s; load {loadavg:.2}",
        r.messages_per_sec,
        r.import_rows_per_sec,
        send_cpu_sec * 1e6 / sent.max(1) as f64
    );
    if several {
        for (k, (cpu, rss)) in cpu_each.iter().zip(&rss_each).enumerate() {
            let held = owners
                .get(&bench_hostname(k + 1))
                .filter(|s| !s.is_empty())
                .map(|s| s.iter().map(|n: &usize| n.to_string()).collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|| "none".into());
            eprintln!(
                "end_to_end:   {}: CPU {cpu:.2} s while sending, peak RSS {rss:.1} MiB, seen holding sender(s) {held}",
                bench_hostname(k + 1)
            );
        }
        if let Some(n) = r.processes_sending.filter(|n| *n < o.processes.min(o.senders)) {
            // Dispatchers do not balance senders: the one woken by the API call usually wins.
            eprintln!(
                "end_to_end: warning: only {n} of {} processes sent; the others held no sender",
                o.processes
            );
        }
    }
    Ok(r)
}
