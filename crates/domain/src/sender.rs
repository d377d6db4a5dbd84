//! A sender's kinds and states: which provider it sends through, whether it may send, and
//! the messaging tier that sets its daily limit of unique recipients.

use crate::state::wire_enum;

wire_enum!(
    /// The provider a sender sends through (api.md "Senders").
    ProviderKind {
        /// WhatsApp Cloud API (Meta).
        Meta => "meta",
        /// Twilio Programmable Messaging.
        Twilio => "twilio",
        /// Sends nothing: renders and records the message, and marks it sent.
        Sandbox => "sandbox",
    }
);

impl ProviderKind {
    /// Messages per second a new sender of this provider gets when none is given: the Cloud
    /// API's entry throughput, Twilio's default for a WhatsApp sender, and the sandbox's.
    pub fn default_rate(self) -> f64 {
        match self {
            Self::Meta => 80.0,
            Self::Twilio => 1.0,
            Self::Sandbox => 1_000.0,
        }
    }
}

wire_enum!(
    /// Whether a sender may send.
    SenderStatus {
        /// Sends.
        Active => "active",
        /// Paused by a person: sends nothing; its campaigns wait for it.
        Paused => "paused",
        /// Suspended by its provider (account webhooks): sends nothing; its campaigns wait.
        Suspended => "suspended",
    }
);

impl SenderStatus {
    /// Whether a sender in this state sends.
    pub fn is_active(self) -> bool {
        self == Self::Active
    }
}

wire_enum!(
    /// A WhatsApp messaging tier: how many unique recipients a number (or its business
    /// portfolio) may message in a rolling 24 hours, as Meta names it (`current_limit`).
    MessagingTier {
        Tier50 => "TIER_50",
        Tier250 => "TIER_250",
        Tier1K => "TIER_1K",
        Tier2K => "TIER_2K",
        Tier10K => "TIER_10K",
        Tier100K => "TIER_100K",
        Unlimited => "TIER_UNLIMITED",
    }
);

impl MessagingTier {
    /// Reads a tier name, ignoring case and surrounding space; `UNLIMITED` is also accepted,
    /// as some of Meta's payloads spell it.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_uppercase();
        match name.as_str() {
            "UNLIMITED" => Some(Self::Unlimited),
            other => other.parse().ok(),
        }
    }

    /// The tier's daily limit of unique recipients; `None` for unlimited.
    pub fn daily_limit(self) -> Option<i64> {
        match self {
            Self::Tier50 => Some(50),
            Self::Tier250 => Some(250),
            Self::Tier1K => Some(1_000),
            Self::Tier2K => Some(2_000),
            Self::Tier10K => Some(10_000),
            Self::Tier100K => Some(100_000),
            Self::Unlimited => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_through_serde_and_text() {
        for k in ProviderKind::ALL {
            assert_eq!(k.as_str().parse::<ProviderKind>().unwrap(), *k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for s in SenderStatus::ALL {
            assert_eq!(serde_json::from_value::<SenderStatus>(s.as_str().into()).unwrap(), *s);
        }
        assert_eq!(serde_json::to_value(MessagingTier::Tier2K).unwrap(), "TIER_2K");
        assert!("Meta".parse::<ProviderKind>().is_err());
    }

    #[test]
    fn tiers_read_loosely_and_give_their_limits() {
        assert_eq!(MessagingTier::parse(" tier_10k "), Some(MessagingTier::Tier10K));
        assert_eq!(MessagingTier::parse("UNLIMITED"), Some(MessagingTier::Unlimited));
        assert_eq!(MessagingTier::parse("TIER_HUGE"), None);
        assert_eq!(MessagingTier::Tier250.daily_limit(), Some(250));
        assert_eq!(MessagingTier::Unlimited.daily_limit(), None);
    }
}
