//! `/metrics` after real work: a campaign sent through a fake Cloud API (some accepted, some
//! refused for good), webhooks, HTTP requests. The exposition is parsed (names, labels,
//! values, each sample's family declared), and what the test can know is checked exactly:
//! the sends the fake provider received, the attempts, the queue, the routes.

use std::collections::{BTreeMap, HashSet};

use pregon_providers::signature::sha256_header;
use serde_json::{json, Value};
use wiremock::{MockServer, Request};

use crate::helpers::{
    contacts, digits, meta_accept, meta_error, meta_request, meta_server, mount_meta_credentials, phones,
    sent_requests, spawn_stepped_app, TestApp,
};

const APP_SECRET: &str = "metrics-app-secret";
const WABA: &str = "102290129340398";

/// One sample: its name and labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    name: String,
    labels: BTreeMap<String, String>,
}

/// A parsed exposition: samples by key, and the families' declared types.
#[derive(Debug, Default)]
pub(crate) struct Exposition {
    samples: BTreeMap<Key, f64>,
    types: BTreeMap<String, String>,
}

/// Reads OpenMetrics text: `# TYPE` lines, samples `name{a="x",b="y"} value`, `# EOF` last.
fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "the exposition ends with # EOF");
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            out.types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                (name.to_string(), parse_labels(body, line))
            }
        };
        let key = Key { name, labels };
        assert!(out.samples.insert(key.clone(), value).is_none(), "{key:?} twice");
    }
    // Every sample belongs to a declared family (a counter's `_total`, a histogram's
    // `_bucket`, `_sum` and `_count`).
    for key in out.samples.keys() {
        let family = ["_total", "_bucket", "_count", "_sum", "_created"]
            .iter()
            .find_map(|s| key.name.strip_suffix(s).filter(|f| out.types.contains_key(*f)))
            .unwrap_or(&key.name);
        assert!(out.types.contains_key(family), "{} has no # TYPE", key.name);
    }
    out
}

/// `a="x",b="y\"z"`: quoted values with `\\`, `\"` and `\n` escapes.
fn parse_labels(body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "a quoted value in {line}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => panic!("a dangling escape in {line}"),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => panic!("an unclosed value in {line}"),
            }
        }
        assert!(labels.insert(name, value).is_none(), "a label twice in {line}");
        match chars.next() {
            Some(',') | None => {}
            Some(c) => panic!("{c:?} after a label value in {line}"),
        }
    }
    labels
}

impl Exposition {
    /// The sample `name` with exactly these labels; 0 when absent.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let key = Key {
            name: name.to_string(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        self.samples.get(&key).copied().unwrap_or(0.0)
    }

    /// The sum of `name` over the samples whose labels include these.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(k, _)| k.name == name)
            .filter(|(k, _)| {
                labels
                    .iter()
                    .all(|(n, v)| k.labels.get(*n).map(String::as_str) == Some(*v))
            })
            .map(|(_, v)| v)
            .sum()
    }

    fn label_values(&self) -> HashSet<&str> {
        self.samples
            .keys()
            .flat_map(|k| k.labels.values().map(String::as_str))
            .collect()
    }
}

pub(crate) async fn scrape(app: &TestApp) -> Exposition {
    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.content_type(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    parse(&reply.text)
}

/// A Meta sender with an app secret (its webhooks verify), at `rate`.
async fn sender(app: &TestApp, server: &MockServer, rate: f64) -> Value {
    mount_meta_credentials(server).await;
    // The campaign pre-flight: template `saldo` approved in `es` in the account.
    crate::helpers::mount_meta_template_approved(server, WABA).await;
    app.create_sender(json!({
        "name": "Ventas", "provider": "meta", "phone_number": "+593995683452",
        "credentials": {"access_token": "tok", "phone_number_id": "1142", "waba_id": WABA, "app_secret": APP_SECRET},
        "base_url": format!("{}/v21.0", server.uri()), "messages_per_second": rate
    }))
    .await
}

/// Accepts every recipient except those whose number ends in 7, refused for good (131026).
async fn mount_mostly_accepting(server: &MockServer) {
    meta_request()
        .respond_with(|r: &Request| {
            let to = r
                .body_json::<Value>()
                .ok()
                .and_then(|b| b["to"].as_str().map(String::from));
            if to.is_some_and(|t| t.ends_with('7')) {
                meta_error(400, 131026, "Message undeliverable")
            } else {
                meta_accept(r)
            }
        })
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_campaign_shows_in_the_series_as_the_provider_saw_it() {
    let app = spawn_stepped_app().await;
    let server = meta_server().await;
    mount_mostly_accepting(&server).await;
    let s = sender(&app, &server, 500.0).await;
    let me = app.get("/api/v1/me").await.expect(200);
    let (sid, tenant) = (s["id"].as_str().unwrap(), me["tenant"]["id"].as_str().unwrap());
    let template = app.template().await;
    let list = phones(20);
    let campaign = app
        .create_campaign(json!({"name": "m", "template_id": template, "sender_id": sid, "contacts": contacts(&list)}))
        .await;
    let cid = campaign["id"].as_str().unwrap();

    // Before any send: the whole campaign is queued for its sender.
    let before = scrape(&app).await;
    assert_eq!(
        before.value("pregon_queue_depth", &[("tenant", tenant), ("sender", sid)]),
        20.0
    );
    assert_eq!(before.sum("pregon_attempts_total", &[("sender", sid)]), 0.0);

    app.dispatch_all_pending().await;
    let requests = sent_requests(&server).await;
    let refused = requests
        .iter()
        .filter(|r| r.body_json::<Value>().unwrap()["to"].as_str().unwrap().ends_with('7'))
        .count();
    let accepted = requests.len() - refused;
    assert_eq!(requests.len(), 20, "one request per recipient");
    assert!(refused > 0 && accepted > 0, "both outcomes happen");

    let m = scrape(&app).await;
    let msgs = |status| {
        m.value(
            "pregon_messages_total",
            &[("tenant", tenant), ("sender", sid), ("status", status)],
        )
    };
    assert_eq!(msgs("sent"), accepted as f64);
    assert_eq!(msgs("failed"), refused as f64);
    let attempts = |outcome| m.value("pregon_attempts_total", &[("sender", sid), ("outcome", outcome)]);
    assert_eq!(attempts("accepted"), accepted as f64);
    assert_eq!(attempts("permanent"), refused as f64);
    assert_eq!(m.sum("pregon_attempts_total", &[("sender", sid)]), 20.0);
    // One latency observation per request, in buckets that add up.
    let latency = [("provider", "meta"), ("sender", sid)];
    assert_eq!(
        m.value("pregon_provider_request_duration_seconds_count", &latency),
        20.0
    );
    let inf = [("provider", "meta"), ("sender", sid), ("le", "+Inf")];
    assert_eq!(m.value("pregon_provider_request_duration_seconds_bucket", &inf), 20.0);
    assert!(m.value("pregon_provider_request_duration_seconds_sum", &latency) > 0.0);
    assert_eq!(m.types["pregon_provider_request_duration_seconds"], "histogram");
    // The configured rate beside them; nothing in flight any more; the queue empty.
    assert_eq!(m.value("pregon_sender_configured_rate", &[("sender", sid)]), 500.0);
    assert_eq!(m.sum("pregon_provider_requests_in_flight", &[("sender", sid)]), 0.0);
    assert_eq!(m.sum("pregon_queue_depth", &[("sender", sid)]), 0.0);
    // The lease was taken and given back as often.
    let leases = |change| m.value("pregon_lease_changes_total", &[("sender", sid), ("change", change)]);
    assert!(leases("acquired") >= 1.0);
    assert_eq!(leases("acquired"), leases("released"));
    assert_eq!(leases("lost"), 0.0);
    // The process's own figures.
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(m.value(name, &[]) > 0.0, "{name}");
    }
    // No campaign, message or phone in any label.
    let values = m.label_values();
    assert!(!values.contains(cid), "the campaign id is a label value");
    for phone in &list {
        assert!(!values.contains(phone.as_str()) && !values.contains(digits(phone).as_str()));
    }
    for m_ in app.messages(cid, None).await {
        assert!(!values.contains(m_["id"].as_str().unwrap()));
    }
}

#[tokio::test]
async fn http_requests_are_counted_by_route_template_and_status_class() {
    let app = spawn_stepped_app().await;
    let template = app.template().await;
    let before = scrape(&app).await;
    for _ in 0..3 {
        app.get(&format!("/api/v1/templates/{template}")).await.expect(200);
    }
    assert_eq!(app.get("/api/v1/templates/tpl_nope").await.status, 404);
    assert_eq!(app.get("/no/such/path/4711").await.status, 404);
    let after = scrape(&app).await;
    let diff = |route: &str, status: &str| {
        let labels = [("route", route), ("method", "GET"), ("status", status)];
        after.value("pregon_http_requests_total", &labels) - before.value("pregon_http_requests_total", &labels)
    };
    assert_eq!(diff("/api/v1/templates/{id}", "2xx"), 3.0);
    assert_eq!(diff("/api/v1/templates/{id}", "4xx"), 1.0);
    assert_eq!(diff("unmatched", "4xx"), 1.0);
    let count = |e: &Exposition| {
        e.value(
            "pregon_http_request_duration_seconds_count",
            &[("route", "/api/v1/templates/{id}"), ("method", "GET")],
        )
    };
    assert_eq!(count(&after) - count(&before), 4.0);
    // Never the raw path.
    let values = after.label_values();
    assert!(
        !values.iter().any(|v| v.contains(&template) || v.contains("4711")),
        "{values:?}"
    );
}

#[tokio::test]
async fn webhooks_are_counted_by_result_and_their_lag_measured() {
    let app = spawn_stepped_app().await;
    let server = meta_server().await;
    mount_mostly_accepting(&server).await;
    let s = sender(&app, &server, 500.0).await;
    let sid = s["id"].as_str().unwrap();
    let template = app.template().await;
    let list = phones(1);
    let campaign = app
        .create_campaign(json!({"name": "m", "template_id": template, "sender_id": sid, "contacts": contacts(&list)}))
        .await;
    app.dispatch_all_pending().await;

    // Delivered 30 s before it is posted (Meta's timestamps are whole seconds).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let wamid = format!("wamid.{}", digits(&list[0]));
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "593995683452", "phone_number_id": "1142"},
                  "statuses": [{"id": wamid, "status": "delivered", "timestamp": (now - 30).to_string(),
                                "recipient_id": digits(&list[0])}]}}]}]})
    .to_string();
    let post = |signature: String| {
        app.client
            .post(app.url("/webhooks/meta"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body.clone())
    };
    let signed = app
        .send(post(sha256_header(APP_SECRET.as_bytes(), body.as_bytes())))
        .await;
    assert_eq!(signed.status, 200, "{}", signed.text);
    let forged = app.send(post(sha256_header(b"not the secret", body.as_bytes()))).await;
    assert_eq!(forged.status, 401, "{}", forged.text);
    let malformed = app.send(post("sha256=00".into()).body("{not json")).await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);

    let m = scrape(&app).await;
    let result = |r| m.value("pregon_webhook_requests_total", &[("provider", "meta"), ("result", r)]);
    assert_eq!(
        (result("recorded"), result("unauthorized"), result("rejected")),
        (1.0, 1.0, 1.0)
    );
    let lag = [("provider", "meta")];
    assert_eq!(m.value("pregon_webhook_lag_seconds_count", &lag), 1.0);
    let took = m.value("pregon_webhook_lag_seconds_sum", &lag);
    assert!((29.0..120.0).contains(&took), "lag {took}");
    // The message is delivered: the webhook was recorded, not just counted.
    let delivered = app.messages(campaign["id"].as_str().unwrap(), Some("delivered")).await;
    assert_eq!(delivered.len(), 1);
}

#[tokio::test]
async fn the_parser_reads_escapes_and_refuses_undeclared_samples() {
    let e = parse("# TYPE a counter\na_total{x=\"q\\\"u\\\\o\",y=\"\"} 2\n# EOF\n");
    assert_eq!(e.value("a_total", &[("x", "q\"u\\o"), ("y", "")]), 2.0);
    let undeclared = std::panic::catch_unwind(|| parse("b 1\n# EOF\n"));
    assert!(undeclared.is_err());
    let no_eof = std::panic::catch_unwind(|| parse("# TYPE b gauge\nb 1\n"));
    assert!(no_eof.is_err());
}
