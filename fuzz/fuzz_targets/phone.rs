//! Phone normalisation: whatever a spreadsheet holds, in any of the regions our users are
//! in. An accepted number is E.164 (`+` and 7 to 15 digits: Niue's and Saint Helena's are
//! 7 in all) and reads back as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pregon_domain::{PhoneNumber, Region};

const REGIONS: [&str; 8] = ["VE", "CO", "MX", "EC", "PE", "AR", "US", "ES"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let region = REGIONS.get(pick as usize % 9).map(|r| Region::parse(r).unwrap());
    if let Ok(phone) = PhoneNumber::parse(text, region) {
        let e164 = phone.as_str();
        assert!(e164.starts_with('+'), "{e164}");
        assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()), "{e164}");
        assert!((8..=16).contains(&e164.len()), "{e164}");
        let again = PhoneNumber::parse(e164, None).expect("an E.164 number reads back");
        assert_eq!(again.as_str(), e164);
    }
});
