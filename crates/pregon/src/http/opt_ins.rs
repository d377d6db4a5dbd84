//! `/api/v1/opt-ins`: numbers that consented to be messaged. A campaign with
//! `require_consent` sends only to these (checked at import and again just before each send).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pregon_domain::PhoneNumber;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{Caller, Operator, Viewer, Who};
use super::error::{ApiError, NotFoundAs};
use super::extract::{ApiJson, ApiQuery, PageParams, PhoneSearch};
use super::views::{ListView, OptInView};
use super::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOptIn {
    pub phone: String,
    /// Where the consent was given: `web_form`, `whatsapp`, `paper`, … (default `api`).
    pub source: Option<String>,
    /// What proves it: a form submission id, a message id, a note (at most 4,000 characters).
    pub evidence: Option<String>,
}

fn parse_phone(text: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(text, None).map_err(|e| ApiError::invalid("invalid_phone", format!("phone: {e}")))
}

/// Records (or refreshes) a consent; the same phone again updates its source and evidence.
#[utoipa::path(post, path = "/api/v1/opt-ins", tag = "opt-ins", request_body = CreateOptIn,
    responses((status = 201, body = OptInView), (status = 422, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    ApiJson(body): ApiJson<CreateOptIn>,
) -> Result<(StatusCode, Json<OptInView>), ApiError> {
    let phone = parse_phone(&body.phone)?;
    let source = body.source.as_deref().map(str::trim).unwrap_or("api");
    if source.is_empty() || source.chars().count() > 100 {
        return Err(ApiError::invalid_field("source", "must be 1 to 100 characters"));
    }
    if body.evidence.as_ref().is_some_and(|e| e.chars().count() > 4_000) {
        return Err(ApiError::invalid_field("evidence", "must be at most 4000 characters"));
    }
    let o = state
        .store
        .add_opt_in(
            &tenant.id,
            phone.as_str(),
            source,
            body.evidence.as_deref(),
            state.clock.now_millis(),
            &change,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(OptInView::from(&o))))
}

#[utoipa::path(get, path = "/api/v1/opt-ins", tag = "opt-ins", params(PageParams, PhoneSearch),
    responses((status = 200, body = ListView<OptInView>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    ApiQuery(page): ApiQuery<PageParams>,
    ApiQuery(search): ApiQuery<PhoneSearch>,
) -> Result<Json<ListView<OptInView>>, ApiError> {
    let page = state
        .store
        .list_opt_ins(&tenant.id, search.phone()?.as_deref(), &page.request()?)
        .await?;
    Ok(Json(ListView {
        items: page.items.iter().map(OptInView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Withdraws a consent: campaigns that require consent stop sending to the number.
#[utoipa::path(delete, path = "/api/v1/opt-ins/{phone}", tag = "opt-ins",
    responses((status = 204), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    Path(phone): Path<String>,
) -> Result<StatusCode, ApiError> {
    let phone = parse_phone(&phone).map_err(|_| ApiError::not_found("opt-in"))?;
    state
        .store
        .delete_opt_in(&tenant.id, phone.as_str(), state.clock.now_millis(), &change)
        .await
        .or_not_found("opt-in")?;
    Ok(StatusCode::NO_CONTENT)
}
