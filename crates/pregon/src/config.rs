//! Settings, from flags or the environment (every flag has a `PREGON_…` variable).

use std::time::Duration;

use clap::Args;

/// Which database.
#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://FILE` (embedded, the default) or `postgres://USER@HOST/DB`.
    #[arg(long = "database", env = "PREGON_DATABASE_URL", default_value = "sqlite://pregon.db")]
    pub database_url: String,
}

/// How the dispatcher behaves.
#[derive(Args, Debug, Clone)]
pub struct DispatchArgs {
    /// Seconds a sender lease lasts without a heartbeat; another process takes the sender
    /// over after this long when its owner dies.
    #[arg(long, env = "PREGON_LEASE_TTL_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease_ttl_secs: u64,
    /// Simulated latency of the sandbox provider, in milliseconds.
    #[arg(long, env = "PREGON_SANDBOX_LATENCY_MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub sandbox_latency_ms: u64,
    /// Seconds before a provider request times out (its message then becomes `unknown`).
    #[arg(long, env = "PREGON_PROVIDER_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub provider_timeout_secs: u64,
    /// Most requests in flight per sender (default: enough for 2 s of latency at its rate).
    #[arg(long, env = "PREGON_MAX_IN_FLIGHT", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_in_flight: Option<u64>,
    /// Credential encryption key, 64 hex characters (generated beside a SQLite database).
    #[arg(long, env = "PREGON_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
}

impl DispatchArgs {
    pub fn dispatch_config(&self) -> DispatchConfig {
        DispatchConfig {
            lease_ttl: Duration::from_secs(self.lease_ttl_secs),
            sandbox_latency: Duration::from_millis(self.sandbox_latency_ms),
            provider_timeout: Duration::from_secs(self.provider_timeout_secs),
            max_in_flight: self.max_in_flight.map(|n| n as usize),
            poll_interval: Duration::from_millis(250),
        }
    }
}

/// Settings of `pregon serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "PREGON_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub dispatch: DispatchArgs,
    /// Largest request body accepted, in bytes (contact uploads).
    #[arg(long, env = "PREGON_MAX_BODY_BYTES", default_value_t = 50 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most contacts in one campaign.
    #[arg(long, env = "PREGON_MAX_CONTACTS", default_value_t = 100_000)]
    pub max_contacts: usize,
    /// Serve the API only, without a dispatcher in this process.
    #[arg(long, env = "PREGON_NO_DISPATCHER")]
    pub no_dispatcher: bool,
}

/// Settings of `pregon worker`.
#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub dispatch: DispatchArgs,
}

/// The dispatcher's knobs, resolved.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    pub lease_ttl: Duration,
    pub sandbox_latency: Duration,
    pub provider_timeout: Duration,
    pub max_in_flight: Option<usize>,
    /// How often an idle dispatcher looks for work it was not told about.
    pub poll_interval: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            lease_ttl: Duration::from_secs(10),
            sandbox_latency: Duration::ZERO,
            provider_timeout: Duration::from_secs(30),
            max_in_flight: None,
            poll_interval: Duration::from_millis(250),
        }
    }
}

/// Limits on what the API accepts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_contacts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 50 * 1024 * 1024,
            max_contacts: 100_000,
        }
    }
}
