//! Extractors that answer bad input in the API's error shape: authentication, JSON bodies,
//! query strings and paging.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use pregon_store::{PageRequest, Tenant};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::ApiError;
use super::AppState;
use crate::keys;

/// The tenant behind the request's API key.
pub struct Auth(pub Tenant);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let key = header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or_else(ApiError::unauthorized)?;
        match state.store.tenant_by_api_key(&keys::hash(key)).await? {
            Some(tenant) => Ok(Auth(tenant)),
            None => Err(ApiError::unauthorized()),
        }
    }
}

/// A JSON body whose problems answer 400 (not JSON at all, anywhere in the body), 413 (too
/// large), 415 (not declared as JSON) or 422 (well-formed JSON with wrong or missing values).
pub struct ApiJson<T>(pub T);

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !is_json(&req) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(
                    "body_too_large",
                    "the request body is larger than the configured limit (PREGON_MAX_BODY_BYTES)",
                )
            } else {
                ApiError::bad_request("bad_request", e.body_text())
            }
        })?;
        // Every body of this API is an object; serde would also read a struct from an array
        // (`[]` as a struct of optional fields).
        let object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        match serde_json::from_slice::<T>(&bytes) {
            Ok(value) if object => Ok(ApiJson(value)),
            Ok(_) => Err(ApiError::invalid(
                "invalid_body",
                "the JSON does not fit this request: the body must be a JSON object",
            )),
            Err(e) => {
                // serde stops at the first problem; a type mistake early in a body that is
                // broken later must still be reported as broken JSON.
                let well_formed = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok();
                if e.is_syntax() || e.is_eof() || !well_formed {
                    Err(ApiError::bad_request(
                        "malformed_json",
                        format!("the body is not valid JSON: {e}"),
                    ))
                } else {
                    Err(ApiError::invalid(
                        "invalid_body",
                        format!("the JSON does not fit this request: {e}"),
                    ))
                }
            }
        }
    }
}

/// A query string whose problems answer 400.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request("invalid_query", e.body_text()))
            }
            Err(e) => Err(ApiError::bad_request("invalid_query", e.body_text())),
        }
    }
}

/// `?limit=` (1–200, default 50) and `?cursor=`. Their bounds are in the OpenAPI document
/// ([`super::contract`]); a value outside them is a 400 like any unreadable query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageParams {
    /// How many items, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// 400 about one query parameter, naming it in `details` as a body field's 422 does.
pub fn invalid_param(param: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::bad_request("invalid_query", format!("{param}: {message}"))
        .with_details(vec![serde_json::json!({"field": param, "reason": message})])
}

impl PageParams {
    pub fn request(&self) -> Result<PageRequest, ApiError> {
        use super::contract::{DEFAULT_LIMIT, MAX_CURSOR_LEN, MAX_LIMIT};
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid_param("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        if self.cursor.as_ref().is_some_and(|c| c.len() > MAX_CURSOR_LEN) {
            return Err(invalid_param("cursor", "is not a cursor this API gave out"));
        }
        Ok(PageRequest {
            limit,
            cursor: self.cursor.clone(),
        })
    }
}

/// `?phone=`: only the phones starting with it (`+58412`, or digits alone, read as
/// international), for the opt-out and opt-in registers.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PhoneSearch {
    /// The start of a phone number in E.164 (`+58412…`); up to 20 characters of `+` and digits.
    pub phone: Option<String>,
}

impl PhoneSearch {
    /// The prefix as stored (E.164, `+` first), or `None` for every phone.
    pub fn phone(&self) -> Result<Option<String>, ApiError> {
        let Some(text) = self.phone.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let digits: String = text
            .trim_start_matches('+')
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        if digits.len() > 20 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid_param(
                "phone",
                "must be the start of a phone number: + and digits",
            ));
        }
        Ok(Some(format!("+{digits}")))
    }
}
