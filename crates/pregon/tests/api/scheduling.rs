//! Scheduling, sending limits and priorities end to end: sending windows (campaign-wide and
//! per recipient) and the daily limit under a clock the test moves, priorities and fairness
//! through a fake Cloud API, a campaign's own pace, and the pair gap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pregon::clock::{parse_rfc3339, ManualClock};
use serde_json::{json, Value};

use crate::helpers::{
    contacts, counts, digits, meta_server, mount_meta_accept, sent_requests, spawn_app, spawn_app_with,
    spawn_stepped_app_with, TestApp,
};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id: {v}")).to_string()
}

fn at(text: &str) -> i64 {
    parse_rfc3339(text).expect("an RFC 3339 time")
}

/// A pregon whose clock the test sets, with no pair gap (the tests send once per phone).
async fn app_at(clock: &ManualClock) -> TestApp {
    let clock = clock.clone();
    spawn_app_with(move |c| {
        c.clock = Arc::new(clock);
        c.dispatch.pair_gap = Duration::ZERO;
    })
    .await
}

/// The same, with its dispatcher stepped by the test.
async fn stepped_app_at(clock: &ManualClock) -> TestApp {
    let clock = clock.clone();
    spawn_stepped_app_with(move |c| {
        c.clock = Arc::new(clock);
        c.dispatch.pair_gap = Duration::ZERO;
    })
    .await
}

fn numbers(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("+58412{prefix}{i:06}")).collect()
}

#[tokio::test]
async fn outside_its_window_a_campaign_waits_and_then_goes_on_by_itself() {
    // Saturday 2026-12-05, 10:00 in Guayaquil (UTC-5).
    let clock = ManualClock::new(at("2026-12-05T15:00:00Z"));
    let app = stepped_app_at(&clock).await;
    let template = app.template().await;
    let list = numbers("1", 5);
    let created = app
        .create_campaign(json!({
            "name": "office hours", "template_id": template, "contacts": contacts(&list),
            "schedule": {"timezone": "America/Guayaquil",
                         "window": {"start": "09:00", "end": "18:00", "days": [1, 2, 3, 4, 5]}}
        }))
        .await;
    let cid = id(&created);
    assert_eq!(created["settings"]["schedule"]["timezone"], "America/Guayaquil");
    app.dispatch_all_pending().await;
    let waiting = app.campaign(&cid).await;
    assert_eq!(waiting["paused_reason"], "outside_window", "{waiting}");
    assert_eq!(waiting["status"], "paused");
    // Monday 09:00 in Guayaquil.
    assert_eq!(waiting["resumes_at"], "2026-12-07T14:00:00.000Z");
    assert_eq!(
        counts(&waiting)["queued"],
        5,
        "nothing sent outside the window: {waiting}"
    );
    // A second before the window opens, still nothing.
    clock.set(at("2026-12-07T13:59:59Z"));
    app.dispatch_all_pending().await;
    let still = app.campaign(&cid).await;
    assert_eq!(counts(&still)["queued"], 5, "{still}");
    assert_eq!(still["paused_reason"], "outside_window");

    clock.set(at("2026-12-07T14:00:00Z"));
    app.dispatch_all_pending().await;
    let done = app.campaign(&cid).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(counts(&done)["sent"], 5, "{done}");
    assert_eq!(done["paused_reason"], Value::Null);
}

#[tokio::test]
async fn a_window_in_each_recipients_time_zone() {
    // 08:30 UTC: 10:30 in Madrid, 03:30 in Guayaquil.
    let clock = ManualClock::new(at("2026-06-01T08:30:00Z"));
    let app = app_at(&clock).await;
    let template = app.template().await;
    let spain = "+34612345678".to_string();
    let ecuador = "+593995683452".to_string();
    let tokyo_by_field = "+34612345679".to_string();
    let mut people = contacts(&[spain.clone(), ecuador.clone(), tokyo_by_field.clone()]);
    // 17:30 in Tokyo: open, whatever the phone's country says.
    people[2]["zona"] = json!("Asia/Tokyo");
    let cid = id(&app
        .create_campaign(json!({
            "name": "9 to 6 everywhere", "template_id": template, "contacts": people,
            "schedule": {"recipient_timezone": true, "timezone_field": "zona",
                         "window": {"start": "09:00", "end": "18:00"}}
        }))
        .await);
    let c = app
        .wait_campaign(&cid, "the open zones sent", |c| {
            counts(c)["sent"] == 2 && counts(c)["claimed"] == 0
        })
        .await;
    assert_eq!(c["status"], "running", "the campaign itself is not held: {c}");
    let queued = app.messages(&cid, Some("queued")).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0]["phone"], ecuador.as_str());
    assert_eq!(queued[0]["attempts"], 0, "waiting spends no attempt");
    assert_eq!(queued[0]["next_attempt_at"], "2026-06-01T14:00:00.000Z");

    clock.set(at("2026-06-01T14:00:00Z"));
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["sent"], 3, "{done}");
}

#[tokio::test]
async fn a_daily_limit_pauses_campaigns_until_room_frees_up() {
    let start = at("2026-03-02T12:00:00Z");
    let clock = ManualClock::new(start);
    let app = app_at(&clock).await;
    let template = app.template().await;
    let sender = app
        .create_sender(
            json!({"name": "new number", "provider": "sandbox", "messages_per_second": 1000,
                              "messaging_tier": "TIER_250"}),
        )
        .await;
    assert_eq!(sender["daily_limit"], 250);
    let sid = id(&sender);
    let sender = app
        .patch(&format!("/api/v1/senders/{sid}"), &json!({"daily_limit": 3}))
        .await
        .expect(200);
    assert_eq!(sender["daily_usage"]["used"], 0);
    let list = numbers("2", 5);
    let cid = id(&app
        .create_campaign(json!({"name": "tiered", "template_id": template, "sender_id": sid,
                                "contacts": contacts(&list)}))
        .await);
    let held = app
        .wait_campaign(&cid, "daily_limit", |c| {
            c["paused_reason"] == "daily_limit" && counts(c)["claimed"] == 0 && counts(c)["sending"] == 0
        })
        .await;
    assert_eq!(counts(&held)["sent"], 3, "{held}");
    assert_eq!(counts(&held)["queued"], 2);
    assert_eq!(held["resumes_at"], "2026-03-03T12:00:00.000Z");
    let usage = app.get(&format!("/api/v1/senders/{sid}")).await.expect(200)["daily_usage"].clone();
    assert_eq!(usage["used"], 3);
    assert_eq!(usage["remaining"], 0);
    assert_eq!(usage["room_at"], "2026-03-03T12:00:00.000Z");

    // A day later the first three leave the rolling window.
    clock.set(start + 24 * 3_600_000);
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["sent"], 5, "{done}");
    let usage = app.get(&format!("/api/v1/senders/{sid}")).await.expect(200)["daily_usage"].clone();
    assert_eq!(usage["used"], 2, "{usage}");
}

#[tokio::test]
async fn senders_in_one_group_share_the_daily_limit() {
    let clock = ManualClock::new(at("2026-03-02T12:00:00Z"));
    let app = app_at(&clock).await;
    let template = app.template().await;
    let mut senders = Vec::new();
    for name in ["a", "b"] {
        let s = app
            .create_sender(json!({"name": name, "provider": "sandbox", "daily_limit": 4,
                                  "daily_limit_group": "portfolio-1"}))
            .await;
        assert_eq!(s["daily_limit_group"], "portfolio-1");
        senders.push(id(&s));
    }
    let first = id(&app
        .create_campaign(
            json!({"name": "first", "template_id": template, "sender_id": senders[0],
                                "contacts": contacts(&numbers("3", 3))}),
        )
        .await);
    app.wait_status(&first, "completed").await;
    let second = id(&app
        .create_campaign(
            json!({"name": "second", "template_id": template, "sender_id": senders[1],
                                "contacts": contacts(&numbers("4", 3))}),
        )
        .await);
    let held = app
        .wait_campaign(&second, "daily_limit", |c| {
            c["paused_reason"] == "daily_limit" && counts(c)["claimed"] == 0 && counts(c)["sending"] == 0
        })
        .await;
    assert_eq!(counts(&held)["sent"], 1, "one left of the group's four: {held}");
    let usage = app.get(&format!("/api/v1/senders/{}", senders[0])).await.expect(200)["daily_usage"].clone();
    assert_eq!(usage["used"], 4, "{usage}");
}

#[tokio::test]
async fn higher_priority_goes_first_and_equal_priorities_take_turns() {
    let app = spawn_app().await;
    let server = meta_server().await;
    mount_meta_accept(&server).await;
    let sender = app.meta_sender(&server, 8.0).await;
    let template = app.template().await;
    let campaign = |name: &str, list: &[String], priority: i64| {
        json!({"name": name, "template_id": template, "sender_id": sender, "contacts": contacts(list),
               "priority": priority, "start": false})
    };
    let low_list = numbers("5", 12);
    let high_list = numbers("6", 6);
    let low = id(&app.create_campaign(campaign("promo", &low_list, 2)).await);
    let high = id(&app.create_campaign(campaign("urgent", &high_list, 9)).await);
    app.post_empty(&format!("/api/v1/campaigns/{low}/start"))
        .await
        .expect(200);
    app.post_empty(&format!("/api/v1/campaigns/{high}/start"))
        .await
        .expect(200);
    app.wait_status(&high, "completed").await;
    app.wait_status(&low, "completed").await;
    let order: Vec<String> = sent_requests(&server)
        .await
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["to"].as_str().unwrap().to_string()
        })
        .collect();
    let high_digits: Vec<String> = high_list.iter().map(|p| digits(p)).collect();
    let last_high = order.iter().rposition(|to| high_digits.contains(to)).unwrap();
    let low_before = order[..last_high].iter().filter(|to| !high_digits.contains(to)).count();
    // Only what the low campaign had claimed before the urgent one started may go first.
    assert!(
        low_before <= 3,
        "urgent messages waited behind {low_before} promotional ones: {order:?}"
    );

    // Equal priorities share the sender: neither waits for the other to finish.
    let a_list = numbers("7", 8);
    let b_list = numbers("8", 8);
    let a = id(&app.create_campaign(campaign("a", &a_list, 5)).await);
    let b = id(&app.create_campaign(campaign("b", &b_list, 5)).await);
    let before = order.len();
    app.post_empty(&format!("/api/v1/campaigns/{a}/start"))
        .await
        .expect(200);
    app.post_empty(&format!("/api/v1/campaigns/{b}/start"))
        .await
        .expect(200);
    app.wait_status(&a, "completed").await;
    app.wait_status(&b, "completed").await;
    let second: Vec<String> = sent_requests(&server).await[before..]
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["to"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let b_digits: Vec<String> = b_list.iter().map(|p| digits(p)).collect();
    let b_in_first_half = second[..8].iter().filter(|to| b_digits.contains(to)).count();
    assert!(
        (2..=6).contains(&b_in_first_half),
        "the first eight requests should mix both campaigns: {second:?}"
    );
}

#[tokio::test]
async fn a_campaign_rate_plan_paces_it_below_its_sender() {
    let app = spawn_app().await;
    let template = app.template().await;
    let list = numbers("9", 6);
    let started = Instant::now();
    let created = app
        .create_campaign(
            json!({"name": "gentle", "template_id": template, "contacts": contacts(&list),
                                "rate": {"messages_per_second": 5, "jitter_ms": [0, 20]}}),
        )
        .await;
    assert_eq!(created["settings"]["rate"]["messages_per_second"], 5.0);
    let done = app.wait_status(&id(&created), "completed").await;
    let elapsed = started.elapsed();
    assert_eq!(counts(&done)["sent"], 6);
    // Six messages at most five a second: the last leaves a second after the first, at least.
    assert!(elapsed >= Duration::from_millis(1_000), "sent 6 in {elapsed:?}");

    let warm = app
        .create_campaign(
            json!({"name": "warm-up", "template_id": template, "contacts": contacts(&list[..1]),
                                "rate": {"warmup": true}}),
        )
        .await;
    let tiers = warm["settings"]["rate"]["warmup"].as_array().unwrap().clone();
    assert_eq!(tiers.len(), 4, "{warm}");
    assert_eq!(tiers[0]["interval_ms"], 1_200);
    app.wait_status(&id(&warm), "completed").await;
}

#[tokio::test]
async fn two_campaigns_to_one_phone_keep_the_pair_gap() {
    let app = spawn_app_with(|c| c.dispatch.pair_gap = Duration::from_millis(800)).await;
    let template = app.template().await;
    let phone = vec!["+584125550001".to_string()];
    let started = Instant::now();
    let a = id(&app
        .create_campaign(json!({"name": "a", "template_id": template, "contacts": contacts(&phone)}))
        .await);
    let b = id(&app
        .create_campaign(json!({"name": "b", "template_id": template, "contacts": contacts(&phone)}))
        .await);
    app.wait_status(&a, "completed").await;
    app.wait_status(&b, "completed").await;
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "the second message to the phone left {:?} after the first",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_limits_are_refused_and_nothing_changes() {
    let app = spawn_app().await;
    for (body, field) in [
        (
            json!({"name": "x", "provider": "sandbox", "messaging_tier": "TIER_HUGE"}),
            "messaging_tier",
        ),
        (
            json!({"name": "x", "provider": "sandbox", "messaging_tier": "TIER_2K", "daily_limit": 10}),
            "messaging_tier",
        ),
        (
            json!({"name": "x", "provider": "sandbox", "daily_limit_group": "  "}),
            "daily_limit_group",
        ),
        (
            json!({"name": "x", "provider": "sandbox", "daily_limit": 0}),
            "daily_limit",
        ),
    ] {
        let reply = app.post("/api/v1/senders", &body).await;
        let error = reply.expect_error(422, "invalid_field");
        assert_eq!(error["error"]["details"][0]["field"], field, "{body}: {}", reply.text);
    }
    let list = app.get("/api/v1/senders").await.expect(200);
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "only the bootstrap sender: {list}"
    );
    let sid = id(&app.default_sender().await);
    let reply = app
        .patch(&format!("/api/v1/senders/{sid}"), &json!({"messaging_tier": 5}))
        .await;
    reply.expect_error(422, "invalid_body");
    let reply = app
        .patch(
            &format!("/api/v1/senders/{sid}"),
            &json!({"messaging_tier": "TIER_10K"}),
        )
        .await;
    assert_eq!(reply.expect(200)["daily_limit"], 10_000);
    let reply = app
        .patch(
            &format!("/api/v1/senders/{sid}"),
            &json!({"messaging_tier": "TIER_UNLIMITED"}),
        )
        .await;
    let sender = reply.expect(200);
    assert_eq!(sender["daily_limit"], Value::Null);
    assert_eq!(sender["daily_usage"], Value::Null);
}
