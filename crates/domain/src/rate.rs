//! The per-sender rate limiter.
//!
//! Two rules, both must allow a send:
//! - a sliding-window log: never more than `N = max(1, floor(rate))` sends in any window of
//!   one second (for rates below one, one send per `1/rate` seconds). This is the hard
//!   guarantee: a provider measuring over any one-second window never sees more than the rate.
//! - GCRA pacing at `rate` with a small burst (50 ms worth), so sends spread evenly over the
//!   second instead of all arriving at its start.
//!
//! Time is passed in as a [`Duration`] since any fixed origin, so tests drive it by hand.

use std::collections::VecDeque;
use std::time::Duration;

/// Most sends a one-second window may hold at this rate (at least one).
pub fn window_capacity(rate_per_second: f64) -> usize {
    if rate_per_second >= 1.0 {
        rate_per_second.floor() as usize
    } else {
        1
    }
}

/// A rate limiter for one sender. Not thread-safe by design: one dispatcher task owns it.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    capacity: usize,
    window: Duration,
    interval: Duration,
    tolerance: Duration,
    /// GCRA's theoretical arrival time of the next send.
    tat: Duration,
    /// Times of the last `capacity` sends, oldest first.
    recent: VecDeque<Duration>,
}

impl RateLimiter {
    /// A limiter for `rate_per_second` (any positive, finite number).
    pub fn new(rate_per_second: f64) -> Self {
        let rate = if rate_per_second.is_finite() && rate_per_second > 0.0 {
            rate_per_second
        } else {
            1.0
        };
        let capacity = window_capacity(rate);
        let window = if rate >= 1.0 {
            Duration::from_secs(1)
        } else {
            Duration::from_secs_f64(1.0 / rate)
        };
        let interval = window / capacity as u32;
        let burst = (capacity / 20).max(1) as u32;
        RateLimiter {
            capacity,
            window,
            interval,
            tolerance: interval * (burst - 1),
            tat: Duration::ZERO,
            recent: VecDeque::with_capacity(capacity.min(1 << 16)),
        }
    }

    /// Changes the rate, keeping the history of recent sends so that the change itself never
    /// lets a window hold more than the new rate allows.
    pub fn set_rate(&mut self, rate_per_second: f64) {
        let fresh = RateLimiter::new(rate_per_second);
        let mut recent = std::mem::take(&mut self.recent);
        while recent.len() > fresh.capacity {
            recent.pop_front();
        }
        let tat = self.tat;
        *self = RateLimiter { recent, tat, ..fresh };
    }

    /// Grants up to `max` sends at `now` and returns how many were granted.
    pub fn acquire(&mut self, now: Duration, max: usize) -> usize {
        let mut granted = 0;
        while granted < max && self.allows(now) {
            self.tat = self.tat.max(now) + self.interval;
            self.recent.push_back(now);
            if self.recent.len() > self.capacity {
                self.recent.pop_front();
            }
            granted += 1;
        }
        granted
    }

    fn allows(&self, now: Duration) -> bool {
        let paced = self.tat.saturating_sub(self.tolerance) <= now;
        let windowed =
            self.recent.len() < self.capacity || self.recent.front().is_some_and(|oldest| now >= *oldest + self.window);
        paced && windowed
    }

    /// The earliest time at or after `now` when one more send would be granted.
    pub fn next_available(&self, now: Duration) -> Duration {
        let paced = self.tat.saturating_sub(self.tolerance);
        let windowed = if self.recent.len() < self.capacity {
            Duration::ZERO
        } else {
            self.recent.front().map(|t| *t + self.window).unwrap_or(Duration::ZERO)
        };
        now.max(paced).max(windowed)
    }

    /// Sends allowed per window, the hard cap.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn paces_evenly_and_caps_each_second() {
        let mut rl = RateLimiter::new(10.0);
        assert_eq!(rl.acquire(ms(0), 100), 1, "burst of 50 ms at 10/s is one send");
        assert_eq!(rl.acquire(ms(50), 100), 0);
        assert_eq!(rl.next_available(ms(50)), ms(100));
        assert_eq!(rl.acquire(ms(100), 100), 1);
        let mut total = 2;
        for t in (101..1000).step_by(7) {
            total += rl.acquire(ms(t), 100);
        }
        assert_eq!(total, 10);
    }

    #[test]
    fn high_rates_allow_small_bursts() {
        let mut rl = RateLimiter::new(20_000.0);
        // 50 ms of burst at 20,000/s is 1,000 sends.
        assert_eq!(rl.acquire(ms(0), 5_000), 1_000);
        assert_eq!(rl.acquire(ms(10), 5_000), 200);
    }

    #[test]
    fn rates_below_one_space_sends() {
        let mut rl = RateLimiter::new(0.5);
        assert_eq!(rl.capacity(), 1);
        assert_eq!(rl.acquire(ms(0), 10), 1);
        assert_eq!(rl.acquire(ms(1_999), 10), 0);
        assert_eq!(rl.next_available(ms(1_000)), ms(2_000));
        assert_eq!(rl.acquire(ms(2_000), 10), 1);
    }

    #[test]
    fn lowering_the_rate_counts_the_sends_already_made() {
        let mut rl = RateLimiter::new(100.0);
        let mut sent = 0;
        for t in 0..500 {
            sent += rl.acquire(ms(t), 100);
        }
        assert_eq!(sent, 54, "a burst of 5, then one every 10 ms");
        rl.set_rate(10.0);
        assert_eq!(
            rl.acquire(ms(500), 100),
            0,
            "ten sends in the last second already fill the new rate"
        );
        assert_eq!(rl.acquire(ms(1_000), 100), 0);
        assert!(rl.next_available(ms(1_000)) > ms(1_000));
    }

    #[test]
    fn nonsense_rates_fall_back_to_one_per_second() {
        assert_eq!(RateLimiter::new(f64::NAN).capacity(), 1);
        assert_eq!(RateLimiter::new(-3.0).capacity(), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever the rate and however callers ask, no one-second window ever holds more
        /// than the rate allows.
        #[test]
        fn never_more_than_the_rate_in_any_one_second_window(
            rate in prop_oneof![0.2f64..5.0, 1.0f64..100.0, 100.0f64..5_000.0],
            steps in prop::collection::vec((0u64..40_000, 1usize..2_000), 1..400),
        ) {
            let mut rl = RateLimiter::new(rate);
            let mut now = Duration::ZERO;
            let mut grants: Vec<Duration> = Vec::new();
            for (advance_us, max) in steps {
                now += Duration::from_micros(advance_us);
                let n = rl.acquire(now, max);
                grants.extend(std::iter::repeat_n(now, n));
            }
            let cap = window_capacity(rate);
            let window = if rate >= 1.0 { Duration::from_secs(1) } else { Duration::from_secs_f64(1.0 / rate) };
            // For every grant, count grants in [t, t + window): the worst window starts at a grant.
            let mut j = 0;
            for i in 0..grants.len() {
                if j < i { j = i; }
                while j < grants.len() && grants[j] < grants[i] + window { j += 1; }
                prop_assert!(j - i <= cap, "{} sends in one window at rate {rate} (cap {cap})", j - i);
            }
        }
    }
}
