//! Health, readiness, Prometheus metrics and the dispatcher overview.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use pregon_store::{Readiness, Unavailability};

use super::auth::Viewer;
use super::error::ApiError;
use super::AppState;
use crate::clock::rfc3339;
use crate::metrics::{self, QueueLabels, StoreGauges};

/// `{"status": "ok", "database": "ok"}`, or 503 when the database does not answer.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200), (status = 503)))]
pub async fn health(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        // It answers reads; whether it takes writes is what `storage` says.
        Ok(()) => {
            let storage = match state.store.readiness(state.clock.now_millis()).await {
                Ok(Readiness::Unavailable(why)) => storage_word(why),
                Ok(Readiness::MigrationsPending(_)) => "migrations_pending",
                Ok(Readiness::Ready) => "ok",
                Err(_) => "error",
            };
            Json(json!({"status": "ok", "database": "ok", "storage": storage})).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": "unreachable"})),
            )
                .into_response()
        }
    }
}

/// `{"status": "ready"}` when every migration of this build is applied and the database
/// takes a write now; 503 with the reason otherwise (a load balancer sends no traffic, and
/// an orchestrator waits, until it is ready again).
#[utoipa::path(get, path = "/ready", tag = "system", responses((status = 200), (status = 503)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let not_ready = |reason: String, detail: serde_json::Value| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": reason, "detail": detail})),
        )
            .into_response()
    };
    match state.store.readiness(state.clock.now_millis()).await {
        Ok(Readiness::Ready) => Json(json!({"status": "ready"})).into_response(),
        Ok(Readiness::MigrationsPending(versions)) => {
            not_ready("migrations_pending".into(), json!({"pending": versions}))
        }
        Ok(Readiness::Unavailable(why)) => not_ready(storage_word(why).into(), json!(why.to_string())),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            not_ready("database_error".into(), json!(null))
        }
    }
}

/// How `/health` and `/ready` name what keeps the database from taking writes.
fn storage_word(why: Unavailability) -> &'static str {
    match why {
        Unavailability::Full => "storage_full",
        Unavailability::ReadOnly => "storage_read_only",
        Unavailability::Unreachable => "storage_unreachable",
    }
}

/// OpenMetrics text (README "Metrics"): this process's counters and histograms, the
/// process's own figures, and gauges read from the database (the same in every process).
#[utoipa::path(get, path = "/metrics", tag = "system", responses(
    (status = 200, description = "OpenMetrics 1.0 text", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
    (status = 503, description = "The database does not answer", body = super::ErrorBody),
))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let queue = state.store.queue_depth_by_sender().await?;
    let notifications = state.store.notification_counts().await?;
    let gauges = StoreGauges {
        queue: queue
            .into_iter()
            .map(|q| {
                (
                    QueueLabels {
                        tenant: q.tenant_id,
                        sender: q.sender_id,
                    },
                    q.depth,
                )
            })
            .collect(),
        running_campaigns: state.store.running_campaigns().await?,
        notifications_pending: notifications.pending,
        notifications_failed: notifications.failed,
    };
    let text = state
        .metrics
        .render(&gauges)
        .map_err(|e| ApiError::internal("encoding the metrics failed", &e))?;
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DispatcherView {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub started_at: String,
    pub last_heartbeat_at: String,
    pub senders: Vec<String>,
    pub current_rate: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SystemView {
    pub dispatchers: Vec<DispatcherView>,
    pub queue_depth: i64,
    pub running_campaigns: i64,
}

/// Every dispatcher sharing this database, and the queue.
#[utoipa::path(get, path = "/api/v1/system", tag = "system", responses((status = 200, body = SystemView)), security(("api_key" = [])))]
pub async fn system(State(state): State<AppState>, Viewer(_who): Viewer) -> Result<Json<SystemView>, ApiError> {
    let dispatchers = state
        .store
        .list_dispatchers()
        .await?
        .into_iter()
        .map(|d| DispatcherView {
            id: d.id,
            host: d.host,
            pid: d.pid,
            version: d.version,
            started_at: rfc3339(d.started_at),
            last_heartbeat_at: rfc3339(d.last_heartbeat_at),
            senders: d.senders,
            current_rate: d.current_rate,
        })
        .collect();
    Ok(Json(SystemView {
        dispatchers,
        queue_depth: state.store.queue_depth().await?,
        running_campaigns: state.store.running_campaigns().await?,
    }))
}
