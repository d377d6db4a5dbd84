//! The operator console over HTTP: signing in and out, its language, its assets, the
//! security headers and the list's event stream. What a person sees and does in a browser
//! is tested in Chromium by `console-tests/`.

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, ETAG, IF_NONE_MATCH, LOCATION, SET_COOKIE};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{contacts, phones, spawn_app, Reply, TestApp, OWNER_EMAIL, OWNER_PASSWORD};

const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

fn header(reply: &Reply, name: &str) -> String {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

async fn page(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = browser().request(Method::GET, app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request).await
}

/// Signs the owner in through the login form; returns the session cookie (`name=value`).
async fn log_in(app: &TestApp) -> String {
    let reply = app
        .send(browser().post(app.url("/login")).form(&[
            ("email", OWNER_EMAIL),
            ("password", OWNER_PASSWORD),
            ("next", "/"),
        ]))
        .await;
    assert_eq!(reply.status, 303, "{}", reply.text);
    header(&reply, SET_COOKIE.as_str())
        .split(';')
        .next()
        .expect("a cookie")
        .to_string()
}

/// The page's CSRF token, from its `<meta name="csrf-token">`.
fn csrf_of(html: &str) -> String {
    html.split(r#"name="csrf-token" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token on the page")
        .to_string()
}

#[tokio::test]
async fn pages_send_whoever_is_not_signed_in_to_the_login_and_back() {
    let app = spawn_app().await;
    let away = page(&app, "/senders?x=1", &[]).await;
    assert_eq!(away.status, 303);
    assert_eq!(header(&away, LOCATION.as_str()), "/login?next=%2Fsenders%3Fx%3D1");
    let login = page(&app, "/login?next=%2Fsenders%3Fx%3D1", &[]).await;
    assert_eq!(login.status, 200);
    assert!(
        login.text.contains("<h1 id=\"login-title\">Iniciar sesión</h1>"),
        "{}",
        login.text
    );
    assert!(
        login.text.contains(r#"name="next" value="/senders?x=1""#),
        "{}",
        login.text
    );

    let signed = app
        .send(browser().post(app.url("/login")).form(&[
            ("email", OWNER_EMAIL),
            ("password", OWNER_PASSWORD),
            ("next", "/senders?x=1"),
        ]))
        .await;
    assert_eq!(signed.status, 303);
    assert_eq!(header(&signed, LOCATION.as_str()), "/senders?x=1");
    let cookie = header(&signed, SET_COOKIE.as_str());
    assert!(cookie.starts_with("pregon_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let senders = page(&app, "/senders?x=1", &[(COOKIE.as_str(), &session)]).await;
    assert_eq!(senders.status, 200);
    assert!(senders.text.contains("<h1>Números</h1>"), "{}", senders.text);
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_and_elsewhere_is_never_a_destination() {
    let app = spawn_app().await;
    let wrong = app
        .send(browser().post(app.url("/login")).form(&[
            ("email", OWNER_EMAIL),
            ("password", "not the password at all"),
            ("next", "/"),
        ]))
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.headers.get(SET_COOKIE).is_none());
    assert!(wrong.text.contains(r#"role="alert""#), "{}", wrong.text);
    assert!(
        wrong.text.contains(&format!(r#"value="{OWNER_EMAIL}""#)),
        "the email stays filled in"
    );
    assert!(!wrong.text.contains("not the password at all"));

    let elsewhere = app
        .send(browser().post(app.url("/login")).form(&[
            ("email", OWNER_EMAIL),
            ("password", OWNER_PASSWORD),
            ("next", "https://evil.example/"),
        ]))
        .await;
    assert_eq!(elsewhere.status, 303);
    assert_eq!(header(&elsewhere, LOCATION.as_str()), "/");

    let forged = app
        .send(
            browser()
                .post(app.url("/login"))
                .header("origin", "https://evil.example")
                .form(&[("email", OWNER_EMAIL), ("password", OWNER_PASSWORD)]),
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.headers.get(SET_COOKIE).is_none());
}

#[tokio::test]
async fn signing_out_needs_the_pages_token_and_ends_the_session() {
    let app = spawn_app().await;
    let session = log_in(&app).await;
    let home = page(&app, "/", &[(COOKIE.as_str(), &session)]).await;
    assert_eq!(home.status, 200);
    let csrf = csrf_of(&home.text);

    let forged = app
        .send(
            browser()
                .post(app.url("/logout"))
                .header(COOKIE, &session)
                .form(&[("csrf_token", "0000")]),
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(
        page(&app, "/", &[(COOKIE.as_str(), &session)]).await.status,
        200,
        "still signed in"
    );

    let out = app
        .send(
            browser()
                .post(app.url("/logout"))
                .header(COOKIE, &session)
                .form(&[("csrf_token", csrf.as_str())]),
        )
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(header(&out, LOCATION.as_str()), "/login");
    assert!(header(&out, SET_COOKIE.as_str()).contains("Max-Age=0"));
    let after = page(&app, "/", &[(COOKIE.as_str(), &session)]).await;
    assert_eq!(after.status, 303, "the old cookie no longer works");
    let api = app
        .send(app.client.get(app.url("/api/v1/me")).header(COOKIE, &session))
        .await;
    api.expect_error(401, "unauthorized");
}

#[tokio::test]
async fn a_users_chosen_language_follows_them_to_a_new_browser() {
    let app = spawn_app().await;
    let session = log_in(&app).await;
    let chosen = page(
        &app,
        "/?lang=en",
        &[(COOKIE.as_str(), &session), ("accept-language", "es")],
    )
    .await;
    assert!(chosen.text.contains("<h1>Campaigns</h1>"));
    let me = app
        .send(app.client.get(app.url("/api/v1/me")).header(COOKIE, &session))
        .await
        .expect(200);
    assert_eq!(me["language"], "en", "{me}");
    // Another browser: no language cookie, a Spanish browser, the same person.
    let elsewhere = log_in(&app).await;
    let home = page(&app, "/", &[(COOKIE.as_str(), &elsewhere), ("accept-language", "es")]).await;
    assert!(home.text.contains("<h1>Campaigns</h1>"), "{}", home.text);
    // `?lang=` still wins for the one page.
    let spanish = page(&app, "/?lang=es", &[(COOKIE.as_str(), &elsewhere)]).await;
    assert!(spanish.text.contains("<h1>Campañas</h1>"));
}

/// The `href`/`src` of every asset the page links.
fn asset_urls(html: &str) -> Vec<String> {
    html.split('"')
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn spanish_by_default_english_when_asked() {
    let app = spawn_app().await;
    let session = log_in(&app).await;
    let cookie = (COOKIE.as_str(), session.as_str());
    let es = page(&app, "/", &[cookie]).await;
    assert_eq!(es.status, 200);
    assert!(es.text.contains(r#"<html lang="es">"#));
    assert_eq!(header(&es, "content-language"), "es");

    let ecuador = page(&app, "/", &[cookie, ("accept-language", "es-EC,es;q=0.9,en;q=0.5")]).await;
    assert!(ecuador.text.contains("<h1>Campañas</h1>"));

    let en = page(&app, "/", &[cookie, ("accept-language", "en-US,en;q=0.9,es;q=0.4")]).await;
    assert!(en.text.contains(r#"<html lang="en">"#));
    assert!(en.text.contains("<h1>Campaigns</h1>"));
    assert_eq!(header(&en, "content-language"), "en");
}

#[tokio::test]
async fn the_chosen_language_is_remembered_in_a_cookie() {
    let app = spawn_app().await;
    // Before signing in: the login page in the language chosen, and the choice kept.
    let chosen = page(&app, "/login?lang=en", &[("accept-language", "es")]).await;
    assert_eq!(chosen.status, 200);
    assert!(chosen.text.contains(r#"<html lang="en">"#));
    let cookie = header(&chosen, SET_COOKIE.as_str());
    assert!(cookie.starts_with("pregon_lang=en;"), "{cookie}");
    assert!(cookie.contains("Path=/") && cookie.contains("SameSite=Lax"), "{cookie}");

    let later = page(
        &app,
        "/login",
        &[("accept-language", "es"), (COOKIE.as_str(), "pregon_lang=en")],
    )
    .await;
    assert!(later.text.contains(r#"<html lang="en">"#));
    assert!(later.headers.get(SET_COOKIE).is_none(), "only ?lang= sets the cookie");
}

#[tokio::test]
async fn every_navigation_link_leads_to_a_page() {
    let app = spawn_app().await;
    let session = log_in(&app).await;
    let cookie = (COOKIE.as_str(), session.as_str());
    let home = page(&app, "/", &[cookie]).await;
    let nav = home
        .text
        .split(r#"<nav class="site-nav""#)
        .nth(1)
        .and_then(|rest| rest.split("</nav>").next())
        .expect("the navigation");
    let links: Vec<&str> = nav
        .split(r#"href=""#)
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(links.len(), 8, "{nav}");
    for link in links {
        let reply = page(&app, link, &[cookie]).await;
        assert_eq!(reply.status, 200, "{link}");
        assert!(reply.content_type().starts_with("text/html"), "{link}");
        assert!(!reply.text.contains('⟦'), "{link}: a message is missing");
    }
}

#[tokio::test]
async fn assets_are_immutable_and_revalidate() {
    let app = spawn_app().await;
    let home = page(&app, "/login", &[]).await;
    let urls = asset_urls(&home.text);
    assert!(urls.iter().any(|u| u.ends_with(".css")), "{urls:?}");
    assert!(urls.iter().any(|u| u.ends_with(".js")), "{urls:?}");
    for url in &urls {
        let reply = page(&app, url, &[]).await;
        assert_eq!(reply.status, 200, "{url}");
        assert_eq!(
            header(&reply, CACHE_CONTROL.as_str()),
            "public, max-age=31536000, immutable"
        );
        let expected = match url.rsplit('.').next() {
            Some("css") => "text/css; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("an asset of an unexpected kind: {other:?}"),
        };
        assert_eq!(header(&reply, CONTENT_TYPE.as_str()), expected, "{url}");
        let etag = header(&reply, ETAG.as_str());
        assert!(etag.starts_with('"') && etag.len() > 2, "{url}: {etag}");
        let again = page(&app, url, &[(IF_NONE_MATCH.as_str(), &etag)]).await;
        assert_eq!(again.status, 304, "{url}");
        assert!(again.text.is_empty());
    }
    // The modules import each other by their hashed names too.
    let app_js = urls
        .iter()
        .find(|u| u.contains("/app.") && u.ends_with(".js"))
        .expect("app.js");
    let body = page(&app, app_js, &[]).await.text;
    for import in body.lines().filter(|l| l.starts_with("import ")) {
        let target = import.split('"').nth(1).expect("a quoted import");
        let reply = page(&app, &format!("/assets/{}", target.trim_start_matches("./")), &[]).await;
        assert_eq!(reply.status, 200, "{import}");
    }
}

#[tokio::test]
async fn an_unknown_asset_or_an_old_hash_is_not_found() {
    let app = spawn_app().await;
    for path in ["/assets/app.0000000000.js", "/assets/app.js", "/assets/nothing.css"] {
        let reply = page(&app, path, &[]).await;
        assert_eq!(reply.status, 404, "{path}");
        reply.expect_error(404, "not_found");
    }
}

#[tokio::test]
async fn security_headers_on_pages_and_api_but_no_policy_on_docs() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/login",
        "/senders",
        "/health",
        "/api/v1/campaigns",
        "/no-such-page",
    ] {
        let reply = page(&app, path, &[]).await;
        assert_eq!(header(&reply, "content-security-policy"), POLICY, "{path}");
        assert_eq!(header(&reply, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&reply, "referrer-policy"), "same-origin", "{path}");
        assert_eq!(header(&reply, "x-content-type-options"), "nosniff", "{path}");
    }
    let home = page(&app, "/login", &[]).await;
    assert_eq!(header(&home, CACHE_CONTROL.as_str()), "no-store");
    // The API reference page loads its script from a CDN: no policy, the rest stays.
    let docs = page(&app, "/docs", &[]).await;
    assert_eq!(docs.status, 200);
    assert!(docs.headers.get("content-security-policy").is_none());
    assert_eq!(header(&docs, "x-frame-options"), "DENY");
}

/// Reads a server-sent event stream to its end: each event's name and JSON data.
async fn read_events(app: &TestApp, path: &str) -> Vec<(String, Value)> {
    let reply = app.get(path).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.content_type().starts_with("text/event-stream"));
    let mut events = Vec::new();
    for block in reply.text.split("\n\n") {
        let name = block
            .lines()
            .find_map(|l| l.strip_prefix("event: "))
            .map(str::to_string);
        let data = block.lines().find_map(|l| l.strip_prefix("data: "));
        if let (Some(name), Some(data)) = (name, data) {
            events.push((name, serde_json::from_str(data).expect("JSON data")));
        }
    }
    events
}

#[tokio::test]
async fn one_stream_follows_several_campaigns_and_says_when_all_are_done() {
    let app = spawn_app().await;
    let template = app.template().await;
    let mut ids = Vec::new();
    for name in ["first", "second"] {
        let created = app
            .create_campaign(json!({"name": name, "template_id": template, "contacts": contacts(&phones(3))}))
            .await;
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    // Another tenant's campaign, by its id: not this tenant's to follow.
    let key = Some(crate::helpers::OTHER_KEY);
    let theirs = app
        .call(
            Method::POST,
            "/api/v1/templates",
            key,
            Some(&json!({"name": "t", "language": "es", "body": "Hola"})),
        )
        .await
        .expect(201);
    let theirs = app
        .call(
            Method::POST,
            "/api/v1/campaigns",
            key,
            Some(&json!({"name": "theirs", "template_id": theirs["id"], "contacts": contacts(&phones(1))})),
        )
        .await
        .expect(201);
    for id in &ids {
        app.wait_status(id, "completed").await;
    }
    // Both are completed now: the stream says so once each, then `end`; an id of nobody's
    // (or another tenant's) is left out.
    let path = format!(
        "/api/v1/events?campaigns={},{},cmp_nobody,{}",
        ids[0],
        ids[1],
        theirs["id"].as_str().unwrap()
    );
    let events = read_events(&app, &path).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["progress", "progress", "end"], "{events:?}");
    let mut followed: Vec<String> = events[..2]
        .iter()
        .map(|(_, d)| d["id"].as_str().unwrap().to_string())
        .collect();
    followed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(followed, expected);
    for (_, campaign) in &events[..2] {
        assert_eq!(campaign["status"], "completed");
        assert_eq!(campaign["total"], 3);
    }

    let too_many: Vec<String> = (0..101).map(|i| format!("cmp_{i}")).collect();
    for bad in ["", ",,", &too_many.join(","), &"x".repeat(65)] {
        app.get(&format!("/api/v1/events?campaigns={bad}"))
            .await
            .expect_error(400, "invalid_query");
    }
    app.get("/api/v1/events").await.expect_error(400, "invalid_query");
}
