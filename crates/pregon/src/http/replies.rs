//! Replies: messages recipients sent back to a sender (provider webhooks), newest first.
//! `GET /api/v1/replies?phone=+…` and `GET /api/v1/campaigns/{id}/replies`.

use axum::extract::{Path, State};
use axum::Json;
use pregon_domain::PhoneNumber;
use pregon_store::{InboundRecord, PageRequest, ReplyFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Viewer, Who};
use super::error::{ApiError, NotFoundAs};
use super::extract::{ApiQuery, PageParams};
use super::views::ListView;
use super::AppState;
use crate::clock::rfc3339;

/// One reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyView {
    pub id: String,
    pub sender_id: String,
    /// The campaign of the latest campaign message the sender sent to this phone, if any.
    pub campaign_id: Option<String>,
    /// Who wrote, E.164; null for a user known only by `user_id`.
    pub phone: Option<String>,
    /// Who wrote, by business-scoped user ID, when Meta named it.
    pub user_id: Option<String>,
    pub provider_message_id: String,
    /// The provider's message type: `text`, `button`, `interactive`, `image`, …
    #[serde(rename = "type")]
    pub message_type: String,
    /// The text (a button's or list item's title for those), if any.
    pub text: Option<String>,
    /// It was a stop word: the phone was opted out (`source: "reply"`).
    pub opted_out: bool,
    pub received_at: String,
    pub created_at: String,
}

impl From<&InboundRecord> for ReplyView {
    fn from(r: &InboundRecord) -> Self {
        ReplyView {
            id: r.id.to_string(),
            sender_id: r.sender_id.clone(),
            campaign_id: r.campaign_id.clone(),
            phone: super::views::recipient_phone(&r.phone, r.user_id.as_deref()).map(str::to_string),
            user_id: r.user_id.clone(),
            provider_message_id: r.provider_message_id.clone(),
            message_type: r.message_type.clone(),
            text: r.text.clone(),
            opted_out: r.opted_out,
            received_at: rfc3339(r.received_at),
            created_at: rfc3339(r.created_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RepliesQuery {
    /// Only replies from this phone (E.164).
    pub phone: Option<String>,
    /// How many items, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn page_request(limit: Option<i64>, cursor: Option<String>) -> Result<PageRequest, ApiError> {
    let page = PageParams { limit, cursor }.request()?;
    if page.cursor.as_ref().is_some_and(|c| c.parse::<i64>().is_err()) {
        return Err(super::extract::invalid_param(
            "cursor",
            "is not a cursor this API gave out",
        ));
    }
    Ok(page)
}

fn list_view(page: pregon_store::Page<InboundRecord>) -> ListView<ReplyView> {
    ListView {
        items: page.items.iter().map(ReplyView::from).collect(),
        next_cursor: page.next_cursor,
    }
}

#[utoipa::path(get, path = "/api/v1/replies", tag = "replies", params(RepliesQuery),
    responses((status = 200, body = ListView<ReplyView>), (status = 422, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    ApiQuery(query): ApiQuery<RepliesQuery>,
) -> Result<Json<ListView<ReplyView>>, ApiError> {
    let phone = match query.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(
            PhoneNumber::parse(p, None)
                .map_err(|e| ApiError::invalid("invalid_phone", format!("phone: {e}")))?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let filter = ReplyFilter {
        campaign_id: None,
        phone,
    };
    let page = state
        .store
        .list_replies(&tenant.id, &filter, &page_request(query.limit, query.cursor)?)
        .await?;
    Ok(Json(list_view(page)))
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}/replies", tag = "replies", params(PageParams),
    responses((status = 200, body = ListView<ReplyView>), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn campaign(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListView<ReplyView>>, ApiError> {
    state
        .store
        .get_campaign(&tenant.id, &id)
        .await
        .or_not_found("campaign")?;
    let filter = ReplyFilter {
        campaign_id: Some(id),
        phone: None,
    };
    let page = state
        .store
        .list_replies(&tenant.id, &filter, &page_request(page.limit, page.cursor)?)
        .await?;
    Ok(Json(list_view(page)))
}
