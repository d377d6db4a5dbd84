//! The API's one error type and its JSON shape:
//! `{"error": {"code": "snake_case", "message": "human sentence", "details": […]}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pregon_store::{StoreError, Unavailability};
use serde_json::{json, Value};

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Vec<Value>) -> Self {
        self.details = details;
        self
    }

    /// 400: the request could not be read.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422: well-formed, but a value is not acceptable.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 422 about one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::invalid("invalid_field", format!("{field}: {message}"))
            .with_details(vec![json!({"field": field, "reason": message})])
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn too_large(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
    }

    /// 403: the caller's role does not allow this.
    pub fn forbidden(needed: pregon_domain::Role) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this needs the {needed} role or a higher one"),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: send it as `Authorization: Bearer <key>`",
        )
    }

    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it has been logged",
        )
    }
}

/// Every store error, answered in one place. Database errors are logged and answered with
/// no more than "something went wrong": no database text reaches a client.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::Conflict { constraint } => ApiError::conflict("conflict", constraint.to_string()),
            StoreError::IllegalTransition { action, subject, from } => {
                let why = match subject {
                    "message" => ": only a message not yet attempted can be cancelled",
                    _ => "",
                };
                ApiError::conflict(
                    "illegal_transition",
                    format!("cannot {action} a {subject} that is {from}{why}"),
                )
                .with_details(vec![json!({"status": from, "action": action})])
            }
            StoreError::Unavailable(Unavailability::Full) => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_full",
                "the database's storage is full: nothing was changed; try again once it has room",
            ),
            StoreError::Unavailable(why) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                format!("the database cannot take changes now ({why}): nothing was changed; try again shortly"),
            ),
            StoreError::LeaseLost
            | StoreError::UnsupportedUrl(_)
            | StoreError::Unsupported(_)
            | StoreError::Corrupt(_)
            | StoreError::Migrate(_)
            | StoreError::Db(_) => ApiError::internal("store error", &e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message, "details": self.details}});
        (self.status, axum::Json(body)).into_response()
    }
}

/// A store result whose `NotFound` names what was not found.
pub trait NotFoundAs<T> {
    fn or_not_found(self, what: &str) -> Result<T, ApiError>;
}

impl<T> NotFoundAs<T> for Result<T, StoreError> {
    fn or_not_found(self, what: &str) -> Result<T, ApiError> {
        self.map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(what),
            other => other.into(),
        })
    }
}
