//! The simulator's settings: the `pregon simulate` flags ([`SimulateArgs`]) and the checked
//! configuration they become ([`Config`]), which tests build directly.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

pub use crate::catalog::TemplateSpec;

/// Defaults shared by the flags and by [`Config::default`], so the two never drift apart.
mod defaults {
    pub const LISTEN: &str = "127.0.0.1:9090";
    pub const WABA_ID: &str = "100000000000001";
    pub const DISPLAY_PHONE_NUMBER: &str = "15555550100";
    pub const LATENCY_MS: u64 = 50;
    pub const LATENCY_JITTER_MS: u64 = 20;
    pub const MPS: u32 = 80;
    pub const PAIR_GAP_MS: u64 = 6000;
    pub const SENT_DELAY_MS: u64 = 200;
    pub const DELIVERED_DELAY_MS: u64 = 1000;
    pub const READ_DELAY_MS: u64 = 3000;
    pub const DELIVERED_FRACTION: f64 = 1.0;
    pub const READ_FRACTION: f64 = 0.5;
    pub const WEBHOOK_RETRIES: u32 = 2;
    pub const WEBHOOK_WORKERS: usize = 4;
    pub const WEBHOOK_QUEUE: usize = 10_000;
    pub const WEBHOOK_TIMEOUT_MS: u64 = 5000;
    pub const PACING_HOLD_MS: u64 = 2000;
    pub const HIGH_MPS: u32 = 1000;
}

/// What `--help` says after the flags: the control endpoints.
const CONTROL_HELP: &str = "\
Control endpoints (JSON bodies; each takes \"delay_ms\" to act later, and posts the signed webhook Meta would):
  POST /control/templates/status   {\"name\", \"language\"?, \"event\": \"PAUSED\"|\"APPROVED\"|\"DISABLED\"|\"REJECTED\"|…, \"reason\"?, \"title\"?, \"description\"?}
  POST /control/templates/quality  {\"name\", \"language\"?, \"score\": \"GREEN\"|\"YELLOW\"|\"RED\"|\"UNKNOWN\"}
  POST /control/user-preferences   {\"phone\"?, \"user_id\"?, \"value\": \"stop\"|\"resume\", \"phone_number_id\"?}
  POST /control/inbound            {\"from\"?, \"user_id\"?, \"text\"?, \"button\"?, \"name\"?, \"username\"?, \"context\"?, \"phone_number_id\"?}
  POST /control/throughput         {\"level\": \"HIGH\"|\"STANDARD\", \"downtime_ms\"?}
Statistics: GET /stats, POST /stats/reset. See docs/providers.md §4.";

/// `pregon simulate`: a WhatsApp provider simulator speaking the Meta Cloud API and Twilio
/// wire formats, with latency, an error mix, per-sender rate enforcement and signed status
/// webhooks. Lists take commas (`--fail-numbers +58412…,+58414…`) or repeated flags.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = CONTROL_HELP)]
pub struct SimulateArgs {
    /// Address to listen on. Keep it on loopback: the simulator checks tokens, not people.
    #[arg(long, env = "PREGON_SIMULATE_LISTEN", default_value = defaults::LISTEN)]
    pub listen: SocketAddr,

    /// Meta bearer tokens to accept. When none are given, any token not in `--bad-tokens` is
    /// accepted.
    #[arg(
        long,
        env = "PREGON_SIMULATE_ACCESS_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub access_tokens: Vec<String>,

    /// Tokens to refuse: a Meta bearer token answers 401 code 190, a Twilio auth token 401
    /// code 20003. Use it to see how pregon pauses a sender whose credentials expired.
    #[arg(
        long,
        env = "PREGON_SIMULATE_BAD_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub bad_tokens: Vec<String>,

    /// Meta template names that are not approved: the template lookup answers REJECTED and a
    /// send answers 132001. Every other name is APPROVED.
    #[arg(long, env = "PREGON_SIMULATE_UNAPPROVED_TEMPLATES", value_delimiter = ',')]
    pub unapproved_templates: Vec<String>,

    /// WhatsApp Business Account id put in Meta webhooks as `entry[].id`.
    #[arg(long, env = "PREGON_SIMULATE_WABA_ID", default_value = defaults::WABA_ID)]
    pub waba_id: String,

    /// `metadata.display_phone_number` of Meta webhooks and of the phone number lookup.
    #[arg(long, env = "PREGON_SIMULATE_DISPLAY_PHONE_NUMBER", default_value = defaults::DISPLAY_PHONE_NUMBER)]
    pub display_phone_number: String,

    /// Twilio auth token: the Basic auth password every account must use, and the key that
    /// signs Twilio status callbacks. When unset, any password not in `--bad-tokens` is
    /// accepted, and callbacks are signed with the password the send used.
    #[arg(long, env = "PREGON_SIMULATE_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,

    /// Mean latency of every API answer, in milliseconds.
    #[arg(long, env = "PREGON_SIMULATE_LATENCY_MS", default_value_t = defaults::LATENCY_MS)]
    pub latency_ms: u64,

    /// Spread of the latency, in milliseconds: ± this much with `uniform`, the standard
    /// deviation with `normal`. 0 makes the latency fixed.
    #[arg(long, env = "PREGON_SIMULATE_LATENCY_JITTER_MS", default_value_t = defaults::LATENCY_JITTER_MS)]
    pub latency_jitter_ms: u64,

    /// Shape of the latency distribution.
    #[arg(long, env = "PREGON_SIMULATE_LATENCY_DISTRIBUTION", value_enum, default_value_t = LatencyDistribution::Uniform)]
    pub latency_distribution: LatencyDistribution,

    /// Fraction (0 to 1) of sends answered with a server error: Meta 500 code 131000, Twilio
    /// 500 code 20500.
    #[arg(long, env = "PREGON_SIMULATE_ERROR_RATE_5XX", default_value_t = 0.0)]
    pub error_rate_5xx: f64,

    /// Fraction (0 to 1) of sends throttled at random, whatever the rate: Meta 400 code
    /// 130429, Twilio 429 code 20429.
    #[arg(long, env = "PREGON_SIMULATE_THROTTLE_RATE", default_value_t = 0.0)]
    pub throttle_rate: f64,

    /// Recipients that always fail (E.164): Meta 131026, Twilio 21211 on the send, or with
    /// `--fail-async` a `failed` status webhook (Meta 131026, Twilio 63024) after acceptance.
    #[arg(long, env = "PREGON_SIMULATE_FAIL_NUMBERS", value_delimiter = ',')]
    pub fail_numbers: Vec<String>,

    /// Accept sends to `--fail-numbers` and fail them later through a status webhook.
    #[arg(long, env = "PREGON_SIMULATE_FAIL_ASYNC")]
    pub fail_async: bool,

    /// Sends per second each sender number (Meta phone_number_id, Twilio From) may make, over
    /// any one-second window; more answers Meta 130429 / Twilio 63018. 0 = no limit.
    #[arg(long, env = "PREGON_SIMULATE_MPS", default_value_t = defaults::MPS)]
    pub mps: u32,

    /// Extra sends a one-second window may hold beyond `--mps` before it answers 130429 /
    /// 63018. The limit is measured on arrival, where network and scheduling jitter can
    /// bunch a client's evenly paced sends; a few here absorb that. 0 = strict.
    #[arg(long, env = "PREGON_SIMULATE_MPS_BURST", default_value_t = 0)]
    pub mps_burst: u32,

    /// Pair rate: the least gap, in milliseconds, between two accepted messages from one
    /// sender to one recipient; a closer one answers Meta 131056 / Twilio 63018. 0 = off.
    #[arg(long, env = "PREGON_SIMULATE_PAIR_GAP_MS", default_value_t = defaults::PAIR_GAP_MS)]
    pub pair_gap_ms: u64,

    /// Where Meta status webhooks go (pregon: `http://127.0.0.1:8080/webhooks/meta`). None
    /// are sent when unset.
    #[arg(long, env = "PREGON_SIMULATE_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// Meta app secret signing the webhooks (`X-Hub-Signature-256`). Unsigned when unset.
    #[arg(long, env = "PREGON_SIMULATE_APP_SECRET", hide_env_values = true)]
    pub app_secret: Option<String>,

    /// Where Twilio status callbacks go when a send carries no `StatusCallback`. None are
    /// sent when neither is there.
    #[arg(long, env = "PREGON_SIMULATE_TWILIO_WEBHOOK_URL")]
    pub twilio_webhook_url: Option<String>,

    /// Milliseconds from acceptance to the `sent` (or async `failed`) webhook.
    #[arg(long, env = "PREGON_SIMULATE_SENT_DELAY_MS", default_value_t = defaults::SENT_DELAY_MS)]
    pub sent_delay_ms: u64,

    /// Milliseconds from the `sent` webhook to `delivered`.
    #[arg(long, env = "PREGON_SIMULATE_DELIVERED_DELAY_MS", default_value_t = defaults::DELIVERED_DELAY_MS)]
    pub delivered_delay_ms: u64,

    /// Milliseconds from the `delivered` webhook to `read`.
    #[arg(long, env = "PREGON_SIMULATE_READ_DELAY_MS", default_value_t = defaults::READ_DELAY_MS)]
    pub read_delay_ms: u64,

    /// Fraction (0 to 1) of sent messages that are delivered; the rest stay `sent`.
    #[arg(long, env = "PREGON_SIMULATE_DELIVERED_FRACTION", default_value_t = defaults::DELIVERED_FRACTION)]
    pub delivered_fraction: f64,

    /// Fraction (0 to 1) of delivered messages that are read.
    #[arg(long, env = "PREGON_SIMULATE_READ_FRACTION", default_value_t = defaults::READ_FRACTION)]
    pub read_fraction: f64,

    /// Fraction (0 to 1) of accepted messages that fail later, with a `failed` webhook
    /// (Meta 131049, Twilio 63049: not delivered to keep the ecosystem healthy).
    #[arg(long, env = "PREGON_SIMULATE_ASYNC_FAILURE_RATE", default_value_t = 0.0)]
    pub async_failure_rate: f64,

    /// Further tries of a webhook the receiver did not answer with 2xx (after 0.25 s, 1 s, …).
    #[arg(long, env = "PREGON_SIMULATE_WEBHOOK_RETRIES", default_value_t = defaults::WEBHOOK_RETRIES)]
    pub webhook_retries: u32,

    /// Tasks posting webhooks at once.
    #[arg(long, env = "PREGON_SIMULATE_WEBHOOK_WORKERS", default_value_t = defaults::WEBHOOK_WORKERS)]
    pub webhook_workers: usize,

    /// Webhooks waiting at most; past it new ones are dropped (counted as `webhooks_dropped`)
    /// so that the API never slows down.
    #[arg(long, env = "PREGON_SIMULATE_WEBHOOK_QUEUE", default_value_t = defaults::WEBHOOK_QUEUE)]
    pub webhook_queue: usize,

    /// Timeout of one webhook POST, in milliseconds.
    #[arg(long, env = "PREGON_SIMULATE_WEBHOOK_TIMEOUT_MS", default_value_t = defaults::WEBHOOK_TIMEOUT_MS)]
    pub webhook_timeout_ms: u64,

    /// Seed of every random choice (latency, error mix, ids, webhook fates), for runs that
    /// repeat. Random when unset.
    #[arg(long, env = "PREGON_SIMULATE_SEED")]
    pub seed: Option<u64>,

    /// A JSON file holding an array of Meta template objects (`name`, `language`,
    /// `category`, `status`, `quality_score`, `parameter_format`, `components`, as `GET
    /// /{waba_id}/message_templates` answers): the templates the simulator knows. They are
    /// listed, page by page, by `GET /{v}/{waba_id}/message_templates`; their category prices
    /// status webhooks; their status decides sends (PAUSED answers 132015, DISABLED 132016,
    /// others but APPROVED 132001). A name not in the file is APPROVED in every language, as
    /// before.
    #[arg(long, env = "PREGON_SIMULATE_TEMPLATES")]
    pub templates: Option<PathBuf>,

    /// Template status changes at a time after start, each `NAME[/LANGUAGE]=EVENT@MS`
    /// (`promo/es=PAUSED@5000,promo/es=APPROVED@20000`): the template's status changes and a
    /// signed `message_template_status_update` webhook goes out. Without a language, every
    /// language the simulator knows for that name. `POST /control/templates/status` does the
    /// same on demand.
    #[arg(long, env = "PREGON_SIMULATE_TEMPLATE_EVENTS", value_delimiter = ',')]
    pub template_events: Vec<String>,

    /// Template names under template pacing: sends answer `message_status:
    /// held_for_quality_assessment`, and their first status webhook comes after
    /// `--pacing-hold-ms`: `sent` (then the rest), or `failed` with 132015 if the template was
    /// paused or disabled meanwhile.
    #[arg(long, env = "PREGON_SIMULATE_PACED_TEMPLATES", value_delimiter = ',')]
    pub paced_templates: Vec<String>,

    /// How long, in milliseconds, a paced message is held before its fate is decided.
    #[arg(long, env = "PREGON_SIMULATE_PACING_HOLD_MS", default_value_t = defaults::PACING_HOLD_MS)]
    pub pacing_hold_ms: u64,

    /// Recipients (E.164) who stopped marketing messages from the start: Meta sends of
    /// MARKETING templates to them answer 131050 (or, with `--fail-async`, fail with it in a
    /// webhook); utility and authentication templates still go. `POST
    /// /control/user-preferences` stops and resumes others.
    #[arg(long, env = "PREGON_SIMULATE_MARKETING_STOPPED_NUMBERS", value_delimiter = ',')]
    pub marketing_stopped_numbers: Vec<String>,

    /// Meta error codes for chosen recipients, each `NUMBER=CODE`
    /// (`+584121234567=131049,+584149876543=130472`): the send answers that error (400), or
    /// with `--fail-async` is accepted and fails with it in a `failed` webhook.
    #[arg(long, env = "PREGON_SIMULATE_META_FAIL_CODES", value_delimiter = ',')]
    pub meta_fail_codes: Vec<String>,

    /// Twilio error codes for chosen recipients, each `NUMBER=CODE`
    /// (`+584121234567=63014,+584149876543=63049`): the message is accepted (201), then its
    /// status callback says `failed` with that `ErrorCode`, as Twilio reports WhatsApp
    /// channel errors (63014, 63016, 63018, 63024, 63025, 63032, 63049, 63062, 30036…).
    #[arg(long, env = "PREGON_SIMULATE_TWILIO_FAIL_CODES", value_delimiter = ',')]
    pub twilio_fail_codes: Vec<String>,

    /// Put business-scoped user IDs (`user_id`, `recipient_user_id`, `from_user_id`) in every
    /// Meta status and inbound webhook, as Meta does since 2026-03-31. Sends to a BSUID
    /// (`recipient` instead of `to`) always get them.
    #[arg(long, env = "PREGON_SIMULATE_USER_IDS")]
    pub user_ids: bool,

    /// Recipients whose messages Meta does not charge, each `NUMBER=TYPE` with TYPE
    /// `free_customer_service` (inside the 24-hour window) or `free_entry_point` (after an
    /// ad click): their statuses carry `pricing.type` TYPE and `billable: false`. Everyone
    /// else's are `regular` and billable, in the category the template was sent with.
    #[arg(long, env = "PREGON_SIMULATE_FREE_NUMBERS", value_delimiter = ',')]
    pub free_numbers: Vec<String>,

    /// The numbers' throughput level at start (`GET /{v}/{phone_number_id}` answers it as
    /// `throughput.level`). `POST /control/throughput` upgrades it.
    #[arg(long, env = "PREGON_SIMULATE_THROUGHPUT_LEVEL", value_enum, default_value_t = Throughput::Standard)]
    pub throughput_level: Throughput,

    /// Sends per second a Meta number may make once its throughput is HIGH (instead of
    /// `--mps`, if higher). Ignored with `--mps 0`.
    #[arg(long, env = "PREGON_SIMULATE_HIGH_MPS", default_value_t = defaults::HIGH_MPS)]
    pub high_mps: u32,
}

/// A number's throughput level.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Throughput {
    /// 80 messages per second (`--mps`).
    #[default]
    Standard,
    /// 1,000 messages per second (`--high-mps`).
    High,
}

impl Throughput {
    /// Meta's name of the level.
    pub fn as_meta(self) -> &'static str {
        match self {
            Self::Standard => "STANDARD",
            Self::High => "HIGH",
        }
    }
}

/// A template status change planned at start (`--template-events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateEventPlan {
    pub name: String,
    /// `None`: every language known for the name.
    pub language: Option<String>,
    /// Meta's event name: `APPROVED`, `PAUSED`, `DISABLED`, `REJECTED`, `REINSTATED`, …
    pub event: String,
    /// After the start.
    pub after: Duration,
}

impl TemplateEventPlan {
    /// Reads `NAME[/LANGUAGE]=EVENT@MS`.
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let bad = || anyhow::anyhow!("--template-events: {spec:?} is not NAME[/LANGUAGE]=EVENT@MS");
        let (target, rest) = spec.trim().split_once('=').ok_or_else(bad)?;
        let (event, ms) = rest.split_once('@').ok_or_else(bad)?;
        let (name, language) = match target.split_once('/') {
            Some((n, l)) => (n.trim(), Some(l.trim().to_string()).filter(|l| !l.is_empty())),
            None => (target.trim(), None),
        };
        let event = event.trim().to_ascii_uppercase();
        let ms: u64 = ms.trim().parse().map_err(|_| bad())?;
        if name.is_empty() || event.is_empty() || !crate::catalog::is_template_event(&event) {
            return Err(bad());
        }
        Ok(TemplateEventPlan {
            name: name.to_string(),
            language,
            event,
            after: Duration::from_millis(ms),
        })
    }
}

/// Reads `NUMBER=CODE` pairs into recipient digits → code.
fn fail_codes(flag: &str, pairs: Vec<String>) -> anyhow::Result<HashMap<String, u32>> {
    let mut out = HashMap::new();
    for pair in pairs.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let bad = || anyhow::anyhow!("{flag}: {pair:?} is not NUMBER=CODE (+584121234567=131049)");
        let (number, code) = pair.split_once('=').ok_or_else(bad)?;
        let digits = crate::phone::digits(number).ok_or_else(bad)?;
        out.insert(digits, code.trim().parse().map_err(|_| bad())?);
    }
    Ok(out)
}

/// `NUMBER=TYPE` pairs of `--free-numbers`, by recipient digits.
fn free_numbers(pairs: Vec<String>) -> anyhow::Result<HashMap<String, &'static str>> {
    let mut out = HashMap::new();
    for pair in pairs.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let bad = || {
            anyhow::anyhow!(
                "--free-numbers: {pair:?} is not NUMBER=TYPE (+584121234567=free_customer_service or =free_entry_point)"
            )
        };
        let (number, kind) = pair.split_once('=').ok_or_else(bad)?;
        let digits = crate::phone::digits(number).ok_or_else(bad)?;
        let kind = match kind.trim() {
            "free_customer_service" => "free_customer_service",
            "free_entry_point" => "free_entry_point",
            _ => return Err(bad()),
        };
        out.insert(digits, kind);
    }
    Ok(out)
}

/// How answer latency is drawn around its mean.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatencyDistribution {
    /// Evenly between mean − jitter and mean + jitter.
    #[default]
    Uniform,
    /// Normal, with the jitter as standard deviation, cut at 0 and at mean + 4 × jitter.
    Normal,
}

/// Latency of the API answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Mean delay before an answer.
    pub mean: Duration,
    /// Spread around the mean (see [`LatencyDistribution`]); zero makes it fixed.
    pub jitter: Duration,
    pub distribution: LatencyDistribution,
}

impl Latency {
    /// Always exactly `delay`.
    pub fn fixed(delay: Duration) -> Self {
        Latency {
            mean: delay,
            jitter: Duration::ZERO,
            distribution: LatencyDistribution::Uniform,
        }
    }
}

/// Status webhooks: where they go, how they are signed, when and how often each status comes.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// Meta webhook URL; no Meta webhooks without it.
    pub meta_url: Option<String>,
    /// Meta app secret for `X-Hub-Signature-256`; unsigned without it.
    pub app_secret: Option<String>,
    /// Twilio status callback URL when a send carries no `StatusCallback`.
    pub twilio_url: Option<String>,
    /// Acceptance → `sent` (or async `failed`).
    pub sent_delay: Duration,
    /// `sent` → `delivered`.
    pub delivered_delay: Duration,
    /// `delivered` → `read`.
    pub read_delay: Duration,
    /// Share of sent messages that get `delivered`.
    pub delivered_fraction: f64,
    /// Share of delivered messages that get `read`.
    pub read_fraction: f64,
    /// Share of accepted messages that get `failed` instead.
    pub async_failure_rate: f64,
    /// Further tries of a webhook that was not answered 2xx.
    pub retries: u32,
    /// Concurrent webhook posters.
    pub workers: usize,
    /// Most webhooks waiting; new ones beyond it are dropped.
    pub queue: usize,
    /// Timeout of one POST.
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            meta_url: None,
            app_secret: None,
            twilio_url: None,
            sent_delay: Duration::from_millis(defaults::SENT_DELAY_MS),
            delivered_delay: Duration::from_millis(defaults::DELIVERED_DELAY_MS),
            read_delay: Duration::from_millis(defaults::READ_DELAY_MS),
            delivered_fraction: defaults::DELIVERED_FRACTION,
            read_fraction: defaults::READ_FRACTION,
            async_failure_rate: 0.0,
            retries: defaults::WEBHOOK_RETRIES,
            workers: defaults::WEBHOOK_WORKERS,
            queue: defaults::WEBHOOK_QUEUE,
            timeout: Duration::from_millis(defaults::WEBHOOK_TIMEOUT_MS),
        }
    }
}

/// Everything a [`crate::Simulator`] needs. [`Config::default`] matches the flags' defaults;
/// tests usually set `listen` to port 0 and `latency` to [`Latency::fixed`] zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    /// Meta bearer tokens accepted; empty = any token not in `bad_tokens`.
    pub access_tokens: HashSet<String>,
    /// Meta bearer tokens and Twilio auth tokens refused.
    pub bad_tokens: HashSet<String>,
    /// Meta templates that are not approved.
    pub unapproved_templates: HashSet<String>,
    pub waba_id: String,
    pub display_phone_number: String,
    /// The Twilio auth token every account must use; any (not bad) when unset.
    pub auth_token: Option<String>,
    pub latency: Latency,
    pub error_rate_5xx: f64,
    pub throttle_rate: f64,
    /// Recipients that always fail, in any usual spelling (`+58…`, `58…`, `whatsapp:+58…`).
    pub fail_numbers: HashSet<String>,
    /// Fail `fail_numbers` through a webhook instead of on the send.
    pub fail_async: bool,
    /// Sends per second per sender over any one-second window; 0 = no limit.
    pub mps: u32,
    /// Sends a one-second window may hold beyond `mps` (jitter allowance).
    pub mps_burst: u32,
    /// Least gap between two messages from one sender to one recipient; zero = off.
    pub pair_gap: Duration,
    pub webhooks: WebhookConfig,
    pub seed: Option<u64>,
    /// The templates the simulator knows (`--templates`).
    pub templates: Vec<TemplateSpec>,
    /// Template status changes planned at start.
    pub template_events: Vec<TemplateEventPlan>,
    /// Template names under template pacing.
    pub paced_templates: HashSet<String>,
    /// How long a paced message is held.
    pub pacing_hold: Duration,
    /// Recipients who stopped marketing messages from the start.
    pub marketing_stopped_numbers: HashSet<String>,
    /// Recipient digits → the Meta error code they get.
    pub meta_fail_codes: HashMap<String, u32>,
    /// Recipient digits → the Twilio error code their status callback reports.
    pub twilio_fail_codes: HashMap<String, u32>,
    /// BSUIDs in every Meta status and inbound webhook.
    pub user_ids: bool,
    /// Recipient digits → the free `pricing.type` their statuses carry.
    pub free_numbers: HashMap<String, &'static str>,
    /// The numbers' throughput level at start.
    pub throughput: Throughput,
    /// Sends per second per Meta number once its throughput is HIGH.
    pub high_mps: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: defaults::LISTEN.parse().expect("a socket address"),
            access_tokens: HashSet::new(),
            bad_tokens: HashSet::new(),
            unapproved_templates: HashSet::new(),
            waba_id: defaults::WABA_ID.into(),
            display_phone_number: defaults::DISPLAY_PHONE_NUMBER.into(),
            auth_token: None,
            latency: Latency {
                mean: Duration::from_millis(defaults::LATENCY_MS),
                jitter: Duration::from_millis(defaults::LATENCY_JITTER_MS),
                distribution: LatencyDistribution::Uniform,
            },
            error_rate_5xx: 0.0,
            throttle_rate: 0.0,
            fail_numbers: HashSet::new(),
            fail_async: false,
            mps: defaults::MPS,
            mps_burst: 0,
            pair_gap: Duration::from_millis(defaults::PAIR_GAP_MS),
            webhooks: WebhookConfig::default(),
            seed: None,
            templates: Vec::new(),
            template_events: Vec::new(),
            paced_templates: HashSet::new(),
            pacing_hold: Duration::from_millis(defaults::PACING_HOLD_MS),
            marketing_stopped_numbers: HashSet::new(),
            meta_fail_codes: HashMap::new(),
            twilio_fail_codes: HashMap::new(),
            user_ids: false,
            free_numbers: HashMap::new(),
            throughput: Throughput::Standard,
            high_mps: defaults::HIGH_MPS,
        }
    }
}

impl Config {
    /// Checks what the types cannot: fractions within 0..=1, webhook URLs that parse,
    /// phone numbers that are numbers.
    pub fn validate(&self) -> anyhow::Result<()> {
        let w = &self.webhooks;
        for (name, value) in [
            ("--error-rate-5xx", self.error_rate_5xx),
            ("--throttle-rate", self.throttle_rate),
            ("--delivered-fraction", w.delivered_fraction),
            ("--read-fraction", w.read_fraction),
            ("--async-failure-rate", w.async_failure_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                bail!("{name} must be between 0 and 1, not {value}");
            }
        }
        for (name, url) in [("--webhook-url", &w.meta_url), ("--twilio-webhook-url", &w.twilio_url)] {
            if let Some(url) = url {
                let parsed = reqwest::Url::parse(url).with_context(|| format!("{name} {url:?} is not a URL"))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    bail!("{name} must be an http:// or https:// URL, not {url:?}");
                }
            }
        }
        for (flag, numbers) in [
            ("--fail-numbers", &self.fail_numbers),
            ("--marketing-stopped-numbers", &self.marketing_stopped_numbers),
        ] {
            for number in numbers {
                if crate::phone::digits(number).is_none() {
                    bail!("{flag}: {number:?} is not a phone number (E.164, e.g. +584121234567)");
                }
            }
        }
        for (flag, codes) in [
            ("--meta-fail-codes", &self.meta_fail_codes),
            ("--twilio-fail-codes", &self.twilio_fail_codes),
        ] {
            for number in codes.keys() {
                if crate::phone::digits(number).is_none() {
                    bail!("{flag}: {number:?} is not a phone number");
                }
            }
        }
        if w.workers == 0 || w.queue == 0 {
            bail!("--webhook-workers and --webhook-queue must be at least 1");
        }
        Ok(())
    }
}

impl TryFrom<SimulateArgs> for Config {
    type Error = anyhow::Error;

    fn try_from(a: SimulateArgs) -> anyhow::Result<Self> {
        let trimmed = |list: Vec<String>| -> HashSet<String> {
            list.into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let config = Config {
            listen: a.listen,
            access_tokens: trimmed(a.access_tokens),
            bad_tokens: trimmed(a.bad_tokens),
            unapproved_templates: trimmed(a.unapproved_templates),
            waba_id: a.waba_id,
            display_phone_number: a.display_phone_number,
            auth_token: a.auth_token,
            latency: Latency {
                mean: Duration::from_millis(a.latency_ms),
                jitter: Duration::from_millis(a.latency_jitter_ms),
                distribution: a.latency_distribution,
            },
            error_rate_5xx: a.error_rate_5xx,
            throttle_rate: a.throttle_rate,
            fail_numbers: trimmed(a.fail_numbers),
            fail_async: a.fail_async,
            mps: a.mps,
            mps_burst: a.mps_burst,
            pair_gap: Duration::from_millis(a.pair_gap_ms),
            webhooks: WebhookConfig {
                meta_url: a.webhook_url,
                app_secret: a.app_secret,
                twilio_url: a.twilio_webhook_url,
                sent_delay: Duration::from_millis(a.sent_delay_ms),
                delivered_delay: Duration::from_millis(a.delivered_delay_ms),
                read_delay: Duration::from_millis(a.read_delay_ms),
                delivered_fraction: a.delivered_fraction,
                read_fraction: a.read_fraction,
                async_failure_rate: a.async_failure_rate,
                retries: a.webhook_retries,
                workers: a.webhook_workers,
                queue: a.webhook_queue,
                timeout: Duration::from_millis(a.webhook_timeout_ms),
            },
            seed: a.seed,
            templates: match &a.templates {
                Some(path) => crate::catalog::read_templates(path)?,
                None => Vec::new(),
            },
            template_events: a
                .template_events
                .iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| TemplateEventPlan::parse(s))
                .collect::<anyhow::Result<_>>()?,
            paced_templates: trimmed(a.paced_templates),
            pacing_hold: Duration::from_millis(a.pacing_hold_ms),
            marketing_stopped_numbers: trimmed(a.marketing_stopped_numbers),
            meta_fail_codes: fail_codes("--meta-fail-codes", a.meta_fail_codes)?,
            twilio_fail_codes: fail_codes("--twilio-fail-codes", a.twilio_fail_codes)?,
            user_ids: a.user_ids,
            free_numbers: free_numbers(a.free_numbers)?,
            throughput: a.throughput_level,
            high_mps: a.high_mps,
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn parse(argv: &[&str]) -> anyhow::Result<Config> {
        let cli = Cli::try_parse_from(std::iter::once("simulate").chain(argv.iter().copied()))?;
        Config::try_from(cli.args)
    }

    #[test]
    fn the_defaults_match_config_default() {
        assert_eq!(parse(&[]).unwrap(), Config::default());
    }

    #[test]
    fn reads_the_documented_flags() {
        let c = parse(&[
            "--listen",
            "127.0.0.1:9191",
            "--latency-ms",
            "50",
            "--latency-jitter-ms",
            "0",
            "--error-rate-5xx",
            "0.01",
            "--throttle-rate",
            "0.02",
            "--fail-numbers",
            "+584121234567,+584149876543",
            "--fail-async",
            "--mps",
            "10",
            "--pair-gap-ms",
            "0",
            "--bad-tokens",
            "expired",
            "--webhook-url",
            "http://127.0.0.1:8080/webhooks/meta",
            "--app-secret",
            "s3cret",
            "--read-fraction",
            "1",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9191".parse().unwrap());
        assert_eq!(c.latency, Latency::fixed(Duration::from_millis(50)));
        assert_eq!(c.fail_numbers.len(), 2);
        assert!(c.fail_async);
        assert_eq!((c.mps, c.pair_gap), (10, Duration::ZERO));
        assert!(c.bad_tokens.contains("expired"));
        assert_eq!(
            c.webhooks.meta_url.as_deref(),
            Some("http://127.0.0.1:8080/webhooks/meta")
        );
        assert_eq!(c.webhooks.read_fraction, 1.0);
        assert_eq!(c.seed, Some(7));
    }

    #[test]
    fn reads_the_2026_flags() {
        let dir = tempfile_dir();
        let file = dir.join("templates.json");
        std::fs::write(
            &file,
            r#"[{"name": "promo", "language": "es", "category": "MARKETING",
                 "components": [{"type": "BODY", "text": "Hola {{1}}"}]},
                {"name": "saldo", "language": "es", "category": "UTILITY", "status": "PAUSED",
                 "quality_score": {"score": "RED"}}]"#,
        )
        .unwrap();
        let c = parse(&[
            "--templates",
            file.to_str().unwrap(),
            "--template-events",
            "promo/es=paused@5000,saldo=APPROVED@0",
            "--paced-templates",
            "promo",
            "--pacing-hold-ms",
            "100",
            "--marketing-stopped-numbers",
            "+584121234567",
            "--meta-fail-codes",
            "+584141111111=131049",
            "--twilio-fail-codes",
            "+584142222222=63014,+584143333333=30036",
            "--user-ids",
            "--free-numbers",
            "+584144444444=free_customer_service,+584145555555=free_entry_point",
            "--throughput-level",
            "high",
            "--high-mps",
            "500",
        ])
        .unwrap();
        assert_eq!(c.templates.len(), 2);
        assert_eq!(c.templates[1].status, "PAUSED");
        assert_eq!(
            c.template_events,
            [
                TemplateEventPlan {
                    name: "promo".into(),
                    language: Some("es".into()),
                    event: "PAUSED".into(),
                    after: Duration::from_millis(5000)
                },
                TemplateEventPlan {
                    name: "saldo".into(),
                    language: None,
                    event: "APPROVED".into(),
                    after: Duration::ZERO
                }
            ]
        );
        assert!(c.paced_templates.contains("promo"));
        assert_eq!(c.pacing_hold, Duration::from_millis(100));
        assert!(c.marketing_stopped_numbers.contains("+584121234567"));
        assert_eq!(c.meta_fail_codes["584141111111"], 131049);
        assert_eq!(c.twilio_fail_codes["584143333333"], 30036);
        assert!(c.user_ids);
        assert_eq!(c.free_numbers["584144444444"], "free_customer_service");
        assert_eq!(c.free_numbers["584145555555"], "free_entry_point");
        assert!(parse(&["--free-numbers", "+584144444444=premium"]).is_err());
        assert_eq!((c.throughput, c.high_mps), (Throughput::High, 500));
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pregon-sim-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn refuses_nonsense() {
        assert!(parse(&["--template-events", "promo=PAUSED"]).is_err());
        assert!(parse(&["--template-events", "promo=EXPLODED@10"]).is_err());
        assert!(parse(&["--template-events", "=PAUSED@10"]).is_err());
        assert!(parse(&["--meta-fail-codes", "+584121234567"]).is_err());
        assert!(parse(&["--twilio-fail-codes", "nope=63014"]).is_err());
        assert!(parse(&["--twilio-fail-codes", "+584121234567=x"]).is_err());
        assert!(parse(&["--marketing-stopped-numbers", "abc"]).is_err());
        assert!(parse(&["--templates", "/nonexistent/templates.json"]).is_err());
        assert!(parse(&["--error-rate-5xx", "1.5"]).is_err());
        assert!(parse(&["--webhook-url", "not a url"]).is_err());
        assert!(parse(&["--twilio-webhook-url", "ftp://x/y"]).is_err());
        assert!(parse(&["--fail-numbers", "+58abc"]).is_err());
        assert!(parse(&["--webhook-workers", "0"]).is_err());
    }
}
