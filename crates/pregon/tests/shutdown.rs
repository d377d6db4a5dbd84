//! Graceful shutdown and first start of the real binary.
//!
//! SIGTERM in the middle of a campaign: the process stops claiming, lets its in-flight
//! requests finish and records them, hands claimed messages back to the queue and exits 0,
//! leaving nothing `claimed`, `sending` or `unknown`. A restart finishes the campaign with
//! every message sent exactly once.

mod support;

use std::time::{Duration, Instant};

use support::{assert_no_duplicates, count, counts, create_campaign, phones, sqlite_url, FakeMeta, Server};

const KEY: &str = "pgn_shutdown";
const MESSAGES: usize = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_campaign_finishes_in_flight_requests_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let provider = FakeMeta::start(30, 80).await;
    let phones = phones(MESSAGES);

    let mut server = Server::start(&db, Some(KEY)).await;
    let api = server.api(KEY);
    let campaign_id = create_campaign(&api, &provider, &phones).await;

    let deadline = Instant::now() + Duration::from_secs(15);
    let before = loop {
        let c = api.campaign(&campaign_id).await;
        // In flight at the signal, almost surely; past half the campaign, go anyway.
        if count(&c, "sent") >= 600 && count(&c, "sending") > 0 || count(&c, "sent") >= 1500 {
            break c;
        }
        assert_eq!(c["status"], "running", "{c}");
        assert!(Instant::now() < deadline, "no progress within 15 s: {c}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // A dashboard follows the campaign's progress: its event stream must not hold up the exit.
    let mut events = reqwest::Client::new()
        .get(format!("{}/api/v1/campaigns/{campaign_id}/events", server.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), events.chunk())
        .await
        .expect("a first progress event")
        .unwrap()
        .expect("the stream is open");
    assert!(String::from_utf8_lossy(&first).contains("progress"));

    let signalled = Instant::now();
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(30)).await;
    let took = signalled.elapsed();
    assert!(
        status.success(),
        "pregon exits 0 on SIGTERM, not {status:?}; stderr:\n{}",
        server.stderr()
    );
    drop(server);
    assert!(
        took < Duration::from_secs(9),
        "exit took {took:?}: something held the shutdown up to its 10 s limit"
    );
    // The event stream ended with the process.
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = events.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the event stream ended at shutdown");

    // After exit, straight from the database.
    let store = pregon::startup::open_store(&db).await.unwrap();
    let stopped = store.campaign_by_id(&campaign_id).await.unwrap();
    drop(store);
    let n = &stopped.counts;
    let received = provider.received();
    let received_total = provider.received_total();
    eprintln!(
        "SIGTERM at sent {} (sending {}): exited in {took:?}; then sent {}, queued {}, provider received {received_total}, answered {}",
        count(&before, "sent"),
        count(&before, "sending"),
        n.sent,
        n.queued,
        provider.answered(),
    );
    assert_eq!(n.claimed, 0, "claimed messages went back to the queue: {n:?}");
    assert_eq!(n.sending, 0, "in-flight requests finished and were recorded: {n:?}");
    assert_eq!(n.unknown, 0, "a graceful stop leaves nothing unknown: {n:?}");
    assert_eq!(n.failed, 0, "{n:?}");
    assert_eq!(
        n.queued + n.sent,
        MESSAGES as i64,
        "every message is either sent or queued: {n:?}"
    );
    assert!(n.sent >= count(&before, "sent"), "{n:?}");
    assert_no_duplicates(&received, &phones);
    assert_eq!(
        received_total, n.sent as u64,
        "every request the provider received is recorded sent, and nothing else"
    );
    assert_eq!(provider.answered(), received_total, "every request was answered");
    assert_eq!(
        stopped.status.as_str(),
        if n.queued > 0 { "running" } else { "completed" },
        "a shutdown is not a pause"
    );

    // A restart on the same database finishes the campaign.
    let server = Server::start(&db, Some(KEY)).await;
    let api = server.api(KEY);
    let deadline = Instant::now() + Duration::from_secs(30);
    let campaign = loop {
        let c = api.campaign(&campaign_id).await;
        if c["status"] == "completed" {
            break c;
        }
        assert_eq!(c["status"], "running", "{c}");
        assert!(Instant::now() < deadline, "campaign not completed within 30 s: {c}");
        tokio::time::sleep(support::POLL).await;
    };
    let c = counts(&campaign);
    let received = provider.received();
    eprintln!(
        "after restart: sent {}, unknown {}, provider received {} for {} phones",
        c["sent"],
        c["unknown"],
        provider.received_total(),
        received.len()
    );
    assert_no_duplicates(&received, &phones);
    assert_eq!(c["sent"], MESSAGES as i64, "{campaign}");
    assert_eq!(received.len(), MESSAGES);
    for state in ["queued", "claimed", "sending", "unknown", "failed"] {
        assert_eq!(c[state], 0, "no message {state}: {campaign}");
    }
    let sent = api.phones_in(&campaign_id, "sent").await;
    assert_eq!(sent.len(), MESSAGES);
    assert!(sent.iter().all(|p| received.get(p) == Some(&1)));

    let mut server = server;
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "an idle pregon exits 0 on SIGTERM, not {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_prints_a_working_key_and_tenant_create_prints_another() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());

    // No PREGON_BOOTSTRAP_API_KEY: the key is generated and printed once on stdout.
    let server = Server::start(&db, None).await;
    let header = server
        .stdout
        .iter()
        .position(|l| l.contains("API key"))
        .unwrap_or_else(|| panic!("no API key announced on stdout: {:?}", server.stdout));
    let key = server.stdout[header + 1].trim().to_string();
    assert!(key.starts_with("pgn_") && key.len() > 20, "{key:?}");
    let api = server.api(&key);
    let list = api.get("/api/v1/campaigns").await;
    assert_eq!(list["items"], serde_json::json!([]));
    let senders = api.get("/api/v1/senders").await;
    assert_eq!(senders["items"][0]["provider"], "sandbox", "{senders}");
    let (status, _) = server.api("pgn_wrong").get_raw("/api/v1/campaigns").await;
    assert_eq!(status, 401);

    // `pregon tenant create` on the same database, while the server runs.
    let output = support::pregon_command()
        .args(["tenant", "create", "acme", "--database", &db])
        .env("PREGON_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "tenant create failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.ends_with('\n'), "{stdout:?}");
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(last, last.trim(), "the key is alone on its line");
    assert!(last.starts_with("pgn_") && last != key, "{stdout}");
    let acme = server.api(last);
    let list = acme.get("/api/v1/campaigns").await;
    assert_eq!(list["items"], serde_json::json!([]));
    let acme_senders = acme.get("/api/v1/senders").await;
    assert_eq!(acme_senders["items"][0]["provider"], "sandbox", "{acme_senders}");
    assert_ne!(
        acme_senders["items"][0]["id"], senders["items"][0]["id"],
        "each tenant has its own sender"
    );

    // A second tenant with the same name is refused.
    let again = support::pregon_command()
        .args(["tenant", "create", "acme", "--database", &db])
        .env("PREGON_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(!again.status.success(), "a duplicate tenant name is refused");

    // A restart does not print a key again, and both keys still work.
    let mut server = server;
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}");
    drop(server);
    let server = Server::start(&db, None).await;
    assert!(
        !server.stdout.iter().any(|l| l.contains("API key")),
        "the key is shown only once: {:?}",
        server.stdout
    );
    server.api(&key).get("/api/v1/campaigns").await;
    server.api(last).get("/api/v1/campaigns").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_as_soon_as_it_listens_is_graceful() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    // A supervisor may stop pregon the moment it announces itself: that stop is graceful
    // too (exit 0), never the default action of SIGTERM.
    for round in 0..10 {
        let mut child = support::pregon_command()
            .arg("serve")
            .env("PREGON_DATABASE_URL", &db)
            .env("PREGON_LISTEN", "127.0.0.1:0")
            .env("PREGON_BOOTSTRAP_API_KEY", KEY)
            .env("PREGON_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let listening = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.starts_with("pregon listening on ") {
                    return true;
                }
            }
            false
        })
        .await
        .expect("pregon listens within 20 s");
        assert!(listening, "pregon exited before listening");
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("pregon exits within 30 s of SIGTERM")
            .unwrap();
        assert!(
            status.success(),
            "round {round}: SIGTERM right after the listening line gave {status:?}"
        );
    }
}

/// `/ready` on a running server, and `pregon backup` while it sends: the copy is a whole,
/// consistent database (every message counted once), and an existing file is never
/// overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_mid_campaign_is_consistent_and_ready_says_ready() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let provider = FakeMeta::start(20, 40).await;
    let phones = phones(MESSAGES);
    let server = Server::start(&db, Some(KEY)).await;
    let api = server.api(KEY);
    assert_eq!(
        api.get_raw("/ready").await,
        (200, serde_json::json!({"status": "ready"}))
    );
    let (status, health) = api.get_raw("/health").await;
    assert_eq!(
        (status, &health["storage"]),
        (200, &serde_json::json!("ok")),
        "{health}"
    );
    let campaign_id = create_campaign(&api, &provider, &phones).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while count(&api.campaign(&campaign_id).await, "sent") < 300 {
        assert!(Instant::now() < deadline, "no progress within 15 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let copy = dir.path().join("copia.db");
    let out = support::pregon_command()
        .args(["backup", "--database", &db, "--output"])
        .arg(&copy)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("written to"));

    let copied = pregon_store::open(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    let c = copied.campaign_by_id(&campaign_id).await.unwrap();
    let n = &c.counts;
    let counted = n.queued
        + n.claimed
        + n.sending
        + n.sent
        + n.delivered
        + n.read
        + n.failed
        + n.unknown
        + n.skipped
        + n.cancelled
        + n.expired;
    assert_eq!(
        counted, MESSAGES as i64,
        "every message counted once in the copy: {n:?}"
    );
    assert!(n.sent >= 300, "the copy holds what was sent before it: {n:?}");

    let again = support::pregon_command()
        .args(["backup", "--database", &db, "--output"])
        .arg(&copy)
        .output()
        .await
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    // The server went on sending meanwhile, and finishes.
    support::wait_until("the campaign completes", Duration::from_secs(60), || async {
        api.campaign(&campaign_id).await["status"] == "completed"
    })
    .await;
}
