//! Dispatch through a fake Meta Cloud API: request shape, one request per phone, errors,
//! retries, auto-pause, sender errors, pause/resume/cancel/retry and illegal transitions.

use std::sync::atomic::Ordering;

use serde_json::{json, Value};
use wiremock::{MockServer, ResponseTemplate};

use crate::helpers::{
    contacts, counts, digits, eventually, meta_bodies, meta_error, meta_request, meta_server, mount_meta_accept,
    mount_meta_switch, phones, requests_per_phone, sent_requests, spawn_app, spawn_stepped_app, TestApp,
};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id: {v}")).to_string()
}

/// Message requests received (pre-flight checks left out).
async fn request_count(server: &MockServer) -> usize {
    sent_requests(server).await.len()
}

/// Waits until the fake Cloud API has received at least `n` requests.
async fn wait_requests(server: &MockServer, n: usize) {
    eventually(&format!("{n} provider requests"), || async {
        (request_count(server).await >= n).then_some(())
    })
    .await
}

/// A Meta campaign of `n` contacts at `rate` messages per second, with extra options.
async fn meta_campaign(app: &TestApp, server: &MockServer, rate: f64, n: usize, extra: Value) -> (String, Vec<String>) {
    let sender = app.meta_sender(server, rate).await;
    let template = app.template().await;
    let list = phones(n);
    let mut body = json!({"name": "meta", "template_id": template, "sender_id": sender, "contacts": contacts(&list)});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    (id(&app.create_campaign(body).await), list)
}

/// Asserts the fake Cloud API got exactly `times` requests for each phone and no other.
async fn assert_requests_per_phone(server: &MockServer, list: &[String], times: usize) {
    let per = requests_per_phone(server).await;
    let expected = list.iter().map(|p| (digits(p), times)).collect();
    assert_eq!(per, expected, "requests per recipient");
}

#[tokio::test]
async fn a_campaign_completes_with_one_request_per_phone() {
    let app = spawn_stepped_app().await;
    let server = meta_server().await;
    mount_meta_accept(&server).await;
    let (cid, list) = meta_campaign(&app, &server, 1000.0, 12, json!({})).await;
    app.dispatch_all_pending().await;
    let done = app.campaign(&cid).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(counts(&done)["sent"], 12, "{done}");
    assert_eq!(done["progress_percent"].as_f64(), Some(100.0));
    assert_requests_per_phone(&server, &list, 1).await;
    for m in app.messages(&cid, None).await {
        assert_eq!(m["status"], "sent", "{m}");
        assert_eq!(m["attempts"], 1);
        let phone = m["phone"].as_str().unwrap();
        assert_eq!(m["provider_message_id"], format!("wamid.{}", digits(phone)), "{m}");
        assert!(m["sent_at"].is_string());
        assert_eq!(m["error_code"], Value::Null);
    }
    // Nothing more is sent once complete.
    app.dispatch_all_pending().await;
    assert_eq!(request_count(&server).await, 12);
}

#[tokio::test]
async fn the_request_carries_body_parameters_in_placeholder_order_and_the_header_image() {
    let app = spawn_app().await;
    let server = meta_server().await;
    mount_meta_accept(&server).await;
    let sender = app.meta_sender(&server, 1000.0).await;
    let template = app
        .create_template(json!({"name": "promo_fibra_visual", "language": "es",
            "body": "Hola {{nombre}}, tu factura de {{monto}} vence el {{fecha}}.", "header_image": "{{url_imagen}}"}))
        .await;
    let created = app
        .create_campaign(
            json!({"name": "shape", "template_id": template["id"], "sender_id": sender,
            "contacts": [{"url_imagen": "https://ejemplo.com/img1.jpg", "fecha": "08/01", "monto": "25.00 USD",
                          "telefono": "+58 412 123 4567", "nombre": "Juan Pérez", "cedula": "12345678"}]}),
        )
        .await;
    let cid = id(&created);
    app.wait_status(&cid, "completed").await;
    let bodies = meta_bodies(&server).await;
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["type"], "template");
    assert_eq!(body["to"], "584121234567");
    assert_eq!(body["template"]["name"], "promo_fibra_visual");
    assert_eq!(body["template"]["language"]["code"], "es");
    let components = body["template"]["components"].as_array().unwrap();
    let header = components
        .iter()
        .find(|c| c["type"] == "header")
        .expect("a header component");
    assert_eq!(
        header["parameters"],
        json!([{"type": "image", "image": {"link": "https://ejemplo.com/img1.jpg"}}])
    );
    let body_component = components
        .iter()
        .find(|c| c["type"] == "body")
        .expect("a body component");
    assert_eq!(
        body_component["parameters"],
        json!([{"type": "text", "text": "Juan Pérez"}, {"type": "text", "text": "25.00 USD"}, {"type": "text", "text": "08/01"}]),
        "placeholder order, not field order"
    );
    let message = &app.messages(&cid, None).await[0];
    assert_eq!(body["biz_opaque_callback_data"], message["id"]);
}

#[tokio::test]
async fn permanent_errors_fail_and_keep_the_code() {
    let app = spawn_app().await;
    let server = meta_server().await;
    meta_request()
        .respond_with(meta_error(400, 131026, "Message undeliverable"))
        .mount(&server)
        .await;
    let (cid, list) = meta_campaign(&app, &server, 1000.0, 4, json!({})).await;
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["failed"], 4, "{done}");
    assert_eq!(counts(&done)["sent"], 0);
    let failed = app.messages(&cid, Some("failed")).await;
    assert_eq!(failed.len(), 4);
    for m in failed {
        assert_eq!(m["error_code"], "131026", "{m}");
        assert!(m["error_message"].as_str().unwrap().contains("undeliverable"), "{m}");
        assert_eq!(m["attempts"], 1, "a permanent error is not retried");
        assert_eq!(m["sent_at"], Value::Null);
    }
    assert_requests_per_phone(&server, &list, 1).await;
}

#[tokio::test]
async fn retryable_errors_are_retried_then_sent() {
    let app = spawn_app().await;
    let server = meta_server().await;
    meta_request()
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_meta_accept(&server).await;
    let (cid, list) = meta_campaign(
        &app,
        &server,
        1000.0,
        1,
        json!({"retry": {"max_attempts": 2, "backoff_seconds": [0]}}),
    )
    .await;
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["sent"], 1, "{done}");
    assert_requests_per_phone(&server, &list, 2).await;
    let m = &app.messages(&cid, None).await[0];
    assert_eq!(m["status"], "sent");
    assert_eq!(m["attempts"], 2);
    let full = app.get(&format!("/api/v1/messages/{}", id(m))).await.expect(200);
    let events = full["events"].as_array().unwrap();
    let statuses: Vec<&str> = events.iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["queued", "sent"], "{full}");
    assert_eq!(events[0]["detail"]["error_code"], "http_503");
    assert_eq!(events[1]["detail"]["provider_message_id"], full["provider_message_id"]);
}

#[tokio::test]
async fn exhausted_attempts_fail() {
    let app = spawn_app().await;
    let server = meta_server().await;
    // A transient error spends attempts (throttling does not: see providers.rs).
    meta_request()
        .respond_with(meta_error(500, 131000, "Something went wrong"))
        .mount(&server)
        .await;
    let (cid, list) = meta_campaign(
        &app,
        &server,
        1000.0,
        2,
        json!({"retry": {"max_attempts": 2, "backoff_seconds": [0]}}),
    )
    .await;
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["failed"], 2, "{done}");
    for m in app.messages(&cid, None).await {
        assert_eq!(m["status"], "failed");
        assert_eq!(m["attempts"], 2);
        assert_eq!(m["error_code"], "131000");
    }
    assert_requests_per_phone(&server, &list, 2).await;
}

#[tokio::test]
async fn too_many_failures_pause_the_campaign() {
    let app = spawn_app().await;
    let server = meta_server().await;
    meta_request()
        .respond_with(meta_error(400, 131026, "Message undeliverable"))
        .mount(&server)
        .await;
    let (cid, _) = meta_campaign(
        &app,
        &server,
        10.0,
        20,
        json!({"auto_pause": {"min_failures": 2, "max_failure_rate": 0.5}}),
    )
    .await;
    let paused = app.wait_status(&cid, "paused").await;
    assert_eq!(paused["paused_reason"], "too_many_failures", "{paused}");
    assert!(paused["paused_detail"].is_string(), "{paused}");
    let n = counts(&paused);
    assert!(n["failed"] >= 3, "paused once failures passed the minimum: {paused}");
    assert!(n["queued"] > 0, "paused before the end: {paused}");
    assert_eq!(n["sent"], 0);
    assert_eq!(
        request_count(&server).await as i64,
        n["failed"],
        "every request is accounted for and none was made after the pause"
    );
}

#[tokio::test]
async fn a_sender_error_pauses_every_campaign_of_the_sender() {
    let app = spawn_app().await;
    let server = meta_server().await;
    let failing = mount_meta_switch(
        &server,
        meta_error(401, 190, "Error validating access token: Session has expired"),
    )
    .await;
    let sender = app.meta_sender(&server, 1000.0).await;
    let template = app.template().await;
    let a_phones = phones(3);
    let b_phones: Vec<String> = (1..=3).map(|i| format!("+58414{:07}", 2_000 + i)).collect();
    let a = id(&app
        .create_campaign(
            json!({"name": "a", "template_id": template, "sender_id": sender, "contacts": contacts(&a_phones)}),
        )
        .await);
    let b = id(&app
        .create_campaign(
            json!({"name": "b", "template_id": template, "sender_id": sender, "contacts": contacts(&b_phones)}),
        )
        .await);
    // Another sender's campaign is not affected.
    let sandbox = id(&app
        .create_campaign(json!({"name": "sandbox", "template_id": template, "contacts": contacts(&phones(2))}))
        .await);

    for cid in [&a, &b] {
        let paused = app.wait_status(cid, "paused").await;
        assert_eq!(paused["paused_reason"], "sender_error", "{paused}");
        assert!(paused["paused_detail"].as_str().unwrap().contains("190"), "{paused}");
        assert_eq!(counts(&paused)["queued"], 3, "messages go back to the queue: {paused}");
        assert_eq!(counts(&paused)["failed"], 0);
        for m in app.messages(cid, None).await {
            assert_eq!(m["status"], "queued", "{m}");
            assert_eq!(m["attempts"], 0, "a sender error spends no attempt: {m}");
        }
    }
    let done = app.wait_status(&sandbox, "completed").await;
    assert_eq!(counts(&done)["sent"], 2);
    let before = requests_per_phone(&server).await;
    assert!(
        before.values().all(|n| *n == 1),
        "no message was tried twice: {before:?}"
    );
    assert!(a_phones.iter().all(|p| before.contains_key(&digits(p))), "{before:?}");

    // Once the sender works again, resuming sends everything, each message once more.
    failing.store(false, Ordering::SeqCst);
    for cid in [&a, &b] {
        let resumed = app
            .post_empty(&format!("/api/v1/campaigns/{cid}/resume"))
            .await
            .expect(200);
        assert_eq!(resumed["paused_reason"], Value::Null);
    }
    for cid in [&a, &b] {
        let done = app.wait_status(cid, "completed").await;
        assert_eq!(counts(&done)["sent"], 3, "{done}");
    }
    let after = requests_per_phone(&server).await;
    for p in a_phones.iter().chain(&b_phones) {
        let n = after.get(&digits(p)).copied().unwrap_or(0);
        assert_eq!(n, before.get(&digits(p)).copied().unwrap_or(0) + 1, "{p}: {after:?}");
    }
}

#[tokio::test]
async fn pause_then_resume_completes_without_duplicates() {
    let app = spawn_app().await;
    let server = meta_server().await;
    mount_meta_accept(&server).await;
    let (cid, list) = meta_campaign(&app, &server, 10.0, 10, json!({})).await;
    wait_requests(&server, 1).await;
    let answer = app
        .post_empty(&format!("/api/v1/campaigns/{cid}/pause"))
        .await
        .expect(200);
    assert_eq!(answer["status"], "paused");
    assert_eq!(answer["paused_reason"], "user");

    let paused = app.wait_status(&cid, "paused").await;
    let n = counts(&paused);
    assert!(n["queued"] > 0, "paused before the end: {paused}");
    assert_eq!(
        n["sent"] as usize,
        request_count(&server).await,
        "in-flight requests finished"
    );

    app.post_empty(&format!("/api/v1/campaigns/{cid}/resume"))
        .await
        .expect(200);
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["sent"], 10, "{done}");
    assert_requests_per_phone(&server, &list, 1).await;
}

#[tokio::test]
async fn cancel_stops_sending() {
    let app = spawn_stepped_app().await;
    let server = meta_server().await;
    mount_meta_accept(&server).await;
    let (cid, _) = meta_campaign(&app, &server, 10.0, 10, json!({})).await;
    // Ten messages at ten a second: the cancel comes a moment after the first.
    let sending = app.dispatch_in_background();
    wait_requests(&server, 1).await;
    let answer = app
        .post_empty(&format!("/api/v1/campaigns/{cid}/cancel"))
        .await
        .expect(200);
    assert_eq!(answer["status"], "cancelled");
    // What was `sending` when the cancel committed is all that may still leave.
    let at_cancel = counts(&answer);
    sending.await.expect("the dispatch pass ends");

    // The pass is over and recorded: no wait.
    let cancelled = app.campaign(&cid).await;
    let n = counts(&cancelled);
    assert_eq!((n["queued"], n["claimed"], n["sending"]), (0, 0, 0), "{cancelled}");
    assert!(n["cancelled"] > 0, "{cancelled}");
    assert_eq!(n["sent"] + n["cancelled"], 10, "{cancelled}");
    assert!(cancelled["completed_at"].is_string());
    let requests = request_count(&server).await;
    assert_eq!(
        requests as i64,
        at_cancel["sent"] + at_cancel["sending"],
        "no request left after the cancel but those already in flight"
    );
    assert_eq!(n["sent"] as usize, requests, "the in-flight requests were recorded");
    for m in app.messages(&cid, Some("cancelled")).await {
        assert_eq!(m["attempts"], 0, "{m}");
    }
    // A dispatcher that looks again finds nothing to send.
    app.dispatch_all_pending().await;
    assert_eq!(request_count(&server).await, requests, "no request after the cancel");
    assert_eq!(app.campaign(&cid).await["counts"], cancelled["counts"]);
}

#[tokio::test]
async fn retry_requeues_failed_messages() {
    let app = spawn_app().await;
    let server = meta_server().await;
    let failing = mount_meta_switch(&server, meta_error(400, 131026, "Message undeliverable")).await;
    let (cid, list) = meta_campaign(&app, &server, 1000.0, 3, json!({})).await;
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["failed"], 3);

    failing.store(false, Ordering::SeqCst);
    let retried = app
        .post(
            &format!("/api/v1/campaigns/{cid}/retry"),
            &json!({"include_unknown": false}),
        )
        .await
        .expect(200);
    assert_ne!(retried["status"], "completed", "{retried}");
    assert_eq!(retried["counts"]["failed"], 0, "{retried}");
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["sent"], 3, "{done}");
    assert_eq!(counts(&done)["failed"], 0);
    for m in app.messages(&cid, None).await {
        assert_eq!(m["status"], "sent");
        assert_eq!(m["error_code"], Value::Null, "{m}");
    }
    assert_requests_per_phone(&server, &list, 2).await;
}

#[tokio::test]
async fn retry_includes_unknown_messages_only_when_asked() {
    let app = spawn_app().await;
    let server = meta_server().await;
    // A 200 pregon cannot read: the provider may have accepted the message.
    let ambiguous = mount_meta_switch(&server, ResponseTemplate::new(200).set_body_string("{}")).await;
    let (cid, list) = meta_campaign(&app, &server, 1000.0, 2, json!({})).await;
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["unknown"], 2, "{done}");
    for m in app.messages(&cid, None).await {
        assert_eq!(m["status"], "unknown");
        assert_eq!(m["error_code"], "bad_response");
    }
    ambiguous.store(false, Ordering::SeqCst);

    let retried = app
        .post_empty(&format!("/api/v1/campaigns/{cid}/retry"))
        .await
        .expect(200);
    assert_eq!(
        retried["counts"]["unknown"], 2,
        "unknown messages stay unless asked: {retried}"
    );
    let c = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&c)["unknown"], 2);
    assert_requests_per_phone(&server, &list, 1).await;

    app.post(
        &format!("/api/v1/campaigns/{cid}/retry"),
        &json!({"include_unknown": true}),
    )
    .await
    .expect(200);
    let done = app.wait_status(&cid, "completed").await;
    assert_eq!(counts(&done)["sent"], 2, "{done}");
    assert_eq!(counts(&done)["unknown"], 0);
    assert_requests_per_phone(&server, &list, 2).await;
}

#[tokio::test]
async fn illegal_transitions_are_409() {
    let app = spawn_app().await;
    let template = app.template().await;
    let act = |cid: String, action: &'static str| {
        let app = &app;
        async move { app.post_empty(&format!("/api/v1/campaigns/{cid}/{action}")).await }
    };
    let illegal = |cid: String, action: &'static str, from: &'static str| {
        let app = &app;
        async move {
            let reply = app.post_empty(&format!("/api/v1/campaigns/{cid}/{action}")).await;
            let err = reply.expect_error(409, "illegal_transition");
            assert_eq!(
                err["error"]["details"][0],
                json!({"status": from, "action": action}),
                "{err}"
            );
            assert_eq!(
                app.campaign(&cid).await["status"],
                from,
                "a refused action changes nothing"
            );
        }
    };

    // completed
    let completed = id(&app
        .create_campaign(json!({"name": "c", "template_id": template, "contacts": contacts(&phones(1))}))
        .await);
    app.wait_status(&completed, "completed").await;
    for action in ["resume", "start", "pause", "cancel"] {
        illegal(completed.clone(), action, "completed").await;
    }

    // running: a sender at one message per 1,000 s keeps it running after its first send
    let slow = id(&app
        .create_sender(json!({"name": "s", "provider": "sandbox", "messages_per_second": 0.001}))
        .await);
    let running = id(&app
        .create_campaign(
            json!({"name": "r", "template_id": template, "sender_id": slow, "contacts": contacts(&phones(2))}),
        )
        .await);
    for action in ["start", "resume"] {
        illegal(running.clone(), action, "running").await;
    }

    // draft
    let draft = id(&app
        .create_campaign(
            json!({"name": "d", "template_id": template, "contacts": contacts(&phones(1)), "start": false}),
        )
        .await);
    for action in ["resume", "retry", "pause"] {
        illegal(draft.clone(), action, "draft").await;
    }

    // cancelled
    assert_eq!(act(draft.clone(), "cancel").await.expect(200)["status"], "cancelled");
    assert_eq!(app.campaign(&draft).await["counts"]["cancelled"], 1);
    for action in ["cancel", "resume", "start", "pause", "retry"] {
        illegal(draft.clone(), action, "cancelled").await;
    }

    // paused
    assert_eq!(act(running.clone(), "pause").await.expect(200)["status"], "paused");
    for action in ["pause", "start"] {
        illegal(running.clone(), action, "paused").await;
    }

    app.post_empty("/api/v1/campaigns/cmp_nope/start")
        .await
        .expect_error(404, "not_found");
}
