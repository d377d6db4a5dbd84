//! `pregon simulate`: a WhatsApp provider simulator for pregon's users, tests and benchmarks.
//!
//! It speaks the Meta Cloud API (and its Marketing Messages API) and Twilio wire formats of
//! `docs/providers.md` on loopback, with a configurable latency, an error mix, per-sender
//! throughput and pair-rate enforcement, and status webhooks (`sent`, `delivered`, `read`,
//! `failed`, with `pricing`) signed as the real providers sign them. It also plays what
//! Meta does on its own in 2026 (template pauses and approvals, quality changes, marketing
//! opt-outs, replies from users known only by a BSUID, throughput upgrades): at start
//! (`--template-events`) or on demand through the `/control/…` endpoints (`control`).
//! `GET /stats` tells what a client did: requests, rejections by code, resends, and its peak
//! rate over one-second windows.
//!
//! Start it from the command line with [`run`], or in-process with [`Simulator::start`]
//! (port 0 for tests).
//!
//! # Layout
//! - `config`: the flags ([`SimulateArgs`]) and the checked [`Config`];
//! - `catalog`: the templates the simulator knows and their status, category and quality;
//! - `engine`: latency, error mix, rate enforcement, message fates, opt-outs, throughput,
//!   statistics;
//! - `meta`, `twilio`: the two wire formats;
//! - `control`: the `/control/…` endpoints and the events they post;
//! - `webhooks`: the bounded scheduler and workers posting webhooks;
//! - `stats`: the `GET /stats` document and its one-second windows.

mod catalog;
mod config;
mod control;
mod engine;
mod meta;
mod phone;
mod stats;
mod twilio;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{
    Config, Latency, LatencyDistribution, SimulateArgs, TemplateEventPlan, TemplateSpec, Throughput, WebhookConfig,
};
pub use stats::{Peaks, Rejected, Stats};

use engine::Engine;

/// A running simulator. Dropping it stops it; [`Simulator::shutdown`] also waits for it.
pub struct Simulator {
    addr: SocketAddr,
    engine: Arc<Engine>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Simulator {
    /// Binds `config.listen` (port 0 picks a free port) and serves until stopped. Returns
    /// the address actually bound.
    pub async fn start(config: Config) -> anyhow::Result<(SocketAddr, Simulator)> {
        config.validate()?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "the simulator listens beyond loopback; it checks tokens, not people");
        }
        let cancel = CancellationToken::new();
        let (queue, mut tasks) = webhooks::start(&config.webhooks, cancel.clone());
        let catalog = Arc::new(catalog::Catalog::new(&config.templates));
        let engine = Arc::new(Engine::new(config, queue, catalog, cancel.clone()));
        for plan in &engine.config.template_events {
            control::plan_template_event(&engine, plan);
        }
        let app = router(engine.clone());
        let stop = cancel.clone();
        tasks.push(tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "the simulator's server stopped");
            }
        }));
        Ok((
            addr,
            Simulator {
                addr,
                engine,
                cancel,
                tasks,
            },
        ))
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The statistics `GET /stats` would answer now.
    pub fn stats(&self) -> Stats {
        self.engine.stats()
    }

    /// Moves the simulator's time ahead by `by` for its limits and statistics, as if it had
    /// passed: rate windows and pair gaps run out at once. For tests, instead of sleeping
    /// through them; status webhooks keep their own time.
    pub fn skip_ahead(&self, by: std::time::Duration) {
        self.engine.skip_ahead(by);
    }

    /// Status webhooks planned and not yet posted or given up: zero means none is coming.
    pub fn webhooks_pending(&self) -> u64 {
        self.engine.webhooks.pending.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What `POST /stats/reset` does.
    pub fn reset_stats(&self) {
        self.engine.reset_stats();
    }

    /// Stops serving (requests in flight finish), drops pending webhooks, and waits.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset))
        .route("/2010-04-01/Accounts/{file}", get(twilio::account))
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(twilio::create_message),
        )
        .route("/control/templates/status", post(control::template_status))
        .route("/control/templates/quality", post(control::template_quality))
        .route("/control/user-preferences", post(control::user_preferences))
        .route("/control/inbound", post(control::inbound))
        .route("/control/throughput", post(control::throughput))
        .route("/{version}/{id}", get(meta::phone_number))
        .route("/{version}/{id}/messages", post(meta::send))
        .route("/{version}/{id}/marketing_messages", post(meta::send_marketing))
        .route("/{version}/{id}/message_templates", get(meta::templates))
        .fallback(not_found)
        .with_state(engine)
}

async fn stats(State(engine): State<Arc<Engine>>) -> Json<Stats> {
    Json(engine.stats())
}

async fn reset(State(engine): State<Arc<Engine>>) -> Json<Stats> {
    engine.reset_stats();
    Json(engine.stats())
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({"error": {"message": "Unknown path", "type": "OAuthException", "code": 2500}})),
    )
        .into_response()
}

/// `pregon simulate`: runs until `shutdown` fires.
pub async fn run(args: SimulateArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = Config::try_from(args)?;
    let summary = describe(&config);
    let (addr, simulator) = Simulator::start(config).await?;
    println!("Meta Cloud API: base_url http://{addr}/v21.0 (any v<N>.0)");
    println!("Twilio:         base_url http://{addr}");
    println!("Statistics:     GET http://{addr}/stats, POST http://{addr}/stats/reset");
    println!(
        "Control:        POST http://{addr}/control/{{templates/status,templates/quality,user-preferences,inbound,throughput}}"
    );
    for line in summary {
        println!("{line}");
    }
    println!("pregon simulate listening on http://{addr}");
    shutdown.cancelled().await;
    let stats = simulator.stats();
    simulator.shutdown().await;
    println!(
        "stopped: {} requests, {} accepted, {} rejected, {} duplicates",
        stats.requests, stats.accepted, stats.rejected.total, stats.duplicates
    );
    Ok(())
}

/// One line per behaviour, so that the terminal says what the simulator will do.
fn describe(c: &Config) -> Vec<String> {
    let ms = |d: std::time::Duration| d.as_millis();
    let w = &c.webhooks;
    let mut lines = vec![
        format!(
            "Latency:        {} ms mean, {} ms jitter ({:?})",
            ms(c.latency.mean),
            ms(c.latency.jitter),
            c.latency.distribution
        ),
        format!(
            "Limits:         {} msg/s per sender{}, pair gap {} ms",
            c.mps,
            match (c.mps, c.mps_burst) {
                (0, _) => " (none)".to_string(),
                (_, 0) => String::new(),
                (_, burst) => format!(" (+{burst} burst)"),
            },
            ms(c.pair_gap)
        ),
        format!(
            "Errors:         5xx {}, throttle {}, {} failing numbers ({})",
            c.error_rate_5xx,
            c.throttle_rate,
            c.fail_numbers.len(),
            if c.fail_async { "async" } else { "on the send" }
        ),
    ];
    match &w.meta_url {
        Some(url) => lines.push(format!(
            "Meta webhooks:  {url} ({}), read fraction {}",
            if w.app_secret.is_some() {
                "signed"
            } else {
                "UNSIGNED: no --app-secret"
            },
            w.read_fraction
        )),
        None => lines.push("Meta webhooks:  off (no --webhook-url)".into()),
    }
    if let Some(url) = &w.twilio_url {
        lines.push(format!("Twilio webhooks: {url}"));
    }
    lines.push(format!(
        "Templates:      {} known, {} planned events, {} paced (hold {} ms)",
        c.templates.len(),
        c.template_events.len(),
        c.paced_templates.len(),
        ms(c.pacing_hold)
    ));
    lines.push(format!(
        "Recipients:     {} stopped marketing, {} Meta codes, {} Twilio codes{}",
        c.marketing_stopped_numbers.len(),
        c.meta_fail_codes.len(),
        c.twilio_fail_codes.len(),
        if c.user_ids { ", BSUIDs in webhooks" } else { "" }
    ));
    lines.push(format!(
        "Throughput:     {} ({} msg/s once HIGH)",
        c.throughput.as_meta(),
        c.high_mps
    ));
    lines
}
