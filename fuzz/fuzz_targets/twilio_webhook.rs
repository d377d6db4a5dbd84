//! Twilio webhook bodies (form-encoded status callbacks and incoming messages): any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pregon::reports::twilio::{read, Form};

fuzz_target!(|data: &[u8]| {
    let form = Form::parse(data);
    let _ = read(&form);
});
