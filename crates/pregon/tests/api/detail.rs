//! A campaign's detail page, `/campaigns/{id}`, and `GET /api/v1/campaigns/{id}/failures`:
//! what the page shows, to whom, and what it refuses. The browser flow (live counts,
//! actions, export) is in `console-tests/tests/detail.test.mjs`.

use reqwest::Method;
use serde_json::{json, Value};
use wiremock::{Request, ResponseTemplate};

use crate::helpers::{
    contacts, digits, meta_accept, meta_error, meta_request, meta_server, phones, spawn_app, Session, TestApp,
    OTHER_KEY, OWNER_EMAIL, OWNER_PASSWORD,
};

/// A page as a signed-in browser gets it.
async fn page(app: &TestApp, session: &Session, path: &str) -> (u16, String) {
    let reply = app.call_as(Method::GET, path, session, None, false).await;
    (reply.status.as_u16(), reply.text)
}

async fn viewer(app: &TestApp) -> Session {
    app.post(
        "/api/v1/users",
        &json!({"email": "vera@example.com", "name": "Vera", "role": "viewer", "password": "una clave muy larga"}),
    )
    .await
    .expect(201);
    app.session("vera@example.com", "una clave muy larga").await
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// A Meta campaign of 6 whose first two recipients fail for good (131026), the third with
/// a passing error out of attempts (131000), the rest sent; waited until completed.
async fn failing_campaign(app: &TestApp, name: &str) -> String {
    let server = meta_server().await;
    let list = phones(6);
    let (permanent, passing) = ([digits(&list[0]), digits(&list[1])], digits(&list[2]));
    meta_request()
        .respond_with(move |r: &Request| -> ResponseTemplate {
            let to = r
                .body_json::<Value>()
                .ok()
                .and_then(|b| b["to"].as_str().map(str::to_string))
                .unwrap_or_default();
            if permanent.contains(&to) {
                meta_error(400, 131026, "Message undeliverable <b>")
            } else if to == passing {
                meta_error(500, 131000, "Something went wrong")
            } else {
                meta_accept(r)
            }
        })
        .mount(&server)
        .await;
    let sender = app.meta_sender(&server, 1000.0).await;
    let template = app.template().await;
    let created = app
        .create_campaign(json!({
            "name": name, "template_id": template, "sender_id": sender, "contacts": contacts(&list),
            "retry": {"max_attempts": 1}
        }))
        .await;
    let cid = id(&created);
    app.wait_status(&cid, "completed").await;
    // The mock server must outlive nothing more: the campaign is done.
    drop(server);
    cid
}

#[tokio::test]
async fn the_failures_endpoint_groups_by_code_with_the_providers_words_and_our_class() {
    let app = spawn_app().await;
    let cid = failing_campaign(&app, "Fallos").await;
    let body = app.get(&format!("/api/v1/campaigns/{cid}/failures")).await.expect(200);
    assert_eq!(
        body,
        json!({"items": [
            {"error_code": "131026", "count": 2, "error_message": "Message undeliverable <b>", "class": "permanent"},
            {"error_code": "131000", "count": 1, "error_message": "Something went wrong", "class": "retryable"},
        ]}),
    );
    // Another tenant's key does not see it.
    app.call(
        Method::GET,
        &format!("/api/v1/campaigns/{cid}/failures"),
        Some(OTHER_KEY),
        None,
    )
    .await
    .expect_error(404, "not_found");
    app.get("/api/v1/campaigns/cmp_nobody/failures")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn the_detail_page_shows_state_counts_failures_and_messages_escaped() {
    let app = spawn_app().await;
    let name = r#"Promo <script>alert("x")</script> & más"#;
    let cid = failing_campaign(&app, name).await;
    let owner = app.session(OWNER_EMAIL, OWNER_PASSWORD).await;
    let (status, html) = page(&app, &owner, &format!("/campaigns/{cid}?lang=es")).await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("<script>alert"), "the name is escaped");
    assert!(
        html.contains("Promo &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; más"),
        "{html}"
    );
    assert!(html.contains("Completada"), "the state in words");
    assert!(!html.contains('⟦'), "a message is missing from the catalogs");
    // Failures grouped by code, the provider's words escaped, our class in words.
    assert!(html.contains("131026"), "{html}");
    assert!(html.contains("Message undeliverable &#60;b&#62;"), "{html}");
    assert!(html.contains("Permanente: este mensaje no pasará"));
    assert!(html.contains("Error pasajero (se reintentó)"));
    // Completed with failures: retry failed is offered (with a question), start is not.
    assert!(html.contains(&format!(r#"data-api-url="/api/v1/campaigns/{cid}/retry""#)));
    assert!(html.contains("Reintentar los fallidos"));
    assert!(!html.contains(">Empezar<"));
    assert!(html.contains(&format!(r#"href="/api/v1/campaigns/{cid}/messages.csv""#)));
    // A finished campaign opens no event stream.
    assert!(!html.contains("data-live-source"));
    // The messages table with each one's timeline.
    assert!(html.contains("<details class=\"timeline\">"));
    assert!(html.contains(&phones(6)[5]));

    // Filtered by state, and by phone.
    let (_, failed) = page(&app, &owner, &format!("/campaigns/{cid}?status=failed")).await;
    assert!(failed.contains(&phones(6)[0]) && !failed.contains(&format!("<th scope=\"row\">{}</th>", phones(6)[5])));
    let phone = phones(6)[4].clone();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("phone", &phone)
        .finish();
    let (_, one) = page(&app, &owner, &format!("/campaigns/{cid}?{query}")).await;
    let rows = one.matches("<details class=\"timeline\">").count();
    assert_eq!(rows, 1, "{one}");
    let (status, bad) = page(&app, &owner, &format!("/campaigns/{cid}?phone=abc")).await;
    assert_eq!(status, 200);
    assert!(bad.contains(r#"aria-invalid="true""#));

    // Nothing inline for the Content-Security-Policy to refuse.
    let lower = html.to_lowercase();
    assert!(!lower.contains(" style=") && !lower.contains("<style"), "inline style");
    for script in lower.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap_or_default();
        assert!(tag.contains(" src="), "an inline script: <script{tag}>");
    }

    // In English too.
    let (_, english) = page(&app, &owner, &format!("/campaigns/{cid}?lang=en")).await;
    assert!(english.contains("Permanent: this message will not go through"));
    assert!(english.contains("Retry failed"));
    assert!(!english.contains('⟦'));
}

#[tokio::test]
async fn a_viewer_sees_no_action_and_another_tenants_campaign_is_not_found() {
    let app = spawn_app().await;
    let template = app.template().await;
    let draft = app
        .create_campaign(
            json!({"name": "Borrador", "template_id": template, "contacts": contacts(&phones(2)), "start": false}),
        )
        .await;
    let cid = id(&draft);
    let owner = app.session(OWNER_EMAIL, OWNER_PASSWORD).await;
    let (status, html) = page(&app, &owner, &format!("/campaigns/{cid}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!(r#"data-api-url="/api/v1/campaigns/{cid}/start""#)),
        "{html}"
    );
    assert!(html.contains(&format!(r#"data-api-url="/api/v1/campaigns/{cid}/cancel""#)));
    assert!(!html.contains(&format!(r#"data-api-url="/api/v1/campaigns/{cid}/pause""#)));
    assert!(
        html.contains("data-live-source=\"/api/v1/campaigns/"),
        "a draft can still change"
    );

    let vera = viewer(&app).await;
    let (status, html) = page(&app, &vera, &format!("/campaigns/{cid}")).await;
    assert_eq!(status, 200);
    assert!(!html.contains("data-api-url"), "a viewer gets no button: {html}");
    assert!(html.contains("Su rol solo permite ver esta campaña."));
    // The export link works with the session cookie alone (a GET needs no CSRF token).
    let csv = app
        .call_as(
            Method::GET,
            &format!("/api/v1/campaigns/{cid}/messages.csv"),
            &vera,
            None,
            false,
        )
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.text.starts_with("phone,status,"), "{}", csv.text);

    // Another tenant's campaign, by its id: not found, as a page.
    let theirs_template = app
        .call(
            Method::POST,
            "/api/v1/templates",
            Some(OTHER_KEY),
            Some(&json!({"name": "t", "language": "es", "body": "Hola"})),
        )
        .await
        .expect(201);
    let theirs = app
        .call(
            Method::POST,
            "/api/v1/campaigns",
            Some(OTHER_KEY),
            Some(&json!({"name": "suya", "template_id": theirs_template["id"], "contacts": contacts(&phones(1)), "start": false})),
        )
        .await
        .expect(201);
    let (status, html) = page(&app, &owner, &format!("/campaigns/{}", id(&theirs))).await;
    assert_eq!(status, 404);
    assert!(!html.contains("suya"));
    let (status, _) = page(&app, &owner, "/campaigns/cmp_nobody").await;
    assert_eq!(status, 404);
}
