//! `/api/v1/webhook-secret/rotate`: a new key for the tenant's campaign webhooks
//! (`X-Pregon-Signature`), shown only in this answer.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Admin;
use super::error::ApiError;
use super::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecretView {
    /// The new secret: `X-Pregon-Signature` is `sha256=<hex HMAC-SHA256 of the body>` keyed
    /// with it. Shown only this once; notifications delivered from now on use it.
    pub webhook_secret: String,
}

/// Replaces the tenant's webhook secret; the old one stops signing at once.
#[utoipa::path(post, path = "/api/v1/webhook-secret/rotate", tag = "notifications",
    responses((status = 200, body = WebhookSecretView), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody)),
    security(("api_key" = []), ("session" = [])))]
pub async fn rotate(State(state): State<AppState>, Admin(who): Admin) -> Result<Json<WebhookSecretView>, ApiError> {
    let secret = crate::notifications::new_webhook_secret();
    state
        .store
        .set_webhook_secret(who.tenant_id(), &secret, state.clock.now_millis(), &who.change)
        .await?;
    tracing::info!(tenant = %who.tenant_id(), "webhook secret rotated");
    Ok(Json(WebhookSecretView { webhook_secret: secret }))
}
