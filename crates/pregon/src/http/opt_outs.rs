//! `/api/v1/opt-outs`: numbers a tenant must not message.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pregon_domain::PhoneNumber;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{Caller, Operator, Viewer, Who};
use super::error::{ApiError, NotFoundAs};
use super::extract::{ApiJson, ApiQuery, PageParams};
use super::views::{ListView, OptOutView};
use super::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOptOut {
    pub phone: String,
    pub reason: Option<String>,
}

fn parse_phone(text: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(text, None).map_err(|e| ApiError::invalid("invalid_phone", format!("phone: {e}")))
}

#[utoipa::path(post, path = "/api/v1/opt-outs", tag = "opt-outs", request_body = CreateOptOut,
    responses((status = 201, body = OptOutView), (status = 422, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    ApiJson(body): ApiJson<CreateOptOut>,
) -> Result<(StatusCode, Json<OptOutView>), ApiError> {
    let phone = parse_phone(&body.phone)?;
    if body.reason.as_ref().is_some_and(|r| r.len() > 500) {
        return Err(ApiError::invalid_field("reason", "must be at most 500 characters"));
    }
    let o = state
        .store
        .add_opt_out(
            &tenant.id,
            phone.as_str(),
            body.reason.as_deref(),
            "api",
            state.clock.now_millis(),
            &change,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(OptOutView::from(&o))))
}

#[utoipa::path(get, path = "/api/v1/opt-outs", tag = "opt-outs", params(PageParams),
    responses((status = 200, body = ListView<OptOutView>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Viewer(Who {
        caller: Caller { tenant, .. },
        ..
    }): Viewer,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListView<OptOutView>>, ApiError> {
    let page = state.store.list_opt_outs(&tenant.id, &page.request()?).await?;
    Ok(Json(ListView {
        items: page.items.iter().map(OptOutView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(delete, path = "/api/v1/opt-outs/{phone}", tag = "opt-outs",
    responses((status = 204), (status = 404, body = super::ErrorBody)), security(("api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Operator(Who {
        caller: Caller { tenant, .. },
        change,
    }): Operator,
    Path(phone): Path<String>,
) -> Result<StatusCode, ApiError> {
    let phone = parse_phone(&phone).map_err(|_| ApiError::not_found("opt-out"))?;
    state
        .store
        .delete_opt_out(&tenant.id, phone.as_str(), state.clock.now_millis(), &change)
        .await
        .or_not_found("opt-out")?;
    Ok(StatusCode::NO_CONTENT)
}
