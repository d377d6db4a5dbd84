//! The process's metrics, exported as OpenMetrics text on `/metrics` (`prometheus-client`).
//!
//! Two kinds of series (README "Metrics"):
//!
//! - **Counters and histograms of this process**: outcomes, attempts, provider latency,
//!   webhooks, lease changes, HTTP requests. Each process of a scale-out exports its own;
//!   Prometheus adds them up across instances (`sum without (instance)`).
//! - **Gauges read from the database at scrape** ([`StoreGauges`]): queue depth by sender,
//!   notifications pending and failed, running campaigns. They are global: every process
//!   reports the same values, so take `max` across instances rather than `sum`.
//!
//! Cardinality is bounded by design: labels are tenant ids, sender ids, providers, route
//! templates and closed enums, never a campaign, a message or a phone number.
//!
//! [`Metrics`] also keeps the few plain counters the dispatcher itself reads (its
//! heartbeat's achieved rate, [`crate::dispatch::Dispatcher::run_once`]'s progress check).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use pregon_domain::ProviderKind;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

mod process;

pub use process::ProcessCollector;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A provider, as a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Provider(pub ProviderKind);

impl EncodeLabelValue for Provider {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.0.as_str(), encoder)
    }
}

/// The final status an attempt's outcome gives a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum FinalStatus {
    sent,
    failed,
    expired,
    skipped,
    unknown,
}

/// How a provider answered one request: accepted, or the retry classifier's class of the
/// refusal (providers.md: retryable, permanent, sender, campaign), with throttling and
/// ambiguous answers (a timeout after the request left: `unknown`) told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum AttemptClass {
    accepted,
    retryable,
    throttled,
    permanent,
    sender,
    campaign,
    ambiguous,
}

/// What became of a sender lease this process held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum LeaseChange {
    /// Taken (first owner, or after another's expired).
    acquired,
    /// Given back: the work done, shutdown, the sender paused.
    released,
    /// Renewal failed: another dispatcher owns it now.
    lost,
}

/// How a provider webhook was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum WebhookResult {
    /// 2xx: recorded (or authentic and about nothing pregon serves).
    recorded,
    /// 401/403: the signature did not verify.
    unauthorized,
    /// Another 4xx: malformed.
    rejected,
    /// 5xx: not recorded; the provider retries.
    failed,
}

/// An HTTP status class: `2xx`, `4xx`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    Informational,
    Success,
    Redirection,
    ClientError,
    ServerError,
}

impl EncodeLabelValue for StatusClass {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let class = match self {
            Self::Informational => "1xx",
            Self::Success => "2xx",
            Self::Redirection => "3xx",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
        };
        EncodeLabelValue::encode(&class, encoder)
    }
}

impl StatusClass {
    pub fn of(status: u16) -> Self {
        match status {
            0..=199 => Self::Informational,
            200..=299 => Self::Success,
            300..=399 => Self::Redirection,
            400..=499 => Self::ClientError,
            _ => Self::ServerError,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MessageLabels {
    pub tenant: String,
    pub sender: String,
    pub status: FinalStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AttemptLabels {
    pub sender: String,
    pub outcome: AttemptClass,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProviderSenderLabels {
    pub provider: Provider,
    pub sender: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SenderLabels {
    pub sender: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct LeaseLabels {
    pub sender: String,
    pub change: LeaseChange,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct WebhookLabels {
    pub provider: Provider,
    pub result: WebhookResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: Provider,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route template (`/api/v1/campaigns/{id}`), never the raw path; `unmatched` for
    /// what no route took.
    pub route: String,
    pub method: String,
    pub status: StatusClass,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub method: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct QueueLabels {
    pub tenant: String,
    pub sender: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NotificationLabels {
    pub state: NotificationState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum NotificationState {
    pending,
    failed,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;
type RateGauge = Gauge<f64, AtomicU64>;

/// Latency buckets, 5 ms to about 20 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Webhook lag buckets, 100 ms to about 27 min.
fn lag_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 15))
}

/// This process's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    messages: Family<MessageLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    provider_duration: HistogramFamily<ProviderSenderLabels>,
    configured_rate: Family<SenderLabels, RateGauge>,
    in_flight: Family<SenderLabels, Gauge>,
    webhooks: Family<WebhookLabels, Counter>,
    webhook_lag: HistogramFamily<ProviderLabels>,
    leases: Family<LeaseLabels, Counter>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    senders_owned_gauge: Gauge,
    // What the dispatcher reads back.
    pub(crate) sent: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) unknown: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) skipped: AtomicU64,
    senders_owned: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let messages = Family::<MessageLabels, Counter>::default();
        registry.register(
            "pregon_messages",
            "Messages given a final status by this process's attempts, by tenant, sender and status",
            messages.clone(),
        );
        let attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "pregon_attempts",
            "Provider requests made by this process, by sender and how the provider answered",
            attempts.clone(),
        );
        let provider_duration: HistogramFamily<ProviderSenderLabels> = Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "pregon_provider_request_duration",
            "How long provider requests took, by provider and sender",
            Unit::Seconds,
            provider_duration.clone(),
        );
        let configured_rate = Family::<SenderLabels, RateGauge>::default();
        registry.register(
            "pregon_sender_configured_rate",
            "Messages per second configured for each sender this process sends for (compare with rate(pregon_attempts_total))",
            configured_rate.clone(),
        );
        let in_flight = Family::<SenderLabels, Gauge>::default();
        registry.register(
            "pregon_provider_requests_in_flight",
            "Provider requests on their way now, by sender",
            in_flight.clone(),
        );
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "pregon_webhook_requests",
            "Provider webhooks received, by provider and how they were answered",
            webhooks.clone(),
        );
        let webhook_lag: HistogramFamily<ProviderLabels> = Family::new_with_constructor(lag_histogram);
        registry.register_with_unit(
            "pregon_webhook_lag",
            "From the provider's timestamp of a status report to its recording (providers that give one)",
            Unit::Seconds,
            webhook_lag.clone(),
        );
        let leases = Family::<LeaseLabels, Counter>::default();
        registry.register(
            "pregon_lease_changes",
            "Sender leases this process acquired, released or lost",
            leases.clone(),
        );
        let senders_owned_gauge = Gauge::default();
        registry.register(
            "pregon_senders_owned",
            "Sender leases this process holds",
            senders_owned_gauge.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "pregon_http_requests",
            "HTTP requests answered, by route template, method and status class",
            http_requests.clone(),
        );
        let http_duration: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "pregon_http_request_duration",
            "How long HTTP requests took to answer (to the response head), by route template and method",
            Unit::Seconds,
            http_duration.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        Metrics {
            registry,
            messages,
            attempts,
            provider_duration,
            configured_rate,
            in_flight,
            webhooks,
            webhook_lag,
            leases,
            http_requests,
            http_duration,
            senders_owned_gauge,
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            senders_owned: AtomicI64::new(0),
        }
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    pub fn retried(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }
    pub fn unknown(&self) -> u64 {
        self.unknown.load(Ordering::Relaxed)
    }
    /// Messages whose time ran out (at the send, or in the scheduler's sweep).
    pub fn expired(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }
    /// Messages skipped at the send because the provider said the recipient opted out.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
    pub fn senders_owned(&self) -> i64 {
        self.senders_owned.load(Ordering::Relaxed)
    }
    /// Attempts whose outcome is recorded: sent, failed, retried, unknown, or refused for
    /// the recipient's opt-out.
    pub(crate) fn attempted(&self) -> u64 {
        self.sent() + self.failed() + self.retried() + self.unknown() + self.skipped()
    }

    pub(crate) fn set_senders_owned(&self, n: i64) {
        self.senders_owned.store(n, Ordering::Relaxed);
        self.senders_owned_gauge.set(n);
    }

    /// A message's final status, recorded by an attempt of this process.
    pub(crate) fn message_finished(&self, tenant: &str, sender: &str, status: FinalStatus) {
        self.messages
            .get_or_create(&MessageLabels {
                tenant: tenant.to_owned(),
                sender: sender.to_owned(),
                status,
            })
            .inc();
    }

    /// One provider request, how it was answered and how long it took.
    pub(crate) fn attempt(&self, provider: ProviderKind, sender: &str, outcome: AttemptClass, took: Duration) {
        self.attempts
            .get_or_create(&AttemptLabels {
                sender: sender.to_owned(),
                outcome,
            })
            .inc();
        self.provider_duration
            .get_or_create(&ProviderSenderLabels {
                provider: Provider(provider),
                sender: sender.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// A provider request leaves: counted in flight until the guard is dropped.
    pub(crate) fn request_started(&self, sender: &str) -> InFlight {
        let gauge = self.in_flight.get_or_create_owned(&SenderLabels {
            sender: sender.to_owned(),
        });
        gauge.inc();
        InFlight(gauge)
    }

    /// The sender's configured rate, while this process sends for it.
    pub(crate) fn set_configured_rate(&self, sender: &str, rate: f64) {
        self.configured_rate
            .get_or_create(&SenderLabels {
                sender: sender.to_owned(),
            })
            .set(rate);
    }

    /// The sender is no longer this process's: its in-flight series goes (another process
    /// may export it now). Its configured rate stays, as last seen here, so that the
    /// achieved rate (`rate(pregon_attempts_total[…])`, falling to 0) still has something to
    /// be compared with; take `max` across processes.
    pub(crate) fn sender_gone(&self, sender: &str) {
        self.in_flight.remove(&SenderLabels {
            sender: sender.to_owned(),
        });
    }

    pub(crate) fn lease_changed(&self, sender: &str, change: LeaseChange) {
        self.leases
            .get_or_create(&LeaseLabels {
                sender: sender.to_owned(),
                change,
            })
            .inc();
    }

    pub(crate) fn webhook(&self, provider: ProviderKind, status: u16) {
        let result = match StatusClass::of(status) {
            StatusClass::Success => WebhookResult::recorded,
            _ if status == 401 || status == 403 => WebhookResult::unauthorized,
            StatusClass::ServerError => WebhookResult::failed,
            _ => WebhookResult::rejected,
        };
        self.webhooks
            .get_or_create(&WebhookLabels {
                provider: Provider(provider),
                result,
            })
            .inc();
    }

    /// A status report recorded `lag` after the provider's timestamp of it.
    pub(crate) fn webhook_lag(&self, provider: ProviderKind, lag: Duration) {
        self.webhook_lag
            .get_or_create(&ProviderLabels {
                provider: Provider(provider),
            })
            .observe(lag.as_secs_f64());
    }

    pub(crate) fn http_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status: StatusClass::of(status),
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// The exposition: this process's series, then the database's gauges, then `# EOF`.
    pub fn render(&self, store: &StoreGauges) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode_registry(&mut out, &self.registry)?;
        prometheus_client::encoding::text::encode_registry(&mut out, &store.registry())?;
        prometheus_client::encoding::text::encode_eof(&mut out)?;
        Ok(out)
    }
}

/// A provider request in flight; dropping it counts it done (also when its task panics).
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The gauges read from the database at a scrape: the same in every process.
#[derive(Debug, Default)]
pub struct StoreGauges {
    /// Messages still owed an attempt, by tenant and sender.
    pub queue: Vec<(QueueLabels, i64)>,
    pub running_campaigns: i64,
    pub notifications_pending: i64,
    pub notifications_failed: i64,
}

impl StoreGauges {
    fn registry(&self) -> Registry {
        let mut registry = Registry::default();
        let queue = Family::<QueueLabels, Gauge>::default();
        for (labels, n) in &self.queue {
            queue.get_or_create(labels).set(*n);
        }
        registry.register(
            "pregon_queue_depth",
            "Messages still owed an attempt, by tenant and sender (from the database: global)",
            queue,
        );
        let running = Gauge::<i64, AtomicI64>::default();
        running.set(self.running_campaigns);
        registry.register(
            "pregon_running_campaigns",
            "Campaigns running (from the database: global)",
            running,
        );
        let notifications = Family::<NotificationLabels, Gauge>::default();
        for (state, n) in [
            (NotificationState::pending, self.notifications_pending),
            (NotificationState::failed, self.notifications_failed),
        ] {
            notifications.get_or_create(&NotificationLabels { state }).set(n);
        }
        registry.register(
            "pregon_notifications",
            "Campaign notifications still to deliver, and given up on (from the database: global)",
            notifications,
        );
        registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Label names across the exposition.
    fn label_names(text: &str) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some(open) = line.find('{') else { continue };
            let close = line.rfind('}').expect("a closing brace");
            for pair in line[open + 1..close].split("\",") {
                let name = pair.split('=').next().unwrap().trim_start_matches(',');
                names.insert(name.to_owned());
            }
        }
        names
    }

    #[test]
    fn no_series_is_labelled_by_campaign_message_or_phone() {
        let m = Metrics::new();
        // Every family gets a series, so that every label set is in the exposition.
        m.message_finished("ten_1", "snd_1", FinalStatus::sent);
        m.attempt(
            ProviderKind::Meta,
            "snd_1",
            AttemptClass::accepted,
            Duration::from_millis(3),
        );
        m.set_configured_rate("snd_1", 80.0);
        let guard = m.request_started("snd_1");
        m.lease_changed("snd_1", LeaseChange::acquired);
        m.webhook(ProviderKind::Twilio, 401);
        m.webhook_lag(ProviderKind::Meta, Duration::from_secs(2));
        m.http_request("/api/v1/campaigns/{id}", "GET", 200, Duration::from_millis(1));
        let store = StoreGauges {
            queue: vec![(
                QueueLabels {
                    tenant: "ten_1".into(),
                    sender: "snd_1".into(),
                },
                4,
            )],
            ..Default::default()
        };
        let text = m.render(&store).unwrap();
        drop(guard);
        let names = label_names(&text);
        let expected: std::collections::BTreeSet<String> = [
            "change", "le", "method", "outcome", "provider", "result", "route", "sender", "state", "status", "tenant",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(names, expected, "{text}");
        for forbidden in [
            "campaign",
            "campaign_id",
            "message",
            "message_id",
            "phone",
            "to",
            "path",
            "uri",
        ] {
            assert!(!names.contains(forbidden), "{forbidden} is a label:\n{text}");
        }
    }

    #[test]
    fn the_exposition_is_openmetrics_with_an_eof() {
        let m = Metrics::new();
        m.set_senders_owned(2);
        m.attempt(
            ProviderKind::Meta,
            "snd_1",
            AttemptClass::accepted,
            Duration::from_millis(3),
        );
        let store = StoreGauges {
            queue: vec![(
                QueueLabels {
                    tenant: "ten_1".into(),
                    sender: "snd_1".into(),
                },
                4,
            )],
            ..Default::default()
        };
        let text = m.render(&store).unwrap();
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
        assert!(text.contains("# TYPE pregon_queue_depth gauge"), "{text}");
        assert!(
            text.contains("\npregon_queue_depth{tenant=\"ten_1\",sender=\"snd_1\"} 4\n"),
            "{text}"
        );
        assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
        assert!(text.contains("\npregon_senders_owned 2\n"), "{text}");
        assert!(
            text.contains("# TYPE pregon_provider_request_duration_seconds histogram"),
            "{text}"
        );
    }

    #[test]
    fn in_flight_requests_are_counted_until_their_guard_drops() {
        let m = Metrics::new();
        let labels = SenderLabels { sender: "snd_1".into() };
        let a = m.request_started("snd_1");
        let b = m.request_started("snd_1");
        assert_eq!(m.in_flight.get_or_create(&labels).get(), 2);
        drop(a);
        assert_eq!(m.in_flight.get_or_create(&labels).get(), 1);
        drop(b);
        assert_eq!(m.in_flight.get_or_create(&labels).get(), 0);
    }

    #[test]
    fn webhook_answers_are_classed_by_status() {
        let m = Metrics::new();
        for status in [200, 401, 403, 400, 413, 503] {
            m.webhook(ProviderKind::Meta, status);
        }
        let get = |result| {
            m.webhooks
                .get_or_create(&WebhookLabels {
                    provider: Provider(ProviderKind::Meta),
                    result,
                })
                .get()
        };
        assert_eq!(get(WebhookResult::recorded), 1);
        assert_eq!(get(WebhookResult::unauthorized), 2);
        assert_eq!(get(WebhookResult::rejected), 2);
        assert_eq!(get(WebhookResult::failed), 1);
    }
}
