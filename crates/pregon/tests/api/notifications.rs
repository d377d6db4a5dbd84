//! Campaign webhooks out: one signed POST per final state, retried with backoff, keyed with
//! the tenant's (rotatable) webhook secret.
//!
//! The dispatcher and the deliverer are stepped by the tests, under a clock they move: a
//! notification that is not delivered when a test delivers everything due, with the clock
//! past every backoff, is never delivered.

use std::sync::Arc;
use std::time::Duration;

use pregon::clock::{Clock, ManualClock, SystemClock};
use pregon::config::NotifyConfig;
use pregon_providers::signature::verify_sha256_header;
use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{contacts, counts, phones, spawn_stepped_app_with, TestApp, OTHER_KEY};

const HOOK: &str = "/hooks/pregon";

/// Longer than every backoff and claim lease of the deliverer.
const LATER: i64 = 24 * 3_600_000;

/// A clock at the time the test starts, moved by the test.
fn clock() -> ManualClock {
    ManualClock::new(SystemClock.now_millis())
}

/// pregon stepped by the test under `clock`, with a deliverer that retries after 100 ms.
async fn app(clock: &ManualClock) -> TestApp {
    let clock = clock.clone();
    spawn_stepped_app_with(move |c| {
        c.clock = Arc::new(clock);
        c.dispatch.notify = NotifyConfig {
            backoff: vec![Duration::from_millis(100)],
            ..NotifyConfig::default()
        };
    })
    .await
}

/// A receiver answering 200 to every notification.
async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(HOOK))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

async fn hooks(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("request recording is on")
}

/// Delivers what is due, then finds nothing left to deliver even once every backoff and
/// claim lease has run out: so no more will ever arrive. Asserts the receiver got exactly
/// `n` in all, and returns them.
async fn exactly(app: &TestApp, clock: &ManualClock, server: &MockServer, n: usize) -> Vec<Request> {
    app.deliver_notifications().await;
    clock.advance(LATER);
    let again = app.deliver_notifications().await;
    let got = hooks(server).await;
    assert_eq!(again, 0, "nothing left to deliver; received: {:?}", bodies(&got));
    assert_eq!(got.len(), n, "notifications received: {:?}", bodies(&got));
    got
}

/// Sends the campaign's messages; it is then `completed`.
async fn complete(app: &TestApp, id: &str) -> Value {
    app.dispatch_all_pending().await;
    let done = app.campaign(id).await;
    assert_eq!(done["status"], "completed", "{done}");
    done
}

fn bodies(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).to_string())
        .collect()
}

fn signature(r: &Request) -> String {
    r.headers
        .get("x-pregon-signature")
        .expect("an X-Pregon-Signature header")
        .to_str()
        .unwrap()
        .to_string()
}

/// Asserts the request is signed with `secret` over its exact body bytes.
fn assert_signed(r: &Request, secret: &str) {
    let header = signature(r);
    assert!(header.starts_with("sha256="), "{header}");
    assert!(
        verify_sha256_header(secret.as_bytes(), &r.body, &header),
        "signature {header} does not match the body under the secret"
    );
}

async fn rotate(app: &TestApp) -> String {
    let answer = app.post_empty("/api/v1/webhook-secret/rotate").await.expect(200);
    let secret = answer["webhook_secret"].as_str().expect("a webhook secret").to_string();
    assert!(secret.len() >= 32, "{secret}");
    secret
}

/// A sandbox campaign to `list` (plus one invalid number), notifying `server`.
async fn hooked_campaign(app: &TestApp, server: &MockServer, list: &[String], extra: Value) -> String {
    let template = app.template().await;
    let mut people = contacts(list);
    people.push(json!({"phone": "not-a-phone", "nombre": "X", "monto": "1"}));
    let mut body = json!({
        "name": "avisos", "template_id": template, "contacts": people,
        "webhook_url": format!("{}{HOOK}", server.uri()),
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.create_campaign(body).await["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn completion_posts_one_signed_notification_with_the_final_campaign() {
    let clock = clock();
    let app = app(&clock).await;
    let server = receiver().await;
    let secret = rotate(&app).await;
    let id = hooked_campaign(&app, &server, &phones(3), json!({})).await;
    let done = complete(&app, &id).await;

    let got = exactly(&app, &clock, &server, 1).await;
    let r = &got[0];
    assert_signed(r, &secret);
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: Value = serde_json::from_slice(&r.body).expect("a JSON body");
    assert_eq!(body["event"], "campaign.completed");
    assert!(
        body["id"].as_str().is_some_and(|i| !i.is_empty()),
        "a unique id: {body}"
    );
    let campaign = &body["campaign"];
    assert_eq!(campaign["id"], id.as_str());
    assert_eq!(campaign["status"], "completed");
    assert_eq!(campaign["total"], 4);
    assert_eq!(
        counts(campaign),
        counts(
            &json!({"counts": {"queued": 0, "claimed": 0, "sending": 0, "sent": 3, "delivered": 0,
            "read": 0, "failed": 0, "unknown": 0, "skipped": 1, "cancelled": 0, "expired": 0}})
        )
    );
    // The campaign object exactly as the API answers it, every field.
    assert_eq!(campaign, &done, "notified vs GET /api/v1/campaigns/{{id}}");
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_answers() {
    let clock = clock();
    let app = app(&clock).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(HOOK))
        .respond_with(ResponseTemplate::new(500).set_body_string("try later"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(HOOK))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    let secret = rotate(&app).await;
    let id = hooked_campaign(&app, &server, &phones(2), json!({})).await;
    complete(&app, &id).await;

    assert_eq!(app.deliver_notifications().await, 1, "the first attempt (500)");
    // The configured backoff, 100 ms, to the millisecond.
    clock.advance(99);
    assert_eq!(app.deliver_notifications().await, 0, "no retry before the backoff");
    clock.advance(1);
    assert_eq!(app.deliver_notifications().await, 1, "the second attempt (500)");
    clock.advance(100);
    assert_eq!(app.deliver_notifications().await, 1, "the third attempt (200)");
    let got = exactly(&app, &clock, &server, 3).await;
    let sent = bodies(&got);
    assert!(
        sent.iter().all(|b| *b == sent[0]),
        "every attempt carries the same body"
    );
    for r in &got {
        assert_signed(r, &secret);
    }
    let body: Value = serde_json::from_str(&sent[0]).unwrap();
    assert_eq!(body["campaign"]["id"], id.as_str());
}

#[tokio::test]
async fn cancelling_sends_campaign_cancelled() {
    let clock = clock();
    let app = app(&clock).await;
    let server = receiver().await;
    let secret = rotate(&app).await;
    let id = hooked_campaign(&app, &server, &phones(3), json!({"start": false})).await;
    app.post_empty(&format!("/api/v1/campaigns/{id}/cancel"))
        .await
        .expect(200);

    let got = exactly(&app, &clock, &server, 1).await;
    assert_signed(&got[0], &secret);
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["event"], "campaign.cancelled");
    assert_eq!(body["campaign"]["status"], "cancelled");
    let n = counts(&body["campaign"]);
    assert_eq!((n["cancelled"], n["skipped"], n["queued"]), (3, 1, 0), "{body}");
}

#[tokio::test]
async fn rotating_the_secret_changes_the_signing_key() {
    let clock = clock();
    let app = app(&clock).await;
    let server = receiver().await;
    let first = rotate(&app).await;
    let a = hooked_campaign(&app, &server, &phones(1), json!({})).await;
    complete(&app, &a).await;
    let got = exactly(&app, &clock, &server, 1).await;
    assert_signed(&got[0], &first);

    let second = rotate(&app).await;
    assert_ne!(first, second, "a new secret each time");
    let b = hooked_campaign(&app, &server, &phones(2), json!({})).await;
    complete(&app, &b).await;
    let got = exactly(&app, &clock, &server, 2).await;
    let r = got
        .iter()
        .find(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["campaign"]["id"] == b.as_str())
        .expect("campaign b's notification");
    assert_signed(r, &second);
    assert!(
        !verify_sha256_header(first.as_bytes(), &r.body, &signature(r)),
        "the old secret no longer signs"
    );

    // Rotation needs a key, and is the caller's tenant's alone.
    app.call(Method::POST, "/api/v1/webhook-secret/rotate", None, None)
        .await
        .expect_error(401, "unauthorized");
    let theirs = app
        .call(Method::POST, "/api/v1/webhook-secret/rotate", Some(OTHER_KEY), None)
        .await
        .expect(200);
    assert_ne!(theirs["webhook_secret"], json!(second));
}

#[tokio::test]
async fn the_new_routes_are_documented() {
    let app = app(&clock()).await;
    let doc = app.get("/openapi.json").await.expect(200);
    for route in [
        "/api/v1/webhook-secret/rotate",
        "/api/v1/opt-ins",
        "/api/v1/opt-ins/{phone}",
    ] {
        assert!(
            doc["paths"][route].is_object(),
            "{route} is not in the OpenAPI document"
        );
    }
}
