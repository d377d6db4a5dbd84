//! JSON contacts as the API takes them (`"contacts": [...]`): any JSON array of anything.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let n = items.len();
    if let Ok(contacts) = pregon::import::contacts_from_json(items, 1_000) {
        assert_eq!(contacts.len(), n, "one contact per item");
    }
});
