//! The operator console over HTTP: its language, its assets and the security headers.
//! What a person sees and does in a browser is tested in Chromium by `console-tests/`.

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, ETAG, IF_NONE_MATCH, SET_COOKIE};
use reqwest::Method;

use crate::helpers::{spawn_app, Reply, TestApp};

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

async fn page(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = app.client.request(Method::GET, app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request).await
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
    let es = page(&app, "/", &[]).await;
    assert_eq!(es.status, 200);
    assert!(es.text.contains(r#"<html lang="es">"#));
    assert_eq!(header(&es, "content-language"), "es");

    let ecuador = page(&app, "/", &[("accept-language", "es-EC,es;q=0.9,en;q=0.5")]).await;
    assert!(ecuador.text.contains("<h1>Campañas</h1>"));

    let en = page(&app, "/", &[("accept-language", "en-US,en;q=0.9,es;q=0.4")]).await;
    assert!(en.text.contains(r#"<html lang="en">"#));
    assert!(en.text.contains("<h1>Campaigns</h1>"));
    assert_eq!(header(&en, "content-language"), "en");
}

#[tokio::test]
async fn the_chosen_language_is_remembered_in_a_cookie() {
    let app = spawn_app().await;
    let chosen = page(&app, "/templates?lang=en", &[("accept-language", "es")]).await;
    assert_eq!(chosen.status, 200);
    assert!(chosen.text.contains("<h1>Templates</h1>"));
    let cookie = header(&chosen, SET_COOKIE.as_str());
    assert!(cookie.starts_with("pregon_lang=en;"), "{cookie}");
    assert!(cookie.contains("Path=/") && cookie.contains("SameSite=Lax"), "{cookie}");

    let later = page(
        &app,
        "/",
        &[("accept-language", "es"), (COOKIE.as_str(), "pregon_lang=en")],
    )
    .await;
    assert!(later.text.contains("<h1>Campaigns</h1>"));
    assert!(later.headers.get(SET_COOKIE).is_none(), "only ?lang= sets the cookie");
}

#[tokio::test]
async fn every_navigation_link_leads_to_a_page() {
    let app = spawn_app().await;
    let home = page(&app, "/", &[]).await;
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
        let reply = page(&app, link, &[]).await;
        assert_eq!(reply.status, 200, "{link}");
        assert!(reply.content_type().starts_with("text/html"), "{link}");
        assert!(!reply.text.contains('⟦'), "{link}: a message is missing");
    }
}

#[tokio::test]
async fn assets_are_immutable_and_revalidate() {
    let app = spawn_app().await;
    let home = page(&app, "/", &[]).await;
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
    for path in ["/", "/senders", "/health", "/api/v1/campaigns", "/no-such-page"] {
        let reply = page(&app, path, &[]).await;
        assert_eq!(header(&reply, "content-security-policy"), POLICY, "{path}");
        assert_eq!(header(&reply, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&reply, "referrer-policy"), "same-origin", "{path}");
        assert_eq!(header(&reply, "x-content-type-options"), "nosniff", "{path}");
    }
    let home = page(&app, "/", &[]).await;
    assert_eq!(header(&home, CACHE_CONTROL.as_str()), "no-store");
    // The API reference page loads its script from a CDN: no policy, the rest stays.
    let docs = page(&app, "/docs", &[]).await;
    assert_eq!(docs.status, 200);
    assert!(docs.headers.get("content-security-policy").is_none());
    assert_eq!(header(&docs, "x-frame-options"), "DENY");
}
