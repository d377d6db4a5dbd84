//! Storage faults with the real binary: the database's disk fills up mid-campaign, and a
//! PostgreSQL server becomes unreachable mid-campaign. Meanwhile writes answer 507
//! `storage_full` / 503 `storage_unavailable` with nothing half-written and `/ready` says
//! so; once the database takes writes again everything carries on by itself (no restart),
//! the campaign completes, no phone receives two messages and the counts add up.
//!
//! A PostgreSQL database turned read-only (SQLSTATE 25006, as a standby answers) is covered
//! the same way.
//!
//! The SQLite case mounts a small tmpfs, so it needs root: without it the test says so and
//! passes, unless `PREGON_REQUIRE_TMPFS=1` (CI), where it fails. The PostgreSQL case puts a
//! TCP proxy the test can cut between pregon and the shared server (never stopped: other
//! tests use it); it skips without PostgreSQL unless `PREGON_REQUIRE_POSTGRES=1`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{assert_no_duplicates, count, counts, create_campaign, phones, wait_until, Api, FakeMeta, Server};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const KEY: &str = "pgn_storage";
const MASTER_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
/// Recovery must come within 10 s of the database taking writes again.
const RECOVERY: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// A small tmpfs, unmounted whatever happens

/// A tmpfs mounted for the test; unmounted (lazily, so even a process still holding files
/// there cannot keep it) when the guard drops, also on a failed assertion.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB, or `None` when not root (and root is not required).
    fn mount(mib: u64) -> Option<Tmpfs> {
        let root = StdCommand::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        if !root {
            assert!(
                std::env::var("PREGON_REQUIRE_TMPFS").as_deref() != Ok("1"),
                "PREGON_REQUIRE_TMPFS=1 but not root: a tmpfs cannot be mounted"
            );
            eprintln!("SKIPPED: mounting a tmpfs needs root (set PREGON_REQUIRE_TMPFS=1 to fail instead)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = StdCommand::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(status.success(), "mount -t tmpfs failed");
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Grows (or shrinks) the file system in place.
    fn resize(&self, mib: u64) {
        let status = StdCommand::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(self.path())
            .status()
            .expect("running mount");
        assert!(status.success(), "mount -o remount,size={mib}m failed");
    }

    /// Fills what is left with a ballast file `name`; returns its path.
    fn fill(&self, name: &str) -> PathBuf {
        use std::io::Write;
        let path = self.path().join(name);
        let mut file = std::fs::File::create(&path).unwrap();
        for chunk in [1 << 20, 64 << 10, 4 << 10] {
            let block = vec![0u8; chunk];
            while file.write_all(&block).and_then(|_| file.flush()).is_ok() {}
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = StdCommand::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

/// `GET` without credentials: status and JSON body.
async fn get_open(base: &str, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}{path}")).await.expect("pregon answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `POST` JSON: status and body.
async fn post_raw(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(KEY)
        .json(body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("pregon answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A campaign of `n` contacts (phones apart from the running campaign's) to the first
/// sender and template, left `draft`: a write large enough not to fit a full disk.
fn import_body(api_ids: &(String, String), n: usize) -> Value {
    let contacts: Vec<Value> = (0..n)
        .map(|i| json!({"phone": format!("+58414{:07}", 1_000_000 + i), "nombre": "x".repeat(200)}))
        .collect();
    json!({"name": "later", "sender_id": api_ids.0, "template_id": api_ids.1, "contacts": contacts, "start": false})
}

async fn sender_and_template(api: &Api) -> (String, String) {
    let senders = api.get("/api/v1/senders").await;
    let templates = api.get("/api/v1/templates").await;
    (
        senders["items"][0]["id"].as_str().unwrap().to_string(),
        templates["items"][0]["id"].as_str().unwrap().to_string(),
    )
}

async fn campaign_total(api: &Api) -> usize {
    api.get("/api/v1/campaigns?limit=100").await["items"]
        .as_array()
        .unwrap()
        .len()
}

/// Waits for the campaign to end and checks what the provider saw against its counts.
async fn finishes_once_each(api: &Api, provider: &FakeMeta, campaign_id: &str, phones: &[String]) {
    wait_until("the campaign completes", Duration::from_secs(90), || async {
        api.campaign(campaign_id).await["status"] == "completed"
    })
    .await;
    let campaign = api.campaign(campaign_id).await;
    let c = counts(&campaign);
    let received = provider.received();
    assert_no_duplicates(&received, phones);
    let sent = count(&campaign, "sent") + count(&campaign, "delivered") + count(&campaign, "read");
    let unknown = c["unknown"];
    assert_eq!(
        sent + unknown,
        phones.len() as i64,
        "every message ends sent or unknown: {campaign}"
    );
    // Every `sent` reached the provider once; an `unknown` at most once.
    let reached = received.len() as i64;
    assert!(
        reached >= sent && reached <= sent + unknown,
        "the provider got {reached} phones for {sent} sent and {unknown} unknown"
    );
    eprintln!("campaign done: {sent} sent, {unknown} unknown, {reached} reached the provider");
}

/// Once the database takes writes again: `/ready` answers 200 (`ready`), an import is
/// written, and the dispatcher sends past the `stalled` count (or has finished).
async fn writes_and_sends_again(
    base: &str,
    api: &Api,
    provider: &FakeMeta,
    ids: &(String, String),
    campaign_id: &str,
    stalled: u64,
    ready: &str,
) {
    wait_until(ready, RECOVERY, || async { get_open(base, "/ready").await.0 == 200 }).await;
    let (status, body) = post_raw(base, "/api/v1/campaigns", &import_body(ids, 500)).await;
    assert_eq!(status, 201, "writes work again: {body}");
    wait_until("the dispatcher sends again", RECOVERY, || async {
        provider.received_total() > stalled || api.campaign(campaign_id).await["status"] == "completed"
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// SQLite: the disk fills up, then grows or is freed

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full_mid_campaign_answers_507_and_recovers_without_restart() {
    let Some(fs) = Tmpfs::mount(12) else { return };
    let db = format!("sqlite://{}", fs.path().join("p.db").display());
    let provider = FakeMeta::start(20, 40).await;
    let phones = phones(2_000);
    let server = Server::start(&db, Some(KEY)).await;
    let api = server.api(KEY);
    let campaign_id = create_campaign(&api, &provider, &phones).await;
    let ids = sender_and_template(&api).await;
    wait_until("the campaign is under way", Duration::from_secs(20), || async {
        count(&api.campaign(&campaign_id).await, "sent") >= 200
    })
    .await;

    // The disk fills up mid-campaign.
    let ballast = fs.fill("ballast");
    let before = campaign_total(&api).await;
    let (status, body) = post_raw(&server.base, "/api/v1/campaigns", &import_body(&ids, 20_000)).await;
    assert_eq!(status, 507, "an import that does not fit: {body}");
    assert_eq!(body["error"]["code"], "storage_full", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert_eq!(campaign_total(&api).await, before, "nothing half-written");
    // Small writes too, once what the WAL had room for is used up; /ready and /health say so.
    wait_until("/ready answers 503 storage_full", Duration::from_secs(20), || async {
        let (status, body) = get_open(&server.base, "/ready").await;
        status == 503 && body["reason"] == "storage_full"
    })
    .await;
    let (_, health) = get_open(&server.base, "/health").await;
    assert_eq!(health["storage"], "storage_full", "{health}");
    let (status, body) = post_raw(
        &server.base,
        "/api/v1/templates",
        &json!({"name": "t2", "language": "es", "body": "Hola"}),
    )
    .await;
    assert_eq!(status, 507, "a small write on a full disk: {body}");
    assert_eq!(body["error"]["code"], "storage_full", "{body}");
    // Nothing reached the provider whose `sending` mark is not written: reads still work,
    // and no phone the provider got is still queued.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = provider.received();
    let queued = api.phones_in(&campaign_id, "queued").await;
    let unmarked: Vec<&String> = queued.iter().filter(|p| received.contains_key(*p)).collect();
    assert!(unmarked.is_empty(), "sent but not marked `sending`: {unmarked:?}");
    let stalled = provider.received_total();

    // The disk grows: everything carries on by itself.
    fs.resize(48);
    let grown = Instant::now();
    wait_until("/ready answers 200 after the disk grew", RECOVERY, || async {
        get_open(&server.base, "/ready").await.0 == 200
    })
    .await;
    wait_until(
        "the dispatcher sends again",
        RECOVERY.saturating_sub(grown.elapsed()),
        || async { provider.received_total() > stalled || api.campaign(&campaign_id).await["status"] == "completed" },
    )
    .await;
    let (status, body) = post_raw(
        &server.base,
        "/api/v1/templates",
        &json!({"name": "t2", "language": "es", "body": "Hola"}),
    )
    .await;
    assert_eq!(status, 201, "writes work again: {body}");

    // Full again, then the ballast goes instead.
    let more = fs.fill("more ballast");
    let (status, body) = post_raw(&server.base, "/api/v1/campaigns", &import_body(&ids, 20_000)).await;
    assert_eq!(status, 507, "full again: {body}");
    std::fs::remove_file(&ballast).unwrap();
    std::fs::remove_file(&more).unwrap();
    wait_until("/ready answers 200 after the ballast went", RECOVERY, || async {
        get_open(&server.base, "/ready").await.0 == 200
    })
    .await;
    let (status, body) = post_raw(&server.base, "/api/v1/campaigns", &import_body(&ids, 500)).await;
    assert_eq!(status, 201, "an import fits again: {body}");

    finishes_once_each(&api, &provider, &campaign_id, &phones).await;
    assert!(
        !server.stderr().contains("non-zero transaction depth"),
        "no connection was left inside a transaction:\n{}",
        server.stderr()
    );
}

// ---------------------------------------------------------------------------------------
// PostgreSQL: unreachable mid-campaign, then back

/// A TCP proxy in front of PostgreSQL that the test cuts (every connection dropped, new
/// ones refused) and restores.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (open, links) = (open.clone(), links.clone());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        drop(client); // refused: closed at once
                        continue;
                    }
                    let upstream = upstream.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            })
        };
        Proxy {
            port,
            open,
            links,
            accept,
        }
    }

    /// Drops every connection and refuses new ones.
    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// Tells apart the databases of the tests of this process.
static NEXT_DB: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A throwaway database on the shared server, dropped afterwards.
struct TestDatabase {
    admin: String,
    name: String,
}

impl TestDatabase {
    fn create() -> Option<TestDatabase> {
        let admin = std::env::var("PREGON_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!(
            "pregon_storage_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let ok = StdCommand::new("psql")
            .args([&admin, "-qc", &format!("create database {name}")])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            assert!(
                std::env::var("PREGON_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "PREGON_REQUIRE_POSTGRES=1 but no PostgreSQL at {admin}"
            );
            eprintln!("SKIPPED: no PostgreSQL at {admin}");
            return None;
        }
        Some(TestDatabase { admin, name })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = StdCommand::new("psql")
            .args([
                &self.admin,
                "-qc",
                &format!("drop database if exists {} with (force)", self.name),
            ])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_mid_campaign_answers_503_and_recovers_without_restart() {
    let Some(db) = TestDatabase::create() else { return };
    let proxy = Proxy::start("127.0.0.1:5432".into()).await;
    let url = format!("postgres://postgres@127.0.0.1:{}/{}", proxy.port, db.name);
    let provider = FakeMeta::start(20, 40).await;
    let phones = phones(2_000);
    let server = Server::start_with(&url, Some(KEY), &[("PREGON_MASTER_KEY", MASTER_KEY)]).await;
    let api = server.api(KEY);
    let campaign_id = create_campaign(&api, &provider, &phones).await;
    let ids = sender_and_template(&api).await;
    wait_until("the campaign is under way", Duration::from_secs(20), || async {
        count(&api.campaign(&campaign_id).await, "sent") >= 200
    })
    .await;

    proxy.cut();
    let (status, body) = post_raw(&server.base, "/api/v1/campaigns", &import_body(&ids, 500)).await;
    assert_eq!(status, 503, "a write with the database unreachable: {body}");
    assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");
    let (status, _) = get_open(&server.base, "/ready").await;
    assert_eq!(status, 503, "/ready while the database is unreachable");
    let (status, health) = get_open(&server.base, "/health").await;
    assert_eq!(status, 503, "/health while the database is unreachable: {health}");
    // Nothing goes out while nothing can be recorded (a request already on its way when the
    // connection was cut may still arrive).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cut_at = provider.received_total();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        provider.received_total(),
        cut_at,
        "nothing is sent while the database is unreachable"
    );

    proxy.restore();
    writes_and_sends_again(
        &server.base,
        &api,
        &provider,
        &ids,
        &campaign_id,
        cut_at,
        "/ready answers 200 after the database came back",
    )
    .await;
    finishes_once_each(&api, &provider, &campaign_id, &phones).await;
    drop(server);
}

// ---------------------------------------------------------------------------------------
// PostgreSQL: the database turns read-only (as a standby is), then takes writes again

/// Runs one statement on the shared server as its superuser.
fn psql(db: &TestDatabase, statement: &str) {
    let status = StdCommand::new("psql")
        .args([&db.admin, "-qtAc", statement])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("running psql");
    assert!(status.success(), "psql: {statement}");
}

/// Makes every session of the test database start read-only (`default_transaction_read_only`,
/// SQLSTATE 25006 on a write, as on a standby) or writable again; the sessions pregon holds
/// are ended so that its new ones take the setting.
fn set_read_only(db: &TestDatabase, on: bool) {
    let setting = if on {
        "set default_transaction_read_only = on"
    } else {
        "reset default_transaction_read_only"
    };
    psql(db, &format!("alter database {} {setting}", db.name));
    psql(
        db,
        &format!(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = '{}' and pid <> pg_backend_pid()",
            db.name
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_only_mid_campaign_answers_503_and_recovers_without_restart() {
    let Some(db) = TestDatabase::create() else { return };
    let url = format!("postgres://postgres@127.0.0.1:5432/{}", db.name);
    let provider = FakeMeta::start(20, 40).await;
    let phones = phones(2_000);
    let server = Server::start_with(&url, Some(KEY), &[("PREGON_MASTER_KEY", MASTER_KEY)]).await;
    let api = server.api(KEY);
    let campaign_id = create_campaign(&api, &provider, &phones).await;
    let ids = sender_and_template(&api).await;
    wait_until("the campaign is under way", Duration::from_secs(20), || async {
        count(&api.campaign(&campaign_id).await, "sent") >= 200
    })
    .await;

    set_read_only(&db, true);
    let before = campaign_total(&api).await;
    wait_until("/ready answers 503 storage_read_only", RECOVERY, || async {
        let (status, body) = get_open(&server.base, "/ready").await;
        status == 503 && body["reason"] == "storage_read_only"
    })
    .await;
    let (status, body) = post_raw(&server.base, "/api/v1/campaigns", &import_body(&ids, 500)).await;
    assert_eq!(status, 503, "a write to a read-only database: {body}");
    assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");
    assert_eq!(campaign_total(&api).await, before, "nothing half-written");
    let (_, health) = get_open(&server.base, "/health").await;
    assert_eq!(health["storage"], "storage_read_only", "{health}");
    // Reads work: nothing reached the provider that is not marked `sending`.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = provider.received();
    let queued = api.phones_in(&campaign_id, "queued").await;
    let unmarked: Vec<&String> = queued.iter().filter(|p| received.contains_key(*p)).collect();
    assert!(unmarked.is_empty(), "sent but not marked `sending`: {unmarked:?}");
    let stalled = provider.received_total();

    set_read_only(&db, false);
    writes_and_sends_again(
        &server.base,
        &api,
        &provider,
        &ids,
        &campaign_id,
        stalled,
        "/ready answers 200 once the database is writable",
    )
    .await;
    finishes_once_each(&api, &provider, &campaign_id, &phones).await;
    drop(server);
}
