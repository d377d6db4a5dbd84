//! Phone numbers in E.164, the only form pregon stores or sends.
//!
//! Parsing follows the contract in api.md: `+…` or `00…` is international; digits alone
//! are read as a national number of the default region when one is given and the number is
//! valid there, else as international with the country code first (the way WhatsApp writes
//! `wa_id`: `584121234567`).

use std::fmt;
use std::str::FromStr;

use phonenumber::country::Id as CountryId;
use phonenumber::Mode;

/// A valid phone number in E.164 form (`+584121234567`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// A two-letter ISO 3166 region used to read national numbers (`VE`, `EC`, `US`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(CountryId);

/// Why a phone number was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the phone number is empty")]
    Empty,
    #[error(
        "the phone number contains characters other than digits, spaces, dashes, dots, parentheses and a leading +"
    )]
    InvalidCharacters,
    #[error("the phone number has too few or too many digits")]
    BadLength,
    #[error("the phone number is not a valid number in any region")]
    NotValid,
    #[error("unknown region code {0:?}; use a two-letter ISO 3166 code such as VE or EC")]
    UnknownRegion(String),
}

impl Region {
    /// Parses a two-letter region code, case-insensitively.
    pub fn parse(code: &str) -> Result<Self, PhoneError> {
        let upper = code.trim().to_ascii_uppercase();
        if upper.len() != 2 {
            return Err(PhoneError::UnknownRegion(code.to_string()));
        }
        CountryId::from_str(&upper)
            .map(Region)
            .map_err(|_| PhoneError::UnknownRegion(code.to_string()))
    }

    /// The region's two-letter code.
    pub fn code(&self) -> String {
        format!("{:?}", self.0)
    }
}

impl PhoneNumber {
    /// Parses what a person or a spreadsheet wrote into E.164.
    pub fn parse(input: &str, default_region: Option<Region>) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // Check the shape ourselves: the parser is lenient (it accepts `whatsapp:+…`,
        // letters as keypad digits, extensions), and a list should not smuggle those in.
        let mut digits = String::with_capacity(trimmed.len());
        let mut plus = false;
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => plus = true,
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                _ => return Err(PhoneError::InvalidCharacters),
            }
        }
        let international = if plus {
            Some(digits.clone())
        } else {
            digits.strip_prefix("00").map(str::to_string)
        };
        if let Some(number) = international {
            return Self::parse_international(&number);
        }
        if digits.len() < 4 || digits.len() > 17 {
            return Err(PhoneError::BadLength);
        }
        if let Some(region) = default_region {
            if let Ok(parsed) = phonenumber::parse(Some(region.0), &digits) {
                if phonenumber::is_valid(&parsed) {
                    return Ok(Self::from_parsed(&parsed));
                }
            }
        }
        Self::parse_international(&digits)
    }

    fn parse_international(digits: &str) -> Result<Self, PhoneError> {
        // E.164: a country code that does not start with 0, at most 15 digits in all.
        if digits.len() < 7 || digits.len() > 15 {
            return Err(PhoneError::BadLength);
        }
        if digits.starts_with('0') {
            return Err(PhoneError::NotValid);
        }
        let parsed = phonenumber::parse(None, format!("+{digits}")).map_err(|_| PhoneError::NotValid)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::NotValid);
        }
        Ok(Self::from_parsed(&parsed))
    }

    fn from_parsed(parsed: &phonenumber::PhoneNumber) -> Self {
        PhoneNumber(parsed.format().mode(Mode::E164).to_string())
    }

    /// Trusts a value that was parsed before (read back from our own store).
    pub fn from_trusted(e164: String) -> Self {
        PhoneNumber(e164)
    }

    /// The number as digits only, without `+`: the form Meta's `to` takes.
    pub fn digits(&self) -> &str {
        self.0.trim_start_matches('+')
    }

    /// The E.164 form, `+` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The region the number belongs to, when libphonenumber knows it.
    pub fn region(&self) -> Option<Region> {
        phonenumber::parse(None, &self.0)
            .ok()
            .and_then(|p| p.country().id())
            .map(Region)
    }
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ve() -> Option<Region> {
        Some(Region::parse("VE").unwrap())
    }

    #[test]
    fn international_forms_parse_to_e164() {
        assert_eq!(
            PhoneNumber::parse("+1 (415) 555-2671", None).unwrap().as_str(),
            "+14155552671"
        );
        assert_eq!(
            PhoneNumber::parse("+44 07911 123456", None).unwrap().as_str(),
            "+447911123456"
        );
        assert_eq!(
            PhoneNumber::parse("0058 412 123 4567", None).unwrap().as_str(),
            "+584121234567"
        );
    }

    #[test]
    fn wa_id_style_digits_are_international() {
        // Seeds 001 and 003 store numbers this way.
        assert_eq!(
            PhoneNumber::parse("584121234567", None).unwrap().as_str(),
            "+584121234567"
        );
        assert_eq!(
            PhoneNumber::parse("573001234567", None).unwrap().as_str(),
            "+573001234567"
        );
        // With a region given, a number that is not valid nationally still reads as international.
        assert_eq!(
            PhoneNumber::parse("584121234567", ve()).unwrap().as_str(),
            "+584121234567"
        );
    }

    #[test]
    fn national_numbers_use_the_default_region() {
        assert_eq!(
            PhoneNumber::parse("0412-123-4567", ve()).unwrap().as_str(),
            "+584121234567"
        );
        assert_eq!(
            PhoneNumber::parse("4121234567", ve()).unwrap().as_str(),
            "+584121234567"
        );
        let ec = Some(Region::parse("ec").unwrap());
        assert_eq!(
            PhoneNumber::parse("099 568 3452", ec).unwrap().as_str(),
            "+593995683452"
        );
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(PhoneNumber::parse("", None), Err(PhoneError::Empty));
        assert_eq!(
            PhoneNumber::parse("whatsapp:+14155552671", None),
            Err(PhoneError::InvalidCharacters)
        );
        assert_eq!(PhoneNumber::parse("12ab", None), Err(PhoneError::InvalidCharacters));
        assert_eq!(PhoneNumber::parse("+1415555267", None), Err(PhoneError::NotValid));
        assert_eq!(PhoneNumber::parse("123", None), Err(PhoneError::BadLength));
        assert_eq!(
            PhoneNumber::parse("+1234567890123456", None),
            Err(PhoneError::BadLength)
        );
        assert!(PhoneNumber::parse("4121234567", None).is_err());
    }

    #[test]
    fn regions_parse_and_reject_unknown_codes() {
        assert_eq!(Region::parse("ve").unwrap().code(), "VE");
        assert!(matches!(Region::parse("XX"), Err(PhoneError::UnknownRegion(_))));
        assert!(matches!(Region::parse("Venezuela"), Err(PhoneError::UnknownRegion(_))));
    }

    #[test]
    fn digits_drop_the_plus_for_meta() {
        let p = PhoneNumber::parse("+584121234567", None).unwrap();
        assert_eq!(p.digits(), "584121234567");
        assert_eq!(p.region().unwrap().code(), "VE");
    }
}
