//! Wiring: open the store, bootstrap a new database, run the API and the dispatcher until
//! shutdown.
//!
//! One store is opened per process; each part gets the narrow view of it that it uses. The
//! background work (dispatcher, notifier, retention) runs beside the API, stays off, or is
//! left to a test to step ([`Background`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pregon_domain::{ProviderKind, Role, SenderStatus};
use pregon_store::{Actor, ApiStore, AuditStore, Change, SenderRecord, SenderStore, Store, Tenant, TenantStore};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::config::{DispatchConfig, Limits, ReportConfig, RetentionConfig};
use crate::crypto::MasterKey;
use crate::dispatch::{Dispatcher, Metrics};
use crate::http::auth::AuthState;
use crate::http::{self, AppState};
use crate::keys;
use crate::notifications::Notifier;
use crate::retention::Retention;

/// What works in the background beside the API: the dispatcher, the notifier that delivers
/// campaign notifications, and retention, which always go together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// Each polls on its own until shutdown (`serve`).
    Run,
    /// None of them here (`serve --no-dispatcher`): another process does the work.
    Off,
    /// The dispatcher and the notifier are built but work only when told
    /// ([`Application::dispatcher`]'s [`Dispatcher::run_once`], [`Application::notifier`]'s
    /// [`Notifier::deliver_due`]); retention does not run. For tests that decide when work
    /// happens.
    Stepped,
}

/// Everything `serve` needs, resolved.
#[derive(Clone)]
pub struct AppConfig {
    pub database_url: String,
    pub listen: String,
    pub dispatch: DispatchConfig,
    pub limits: Limits,
    pub master_key: Option<String>,
    pub bootstrap_api_key: Option<String>,
    /// The first owner's email and password on a new database (`PREGON_BOOTSTRAP_EMAIL`,
    /// `PREGON_BOOTSTRAP_PASSWORD`); by default `owner@pregon.local` and a generated
    /// password, printed once.
    pub bootstrap_email: Option<String>,
    pub bootstrap_password: Option<String>,
    pub background: Background,
    pub clock: Arc<dyn Clock>,
    /// Provider reports: Meta verify token, public URL, stop words.
    pub reports: ReportConfig,
    /// How long finished work is kept; purged by every process that runs a dispatcher.
    pub retention: RetentionConfig,
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
            bootstrap_email: None,
            bootstrap_password: None,
            background: Background::Run,
            clock: Arc::new(SystemClock),
            reports: ReportConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

/// Fills `provider_account` (the id webhooks name a sender by) for senders created before
/// it existed, from their credentials.
async fn backfill_provider_accounts(store: &dyn ApiStore, master_key: &MasterKey, now: i64) -> anyhow::Result<()> {
    for provider in [ProviderKind::Meta, ProviderKind::Twilio] {
        for sender in store.senders_by_provider_account(provider, None).await? {
            if sender.provider_account.is_some() {
                continue;
            }
            let Ok(plain) = master_key.open(&sender.credentials) else {
                continue;
            };
            let credentials: pregon_providers::Credentials = serde_json::from_slice(&plain).unwrap_or_default();
            let Some(account) = http::senders::provider_account(provider, &credentials) else {
                continue;
            };
            let patch = pregon_store::SenderPatch {
                provider_account: Some(Some(account)),
                ..Default::default()
            };
            let change = pregon_store::Change::by(pregon_store::Actor::system());
            match store
                .update_sender(&sender.tenant_id, &sender.id, &patch, now, &change)
                .await
            {
                Ok(_) | Err(pregon_store::StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Opens the store named by a URL, migrated: the one store of a process, which hands each
/// part its own view of it (the API an [`ApiStore`], the dispatcher a
/// [`pregon_store::DispatcherStore`], …). `PREGON_DB_POOL_SIZE` sets the PostgreSQL
/// connection pool (default 16 per process).
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let pool_size = match std::env::var("PREGON_DB_POOL_SIZE") {
        Ok(v) => v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (2..=1000).contains(n))
            .context("PREGON_DB_POOL_SIZE must be a whole number from 2 to 1000")?,
        Err(_) => pregon_store::DEFAULT_POOL_SIZE,
    };
    pregon_store::open_with(url, pool_size)
        .await
        .with_context(|| format!("opening the database {url}"))
}

/// Creates a tenant with its first API key and a sandbox sender as its default; returns the
/// key, which is shown only this once (as is the tenant's webhook secret, in the record).
pub async fn create_tenant<S: TenantStore + SenderStore + AuditStore + ?Sized>(
    store: &S,
    master_key: &MasterKey,
    name: &str,
    api_key: Option<String>,
    now: i64,
    actor: Actor,
) -> anyhow::Result<(Tenant, String)> {
    let change = Change::by(actor);
    let webhook_secret = crate::notifications::new_webhook_secret();
    let tenant = store
        .create_tenant(name, &webhook_secret, now)
        .await
        .map_err(|e| match e {
            pregon_store::StoreError::Conflict {
                constraint: pregon_store::Constraint::TenantName,
            } => anyhow::anyhow!("a tenant named {name:?} already exists"),
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
        provider: ProviderKind::Sandbox,
        phone_number: "+15555550100".into(),
        credentials: master_key.seal(b"{}"),
        base_url: None,
        messages_per_second: ProviderKind::Sandbox.default_rate(),
        daily_limit: None,
        is_default: true,
        status: SenderStatus::Active,
        quality_rating: None,
        provider_account: None,
        limit_group: None,
        rate_follows_provider: false,
        throughput_level: None,
        created_at: now,
        updated_at: now,
    };
    let entry = pregon_store::AuditEntry::new(pregon_domain::AuditAction::TenantCreate, "tenant", &tenant.id)
        .with(serde_json::json!({"name": tenant.name}));
    store.record_audit(&tenant.id, entry, now, &change).await?;
    store.insert_sender(&sandbox, &change).await?;
    Ok((tenant, key))
}

/// A built application: listening, store open, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    background: Background,
    dispatcher: Option<Arc<Dispatcher>>,
    /// Delivers campaign webhooks; runs wherever a dispatcher does.
    notifier: Option<Arc<Notifier>>,
    /// Deletes finished work past the retention period; runs wherever a dispatcher does.
    retention: Option<Retention>,
    /// The key generated for the first tenant, when this run created it.
    pub bootstrap_key: Option<String>,
    /// The webhook secret of the first tenant, when this run created it (shown once).
    pub bootstrap_webhook_secret: Option<String>,
    /// The first owner's email, and its password when it was generated (shown once), when
    /// this run created it.
    pub bootstrap_owner: Option<(String, Option<String>)>,
}

impl Application {
    pub async fn build(config: AppConfig) -> anyhow::Result<Self> {
        let store = open_store(&config.database_url).await?;
        let master_key = MasterKey::load(config.master_key.as_deref(), &config.database_url)?;
        let mut bootstrap_key = None;
        let mut bootstrap_webhook_secret = None;
        let mut bootstrap_owner = None;
        if store.tenant_count().await? == 0 {
            let given = config.bootstrap_api_key.clone();
            let now = config.clock.now_millis();
            match create_tenant(
                store.as_ref(),
                &master_key,
                "default",
                given.clone(),
                now,
                Actor::system(),
            )
            .await
            {
                Ok((tenant, key)) => {
                    let email = config
                        .bootstrap_email
                        .as_deref()
                        .unwrap_or(crate::accounts::BOOTSTRAP_EMAIL);
                    let owner = crate::accounts::Person {
                        email,
                        name: Some("Owner"),
                        role: Role::Owner,
                        password: config.bootstrap_password.clone(),
                    };
                    let (owner, password) =
                        crate::accounts::create_user(store.as_ref(), &tenant, owner, Actor::system(), now)
                            .await
                            .context("creating the first owner")?;
                    bootstrap_owner = Some((owner.email, password));
                    bootstrap_webhook_secret = Some(tenant.webhook_secret);
                    if given.is_none() {
                        bootstrap_key = Some(key);
                    }
                }
                // Several processes starting together on one database: one of them wins.
                Err(e) if store.tenant_count().await? > 0 => {
                    tracing::info!("another process created the first tenant ({e:#})");
                }
                Err(e) => return Err(e),
            }
        }
        backfill_provider_accounts(store.as_ref(), &master_key, config.clock.now_millis())
            .await
            .context("filling in the senders' provider accounts")?;
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let wake = Arc::new(Notify::new());
        let metrics = Arc::new(Metrics::default());
        // One store; each part takes its own view of it (the API an `ApiStore`, the report
        // writer a `ReportWriterStore`, the notifier a `NotificationStore`, retention a
        // `RetentionStore`, the dispatcher a `DispatcherStore`).
        let state = AppState {
            store: store.clone(),
            master_key: master_key.clone(),
            limits: config.limits,
            clock: config.clock.clone(),
            wake: wake.clone(),
            rates: Arc::default(),
            metrics: metrics.clone(),
            shutdown: CancellationToken::new(),
            auth: Arc::new(AuthState::new(
                config.limits.api_rate_limit,
                config
                    .reports
                    .public_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://")),
            )),
            reports: crate::reports::Reports::start(
                store.clone(),
                master_key.clone(),
                config.clock.clone(),
                config.reports.clone(),
            ),
        };
        let dispatching = config.background != Background::Off;
        let notifier = dispatching.then(|| {
            Arc::new(Notifier::new(
                store.clone(),
                config.dispatch.notify.clone(),
                config.clock.clone(),
                wake.clone(),
            ))
        });
        let retention = (config.background == Background::Run)
            .then(|| Retention::new(store.clone(), config.retention.clone(), config.clock.clone()));
        let dispatcher = dispatching.then(|| {
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
            background: config.background,
            dispatcher,
            notifier,
            retention,
            bootstrap_key,
            bootstrap_webhook_secret,
            bootstrap_owner,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The dispatcher, unless built [`Background::Off`]. Built [`Background::Stepped`], it
    /// sends only when its [`Dispatcher::run_once`] is called.
    pub fn dispatcher(&self) -> Option<&Arc<Dispatcher>> {
        self.dispatcher.as_ref()
    }

    /// The notification deliverer, unless built [`Background::Off`]. Built
    /// [`Background::Stepped`], it delivers only when its [`Notifier::deliver_due`] is called.
    pub fn notifier(&self) -> Option<&Arc<Notifier>> {
        self.notifier.as_ref()
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets the dispatcher finish
    /// its in-flight requests, and returns. The background work runs beside it when built
    /// [`Background::Run`].
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
        let background = self.background == Background::Run;
        let dispatcher = self
            .dispatcher
            .filter(|_| background)
            .map(|d| tokio::spawn(d.run_until_stopped(shutdown.clone())));
        let notifier = self
            .notifier
            .filter(|_| background)
            .map(|n| tokio::spawn(n.run_until_stopped(shutdown.clone())));
        let retention = self
            .retention
            .map(|r| tokio::spawn(r.run_until_stopped(shutdown.clone())));
        shutdown.cancelled().await;
        app_shutdown.cancel();
        if let Some(d) = dispatcher {
            d.await.context("dispatcher task")??;
        }
        if let Some(n) = notifier {
            n.await.context("notification task")?;
        }
        if let Some(r) = retention {
            r.await.context("retention task")?;
        }
        match tokio::time::timeout(Duration::from_secs(10), server).await {
            Ok(joined) => joined.context("server task")?.context("serving HTTP")?,
            Err(_) => tracing::warn!("HTTP connections still open after 10 s; closing them"),
        }
        Ok(())
    }
}

/// Runs a dispatcher alone (`pregon worker`), with the campaign webhook deliverer and the
/// retention task beside it.
pub async fn run_worker(
    database_url: &str,
    dispatch: DispatchConfig,
    master_key: Option<&str>,
    retention: RetentionConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = open_store(database_url).await?;
    let master_key = MasterKey::load(master_key, database_url)?;
    let wake = Arc::new(Notify::new());
    let notifier = Arc::new(Notifier::new(
        store.clone(),
        dispatch.notify.clone(),
        Arc::new(SystemClock),
        wake.clone(),
    ));
    let notifier_stop = shutdown.child_token();
    let notifier = tokio::spawn(notifier.run_until_stopped(notifier_stop.clone()));
    let retention = tokio::spawn(
        Retention::new(store.clone(), retention, Arc::new(SystemClock)).run_until_stopped(notifier_stop.clone()),
    );
    let dispatcher = Arc::new(Dispatcher::new(
        store,
        dispatch,
        master_key,
        Arc::new(SystemClock),
        wake,
        Arc::new(Metrics::default()),
    ));
    let result = dispatcher.run_until_stopped(shutdown).await;
    // The dispatcher returns early only on an error: stop the deliverer with it.
    notifier_stop.cancel();
    notifier.await.context("notification task")?;
    retention.await.context("retention task")?;
    result
}

/// A token cancelled on Ctrl-C or SIGTERM. The handlers are installed before this returns:
/// a signal that arrives any time after the call stops the process gracefully (a handler
/// installed later, by a spawned task, would leave a window in which SIGTERM kills the
/// process outright, exit status non-zero, its in-flight messages left `sending`).
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            tracing::info!("shutdown requested");
            t.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested");
        t.cancel();
    });
    token
}
