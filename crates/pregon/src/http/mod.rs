//! The HTTP interface: the JSON API under `/api/v1` (api.md), health, metrics, the OpenAPI
//! document at `/openapi.json` and its interactive page at `/docs`; the operator console
//! ([`crate::console`]) is merged in, and its security headers cover every answer.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod campaigns;
pub mod contract;
pub mod error;
pub mod extract;
pub mod failures;
pub mod idempotency;
pub mod messages;
pub mod notification_secret;
pub mod observe;
pub mod opt_ins;
pub mod opt_outs;
pub mod pricing;
pub mod replies;
pub mod reports;
pub mod senders;
pub mod sessions;
pub mod system;
pub mod templates;
pub mod users;
pub mod views;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Json, Router};
use pregon_store::ApiStore;
use serde::Serialize;
use tokio::sync::Notify;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_scalar::{Scalar, Servable};

use crate::clock::Clock;
use crate::config::Limits;
use crate::crypto::MasterKey;
use crate::dispatch::Metrics;
use error::ApiError;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The API's view of the store: every tenant-scoped aggregate, no dispatcher writes.
    pub store: Arc<dyn ApiStore>,
    pub master_key: MasterKey,
    pub limits: Limits,
    pub clock: Arc<dyn Clock>,
    /// Wakes the dispatcher when new work arrives, so it starts at once.
    pub wake: Arc<Notify>,
    pub rates: Arc<views::RateTracker>,
    pub metrics: Arc<Metrics>,
    /// Cancelled at shutdown: long-lived responses (event streams) end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Who is calling: the API rate limiter, and when keys and sessions were last marked used.
    pub auth: Arc<auth::AuthState>,
    /// Provider webhooks: settings, sender secrets, the group-commit writer.
    pub reports: Arc<crate::reports::Reports>,
}

/// The error shape, for the OpenAPI document.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    #[schema(value_type = Vec<Object>)]
    pub details: Vec<serde_json::Value>,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                auth::SESSION_COOKIE,
                "The console's session (POST /api/v1/sessions); a change made with it must carry X-CSRF-Token",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "pregon", description = "Durable dispatcher for WhatsApp Business campaigns."),
    modifiers(&Security),
    paths(
        senders::create, senders::list, senders::get, senders::update, senders::delete,
        templates::create, templates::list, templates::get, templates::delete, templates::preview, templates::sync,
        senders::test,
        campaigns::create, campaigns::import_csv, campaigns::list, campaigns::get, campaigns::start,
        campaigns::pause, campaigns::resume, campaigns::cancel, campaigns::retry, campaigns::messages,
        campaigns::export, campaigns::events, campaigns::events_many, failures::campaign,
        messages::send, messages::list, messages::get, messages::cancel,
        opt_outs::create, opt_outs::list, opt_outs::delete, opt_outs::import,
        replies::list, replies::campaign,
        reports::meta_verify, reports::meta_event, reports::twilio_event,
        opt_ins::create, opt_ins::list, opt_ins::delete,
        notification_secret::rotate,
        pricing::get, pricing::put,
        sessions::create, sessions::delete, sessions::me, sessions::update_me,
        users::create, users::list, users::get, users::update, users::delete,
        api_keys::create, api_keys::list, api_keys::delete,
        audit::list,
        system::health, system::ready, system::metrics, system::system,
    ),
    components(schemas(ErrorBody, ErrorDetail))
)]
pub struct ApiDoc;

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/senders", post(senders::create).get(senders::list))
        .route(
            "/senders/{id}",
            get(senders::get).patch(senders::update).delete(senders::delete),
        )
        .route("/templates", post(templates::create).get(templates::list))
        .route("/templates/sync", post(templates::sync))
        .route("/senders/{id}/test", post(senders::test))
        .route("/templates/{id}", get(templates::get).delete(templates::delete))
        .route("/templates/{id}/preview", post(templates::preview))
        .route("/campaigns", post(campaigns::create).get(campaigns::list))
        .route("/campaigns/import", post(campaigns::import_csv))
        .route("/campaigns/{id}", get(campaigns::get))
        .route("/campaigns/{id}/start", post(campaigns::start))
        .route("/campaigns/{id}/pause", post(campaigns::pause))
        .route("/campaigns/{id}/resume", post(campaigns::resume))
        .route("/campaigns/{id}/cancel", post(campaigns::cancel))
        .route("/campaigns/{id}/retry", post(campaigns::retry))
        .route("/campaigns/{id}/messages", get(campaigns::messages))
        .route("/campaigns/{id}/messages.csv", get(campaigns::export))
        .route("/campaigns/{id}/events", get(campaigns::events))
        .route("/campaigns/{id}/failures", get(failures::campaign))
        .route("/events", get(campaigns::events_many))
        .route("/campaigns/{id}/replies", get(replies::campaign))
        .route("/replies", get(replies::list))
        .route("/messages", post(messages::send).get(messages::list))
        .route("/messages/{id}", get(messages::get).delete(messages::cancel))
        .route("/opt-outs", post(opt_outs::create).get(opt_outs::list))
        .route("/opt-outs/import", post(opt_outs::import))
        .route("/opt-outs/{phone}", axum::routing::delete(opt_outs::delete))
        .route("/opt-ins", post(opt_ins::create).get(opt_ins::list))
        .route("/opt-ins/{phone}", axum::routing::delete(opt_ins::delete))
        .route("/webhook-secret/rotate", post(notification_secret::rotate))
        .route("/pricing", get(pricing::get).put(pricing::put))
        .route("/system", get(system::system))
        .route("/sessions/current", axum::routing::delete(sessions::delete))
        .route("/me", get(sessions::me).patch(sessions::update_me))
        .route("/users", post(users::create).get(users::list))
        .route(
            "/users/{id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route("/api-keys", post(api_keys::create).get(api_keys::list))
        .route("/api-keys/{id}", axum::routing::delete(api_keys::delete))
        .route("/audit", get(audit::list))
        // Every route above needs a caller (its handler says which role); the last layer
        // runs first.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotent,
        ))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate));
    // Signing in is the one route that needs no caller.
    let api = Router::new().route("/sessions", post(sessions::create)).merge(api);
    let limit = state.limits.max_body_bytes;
    let doc = Arc::new(contract::document(&ApiDoc::openapi()));
    let served = doc.clone();
    let router = Router::new()
        .route("/health", get(system::health))
        .route("/ready", get(system::ready))
        .route("/metrics", get(system::metrics))
        .route(
            "/openapi.json",
            get(move || async move { Json(served.as_ref().clone()) }),
        )
        .route("/webhooks/meta", get(reports::meta_verify).post(reports::meta_event))
        .route("/webhooks/twilio", post(reports::twilio_event))
        .merge(Scalar::with_url("/docs", doc.as_ref().clone()))
        .nest("/api/v1", api)
        .merge(crate::console::routes(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::internal("handler panicked", &"panic"))
        }))
        .layer(axum::middleware::from_fn(crate::console::security::headers));
    observe::layers(router, state.clone()).with_state(state)
}
