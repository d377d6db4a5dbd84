//! Operator CLI for pregon: manages campaigns on a running pregon server over
//! its HTTP API (`/api/v1`).
//!
//! The main binary flattens [`ClientArgs`] into its command line, nests
//! [`CampaignCommand`] under a `campaign` subcommand and calls
//! [`run_campaign`] (and [`MessageCommand`] under `message`, with [`run_message`]). Everything the commands do goes through [`Client`], which
//! can also be used on its own.
//!
//! Errors are returned, not printed: their text is the complete line to show,
//! e.g. `error: campaign is completed (invalid_transition, HTTP 409)`.

mod client;
mod message;
mod model;
mod render;
mod watch;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;

pub use client::{Action, Client, ClientError, ImportRequest, DEFAULT_POLL_INTERVAL};
pub use message::{run_message, run_message_with, MessageCommand};
pub use model::{
    Campaign, CampaignPage, Counts, ImportReport, ImportedCampaign, RowError, SkippedCounts, FINAL_STATUSES,
};
pub use render::format_duration;

/// Campaign statuses accepted by `list --status`.
pub const STATUSES: [&str; 7] = [
    "draft",
    "scheduled",
    "running",
    "paused",
    "completed",
    "cancelled",
    "failed",
];

/// Where the server is and who we are.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// Base URL of the pregon server.
    #[arg(long, env = "PREGON_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// API key (Authorization: Bearer).
    #[arg(long, env = "PREGON_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print the server's raw JSON instead of human-readable output.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Campaign management commands.
#[derive(clap::Subcommand, Debug)]
pub enum CampaignCommand {
    /// Create a campaign from a CSV file (multipart upload).
    Create {
        /// CSV file with one recipient per row.
        #[arg(long)]
        csv: PathBuf,
        /// Template id to send.
        #[arg(long)]
        template: String,
        /// Campaign name (default: the CSV file name without extension).
        #[arg(long)]
        name: Option<String>,
        /// Sender id to send from (default: the server's default sender).
        #[arg(long)]
        sender: Option<String>,
        /// CSV column holding the phone number.
        #[arg(long)]
        phone_column: Option<String>,
        /// Region for numbers without a country code, e.g. AR.
        #[arg(long)]
        default_region: Option<String>,
        /// Scheduling priority.
        #[arg(long)]
        priority: Option<u8>,
        /// Leave it as a draft.
        #[arg(long)]
        draft: bool,
        #[command(flatten)]
        plan: Box<PlanArgs>,
        /// Watch progress after creating.
        #[arg(long)]
        watch: bool,
    },
    /// List campaigns, newest first.
    List {
        /// Only campaigns with this status.
        #[arg(long, value_parser = STATUSES)]
        status: Option<String>,
        /// Maximum number of campaigns to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one campaign in detail.
    Show {
        /// Campaign id.
        id: String,
    },
    /// Start a draft or scheduled campaign.
    Start {
        /// Campaign id.
        id: String,
    },
    /// Pause a running campaign.
    Pause {
        /// Campaign id.
        id: String,
    },
    /// Resume a paused campaign.
    Resume {
        /// Campaign id.
        id: String,
    },
    /// Cancel a campaign for good.
    Cancel {
        /// Campaign id.
        id: String,
    },
    /// Re-queue the failed messages of a campaign.
    Retry {
        /// Campaign id.
        id: String,
        /// Also retry messages whose outcome is unknown (may send duplicates).
        #[arg(long)]
        include_unknown: bool,
    },
    /// Live progress bar until the campaign ends.
    Watch {
        /// Campaign id.
        id: String,
    },
}

/// How [`run_campaign_with`] presents its results.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputMode {
    /// Print the server's raw JSON (list, show, create, actions).
    pub json: bool,
    /// Draw an indicatif bar on stdout while watching; otherwise plain lines
    /// go to the writer at most once per second.
    pub tty: bool,
}

/// Runs one campaign command; output goes to stdout, errors are returned.
///
/// Every returned error's text is a complete line starting with `error:`.
pub async fn run_campaign(client: &ClientArgs, cmd: CampaignCommand) -> anyhow::Result<()> {
    let result = async {
        let api = Client::from_args(client)?;
        let mode = OutputMode {
            json: client.json,
            tty: std::io::stdout().is_terminal(),
        };
        run_campaign_with(&api, cmd, &mut std::io::stdout(), mode).await
    }
    .await;
    result.map_err(|err| {
        if err.to_string().starts_with("error:") {
            err
        } else {
            anyhow::anyhow!("error: {err:#}")
        }
    })
}

/// Prints the dispatchers sharing the server's database and the queue depth
/// (`pregon system`).
pub async fn run_system(client: &ClientArgs) -> anyhow::Result<()> {
    let result = async {
        let api = Client::from_args(client)?;
        let raw = api.system().await?;
        write_system(&raw, client.json, &mut std::io::stdout())
    }
    .await;
    result.map_err(|err| anyhow::anyhow!("error: {err:#}"))
}

/// Writes the system overview as a table (or the raw JSON).
pub fn write_system<W: Write>(raw: &serde_json::Value, json: bool, out: &mut W) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(raw)?)?;
        return Ok(());
    }
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    writeln!(
        out,
        "queue depth {}, running campaigns {}",
        raw["queue_depth"], raw["running_campaigns"]
    )?;
    writeln!(
        out,
        "{:<34} {:<16} {:>8} {:<9} {:>10} {:<25} SENDERS",
        "DISPATCHER", "HOST", "PID", "VERSION", "RATE/S", "LAST HEARTBEAT"
    )?;
    for d in raw["dispatchers"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let senders: Vec<String> = d["senders"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(text)
            .collect();
        writeln!(
            out,
            "{:<34} {:<16} {:>8} {:<9} {:>10.1} {:<25} {}",
            text(&d["id"]),
            text(&d["host"]),
            text(&d["pid"]),
            text(&d["version"]),
            d["current_rate"].as_f64().unwrap_or(0.0),
            text(&d["last_heartbeat_at"]),
            if senders.is_empty() {
                "-".to_string()
            } else {
                senders.join(",")
            }
        )?;
    }
    Ok(())
}

/// Runs one campaign command against `client`, writing output to `out`.
///
/// Watching stops quietly (returning `Ok`) on Ctrl-C; the campaign keeps running.
pub async fn run_campaign_with<W: Write + Send>(
    client: &Client,
    cmd: CampaignCommand,
    out: &mut W,
    mode: OutputMode,
) -> anyhow::Result<()> {
    match cmd {
        CampaignCommand::Create {
            csv,
            template,
            name,
            sender,
            phone_column,
            default_region,
            priority,
            draft,
            plan,
            watch,
        } => {
            let PlanArgs {
                start_at,
                window,
                days,
                timezone,
                recipient_timezone,
                rate,
                warmup,
                jitter_ms,
            } = *plan;
            let mut schedule = serde_json::Map::new();
            if let Some(at) = start_at {
                schedule.insert("start_at".into(), at.into());
            }
            if let Some(zone) = timezone {
                schedule.insert("timezone".into(), zone.into());
            }
            if let Some((start, end)) = window {
                schedule.insert(
                    "window".into(),
                    serde_json::json!({"start": start, "end": end, "days": days.unwrap_or_default()}),
                );
            }
            if recipient_timezone {
                schedule.insert("recipient_timezone".into(), true.into());
            }
            let mut plan = serde_json::Map::new();
            if let Some(r) = rate {
                plan.insert("messages_per_second".into(), r.into());
            }
            if warmup {
                plan.insert("warmup".into(), true.into());
            }
            if let Some(j) = jitter_ms {
                plan.insert("jitter_ms".into(), serde_json::json!(j));
            }
            let name = match name {
                Some(name) => name,
                None => csv
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .filter(|s| !s.is_empty())
                    .with_context(|| format!("cannot derive a name from {}; pass --name", csv.display()))?,
            };
            let request = ImportRequest {
                csv,
                name,
                template_id: template,
                sender_id: sender,
                phone_column,
                default_region,
                priority,
                start: !draft,
                schedule: (!schedule.is_empty()).then_some(serde_json::Value::Object(schedule)),
                rate: (!plan.is_empty()).then_some(serde_json::Value::Object(plan)),
            };
            let imported = client.import_campaign(&request).await?;
            if mode.json {
                write_json(out, &imported.raw)?;
            } else {
                render::write_import(out, &imported)?;
            }
            if watch {
                if imported.campaign.status == "draft" {
                    writeln!(
                        out,
                        "campaign is a draft; start it with `campaign start {}` to watch it",
                        imported.campaign.id
                    )?;
                } else {
                    watch_until_done(client, &imported.campaign.id, out, mode).await?;
                }
            }
        }
        CampaignCommand::List { status, limit } => {
            let page = client.list_campaigns(status.as_deref(), limit).await?;
            if mode.json {
                write_json(out, &page.raw)?;
            } else {
                render::write_table(out, &page)?;
            }
        }
        CampaignCommand::Show { id } => {
            let campaign = client.get_campaign(&id).await?;
            if mode.json {
                write_json(out, &campaign.raw)?;
            } else {
                render::write_campaign(out, &campaign)?;
            }
        }
        CampaignCommand::Start { id } => action(client, &id, Action::Start, out, mode).await?,
        CampaignCommand::Pause { id } => action(client, &id, Action::Pause, out, mode).await?,
        CampaignCommand::Resume { id } => action(client, &id, Action::Resume, out, mode).await?,
        CampaignCommand::Cancel { id } => action(client, &id, Action::Cancel, out, mode).await?,
        CampaignCommand::Retry { id, include_unknown } => {
            let campaign = client.retry_campaign(&id, include_unknown).await?;
            if mode.json {
                write_json(out, &campaign.raw)?;
            } else {
                render::write_action(out, "retried", &campaign)?;
            }
        }
        CampaignCommand::Watch { id } => watch_until_done(client, &id, out, mode).await?,
    }
    out.flush()?;
    Ok(())
}

async fn action<W: Write + Send>(
    client: &Client,
    id: &str,
    action: Action,
    out: &mut W,
    mode: OutputMode,
) -> anyhow::Result<()> {
    let campaign = client.campaign_action(id, action).await?;
    if mode.json {
        write_json(out, &campaign.raw)
    } else {
        let verb = match action {
            Action::Start => "started",
            Action::Pause => "paused",
            Action::Resume => "resumed",
            Action::Cancel => "cancelled",
        };
        Ok(render::write_action(out, verb, &campaign)?)
    }
}

async fn watch_until_done<W: Write + Send>(
    client: &Client,
    id: &str,
    out: &mut W,
    mode: OutputMode,
) -> anyhow::Result<()> {
    tokio::select! {
        result = client.watch(id, out, mode.tty) => result.map(|_| ()),
        Ok(()) = tokio::signal::ctrl_c() => {
            eprintln!("\nstopped watching; campaign {id} keeps going on the server");
            Ok(())
        }
    }
}

fn write_json(out: &mut dyn Write, value: &serde_json::Value) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod system_tests {
    use super::*;

    #[test]
    fn the_system_table_lists_each_dispatcher_and_its_senders() {
        let raw = serde_json::json!({
            "queue_depth": 1200, "running_campaigns": 2,
            "dispatchers": [
                {"id": "dsp_a", "host": "web-1", "pid": 41, "version": "0.1.0", "last_heartbeat_at": "2026-11-23T19:00:00.000Z",
                 "senders": ["snd_1", "snd_2"], "current_rate": 79.6},
                {"id": "dsp_b", "host": "web-2", "pid": 7, "version": "0.1.0", "last_heartbeat_at": "2026-11-23T19:00:01.000Z",
                 "senders": [], "current_rate": 0.0}
            ]
        });
        let mut out = Vec::new();
        write_system(&raw, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("queue depth 1200, running campaigns 2"), "{text}");
        let a = text.lines().find(|l| l.starts_with("dsp_a")).unwrap();
        assert!(
            a.contains("web-1") && a.contains("79.6") && a.ends_with("snd_1,snd_2"),
            "{a}"
        );
        assert!(text.lines().find(|l| l.starts_with("dsp_b")).unwrap().ends_with('-'));
        let mut json = Vec::new();
        write_system(&raw, true, &mut json).unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&json).unwrap(), raw);
    }
}

/// When and how fast a new campaign sends: its `schedule` and `rate` options.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PlanArgs {
    /// Start at this time (RFC 3339, e.g. 2026-12-07T14:00:00Z).
    #[arg(long)]
    start_at: Option<String>,
    /// Send only inside this daily window, local time: `09:00-18:00`.
    #[arg(long, value_parser = parse_window)]
    window: Option<(String, String)>,
    /// Weekdays the window starts on, 1 = Monday: `1-5` or `1,3,5` (default every day).
    #[arg(long, value_parser = parse_days, requires = "window")]
    days: Option<Vec<u8>>,
    /// IANA time zone of the window (default UTC), e.g. America/Guayaquil.
    #[arg(long)]
    timezone: Option<String>,
    /// Keep the window in each recipient's own time zone.
    #[arg(long, requires = "window")]
    recipient_timezone: bool,
    /// The campaign's own rate, messages per second (below the sender's).
    #[arg(long)]
    rate: Option<f64>,
    /// Warm up like a new number (1.2 s, 0.8 s, 0.6 s, then 0.4 s between messages).
    #[arg(long)]
    warmup: bool,
    /// Random extra pause between messages, milliseconds: `500-3000`.
    #[arg(long, value_parser = parse_jitter)]
    jitter_ms: Option<[u64; 2]>,
}

/// `09:00-18:00` into its two ends (checked by the server).
fn parse_window(s: &str) -> Result<(String, String), String> {
    let (start, end) = s
        .split_once('-')
        .ok_or("write the window as START-END, e.g. 09:00-18:00")?;
    Ok((start.trim().to_string(), end.trim().to_string()))
}

/// `1-5` or `1,3,5` into ISO weekdays.
fn parse_days(s: &str) -> Result<Vec<u8>, String> {
    let day = |d: &str| -> Result<u8, String> {
        match d.trim().parse::<u8>() {
            Ok(n @ 1..=7) => Ok(n),
            _ => Err(format!("{d:?} is not a weekday from 1 (Monday) to 7 (Sunday)")),
        }
    };
    let mut days = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                if a > b {
                    return Err(format!("{part:?} runs backwards"));
                }
                days.extend(a..=b);
            }
            None => days.push(day(part)?),
        }
    }
    Ok(days)
}

/// `500-3000` into `[500, 3000]` milliseconds.
fn parse_jitter(s: &str) -> Result<[u64; 2], String> {
    let bad = || "write the jitter as MIN-MAX milliseconds, e.g. 500-3000".to_string();
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if a > b {
        return Err(bad());
    }
    Ok([a, b])
}

#[cfg(test)]
mod schedule_flag_tests {
    use super::*;

    #[test]
    fn schedule_flags_parse() {
        assert_eq!(parse_window("09:00-18:00"), Ok(("09:00".into(), "18:00".into())));
        assert!(parse_window("0900").is_err());
        assert_eq!(parse_days("1-5"), Ok(vec![1, 2, 3, 4, 5]));
        assert_eq!(parse_days("1,3,7"), Ok(vec![1, 3, 7]));
        assert!(parse_days("0-3").is_err());
        assert!(parse_days("5-1").is_err());
        assert_eq!(parse_jitter("500-3000"), Ok([500, 3000]));
        assert!(parse_jitter("3000-500").is_err());
    }
}
