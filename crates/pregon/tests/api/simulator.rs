//! Both real providers against `pregon simulate`, in process: pregon speaks each provider's
//! wire format to it, the simulator posts signed status webhooks back, and pregon applies
//! them; no message is sent twice and the simulator never sees the sender over its rate.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{contacts, counts, phones, spawn_app, TestApp};

const RATE: u32 = 40;

fn simulator_config(app: &TestApp) -> pregon_simulator::Config {
    let mut config = pregon_simulator::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        access_tokens: ["sim-token".to_string()].into(),
        auth_token: Some("sim-auth".into()),
        latency: pregon_simulator::Latency::fixed(Duration::from_millis(20)),
        mps: RATE,
        // Arrival times carry network jitter on top of pregon's pacing.
        mps_burst: 2,
        pair_gap: Duration::ZERO,
        seed: Some(7),
        ..Default::default()
    };
    config.webhooks.meta_url = Some(format!("{}/webhooks/meta", app.address));
    config.webhooks.twilio_url = Some(format!("{}/webhooks/twilio", app.address));
    config.webhooks.app_secret = Some("sim-secret".into());
    config.webhooks.sent_delay = Duration::from_millis(5);
    config.webhooks.delivered_delay = Duration::from_millis(10);
    config.webhooks.read_delay = Duration::from_millis(10);
    config.webhooks.delivered_fraction = 1.0;
    config.webhooks.read_fraction = 1.0;
    config.webhooks.async_failure_rate = 0.0;
    config
}

async fn run_campaign(app: &TestApp, sender: Value, n: usize) -> Value {
    let template = app.template().await;
    let created = app
        .create_campaign(
            json!({"name": "simulated", "sender_id": sender["id"], "template_id": template,
                                "contacts": contacts(&phones(n))}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    app.wait_campaign(&id, "every message read, through signed webhooks", |c| {
        counts(c)["read"] == n as i64
    })
    .await
}

fn assert_clean(stats: &pregon_simulator::Stats, n: u64) {
    assert_eq!(stats.accepted, n, "{stats:?}");
    assert_eq!(stats.duplicates, 0, "no resends: {stats:?}");
    assert_eq!(stats.rejected.total, 0, "no throttling, no bad request: {stats:?}");
    assert!(stats.peak_rate_per_second.overall <= (RATE + 2) as u64, "{stats:?}");
}

#[tokio::test]
async fn a_meta_campaign_reaches_read_through_the_simulator() {
    let app = spawn_app().await;
    let (addr, simulator) = pregon_simulator::Simulator::start(simulator_config(&app))
        .await
        .unwrap();
    let sender = app
        .simulated_meta_sender(addr, json!({"messages_per_second": RATE}))
        .await;
    let done = run_campaign(&app, sender, 60).await;
    assert_eq!(done["status"], "completed");
    assert_clean(&simulator.stats(), 60);
    let read = app.messages(done["id"].as_str().unwrap(), Some("read")).await;
    let one = app
        .get(&format!("/api/v1/messages/{}", read[0]["id"].as_str().unwrap()))
        .await
        .expect(200);
    let events: Vec<&str> = one["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"delivered") && events.contains(&"read"), "{events:?}");
}

#[tokio::test]
async fn a_twilio_campaign_reaches_read_through_the_simulator() {
    let app = spawn_app().await;
    let (addr, simulator) = pregon_simulator::Simulator::start(simulator_config(&app))
        .await
        .unwrap();
    let sender = app
        .create_sender(
            json!({"name": "sim", "provider": "twilio", "phone_number": "+14155238886",
            "credentials": {"account_sid": format!("AC{}", "a".repeat(32)), "auth_token": "sim-auth"},
            "base_url": format!("http://{addr}"), "messages_per_second": RATE}),
        )
        .await;
    let done = run_campaign(&app, sender, 40).await;
    assert_eq!(done["status"], "completed");
    assert_clean(&simulator.stats(), 40);
}
