//! Signing in and out of the console, and "who am I".
//!
//! `POST /api/v1/sessions` checks an email and password and opens a session: a random token
//! in the `pregon_session` cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind https), of
//! which only a hash is kept. A wrong email and a wrong password get the same 401 after the
//! same work; after 5 failures for one email in 15 minutes, a 429 with `Retry-After` until
//! the oldest of them is 15 minutes old.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pregon_store::{Actor, Change, NewSession, UserPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{csrf_token, Via, Viewer, SESSION_COOKIE, SESSION_IDLE, SESSION_MAX};
use super::error::ApiError;
use super::extract::ApiJson;
use super::users::{check_language, UserView};
use super::AppState;
use crate::clock::rfc3339;
use crate::{keys, passwords};

/// Failed sign-ins for one email after which it is locked out…
const LOCKOUT_FAILURES: usize = 5;
/// …for this long after the oldest of them.
const LOCKOUT_WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub user: UserView,
    /// Send it as `X-CSRF-Token` with every request that changes something.
    pub csrf_token: String,
    pub expires_at: String,
}

/// An email as stored: trimmed and lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "wrong email or password",
    )
}

/// The `Set-Cookie` of a session (or of its end, with an empty token and `Max-Age=0`).
fn session_cookie(token: &str, max_age: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        max_age.as_secs()
    )
}

/// A sign-in that worked: the session's cookie, and what to answer.
pub struct SignedIn {
    /// The `Set-Cookie` value.
    pub cookie: String,
    pub view: SessionView,
    /// The user's chosen console language.
    pub language: Option<String>,
}

/// A sign-in refused: the error, and for a lockout the seconds until the next try.
pub struct Refusal {
    pub error: ApiError,
    pub retry_after: Option<u64>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal {
            error,
            retry_after: None,
        }
    }
}

impl From<pregon_store::StoreError> for Refusal {
    fn from(error: pregon_store::StoreError) -> Self {
        Refusal::from(ApiError::from(error))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        if let Some(v) = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// Checks an email and password and opens a session: the one way to sign in, for the API
/// and the console's form alike.
pub async fn sign_in(state: &AppState, email: &str, password: String) -> Result<SignedIn, Refusal> {
    let email = normalize_email(email);
    if email.is_empty() || email.len() > 254 || password.chars().count() > passwords::MAX_CHARS {
        return Err(invalid_credentials().into());
    }
    let now = state.clock.now_millis();
    let window = LOCKOUT_WINDOW.as_millis() as i64;
    let failures = state.store.login_failures(&email, now - window).await?;
    if failures.len() >= LOCKOUT_FAILURES {
        let oldest = failures[failures.len() - LOCKOUT_FAILURES];
        let seconds = ((oldest + window - now).max(1_000) as f64 / 1000.0).ceil() as u64;
        return Err(Refusal {
            error: ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("too many failed sign-ins for this email; try again in {seconds} s"),
            ),
            retry_after: Some(seconds),
        });
    }
    let login = state.store.user_for_login(&email).await?;
    let stored = login.as_ref().map(|l| l.password_hash.clone());
    let matches = tokio::task::spawn_blocking(move || match stored {
        Some(hash) => passwords::verify(&password, &hash),
        None => passwords::verify_nobody(&password),
    })
    .await
    .map_err(|e| ApiError::internal("checking a password", &e))?;
    let Some(login) = login.filter(|_| matches) else {
        state.store.record_login_failure(&email, now).await?;
        return Err(invalid_credentials().into());
    };
    let token = hex::encode(rand::random::<[u8; 32]>());
    let expires_at = now + SESSION_MAX.as_millis() as i64;
    let session = NewSession {
        id: pregon_domain::id::new_id("ses"),
        user: login.user.clone(),
        token_hash: keys::hash(&token),
        now,
        expires_at,
    };
    let actor = Actor {
        kind: pregon_domain::ActorKind::User,
        id: Some(login.user.id.clone()),
        name: login.user.name.clone(),
    };
    state.store.create_session(&session, &Change::by(actor)).await?;
    Ok(SignedIn {
        cookie: session_cookie(&token, SESSION_MAX, state.auth.secure_cookies),
        view: SessionView {
            user: UserView::from(&login.user),
            csrf_token: csrf_token(&token),
            expires_at: rfc3339(expires_at),
        },
        language: login.user.language,
    })
}

/// The `Set-Cookie` that ends a session in the browser.
pub fn ended_cookie(state: &AppState) -> String {
    session_cookie("", Duration::ZERO, state.auth.secure_cookies)
}

/// Signs in.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", request_body = SignIn,
    responses((status = 201, body = SessionView), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 415, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody), (status = 429, body = super::ErrorBody)))]
pub async fn create(State(state): State<AppState>, ApiJson(body): ApiJson<SignIn>) -> Result<Response, Refusal> {
    let signed = sign_in(&state, &body.email, body.password).await?;
    let mut response = (StatusCode::CREATED, Json(signed.view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&signed.cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// Signs out: the session ends and its cookie stops working.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "sessions",
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)),
    security(("session" = [])))]
pub async fn delete(State(state): State<AppState>, Viewer(who): Viewer) -> Result<Response, ApiError> {
    let Via::Session { id, .. } = &who.caller.via else {
        return Err(ApiError::conflict(
            "not_a_session",
            "this request is made with an API key, not a session; revoke the key instead",
        ));
    };
    state
        .store
        .delete_session(who.tenant_id(), id, state.clock.now_millis(), &who.change)
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&ended_cookie(&state)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantRef {
    pub id: String,
    pub name: String,
}

/// `GET /api/v1/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    /// `user` or `api_key`.
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub role: String,
    pub tenant: TenantRef,
    /// A user's email.
    pub email: Option<String>,
    /// A user's console language, when chosen.
    pub language: Option<String>,
    /// For a session: the token to send as `X-CSRF-Token`.
    pub csrf_token: Option<String>,
    /// For a session: when it ends, whatever its use.
    pub session_idle_seconds: Option<u64>,
}

fn me_view(who: &super::auth::Who) -> MeView {
    let tenant = TenantRef {
        id: who.caller.tenant.id.clone(),
        name: who.caller.tenant.name.clone(),
    };
    match &who.caller.via {
        Via::ApiKey { id, name } => MeView {
            kind: "api_key",
            id: id.clone(),
            name: name.clone(),
            role: who.caller.role.as_str().into(),
            tenant,
            email: None,
            language: None,
            csrf_token: None,
            session_idle_seconds: None,
        },
        Via::Session { user, csrf_token, .. } => MeView {
            kind: "user",
            id: user.id.clone(),
            name: user.name.clone(),
            role: user.role.as_str().into(),
            tenant,
            email: Some(user.email.clone()),
            language: user.language.clone(),
            csrf_token: Some(csrf_token.clone()),
            session_idle_seconds: Some(SESSION_IDLE.as_secs()),
        },
    }
}

/// Who is calling.
#[utoipa::path(get, path = "/api/v1/me", tag = "sessions",
    responses((status = 200, body = MeView), (status = 401, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn me(Viewer(who): Viewer) -> Json<MeView> {
    Json(me_view(&who))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    pub name: Option<String>,
    /// `es` or `en`; null for the browser's.
    #[serde(default, deserialize_with = "super::users::double_option")]
    #[schema(value_type = Option<String>)]
    pub language: Option<Option<String>>,
    /// A new password, with the current one.
    pub password: Option<String>,
    pub current_password: Option<String>,
}

/// A signed-in user changes their own name, language or password.
#[utoipa::path(patch, path = "/api/v1/me", tag = "sessions", request_body = UpdateMe,
    responses((status = 200, body = MeView), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody), (status = 415, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)),
    security(("session" = [])))]
pub async fn update_me(
    State(state): State<AppState>,
    Viewer(who): Viewer,
    ApiJson(body): ApiJson<UpdateMe>,
) -> Result<Json<MeView>, ApiError> {
    let Some(user) = who.caller.user().cloned() else {
        return Err(ApiError::conflict(
            "not_a_user",
            "an API key has no profile to change; sign in as a user",
        ));
    };
    let password_hash = match body.password {
        None => None,
        Some(new) => {
            passwords::validate(&new).map_err(|e| ApiError::invalid_field("password", e.to_string()))?;
            let current = body.current_password.unwrap_or_default();
            let login = state.store.user_for_login(&user.email).await?;
            let stored = login.map(|l| l.password_hash).unwrap_or_default();
            let hashed = tokio::task::spawn_blocking(move || {
                passwords::verify(&current, &stored).then(|| passwords::hash(&new))
            })
            .await
            .map_err(|e| ApiError::internal("hashing a password", &e))?;
            Some(hashed.ok_or_else(|| ApiError::invalid_field("current_password", "is not this user's password"))?)
        }
    };
    let patch = UserPatch {
        name: body.name.as_deref().map(super::users::check_name).transpose()?,
        role: None,
        password_hash,
        language: body
            .language
            .map(|l| l.as_deref().map(check_language).transpose())
            .transpose()?,
    };
    let updated = state
        .store
        .update_user(who.tenant_id(), &user.id, &patch, state.clock.now_millis(), &who.change)
        .await?;
    let mut view = me_view(&who);
    view.name = updated.name;
    view.language = updated.language;
    Ok(Json(view))
}
