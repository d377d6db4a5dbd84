//! A Meta sender that follows its number's throughput (`rate_follows_provider`): it sends at
//! what the number is granted, learned at pre-flight and from Meta's `THROUGHPUT_UPGRADE`
//! webhook, never above its own `messages_per_second`, end to end through `pregon simulate`.

use serde_json::{json, Value};

use crate::helpers::{contacts, counts, eventually, phones, spawn_app, TestApp};

async fn sender_view(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/senders/{id}")).await.expect(200)
}

async fn campaign_of(app: &TestApp, sender: &str, template: &str, phones: &[String]) -> Value {
    let created = app
        .create_campaign(json!({"name": "tp", "sender_id": sender, "template_id": template,
                                "contacts": contacts(phones)}))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    app.wait_status(&id, "completed").await
}

#[tokio::test]
async fn a_following_sender_takes_its_numbers_throughput_and_the_upgrade_meta_announces() {
    let app = spawn_app().await;
    let mut config = pregon_simulator::Config {
        latency: pregon_simulator::Latency::fixed(std::time::Duration::from_millis(2)),
        mps: 80,
        high_mps: 1_000,
        seed: Some(11),
        ..crate::helpers::simulated_meta(&app)
    };
    config.display_phone_number = "593995683452".into();
    // The sender's number: the simulator's webhooks name it by these digits.
    let (addr, _simulator) = pregon_simulator::Simulator::start(config).await.unwrap();
    let created = app
        .simulated_meta_sender(
            addr,
            json!({"name": "follows", "messages_per_second": 500, "rate_follows_provider": true}),
        )
        .await;
    let sender = created["id"].as_str().unwrap().to_string();
    // Nothing read yet: the level every number starts at, not the cap.
    assert_eq!(created["rate_follows_provider"], true);
    assert_eq!(created["throughput_level"], Value::Null);
    assert_eq!(created["effective_messages_per_second"], 80.0);
    let template = app.template().await;

    // The pre-flight reads STANDARD: 80 per second.
    let first = campaign_of(&app, &sender, &template, &phones(20)).await;
    assert_eq!(counts(&first)["sent"], 20, "{first}");
    let view = sender_view(&app, &sender).await;
    assert_eq!(
        (&view["throughput_level"], &view["effective_messages_per_second"]),
        (&json!("standard"), &json!(80.0))
    );
    let m = crate::metrics::scrape(&app).await;
    assert_eq!(m.value("pregon_sender_configured_rate", &[("sender", &sender)]), 80.0);

    // Meta upgrades the number; once done it says so by webhook.
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("http://{addr}/control/throughput"))
        .json(&json!({"level": "HIGH", "downtime_ms": 50}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let view = eventually("the upgrade webhook recorded", || async {
        let v = sender_view(&app, &sender).await;
        (v["throughput_level"] == "high").then_some(v)
    })
    .await;
    // Granted 1,000, capped by the sender's own 500.
    assert_eq!(view["effective_messages_per_second"], 500.0);

    let second = campaign_of(&app, &sender, &template, &phones(20)).await;
    assert_eq!(counts(&second)["sent"], 20, "{second}");
    let m = crate::metrics::scrape(&app).await;
    assert_eq!(m.value("pregon_sender_configured_rate", &[("sender", &sender)]), 500.0);

    // Switched off, the sender is back on its own figure.
    let off = app
        .patch(
            &format!("/api/v1/senders/{sender}"),
            &json!({"rate_follows_provider": false}),
        )
        .await
        .expect(200);
    assert_eq!(
        (&off["rate_follows_provider"], &off["effective_messages_per_second"]),
        (&json!(false), &json!(500.0))
    );
}

#[tokio::test]
async fn only_a_meta_sender_can_follow_its_numbers_throughput() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/api/v1/senders",
            &json!({"name": "tw", "provider": "twilio", "phone_number": "+593995683453",
                    "credentials": {"account_sid": "AC00000000000000000000000000000000", "auth_token": "t"},
                    "rate_follows_provider": true}),
        )
        .await;
    let error = reply.expect_error(422, "invalid_field");
    assert!(error.to_string().contains("rate_follows_provider"), "{error}");
    let list = app.get("/api/v1/senders").await.expect(200);
    assert!(
        list["items"].as_array().unwrap().iter().all(|s| s["name"] != "tw"),
        "nothing created: {list}"
    );
    let sandbox = app.default_sender().await;
    let id = sandbox["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/senders/{id}"),
        &json!({"rate_follows_provider": true}),
    )
    .await
    .expect_error(422, "invalid_field");
    app.patch(
        &format!("/api/v1/senders/{id}"),
        &json!({"rate_follows_provider": "yes"}),
    )
    .await
    .expect_error(422, "invalid_body");
}
