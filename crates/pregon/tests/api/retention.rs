//! Retention: finished campaigns and single messages go after `PREGON_RETENTION_DAYS`, and
//! nothing unfinished ever does; driven by a hand-set clock.

use std::sync::Arc;
use std::time::Duration;

use pregon::clock::ManualClock;
use pregon::config::RetentionConfig;
use serde_json::{json, Value};

use crate::helpers::{contacts, eventually, phones, spawn_app_with};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[tokio::test]
async fn finished_work_is_deleted_after_the_retention_period() {
    let clock = ManualClock::new(chrono::Utc::now().timestamp_millis());
    let app = {
        let clock = clock.clone();
        spawn_app_with(move |config| {
            config.clock = Arc::new(clock);
            // Every few milliseconds, so the test need not wait an hour.
            config.retention = RetentionConfig {
                audit_days: 365,
                days: 30,
                first_run_after: Duration::ZERO,
                interval: Duration::from_millis(20),
                batch: 1,
            };
        })
        .await
    };
    let template = app.template().await;
    let done = app
        .create_campaign(json!({"name": "done", "template_id": template, "contacts": contacts(&phones(3))}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let completed = app.wait_status(&done, "completed").await;
    assert_eq!(completed["counts"]["sent"], 3, "{completed}");
    let unfinished = app.draft_campaign(&template).await;
    let single = app
        .post(
            "/api/v1/messages",
            &json!({"to": "+584121234567", "template_id": template, "variables": {"nombre": "A", "monto": "1"}}),
        )
        .await
        .expect(202)["id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually("the single message to be sent", || async {
        let m = app.get(&format!("/api/v1/messages/{single}")).await.expect(200);
        (m["status"] == "sent").then_some(())
    })
    .await;

    // Within the period (runs of the task included): all there, the export too.
    clock.advance(29 * DAY_MS);
    let export = app.get(&format!("/api/v1/campaigns/{done}/messages.csv")).await;
    assert_eq!(export.status.as_u16(), 200, "{}", export.text);
    assert_eq!(export.text.lines().count(), 1 + 3, "{}", export.text);
    let scheduled = app
        .post(
            "/api/v1/messages",
            &json!({"to": "+584121234568", "template_id": template, "send_at": "2999-01-01T00:00:00Z",
                    "variables": {"nombre": "B", "monto": "2"}}),
        )
        .await
        .expect(202)["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.get(&format!("/api/v1/campaigns/{done}")).await.expect(200);

    // Past it: the finished campaign and message go; the draft and the scheduled message stay.
    clock.advance(2 * DAY_MS);
    eventually("the finished campaign to be purged", || async {
        (app.get(&format!("/api/v1/campaigns/{done}")).await.status.as_u16() == 404).then_some(())
    })
    .await;
    app.get(&format!("/api/v1/campaigns/{done}"))
        .await
        .expect_error(404, "not_found");
    app.get(&format!("/api/v1/campaigns/{done}/messages.csv"))
        .await
        .expect_error(404, "not_found");
    eventually("the finished single message to be purged", || async {
        (app.get(&format!("/api/v1/messages/{single}")).await.status.as_u16() == 404).then_some(())
    })
    .await;
    assert_eq!(app.campaign(&unfinished).await["status"], "draft");
    let waiting = app.get(&format!("/api/v1/messages/{scheduled}")).await.expect(200);
    assert_eq!(waiting["status"], "queued");
    let listed = app.get("/api/v1/campaigns").await.expect(200);
    let ids: Vec<&Value> = listed["items"].as_array().unwrap().iter().map(|c| &c["id"]).collect();
    assert_eq!(ids, vec![&json!(unfinished)]);
}
