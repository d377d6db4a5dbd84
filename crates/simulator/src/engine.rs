//! The provider-neutral core: latency, the error mix, per-sender throughput and pair-rate
//! enforcement, the fate of accepted messages, and the statistics. Both wire formats
//! (`meta`, `twilio`) ask it what happens to a send and only translate the answer.
//!
//! All random choices come from one seeded generator behind one lock, so a run with the same
//! `--seed` and the same requests in the same order makes the same choices.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::config::{Config, LatencyDistribution, Throughput};
use crate::stats::{Counters, Stats, Window};
use crate::webhooks::{Failure, Queue};

/// Why a send is refused after its request was understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Injected by `--error-rate-5xx`.
    ServerError,
    /// Injected by `--throttle-rate`.
    Throttled,
    /// The sender went over `--mps` (+ `--mps-burst`) in the last second.
    SenderRate,
    /// Same sender, same recipient, within `--pair-gap-ms`.
    PairRate,
    /// A `--fail-numbers` recipient (without `--fail-async`).
    FailNumber,
    /// A failure chosen for this recipient (`--meta-fail-codes`, a stopped marketing
    /// recipient), answered on the send.
    Chosen(Failure),
}

/// What becomes of an accepted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// A `--fail-numbers` recipient with `--fail-async`: one `failed` webhook.
    FailNumber,
    /// Picked by `--async-failure-rate`: one `failed` webhook.
    AsyncFailure,
    /// A failure chosen for this recipient, reported by a `failed` webhook.
    Chosen(Failure),
    /// `sent`, then `delivered` and `read` as drawn.
    Lifecycle { delivered: bool, read: bool },
}

/// An accepted send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admission {
    /// Unique within this simulator, random-looking: the source of message ids.
    pub unique: u128,
    pub fate: Fate,
}

/// A send as the engine sees it.
pub(crate) struct Send<'a> {
    /// Meta phone_number_id or Twilio `From` (or `MessagingServiceSid`).
    pub sender: &'a str,
    /// Recipient digits (E.164 without `+`).
    pub recipient: &'a str,
    /// The rendered content, for duplicate detection: template + parameters, or body.
    pub content: &'a str,
    /// A failure this recipient always gets, after the rate checks.
    pub chosen: Option<Failure>,
    /// Report `chosen` through a webhook after accepting, instead of on the send.
    pub chosen_later: bool,
}

struct Inner {
    rng: StdRng,
    sequence: u64,
    /// Mixed into message ids, drawn once.
    id_key: u64,
    /// Sends admitted past the throughput check, per sender, over the last second.
    admitted: HashMap<String, Window>,
    /// Last accepted message per (sender, recipient) hash, for the pair rate.
    last_pair: HashMap<u64, Instant>,
    /// Pairs recorded since `last_pair` was last pruned.
    pairs_since_prune: u32,
    counters: Counters,
    /// Recipients (digits or BSUIDs) who stopped marketing messages.
    stopped: HashSet<String>,
    /// The numbers' throughput level.
    throughput: Throughput,
    /// Until when the numbers are being upgraded (sends answer 131057).
    upgrading_until: Option<Instant>,
    /// The Meta phone number id of the last send, for control requests that name none.
    last_phone_number_id: Option<String>,
}

/// State shared by every request handler.
pub(crate) struct Engine {
    pub config: Config,
    fail_numbers: HashSet<String>,
    inner: Mutex<Inner>,
    pub webhooks: Arc<Queue>,
    /// How far [`Engine::now`] runs ahead of the monotonic clock, in nanoseconds: moved by
    /// [`Engine::skip_ahead`], so that a test steps past a rate window instead of sleeping.
    skipped: AtomicU64,
    /// The templates and their state.
    pub catalog: Arc<Catalog>,
    /// Stops timers (planned template events, delayed control requests) with the simulator.
    pub cancel: CancellationToken,
}

/// A stable hash (SipHash with fixed keys): the same in every run.
pub(crate) fn hash_of(parts: &[&str]) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

impl Engine {
    pub(crate) fn new(config: Config, webhooks: Arc<Queue>, catalog: Arc<Catalog>, cancel: CancellationToken) -> Self {
        let fail_numbers = config
            .fail_numbers
            .iter()
            .filter_map(|n| crate::phone::digits(n))
            .collect();
        let stopped = config
            .marketing_stopped_numbers
            .iter()
            .filter_map(|n| crate::phone::digits(n))
            .collect();
        let mut rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let id_key = rng.gen();
        Engine {
            fail_numbers,
            inner: Mutex::new(Inner {
                rng,
                sequence: 0,
                id_key,
                admitted: HashMap::new(),
                last_pair: HashMap::new(),
                pairs_since_prune: 0,
                counters: Counters::default(),
                stopped,
                throughput: config.throughput,
                upgrading_until: None,
                last_phone_number_id: None,
            }),
            config,
            webhooks,
            skipped: AtomicU64::new(0),
            catalog,
            cancel,
        }
    }

    /// The time the limits and the statistics go by.
    fn now(&self) -> Instant {
        Instant::now() + Duration::from_nanos(self.skipped.load(Relaxed))
    }

    /// Moves the limits' and the statistics' time `by` ahead, as if it had passed.
    pub(crate) fn skip_ahead(&self, by: Duration) {
        self.skipped.fetch_add(by.as_nanos() as u64, Relaxed);
    }

    /// Whether a recipient (digits or BSUID) stopped marketing messages.
    pub(crate) fn stopped_marketing(&self, recipient: &str) -> bool {
        self.lock().stopped.contains(recipient)
    }

    /// Records a `stop` (true) or `resume` (false) for these recipients.
    pub(crate) fn set_marketing_stopped(&self, recipients: &[String], stopped: bool) {
        let mut inner = self.lock();
        for r in recipients {
            if stopped {
                inner.stopped.insert(r.clone());
            } else {
                inner.stopped.remove(r);
            }
        }
    }

    /// The numbers' throughput level now.
    pub(crate) fn throughput(&self) -> Throughput {
        self.lock().throughput
    }

    /// Sets the level, the upgrade taking `downtime` (sends answer 131057 meanwhile).
    pub(crate) fn set_throughput(&self, level: Throughput, downtime: std::time::Duration) {
        let now = self.now();
        let mut inner = self.lock();
        inner.throughput = level;
        inner.upgrading_until = (!downtime.is_zero()).then(|| now + downtime);
    }

    /// Whether the numbers are being upgraded right now.
    pub(crate) fn upgrading(&self) -> bool {
        let now = self.now();
        self.lock().upgrading_until.is_some_and(|until| now < until)
    }

    /// Remembers the Meta phone number id of a send.
    pub(crate) fn saw_phone_number_id(&self, id: &str) {
        let mut inner = self.lock();
        if inner.last_phone_number_id.as_deref() != Some(id) {
            inner.last_phone_number_id = Some(id.to_string());
        }
    }

    /// The Meta phone number id of the last send.
    pub(crate) fn last_phone_number_id(&self) -> Option<String> {
        self.lock().last_phone_number_id.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only counters behind: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a send request and draws its answer's latency.
    pub(crate) fn request(&self, sender: &str) -> Duration {
        let now = self.now();
        let mut inner = self.lock();
        inner.counters.request(sender, now);
        self.latency(&mut inner.rng)
    }

    /// Counts a lookup (credentials, templates) and draws its answer's latency.
    pub(crate) fn lookup(&self) -> Duration {
        let mut inner = self.lock();
        inner.counters.lookup();
        self.latency(&mut inner.rng)
    }

    /// Counts a send answered with error `code`.
    pub(crate) fn rejected(&self, code: impl std::fmt::Display) {
        self.lock().counters.rejected(&code.to_string());
    }

    /// Random hex, for ids that only need to look real (`fbtrace_id`).
    pub(crate) fn random_u64(&self) -> u64 {
        self.lock().rng.gen()
    }

    fn latency(&self, rng: &mut StdRng) -> Duration {
        let l = &self.config.latency;
        if l.jitter.is_zero() {
            return l.mean;
        }
        let (mean, jitter) = (l.mean.as_secs_f64(), l.jitter.as_secs_f64());
        let seconds = match l.distribution {
            LatencyDistribution::Uniform => rng.gen_range((mean - jitter).max(0.0)..=mean + jitter),
            LatencyDistribution::Normal => {
                // Box–Muller.
                let u1: f64 = 1.0 - rng.gen::<f64>();
                let u2: f64 = rng.gen();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (mean + z * jitter).clamp(0.0, mean + 4.0 * jitter)
            }
        };
        Duration::from_secs_f64(seconds)
    }

    /// Decides a well-formed, authenticated send: the error mix, then the sender's
    /// throughput, then the pair rate, then the failing numbers. An accepted send is counted
    /// and its fate drawn; a refused one is not counted here (the caller knows the code).
    pub(crate) fn decide(&self, send: &Send<'_>) -> Result<Admission, Refusal> {
        let now = self.now();
        let c = &self.config;
        let mut guard = self.lock();
        let inner = &mut *guard;
        if c.error_rate_5xx > 0.0 && inner.rng.gen_bool(c.error_rate_5xx) {
            return Err(Refusal::ServerError);
        }
        if c.throttle_rate > 0.0 && inner.rng.gen_bool(c.throttle_rate) {
            return Err(Refusal::Throttled);
        }
        let mps = match inner.throughput {
            Throughput::High if c.mps > 0 => c.mps.max(c.high_mps),
            _ => c.mps,
        };
        if mps > 0 {
            if !inner.admitted.contains_key(send.sender) {
                inner.admitted.insert(send.sender.to_string(), Window::default());
            }
            let window = inner.admitted.get_mut(send.sender).expect("just inserted");
            if window.count(now) >= mps.saturating_add(c.mps_burst) as usize {
                return Err(Refusal::SenderRate);
            }
            window.hit(now);
        }
        let pair = hash_of(&[send.sender, send.recipient]);
        if !c.pair_gap.is_zero() {
            if let Some(last) = inner.last_pair.get(&pair) {
                if now.duration_since(*last) < c.pair_gap {
                    return Err(Refusal::PairRate);
                }
            }
        }
        let failing = self.fail_numbers.contains(send.recipient);
        if failing && !c.fail_async {
            return Err(Refusal::FailNumber);
        }
        if let Some(failure) = send.chosen.filter(|_| !send.chosen_later) {
            return Err(Refusal::Chosen(failure));
        }

        if !c.pair_gap.is_zero() {
            inner.last_pair.insert(pair, now);
            // Forget pairs older than the gap now and then, so memory follows the rate, not
            // the number of recipients ever seen.
            inner.pairs_since_prune += 1;
            if inner.pairs_since_prune >= 10_000 && inner.last_pair.len() >= 100_000 {
                inner.pairs_since_prune = 0;
                inner.last_pair.retain(|_, t| now.duration_since(*t) < c.pair_gap);
            }
        }
        inner
            .counters
            .accepted(send.sender, hash_of(&[send.recipient, send.content]), now);
        inner.sequence += 1;
        // An odd multiplier and a fixed XOR are bijections on u64: unique, yet random-looking.
        let low = inner.sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ inner.id_key;
        let unique = (u128::from(inner.rng.gen::<u64>()) << 64) | u128::from(low);
        let w = &c.webhooks;
        let fate = if failing {
            Fate::FailNumber
        } else if let Some(failure) = send.chosen {
            Fate::Chosen(failure)
        } else if w.async_failure_rate > 0.0 && inner.rng.gen_bool(w.async_failure_rate) {
            Fate::AsyncFailure
        } else {
            let delivered = inner.rng.gen_bool(w.delivered_fraction);
            let read = delivered && inner.rng.gen_bool(w.read_fraction);
            Fate::Lifecycle { delivered, read }
        };
        Ok(Admission { unique, fate })
    }

    /// The webhook plan of a fate, as (status, delay after the previous one). A paced
    /// message is held first: its `sent` comes after `--pacing-hold-ms`, unless its template
    /// gets paused meanwhile.
    pub(crate) fn steps(
        &self,
        fate: Fate,
        number_failure: Failure,
        random_failure: Failure,
        paced: bool,
    ) -> std::collections::VecDeque<(crate::webhooks::Status, Duration)> {
        use crate::webhooks::Status;
        let w = &self.config.webhooks;
        match fate {
            Fate::FailNumber => [(Status::Failed(number_failure), w.sent_delay)].into(),
            Fate::AsyncFailure => [(Status::Failed(random_failure), w.sent_delay)].into(),
            Fate::Chosen(failure) => [(Status::Failed(failure), w.sent_delay)].into(),
            Fate::Lifecycle { delivered, read } => {
                let first = if paced {
                    (Status::Held, self.config.pacing_hold)
                } else {
                    (Status::Sent, w.sent_delay)
                };
                let mut steps = std::collections::VecDeque::from([first]);
                if delivered {
                    steps.push_back((Status::Delivered, w.delivered_delay));
                }
                if read {
                    steps.push_back((Status::Read, w.read_delay));
                }
                steps
            }
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut stats = self.lock().counters.snapshot();
        stats.webhooks_sent = self.webhooks.sent.load(Relaxed);
        stats.webhooks_failed = self.webhooks.failed.load(Relaxed);
        stats.webhooks_dropped = self.webhooks.dropped.load(Relaxed);
        stats
    }

    /// Zeroes the statistics. Enforcement (rate windows, pair gaps) carries on unchanged.
    pub(crate) fn reset_stats(&self) {
        self.lock().counters = Counters::default();
        self.webhooks.reset_counters();
    }
}
