//! Settings, from flags or the environment (every flag has a `PREGON_…` variable).

use std::time::Duration;

use clap::Args;

/// How logs are written (`PREGON_LOG_FORMAT`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Lines for people (the default).
    #[default]
    Text,
    /// One JSON object a line, with the spans' fields (request id, sender, batch).
    Json,
}

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
    /// The URL this server is reached at from the internet (`https://pregon.example.com`):
    /// providers are told to post status updates under it (Twilio's `StatusCallback`).
    #[arg(long, env = "PREGON_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Least time between two messages to the same phone from the same sender, in
    /// milliseconds, across campaigns (the provider's pair rate limit; 0 turns it off).
    #[arg(long, env = "PREGON_PAIR_GAP_MS", default_value_t = 6_000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub pair_gap_ms: u64,
}

/// An `http(s)://` URL without a trailing slash.
fn parse_public_url(s: &str) -> Result<String, String> {
    let url = s.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err("must name a host".into());
    }
    Ok(url.to_string())
}

impl DispatchArgs {
    pub fn dispatch_config(&self) -> DispatchConfig {
        DispatchConfig {
            lease_ttl: Duration::from_secs(self.lease_ttl_secs),
            sandbox_latency: Duration::from_millis(self.sandbox_latency_ms),
            provider_timeout: Duration::from_secs(self.provider_timeout_secs),
            max_in_flight: self.max_in_flight.map(|n| n as usize),
            poll_interval: Duration::from_millis(250),
            public_url: self.public_url.clone(),
            notify: NotifyConfig::default(),
            pair_gap: Duration::from_millis(self.pair_gap_ms),
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
    /// Requests a second each API key or console session may make (bursts of twice that);
    /// above it, 429 with `Retry-After`.
    #[arg(long, env = "PREGON_API_RATE_LIMIT", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub api_rate_limit: u32,
    /// Serve the API only, without a dispatcher in this process.
    #[arg(long, env = "PREGON_NO_DISPATCHER")]
    pub no_dispatcher: bool,
    #[command(flatten)]
    pub reports: ReportArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
}

/// The first tenant's credentials, for a database that has none yet.
#[derive(Args, Debug, Clone)]
pub struct BootstrapArgs {
    /// On an empty database: the first tenant's owner API key (else one is generated and
    /// printed once).
    #[arg(long = "bootstrap-api-key", env = "PREGON_BOOTSTRAP_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// On an empty database: the email of the first owner who signs in to the console.
    #[arg(long = "bootstrap-email", env = "PREGON_BOOTSTRAP_EMAIL")]
    pub email: Option<String>,
    /// On an empty database: that owner's password (at least 12 characters).
    #[arg(
        long = "bootstrap-password",
        env = "PREGON_BOOTSTRAP_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
}

/// How the provider webhooks (`/webhooks/meta`, `/webhooks/twilio`) behave.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// The token Meta's verification handshake must present (`hub.verify_token`); without
    /// one, the handshake is refused.
    #[arg(long, env = "PREGON_META_VERIFY_TOKEN", hide_env_values = true)]
    pub meta_verify_token: Option<String>,
    /// Replies that opt the number out, comma separated (case- and accent-insensitive).
    #[arg(long, env = "PREGON_STOP_WORDS", default_value = "STOP,BAJA,CANCELAR,UNSUBSCRIBE")]
    pub stop_words: String,
}

impl ReportArgs {
    /// `public_url` is the dispatcher's (`--public-url`, `PREGON_PUBLIC_URL`): behind a proxy,
    /// Twilio signs the URL it posted to, which pregon rebuilds as it + path + query
    /// (default: `http://` + the Host header).
    pub fn report_config(&self, public_url: Option<&str>) -> ReportConfig {
        ReportConfig {
            meta_verify_token: self.meta_verify_token.clone().filter(|t| !t.is_empty()),
            public_url: public_url
                .map(|u| u.trim().trim_end_matches('/').to_string())
                .filter(|u| !u.is_empty()),
            stop_words: split_list(&self.stop_words),
        }
    }
}

/// `a, b,,c` → `[a, b, c]`.
fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The provider webhooks' settings, resolved.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub meta_verify_token: Option<String>,
    /// Without a trailing slash.
    pub public_url: Option<String>,
    pub stop_words: Vec<String>,
}

/// The stop words when none are configured.
pub const DEFAULT_STOP_WORDS: &[&str] = &["STOP", "BAJA", "CANCELAR", "UNSUBSCRIBE"];

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            meta_verify_token: None,
            public_url: None,
            stop_words: DEFAULT_STOP_WORDS.iter().map(|w| w.to_string()).collect(),
        }
    }
}

/// Settings of `pregon worker`.
#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub dispatch: DispatchArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
}

/// How long finished work is kept ([`crate::retention`]).
#[derive(Args, Debug, Clone)]
pub struct RetentionArgs {
    /// Days a finished campaign (completed, cancelled, failed) is kept after it finished, and
    /// a finished single message after its last update, before they are deleted with their
    /// messages and events; 0 keeps them forever.
    #[arg(long, env = "PREGON_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub retention_days: u32,
    /// Days the audit log keeps each change; 0 keeps it forever.
    #[arg(long, env = "PREGON_AUDIT_RETENTION_DAYS", default_value_t = 365, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub audit_retention_days: u32,
}

impl RetentionArgs {
    pub fn retention_config(&self) -> RetentionConfig {
        RetentionConfig {
            days: self.retention_days,
            audit_days: self.audit_retention_days,
            ..RetentionConfig::default()
        }
    }
}

/// The retention task's knobs, resolved.
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// Days finished work is kept; 0 keeps it forever. Default 30.
    pub days: u32,
    /// Days audit rows are kept; 0 keeps them forever. Default 365.
    pub audit_days: u32,
    /// Wait after start before the first purge. Default 1 minute.
    pub first_run_after: Duration,
    /// Wait between purges. Default 1 hour.
    pub interval: Duration,
    /// Campaigns deleted per transaction (and a thousand times as many single messages).
    /// Default 4.
    pub batch: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            days: 30,
            audit_days: 365,
            first_run_after: Duration::from_secs(60),
            interval: Duration::from_secs(3600),
            batch: 4,
        }
    }
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
    /// Where this server is reached from the internet, without a trailing slash; status
    /// callbacks are `<public_url>/webhooks/<provider>`.
    pub public_url: Option<String>,
    /// The campaign webhook deliverer's knobs.
    pub notify: NotifyConfig,
    /// Least time between two messages to the same phone from one sender (zero: none).
    pub pair_gap: Duration,
}

impl DispatchConfig {
    /// The status callback URL to give a provider, when a public URL is set.
    pub fn status_callback(&self, provider: pregon_domain::ProviderKind) -> Option<String> {
        self.public_url
            .as_deref()
            .map(|base| format!("{}/webhooks/{provider}", base.trim_end_matches('/')))
    }
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            lease_ttl: Duration::from_secs(10),
            sandbox_latency: Duration::ZERO,
            provider_timeout: Duration::from_secs(30),
            max_in_flight: None,
            poll_interval: Duration::from_millis(250),
            public_url: None,
            notify: NotifyConfig::default(),
            pair_gap: Duration::from_secs(6),
        }
    }
}

/// How campaign webhooks (api.md "Outbound notification") are delivered. Delivery is at
/// least once: a receiver may see a notification twice (a timeout after it answered, a
/// process that died before recording the answer), and drops repeats by the body's `id`.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Wait before the next attempt after the 1st, 2nd, … failed one; the last wait repeats.
    /// Default: 10 s, 1 min, 5 min, 30 min, 2 h.
    pub backoff: Vec<Duration>,
    /// Attempts before a notification is given up (`failed`). Default 8 (about 6½ hours).
    pub max_attempts: u32,
    /// How long one POST may take. Default 10 s.
    pub timeout: Duration,
    /// How often the deliverer looks for due notifications. Default 1 s.
    pub poll_interval: Duration,
    /// Most notifications claimed (and POSTed concurrently) at once. Default 16.
    pub batch: usize,
}

impl NotifyConfig {
    /// The wait after failed attempt `attempt` (from 1).
    pub fn backoff_after(&self, attempt: u32) -> Duration {
        let i = (attempt.max(1) - 1) as usize;
        self.backoff
            .get(i)
            .or(self.backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(60))
    }

    /// How far a claim pushes a notification's next attempt: past the request's timeout, so
    /// no other process takes it while this one delivers, and soon enough that another does
    /// when this one dies mid-request.
    pub fn claim_lease(&self) -> Duration {
        self.timeout * 3 + Duration::from_secs(5)
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            backoff: [10, 60, 300, 1_800, 7_200].map(Duration::from_secs).to_vec(),
            max_attempts: 8,
            timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            batch: 16,
        }
    }
}

/// Limits on what the API accepts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_contacts: usize,
    /// Requests a second per API key or session (`PREGON_API_RATE_LIMIT`).
    pub api_rate_limit: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 50 * 1024 * 1024,
            max_contacts: 100_000,
            api_rate_limit: 50,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_must_be_http_and_loses_its_trailing_slash() {
        assert_eq!(
            parse_public_url(" https://pregon.example.com/ ").as_deref(),
            Ok("https://pregon.example.com")
        );
        assert_eq!(
            parse_public_url("http://10.0.0.1:8080").as_deref(),
            Ok("http://10.0.0.1:8080")
        );
        assert!(parse_public_url("pregon.example.com").is_err());
        assert!(parse_public_url("https://").is_err());
        let config = DispatchConfig {
            public_url: Some("https://p.example.com".into()),
            ..DispatchConfig::default()
        };
        assert_eq!(
            config.status_callback(pregon_domain::ProviderKind::Twilio).as_deref(),
            Some("https://p.example.com/webhooks/twilio")
        );
        assert_eq!(
            DispatchConfig::default().status_callback(pregon_domain::ProviderKind::Twilio),
            None
        );
    }
}
