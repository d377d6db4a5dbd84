//! Provider error codes and what they mean for pregon (providers.md §1.2).

use pregon_domain::ErrorClass;

/// Classifies a Meta Cloud API error code, falling back on the HTTP status for codes the
/// table does not know.
pub fn meta(code: i64, http_status: u16) -> ErrorClass {
    use ErrorClass::*;
    match code {
        // Token expired or revoked, permissions, number deleted or unregistered, account
        // locked or blocked, payment: the sender itself cannot send.
        0 | 190 | 3 | 10 | 200..=299 | 33 | 368 | 131031 | 131042 | 133010 => Sender,
        // Spam rate limit: quality-based restriction on the number.
        131048 => Sender,
        // Throttling, pair rate, maintenance, transient and unknown server errors.
        4 | 80007 | 130429 | 131056 | 131057 | 1 | 2 | 131000 | 131016 => Retryable,
        // This message (or recipient) will not go through.
        131026 | 131047 | 131049 | 131050 | 130472 | 131051 | 131053 | 100 | 131008 | 131009 | 130497 | 470 => {
            Permanent
        }
        132000..=132099 => Permanent,
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

/// Meta codes that mean "slow this sender down" rather than "this message is bad".
pub fn meta_is_throttle(code: i64) -> bool {
    matches!(code, 4 | 80007 | 130429)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    #[test]
    fn the_documented_codes_fall_in_their_class() {
        for code in [0, 190, 3, 10, 200, 299, 33, 368, 131031, 131042, 133010, 131048] {
            assert_eq!(meta(code, 400), Sender, "{code}");
        }
        for code in [4, 80007, 130429, 131056, 131057, 1, 2, 131000, 131016] {
            assert_eq!(meta(code, 400), Retryable, "{code}");
        }
        for code in [
            131026, 131047, 131049, 131050, 130472, 131051, 131053, 100, 131008, 131009, 132000, 132001, 132005,
            132007, 132012, 132015, 132016, 130497, 470,
        ] {
            assert_eq!(meta(code, 400), Permanent, "{code}");
        }
    }

    #[test]
    fn unknown_codes_fall_back_on_the_status() {
        assert_eq!(meta(999_999, 503), Retryable);
        assert_eq!(meta(999_999, 429), Retryable);
        assert_eq!(meta(999_999, 401), Sender);
        assert_eq!(meta(999_999, 400), Permanent);
        assert!(meta_is_throttle(130429) && !meta_is_throttle(131026));
    }
}
