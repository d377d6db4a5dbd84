//! What may hold a claimed message back just before it is marked `sending`, without spending
//! an attempt: its recipient's own sending window, the pair gap (a least time between two
//! messages to one phone from one sender, across campaigns), and the sender's daily limit of
//! unique recipients. Held-back messages go back to the queue due when they may go, or, for
//! a daily limit reached, their campaigns pause with `daily_limit` until room frees up.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use pregon_domain::WindowState;
use pregon_store::{ClaimedMessage, Deferral, Lease, Millis, SenderRecord, StoreError};
use tokio::time::Instant;

use super::context::Campaigns;
use super::Dispatcher;

/// The least wait before a held-back message is looked at again.
const MIN_DEFER_MILLIS: Millis = 100;

/// Last departures per phone (when, and which message), for the pair gap. It holds every
/// phone sent to within the gap, up to rate × gap entries (132,000 at 22,000 msg/s and 6 s),
/// so an entry is kept to 24 bytes: the phone as a number, the message, and milliseconds
/// since `origin` (a map keyed by phone strings took 7 MiB more at that rate).
pub(crate) struct PairGap {
    origin: Instant,
    last: HashMap<u64, Departure>,
}

#[derive(Clone, Copy)]
struct Departure {
    message_id: i64,
    /// Milliseconds after [`PairGap::origin`].
    at: u64,
}

impl Default for PairGap {
    fn default() -> Self {
        PairGap {
            origin: Instant::now(),
            last: HashMap::new(),
        }
    }
}

/// An E.164 number's digits as a number (at most 15 digits, so exact). Anything else (a
/// BSUID-only recipient's identity) is hashed, with the top bit set so it never meets a
/// phone: a collision could only delay a message.
fn phone_key(phone: &str) -> u64 {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    if (1..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = digits.parse::<u64>() {
            return n;
        }
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    phone.hash(&mut hasher);
    hasher.finish() | 1 << 63
}

impl PairGap {
    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_millis() as u64
    }

    /// How long until `phone` may get another message than `message_id` (zero: now). A
    /// retry of the same message keeps to its own backoff instead.
    fn wait(&self, phone: &str, message_id: i64, gap: Duration, now: Instant) -> Duration {
        match self.last.get(&phone_key(phone)) {
            Some(last) if last.message_id != message_id => {
                let since = Duration::from_millis(self.millis(now).saturating_sub(last.at));
                gap.saturating_sub(since)
            }
            _ => Duration::ZERO,
        }
    }

    pub(crate) fn departed(&mut self, phone: &str, message_id: i64, at: Instant) {
        let at = self.millis(at);
        self.last.insert(phone_key(phone), Departure { message_id, at });
    }

    /// Forgets departures older than the gap.
    pub(crate) fn forget_before(&mut self, gap: Duration, now: Instant) {
        let now = self.millis(now);
        let gap = gap.as_millis() as u64;
        self.last.retain(|_, d| now.saturating_sub(d.at) < gap);
        // Give back what a burst took once the map is mostly empty again.
        if self.last.capacity() > 4 * self.last.len().max(1024) {
            self.last.shrink_to_fit();
        }
    }
}

/// Returns the messages that may leave now and defers the others. `contexts` holds every
/// picked message's campaign.
pub(crate) async fn hold_back(
    d: &Dispatcher,
    lease: &Lease,
    sender: &SenderRecord,
    picked: Vec<ClaimedMessage>,
    contexts: &Campaigns,
    pairs: &PairGap,
) -> Result<Held, StoreError> {
    if picked.is_empty() {
        return Ok(Held {
            keep: picked,
            limit_reached: None,
        });
    }
    let now = d.clock.now_millis();
    let instant = Instant::now();
    let gap = d.config.pair_gap;
    let mut deferrals = Vec::new();
    let mut keep = Vec::with_capacity(picked.len());
    let mut in_batch: HashSet<u64> = HashSet::new();
    for m in picked {
        if let Some(window) = contexts.get(&m.campaign_id).and_then(|c| c.recipient_window.as_ref()) {
            if let WindowState::Closed { opens_at } = window.state_for(&m.phone, &m.variables, now) {
                deferrals.push(Deferral {
                    message_id: m.id,
                    until: opens_at,
                });
                continue;
            }
        }
        if !gap.is_zero() {
            let wait = if in_batch.contains(&phone_key(&m.phone)) {
                gap
            } else {
                pairs.wait(&m.phone, m.id, gap, instant)
            };
            if !wait.is_zero() {
                deferrals.push(Deferral {
                    message_id: m.id,
                    until: now + (wait.as_millis() as Millis).max(MIN_DEFER_MILLIS),
                });
                continue;
            }
            in_batch.insert(phone_key(&m.phone));
        }
        keep.push(m);
    }
    let mut limit_reached = None;
    if let (Some(limit), false) = (sender.daily_limit, keep.is_empty()) {
        let phones: Vec<String> = keep.iter().map(|m| m.phone.clone()).collect();
        let admission = d
            .store
            .admit_recipients(&sender.limit_key(), limit, &phones, now)
            .await?;
        if keep.iter().any(|m| !admission.admitted.contains(&m.phone)) {
            let room_at = admission.room_at.unwrap_or(now).max(now + 1_000);
            let refused: Vec<ClaimedMessage>;
            (keep, refused) = keep.into_iter().partition(|m| admission.admitted.contains(&m.phone));
            // The admitted still go (their room is taken); the rest wait for room, and their
            // campaigns pause once the admitted are on their way.
            if refused.iter().any(|m| m.campaign_id.is_some()) {
                limit_reached = Some(room_at);
            }
            tracing::warn!(sender = %sender.id, limit, used = admission.used, refused = refused.len(),
                "daily limit of unique recipients reached");
            deferrals.extend(refused.iter().map(|m| Deferral {
                message_id: m.id,
                until: room_at,
            }));
        }
    }
    d.store.defer_claimed(lease, &deferrals, now).await?;
    Ok(Held { keep, limit_reached })
}

/// What [`hold_back`] lets through.
pub(crate) struct Held {
    /// May leave now.
    pub(crate) keep: Vec<ClaimedMessage>,
    /// The daily limit turned campaign messages away: pause the campaigns until then, once
    /// the kept ones are marked `sending`.
    pub(crate) limit_reached: Option<Millis>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_gap_holds_other_messages_to_the_phone_not_retries() {
        let gap = Duration::from_secs(6);
        let mut pairs = PairGap::default();
        let t0 = Instant::now();
        assert_eq!(pairs.wait("+1", 7, gap, t0), Duration::ZERO);
        pairs.departed("+1", 7, t0);
        assert_eq!(
            pairs.wait("+1", 8, gap, t0 + Duration::from_secs(2)),
            Duration::from_secs(4)
        );
        assert_eq!(
            pairs.wait("+1", 7, gap, t0 + Duration::from_secs(2)),
            Duration::ZERO,
            "a retry"
        );
        assert_eq!(pairs.wait("+2", 8, gap, t0), Duration::ZERO, "another phone");
        assert_eq!(pairs.wait("+1", 8, gap, t0 + gap), Duration::ZERO);
        pairs.forget_before(gap, t0 + gap);
        assert!(pairs.last.is_empty());
    }

    #[test]
    fn phones_keep_apart_as_numbers() {
        assert_eq!(phone_key("+584121234567"), 584_121_234_567);
        assert_ne!(phone_key("+14155550100"), phone_key("+14155550101"));
        // Not a number: hashed, and never equal to a number's key.
        assert!(phone_key("whatsapp:+1") >= 1 << 63);
    }
}
