//! Facts about processes on this host, to free a dead local dispatcher's senders at once
//! instead of waiting for its leases to expire.

use std::path::Path;

/// This machine's name, or `PREGON_HOSTNAME` when set (containers that share a host name
/// but not a process table must set it, so a live dispatcher is never taken for a dead one).
pub fn host_name() -> String {
    std::env::var("PREGON_HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether a process runs. Without `/proc` we cannot tell and say yes: the lease then
/// simply expires.
pub fn is_alive(pid: i64) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie has exited; only its parent has not collected it yet.
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_live_from_dead_processes() {
        assert!(is_alive(std::process::id() as i64));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i64;
        child.wait().unwrap();
        assert!(!is_alive(pid), "an exited, collected process is dead");
        assert!(!host_name().is_empty());
    }
}
