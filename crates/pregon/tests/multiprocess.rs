//! Scale-out on PostgreSQL with real processes: two `pregon serve` and one `pregon worker`
//! share one database and two senders. The process that owns a sender is SIGKILLed
//! mid-campaign; the others take the sender over once its lease expires (each process
//! claims a different host name, so the lease-expiry path is the one exercised, not the
//! same-host shortcut). Every contact ends `sent` once or `unknown`, no phone receives two
//! messages, and each sender's rate holds at the provider across the takeover.
//!
//! Needs PostgreSQL at `PREGON_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and `psql`; skips without them unless
//! `PREGON_REQUIRE_POSTGRES=1`.

mod support;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use support::{count, pregon_command, wait_until, Server};
use tokio::process::Child;

const KEY: &str = "pgn_multiprocess";
const MASTER_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// A throwaway database on the local server, dropped afterwards.
struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    fn create() -> Option<TestDatabase> {
        let admin = std::env::var("PREGON_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("pregon_mp_{:016x}", rand::random::<u64>());
        let created = std::process::Command::new("psql")
            .args([admin.as_str(), "-qAtc", &format!("create database {name}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match created {
            Ok(out) if out.status.success() => {
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Some(TestDatabase {
                    url: format!("{base}/{name}"),
                    admin,
                    name,
                })
            }
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                if std::env::var("PREGON_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                    panic!("no PostgreSQL at {admin} ({why}) and PREGON_REQUIRE_POSTGRES=1");
                }
                eprintln!("skipping: no PostgreSQL at {admin} ({})", why.trim());
                None
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
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

/// Arrival times per sender (`phone_number_id`) and requests per recipient.
#[derive(Default)]
struct Seen {
    arrivals: HashMap<String, Vec<Instant>>,
    per_phone: HashMap<String, u32>,
}

async fn accept(
    State(seen): State<Arc<Mutex<Seen>>>,
    UrlPath(id): UrlPath<String>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let to = format!("+{}", body["to"].as_str().unwrap_or_default());
    let n = {
        let mut s = seen.lock().unwrap();
        s.arrivals.entry(id).or_default().push(Instant::now());
        *s.per_phone.entry(to).or_insert(0) += 1;
        s.per_phone.len()
    };
    tokio::time::sleep(Duration::from_millis(15)).await;
    Json(json!({"messaging_product": "whatsapp", "messages": [{"id": format!("wamid.mp{n}")}]}))
}

/// Most arrivals within any one second, and when that second started.
fn busiest_second(times: &[Instant]) -> (usize, Instant) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let (mut best, mut at, mut j) = (0, sorted[0], 0);
    for i in 0..sorted.len() {
        while j < sorted.len() && sorted[j] < sorted[i] + Duration::from_secs(1) {
            j += 1;
        }
        if j - i > best {
            best = j - i;
            at = sorted[i];
        }
    }
    (best, at)
}

/// A `pregon worker`, killed when dropped.
struct Worker {
    child: Child,
    pid: u32,
}

impl Worker {
    fn start(database_url: &str, host: &str) -> Worker {
        let mut cmd = pregon_command();
        cmd.arg("worker")
            .env("PREGON_DATABASE_URL", database_url)
            .env("PREGON_MASTER_KEY", MASTER_KEY)
            .env("PREGON_LEASE_TTL_SECS", "2")
            .env("PREGON_HOSTNAME", host)
            .env("PREGON_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = cmd.spawn().expect("pregon worker starts");
        let pid = child.id().unwrap();
        Worker { child, pid }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_two_senders_one_killed() {
    let Some(db) = TestDatabase::create() else { return };
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route("/v21.0/{id}/messages", post(accept))
        // The credentials check of the pre-flight on campaign start.
        .route(
            "/v21.0/{id}",
            axum::routing::get(|| async { Json(json!({"id": "ok"})) }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = format!("http://{}/v21.0", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let env = |host: &'static str| {
        [
            ("PREGON_MASTER_KEY", MASTER_KEY),
            ("PREGON_LEASE_TTL_SECS", "2"),
            ("PREGON_HOSTNAME", host),
        ]
    };
    let a = Server::start_with(&db.url, Some(KEY), &env("host-a")).await;
    let b = Server::start_with(&db.url, Some(KEY), &env("host-b")).await;
    let c = Worker::start(&db.url, "host-c");
    let mut processes: HashMap<u32, &'static str> = HashMap::from([(a.pid, "a"), (b.pid, "b"), (c.pid, "c")]);

    let api = a.api(KEY);
    let rates: [(&str, f64); 2] = [("1", 80.0), ("2", 50.0)];
    let template = api
        .post(
            "/api/v1/templates",
            &json!({"name": "t", "language": "es", "body": "Hola {{nombre}}"}),
            201,
        )
        .await;
    let mut campaigns = Vec::new();
    let mut senders = HashMap::new();
    for (i, (phone_number_id, rate)) in rates.iter().enumerate() {
        let sender = api
            .post(
                "/api/v1/senders",
                &json!({"name": format!("s{phone_number_id}"), "provider": "meta", "phone_number": format!("+59399568345{i}"),
                        "credentials": {"access_token": "t", "phone_number_id": phone_number_id},
                        "base_url": provider, "messages_per_second": rate}),
                201,
            )
            .await;
        let sender_id = sender["id"].as_str().unwrap().to_string();
        senders.insert(sender_id.clone(), *phone_number_id);
        let n = (*rate as usize) * 9;
        let contacts: Vec<Value> = (0..n)
            .map(|k| json!({"phone": format!("+58412{i}{k:06}"), "nombre": "x"}))
            .collect();
        let created = api
            .post(
                "/api/v1/campaigns",
                &json!({"name": format!("c{i}"), "sender_id": sender_id, "template_id": template["id"], "contacts": contacts}),
                201,
            )
            .await;
        campaigns.push((created["id"].as_str().unwrap().to_string(), n));
    }

    // Let both senders get going, then kill whoever owns the first one.
    let first_sender = senders
        .iter()
        .find(|(_, p)| **p == "1")
        .map(|(s, _)| s.clone())
        .unwrap();
    let mut victim = None;
    wait_until(
        "a dispatcher owns the first sender and has sent",
        Duration::from_secs(30),
        || {
            let api = api.clone();
            let first_sender = first_sender.clone();
            let campaign = campaigns[0].0.clone();
            async move {
                let sent = count(&api.campaign(&campaign).await, "sent");
                let system = api.get("/api/v1/system").await;
                let owner = system["dispatchers"].as_array().into_iter().flatten().find(|d| {
                    d["senders"]
                        .as_array()
                        .is_some_and(|s| s.iter().any(|x| x == first_sender.as_str()))
                });
                sent >= 150 && owner.is_some()
            }
        },
    )
    .await;
    let system = api.get("/api/v1/system").await;
    assert_eq!(system["dispatchers"].as_array().unwrap().len(), 3, "{system}");
    for d in system["dispatchers"].as_array().unwrap() {
        if d["senders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == first_sender.as_str())
        {
            victim = Some(d["pid"].as_i64().unwrap() as u32);
        }
    }
    let victim = victim.expect("an owner");
    let name = processes.remove(&victim).unwrap();
    eprintln!("killing process {name} (pid {victim}), owner of the first sender");
    let killed_at = Instant::now();
    let (api, _a, _b, _c) = match name {
        "a" => {
            a.kill().await;
            (b.api(KEY), None, Some(b), Some(c))
        }
        "b" => {
            b.kill().await;
            (api, Some(a), None, Some(c))
        }
        _ => {
            let mut c = c;
            c.child.kill().await.unwrap();
            (api, Some(a), Some(b), None)
        }
    };

    for (id, n) in &campaigns {
        let id = id.clone();
        wait_until(
            "the campaign completes after the takeover",
            Duration::from_secs(90),
            || {
                let api = api.clone();
                let id = id.clone();
                async move { api.campaign(&id).await["status"] == "completed" }
            },
        )
        .await;
        let c = api.campaign(&id).await;
        let total: i64 = [
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
        ]
        .iter()
        .map(|s| count(&c, s))
        .sum();
        assert_eq!(total, c["total"].as_i64().unwrap(), "counts add up: {c}");
        assert_eq!(
            count(&c, "sent") + count(&c, "unknown"),
            *n as i64,
            "every contact sent or unknown: {c}"
        );
        assert_eq!(count(&c, "failed"), 0, "{c}");
        eprintln!(
            "campaign {id}: sent {}, unknown {}",
            count(&c, "sent"),
            count(&c, "unknown")
        );
        for phone in api.phones_in(&id, "sent").await {
            assert_eq!(
                seen.lock().unwrap().per_phone.get(&phone),
                Some(&1),
                "{phone} is sent: received exactly once"
            );
        }
    }
    let seen = seen.lock().unwrap();
    let duplicates: Vec<_> = seen.per_phone.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "phones that received two messages: {duplicates:?}"
    );
    for (phone_number_id, rate) in rates {
        let (busiest, at) = busiest_second(&seen.arrivals[phone_number_id]);
        let first = *seen.arrivals[phone_number_id].iter().min().unwrap();
        eprintln!(
            "sender {phone_number_id}: rate {rate}/s, busiest second at the provider {busiest}, starting {:?} after its first message (kill at {:?})",
            at - first,
            killed_at - first
        );
        // The limiter holds on send times; arrivals add network and connection-setup jitter
        // (the first requests of a sender wait for their TCP connections and arrive bunched).
        // Two owners sending at once would show up to twice the rate: allow 5 % of jitter.
        let jitter = (rate * 0.05).ceil() as usize;
        assert!(
            busiest <= rate as usize + jitter,
            "sender {phone_number_id} exceeded {rate}/s: {busiest} in one second"
        );
        let times = &seen.arrivals[phone_number_id];
        let span = (*times.iter().max().unwrap() - first).as_secs_f64();
        let average = (times.len() - 1) as f64 / span;
        eprintln!(
            "sender {phone_number_id}: {} messages over {span:.1} s, {average:.1}/s on average",
            times.len()
        );
        // At most `rate` in any one second: over a span of s seconds, at most
        // rate × (⌊s⌋ + 1) messages (plus the arrival jitter allowed above).
        let most = rate * (span.floor() + 1.0) + jitter as f64;
        assert!(
            times.len() as f64 <= most,
            "sender {phone_number_id}: {} messages in {span:.2} s at {rate}/s ({average:.1}/s on average)",
            times.len()
        );
    }
}

/// Two processes get the same keyed request at the same moment (a client that retried on
/// another host): one campaign is created, both answers are its, and the provider sees each
/// contact once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_one_idempotency_key_one_campaign() {
    let Some(db) = TestDatabase::create() else { return };
    let provider = support::FakeMeta::start(2, 5).await;
    let env = |host: &'static str| [("PREGON_MASTER_KEY", MASTER_KEY), ("PREGON_HOSTNAME", host)];
    let a = Server::start_with(&db.url, Some(KEY), &env("host-a")).await;
    let b = Server::start_with(&db.url, Some(KEY), &env("host-b")).await;
    let api = a.api(KEY);
    let sender = api
        .post(
            "/api/v1/senders",
            &json!({"name": "s", "provider": "meta", "phone_number": "+593995683452",
                    "credentials": {"access_token": "t", "phone_number_id": "7"},
                    "base_url": provider.base_url(), "messages_per_second": 200}),
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
    let phones = support::phones(300);
    let contacts: Vec<Value> = phones.iter().map(|p| json!({"phone": p, "nombre": "x"})).collect();
    let body = json!({"name": "once", "sender_id": sender["id"], "template_id": template["id"], "contacts": contacts});
    let http = reqwest::Client::new();
    let post = |base: String| {
        let (http, body) = (http.clone(), body.clone());
        async move {
            let r = http
                .post(format!("{base}/api/v1/campaigns"))
                .bearer_auth(KEY)
                .header("idempotency-key", "one-campaign-please")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let replayed = r.headers().contains_key("idempotent-replayed");
            (status, replayed, r.json::<Value>().await.unwrap())
        }
    };
    let (first, second) = tokio::join!(post(a.base.clone()), post(b.base.clone()));
    eprintln!(
        "answers: {} (replayed {}), {} (replayed {})",
        first.0, first.1, second.0, second.1
    );
    let mut answers = vec![first, second];
    for answer in &answers {
        assert!(matches!(answer.0, 201 | 409), "{answer:?}");
    }
    // A client told "in progress" asks again, and gets the first answer.
    for answer in answers.iter_mut().filter(|a| a.0 == 409) {
        assert_eq!(answer.2["error"]["code"], "idempotency_key_in_progress", "{answer:?}");
        let mut again = post(b.base.clone()).await;
        for _ in 0..100 {
            if again.0 != 409 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            again = post(b.base.clone()).await;
        }
        *answer = again;
    }
    assert_eq!(answers[0].0, 201);
    assert_eq!(answers[1].0, 201);
    assert_eq!(answers[0].2["id"], answers[1].2["id"], "one campaign in both answers");
    assert!(answers.iter().any(|a| a.1), "one of them is a replay");
    let campaign_id = answers[0].2["id"].as_str().unwrap().to_string();
    let list = api.get("/api/v1/campaigns").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    wait_until("the campaign completes", Duration::from_secs(60), || {
        let api = api.clone();
        let id = campaign_id.clone();
        async move { api.campaign(&id).await["status"] == "completed" }
    })
    .await;
    support::assert_no_duplicates(&provider.received(), &phones);
    assert_eq!(provider.received_total(), phones.len() as u64, "each contact once");
    let audit = api.get("/api/v1/audit?action=campaign.create").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
}
