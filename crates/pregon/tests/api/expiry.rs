//! Expiry (`expires_at`): a message not sent by then becomes `expired`, a final state, and
//! is never sent late, whether its campaign waited (a window, a pause, a busy sender) or a
//! retry's backoff carried it past its time. The time is the app's injectable clock.

use std::sync::Arc;

use pregon::clock::{Clock, ManualClock, SystemClock};
use serde_json::{json, Value};

use crate::helpers::{
    assert_total_is_sum, contacts, counts, meta_error, meta_request, meta_server, mount_meta_accept, phones,
    sent_requests, spawn_app, spawn_stepped_app_with, TestApp,
};

const HOUR: i64 = 3_600_000;

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn stepped(clock: &ManualClock) -> TestApp {
    let clock = clock.clone();
    spawn_stepped_app_with(move |c| c.clock = Arc::new(clock)).await
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

#[tokio::test]
async fn an_expiry_in_the_past_or_before_the_start_or_unreadable_is_refused() {
    let app = spawn_app().await;
    let template = app.template().await;
    let now = SystemClock.now_millis();
    for (expires_at, schedule) in [
        (json!(rfc3339(now - HOUR)), json!(null)),
        (json!("tomorrow"), json!(null)),
        (json!(rfc3339(now + HOUR)), json!({"start_at": rfc3339(now + 2 * HOUR)})),
    ] {
        let reply = app
            .post(
                "/api/v1/campaigns",
                &json!({"name": "x", "template_id": template, "contacts": contacts(&phones(1)),
                        "expires_at": expires_at, "schedule": schedule}),
            )
            .await;
        let err = reply.expect_error(422, "invalid_field");
        assert!(err.to_string().contains("expires_at"), "{err}");
    }
    // Nothing was created by any of them.
    assert!(app.campaign_ids("").await.is_empty());
    let single = app
        .post(
            "/api/v1/messages",
            &json!({"to": "+593991234567", "template_id": template, "variables": {"nombre": "A", "monto": "1"},
                    "send_at": rfc3339(now + 2 * HOUR), "expires_at": rfc3339(now + HOUR)}),
        )
        .await;
    single.expect_error(422, "invalid_field");
}

#[tokio::test]
async fn messages_left_queued_past_their_time_expire_and_the_campaign_completes_without_them() {
    let clock = ManualClock::new(SystemClock.now_millis());
    let app = stepped(&clock).await;
    let server = meta_server().await;
    mount_meta_accept(&server).await;
    let sender = app.meta_sender(&server, 1000.0).await;
    let template = app.template().await;
    let expires_at = clock.now_millis() + HOUR;
    let created = app
        .create_campaign(
            json!({"name": "flash sale", "template_id": template, "sender_id": sender,
                                "contacts": contacts(&phones(3)), "expires_at": rfc3339(expires_at)}),
        )
        .await;
    let cid = id(&created);
    assert_eq!(created["expires_at"], rfc3339(expires_at));
    // Nothing dispatches until the hour has passed.
    clock.advance(HOUR + 1);
    app.dispatch_all_pending().await;
    let done = app.campaign(&cid).await;
    assert_eq!(done["status"], "completed", "{done}");
    let n = counts(&done);
    assert_eq!((n["expired"], n["sent"], n["queued"]), (3, 0, 0), "{done}");
    assert_total_is_sum(&done);
    assert!(sent_requests(&server).await.is_empty(), "nothing reached the provider");
    for m in app.messages(&cid, Some("expired")).await {
        assert_eq!(m["attempts"], 0, "{m}");
        let one = app
            .get(&format!("/api/v1/messages/{}", m["id"].as_str().unwrap()))
            .await
            .expect(200);
        let events: Vec<&str> = one["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap())
            .collect();
        assert_eq!(events.last(), Some(&"expired"), "{one}");
    }
}

#[tokio::test]
async fn a_retry_due_after_the_expiry_is_never_made() {
    let clock = ManualClock::new(SystemClock.now_millis());
    let app = stepped(&clock).await;
    let server = meta_server().await;
    // Every send fails in a way worth retrying, after a backoff longer than the expiry.
    meta_request()
        .respond_with(meta_error(500, 131000, "Something went wrong"))
        .mount(&server)
        .await;
    let sender = app.meta_sender(&server, 1000.0).await;
    let template = app.template().await;
    let cid = id(&app
        .create_campaign(json!({"name": "m", "template_id": template, "sender_id": sender,
                                "contacts": contacts(&phones(2)),
                                "retry": {"max_attempts": 3, "backoff_seconds": [7200]},
                                "expires_at": rfc3339(clock.now_millis() + HOUR)}))
        .await);
    app.dispatch_all_pending().await;
    let tried = sent_requests(&server).await.len();
    assert_eq!(tried, 2, "one attempt each");
    clock.advance(3 * HOUR);
    app.dispatch_all_pending().await;
    assert_eq!(sent_requests(&server).await.len(), tried, "no retry after the expiry");
    let done = app.campaign(&cid).await;
    let n = counts(&done);
    assert_eq!((n["expired"], n["failed"], n["queued"]), (2, 0, 0), "{done}");
    assert_eq!(done["status"], "completed", "{done}");
    for m in app.messages(&cid, None).await {
        assert_eq!(
            (m["status"].as_str(), m["attempts"].as_i64()),
            (Some("expired"), Some(1)),
            "{m}"
        );
        assert_eq!(m["error_code"], "131000", "the last error is kept: {m}");
    }
}

#[tokio::test]
async fn a_single_message_expires_and_its_status_says_so() {
    let clock = ManualClock::new(SystemClock.now_millis());
    let app = stepped(&clock).await;
    let template = app.template().await;
    let now = clock.now_millis();
    let accepted = app
        .post(
            "/api/v1/messages",
            &json!({"to": "+593991234567", "template_id": template, "variables": {"nombre": "Ana", "monto": "5"},
                    "send_at": rfc3339(now + HOUR), "expires_at": rfc3339(now + 2 * HOUR)}),
        )
        .await
        .expect(202);
    let mid = id(&accepted);
    let queued = app.get(&format!("/api/v1/messages/{mid}")).await.expect(200);
    assert_eq!(queued["expires_at"], rfc3339(now + 2 * HOUR));
    // Its send time came and went while no dispatcher ran, and then its expiry.
    clock.advance(3 * HOUR);
    app.dispatch_all_pending().await;
    let after = app.get(&format!("/api/v1/messages/{mid}")).await.expect(200);
    assert_eq!(after["status"], "expired", "{after}");
    assert_eq!(after["attempts"], 0, "{after}");
}
