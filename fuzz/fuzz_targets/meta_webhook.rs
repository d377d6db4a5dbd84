//! Meta webhook bodies, as the providers crate and the status reader take them: any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pregon_providers::meta_webhooks::parse(data);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = pregon::reports::meta::parse(&value);
    }
});
