//! What `GET /stats` reports, and the one-second windows behind its peaks.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

const SECOND: Duration = Duration::from_secs(1);

/// The answer of `GET /stats`: counts since the start or the last `POST /stats/reset`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Send requests (Meta `POST …/messages`, Twilio `POST …/Messages.json`), whatever their
    /// answer: `accepted + rejected.total`.
    pub requests: u64,
    /// Sends answered with success.
    pub accepted: u64,
    /// Sends answered with an error, by provider error code.
    pub rejected: Rejected,
    /// Accepted sends whose recipient and rendered content had already been accepted once:
    /// resends, which a campaign should never make.
    pub duplicates: u64,
    /// Most send requests in any one-second window, overall and per sender number (Meta
    /// phone_number_id, Twilio `From`): how fast the client actually sent.
    pub peak_rate_per_second: Peaks,
    /// The same for accepted sends only.
    pub peak_accepted_rate_per_second: Peaks,
    /// Other provider requests: credential checks and template lookups.
    pub lookups: u64,
    /// Status webhooks the receiver answered with 2xx.
    pub webhooks_sent: u64,
    /// Status webhooks given up after every retry.
    pub webhooks_failed: u64,
    /// Status webhooks never attempted because the queue was full.
    pub webhooks_dropped: u64,
}

/// Rejected sends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub total: u64,
    /// Provider error code (`"130429"`, `"21211"`, …) → count.
    pub by_code: BTreeMap<String, u64>,
}

/// Peaks over one-second windows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Peaks {
    pub overall: u64,
    pub by_sender: BTreeMap<String, u64>,
}

/// Event times of the last second, and the most it ever held: the maximum over every
/// window of one second, since a window's count only grows when an event enters it.
#[derive(Debug, Default)]
pub(crate) struct Window {
    times: VecDeque<Instant>,
    peak: u64,
}

impl Window {
    /// Events within the second ending at `now` (older ones are forgotten).
    pub(crate) fn count(&mut self, now: Instant) -> usize {
        while self.times.front().is_some_and(|t| *t + SECOND <= now) {
            self.times.pop_front();
        }
        self.times.len()
    }

    /// Records an event at `now`.
    pub(crate) fn hit(&mut self, now: Instant) {
        self.count(now);
        self.times.push_back(now);
        self.peak = self.peak.max(self.times.len() as u64);
    }
}

#[derive(Debug, Default)]
struct SenderWindows {
    requests: Window,
    accepted: Window,
}

/// The counters behind [`Stats`], except the webhook ones (kept by the webhook workers).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: u64,
    accepted: u64,
    lookups: u64,
    duplicates: u64,
    rejected: BTreeMap<String, u64>,
    /// Hashes of (recipient, content) accepted so far.
    seen: HashSet<u64>,
    requests_window: Window,
    accepted_window: Window,
    per_sender: HashMap<String, SenderWindows>,
}

impl Counters {
    pub(crate) fn request(&mut self, sender: &str, now: Instant) {
        self.requests += 1;
        self.requests_window.hit(now);
        self.sender(sender).requests.hit(now);
    }

    pub(crate) fn lookup(&mut self) {
        self.lookups += 1;
    }

    pub(crate) fn rejected(&mut self, code: &str) {
        *self.rejected.entry(code.to_string()).or_default() += 1;
    }

    pub(crate) fn accepted(&mut self, sender: &str, content: u64, now: Instant) {
        self.accepted += 1;
        if !self.seen.insert(content) {
            self.duplicates += 1;
        }
        self.accepted_window.hit(now);
        self.sender(sender).accepted.hit(now);
    }

    fn sender(&mut self, sender: &str) -> &mut SenderWindows {
        if !self.per_sender.contains_key(sender) {
            self.per_sender.insert(sender.to_string(), SenderWindows::default());
        }
        self.per_sender.get_mut(sender).expect("just inserted")
    }

    /// Everything but the webhook counts.
    pub(crate) fn snapshot(&self) -> Stats {
        let peaks = |overall: &Window, pick: fn(&SenderWindows) -> &Window| Peaks {
            overall: overall.peak,
            by_sender: self.per_sender.iter().map(|(k, w)| (k.clone(), pick(w).peak)).collect(),
        };
        Stats {
            requests: self.requests,
            accepted: self.accepted,
            rejected: Rejected {
                total: self.rejected.values().sum(),
                by_code: self.rejected.clone(),
            },
            duplicates: self.duplicates,
            peak_rate_per_second: peaks(&self.requests_window, |w| &w.requests),
            peak_accepted_rate_per_second: peaks(&self.accepted_window, |w| &w.accepted),
            lookups: self.lookups,
            ..Stats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_the_fullest_second() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut w = Window::default();
        for t in [0, 100, 200, 900] {
            w.hit(t0 + ms(t));
        }
        assert_eq!(w.peak, 4);
        // At 1000 the event at 0 has left the window: [100, 200, 900, 1000].
        w.hit(t0 + ms(1000));
        assert_eq!(w.peak, 4);
        w.hit(t0 + ms(1050));
        assert_eq!(w.peak, 5);
        assert_eq!(w.count(t0 + ms(2000)), 1, "only 1050 is left");
        assert_eq!(w.count(t0 + ms(3000)), 0);
    }

    #[test]
    fn counts_duplicates_and_rejections() {
        let mut c = Counters::default();
        let now = Instant::now();
        c.request("1142", now);
        c.accepted("1142", 7, now);
        c.request("1142", now);
        c.accepted("1142", 7, now);
        c.request("1142", now);
        c.rejected("131056");
        let s = c.snapshot();
        assert_eq!((s.requests, s.accepted, s.duplicates, s.rejected.total), (3, 2, 1, 1));
        assert_eq!(s.rejected.by_code["131056"], 1);
        assert_eq!(s.peak_rate_per_second.by_sender["1142"], 3);
        assert_eq!(s.peak_accepted_rate_per_second.overall, 2);
    }
}
