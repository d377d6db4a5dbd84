//! Webhook ingestion load test: signed Meta status webhooks posted over loopback to a real
//! pregon, on N keep-alive connections at once.
//!
//! ```text
//! cargo bench -p pregon --bench webhooks -- [--messages 20000] [--connections 64] \
//!     [--database postgres://postgres@127.0.0.1/pregon_bench] [--statuses 1]
//! ```
//!
//! pregon runs in this process (API + dispatcher, a temporary SQLite database unless
//! `--database` names one; a PostgreSQL database must exist and be empty). A fake Cloud API
//! (also in this process) accepts a campaign of `--messages` contacts through a Meta sender
//! and names each message `wamid.<phone digits>`. Then every message gets a `delivered` and
//! a `read` webhook, each signed with the sender's app secret, the two in opposite orders
//! for every other message (out-of-order arrival), `--statuses` reports per request. The
//! requests are built and signed beforehand and written on raw keep-alive connections, so
//! the client costs little next to the server. The rate is requests answered 200 per
//! second; at the end every message must be `read` and the campaign's counters must say so.
//! One JSON line goes to stdout; progress to stderr.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use axum::routing::{get, post};
use axum::Json;
use pregon::startup::{AppConfig, Application};
use pregon_providers::signature::sha256_header;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const KEY: &str = "pregon_bench_webhooks_0123456789abcdef";
const SECRET: &str = "bench-app-secret";
const PHONE_NUMBER_ID: &str = "1142";

struct Options {
    messages: usize,
    connections: usize,
    database: Option<String>,
    statuses: usize,
}

fn parse_args() -> Result<Options> {
    let mut o = Options {
        messages: 20_000,
        connections: 64,
        database: None,
        statuses: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow!("{arg} needs a value"));
        match arg.as_str() {
            "--messages" => o.messages = value()?.parse().context("--messages")?,
            "--connections" => o.connections = value()?.parse().context("--connections")?,
            "--database" => o.database = Some(value()?),
            "--statuses" => o.statuses = value()?.parse().context("--statuses")?,
            // cargo bench passes --bench.
            "--bench" => {}
            other => bail!("unknown argument {other:?}"),
        }
    }
    ensure!(
        o.messages > 0 && o.connections > 0 && o.statuses > 0,
        "counts must be positive"
    );
    Ok(o)
}

fn main() -> Result<()> {
    let o = parse_args()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(o))
}

/// The fake Cloud API: accepts every message as `wamid.<to>`.
async fn cloud_api() -> Result<String> {
    let app = axum::Router::new()
        .route(
            "/v21.0/{id}/messages",
            post(|Json(body): Json<Value>| async move {
                let to = body["to"].as_str().unwrap_or_default().to_string();
                Json(
                    json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                            "messages": [{"id": format!("wamid.{to}")}]}),
                )
            }),
        )
        .route("/v21.0/{id}", get(|| async { Json(json!({"id": PHONE_NUMBER_ID})) }));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/v21.0"))
}

fn phone(i: usize) -> String {
    format!("+58412{:07}", 1_000 + i)
}

async fn api(client: &reqwest::Client, method: reqwest::Method, url: String, body: Option<Value>) -> Result<Value> {
    let mut request = client.request(method, &url).bearer_auth(KEY);
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status.is_success(), "{url}: {status}: {text}");
    Ok(serde_json::from_str(&text)?)
}

/// One pre-built request per webhook.
fn requests(o: &Options, host: &str) -> Vec<Vec<u8>> {
    let mut reports: Vec<Value> = Vec::with_capacity(o.messages * 2);
    for i in 0..o.messages {
        let id = format!("wamid.{}", phone(i).trim_start_matches('+'));
        let mut pair = ["delivered", "read"];
        if i % 2 == 1 {
            pair.reverse();
        }
        for (k, status) in pair.iter().enumerate() {
            reports.push(
                json!({"id": id, "status": status, "timestamp": (1_767_225_600 + k).to_string(),
                "recipient_id": id.trim_start_matches("wamid."),
                "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing", "type": "regular"}}),
            );
        }
    }
    reports
        .chunks(o.statuses)
        .map(|chunk| {
            let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
                "value": {"messaging_product": "whatsapp",
                          "metadata": {"display_phone_number": "593995683452", "phone_number_id": PHONE_NUMBER_ID},
                          "statuses": chunk},
                "field": "messages"}]}]})
            .to_string();
            let signature = sha256_header(SECRET.as_bytes(), body.as_bytes());
            format!(
                "POST /webhooks/meta HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 X-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        })
        .collect()
}

/// Reads one HTTP/1.1 response; returns its status code.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end])?.to_ascii_lowercase();
            let status: u16 = head.get(9..12).ok_or_else(|| anyhow!("bad status line"))?.parse()?;
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse())
                .transpose()?
                .unwrap_or(0);
            let total = end + 4 + length;
            while buf.len() < total {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await?;
                ensure!(n > 0, "connection closed mid-response");
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(status);
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        ensure!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn run(o: Options) -> Result<()> {
    let cloud = cloud_api().await?;
    let dir = tempfile::tempdir()?;
    let url = o
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.path().display()));
    let mut config = AppConfig::for_database(&url);
    config.bootstrap_api_key = Some(KEY.into());
    config.master_key = Some("11".repeat(32));
    config.dispatch.poll_interval = Duration::from_millis(20);
    let app = Application::build(config).await?;
    let addr = app.local_addr();
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));
    let base = format!("http://{addr}/api/v1");
    let client = reqwest::Client::new();

    eprintln!("setting up a campaign of {} messages on {url}", o.messages);
    let sender = api(
        &client,
        reqwest::Method::POST,
        format!("{base}/senders"),
        Some(
            json!({"name": "bench", "provider": "meta", "phone_number": "+593995683452",
            "credentials": {"access_token": "tok", "phone_number_id": PHONE_NUMBER_ID, "app_secret": SECRET},
            "base_url": cloud, "messages_per_second": 100000}),
        ),
    )
    .await?;
    let template = api(
        &client,
        reqwest::Method::POST,
        format!("{base}/templates"),
        Some(json!({"name": "saldo", "language": "es", "body": "Hola {{nombre}}"})),
    )
    .await?;
    let contacts: Vec<Value> = (0..o.messages)
        .map(|i| json!({"phone": phone(i), "nombre": "x"}))
        .collect();
    let campaign = api(
        &client,
        reqwest::Method::POST,
        format!("{base}/campaigns"),
        Some(json!({"name": "bench", "sender_id": sender["id"], "template_id": template["id"], "contacts": contacts})),
    )
    .await?;
    let campaign_url = format!("{base}/campaigns/{}", campaign["id"].as_str().unwrap_or_default());
    loop {
        let c = api(&client, reqwest::Method::GET, campaign_url.clone(), None).await?;
        if c["status"] == "completed" {
            ensure!(c["counts"]["sent"] == o.messages, "not all sent: {c}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let requests = Arc::new(requests(&o, &addr.to_string()));
    let total = requests.len();
    eprintln!(
        "posting {total} signed webhooks ({} report(s) each) on {} connections",
        o.statuses, o.connections
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..o.connections {
        let (requests, next) = (requests.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let mut buf = Vec::with_capacity(8192);
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests.len() {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let sent = Instant::now();
                stream.write_all(&requests[i]).await?;
                let status = read_response(&mut stream, &mut buf).await?;
                ensure!(status == 200, "webhook {i} answered {status}");
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1000.0;

    let c = api(&client, reqwest::Method::GET, campaign_url, None).await?;
    ensure!(
        c["counts"]["read"] == o.messages && c["counts"]["sent"] == 0 && c["counts"]["delivered"] == 0,
        "every message must end read: {}",
        c["counts"]
    );
    let rate = total as f64 / elapsed.as_secs_f64();
    println!(
        "{}",
        json!({
            "database": if url.starts_with("postgres") { "postgres" } else { "sqlite" },
            "requests": total, "reports_per_request": o.statuses, "connections": o.connections,
            "seconds": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "requests_per_second": rate.round(),
            "reports_per_second": (rate * o.statuses as f64).round(),
            "latency_ms": {"p50": (pct(0.50) * 100.0).round() / 100.0, "p99": (pct(0.99) * 100.0).round() / 100.0,
                           "max": (pct(1.0) * 100.0).round() / 100.0},
            "final_counts": c["counts"],
        })
    );
    stop.cancel();
    let _ = server.await;
    Ok(())
}
