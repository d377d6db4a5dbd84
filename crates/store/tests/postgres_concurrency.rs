//! Two dispatchers (two lease owners, several tasks each) hammer one sender's queue on
//! PostgreSQL while a person pauses and resumes its campaigns, on the wall clock and with
//! leases short enough to change hands mid-request. The tasks of one owner share its lease
//! (concurrent claims under one epoch) and now and then take it anew (a restart: a new
//! epoch that fences their own earlier writes), and provider status reports arrive all the
//! while. However the writes interleave, no message is ever marked `sending` twice, every
//! dispatcher write either lands or is fenced (`LeaseLost`, never a deadlock or another
//! error), every report is applied without error, and the campaign counters equal a count
//! of the messages.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pregon_domain::state::CampaignAction;
use pregon_domain::{CampaignSettings, CampaignStatus, MessageStatus, PausedReason, ProviderKind, SenderStatus};
use pregon_store::*;
use sqlx::Row;

/// Who the test's changes are made by.
fn by() -> Change {
    Change::by(Actor::cli("concurrency"))
}

const OWNERS: [&str; 2] = ["dispatcher-a", "dispatcher-b"];
const TASKS_PER_OWNER: u64 = 3;
/// Short enough that a slow "request" outlives its lease now and then.
const TTL: i64 = 60;
const PER_CAMPAIGN: usize = 300;
const SINGLES: usize = 40;

fn now() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// xorshift64: reproducible per task, no dependency.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

#[derive(Default)]
struct Tally {
    lease_lost: AtomicUsize,
    acquired: AtomicUsize,
}

/// The lease one owner's tasks share.
type Shared = Arc<Mutex<Option<Lease>>>;

fn forget(shared: &Shared, lease: &Lease) {
    let mut current = shared.lock().unwrap();
    if current.as_ref() == Some(lease) {
        *current = None;
    }
}

/// Accepts `LeaseLost` (returns `None`); any other error fails the test.
fn fenced<T>(result: Result<T>, what: &str, tally: &Tally) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(StoreError::LeaseLost) => {
            tally.lease_lost.fetch_add(1, Ordering::Relaxed);
            None
        }
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

#[allow(clippy::too_many_arguments)]
async fn dispatcher(
    store: Arc<dyn Store>,
    sender: String,
    owner: &'static str,
    shared: Shared,
    seed: u64,
    marked: Arc<Mutex<Vec<i64>>>,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let mut dice = Dice(seed);
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let current = shared.lock().unwrap().clone();
        let lease = match current {
            Some(lease) if dice.roll(25) != 0 => lease,
            _ => {
                let Some(lease) = store.acquire_lease(&sender, owner, TTL, now()).await.unwrap() else {
                    tokio::time::sleep(ms(1 + dice.roll(3))).await;
                    continue;
                };
                tally.acquired.fetch_add(1, Ordering::Relaxed);
                *shared.lock().unwrap() = Some(lease.clone());
                lease
            }
        };
        for _ in 0..=dice.roll(5) {
            round += 1;
            let limit = 1 + dice.roll(8) as usize;
            let Some(claimed) = fenced(
                store.claim(&lease, &ClaimRequest::new(limit, round), now()).await,
                "claim",
                &tally,
            ) else {
                forget(&shared, &lease);
                break;
            };
            if claimed.is_empty() {
                tokio::time::sleep(ms(1)).await;
                continue;
            }
            let mut ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
            if dice.roll(5) == 0 {
                // Not all of them now after all.
                let back = ids.split_off(ids.len() / 2);
                store.release_claimed(&lease, &back, now()).await.unwrap();
            }
            let Some(moved) = fenced(store.mark_sending(&lease, &ids, now()).await, "mark_sending", &tally) else {
                forget(&shared, &lease);
                break;
            };
            marked.lock().unwrap().extend(&moved);
            // Claimed from a campaign paused meanwhile: back to the queue.
            let unmoved: Vec<i64> = ids.iter().copied().filter(|id| !moved.contains(id)).collect();
            store.release_claimed(&lease, &unmoved, now()).await.unwrap();
            // The provider requests; now and then one outlives the lease.
            let latency = if dice.roll(10) == 0 { 80 } else { dice.roll(15) };
            tokio::time::sleep(ms(latency)).await;
            let outcomes: Vec<Outcome> = moved
                .iter()
                .map(|&id| Outcome {
                    message_id: id,
                    kind: match dice.roll(10) {
                        0 => OutcomeKind::Failed {
                            error_code: "131026".into(),
                            error_message: "not on WhatsApp".into(),
                        },
                        1 => OutcomeKind::Unknown {
                            error_code: "timeout".into(),
                            error_message: "no answer".into(),
                        },
                        _ => OutcomeKind::Sent {
                            provider_message_id: format!("wamid.{id}"),
                            recorded_text: None,
                        },
                    },
                })
                .collect();
            // Fenced by epoch: a late write changes nothing, and is no error.
            store.record_outcomes(&lease, &outcomes, now()).await.unwrap();
            if !store.renew_lease(&lease, TTL, now()).await.unwrap() {
                forget(&shared, &lease);
                break;
            }
        }
        if dice.roll(40) == 0 {
            // A graceful exit: the other owner may take over at once.
            store.release_lease(&lease).await.unwrap();
            forget(&shared, &lease);
        }
    }
}

/// Provider status reports for messages already marked `sending`: most for messages whose
/// outcome is recorded (by provider id), some for ones still in flight (by the echoed id).
async fn provider_webhooks(store: Arc<dyn Store>, sender: String, marked: Arc<Mutex<Vec<i64>>>, stop: Arc<AtomicBool>) {
    let mut dice = Dice(0x5DEE_CE66_D1CE_4E5B);
    while !stop.load(Ordering::Relaxed) {
        let picked: Vec<i64> = {
            let marked = marked.lock().unwrap();
            if marked.is_empty() {
                Vec::new()
            } else {
                (0..1 + dice.roll(6))
                    .map(|_| marked[dice.roll(marked.len() as u64) as usize])
                    .collect()
            }
        };
        let updates: Vec<StatusUpdate> = picked
            .iter()
            .map(|&id| {
                let status = match dice.roll(3) {
                    0 => MessageStatus::Sent,
                    1 => MessageStatus::Delivered,
                    _ => MessageStatus::Read,
                };
                StatusUpdate {
                    user_id: None,
                    sender_id: sender.clone(),
                    provider_message_id: format!("wamid.{id}"),
                    message_hint: Some(id),
                    status,
                    at: now(),
                    error_code: None,
                    error_message: None,
                    detail: serde_json::json!({"source": "test"}),
                }
            })
            .collect();
        if let Err(e) = store.apply_status_updates(&updates, now()).await {
            panic!("a status report failed: {e:?}");
        }
        tokio::time::sleep(ms(1 + dice.roll(3))).await;
    }
}

/// A person (and pregon's own auto-pause) pausing and resuming the campaigns meanwhile.
async fn person(store: Arc<dyn Store>, tenant: String, sender: String, campaigns: Vec<String>) {
    let tolerated = |r: Result<CampaignRecord>| match r {
        Ok(_) | Err(StoreError::IllegalTransition { .. }) => {}
        Err(e) => panic!("a campaign action failed: {e:?}"),
    };
    for i in 0..12 {
        tokio::time::sleep(ms(25)).await;
        let c = &campaigns[i % campaigns.len()];
        match i % 3 {
            0 => tolerated(
                store
                    .apply_action(&tenant, c, CampaignAction::Pause, false, now(), &by())
                    .await,
            ),
            1 => {
                store
                    .pause_campaign(c, PausedReason::TooManyFailures, Some("test"), now())
                    .await
                    .unwrap();
            }
            _ => {
                store
                    .pause_sender_campaigns(&sender, PausedReason::SenderError, Some("test"), now())
                    .await
                    .unwrap();
            }
        }
        tokio::time::sleep(ms(15)).await;
        for c in &campaigns {
            tolerated(
                store
                    .apply_action(&tenant, c, CampaignAction::Resume, false, now(), &by())
                    .await,
            );
        }
    }
}

/// A tenant with a sandbox sender (80 messages/s) and a template.
async fn tenant_with_sender(store: &dyn Store, t0: Millis) -> (String, SenderRecord, TemplateRecord) {
    let tenant = store.create_tenant("acme", "secret", t0).await.unwrap().id;
    let sender = SenderRecord {
        id: pregon_domain::id::new_id("snd"),
        tenant_id: tenant.clone(),
        name: "s".into(),
        provider: ProviderKind::Sandbox,
        phone_number: "+15555550100".into(),
        credentials: vec![1],
        base_url: None,
        messages_per_second: 80.0,
        daily_limit: None,
        is_default: true,
        status: SenderStatus::Active,
        quality_rating: None,
        provider_account: None,
        limit_group: None,
        rate_follows_provider: false,
        throughput_level: None,
        created_at: t0,
        updated_at: t0,
    };
    store.insert_sender(&sender, &by()).await.unwrap();
    let template = TemplateRecord {
        id: pregon_domain::id::new_id("tpl"),
        tenant_id: tenant.clone(),
        name: "t".into(),
        language: "es".into(),
        body: "Hola {{n}}".into(),
        header_image: None,
        twilio_content_sid: None,
        category: pregon_domain::TemplateCategory::Marketing,
        status: pregon_domain::TemplateStatus::Approved,
        quality: pregon_domain::TemplateQuality::Unknown,
        created_at: t0,
    };
    store.insert_template(&template, &by()).await.unwrap();
    (tenant, sender, template)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_dispatchers_never_send_a_message_twice_and_counts_stay_exact() {
    let Some(db) = support::TestDatabase::create().await else {
        return;
    };
    let store = pregon_store::open(&db.url).await.unwrap();
    let t0 = now();
    let (tenant, sender, template) = tenant_with_sender(store.as_ref(), t0).await;
    let mut campaigns = Vec::new();
    for c in 0..2 {
        let messages = (0..PER_CAMPAIGN)
            .map(|i| NewMessage {
                user_id: None,
                phone: format!("+58412{c}{i:06}"),
                variables: "{}".into(),
                skip_reason: None,
            })
            .collect();
        let campaign = store
            .create_campaign(
                NewCampaign {
                    expires_at: None,
                    id: pregon_domain::id::new_id("cmp"),
                    tenant_id: tenant.clone(),
                    name: format!("c{c}"),
                    sender_id: sender.id.clone(),
                    template_id: template.id.clone(),
                    status: CampaignStatus::Running,
                    priority: 5,
                    settings: CampaignSettings::default(),
                    start_at: None,
                    windowed: false,
                    max_attempts: 3,
                    messages,
                    now: t0,
                },
                &by(),
            )
            .await
            .unwrap();
        campaigns.push(campaign.id);
    }
    for i in 0..SINGLES {
        store
            .insert_single_message(
                NewSingleMessage {
                    user_id: None,
                    expires_at: None,
                    tenant_id: tenant.clone(),
                    sender_id: sender.id.clone(),
                    template_id: template.id.clone(),
                    phone: format!("+58414{i:07}"),
                    variables: "{}".into(),
                    priority: if i % 2 == 0 { 5 } else { 8 },
                    max_attempts: 3,
                    send_at: t0,
                    now: t0,
                },
                &by(),
            )
            .await
            .unwrap();
    }

    let marked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut dispatchers = Vec::new();
    for (o, owner) in OWNERS.into_iter().enumerate() {
        let shared: Shared = Arc::default();
        for t in 0..TASKS_PER_OWNER {
            dispatchers.push(tokio::spawn(dispatcher(
                store.clone(),
                sender.id.clone(),
                owner,
                shared.clone(),
                0x9E37_79B9_7F4A_7C15 ^ ((((o as u64) << 8) | t) * 0x1000_0001),
                marked.clone(),
                stop.clone(),
                tally.clone(),
            )));
        }
    }
    let webhooks = tokio::spawn(provider_webhooks(
        store.clone(),
        sender.id.clone(),
        marked.clone(),
        stop.clone(),
    ));
    let person = tokio::spawn(person(
        store.clone(),
        tenant.clone(),
        sender.id.clone(),
        campaigns.clone(),
    ));

    // Until every message has its outcome (or a dispatcher fails).
    let started = Instant::now();
    person.await.unwrap();
    loop {
        if store.queue_depth().await.unwrap() == 0 {
            break;
        }
        if let Some(done) = dispatchers.iter().position(|d| d.is_finished()) {
            dispatchers.remove(done).await.unwrap();
            panic!("a dispatcher stopped early");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the queue did not drain: {} left",
            store.queue_depth().await.unwrap()
        );
        tokio::time::sleep(ms(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for d in dispatchers {
        d.await.unwrap();
    }
    webhooks.await.unwrap();

    let marked = marked.lock().unwrap().clone();
    let unique: HashSet<i64> = marked.iter().copied().collect();
    assert_eq!(unique.len(), marked.len(), "a message was marked sending twice");

    let mut conn = db.connect().await;
    let twice: i64 = sqlx::query_scalar("select count(*) from message where attempts > 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(twice, 0, "no message may be attempted twice");
    let attempted: HashSet<i64> = sqlx::query_scalar(
        "select message_id from message where status in ('sending', 'sent', 'delivered', 'read', 'failed', 'unknown')",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(attempted, unique, "exactly the messages marked sending were attempted");
    assert_eq!(unique.len(), 2 * PER_CAMPAIGN + SINGLES, "every message was attempted");

    let mut counted: BTreeMap<String, Counts> = BTreeMap::new();
    for row in sqlx::query(
        "select campaign_id, status, count(*) as n from message where campaign_id is not null \
         group by campaign_id, status",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    {
        let status: MessageStatus = row.get::<String, _>("status").parse().unwrap();
        *counted.entry(row.get("campaign_id")).or_default().get_mut(status) += row.get::<i64, _>("n");
    }
    for id in &campaigns {
        let campaign = store.campaign_by_id(id).await.unwrap();
        assert_eq!(campaign.counts, counted[id], "the counters of {id}");
        assert_eq!(campaign.counts.total(), PER_CAMPAIGN as i64);
        assert_eq!(campaign.status, CampaignStatus::Completed);
    }
    eprintln!(
        "{} attempts: {} sent, {} unknown (outcome or recovery); {} leases taken, {} writes fenced",
        marked.len(),
        counted.values().map(|c| c.sent).sum::<i64>(),
        counted.values().map(|c| c.unknown).sum::<i64>(),
        tally.acquired.load(Ordering::Relaxed),
        tally.lease_lost.load(Ordering::Relaxed),
    );
}

/// One campaign's counts go through `campaign_tally` on PostgreSQL: a batch at a time they
/// stay exact, the tally is folded before it grows long, and a campaign whose last batch
/// did not get to complete it (a crash between the outcome commit and the completion)
/// completes when its sender is next found idle.
#[tokio::test]
async fn tallied_counts_fold_and_an_unfinished_completion_is_swept_up() {
    const N: usize = 150;
    let Some(db) = support::TestDatabase::create().await else {
        return;
    };
    let store = pregon_store::open(&db.url).await.unwrap();
    let t0 = now();
    let (tenant, sender, template) = tenant_with_sender(store.as_ref(), t0).await;
    let campaign = store
        .create_campaign(
            NewCampaign {
                expires_at: None,
                id: pregon_domain::id::new_id("cmp"),
                tenant_id: tenant.clone(),
                name: "c".into(),
                sender_id: sender.id.clone(),
                template_id: template.id.clone(),
                status: CampaignStatus::Running,
                priority: 5,
                settings: CampaignSettings::default(),
                start_at: None,
                windowed: false,
                max_attempts: 3,
                messages: (0..N)
                    .map(|i| NewMessage {
                        user_id: None,
                        phone: format!("+58412{i:07}"),
                        variables: "{}".into(),
                        skip_reason: None,
                    })
                    .collect(),
                now: t0,
            },
            &by(),
        )
        .await
        .unwrap();
    let lease = store
        .acquire_lease(&sender.id, "a", 60_000, now())
        .await
        .unwrap()
        .unwrap();
    let mut conn = db.connect().await;
    let mut longest_tally = 0i64;
    let mut last = None;
    // One message per batch: three tally rows per message without folding.
    for round in 0..N as u64 {
        let claimed = store.claim(&lease, &ClaimRequest::new(1, round), now()).await.unwrap();
        let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
        assert_eq!(ids.len(), 1);
        let moved = store.mark_sending(&lease, &ids, now()).await.unwrap();
        let outcomes: Vec<Outcome> = moved
            .iter()
            .map(|&id| Outcome {
                message_id: id,
                kind: OutcomeKind::Sent {
                    provider_message_id: format!("wamid.{id}"),
                    recorded_text: None,
                },
            })
            .collect();
        last = store.record_outcomes(&lease, &outcomes, now()).await.unwrap().pop();
        let rows: i64 = sqlx::query_scalar("select count(*) from campaign_tally")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        longest_tally = longest_tally.max(rows);
        let counts = store.campaign_by_id(&campaign.id).await.unwrap().counts;
        assert_eq!(counts.sent, round as i64 + 1, "sent after batch {round}");
        assert_eq!(counts.queued, (N as u64 - round - 1) as i64);
        assert_eq!(counts.total(), N as i64);
    }
    assert!(
        longest_tally <= 66,
        "the tally was folded as it grew (longest {longest_tally})"
    );
    let last = last.expect("the last batch's campaign");
    assert_eq!(
        last.status,
        CampaignStatus::Completed,
        "the last batch completes its campaign"
    );

    // As if the process had died between the last outcome commit and the completion.
    sqlx::query("update campaign set status = 'running', completed_at = null where campaign_id = $1")
        .bind(&campaign.id)
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(!store.sender_has_work(&sender.id, now()).await.unwrap());
    let swept = store.campaign_by_id(&campaign.id).await.unwrap();
    assert_eq!(swept.status, CampaignStatus::Completed);
    assert_eq!(swept.counts.sent, N as i64);
}
