//! Opaque identifiers. Ids are strings on the wire; internally every kind carries a short
//! prefix so a mixed-up id is obvious in logs (`cmp_…` is never a sender).

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// A new random, time-ordered identifier with the given prefix, e.g. `cmp_0193…`.
///
/// Time-ordered so that "newest first" lists can sort by id and indexes stay compact; a
/// per-process sequence keeps ids made within the same millisecond in creation order.
pub fn new_id(prefix: &str) -> String {
    static LAST: Mutex<(u64, u16)> = Mutex::new((0, 0));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let (millis, seq) = {
        let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
        *last = if now > last.0 {
            (now, 0)
        } else if last.1 == u16::MAX {
            (last.0 + 1, 0)
        } else {
            (last.0, last.1 + 1)
        };
        *last
    };
    let random: u64 = rand::random::<u64>() >> 16;
    format!("{prefix}_{millis:012x}{seq:04x}{random:012x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_unique_and_time_ordered() {
        let ids: Vec<String> = (0..1_000).map(|_| new_id("cmp")).collect();
        assert!(ids[0].starts_with("cmp_"));
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} should sort before {}", pair[0], pair[1]);
        }
    }
}
