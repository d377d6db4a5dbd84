//! `/api/v1/messages`: single and scheduled messages.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pregon_domain::{PhoneNumber, RetryPolicy, Template};
use pregon_store::{NewSingleMessage, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, NotFoundAs};
use super::extract::{ApiJson, Auth};
use super::templates::variables_from_json;
use super::views::MessageView;
use super::AppState;
use crate::clock::parse_rfc3339;

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendMessage {
    /// The recipient, E.164 (or digits with the country code first).
    pub to: String,
    pub template_id: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: serde_json::Map<String, serde_json::Value>,
    /// Default: the tenant's default sender.
    pub sender_id: Option<String>,
    /// Not before this time (RFC 3339).
    pub send_at: Option<String>,
    /// 1–10, higher first (default 5).
    pub priority: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub id: String,
    pub status: String,
}

fn message_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().map_err(|_| ApiError::not_found("message"))
}

#[utoipa::path(post, path = "/api/v1/messages", tag = "messages", request_body = SendMessage,
    responses((status = 202, body = Accepted), (status = 422, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn send(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiJson(body): ApiJson<SendMessage>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let now = state.clock.now_millis();
    let phone =
        PhoneNumber::parse(&body.to, None).map_err(|e| ApiError::invalid("invalid_phone", format!("to: {e}")))?;
    let template = state
        .store
        .get_template(&tenant.id, body.template_id.trim())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ApiError::invalid("unknown_template", format!("no template {:?}", body.template_id))
            }
            other => other.into(),
        })?;
    let sender = match body.sender_id.as_deref() {
        Some(id) => state.store.get_sender(&tenant.id, id).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::invalid("unknown_sender", format!("no sender {id:?}")),
            other => other.into(),
        })?,
        None => state.store.default_sender(&tenant.id).await?.ok_or_else(|| {
            ApiError::invalid(
                "no_default_sender",
                "no sender_id given and the tenant has no default sender",
            )
        })?,
    };
    let priority = body.priority.unwrap_or(5);
    if !(1..=10).contains(&priority) {
        return Err(ApiError::invalid_field("priority", "must be between 1 and 10"));
    }
    let send_at = match &body.send_at {
        None => now,
        Some(t) => parse_rfc3339(t).ok_or_else(|| ApiError::invalid_field("send_at", "must be an RFC 3339 time"))?,
    };
    if state.store.opted_out_phones(&tenant.id).await?.contains(phone.as_str()) {
        return Err(ApiError::invalid("opted_out", format!("{phone} has opted out")));
    }
    let vars = variables_from_json(&body.variables);
    let parsed = Template::parse(&template.body, template.header_image.as_deref())
        .map_err(|e| ApiError::internal("stored template does not parse", &e))?;
    if let Some(missing) = parsed.missing_variable(&vars) {
        return Err(ApiError::invalid(
            "missing_variable",
            format!("variables: {missing:?} is required by the template"),
        ));
    }
    let message = state
        .store
        .insert_single_message(NewSingleMessage {
            tenant_id: tenant.id,
            sender_id: sender.id,
            template_id: template.id,
            phone: phone.as_str().to_string(),
            variables: serde_json::to_string(&vars).unwrap_or_else(|_| "{}".into()),
            priority,
            max_attempts: RetryPolicy::default().max_attempts as i64,
            send_at,
            now,
        })
        .await?;
    state.wake.notify_waiters();
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            id: message.id.to_string(),
            status: message.status.as_str().to_string(),
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "messages",
    responses((status = 200, body = MessageView), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    Path(id): Path<String>,
) -> Result<Json<MessageView>, ApiError> {
    let m = state
        .store
        .get_message(&tenant.id, message_id(&id)?)
        .await
        .or_not_found("message")?;
    let events = state.store.message_events(m.id).await?;
    Ok(Json(MessageView::new(&m, Some(&events))))
}

/// Cancels a message not yet attempted.
#[utoipa::path(delete, path = "/api/v1/messages/{id}", tag = "messages",
    responses((status = 200, body = MessageView), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    Path(id): Path<String>,
) -> Result<Json<MessageView>, ApiError> {
    let m = state
        .store
        .cancel_message(&tenant.id, message_id(&id)?, state.clock.now_millis())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => ApiError::conflict("illegal_transition", m),
            StoreError::NotFound => ApiError::not_found("message"),
            other => other.into(),
        })?;
    Ok(Json(MessageView::new(&m, None)))
}
