//! Provider error codes and what they mean for pregon (providers.md §1.2 for Meta, §2.2 for
//! Twilio). Codes a table does not know fall back on the HTTP status.

use std::time::Duration;

use pregon_domain::ErrorClass;

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
        // This message (or recipient) will not go through.
        131026 | 131047 | 131049 | 131050 | 130472 | 131051 | 131053 | 100 | 131008 | 131009 | 130497 | 470 => {
            ErrorClass::Permanent
        }
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
        // on WhatsApp, in a Meta experiment, marketing message not delivered.
        21211 | 21610 | 63016 | 63024 | 63032 | 63049 => ErrorClass::Permanent,
        _ => by_status(http_status),
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

    /// Every code of providers.md §1.2, with its class and whether it throttles the sender.
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
    ];

    /// Every code of providers.md §2.2.
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
}
