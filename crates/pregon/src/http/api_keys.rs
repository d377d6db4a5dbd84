//! `/api/v1/api-keys`: named keys with a role (owners only). A key is shown once, when it is
//! made, and stored hashed; revoking it makes it answer 401 from the next request on.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pregon_store::{ApiKeyRecord, NewApiKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Owner, Via};
use super::error::{ApiError, NotFoundAs};
use super::extract::{ApiJson, ApiQuery, PageParams};
use super::users::{check_name, check_role};
use super::views::ListView;
use super::AppState;
use crate::clock::rfc3339;
use crate::keys;

/// A key as listed: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub role: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    /// The user or key that made it.
    pub created_by: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<&ApiKeyRecord> for ApiKeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        ApiKeyView {
            id: k.id.clone(),
            name: k.name.clone(),
            role: k.role.as_str().into(),
            prefix: k.prefix.clone(),
            created_by: k.created_by.clone(),
            created_at: rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(rfc3339),
        }
    }
}

/// A key just made, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKeyView {
    pub id: String,
    pub name: String,
    pub role: String,
    /// The key: shown only in this answer. Send it as `Authorization: Bearer <key>`.
    pub key: String,
    pub created_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    /// `viewer`, `operator`, `admin` or `owner`; no higher than the caller's.
    pub role: String,
}

#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api_keys", request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKeyView), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 415, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Owner(who): Owner,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKeyView>), ApiError> {
    let role = check_role(&body.role)?;
    if !who.caller.role.includes(role) {
        return Err(ApiError::forbidden(role));
    }
    let key = keys::generate();
    let created_by = match &who.caller.via {
        Via::ApiKey { id, .. } => id.clone(),
        Via::Session { user, .. } => user.id.clone(),
    };
    let new = NewApiKey {
        id: pregon_domain::id::new_id("key"),
        tenant_id: who.tenant_id().to_string(),
        name: check_name(&body.name)?,
        role,
        key_hash: keys::hash(&key),
        prefix: keys::prefix(&key),
        created_by: Some(created_by),
        now: state.clock.now_millis(),
    };
    let made = state.store.create_api_key(&new, &who.change).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKeyView {
            id: made.id,
            name: made.name,
            role: made.role.as_str().into(),
            key,
            created_at: rfc3339(made.created_at),
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api_keys", params(PageParams),
    responses((status = 200, body = ListView<ApiKeyView>), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Owner(who): Owner,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListView<ApiKeyView>>, ApiError> {
    let page = state.store.list_api_keys(who.tenant_id(), &page.request()?).await?;
    Ok(Json(ListView {
        items: page.items.iter().map(ApiKeyView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api_keys",
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Owner(who): Owner,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_api_key(who.tenant_id(), &id, state.clock.now_millis(), &who.change)
        .await
        .or_not_found("API key")?;
    Ok(StatusCode::NO_CONTENT)
}
