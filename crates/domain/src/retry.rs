//! What to do after a provider answers: error classes, the retry policy with exponential
//! backoff and jitter, and the auto-pause rule for campaigns that mostly fail.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// How a provider error is handled (providers.md: R, P, S, and S at campaign level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Throttling, 5xx, timeouts: try again later, with backoff.
    Retryable,
    /// Invalid number, template mismatch, not on WhatsApp: this message fails for good.
    Permanent,
    /// Bad token, locked account, payment: the sender itself is unusable; pause its campaigns.
    Sender,
    /// The template is missing, not approved, paused or disabled: every message of the
    /// campaign would fail the same way; pause that campaign.
    Campaign,
}

/// How many times a message is attempted and how long to wait between attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Wait after the 1st, 2nd, … failed attempt; the last value repeats.
    pub backoff_seconds: Vec<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            backoff_seconds: vec![60, 300, 1800],
        }
    }
}

/// Why a retry policy was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("retry.max_attempts must be between 1 and 20")]
    MaxAttempts,
    #[error("retry.backoff_seconds must hold 1 to 20 values, each at most 604800 (7 days)")]
    Backoff,
    #[error("auto_pause.max_failure_rate must be between 0 and 1")]
    FailureRate,
}

impl RetryPolicy {
    /// Checks the policy's bounds.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if !(1..=20).contains(&self.max_attempts) {
            return Err(PolicyError::MaxAttempts);
        }
        if self.backoff_seconds.is_empty()
            || self.backoff_seconds.len() > 20
            || self.backoff_seconds.iter().any(|s| *s > 604_800)
        {
            return Err(PolicyError::Backoff);
        }
        Ok(())
    }

    /// Whether a message that has made `attempts` attempts may make another.
    pub fn can_retry(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }

    /// The wait after the `attempts`-th failed attempt: the configured step, ±20 % jitter so
    /// that a burst of failures does not come back as a burst, and never less than what the
    /// provider asked for (`retry_after`).
    pub fn backoff(&self, attempts: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let idx = (attempts.max(1) as usize - 1).min(self.backoff_seconds.len().saturating_sub(1));
        let base = self.backoff_seconds.get(idx).copied().unwrap_or(60) as f64;
        let jittered = Duration::from_secs_f64(base * rng.gen_range(0.8..=1.2));
        jittered.max(retry_after.unwrap_or(Duration::ZERO))
    }
}

/// A campaign pauses itself (`too_many_failures`) once its failures pass both thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AutoPause {
    /// Failures needed before the rate is considered at all.
    pub min_failures: u64,
    /// Failed over attempted-and-finished messages above which the campaign pauses.
    pub max_failure_rate: f64,
}

impl Default for AutoPause {
    fn default() -> Self {
        AutoPause {
            min_failures: 50,
            max_failure_rate: 0.5,
        }
    }
}

impl AutoPause {
    /// Checks the rule's bounds.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if !(0.0..=1.0).contains(&self.max_failure_rate) {
            return Err(PolicyError::FailureRate);
        }
        Ok(())
    }

    /// Whether `failed` failures out of `finished` attempted messages should pause.
    pub fn should_pause(&self, failed: u64, finished: u64) -> bool {
        finished > 0 && failed > self.min_failures && (failed as f64 / finished as f64) > self.max_failure_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn backoff_follows_the_steps_with_bounded_jitter() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let first = p.backoff(1, None, &mut rng).as_secs_f64();
            assert!((48.0..=72.0).contains(&first), "{first}");
            let third = p.backoff(3, None, &mut rng).as_secs_f64();
            assert!((1440.0..=2160.0).contains(&third), "{third}");
            let beyond = p.backoff(9, None, &mut rng).as_secs_f64();
            assert!((1440.0..=2160.0).contains(&beyond), "the last step repeats: {beyond}");
        }
        let waited = p.backoff(1, Some(Duration::from_secs(600)), &mut rng);
        assert_eq!(waited, Duration::from_secs(600), "retry-after wins when longer");
    }

    #[test]
    fn attempts_are_bounded() {
        let p = RetryPolicy::default();
        assert!(p.can_retry(1) && p.can_retry(2));
        assert!(!p.can_retry(3));
        assert_eq!(
            RetryPolicy {
                max_attempts: 0,
                ..p.clone()
            }
            .validate(),
            Err(PolicyError::MaxAttempts)
        );
        assert_eq!(
            RetryPolicy {
                backoff_seconds: vec![],
                ..p.clone()
            }
            .validate(),
            Err(PolicyError::Backoff)
        );
        assert!(p.validate().is_ok());
    }

    #[test]
    fn auto_pause_needs_both_thresholds() {
        let a = AutoPause::default();
        assert!(!a.should_pause(50, 60), "exactly 50 failures is not more than 50");
        assert!(a.should_pause(51, 100));
        assert!(!a.should_pause(51, 102), "50 % is not more than 50 %");
        assert!(!a.should_pause(0, 0));
        assert!(AutoPause {
            max_failure_rate: 1.5,
            ..a
        }
        .validate()
        .is_err());
    }
}
