//! The process's own series, under the names every Prometheus client uses
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`,
//! `process_max_fds`, `process_start_time_seconds`), read from `/proc/self` at each scrape.
//! Elsewhere than Linux there is no `/proc` and the series are left out.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// Clock ticks per second of `/proc`'s times: the kernel's `USER_HZ`, which is 100 on every
/// architecture Linux exports to user space (it is fixed in the ABI, unlike `HZ`).
const USER_HZ: f64 = 100.0;

/// Reads `/proc/self` on each scrape.
#[derive(Debug, Default)]
pub struct ProcessCollector;

/// What one scrape read.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Sample {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<i64>,
    pub open_fds: Option<i64>,
    pub max_fds: Option<i64>,
    pub start_time_seconds: Option<f64>,
}

impl Sample {
    pub(crate) fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let fields = stat.as_deref().map(stat_fields).unwrap_or_default();
        // Fields counted from 1 as proc(5) does; `fields` starts at field 3 (state).
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        let cpu_seconds = field(14).zip(field(15)).map(|(u, s)| (u + s) / USER_HZ);
        let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
        let start_time_seconds = boot.zip(field(22)).map(|(b, ticks)| b + ticks / USER_HZ);
        let resident_bytes = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
                .map(|kb| kb * 1024)
        });
        let open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as i64);
        let max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Max open files"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<i64>().ok())
        });
        Sample {
            cpu_seconds,
            resident_bytes,
            open_fds,
            max_fds,
            start_time_seconds,
        }
    }
}

/// The fields of `/proc/self/stat` after the command name, which may hold spaces and
/// parentheses itself: everything after its last `)`.
fn stat_fields(stat: &str) -> Vec<String> {
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = Sample::read();
        if let Some(v) = s.cpu_seconds {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(
                "process_cpu",
                "User and system CPU time spent",
                Some(&Unit::Seconds),
                c.metric_type(),
            )?)?;
        }
        if let Some(v) = s.resident_bytes {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(
                "process_resident_memory",
                "Resident memory size",
                Some(&Unit::Bytes),
                g.metric_type(),
            )?)?;
        }
        if let Some(v) = s.open_fds {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor("process_open_fds", "Open file descriptors", None, g.metric_type())?)?;
        }
        if let Some(v) = s.max_fds {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(
                "process_max_fds",
                "Most open file descriptors allowed",
                None,
                g.metric_type(),
            )?)?;
        }
        if let Some(v) = s.start_time_seconds {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(
                "process_start_time",
                "Start time of the process since the Unix epoch",
                Some(&Unit::Seconds),
                g.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_name_may_hold_spaces_and_parentheses() {
        let fields = stat_fields("42 (a (b) c) S 1 2 3");
        assert_eq!(fields, ["S", "1", "2", "3"]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_reads_every_figure_and_they_are_plausible() {
        let s = Sample::read();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = s.start_time_seconds.expect("start time");
        // This test process started within the last day, and not in the future.
        assert!(start <= now + 1.0 && start > now - 86_400.0, "start {start}, now {now}");
        assert!(s.resident_bytes.expect("rss") > 1 << 20);
        let fds = s.open_fds.expect("fds");
        assert!(fds >= 3 && fds <= s.max_fds.expect("max fds"));
        assert!(s.cpu_seconds.expect("cpu") >= 0.0);
    }
}
