//! Business-scoped user IDs (BSUIDs): how Meta names a WhatsApp user to one business, with
//! or without a phone number (docs/providers.md §1.6).
//!
//! A BSUID is an ISO 3166 alpha-2 country code, a dot, then up to 128 alphanumeric
//! characters (`US.13491208655302741918`). It is scoped to the business portfolio and
//! changes if the user changes their phone number. Since 2026-03-31 it comes as `user_id`
//! in webhooks; a user who adopts a username may come with it alone.

use std::fmt;

use crate::phone::Region;

/// Longest part after the country prefix.
const MAX_TAIL: usize = 128;

/// A business-scoped user ID, checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BusinessUserId(String);

/// Why a text is not a BSUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a business-scoped user ID (a country code, a dot, then letters and digits: US.1349…)")]
pub struct UserIdError(pub String);

impl BusinessUserId {
    /// Checks the shape: two ASCII letters, `.`, then 1 to 128 characters among letters,
    /// digits, `.`, `_` and `-` (parent BSUIDs and future suffixes may use the last three:
    /// their exact alphabet is UNCONFIRMED). The country prefix is upper-cased.
    pub fn parse(input: &str) -> Result<Self, UserIdError> {
        let s = input.trim();
        let err = || UserIdError(input.to_string());
        let (prefix, tail) = s.split_once('.').ok_or_else(err)?;
        let prefix_ok = prefix.len() == 2 && prefix.bytes().all(|b| b.is_ascii_alphabetic());
        let tail_ok = !tail.is_empty()
            && tail.len() <= MAX_TAIL
            && tail
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && tail.bytes().any(|b| b.is_ascii_alphanumeric());
        if !(prefix_ok && tail_ok) {
            return Err(err());
        }
        Ok(BusinessUserId(format!("{}.{tail}", prefix.to_ascii_uppercase())))
    }

    /// The two-letter country prefix (`US`): where Meta registered the user, what a rate card
    /// prices a message to them by when no phone number is known.
    pub fn country_code(&self) -> &str {
        &self.0[..2]
    }

    /// The prefix as a region pregon knows; `None` for codes libphonenumber does not.
    pub fn region(&self) -> Option<Region> {
        Region::parse(self.country_code()).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for BusinessUserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BusinessUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for BusinessUserId {
    type Error = UserIdError;
    fn try_from(s: String) -> Result<Self, UserIdError> {
        Self::parse(&s)
    }
}

impl From<BusinessUserId> for String {
    fn from(id: BusinessUserId) -> String {
        id.0
    }
}

impl std::str::FromStr for BusinessUserId {
    type Err = UserIdError;
    fn from_str(s: &str) -> Result<Self, UserIdError> {
        Self::parse(s)
    }
}

/// The identity a recipient is stored and matched under (dedupe, opt-outs, pair gaps, daily
/// unique recipients): its E.164 phone when known, else its BSUID. The two never look alike
/// (a phone starts with `+`, a BSUID with two letters), so one text column holds either.
/// `None` when neither is known.
pub fn identity_key(phone: Option<&str>, user_id: Option<&BusinessUserId>) -> Option<String> {
    match (phone.filter(|p| !p.is_empty()), user_id) {
        (Some(p), _) => Some(p.to_string()),
        (None, Some(u)) => Some(u.as_str().to_string()),
        (None, None) => None,
    }
}

/// The phone an identity key names; `None` when it is a BSUID (a user known by it alone).
pub fn phone_of_key(key: &str) -> Option<&str> {
    key.starts_with('+').then_some(key)
}

/// The BSUID an identity key names, when it is one.
pub fn user_id_of_key(key: &str) -> Option<BusinessUserId> {
    if key.starts_with('+') {
        None
    } else {
        BusinessUserId::parse(key).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_example() {
        let id = BusinessUserId::parse("US.13491208655302741918").unwrap();
        assert_eq!(id.as_str(), "US.13491208655302741918");
        assert_eq!(id.country_code(), "US");
        assert_eq!(id.region().unwrap().code(), "US");
        let id = BusinessUserId::parse(" br.1A2B3C4D5E6F7G8H9I0J ").unwrap();
        assert_eq!(id.as_str(), "BR.1A2B3C4D5E6F7G8H9I0J", "the prefix is upper-cased");
        assert_eq!(serde_json::to_value(&id).unwrap(), "BR.1A2B3C4D5E6F7G8H9I0J");
        let back: BusinessUserId = serde_json::from_value("IN.1648738043044942".into()).unwrap();
        assert_eq!(back.country_code(), "IN");
    }

    #[test]
    fn refuses_what_is_not_one() {
        for bad in [
            "",
            "13491208655302741918",
            "USA.123",
            "U.123",
            "US.",
            "US.12 34",
            "1S.123",
            "US.---",
            "+584121234567",
        ] {
            assert!(BusinessUserId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(BusinessUserId::parse(&format!("US.{}", "9".repeat(MAX_TAIL))).is_ok());
        assert!(BusinessUserId::parse(&format!("US.{}", "9".repeat(MAX_TAIL + 1))).is_err());
        assert!(serde_json::from_value::<BusinessUserId>("nope".into()).is_err());
        assert_eq!(BusinessUserId::parse("ZZ.1").unwrap().region(), None);
    }

    #[test]
    fn an_identity_is_the_phone_else_the_user_id() {
        let u = BusinessUserId::parse("VE.55").unwrap();
        assert_eq!(
            identity_key(Some("+584121234567"), Some(&u)).as_deref(),
            Some("+584121234567")
        );
        assert_eq!(identity_key(None, Some(&u)).as_deref(), Some("VE.55"));
        assert_eq!(identity_key(Some(""), Some(&u)).as_deref(), Some("VE.55"));
        assert_eq!(identity_key(None, None), None);
        assert_eq!(phone_of_key("+584121234567"), Some("+584121234567"));
        assert_eq!(phone_of_key("VE.55"), None);
        assert_eq!(user_id_of_key("VE.55"), Some(u));
        assert_eq!(user_id_of_key("+584121234567"), None);
    }
}
