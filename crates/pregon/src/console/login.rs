//! Signing in and out of the console, with plain forms: `GET /login` shows the form,
//! `POST /login` signs in exactly as `POST /api/v1/sessions` does
//! ([`crate::http::sessions::sign_in`]) and goes back where the person was headed, and
//! `POST /logout` (with the page's CSRF token) ends the session.
//!
//! The forms work without script. A form posted from another site is refused: the browser
//! says where it came from (`Origin`), and only this site's own pages may sign in or out.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::access::{safe_next, SignedIn};
use super::layout::Layout;
use super::render;
use crate::http::auth::Via;
use crate::http::sessions::{ended_cookie, sign_in};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    email: String,
    /// Why the last try failed, in the page's language.
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// `GET /login`.
pub async fn page(layout: Layout, Query(q): Query<NextParam>) -> Response {
    let page = LoginPage {
        next: safe_next(q.next.as_deref()),
        email: String::new(),
        error: None,
        layout,
    };
    render(page.layout.lang, &page)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// Whether a form was posted by a page of this site: its `Origin` (or, without one, its
/// `Referer`) names the host the request was sent to. Browsers send `Origin` with every
/// cross-site form.
fn same_site(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok());
    match from {
        None => true,
        Some("null") => false,
        Some(url) => url
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
            .is_some_and(|authority| !host.is_empty() && authority.eq_ignore_ascii_case(host)),
    }
}

fn refused_from_elsewhere() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this form may be sent only from pregon's own pages",
    )
        .into_response()
}

/// `POST /login`.
pub async fn submit(
    State(state): State<AppState>,
    layout: Layout,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_site(&headers) {
        return refused_from_elsewhere();
    }
    let next = safe_next(form.next.as_deref());
    match sign_in(&state, &form.email, form.password).await {
        Ok(signed) => {
            let mut response = Redirect::to(&next).into_response();
            if let Ok(v) = HeaderValue::from_str(&signed.cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        Err(refusal) => {
            let status = refusal.error.status;
            let lang = layout.lang;
            let error = match refusal.error.code {
                "too_many_attempts" => {
                    let minutes = refusal.retry_after.unwrap_or(60).div_ceil(60);
                    lang.t_count("login-error-locked", i64::try_from(minutes).unwrap_or(i64::MAX))
                }
                "invalid_credentials" => lang.t("login-error-credentials"),
                _ => lang.t("login-error-other"),
            };
            let page = LoginPage {
                email: form.email.chars().take(254).collect(),
                next,
                error: Some(error),
                layout,
            };
            let mut response = render(page.layout.lang, &page);
            *response.status_mut() = status;
            response
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    csrf_token: String,
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    SignedIn(caller): SignedIn,
    Form(form): Form<LogoutForm>,
) -> Response {
    let Via::Session { id, csrf_token, .. } = &caller.via else {
        return Redirect::to("/login").into_response();
    };
    if !same_site(&headers) || !bool::from(form.csrf_token.as_bytes().ct_eq(csrf_token.as_bytes())) {
        return refused_from_elsewhere();
    }
    let change = pregon_store::Change::by(caller.actor());
    if let Err(e) = state
        .store
        .delete_session(&caller.tenant.id, id, state.clock.now_millis(), &change)
        .await
    {
        tracing::warn!(error = %e, "ending a session failed");
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&ended_cookie(&state)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(name.clone(), value.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_this_sites_pages_may_post_the_forms() {
        let host = (header::HOST, "127.0.0.1:8080");
        assert!(same_site(&headers(&[
            host.clone(),
            (header::ORIGIN, "http://127.0.0.1:8080")
        ])));
        assert!(!same_site(&headers(&[
            host.clone(),
            (header::ORIGIN, "https://evil.example")
        ])));
        assert!(!same_site(&headers(&[host.clone(), (header::ORIGIN, "null")])));
        assert!(same_site(&headers(&[
            host.clone(),
            (header::REFERER, "http://127.0.0.1:8080/login?next=%2F")
        ])));
        assert!(!same_site(&headers(&[
            host.clone(),
            (header::REFERER, "http://127.0.0.1:8080.evil.example/")
        ])));
        assert!(
            same_site(&headers(&[host])),
            "no Origin at all: not a browser's cross-site form"
        );
    }
}
