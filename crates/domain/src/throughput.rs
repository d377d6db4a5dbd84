//! A Cloud API number's throughput level, and the rate a sender that follows it takes
//! (docs/providers.md §1.3).
//!
//! Meta gives every registered number 80 messages per second (inbound and outbound) and
//! upgrades eligible ones to 1,000 automatically. pregon learns the level two ways: the
//! phone number's `throughput.level` read at pre-flight, and a `phone_number_quality_update`
//! webhook with `event: THROUGHPUT_UPGRADE`.

use crate::state::wire_enum;

wire_enum!(
    /// A number's throughput level (`throughput.level` of the phone number node).
    ThroughputLevel {
        /// The default: 80 messages per second.
        Standard => "standard",
        /// Upgraded: 1,000 messages per second.
        High => "high",
        /// Throughput does not apply to this number (Meta's `NOT_APPLICABLE`, e.g. numbers
        /// not on the Cloud API).
        NotApplicable => "not_applicable",
    }
);

impl ThroughputLevel {
    /// Reads Meta's `STANDARD` / `HIGH` / `NOT_APPLICABLE`, in any case.
    pub fn parse_meta(level: &str) -> Option<Self> {
        match level.trim().to_ascii_uppercase().as_str() {
            "STANDARD" => Some(Self::Standard),
            "HIGH" => Some(Self::High),
            "NOT_APPLICABLE" => Some(Self::NotApplicable),
            _ => None,
        }
    }

    /// Messages per second the level grants; `None` when it grants nothing known.
    pub fn messages_per_second(self) -> Option<u32> {
        match self {
            Self::Standard => Some(80),
            Self::High => Some(1_000),
            Self::NotApplicable => None,
        }
    }
}

/// The rate of a sender with `rate_follows_provider: true`: what the number is granted,
/// never above the sender's own `messages_per_second` cap. Before its level is known it is
/// what every number is granted at first (`Standard`): never faster than Meta allows. A
/// number throughput does not apply to keeps the cap.
pub fn followed_rate(level: Option<ThroughputLevel>, cap: f64) -> f64 {
    match level.unwrap_or(ThroughputLevel::Standard).messages_per_second() {
        Some(granted) => cap.min(f64::from(granted)),
        None => cap,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_read_and_grant_their_rate() {
        assert_eq!(ThroughputLevel::parse_meta("STANDARD"), Some(ThroughputLevel::Standard));
        assert_eq!(ThroughputLevel::parse_meta(" high "), Some(ThroughputLevel::High));
        assert_eq!(
            ThroughputLevel::parse_meta("NOT_APPLICABLE"),
            Some(ThroughputLevel::NotApplicable)
        );
        assert_eq!(ThroughputLevel::parse_meta("ULTRA"), None);
        assert_eq!(ThroughputLevel::Standard.messages_per_second(), Some(80));
        assert_eq!(ThroughputLevel::High.messages_per_second(), Some(1_000));
        assert_eq!(ThroughputLevel::NotApplicable.messages_per_second(), None);
    }

    #[test]
    fn the_followed_rate_never_exceeds_the_cap() {
        assert_eq!(followed_rate(Some(ThroughputLevel::High), 5_000.0), 1_000.0);
        assert_eq!(followed_rate(Some(ThroughputLevel::High), 300.0), 300.0, "the cap wins");
        assert_eq!(followed_rate(Some(ThroughputLevel::Standard), 1_000.0), 80.0);
        assert_eq!(followed_rate(Some(ThroughputLevel::NotApplicable), 50.0), 50.0);
        assert_eq!(followed_rate(None, 500.0), 80.0, "unknown: the entry level");
        assert_eq!(followed_rate(None, 20.0), 20.0);
    }
}
