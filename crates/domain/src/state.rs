//! The message and campaign state machines (design.md), and their names on the wire.
//!
//! ```text
//! queued ──claim──▶ claimed ──attempt──▶ sending ──ok──▶ sent ──webhook──▶ delivered ──▶ read
//!   ▲                  │                    ├─retryable error──▶ queued (backoff)
//!   └── lease lost ◀───┘                    ├─permanent error / attempts exhausted──▶ failed
//!                                           └─process died mid-request──▶ unknown
//! queued/claimed ──cancel──▶ cancelled     at import ──▶ skipped
//! ```

/// An enum with one name on the wire (API, database) per variant: `as_str`, `FromStr`,
/// `Display` and serde all use that name, so they never disagree.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The snake_case name used in the API and the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::state::UnknownState;
            fn from_str(s: &str) -> Result<Self, $crate::state::UnknownState> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err($crate::state::UnknownState(s.to_string())),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}
pub(crate) use wire_enum;

/// A state name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state {0:?}")]
pub struct UnknownState(pub String);

wire_enum!(
    /// Where one message stands.
    MessageStatus {
        /// Waiting to be claimed (possibly not before `next_attempt_at`).
        Queued => "queued",
        /// Reserved by a dispatcher, not yet attempted; a crash returns it to `queued`.
        Claimed => "claimed",
        /// Written durably just before the provider request; a crash makes it `unknown`.
        Sending => "sending",
        /// Accepted by the provider.
        Sent => "sent",
        /// Delivered to the handset (provider webhook).
        Delivered => "delivered",
        /// Read by the recipient (provider webhook).
        Read => "read",
        /// Permanently failed, or out of attempts.
        Failed => "failed",
        /// The dispatcher died mid-request: maybe sent, maybe not. Never re-sent silently.
        Unknown => "unknown",
        /// Never sendable: invalid phone, duplicate, opted out, missing variable.
        Skipped => "skipped",
        /// Cancelled before it was attempted.
        Cancelled => "cancelled",
        /// Not sent by its `expires_at`: never sent late.
        Expired => "expired",
    }
);

impl MessageStatus {
    /// A message in one of these is still owed an attempt.
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Queued | Self::Claimed | Self::Sending)
    }

    /// The rank used to keep provider webhooks monotonic: a status never moves to a lower rank
    /// (a late `delivered` never overwrites `read`).
    pub fn delivery_rank(self) -> u8 {
        match self {
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            _ => 0,
        }
    }
}

wire_enum!(
    /// Where one campaign stands: `draft → scheduled → running ⇄ paused → completed`, and
    /// `cancelled` or `failed` from any non-final state.
    CampaignStatus {
        Draft => "draft",
        Scheduled => "scheduled",
        Running => "running",
        Paused => "paused",
        Completed => "completed",
        Cancelled => "cancelled",
        Failed => "failed",
    }
);

wire_enum!(
    /// Why a campaign is paused.
    PausedReason {
        /// A person paused it.
        User => "user",
        /// Its failures passed the auto-pause threshold.
        TooManyFailures => "too_many_failures",
        /// The provider rejected the sender itself (credentials, account, payment).
        SenderError => "sender_error",
        /// The provider rejected the campaign's template (missing, not approved, paused,
        /// disabled).
        TemplateError => "template_error",
        /// The sender's daily limit of unique recipients is reached; resumes by itself.
        DailyLimit => "daily_limit",
        /// Outside its sending window; resumes by itself.
        OutsideWindow => "outside_window",
        /// Its sender is paused or suspended; resumes by itself when the sender is active again.
        SenderPaused => "sender_paused",
        /// WhatsApp paused its template for low quality; resumes by itself when the template
        /// is approved again.
        TemplatePaused => "template_paused",
    }
);

wire_enum!(
    /// Why a campaign ended `failed`.
    FailureReason {
        /// WhatsApp disabled its template (low quality): no message of it can go any more.
        TemplateDisabled => "template_disabled",
        /// WhatsApp rejected its template after review.
        TemplateRejected => "template_rejected",
        /// Its template was deleted in WhatsApp Manager.
        TemplateDeleted => "template_deleted",
    }
);

wire_enum!(
    /// Why a contact was never sent.
    SkipReason {
        InvalidPhone => "invalid_phone",
        Duplicate => "duplicate",
        OptedOut => "opted_out",
        MissingVariable => "missing_variable",
        /// The campaign requires consent and the tenant holds no opt-in for the number.
        NoConsent => "no_consent",
    }
);

/// Something a person (or pregon itself) asks of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignAction {
    Start,
    Pause,
    Resume,
    Cancel,
    Retry,
}

impl CampaignAction {
    /// The action's name, as in its route.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
            Self::Retry => "retry",
        }
    }
}

impl CampaignStatus {
    /// Final states accept no action but reading (and `retry` from `completed`/`failed`).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::Failed)
    }

    /// Whether `action` is legal from this state; an illegal one answers 409.
    pub fn allows(self, action: CampaignAction) -> bool {
        use CampaignAction as A;
        use CampaignStatus as S;
        match action {
            A::Start => self == S::Draft,
            A::Pause => matches!(self, S::Running | S::Scheduled),
            A::Resume => self == S::Paused,
            A::Cancel => !self.is_final(),
            A::Retry => matches!(self, S::Running | S::Paused | S::Completed | S::Failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CampaignAction as A;
    use CampaignStatus as S;

    #[test]
    fn wire_names_round_trip() {
        for s in MessageStatus::ALL {
            assert_eq!(s.as_str().parse::<MessageStatus>().unwrap(), *s);
        }
        for s in CampaignStatus::ALL {
            assert_eq!(s.as_str().parse::<CampaignStatus>().unwrap(), *s);
        }
        assert!("Queued".parse::<MessageStatus>().is_err());
        assert_eq!(
            serde_json::to_string(&PausedReason::TooManyFailures).unwrap(),
            "\"too_many_failures\""
        );
    }

    #[test]
    fn campaign_transitions_follow_the_design() {
        assert!(S::Draft.allows(A::Start));
        assert!(!S::Running.allows(A::Start));
        assert!(S::Running.allows(A::Pause));
        assert!(S::Scheduled.allows(A::Pause));
        assert!(!S::Paused.allows(A::Pause));
        assert!(S::Paused.allows(A::Resume));
        assert!(!S::Completed.allows(A::Resume));
        assert!(!S::Running.allows(A::Resume));
        for s in [S::Draft, S::Scheduled, S::Running, S::Paused] {
            assert!(s.allows(A::Cancel), "{s} should be cancellable");
        }
        for s in [S::Completed, S::Cancelled, S::Failed] {
            assert!(!s.allows(A::Cancel), "{s} is final");
            assert!(!s.allows(A::Pause));
        }
        assert!(S::Completed.allows(A::Retry));
        assert!(!S::Cancelled.allows(A::Retry));
        assert!(!S::Draft.allows(A::Retry));
    }

    #[test]
    fn delivery_ranks_are_monotonic() {
        assert!(MessageStatus::Read.delivery_rank() > MessageStatus::Delivered.delivery_rank());
        assert!(MessageStatus::Delivered.delivery_rank() > MessageStatus::Sent.delivery_rank());
        assert!(MessageStatus::Queued.is_pending() && MessageStatus::Sending.is_pending());
        assert!(!MessageStatus::Unknown.is_pending());
    }
}
