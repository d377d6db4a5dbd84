//! `Idempotency-Key` on every `POST` under `/api/v1` (api.md "Idempotent requests").
//!
//! A request with a key reserves it in the database before its handler runs
//! ([`pregon_store::IdempotencyStore`]). The handler's change commits the key in its own
//! transaction (the [`pregon_store::Change`] its role extractor gives it carries the
//! reservation), and the answer is then kept, sealed with the master key since it may hold a
//! secret shown once (a new API key). The same key with the same request gets that answer
//! again with `Idempotent-Replayed: true`; with another request, 422
//! `idempotency_key_reused`; while the first still runs, 409 `idempotency_key_in_progress`.
//! An answer of ours that changed nothing (5xx, storage unavailable) gives the key back, so a
//! retry starts afresh.
//!
//! The request is compared by a hash of its whole body. A multipart body is hashed with its
//! boundary replaced, since a client that sends the same upload again picks a new one.

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pregon_store::{KeyRequest, Reservation, Reserved};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::auth::Caller;
use super::error::ApiError;
use super::AppState;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The header of an answer given again.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a reservation holds before a retry may take the key over: longer than any
/// request takes (a 50 MB import, a provider's pre-flight).
const LOCK_MS: i64 = 10 * 60 * 1000;
/// Largest answer kept for replay.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// A key as api.md allows it: 1 to 255 visible ASCII characters.
fn parse_key(value: &HeaderValue) -> Result<String, ApiError> {
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// The multipart boundary a request declares, if any.
fn boundary(headers: &HeaderMap) -> Option<String> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    if !content_type.trim_start().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    content_type.split(';').find_map(|part| {
        let (name, value) = part.trim().split_once('=')?;
        name.eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// What a request is compared by: its body's SHA-256, a multipart body's with its boundary
/// left out.
pub fn request_hash(headers: &HeaderMap, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    match boundary(headers) {
        Some(b) => {
            let marker = format!("--{b}");
            let marker = marker.as_bytes();
            let mut rest = body;
            while let Some(at) = rest.windows(marker.len()).position(|w| w == marker) {
                hasher.update(&rest[..at]);
                hasher.update(b"--boundary");
                rest = &rest[at + marker.len()..];
            }
            hasher.update(rest);
        }
        None => hasher.update(body),
    }
    hex::encode(hasher.finalize())
}

/// A kept answer: its content type, a newline, its body; sealed.
fn seal(state: &AppState, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut plain = Vec::with_capacity(content_type.len() + 1 + body.len());
    plain.extend_from_slice(content_type.as_bytes());
    plain.push(b'\n');
    plain.extend_from_slice(body);
    state.master_key.seal(&plain)
}

fn replay(state: &AppState, status: u16, sealed: &[u8]) -> Response {
    let Ok(plain) = state.master_key.open(sealed) else {
        return ApiError::internal("opening a kept answer", &"the master key does not open it").into_response();
    };
    let (content_type, body) = match plain.iter().position(|b| *b == b'\n') {
        Some(at) => (
            String::from_utf8_lossy(&plain[..at]).into_owned(),
            plain[at + 1..].to_vec(),
        ),
        None => ("application/json".to_string(), plain),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, body).into_response();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Answers of ours after which a retry should start afresh: nothing was changed.
fn gives_key_back(status: StatusCode) -> bool {
    status.is_server_error()
}

/// The idempotency middleware (see the module's documentation). Runs after authentication,
/// which says whose keys these are.
pub async fn idempotent(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(value) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let key = match parse_key(value) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    // Signing in is not replayed: its answer holds a session a replay would have to keep.
    let Some(tenant_id) = req.extensions().get::<Caller>().map(|c| c.tenant.id.clone()) else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match to_bytes(body, state.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::too_large(
                "body_too_large",
                "the request body is larger than the configured limit (PREGON_MAX_BODY_BYTES)",
            )
            .into_response()
        }
    };
    // The whole path: this runs inside `/api/v1`, whose prefix the router strips.
    let path = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| parts.uri.path().to_string(), |u| u.path().to_string());
    let request = KeyRequest {
        tenant_id,
        key,
        method: parts.method.to_string(),
        path,
        request_hash: request_hash(&parts.headers, &bytes),
        lock_ms: LOCK_MS,
    };
    let reserved = match state
        .store
        .reserve_idempotency(&request, state.clock.now_millis())
        .await
    {
        Ok(r) => r,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match reserved {
        Reserved::Proceed(reservation) => {
            let mut req = Request::from_parts(parts, Body::from(bytes));
            req.extensions_mut().insert(reservation.clone());
            let response = next.run(req).await;
            keep(&state, &reservation, response).await
        }
        Reserved::Replay { status, response } => replay(&state, status, &response),
        Reserved::InProgress => ApiError::conflict(
            "idempotency_key_in_progress",
            "a request with this Idempotency-Key is still in progress; try again in a moment",
        )
        .into_response(),
        Reserved::Committed { resource } => ApiError::conflict(
            "idempotency_key_in_progress",
            "a request with this Idempotency-Key made its change, but its answer was not kept; read the resource instead",
        )
        .with_details(vec![json!({"resource": resource})])
        .into_response(),
        Reserved::Mismatch => ApiError::invalid(
            "idempotency_key_reused",
            "this Idempotency-Key was used for another request; use a new key for a new request",
        )
        .into_response(),
    }
}

/// Keeps a request's answer for its key (or gives the key back), and answers it.
async fn keep(state: &AppState, reservation: &Reservation, response: Response) -> Response {
    let status = response.status();
    if gives_key_back(status) {
        if let Err(e) = state.store.release_idempotency(reservation).await {
            tracing::warn!(error = %e, "giving an idempotency key back failed");
        }
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match to_bytes(body, MAX_ANSWER).await {
        Ok(b) => b,
        Err(e) => return ApiError::internal("reading an answer to keep", &e).into_response(),
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let sealed = seal(state, &content_type, &bytes);
    match state
        .store
        .save_idempotent_response(reservation, status.as_u16(), &sealed, state.clock.now_millis())
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!("an idempotency key was taken over before its answer was kept"),
        Err(e) => tracing::warn!(error = %e, "keeping an idempotent answer failed"),
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert!(parse_key(&HeaderValue::from_static("a1-B2_c3.4")).is_ok());
        assert!(parse_key(&HeaderValue::from_str(&"k".repeat(255)).unwrap()).is_ok());
        assert!(parse_key(&HeaderValue::from_str(&"k".repeat(256)).unwrap()).is_err());
        assert!(parse_key(&HeaderValue::from_static("has space")).is_err());
        assert!(parse_key(&HeaderValue::from_static("")).is_err());
    }

    #[test]
    fn a_multipart_body_hashes_the_same_whatever_its_boundary() {
        let body = |b: &str| {
            format!("--{b}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\npromo\r\n--{b}--\r\n").into_bytes()
        };
        let headers = |b: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={b}").parse().unwrap(),
            );
            h
        };
        assert_eq!(
            request_hash(&headers("AAA"), &body("AAA")),
            request_hash(&headers("XYZ123"), &body("XYZ123"))
        );
        let other = "--Q\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nother\r\n--Q--\r\n";
        assert_ne!(
            request_hash(&headers("Q"), other.as_bytes()),
            request_hash(&headers("AAA"), &body("AAA"))
        );
        let json = HeaderMap::new();
        assert_ne!(request_hash(&json, b"{\"a\":1}"), request_hash(&json, b"{\"a\":2}"));
    }
}
