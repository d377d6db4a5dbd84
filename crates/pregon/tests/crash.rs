//! Crash safety of the real binary: `pregon serve` is SIGKILLed several times in the middle
//! of a campaign and restarted on the same SQLite file. No message may reach the provider
//! twice and none may be lost: every message ends `sent` (received exactly once) or
//! `unknown` (the process died with its request in flight: received at most once).

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rand::Rng;
use support::{assert_no_duplicates, count, counts, create_campaign, phones, sqlite_url, FakeMeta, Server};

const KEY: &str = "pgn_crash";
const MESSAGES: usize = 3_000;
const KILLS: usize = 4;
/// Far longer than the test: a restart makes progress only because it frees the dead
/// process's sender lease at once (same host, dead pid), not because the lease expired.
const ENV: &[(&str, &str)] = &[("PREGON_LEASE_TTL_SECS", "600")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_campaign_never_sends_twice_nor_loses_a_message() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let provider = FakeMeta::start(30, 80).await;
    let phones = phones(MESSAGES);

    let mut server = Server::start_with(&db, Some(KEY), ENV).await;
    let campaign_id = create_campaign(&server.api(KEY), &provider, &phones).await;

    let mut kills = 0;
    let mut last_sent = 0;
    for round in 1..=KILLS {
        let api = server.api(KEY);
        let step = rand::thread_rng().gen_range(150..450);
        let target = last_sent + step;
        let deadline = Instant::now() + Duration::from_secs(15);
        let campaign = loop {
            let c = api.campaign(&campaign_id).await;
            if count(&c, "sent") >= target || c["status"] != "running" {
                break c;
            }
            assert!(
                Instant::now() < deadline,
                "no progress to {target} sent within 15 s (round {round}): {c}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if campaign["status"] != "running" {
            eprintln!("campaign finished before kill {round}: {campaign}");
            break;
        }
        let in_flight = provider.in_flight();
        server.kill().await;
        kills += 1;
        last_sent = count(&campaign, "sent");
        eprintln!(
            "kill {round}: sent {last_sent}, sending {}, requests in flight at the provider {in_flight}",
            count(&campaign, "sending"),
        );
        let restart = Instant::now();
        server = Server::start_with(&db, Some(KEY), ENV).await;
        eprintln!("  restarted in {:?}", restart.elapsed());
        if round == 2 {
            // Once, kill again as soon as it answers: mid-recovery or mid-first-claim.
            let in_flight = provider.in_flight();
            server.kill().await;
            kills += 1;
            eprintln!("kill {round}b, right after the restart: requests in flight at the provider {in_flight}");
            server = Server::start_with(&db, Some(KEY), ENV).await;
        }
    }

    let api = server.api(KEY);
    let deadline = Instant::now() + Duration::from_secs(40);
    let campaign = loop {
        let c = api.campaign(&campaign_id).await;
        if c["status"] == "completed" {
            break c;
        }
        assert_eq!(c["status"], "running", "{c}");
        assert!(Instant::now() < deadline, "campaign not completed within 40 s: {c}");
        tokio::time::sleep(support::POLL).await;
    };

    let c = counts(&campaign);
    let received = provider.received();
    let sent = c["sent"];
    let unknown = c["unknown"];
    eprintln!(
        "kills {kills}, sent {sent}, unknown {unknown}, provider received {} requests for {} phones, took {:?}",
        provider.received_total(),
        received.len(),
        started.elapsed()
    );

    // Nothing sent twice; nothing left behind; nothing failed, nothing lost.
    assert_no_duplicates(&received, &phones);
    assert_eq!(campaign["total"], MESSAGES);
    for state in [
        "queued",
        "claimed",
        "sending",
        "failed",
        "delivered",
        "read",
        "skipped",
        "cancelled",
    ] {
        assert_eq!(c[state], 0, "no message {state}: {campaign}");
    }
    assert_eq!(
        sent + unknown,
        MESSAGES as i64,
        "every message sent or unknown: {campaign}"
    );

    // Every `sent` message reached the provider exactly once.
    let sent_phones: HashSet<String> = api.phones_in(&campaign_id, "sent").await.into_iter().collect();
    assert_eq!(sent_phones.len() as i64, sent, "the list agrees with the counts");
    let missing: Vec<&String> = sent_phones.iter().filter(|p| received.get(*p) != Some(&1)).collect();
    assert!(missing.is_empty(), "sent but not received exactly once: {missing:?}");

    // The provider saw only `sent` messages and some `unknown` ones (at most once each).
    let unknown_phones: HashSet<String> = api.phones_in(&campaign_id, "unknown").await.into_iter().collect();
    assert_eq!(unknown_phones.len() as i64, unknown, "the list agrees with the counts");
    assert!(sent_phones.is_disjoint(&unknown_phones));
    let unexplained: Vec<&String> = received
        .keys()
        .filter(|p| !sent_phones.contains(*p) && !unknown_phones.contains(*p))
        .collect();
    assert!(
        unexplained.is_empty(),
        "received but neither sent nor unknown: {unexplained:?}"
    );
    let unknown_received = unknown_phones.iter().filter(|p| received.contains_key(*p)).count();
    eprintln!("unknown messages the provider did receive: {unknown_received} of {unknown}");
    if kills == 0 {
        panic!("the campaign finished before the first kill: nothing was tested");
    }
}
