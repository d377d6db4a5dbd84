//! `/api/v1/messages`: single and scheduled messages.
//!
//! `GET /api/v1/messages` lists the tenant's single messages (those of no campaign) newest
//! first; `?scheduled=true` lists only those waiting for their `send_at` (queued, never
//! attempted, due later than now), soonest first, so a scheduled message leaves that list
//! when it is cancelled (`DELETE`) or its time comes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pregon_domain::{identity_key, BusinessUserId, MessageStatus, PhoneNumber, RetryPolicy, Template};
use pregon_store::{NewSingleMessage, PageRequest, SingleMessageFilter, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Caller, Operator, Viewer, Who};
use super::error::{ApiError, NotFoundAs};
use super::extract::{ApiJson, ApiQuery};
use super::templates::variables_from_json;
use super::views::{ListView, MessageView};
use super::AppState;
use crate::clock::parse_rfc3339;

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendMessage {
    /// The recipient, E.164 (or digits with the country code first). Either `to` or
    /// `user_id` (or both) is required.
    #[serde(default)]
    pub to: Option<String>,
    /// The recipient's business-scoped user ID (`US.1349…`): Meta sends to it when there
    /// is no phone; with both, to the phone (and the two are linked).
    #[serde(default)]
    pub user_id: Option<String>,
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
    /// Not sent by then, never: it becomes `expired` (RFC 3339, after `send_at`).
    pub expires_at: Option<String>,
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
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    ApiJson(body): ApiJson<SendMessage>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let now = state.clock.now_millis();
    let phone = match body.to.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(to) => {
            Some(PhoneNumber::parse(to, None).map_err(|e| ApiError::invalid("invalid_phone", format!("to: {e}")))?)
        }
        None => None,
    };
    let user_id = match body.user_id.as_deref() {
        Some(u) => {
            Some(BusinessUserId::parse(u).map_err(|e| ApiError::invalid("invalid_user_id", format!("user_id: {e}")))?)
        }
        None => None,
    };
    let Some(key) = identity_key(phone.as_ref().map(PhoneNumber::as_str), user_id.as_ref()) else {
        return Err(ApiError::invalid(
            "invalid_body",
            "the JSON does not fit this request: missing field `to` (or `user_id`)",
        ));
    };
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
    let expires_at = super::campaigns::expiry(body.expires_at.as_deref(), send_at.max(now))?;
    let opted_out = state
        .store
        .opted_out_phones(&tenant.id, Some(template.category))
        .await?;
    if opted_out.contains(&key) || user_id.as_ref().is_some_and(|u| opted_out.contains(u.as_str())) {
        return Err(ApiError::invalid("opted_out", format!("{key} has opted out")));
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
        .insert_single_message(
            NewSingleMessage {
                tenant_id: tenant.id,
                sender_id: sender.id,
                template_id: template.id,
                phone: key,
                user_id: user_id.map(String::from),
                variables: serde_json::to_string(&vars).unwrap_or_else(|_| "{}".into()),
                priority,
                max_attempts: RetryPolicy::default().max_attempts as i64,
                send_at,
                expires_at,
                now,
            },
            &change,
        )
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
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
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
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    Path(id): Path<String>,
) -> Result<Json<MessageView>, ApiError> {
    let m = state
        .store
        .cancel_message(&tenant.id, message_id(&id)?, state.clock.now_millis(), &change)
        .await
        .or_not_found("message")?;
    Ok(Json(MessageView::new(&m, None)))
}

/// `GET /api/v1/messages` query. Every value is read as text and checked here, so that a
/// bad one answers 400 naming the parameter.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SingleMessageQuery {
    /// Only messages in this state; with `scheduled=true`, only `queued`.
    #[param(schema_with = super::contract::message_status)]
    pub status: Option<String>,
    /// `true`: only messages waiting for their `send_at` (queued, not yet attempted, due
    /// later than now), soonest first. `false` or absent: every single message, newest first.
    #[param(value_type = Option<bool>)]
    pub scheduled: Option<String>,
    /// How many items, 1 to 200 (default 50).
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl SingleMessageQuery {
    /// The store's filter and page, or a 400 naming the bad parameter.
    fn parse(&self, now: i64) -> Result<(SingleMessageFilter, PageRequest), ApiError> {
        let status = self
            .status
            .as_deref()
            .map(str::parse::<MessageStatus>)
            .transpose()
            .map_err(|_| {
                super::extract::invalid_param(
                    "status",
                    "must be a message state: queued, claimed, sending, sent, delivered, read, failed, unknown, \
                     skipped, cancelled",
                )
            })?;
        let scheduled = match self.scheduled.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(super::extract::invalid_param("scheduled", "must be true or false")),
        };
        if scheduled && status.is_some_and(|s| s != MessageStatus::Queued) {
            return Err(super::extract::invalid_param(
                "status",
                "with scheduled=true, only queued (a scheduled message is queued until its time)",
            ));
        }
        let limit = match self.limit.as_deref() {
            None => 50,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=200).contains(n))
                .ok_or_else(|| super::extract::invalid_param("limit", "must be a whole number between 1 and 200"))?,
        };
        let filter = SingleMessageFilter {
            status,
            scheduled_after: scheduled.then_some(now),
        };
        if let Some(cursor) = &self.cursor {
            if cursor.len() > 200 || filter.parse_cursor(cursor).is_none() {
                return Err(super::extract::invalid_param(
                    "cursor",
                    "is not a cursor this list gave out",
                ));
            }
        }
        let page = PageRequest {
            limit,
            cursor: self.cursor.clone(),
        };
        Ok((filter, page))
    }
}

/// The tenant's single messages: newest first, or (`scheduled=true`) those waiting for
/// their `send_at`, soonest first.
#[utoipa::path(get, path = "/api/v1/messages", tag = "messages", params(SingleMessageQuery),
    responses((status = 200, body = ListView<MessageView>), (status = 422, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    ApiQuery(query): ApiQuery<SingleMessageQuery>,
) -> Result<Json<ListView<MessageView>>, ApiError> {
    let (filter, page) = query.parse(state.clock.now_millis())?;
    let page = state.store.list_single_messages(&tenant.id, &filter, &page).await?;
    Ok(Json(ListView {
        items: page.items.iter().map(|m| MessageView::new(m, None)).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query as axum reads it from a URI.
    fn query(pairs: &[(&str, &str)]) -> SingleMessageQuery {
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let uri: axum::http::Uri = format!("/?{}", text.join("&")).parse().unwrap();
        axum::extract::Query::<SingleMessageQuery>::try_from_uri(&uri)
            .unwrap()
            .0
    }

    #[test]
    fn the_list_query_is_checked_parameter_by_parameter() {
        let (filter, page) = query(&[]).parse(5).unwrap();
        assert_eq!((filter.status, filter.scheduled_after, page.limit), (None, None, 50));
        let (filter, page) = query(&[("scheduled", "true"), ("status", "queued"), ("limit", "2")])
            .parse(5)
            .unwrap();
        assert_eq!(
            (filter.status, filter.scheduled_after, page.limit),
            (Some(MessageStatus::Queued), Some(5), 2)
        );
        assert!(query(&[("scheduled", "true"), ("cursor", "10:3")]).parse(5).is_ok());
        for (bad, field) in [
            (vec![("status", "nope")], "status"),
            (vec![("scheduled", "yes")], "scheduled"),
            (vec![("scheduled", "true"), ("status", "sent")], "status"),
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "many")], "limit"),
            (vec![("cursor", "x")], "cursor"),
            (vec![("scheduled", "true"), ("cursor", "12")], "cursor"),
        ] {
            let err = query(&bad).parse(5).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(err.details[0]["field"], field, "{bad:?}");
        }
    }
}
