//! Extractors that answer bad input in the API's error shape: authentication, JSON bodies,
//! query strings and paging.

use axum::extract::rejection::{JsonRejection, QueryRejection};
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

/// A JSON body whose problems answer 400, 413, 415 or 422.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::invalid("invalid_body", e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request("malformed_json", e.body_text()),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(
            "body_too_large",
            "the request body is larger than the configured limit (PREGON_MAX_BODY_BYTES)",
        ),
        other => ApiError::bad_request("bad_request", other.body_text()),
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

/// `?limit=` (1–200, default 50) and `?cursor=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageParams {
    /// How many items, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn request(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::invalid_field("limit", "must be between 1 and 200"));
        }
        if self.cursor.as_ref().is_some_and(|c| c.len() > 200) {
            return Err(ApiError::invalid_field("cursor", "is not a cursor this API gave out"));
        }
        Ok(PageRequest {
            limit,
            cursor: self.cursor.clone(),
        })
    }
}
