//! What every HTTP request leaves behind: a request id (`X-Request-Id`, kept when the caller
//! sent one, a UUID otherwise, and returned on the response), a tracing span carrying it
//! with the route template, and the `pregon_http_*` series (and `pregon_webhook_requests`
//! for the provider webhooks).
//!
//! The route is axum's [`MatchedPath`] (`/api/v1/campaigns/{id}`), never the raw path, so
//! the series stay few whatever is requested; what no route takes is `unmatched`.

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use pregon_domain::ProviderKind;
use tokio::time::Instant;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::AppState;

/// The route label of a request no route took.
const UNMATCHED: &str = "unmatched";

/// Longest request id kept from a caller; a longer one is replaced (ids are logged).
const MAX_REQUEST_ID: usize = 128;

fn route_of(request: &Request) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or(UNMATCHED)
}

/// Counts and times the request by route template, method and status class.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = route_of(&request).to_owned();
    let method = request.method().as_str().to_owned();
    let began = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.metrics.http_request(&route, &method, status, began.elapsed());
    let webhook = match route.as_str() {
        "/webhooks/meta" if method == "POST" => Some(ProviderKind::Meta),
        "/webhooks/twilio" => Some(ProviderKind::Twilio),
        _ => None,
    };
    if let Some(provider) = webhook {
        state.metrics.webhook(provider, status);
    }
    response
}

/// The span of one request: its id, method and route template.
fn span_for(request: &Request) -> Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "http",
        request_id = %id,
        method = %request.method(),
        route = %route_of(request),
    )
}

/// Logged when a response leaves (at debug: a busy webhook endpoint would flood info).
fn answered(response: &Response, latency: Duration, _span: &Span) {
    tracing::debug!(
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "answered"
    );
}

/// Drops a caller's request id that is too long or not visible ASCII, so that the one
/// logged and returned is either theirs, intact, or ours.
pub async fn screen_request_id(mut request: Request, next: Next) -> Response {
    let acceptable = |v: &HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= MAX_REQUEST_ID && b.iter().all(|c| c.is_ascii_graphic())
    };
    if request.headers().get("x-request-id").is_some_and(|v| !acceptable(v)) {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

/// The layers, from the outside in: screen the caller's id, set one, return it, the span.
pub fn layers<S>(router: axum::Router<S>, state: AppState) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(axum::middleware::from_fn_with_state(state, track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(span_for)
                .on_response(answered),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn(screen_request_id))
}
