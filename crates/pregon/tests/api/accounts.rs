//! People and sessions over HTTP: signing in and out, the cookie and its CSRF token, the
//! lockout after failed sign-ins, users and the last owner, the audit log, and the API rate
//! limit.

use pregon::clock::{Clock, ManualClock, SystemClock};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, Session, TestApp, OWNER_EMAIL, OWNER_PASSWORD};

async fn make_user(app: &TestApp, email: &str, role: &str) -> String {
    let made = app
        .post(
            "/api/v1/users",
            &json!({"email": email, "name": "Ana Pérez", "role": role, "password": "una clave muy larga"}),
        )
        .await
        .expect(201);
    assert!(
        made.get("password").is_none() && made.get("password_hash").is_none(),
        "{made}"
    );
    made["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_me_says_who() {
    let app = spawn_app().await;
    let reply = app.sign_in(&OWNER_EMAIL.to_uppercase(), OWNER_PASSWORD).await;
    let body = reply.expect(201);
    assert_eq!(body["user"]["email"], OWNER_EMAIL, "emails sign in whatever their case");
    assert_eq!(body["user"]["role"], "owner");
    assert!(body["expires_at"].as_str().is_some());
    let cookie = reply.headers[reqwest::header::SET_COOKIE].to_str().unwrap();
    for part in [
        "pregon_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=604800",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag: {cookie}");
    let session = app.session(OWNER_EMAIL, OWNER_PASSWORD).await;
    let me = app
        .call_as(Method::GET, "/api/v1/me", &session, None, false)
        .await
        .expect(200);
    assert_eq!(me["kind"], "user");
    assert_eq!(me["role"], "owner");
    assert_eq!(me["tenant"]["name"], "default");
    assert_eq!(me["csrf_token"], session.csrf.as_str());
    // A key says it is one.
    let me = app.get("/api/v1/me").await.expect(200);
    assert_eq!(
        (me["kind"].as_str(), me["role"].as_str()),
        (Some("api_key"), Some("owner"))
    );
    // The sign-in is audited, never with the password.
    let audit = app.get("/api/v1/audit?action=session.create").await.expect(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 2);
    assert_eq!(audit["items"][0]["actor"]["kind"], "user");
    assert!(!audit.to_string().contains(OWNER_PASSWORD));
}

#[tokio::test]
async fn behind_https_the_cookie_is_secure() {
    let app = spawn_app_with(|c| c.reports.public_url = Some("https://pregon.example.com".into())).await;
    let reply = app.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
    reply.expect(201);
    assert!(reply.headers[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("; Secure"));
}

#[tokio::test]
async fn wrong_passwords_and_unknown_emails_answer_alike_then_lock_the_email_out() {
    let clock = ManualClock::new(SystemClock.now_millis());
    let app = spawn_app_with({
        let clock = clock.clone();
        move |c| c.clock = std::sync::Arc::new(clock)
    })
    .await;
    let wrong = app.sign_in(OWNER_EMAIL, "not the password at all").await;
    let unknown = app.sign_in("nobody@example.com", "not the password at all").await;
    let a = wrong.expect_error(401, "invalid_credentials");
    let b = unknown.expect_error(401, "invalid_credentials");
    assert_eq!(a, b, "the same answer either way");
    assert!(wrong.headers.get(reqwest::header::SET_COOKIE).is_none());
    // Four more failures make five in 15 minutes: the next attempt is refused, even with
    // the right password.
    for _ in 0..4 {
        clock.advance(1_000);
        app.sign_in(OWNER_EMAIL, "still wrong, sorry")
            .await
            .expect_error(401, "invalid_credentials");
    }
    let locked = app.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
    locked.expect_error(429, "too_many_attempts");
    let retry_after: u64 = locked.headers[reqwest::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, 15 * 60 - 4, "until the oldest failure is 15 minutes old");
    // Another email is not locked out.
    app.sign_in("nobody@example.com", "x")
        .await
        .expect_error(401, "invalid_credentials");
    // Once the oldest failure is 15 minutes old, the right password works, and clears them.
    clock.advance(15 * 60 * 1_000 - 4_000);
    app.session(OWNER_EMAIL, OWNER_PASSWORD).await;
    app.sign_in(OWNER_EMAIL, "wrong once more")
        .await
        .expect_error(401, "invalid_credentials");
    app.session(OWNER_EMAIL, OWNER_PASSWORD).await;
    // Malformed sign-ins are refused in the error shape, and count for nothing.
    app.call(Method::POST, "/api/v1/sessions", None, Some(&json!({"email": "x"})))
        .await
        .expect_error(422, "invalid_body");
    let raw = app
        .send(
            app.client
                .post(app.url("/api/v1/sessions"))
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    raw.expect_error(400, "malformed_json");
}

#[tokio::test]
async fn a_change_made_with_the_cookie_needs_its_csrf_token() {
    let app = spawn_app().await;
    let session = app.session(OWNER_EMAIL, OWNER_PASSWORD).await;
    let body = json!({"phone": "+584121234567", "reason": "pidió no recibir"});
    let refused = app
        .call_as(Method::POST, "/api/v1/opt-outs", &session, Some(&body), false)
        .await;
    refused.expect_error(403, "csrf");
    let forged = Session {
        csrf: "0".repeat(64),
        ..session.clone()
    };
    app.call_as(Method::POST, "/api/v1/opt-outs", &forged, Some(&body), true)
        .await
        .expect_error(403, "csrf");
    // Nothing was written by the refused requests.
    let listed = app
        .call_as(Method::GET, "/api/v1/opt-outs", &session, None, false)
        .await
        .expect(200);
    assert_eq!(listed["items"], json!([]), "reads need no token");
    app.call_as(Method::POST, "/api/v1/opt-outs", &session, Some(&body), true)
        .await
        .expect(201);
    let audit = app.get("/api/v1/audit?action=opt_out.create").await.expect(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
    assert_eq!(audit["items"][0]["actor"]["kind"], "user");
    assert_eq!(audit["items"][0]["actor"]["name"], "Owner");
}

#[tokio::test]
async fn signing_out_ends_the_session_at_once() {
    let app = spawn_app().await;
    let session = app.session(OWNER_EMAIL, OWNER_PASSWORD).await;
    let reply = app
        .call_as(Method::DELETE, "/api/v1/sessions/current", &session, None, true)
        .await;
    reply.expect(204);
    assert!(reply.headers[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    app.call_as(Method::GET, "/api/v1/me", &session, None, false)
        .await
        .expect_error(401, "unauthorized");
    // A key has no session to end.
    app.call(
        Method::DELETE,
        "/api/v1/sessions/current",
        Some(crate::helpers::KEY),
        None,
    )
    .await
    .expect_error(409, "not_a_session");
}

#[tokio::test]
async fn users_have_strong_passwords_unique_emails_known_roles_and_an_owner_kept() {
    let app = spawn_app().await;
    let user = |email: &str, role: &str, password: &str| json!({"email": email, "name": "Luis", "role": role, "password": password});
    app.post("/api/v1/users", &user("luis@example.com", "operator", "corta"))
        .await
        .expect_error(422, "invalid_field");
    app.post(
        "/api/v1/users",
        &user("luis@example.com", "superuser", "una clave muy larga"),
    )
    .await
    .expect_error(422, "invalid_field");
    app.post("/api/v1/users", &user("not-an-email", "viewer", "una clave muy larga"))
        .await
        .expect_error(422, "invalid_field");
    let luis = make_user(&app, "luis@example.com", "operator").await;
    app.post(
        "/api/v1/users",
        &user("LUIS@example.com", "viewer", "una clave muy larga"),
    )
    .await
    .expect_error(409, "conflict");
    let users = app.get("/api/v1/users").await.expect(200);
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        2,
        "the owner and Luis: {users}"
    );
    // The last owner stays.
    let owner = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "owner")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch(&format!("/api/v1/users/{owner}"), &json!({"role": "admin"}))
        .await
        .expect_error(409, "conflict");
    app.delete(&format!("/api/v1/users/{owner}"))
        .await
        .expect_error(409, "conflict");
    // Promote Luis; then the first owner may step down.
    let promoted = app
        .patch(&format!("/api/v1/users/{luis}"), &json!({"role": "owner"}))
        .await
        .expect(200);
    assert_eq!(promoted["role"], "owner");
    app.patch(&format!("/api/v1/users/{owner}"), &json!({"role": "admin"}))
        .await
        .expect(200);
    // Another tenant's user is 404, and its owner sees none of ours.
    app.call(
        Method::GET,
        &format!("/api/v1/users/{luis}"),
        Some(crate::helpers::OTHER_KEY),
        None,
    )
    .await
    .expect_error(404, "not_found");
    // Luis signs in with his password; his role limits his session too.
    let luis_session = app.session("luis@example.com", "una clave muy larga").await;
    app.call_as(Method::GET, "/api/v1/audit", &luis_session, None, false)
        .await
        .expect(200);
    let actions: Vec<String> = app.get("/api/v1/audit?action=user.update").await.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["details"].to_string())
        .collect();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(
        actions.iter().all(|d| !d.contains("una clave")),
        "no password in the audit log"
    );
}

#[tokio::test]
async fn a_viewer_reads_but_changes_nothing() {
    let app = spawn_app().await;
    make_user(&app, "vera@example.com", "viewer").await;
    let vera = app.session("vera@example.com", "una clave muy larga").await;
    app.call_as(Method::GET, "/api/v1/campaigns", &vera, None, false)
        .await
        .expect(200);
    let body = json!({"phone": "+584121234567"});
    app.call_as(Method::POST, "/api/v1/opt-outs", &vera, Some(&body), true)
        .await
        .expect_error(403, "forbidden");
    app.call_as(Method::GET, "/api/v1/users", &vera, None, false)
        .await
        .expect_error(403, "forbidden");
    assert_eq!(app.get("/api/v1/opt-outs").await.expect(200)["items"], json!([]));
    // She may change her own language.
    let me = app
        .call_as(
            Method::PATCH,
            "/api/v1/me",
            &vera,
            Some(&json!({"language": "en"})),
            true,
        )
        .await
        .expect(200);
    assert_eq!(me["language"], "en");
    app.call_as(
        Method::PATCH,
        "/api/v1/me",
        &vera,
        Some(&json!({"language": "fr"})),
        true,
    )
    .await
    .expect_error(422, "invalid_field");
}

#[tokio::test]
async fn changes_are_audited_with_who_made_them() {
    let app = spawn_app().await;
    let template = app.template().await;
    let campaign = app
        .create_campaign(json!({"name": "audited", "template_id": template,
            "contacts": [{"phone": "+584121234567", "nombre": "A", "monto": "1", "fecha": "hoy"}], "start": false}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_empty(&format!("/api/v1/campaigns/{campaign}/cancel"))
        .await
        .expect(200);
    let audit = app.get("/api/v1/audit").await.expect(200);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..3],
        &["campaign.cancel", "campaign.create", "template.create"],
        "{audit}"
    );
    let cancel = &audit["items"][0];
    assert_eq!(cancel["target"], json!({"kind": "campaign", "id": campaign}));
    assert_eq!(cancel["details"], json!({"from": "draft", "to": "cancelled"}));
    assert_eq!(cancel["actor"]["kind"], "api_key");
    // Paged, newest first, and filtered by a known action only.
    let first = app.get("/api/v1/audit?limit=1").await.expect(200);
    let next = first["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/api/v1/audit?limit=1&cursor={next}"))
        .await
        .expect(200);
    assert_eq!(second["items"][0]["action"], "campaign.create");
    app.get("/api/v1/audit?action=campaign.explode")
        .await
        .expect_error(400, "invalid_query");
    // Another tenant's log is its own.
    let theirs = app
        .call(Method::GET, "/api/v1/audit", Some(crate::helpers::OTHER_KEY), None)
        .await
        .expect(200);
    assert!(theirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["target"]["id"] != campaign.as_str()));
}

#[tokio::test]
async fn each_key_may_make_so_many_requests_a_second() {
    let app = spawn_app_with(|c| c.limits.api_rate_limit = 2).await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.get("/api/v1/campaigns").await);
    }
    let limited = statuses
        .iter()
        .find(|r| r.status.as_u16() == 429)
        .expect("a 429 after the burst");
    limited.expect_error(429, "rate_limited");
    let retry_after: u64 = limited.headers[reqwest::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert!(
        statuses[..4].iter().all(|r| r.status.is_success()),
        "a burst of twice the rate goes through"
    );
    // Another key has its own allowance; health and metrics are not limited.
    app.call(Method::GET, "/api/v1/campaigns", Some(crate::helpers::OTHER_KEY), None)
        .await
        .expect(200);
    for _ in 0..10 {
        assert_eq!(app.client.get(app.url("/health")).send().await.unwrap().status(), 200);
    }
}
