//! `PREGON_LOG_FORMAT=json` on the real binary: every line on stderr is a JSON object, HTTP
//! requests carry their `X-Request-Id` (the caller's, or one made up and returned), and a
//! dispatch's lines carry the sender and batch spans. A bad value stops the start at once.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{count, create_campaign, phones, pregon_command, sqlite_url, wait_until, FakeMeta, Server};

const KEY: &str = "pgn_logs";

/// The stderr lines, each parsed (a line that is not a JSON object fails the test).
fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(
                v.is_object() && v["level"].is_string() && v["timestamp"].is_string(),
                "{l}"
            );
            v
        })
        .collect()
}

/// The lines one of whose spans is `span` with `field` = `value`.
fn in_span<'a>(lines: &'a [Value], span: &str, field: &str, value: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| {
            l["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["name"] == span && s[field] == value))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_request_ids_and_dispatch_spans() {
    let dir = tempfile::tempdir().unwrap();
    let provider = FakeMeta::start(1, 3).await;
    let server = Server::start_with(
        &sqlite_url(dir.path()),
        Some(KEY),
        &[("PREGON_LOG_FORMAT", "json"), ("PREGON_LOG", "info,pregon=debug")],
    )
    .await;
    let api = server.api(KEY);
    let http = reqwest::Client::new();

    // The caller's id is kept and returned; without one, one is made up and returned.
    let theirs = http
        .get(format!("{}/api/v1/system", server.base))
        .bearer_auth(KEY)
        .header("x-request-id", "req-logs-4711")
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 200);
    assert_eq!(theirs.headers()["x-request-id"], "req-logs-4711");
    let ours = http.get(format!("{}/health", server.base)).send().await.unwrap();
    let made = ours.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid_like(&made), "{made}");
    // One too long to log is replaced.
    let long = "x".repeat(500);
    let replaced = http
        .get(format!("{}/health", server.base))
        .header("x-request-id", &long)
        .send()
        .await
        .unwrap();
    assert!(uuid_like(replaced.headers()["x-request-id"].to_str().unwrap()));

    let list = phones(5);
    let campaign = create_campaign(&api, &provider, &list).await;
    wait_until("the campaign completes", Duration::from_secs(20), || {
        let api = &api;
        let campaign = &campaign;
        async move { count(&api.campaign(campaign).await, "sent") == 5 }
    })
    .await;

    // The batches' lines come as their requests start: all of them by now, or soon.
    wait_until("the logs show every request started", Duration::from_secs(10), || {
        let done = requests_started(&json_lines(&server.stderr())) == 5;
        async move { done }
    })
    .await;
    let lines = json_lines(&server.stderr());

    let answered = in_span(&lines, "http", "request_id", "req-logs-4711");
    assert!(!answered.is_empty(), "no line carries the caller's request id");
    let http_span = answered[0]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "http")
        .unwrap();
    assert_eq!(http_span["route"], "/api/v1/system", "the route template, in the span");
    assert_eq!(http_span["method"], "GET");
    assert!(answered
        .iter()
        .any(|l| l["message"] == "answered" && l["status"] == 200));
    assert!(
        !in_span(&lines, "http", "request_id", &made).is_empty(),
        "the made-up id is logged"
    );

    // The dispatch: the sender's span around its run, a batch span around its requests.
    let batches: Vec<&Value> = lines.iter().filter(|l| l["message"] == "requests started").collect();
    assert!(!batches.is_empty());
    for b in &batches {
        let spans = b["spans"].as_array().unwrap();
        let names: Vec<&str> = spans.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["sender", "batch"], "{b}");
        assert!(spans[0]["sender"].as_str().unwrap().starts_with("snd_"), "{b}");
        assert!(spans[1]["batch"].is_u64(), "{b}");
    }
}

/// Requests started, as the batches' lines count them.
fn requests_started(lines: &[Value]) -> u64 {
    lines
        .iter()
        .filter(|l| l["message"] == "requests started")
        .map(|l| l["requests"].as_u64().unwrap())
        .sum()
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.chars().filter(|c| *c == '-').count() == 4
        && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[tokio::test]
async fn an_unknown_log_format_stops_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = pregon_command()
        .arg("serve")
        .env("PREGON_DATABASE_URL", sqlite_url(dir.path()))
        .env("PREGON_LISTEN", "127.0.0.1:0")
        .env("PREGON_LOG_FORMAT", "xml")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid value 'xml'") && stderr.contains("json") && stderr.contains("text"),
        "{stderr}"
    );
    assert!(!dir.path().join("p.db").exists(), "nothing was started");
}
