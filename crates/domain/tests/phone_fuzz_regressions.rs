//! Inputs the `phone` fuzz target (fuzz/fuzz_targets/phone.rs) found, kept as tests.

use pregon_domain::PhoneNumber;

/// fuzz/artifacts/phone/crash-3bce469f… (2026-12-02): `4313)034`, no default region. The
/// digits alone are read as international (`+43 1 3034`, a Vienna number libphonenumber
/// takes as valid): 7 digits in all. E.164 numbers that short exist (Niue, Saint Helena,
/// Tokelau: a 3-digit country code and 4 digits), and `parse_international` allows 7 to 15
/// digits; the fuzz target's invariant said 8 to 15 and was the one in the wrong.
#[test]
fn a_seven_digit_international_number_is_accepted_as_e164_and_reads_back() {
    let phone = PhoneNumber::parse("4313)034", None).expect("a valid 7-digit number");
    assert_eq!(phone.as_str(), "+4313034");
    assert_eq!(phone.digits().len(), 7);
    let again = PhoneNumber::parse(phone.as_str(), None).expect("an E.164 number reads back");
    assert_eq!(again, phone);
}

/// The other side of the bound: 6 digits are never E.164, whatever the parser thinks of them.
#[test]
fn six_digits_are_too_few_for_an_international_number() {
    assert!(PhoneNumber::parse("+431303", None).is_err());
    assert!(PhoneNumber::parse("431303", None).is_err());
}
