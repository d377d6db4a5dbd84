//! Provider error codes and what they mean for pregon (docs/providers.md §1.2 and §3.2).
//! Codes a table does not know fall back on the HTTP status.
//!
//! A code has a class ([`ErrorClass`]: retry, fail the message, pause the sender or the
//! campaign), maybe a throttle hold, and maybe an [`ErrorReason`]: what the dispatcher must
//! do beyond the class (record an opt-out, not count the failure, expire the message).

use std::time::Duration;

use pregon_domain::{ErrorClass, OptOutScope};

/// Classifies a Meta Cloud API error code, falling back on the HTTP status for codes the
/// table does not know.
pub fn meta(code: i64, http_status: u16) -> ErrorClass {
    match code {
        // Token expired or revoked, permissions, number deleted or unregistered, account
        // locked or blocked, payment: the sender itself cannot send.
        0 | 190 | 3 | 10 | 200..=299 | 33 | 368 | 131031 | 131042 | 133010 => ErrorClass::Sender,
        // Spam rate limit: quality-based restriction on the number.
        131048 => ErrorClass::Sender,
        // Throttling, pair rate, maintenance, transient and unknown server errors.
        4 | 80007 | 130429 | 131056 | 131057 | 1 | 2 | 131000 | 131016 => ErrorClass::Retryable,
        // The template is missing or not approved in that language, paused or disabled:
        // every message of the campaign would fail the same way.
        132001 | 132015 | 132016 => ErrorClass::Campaign,
        // This message (or recipient) will not go through: undeliverable, outside the 24 h
        // window, not delivered by Meta's choice (131049: not retried), marketing stopped by
        // the user (131050), experiment, unsupported type, media, bad parameters, country
        // restriction, BSUID recipient not supported for this message (131062).
        131026 | 131047 | 131049 | 131050 | 130472 | 131051 | 131053 | 100 | 131008 | 131009 | 130497 | 470
        | 131062 => ErrorClass::Permanent,
        // Parameter count, text length, format policy, parameter format.
        132000..=132099 => ErrorClass::Permanent,
        _ => by_status(http_status),
    }
}

/// Classifies a Twilio error code, falling back on the HTTP status for codes the table does
/// not know.
pub fn twilio(code: i64, http_status: u16) -> ErrorClass {
    match code {
        // Authentication failed.
        20003 => ErrorClass::Sender,
        // Too many concurrent requests; channel, sender or portfolio rate limit.
        20429 | 63018 => ErrorClass::Retryable,
        // Invalid `To`, opted out, outside the 24 h window (or a template sent as text), not
        // on WhatsApp, 63025 (see docs/providers.md §3.2: UNCONFIRMED), in a Meta experiment,
        // marketing message not delivered by Meta's choice (not retried), blocked by the
        // user, validity period expired.
        21211 | 21610 | 63016 | 63024 | 63025 | 63032 | 63049 | 63014 | 30036 => ErrorClass::Permanent,
        // The Marketing Messages API terms are not accepted for the business portfolio:
        // every marketing message of the campaign would fail the same way until they are.
        63062 => ErrorClass::Campaign,
        _ => by_status(http_status),
    }
}

/// What a provider error code says beyond its [`ErrorClass`]: facts the dispatcher acts on
/// (an opt-out to record, a failure that is not a fault, a message that expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorReason {
    /// The recipient stopped marketing messages from this business (Meta 131050): add a
    /// `marketing`-scoped opt-out (`source: provider`). Not a fault of the campaign.
    MarketingOptOut,
    /// The recipient blocked the sender or withdrew consent (Twilio 63014, 21610): add an
    /// opt-out of scope `all`. Not a fault of the campaign.
    RecipientOptedOut,
    /// Meta chose not to deliver (Meta 131049, Twilio 63049): the per-user marketing cap or
    /// another ecosystem rule. Failed, never retried by pregon.
    NotDeliveredByMeta,
    /// Outside the 24-hour customer-service window (Meta 131047, Twilio 63016, On-Premises
    /// 470), or a WhatsApp template sent as free text through Twilio.
    OutsideWindow,
    /// The message expired before it could go (Twilio 30036, or pregon's own `expires_at`
    /// checked before the request): the message is `expired`, not `failed`.
    Expired,
    /// The template is missing, or not approved in that language (Meta 132001).
    TemplateUnavailable,
    /// The template is paused for low quality (Meta 132015): its campaigns wait as
    /// `template_paused` until it is approved again.
    TemplatePaused,
    /// The template is disabled for low quality (Meta 132016): its campaigns end `failed`
    /// with `template_disabled`.
    TemplateDisabled,
    /// The business has not accepted the Marketing Messages API terms (Twilio 63062).
    MarketingTermsNotAccepted,
    /// This message cannot go to a business-scoped user ID (Meta 131062): one-tap, zero-tap
    /// and copy-code authentication templates need a phone number.
    UserIdNotSupported,
}

impl ErrorReason {
    /// The snake_case name, for logs and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MarketingOptOut => "marketing_opt_out",
            Self::RecipientOptedOut => "recipient_opted_out",
            Self::NotDeliveredByMeta => "not_delivered_by_meta",
            Self::OutsideWindow => "outside_window",
            Self::Expired => "expired",
            Self::TemplateUnavailable => "template_unavailable",
            Self::TemplatePaused => "template_paused",
            Self::TemplateDisabled => "template_disabled",
            Self::MarketingTermsNotAccepted => "marketing_terms_not_accepted",
            Self::UserIdNotSupported => "user_id_not_supported",
        }
    }

    /// The opt-out this error records for the recipient, if any.
    pub fn opt_out_scope(self) -> Option<OptOutScope> {
        match self {
            Self::MarketingOptOut => Some(OptOutScope::Marketing),
            Self::RecipientOptedOut => Some(OptOutScope::All),
            _ => None,
        }
    }

    /// Whether a message that failed this way counts toward a campaign's auto-pause
    /// (`too_many_failures`). A recipient's own choice (an opt-out) is not a fault of the
    /// campaign, and an expired message is `expired`, not `failed`. Meta's choice not to
    /// deliver (131049) counts: many of them mean the audience does not engage.
    pub fn counts_toward_auto_pause(self) -> bool {
        !matches!(self, Self::MarketingOptOut | Self::RecipientOptedOut | Self::Expired)
    }

    /// Whether the message should become `expired` rather than `failed`.
    pub fn is_expiry(self) -> bool {
        self == Self::Expired
    }
}

impl std::fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The [`ErrorReason`] of a Meta error code, synchronous (send answer) or asynchronous
/// (`statuses[].errors[]`).
pub fn meta_reason(code: i64) -> Option<ErrorReason> {
    use ErrorReason::*;
    match code {
        131050 => Some(MarketingOptOut),
        131049 => Some(NotDeliveredByMeta),
        131047 | 470 => Some(OutsideWindow),
        132001 => Some(TemplateUnavailable),
        132015 => Some(TemplatePaused),
        132016 => Some(TemplateDisabled),
        131062 => Some(UserIdNotSupported),
        _ => None,
    }
}

/// The [`ErrorReason`] of a Twilio error code, synchronous or on a status callback.
pub fn twilio_reason(code: i64) -> Option<ErrorReason> {
    use ErrorReason::*;
    match code {
        63014 | 21610 => Some(RecipientOptedOut),
        63049 => Some(NotDeliveredByMeta),
        63016 => Some(OutsideWindow),
        30036 => Some(Expired),
        63062 => Some(MarketingTermsNotAccepted),
        _ => None,
    }
}

/// Everything a code says, at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub class: ErrorClass,
    /// The hold to use for a throttling code when the answer has no `Retry-After`.
    pub throttle: Option<Duration>,
    pub reason: Option<ErrorReason>,
}

/// [`meta`], [`meta_throttle`] and [`meta_reason`] together.
pub fn classify_meta(code: i64, http_status: u16) -> Classification {
    Classification {
        class: meta(code, http_status),
        throttle: meta_throttle(code),
        reason: meta_reason(code),
    }
}

/// [`twilio`], [`twilio_throttle`] and [`twilio_reason`] together.
pub fn classify_twilio(code: i64, http_status: u16) -> Classification {
    Classification {
        class: twilio(code, http_status),
        throttle: twilio_throttle(code),
        reason: twilio_reason(code),
    }
}

/// Classifies by HTTP status alone.
pub fn by_status(status: u16) -> ErrorClass {
    match status {
        401 | 403 => ErrorClass::Sender,
        408 | 425 | 429 => ErrorClass::Retryable,
        500..=599 => ErrorClass::Retryable,
        _ => ErrorClass::Permanent,
    }
}

/// Meta codes that mean "slow this sender down" rather than "this message is bad", with the
/// hold to use when the answer carries no `Retry-After`.
pub fn meta_throttle(code: i64) -> Option<Duration> {
    match code {
        // App, WABA and number throughput limits.
        4 | 80007 | 130429 => Some(Duration::from_secs(1)),
        // Maintenance or throughput upgrade of the number: about a minute.
        131057 => Some(Duration::from_secs(60)),
        _ => None,
    }
}

/// Meta codes that mean "slow this sender down" rather than "this message is bad".
pub fn meta_is_throttle(code: i64) -> bool {
    meta_throttle(code).is_some()
}

/// Twilio codes that mean "slow this sender down", with the hold to use when the answer
/// carries no `Retry-After`.
pub fn twilio_throttle(code: i64) -> Option<Duration> {
    match code {
        20429 | 63018 => Some(Duration::from_secs(1)),
        _ => None,
    }
}

/// Twilio codes that mean "slow this sender down" rather than "this message is bad".
pub fn twilio_is_throttle(code: i64) -> bool {
    twilio_throttle(code).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    /// Every code of docs/providers.md §1.2, with its class and whether it throttles the sender.
    const META: &[(i64, ErrorClass, bool)] = &[
        (0, Sender, false),
        (190, Sender, false),
        (3, Sender, false),
        (10, Sender, false),
        (200, Sender, false),
        (250, Sender, false),
        (299, Sender, false),
        (4, Retryable, true),
        (80007, Retryable, true),
        (130429, Retryable, true),
        (131048, Sender, false),
        (131056, Retryable, false),
        (131057, Retryable, true),
        (131026, Permanent, false),
        (131047, Permanent, false),
        (131049, Permanent, false),
        (131050, Permanent, false),
        (130472, Permanent, false),
        (131051, Permanent, false),
        (131053, Permanent, false),
        (100, Permanent, false),
        (131008, Permanent, false),
        (131009, Permanent, false),
        (132000, Permanent, false),
        (132001, Campaign, false),
        (132005, Permanent, false),
        (132007, Permanent, false),
        (132012, Permanent, false),
        (132015, Campaign, false),
        (132016, Campaign, false),
        (133010, Sender, false),
        (33, Sender, false),
        (368, Sender, false),
        (131031, Sender, false),
        (130497, Permanent, false),
        (131042, Sender, false),
        (1, Retryable, false),
        (2, Retryable, false),
        (131000, Retryable, false),
        (131016, Retryable, false),
        (470, Permanent, false),
        (131062, Permanent, false),
    ];

    /// Every code of docs/providers.md §3.2.
    const TWILIO: &[(i64, ErrorClass, bool)] = &[
        (20003, Sender, false),
        (20429, Retryable, true),
        (21211, Permanent, false),
        (21610, Permanent, false),
        (63016, Permanent, false),
        (63018, Retryable, true),
        (63024, Permanent, false),
        (63032, Permanent, false),
        (63049, Permanent, false),
        (63014, Permanent, false),
        (63025, Permanent, false),
        (63062, Campaign, false),
        (30036, Permanent, false),
    ];

    #[test]
    fn every_documented_meta_code_falls_in_its_class() {
        for &(code, class, throttle) in META {
            // The code wins over whatever HTTP status comes with it.
            for status in [400, 403, 404, 429, 500] {
                assert_eq!(meta(code, status), class, "meta {code} with HTTP {status}");
            }
            assert_eq!(meta_is_throttle(code), throttle, "meta {code} throttles");
        }
        assert_eq!(meta_throttle(131057), Some(Duration::from_secs(60)));
        assert_eq!(meta_throttle(130429), Some(Duration::from_secs(1)));
    }

    #[test]
    fn every_documented_twilio_code_falls_in_its_class() {
        for &(code, class, throttle) in TWILIO {
            for status in [400, 401, 404, 429, 500] {
                assert_eq!(twilio(code, status), class, "twilio {code} with HTTP {status}");
            }
            assert_eq!(twilio_is_throttle(code), throttle, "twilio {code} throttles");
        }
    }

    #[test]
    fn unknown_codes_fall_back_on_the_status() {
        let cases: &[(u16, ErrorClass)] = &[
            (400, Permanent),
            (401, Sender),
            (403, Sender),
            (404, Permanent),
            (408, Retryable),
            (422, Permanent),
            (425, Retryable),
            (429, Retryable),
            (500, Retryable),
            (502, Retryable),
            (503, Retryable),
        ];
        for &(status, class) in cases {
            assert_eq!(by_status(status), class, "HTTP {status}");
            assert_eq!(meta(999_999, status), class, "meta, HTTP {status}");
            assert_eq!(twilio(99_999, status), class, "twilio, HTTP {status}");
        }
        assert!(!meta_is_throttle(999_999) && !twilio_is_throttle(99_999));
    }

    /// The codes that carry a reason, and what the dispatcher reads from it: (code, reason,
    /// opt-out scope, counts toward auto-pause).
    #[test]
    fn reasons_say_what_to_record_and_what_to_count() {
        use ErrorReason::*;
        let meta_cases: &[(i64, ErrorReason, Option<OptOutScope>, bool)] = &[
            (131050, MarketingOptOut, Some(OptOutScope::Marketing), false),
            (131049, NotDeliveredByMeta, None, true),
            (131047, OutsideWindow, None, true),
            (470, OutsideWindow, None, true),
            (132001, TemplateUnavailable, None, true),
            (132015, TemplatePaused, None, true),
            (132016, TemplateDisabled, None, true),
            (131062, UserIdNotSupported, None, true),
        ];
        for &(code, reason, scope, counts) in meta_cases {
            assert_eq!(meta_reason(code), Some(reason), "meta {code}");
            assert_eq!(reason.opt_out_scope(), scope, "meta {code}");
            assert_eq!(reason.counts_toward_auto_pause(), counts, "meta {code}");
        }
        let twilio_cases: &[(i64, ErrorReason, Option<OptOutScope>, bool)] = &[
            (63014, RecipientOptedOut, Some(OptOutScope::All), false),
            (21610, RecipientOptedOut, Some(OptOutScope::All), false),
            (63049, NotDeliveredByMeta, None, true),
            (63016, OutsideWindow, None, true),
            (30036, Expired, None, false),
            (63062, MarketingTermsNotAccepted, None, true),
        ];
        for &(code, reason, scope, counts) in twilio_cases {
            assert_eq!(twilio_reason(code), Some(reason), "twilio {code}");
            assert_eq!(reason.opt_out_scope(), scope, "twilio {code}");
            assert_eq!(reason.counts_toward_auto_pause(), counts, "twilio {code}");
        }
        assert!(Expired.is_expiry() && !MarketingOptOut.is_expiry());
        for code in [131026, 130429, 131056, 190, 999_999] {
            assert_eq!(meta_reason(code), None, "meta {code}");
        }
        for code in [63018, 63024, 63025, 63032, 21211, 20003] {
            assert_eq!(twilio_reason(code), None, "twilio {code}");
        }
        assert_eq!(serde_json::to_value(MarketingOptOut).unwrap(), "marketing_opt_out");
        assert_eq!(MarketingTermsNotAccepted.to_string(), "marketing_terms_not_accepted");
    }

    #[test]
    fn a_classification_bundles_class_hold_and_reason() {
        assert_eq!(
            classify_meta(131050, 400),
            Classification {
                class: Permanent,
                throttle: None,
                reason: Some(ErrorReason::MarketingOptOut)
            }
        );
        assert_eq!(
            classify_meta(130429, 400),
            Classification {
                class: Retryable,
                throttle: Some(Duration::from_secs(1)),
                reason: None
            }
        );
        let c = classify_twilio(63018, 429);
        assert_eq!(
            (c.class, c.throttle, c.reason),
            (Retryable, Some(Duration::from_secs(1)), None)
        );
        let c = classify_twilio(63062, 400);
        assert_eq!(
            (c.class, c.reason),
            (Campaign, Some(ErrorReason::MarketingTermsNotAccepted))
        );
    }
}
