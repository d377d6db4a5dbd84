//! Bad input is never a 500 and always answers the error shape, and a refused upload leaves
//! nothing behind.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error_shape, contacts, phones, spawn_app, spawn_app_with, TestApp, KEY};

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &'static [u8],
) -> crate::helpers::Reply {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(KEY).body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    app.send(request).await
}

async fn campaign_count(app: &TestApp) -> usize {
    app.get("/api/v1/campaigns?limit=200").await.expect(200)["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn broken_json_is_400() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/senders",
        "/api/v1/templates",
        "/api/v1/campaigns",
        "/api/v1/messages",
        "/api/v1/opt-outs",
    ] {
        for body in [&b"{\"name\": "[..], b"{not json}", b"", b"{\"name\": \"x\",}"] {
            let reply = raw(&app, Method::POST, path, Some("application/json"), body).await;
            assert_eq!(
                reply.status,
                400,
                "{path} {:?}: {}",
                String::from_utf8_lossy(body),
                reply.text
            );
            assert_error_shape(&reply);
        }
    }
    let reply = raw(
        &app,
        Method::POST,
        "/api/v1/templates",
        Some("application/json"),
        b"{\"name\": ",
    )
    .await;
    reply.expect_error(400, "malformed_json");
    let reply = raw(
        &app,
        Method::POST,
        "/api/v1/campaigns/cmp_x/retry",
        Some("application/json"),
        b"{oops",
    )
    .await;
    reply.expect_error(400, "malformed_json");
}

#[tokio::test]
async fn wrong_types_are_422() {
    let app = spawn_app().await;
    let template = app.template().await;
    for (path, body) in [
        (
            "/api/v1/templates",
            json!({"name": 5, "language": "es", "body": "Hola"}),
        ),
        ("/api/v1/templates", json!(["not", "an", "object"])),
        (
            "/api/v1/senders",
            json!({"name": "x", "provider": "sandbox", "messages_per_second": "fast"}),
        ),
        (
            "/api/v1/senders",
            json!({"name": "x", "provider": "sandbox", "daily_limit": 1.5}),
        ),
        (
            "/api/v1/campaigns",
            json!({"name": "x", "template_id": template, "contacts": "a.csv"}),
        ),
        (
            "/api/v1/campaigns",
            json!({"name": "x", "template_id": template, "contacts": contacts(&phones(1)), "priority": "high"}),
        ),
        (
            "/api/v1/campaigns",
            json!({"name": "x", "template_id": template, "contacts": contacts(&phones(1)), "start": "yes"}),
        ),
        (
            "/api/v1/campaigns",
            json!({"name": "x", "template_id": template, "contacts": contacts(&phones(1)), "retry": {"max_attempts": -1}}),
        ),
        (
            "/api/v1/campaigns",
            json!({"template_id": template, "contacts": contacts(&phones(1))}),
        ),
        (
            "/api/v1/messages",
            json!({"to": 584121234567_u64, "template_id": template}),
        ),
        ("/api/v1/opt-outs", json!({"phone": ["+584121234567"]})),
    ] {
        let reply = app.post(path, &body).await;
        assert_eq!(reply.status, 422, "{path} {body}: {}", reply.text);
        reply.expect_error(422, "invalid_body");
    }
    let sender = app.default_sender().await["id"].as_str().unwrap().to_string();
    app.patch(&format!("/api/v1/senders/{sender}"), &json!({"is_default": "yes"}))
        .await
        .expect_error(422, "invalid_body");
    app.post(
        &format!("/api/v1/templates/{template}/preview"),
        &json!({"variables": [1]}),
    )
    .await
    .expect_error(422, "invalid_body");
    assert_eq!(campaign_count(&app).await, 0);
}

#[tokio::test]
async fn invalid_campaign_values_are_422_and_create_nothing() {
    let app = spawn_app().await;
    let template = app.template().await;
    let base = || json!({"name": "x", "template_id": template, "contacts": contacts(&phones(2))});
    let with = |k: &str, v: Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    for (what, body, code) in [
        ("empty name", with("name", json!("  ")), "invalid_field"),
        ("priority 11", with("priority", json!(11)), "invalid_field"),
        ("priority 0", with("priority", json!(0)), "invalid_field"),
        ("unknown region", with("default_region", json!("XX")), "invalid_field"),
        (
            "no attempts",
            with("retry", json!({"max_attempts": 0})),
            "invalid_field",
        ),
        (
            "empty backoff",
            with("retry", json!({"backoff_seconds": []})),
            "invalid_field",
        ),
        (
            "failure rate 2",
            with("auto_pause", json!({"max_failure_rate": 2.0})),
            "invalid_field",
        ),
        (
            "bad webhook",
            with("webhook_url", json!("ftp://example.com/x")),
            "invalid_field",
        ),
        (
            "bad start_at",
            with("schedule", json!({"start_at": "tomorrow"})),
            "invalid_field",
        ),
        (
            "unknown time zone",
            with("schedule", json!({"timezone": "Mars/Olympus"})),
            "invalid_field",
        ),
        (
            "window start not HH:MM",
            with("schedule", json!({"window": {"start": "9am", "end": "18:00"}})),
            "invalid_field",
        ),
        (
            "empty window",
            with("schedule", json!({"window": {"start": "09:00", "end": "09:00"}})),
            "invalid_field",
        ),
        (
            "weekday 8",
            with(
                "schedule",
                json!({"window": {"start": "09:00", "end": "18:00", "days": [1, 8]}}),
            ),
            "invalid_field",
        ),
        (
            "window without start",
            with("schedule", json!({"window": {"end": "18:00"}})),
            "invalid_body",
        ),
        (
            "unknown schedule option",
            with("schedule", json!({"windows": []})),
            "invalid_body",
        ),
        (
            "per-recipient zones without a window",
            with("schedule", json!({"recipient_timezone": true})),
            "invalid_field",
        ),
        (
            "rate of zero",
            with("rate", json!({"messages_per_second": 0})),
            "invalid_field",
        ),
        (
            "jitter backwards",
            with("rate", json!({"jitter_ms": [5000, 1000]})),
            "invalid_field",
        ),
        (
            "warm-up tiers out of order",
            with(
                "rate",
                json!({"warmup": [{"up_to": 500, "interval_ms": 800}, {"up_to": 100, "interval_ms": 1200}, {"interval_ms": 400}]}),
            ),
            "invalid_field",
        ),
        (
            "warm-up neither true nor tiers",
            with("rate", json!({"warmup": "fast"})),
            "invalid_body",
        ),
        ("no contacts", with("contacts", json!([])), "no_contacts"),
        (
            "a contact that is not an object",
            with("contacts", json!([{"phone": "+584121234567"}, 5])),
            "invalid_contact",
        ),
        (
            "unknown template",
            with("template_id", json!("tpl_nope")),
            "unknown_template",
        ),
        ("unknown sender", with("sender_id", json!("snd_nope")), "unknown_sender"),
    ] {
        let reply = app.post("/api/v1/campaigns", &body).await;
        assert_eq!(reply.status, 422, "{what}: {}", reply.text);
        reply.expect_error(422, code);
    }
    assert_eq!(campaign_count(&app).await, 0, "no refused campaign was created");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = spawn_app().await;
    let body: &[u8] = br#"{"name": "t", "language": "es", "body": "Hola"}"#;
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let reply = raw(&app, Method::POST, "/api/v1/templates", content_type, body).await;
        reply.expect_error(415, "unsupported_media_type");
    }
    // The CSV import wants multipart.
    let reply = raw(
        &app,
        Method::POST,
        "/api/v1/campaigns/import",
        Some("application/json"),
        b"{\"name\": \"x\"}",
    )
    .await;
    reply.expect_error(415, "unsupported_media_type");
    assert_eq!(app.get("/api/v1/templates").await.expect(200)["items"], json!([]));
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app_with(|c| c.limits.max_body_bytes = 64 * 1024).await;
    let template = app.template().await;
    let mut big = contacts(&phones(1));
    big[0]["nota"] = json!("x".repeat(80 * 1024));
    let reply = app
        .post(
            "/api/v1/campaigns",
            &json!({"name": "big", "template_id": template, "contacts": big}),
        )
        .await;
    reply.expect_error(413, "body_too_large");

    let mut csv = String::from("phone,nombre,monto,nota\n");
    csv.push_str(&format!("+584121234567,a,1,{}\n", "x".repeat(80 * 1024)));
    let reply = app.import(csv, &[("name", "big"), ("template_id", &template)]).await;
    reply.expect_error(413, "body_too_large");

    // Under the limit is fine.
    app.create_campaign(json!({"name": "small", "template_id": template, "contacts": contacts(&phones(2))}))
        .await;
    assert_eq!(campaign_count(&app).await, 1);
}

#[tokio::test]
async fn more_contacts_than_the_limit_is_413_and_creates_nothing() {
    let app = spawn_app_with(|c| c.limits.max_contacts = 5).await;
    let template = app.template().await;
    let reply = app
        .post(
            "/api/v1/campaigns",
            &json!({"name": "many", "template_id": template, "contacts": contacts(&phones(6))}),
        )
        .await;
    reply.expect_error(413, "too_many_contacts");

    let mut csv = String::from("phone,nombre,monto\n");
    for p in phones(6) {
        csv.push_str(&format!("{p},a,1\n"));
    }
    let reply = app.import(csv, &[("name", "many"), ("template_id", &template)]).await;
    reply.expect_error(413, "too_many_contacts");
    assert_eq!(campaign_count(&app).await, 0);

    // At the limit is fine.
    app.create_campaign(json!({"name": "five", "template_id": template, "contacts": contacts(&phones(5))}))
        .await;
    assert_eq!(campaign_count(&app).await, 1);
}

/// Uploads a CSV that must be refused with 422 and `code` (any code when empty).
async fn refused(app: &TestApp, template: &str, what: &str, csv: Vec<u8>, extra: &[(&str, &str)], code: &str) {
    let mut fields = vec![("name", "bad")];
    if !extra.iter().any(|(k, _)| *k == "template_id") {
        fields.push(("template_id", template));
    }
    fields.extend_from_slice(extra);
    let reply = app.import(csv, &fields).await;
    assert_eq!(reply.status, 422, "{what}: {}", reply.text);
    if code.is_empty() {
        assert_error_shape(&reply);
    } else {
        reply.expect_error(422, code);
    }
}

#[tokio::test]
async fn unreadable_csv_uploads_are_refused_and_leave_nothing_behind() {
    let app = spawn_app().await;
    let template = app.template().await;
    let existing = app
        .create_campaign(
            json!({"name": "keep", "template_id": template, "contacts": contacts(&phones(1)), "start": false}),
        )
        .await;
    let good = b"phone,nombre,monto\n+584121234567,a,1\n".to_vec();
    let t = template.as_str();
    refused(
        &app,
        t,
        "no phone column",
        b"nombre,monto\nAna,1\n".to_vec(),
        &[],
        "missing_phone_column",
    )
    .await;
    refused(
        &app,
        t,
        "unknown phone column",
        good.clone(),
        &[("phone_column", "celular9")],
        "missing_phone_column",
    )
    .await;
    refused(
        &app,
        t,
        "not UTF-8",
        b"phone,nombre,monto\n+584121234567,Jos\xe9,1\n".to_vec(),
        &[],
        "not_utf8",
    )
    .await;
    let utf16: Vec<u8> = "\u{feff}phone,nombre\n+584121234567,a\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    refused(&app, t, "UTF-16", utf16, &[], "").await;
    refused(&app, t, "empty", Vec::new(), &[], "no_contacts").await;
    refused(
        &app,
        t,
        "header only",
        b"phone,nombre,monto\n".to_vec(),
        &[],
        "no_contacts",
    )
    .await;
    refused(
        &app,
        t,
        "unknown template",
        good.clone(),
        &[("template_id", "tpl_nope")],
        "unknown_template",
    )
    .await;
    refused(
        &app,
        t,
        "unknown sender",
        good.clone(),
        &[("sender_id", "snd_nope")],
        "unknown_sender",
    )
    .await;
    refused(
        &app,
        t,
        "bad priority",
        good.clone(),
        &[("priority", "high")],
        "invalid_field",
    )
    .await;
    refused(
        &app,
        t,
        "priority 11",
        good.clone(),
        &[("priority", "11")],
        "invalid_field",
    )
    .await;
    refused(
        &app,
        t,
        "bad start",
        good.clone(),
        &[("start", "maybe")],
        "invalid_field",
    )
    .await;
    refused(
        &app,
        t,
        "bad region",
        good.clone(),
        &[("default_region", "ZZ")],
        "invalid_field",
    )
    .await;

    // Missing fields.
    let form = reqwest::multipart::Form::new()
        .text("name", "x")
        .text("template_id", template.clone());
    app.send(app.request(Method::POST, "/api/v1/campaigns/import").multipart(form))
        .await
        .expect_error(422, "invalid_field");
    app.import(good.clone(), &[("template_id", &template)])
        .await
        .expect_error(422, "invalid_field");
    app.import(good, &[("name", "x")])
        .await
        .expect_error(422, "invalid_field");

    let ids = app.campaign_ids("?limit=200").await;
    assert_eq!(
        ids,
        vec![existing["id"].as_str().unwrap().to_string()],
        "only the good campaign exists"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app().await;
    for path in ["/nope", "/api/v1/nope", "/api/v2/campaigns"] {
        let reply = app.get(path).await;
        reply.expect_error(404, "not_found");
    }
    for path in [
        "/api/v1/campaigns/cmp_nope",
        "/api/v1/senders/snd_nope",
        "/api/v1/templates/tpl_nope",
    ] {
        app.get(path).await.expect_error(404, "not_found");
    }
    let reply = app
        .call(Method::PUT, "/api/v1/campaigns", Some(KEY), Some(&json!({})))
        .await;
    assert_eq!(reply.status, 405, "{}", reply.text);
    assert_error_shape(&reply);
}

#[tokio::test]
async fn bad_paging_is_refused() {
    let app = spawn_app().await;
    let template = app.template().await;
    let cid = app.draft_campaign(&template).await;
    for list in [
        "/api/v1/campaigns".to_string(),
        "/api/v1/senders".to_string(),
        "/api/v1/templates".to_string(),
        "/api/v1/opt-outs".to_string(),
        format!("/api/v1/campaigns/{cid}/messages"),
    ] {
        for limit in ["0", "201", "-1", "100000000000"] {
            let reply = app.get(&format!("{list}?limit={limit}")).await;
            let err = reply.expect_error(400, "invalid_query");
            assert_eq!(
                err["error"]["details"][0]["field"], "limit",
                "{list}?limit={limit}: {err}"
            );
        }
        // Not a number at all: refused as well, in the error shape.
        let reply = app.get(&format!("{list}?limit=ten")).await;
        assert!(matches!(reply.status.as_u16(), 400 | 422), "{list}: {}", reply.text);
        assert_error_shape(&reply);
        // The bounds are accepted.
        app.get(&format!("{list}?limit=1")).await.expect(200);
        app.get(&format!("{list}?limit=200")).await.expect(200);
    }
    let reply = app.get(&format!("/api/v1/campaigns?cursor={}", "c".repeat(300))).await;
    reply.expect_error(400, "invalid_query");
}

#[tokio::test]
async fn a_type_mistake_before_broken_json_is_still_400() {
    let app = spawn_app().await;
    for body in [
        &b"{\"name\": 5, \"language\": "[..],
        b"[1, 2",
        b"{\"name\": 1} trailing",
    ] {
        let reply = raw(&app, Method::POST, "/api/v1/templates", Some("application/json"), body).await;
        reply.expect_error(400, "malformed_json");
    }
    // Well-formed JSON with a wrong type stays 422.
    let reply = raw(
        &app,
        Method::POST,
        "/api/v1/templates",
        Some("application/json"),
        b"{\"name\": 5}",
    )
    .await;
    reply.expect_error(422, "invalid_body");
}

#[tokio::test]
async fn a_bad_header_image_names_its_own_field() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/api/v1/templates",
            &json!({"name": "t", "language": "es", "body": "Hola", "header_image": "{{url"}),
        )
        .await;
    let error = reply.expect_error(422, "invalid_field");
    assert_eq!(error["error"]["details"][0]["field"], "header_image", "{error}");
}
