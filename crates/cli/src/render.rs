//! Human-readable output: tables, detail views, progress lines.

use std::io::{self, Write};

use chrono::DateTime;

use crate::model::{Campaign, CampaignPage, ImportedCampaign};

/// How many import row errors `create` prints.
pub const SHOWN_ROW_ERRORS: usize = 5;
const NAME_WIDTH: usize = 32;

/// Formats seconds as a short duration: `45s`, `1m47s`, `2h03m`.
pub fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "?".to_owned();
    }
    let secs = seconds.round() as u64;
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// Shortens an RFC 3339 timestamp to `YYYY-MM-DD HH:MM:SS` (UTC offset dropped);
/// anything unparsable is returned as is, `None` as `-`.
pub fn format_time(ts: Option<&str>) -> String {
    match ts {
        None => "-".to_owned(),
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            Err(_) => s.to_owned(),
        },
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Rate and ETA, e.g. `79.6 msg/s, ETA 1m47s`.
pub fn rate_and_eta(c: &Campaign) -> String {
    let rate = c
        .current_rate
        .map_or_else(|| "- msg/s".to_owned(), |r| format!("{r:.1} msg/s"));
    let eta = c.eta_seconds.map_or_else(|| "-".to_owned(), format_duration);
    format!("{rate}, ETA {eta}")
}

/// The counters shown while watching: sent, failed, unknown, skipped, rate, ETA.
pub fn progress_message(c: &Campaign) -> String {
    let n = &c.counts;
    let mut msg = String::new();
    if c.status != "running" {
        msg.push_str(&c.status_label());
        msg.push_str(" | ");
    }
    msg.push_str(&format!(
        "sent {} | failed {} | unknown {} | skipped {} | {}",
        n.sent_total(),
        n.failed,
        n.unknown,
        n.skipped,
        rate_and_eta(c)
    ));
    msg
}

/// One plain progress line for non-terminal output.
pub fn progress_line(c: &Campaign) -> String {
    format!(
        "{} {} {:.1}% ({}/{}) {}",
        c.id,
        c.status_label(),
        c.percent(),
        c.done(),
        c.total,
        progress_message_counts(c)
    )
}

fn progress_message_counts(c: &Campaign) -> String {
    let n = &c.counts;
    format!(
        "sent {}, failed {}, unknown {}, skipped {}, {}",
        n.sent_total(),
        n.failed,
        n.unknown,
        n.skipped,
        rate_and_eta(c)
    )
}

/// One-line summary printed when a watched campaign ends.
pub fn final_summary(c: &Campaign) -> String {
    let n = &c.counts;
    let mut line = format!(
        "campaign {} {}: {} sent, {} failed, {} unknown, {} skipped, {} cancelled, {} expired of {}",
        c.id,
        c.status,
        n.sent_total(),
        n.failed,
        n.unknown,
        n.skipped,
        n.cancelled,
        n.expired,
        c.total
    );
    let parse = |s: &Option<String>| s.as_deref().and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    if let (Some(start), Some(end)) = (parse(&c.started_at), parse(&c.completed_at)) {
        let secs = (end - start).num_milliseconds() as f64 / 1000.0;
        line.push_str(&format!(" in {}", format_duration(secs)));
    }
    line
}

/// Prints the campaign table of `list`.
pub fn write_table(out: &mut dyn Write, page: &CampaignPage) -> io::Result<()> {
    if page.items.is_empty() {
        return writeln!(out, "no campaigns");
    }
    let header = ["ID", "NAME", "STATUS", "PROGRESS", "SENT", "FAILED", "TOTAL", "CREATED"];
    let rows: Vec<[String; 8]> = page
        .items
        .iter()
        .map(|c| {
            [
                c.id.clone(),
                truncate(&c.name, NAME_WIDTH),
                c.status_label(),
                format!("{:.1}%", c.percent()),
                c.counts.sent_total().to_string(),
                c.counts.failed.to_string(),
                c.total.to_string(),
                format_time(c.created_at.as_deref()),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Columns 3..=6 are numbers: right-aligned.
    let line = |cells: &[&str]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if (3..=6).contains(&i) {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        parts.join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(&header))?;
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    if page.next_cursor.is_some() {
        writeln!(out, "(more campaigns exist; raise --limit or filter with --status)")?;
    }
    Ok(())
}

/// Prints the detail view of `show`.
pub fn write_campaign(out: &mut dyn Write, c: &Campaign) -> io::Result<()> {
    let n = &c.counts;
    let or_dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_owned());
    let fields = [
        ("id", c.id.clone()),
        ("name", c.name.clone()),
        ("status", c.status_label()),
        ("sender", or_dash(&c.sender_id)),
        ("template", or_dash(&c.template_id)),
        ("priority", c.priority.map_or_else(|| "-".to_owned(), |p| p.to_string())),
        (
            "progress",
            format!("{:.1}% ({} of {} done)", c.percent(), c.done(), c.total),
        ),
        (
            "pending",
            format!("queued {}, claimed {}, sending {}", n.queued, n.claimed, n.sending),
        ),
        (
            "sent",
            format!(
                "{} (sent {}, delivered {}, read {})",
                n.sent_total(),
                n.sent,
                n.delivered,
                n.read
            ),
        ),
        (
            "not sent",
            format!(
                "failed {}, unknown {}, skipped {}, cancelled {}, expired {}",
                n.failed, n.unknown, n.skipped, n.cancelled, n.expired
            ),
        ),
        ("rate", rate_and_eta(c)),
        ("created", format_time(c.created_at.as_deref())),
        ("started", format_time(c.started_at.as_deref())),
        ("last sent", format_time(c.last_sent_at.as_deref())),
        ("completed", format_time(c.completed_at.as_deref())),
    ];
    for (label, value) in fields {
        writeln!(out, "{:<10} {value}", format!("{label}:"))?;
    }
    Ok(())
}

/// Prints the result of `create`: id, status, accepted and skipped counts, first errors.
pub fn write_import(out: &mut dyn Write, imported: &ImportedCampaign) -> io::Result<()> {
    let c = &imported.campaign;
    let report = &imported.import;
    let s = &report.skipped;
    writeln!(out, "created campaign {} ({})", c.id, c.status_label())?;
    writeln!(out, "accepted: {}", report.accepted)?;
    let no_consent = match s.no_consent {
        0 => String::new(),
        n => format!(", no_consent {n}"),
    };
    writeln!(
        out,
        "skipped:  {} (invalid_phone {}, duplicate {}, opted_out {}, missing_variable {}{no_consent})",
        s.total(),
        s.invalid_phone,
        s.duplicate,
        s.opted_out,
        s.missing_variable
    )?;
    if !report.errors.is_empty() {
        let shown = report.errors.len().min(SHOWN_ROW_ERRORS);
        writeln!(out, "row errors (first {shown} of {}):", report.errors.len())?;
        for e in report.errors.iter().take(shown) {
            writeln!(out, "  row {}: {}", e.row, e.reason)?;
        }
    }
    Ok(())
}

/// Prints the campaign state after an action such as `pause`.
pub fn write_action(out: &mut dyn Write, verb: &str, c: &Campaign) -> io::Result<()> {
    writeln!(out, "{verb} campaign {}: now {}", c.id, c.status_label())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Counts;

    #[test]
    fn durations() {
        assert_eq!(format_duration(0.0), "0s");
        assert_eq!(format_duration(45.4), "45s");
        assert_eq!(format_duration(107.0), "1m47s");
        assert_eq!(format_duration(65.0), "1m05s");
        assert_eq!(format_duration(7380.0), "2h03m");
        assert_eq!(format_duration(-1.0), "?");
    }

    #[test]
    fn times() {
        assert_eq!(format_time(Some("2024-05-01T10:20:30.123Z")), "2024-05-01 10:20:30");
        assert_eq!(format_time(Some("yesterday")), "yesterday");
        assert_eq!(format_time(None), "-");
    }

    fn campaign(status: &str) -> Campaign {
        Campaign {
            id: "cmp_1".into(),
            status: status.into(),
            total: 100,
            counts: Counts {
                queued: 50,
                sending: 10,
                sent: 20,
                delivered: 5,
                read: 5,
                failed: 10,
                ..Counts::default()
            },
            current_rate: Some(79.64),
            eta_seconds: Some(107.0),
            ..Campaign::default()
        }
    }

    #[test]
    fn progress_figures() {
        let c = campaign("running");
        assert_eq!(c.done(), 40);
        assert_eq!(c.percent(), 40.0);
        assert_eq!(
            progress_message(&c),
            "sent 30 | failed 10 | unknown 0 | skipped 0 | 79.6 msg/s, ETA 1m47s"
        );
        let mut paused = campaign("paused");
        paused.paused_reason = Some("daily_limit".into());
        assert!(progress_message(&paused).starts_with("paused (daily_limit) | sent 30"));
        assert!(progress_line(&paused).starts_with("cmp_1 paused (daily_limit) 40.0% (40/100)"));
    }

    #[test]
    fn table_aligns_columns() {
        let page = CampaignPage {
            items: vec![campaign("running"), campaign("completed")],
            ..CampaignPage::default()
        };
        let mut out = Vec::new();
        write_table(&mut out, &page).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ID     NAME  STATUS     PROGRESS  SENT  FAILED  TOTAL  CREATED"));
        assert!(lines[1].contains("running       40.0%    30      10    100  -"));
    }
}
