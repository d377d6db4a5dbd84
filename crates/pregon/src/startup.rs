//! Wiring: open the store, bootstrap a new database, run the API and the dispatcher until
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pregon_store::{SenderRecord, Store, Tenant};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::config::{DispatchConfig, Limits};
use crate::crypto::MasterKey;
use crate::dispatch::{Dispatcher, Metrics};
use crate::http::{self, AppState};
use crate::keys;

/// Everything `serve` needs, resolved.
#[derive(Clone)]
pub struct AppConfig {
    pub database_url: String,
    pub listen: String,
    pub dispatch: DispatchConfig,
    pub limits: Limits,
    pub master_key: Option<String>,
    pub bootstrap_api_key: Option<String>,
    pub run_dispatcher: bool,
    pub clock: Arc<dyn Clock>,
}

impl AppConfig {
    /// Defaults for a database, listening on an ephemeral loopback port.
    pub fn for_database(database_url: &str) -> Self {
        AppConfig {
            database_url: database_url.to_string(),
            listen: "127.0.0.1:0".into(),
            dispatch: DispatchConfig::default(),
            limits: Limits::default(),
            master_key: None,
            bootstrap_api_key: None,
            run_dispatcher: true,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Opens the store named by a URL, migrated.
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    pregon_store::open(url)
        .await
        .with_context(|| format!("opening the database {url}"))
}

/// Creates a tenant with its first API key and a sandbox sender as its default; returns the
/// key, which is shown only this once.
pub async fn create_tenant(
    store: &dyn Store,
    master_key: &MasterKey,
    name: &str,
    api_key: Option<String>,
    now: i64,
) -> anyhow::Result<(Tenant, String)> {
    let webhook_secret = hex::encode(rand::random::<[u8; 32]>());
    let tenant = store
        .create_tenant(name, &webhook_secret, now)
        .await
        .map_err(|e| match e {
            pregon_store::StoreError::Conflict(_) => anyhow::anyhow!("a tenant named {name:?} already exists"),
            other => other.into(),
        })?;
    let key = api_key.filter(|k| !k.trim().is_empty()).unwrap_or_else(keys::generate);
    store
        .add_api_key(&tenant.id, &keys::hash(&key), &keys::prefix(&key), now)
        .await?;
    let sandbox = SenderRecord {
        id: pregon_domain::id::new_id("snd"),
        tenant_id: tenant.id.clone(),
        name: "Sandbox".into(),
        provider: "sandbox".into(),
        phone_number: "+15555550100".into(),
        credentials: master_key.seal(b"{}"),
        base_url: None,
        messages_per_second: 1000.0,
        daily_limit: None,
        is_default: true,
        status: "active".into(),
        quality_rating: None,
        created_at: now,
        updated_at: now,
    };
    store.insert_sender(&sandbox).await?;
    Ok((tenant, key))
}

/// A built application: listening, store open, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    dispatcher: Option<Arc<Dispatcher>>,
    /// The key generated for the first tenant, when this run created it.
    pub bootstrap_key: Option<String>,
}

impl Application {
    pub async fn build(config: AppConfig) -> anyhow::Result<Self> {
        let store = open_store(&config.database_url).await?;
        let master_key = MasterKey::load(config.master_key.as_deref(), &config.database_url)?;
        let mut bootstrap_key = None;
        if store.tenant_count().await? == 0 {
            let given = config.bootstrap_api_key.clone();
            let (_, key) = create_tenant(
                store.as_ref(),
                &master_key,
                "default",
                given.clone(),
                config.clock.now_millis(),
            )
            .await?;
            if given.is_none() {
                bootstrap_key = Some(key);
            }
        }
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let wake = Arc::new(Notify::new());
        let metrics = Arc::new(Metrics::default());
        let state = AppState {
            store: store.clone(),
            master_key: master_key.clone(),
            limits: config.limits,
            clock: config.clock.clone(),
            wake: wake.clone(),
            rates: Arc::default(),
            metrics: metrics.clone(),
            shutdown: CancellationToken::new(),
        };
        let dispatcher = config.run_dispatcher.then(|| {
            Arc::new(Dispatcher::new(
                store,
                config.dispatch.clone(),
                master_key,
                config.clock.clone(),
                wake,
                metrics,
            ))
        });
        Ok(Application {
            listener,
            state,
            dispatcher,
            bootstrap_key,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets the dispatcher finish
    /// its in-flight requests, and returns.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let state = self.state.clone();
        let app_shutdown = state.shutdown.clone();
        let router = http::router(state);
        let server_stop = shutdown.clone();
        let server = tokio::spawn(async move {
            axum::serve(self.listener, router)
                .with_graceful_shutdown(server_stop.cancelled_owned())
                .await
        });
        let dispatcher = self
            .dispatcher
            .map(|d| tokio::spawn(d.run_until_stopped(shutdown.clone())));
        shutdown.cancelled().await;
        app_shutdown.cancel();
        if let Some(d) = dispatcher {
            d.await.context("dispatcher task")??;
        }
        match tokio::time::timeout(Duration::from_secs(10), server).await {
            Ok(joined) => joined.context("server task")?.context("serving HTTP")?,
            Err(_) => tracing::warn!("HTTP connections still open after 10 s; closing them"),
        }
        Ok(())
    }
}

/// Runs a dispatcher alone (`pregon worker`).
pub async fn run_worker(
    database_url: &str,
    dispatch: DispatchConfig,
    master_key: Option<&str>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = open_store(database_url).await?;
    let master_key = MasterKey::load(master_key, database_url)?;
    let dispatcher = Arc::new(Dispatcher::new(
        store,
        dispatch,
        master_key,
        Arc::new(SystemClock),
        Arc::new(Notify::new()),
        Arc::new(Metrics::default()),
    ));
    dispatcher.run_until_stopped(shutdown).await
}

/// A token cancelled on Ctrl-C or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        t.cancel();
    });
    token
}
