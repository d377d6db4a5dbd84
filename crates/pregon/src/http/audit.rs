//! `GET /api/v1/audit`: every change made through the API or the CLI, newest first (owners
//! only).

use axum::extract::State;
use axum::Json;
use pregon_domain::AuditAction;
use pregon_store::{AuditFilter, AuditRecord, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Owner;
use super::error::ApiError;
use super::extract::{ApiQuery, PageParams};
use super::views::ListView;
use super::AppState;
use crate::clock::rfc3339;

#[derive(Debug, Serialize, ToSchema)]
pub struct ActorView {
    /// `user`, `api_key`, `cli` or `system`.
    pub kind: String,
    pub id: Option<String>,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetView {
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    pub at: String,
    pub actor: ActorView,
    /// `campaign.create`, `sender.update`, … (api.md).
    pub action: String,
    pub target: Option<TargetView>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<&AuditRecord> for AuditView {
    fn from(a: &AuditRecord) -> Self {
        AuditView {
            id: a.id.to_string(),
            at: rfc3339(a.at),
            actor: ActorView {
                kind: a.actor.kind.as_str().into(),
                id: a.actor.id.clone(),
                name: a.actor.name.clone(),
            },
            action: a.action.as_str().into(),
            target: match (&a.target_kind, &a.target_id) {
                (Some(kind), Some(id)) => Some(TargetView {
                    kind: kind.clone(),
                    id: id.clone(),
                }),
                _ => None,
            },
            details: a.details.clone(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Only this action, e.g. `campaign.cancel`.
    #[param(schema_with = super::contract::audit_action)]
    pub action: Option<String>,
    /// How many items, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = ListView<AuditView>), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Owner(who): Owner,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<ListView<AuditView>>, ApiError> {
    let action = params
        .action
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(|a| a.parse::<AuditAction>())
        .transpose()
        .map_err(|_| ApiError::bad_request("invalid_query", "action: not an audit action (see api.md)"))?;
    let page: PageRequest = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .request()?;
    let found = state
        .store
        .list_audit(who.tenant_id(), &AuditFilter { action }, &page)
        .await
        .map_err(|e| match e {
            pregon_store::StoreError::NotFound => {
                ApiError::bad_request("invalid_query", "cursor: not a cursor this API gave out")
            }
            other => other.into(),
        })?;
    Ok(Json(ListView {
        items: found.items.iter().map(AuditView::from).collect(),
        next_cursor: found.next_cursor,
    }))
}
