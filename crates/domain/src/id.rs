//! Opaque identifiers. Ids are strings on the wire; internally every kind carries a short
//! prefix so a mixed-up id is obvious in logs (`cmp_…` is never a sender).

use std::time::{SystemTime, UNIX_EPOCH};

/// A new random, time-ordered identifier with the given prefix, e.g. `cmp_0193…`.
///
/// Time-ordered so that "newest first" lists can sort by id and indexes stay compact.
pub fn new_id(prefix: &str) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let random: u64 = rand::random();
    format!("{prefix}_{millis:012x}{random:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_unique_and_time_ordered() {
        let a = new_id("cmp");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id("cmp");
        assert!(a.starts_with("cmp_"));
        assert_ne!(a, b);
        assert!(a < b, "{a} should sort before {b}");
    }
}
