//! Who is calling, and whether they may.
//!
//! Every request under `/api/v1` but signing in (`POST /api/v1/sessions`, routed outside it)
//! passes [`authenticate`] once: an API key
//! (`Authorization: Bearer …`) or a console session (the `pregon_session` cookie) becomes a
//! [`Caller`], kept in the request's extensions; anything else is a 401. A request made with
//! the cookie that changes anything must carry the session's `X-CSRF-Token` (403 `csrf`), and
//! each key or session may make at most `PREGON_API_RATE_LIMIT` requests a second (429).
//!
//! The role a route needs is declared once, by its handler's extractor: [`Viewer`],
//! [`Operator`], [`Admin`] or [`Owner`]. A caller without the role gets a 403 `forbidden`.
//! Each extractor also gives the handler the [`Change`] to pass to the store: who makes it,
//! and the `Idempotency-Key` reserved for it ([`super::idempotency`]).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use pregon_domain::{ActorKind, Role};
use pregon_store::{Actor, Change, Reservation, Tenant, UserRecord};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::keys;

/// The console session's cookie.
pub const SESSION_COOKIE: &str = "pregon_session";
/// A session ends after this long without use.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// A session ends this long after it began, whatever its use.
pub const SESSION_MAX: Duration = Duration::from_secs(7 * 24 * 3600);
/// `last_used_at` of a key and `last_seen_at` of a session are written at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// How a caller signed in.
#[derive(Debug, Clone)]
pub enum Via {
    ApiKey {
        id: String,
        name: String,
    },
    Session {
        id: String,
        user: UserRecord,
        csrf_token: String,
    },
}

/// The one making a request: its tenant, its role, and how it signed in.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: Tenant,
    pub role: Role,
    pub via: Via,
}

impl Caller {
    /// Who the audit log says made a change.
    pub fn actor(&self) -> Actor {
        match &self.via {
            Via::ApiKey { id, name } => Actor {
                kind: ActorKind::ApiKey,
                id: Some(id.clone()),
                name: name.clone(),
            },
            Via::Session { user, .. } => Actor {
                kind: ActorKind::User,
                id: Some(user.id.clone()),
                name: user.name.clone(),
            },
        }
    }

    /// The signed-in user, for a session.
    pub fn user(&self) -> Option<&UserRecord> {
        match &self.via {
            Via::Session { user, .. } => Some(user),
            Via::ApiKey { .. } => None,
        }
    }

    /// What the rate limit counts requests under.
    fn limit_key(&self) -> String {
        match &self.via {
            Via::ApiKey { id, .. } => format!("key:{id}"),
            Via::Session { id, .. } => format!("session:{id}"),
        }
    }
}

/// A caller allowed a route, and the change it makes through it.
#[derive(Debug, Clone)]
pub struct Who {
    pub caller: Caller,
    /// What to pass to every store write the route makes.
    pub change: Change,
}

impl Who {
    pub fn tenant_id(&self) -> &str {
        &self.caller.tenant.id
    }
}

fn authorize(parts: &Parts, needed: Role) -> Result<Who, ApiError> {
    let caller = parts
        .extensions
        .get::<Caller>()
        .cloned()
        .ok_or_else(ApiError::unauthorized)?;
    if !caller.role.includes(needed) {
        return Err(ApiError::forbidden(needed));
    }
    let change = Change {
        actor: caller.actor(),
        idempotency: parts.extensions.get::<Reservation>().cloned(),
    };
    Ok(Who { caller, change })
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident => $role:expr) => {
        $(#[$doc])*
        pub struct $name(pub Who);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
                authorize(parts, $role).map($name)
            }
        }
    };
}

role_extractor!(
    /// Any signed-in caller: every role includes `viewer`.
    Viewer => Role::Viewer
);
role_extractor!(
    /// Runs campaigns, single messages, opt-outs, opt-ins and template previews.
    Operator => Role::Operator
);
role_extractor!(
    /// Manages senders and their credentials, templates, pricing and the webhook secret.
    Admin => Role::Admin
);
role_extractor!(
    /// Manages users and API keys, and reads the audit log.
    Owner => Role::Owner
);

/// What authentication keeps between requests: the rate limiter and when each key and
/// session was last marked used.
pub struct AuthState {
    limiter: DefaultKeyedRateLimiter<String>,
    checks: AtomicU64,
    touched: Mutex<HashMap<String, Instant>>,
    /// Sessions are sent only over https when pregon's public URL is https.
    pub secure_cookies: bool,
}

impl AuthState {
    /// `rate` requests a second per key or session, in bursts of twice that.
    pub fn new(rate: u32, secure_cookies: bool) -> Self {
        let rate = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = rate.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        AuthState {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            checks: AtomicU64::new(0),
            touched: Mutex::new(HashMap::new()),
            secure_cookies,
        }
    }

    /// Whether `key` may make a request now; otherwise how long until it may.
    fn admit(&self, key: &str) -> Result<(), Duration> {
        // Forget callers quiet for a while now and then, so the limiter's memory stays small.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Whether `id` is due to be marked used again in the database (at most once a
    /// [`TOUCH_EVERY`] per process; the store's own condition holds it across processes).
    fn due_for_touch(&self, id: &str) -> bool {
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if touched.get(id).is_some_and(|t| now.duration_since(*t) < TOUCH_EVERY) {
            return false;
        }
        if touched.len() > 100_000 {
            touched.retain(|_, t| now.duration_since(*t) < TOUCH_EVERY);
        }
        touched.insert(id.to_string(), now);
        true
    }
}

/// The CSRF token of a session: derived from its secret token, so the server need not keep
/// it and a page can carry it; only someone holding the cookie can know it.
pub fn csrf_token(session_token: &str) -> String {
    hex::encode(Sha256::digest(format!("pregon csrf v1:{session_token}").as_bytes()))
}

/// The session token in a request's cookies.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

fn bearer(headers: &HeaderMap) -> Option<Result<&str, ApiError>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let key = value
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 256);
    Some(key.ok_or_else(ApiError::unauthorized))
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The caller of a request, if it signed in.
async fn identify(state: &AppState, parts: &Parts) -> Result<Option<Caller>, ApiError> {
    let now = state.clock.now_millis();
    if let Some(key) = bearer(&parts.headers) {
        let Some(found) = state.store.api_key_by_hash(&keys::hash(key?)).await? else {
            return Err(ApiError::unauthorized());
        };
        if state.auth.due_for_touch(&found.key.id) {
            let every = TOUCH_EVERY.as_millis() as i64;
            if let Err(e) = state.store.touch_api_key(&found.key.id, every, now).await {
                tracing::warn!(error = %e, "marking an API key used failed");
            }
        }
        return Ok(Some(Caller {
            tenant: found.tenant,
            role: found.key.role,
            via: Via::ApiKey {
                id: found.key.id,
                name: found.key.name,
            },
        }));
    }
    let Some(caller) = session_caller(state, &parts.headers).await? else {
        return Ok(None);
    };
    if let (true, Via::Session { csrf_token: csrf, .. }) = (changes_state(&parts.method), &caller.via) {
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !bool::from(sent.as_bytes().ct_eq(csrf.as_bytes())) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "a change made with the session cookie must carry its X-CSRF-Token header",
            ));
        }
    }
    Ok(Some(caller))
}

/// The caller a request's session cookie signs in, if any: no cookie is `None`, a cookie
/// whose session has ended is a 401. Marks the session used (at most once a minute).
pub async fn session_caller(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    let now = state.clock.now_millis();
    let idle = SESSION_IDLE.as_millis() as i64;
    let Some(session) = state.store.session_by_token(&keys::hash(token), idle, now).await? else {
        return Err(ApiError::unauthorized());
    };
    if state.auth.due_for_touch(&session.session_id) {
        let every = TOUCH_EVERY.as_millis() as i64;
        if let Err(e) = state.store.touch_session(&session.session_id, every, now).await {
            tracing::warn!(error = %e, "marking a session used failed");
        }
    }
    Ok(Some(Caller {
        tenant: session.tenant,
        role: session.user.role,
        via: Via::Session {
            id: session.session_id,
            user: session.user,
            csrf_token: csrf_token(token),
        },
    }))
}

/// The authentication middleware of `/api/v1` (see the module's documentation).
pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let caller = match identify(&state, &parts).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return ApiError::unauthorized().into_response(),
        Err(e) => return e.into_response(),
    };
    if let Err(wait) = state.auth.admit(&caller.limit_key()) {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests for this key or session; try again in {seconds} s"),
        )
        .into_response();
        if let Ok(value) = seconds.to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}

/// Shared by the HTTP state.
pub type SharedAuth = Arc<AuthState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; pregon_session=tok123 ; b=2".parse().unwrap());
        assert_eq!(session_token(&headers), Some("tok123"));
        let mut none = HeaderMap::new();
        none.insert(header::COOKIE, "pregon_session=; x=y".parse().unwrap());
        assert_eq!(session_token(&none), None);
    }

    #[test]
    fn csrf_tokens_follow_their_session() {
        assert_eq!(csrf_token("a"), csrf_token("a"));
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_eq!(csrf_token("a").len(), 64);
    }

    #[test]
    fn the_limiter_holds_each_caller_to_its_burst() {
        let auth = AuthState::new(2, false);
        let admitted = (0..10).filter(|_| auth.admit("key:a").is_ok()).count();
        assert_eq!(admitted, 4, "a burst of twice the rate");
        let wait = auth.admit("key:a").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(500), "{wait:?}");
        assert!(auth.admit("key:b").is_ok(), "callers are counted apart");
    }

    #[test]
    fn keys_are_touched_at_most_once_a_minute_per_process() {
        let auth = AuthState::new(50, false);
        assert!(auth.due_for_touch("k1"));
        assert!(!auth.due_for_touch("k1"));
        assert!(auth.due_for_touch("k2"));
    }
}
