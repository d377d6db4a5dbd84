//! Live campaign progress: polls the campaign and draws a progress bar
//! (or plain lines when the output is not a terminal).

use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::client::{Client, ClientError};
use crate::model::Campaign;
use crate::render;

/// Plain progress lines are printed at most this often.
const PLAIN_LINE_INTERVAL: Duration = Duration::from_secs(1);
/// Consecutive transient failures (network, 5xx) tolerated before giving up.
const MAX_TRANSIENT_FAILURES: u32 = 20;
const BAR_TEMPLATE: &str = "[{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len} ({percent}%) {msg}";

/// Where progress goes.
enum Display {
    Bar(ProgressBar),
    Plain { last: Option<Instant> },
}

impl Client {
    /// Polls campaign `id` every [`Client::poll_interval`] until it reaches a
    /// final state, then prints a one-line summary to `out` and returns the
    /// final campaign.
    ///
    /// With `tty` set, progress is an indicatif bar drawn on stdout; otherwise a
    /// plain line is written to `out` at most once per second. Transient errors
    /// (network, 5xx) are retried for a while; API errors end the watch.
    pub async fn watch<W: Write + Send>(&self, id: &str, out: &mut W, tty: bool) -> anyhow::Result<Campaign> {
        let mut display = if tty {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stdout());
            bar.set_style(ProgressStyle::with_template(BAR_TEMPLATE)?.progress_chars("=> "));
            bar.set_message(format!("waiting for campaign {id}…"));
            Display::Bar(bar)
        } else {
            Display::Plain { last: None }
        };
        let mut failures = 0u32;
        loop {
            match self.get_campaign(id).await {
                Ok(campaign) => {
                    failures = 0;
                    let done = campaign.is_final();
                    match &mut display {
                        Display::Bar(bar) => {
                            bar.set_length(campaign.total);
                            bar.set_position(campaign.done());
                            bar.set_message(render::progress_message(&campaign));
                            if done {
                                bar.finish();
                            }
                        }
                        Display::Plain { last } => {
                            if done || last.is_none_or(|t| t.elapsed() >= PLAIN_LINE_INTERVAL) {
                                writeln!(out, "{}", render::progress_line(&campaign))?;
                                *last = Some(Instant::now());
                            }
                        }
                    }
                    if done {
                        writeln!(out, "{}", render::final_summary(&campaign))?;
                        out.flush()?;
                        return Ok(campaign);
                    }
                }
                Err(err) if err.is_transient() && failures < MAX_TRANSIENT_FAILURES => {
                    failures += 1;
                    let note = format!("poll failed, retrying ({failures}): {err}");
                    match &display {
                        Display::Bar(bar) => bar.set_message(note),
                        Display::Plain { .. } => writeln!(out, "{note}")?,
                    }
                }
                Err(err) => {
                    if let Display::Bar(bar) = &display {
                        bar.abandon();
                    }
                    return Err(describe(err, id));
                }
            }
            out.flush()?;
            tokio::time::sleep(self.poll_interval()).await;
        }
    }
}

fn describe(err: ClientError, id: &str) -> anyhow::Error {
    match err {
        // The server's own text is what the operator needs; keep it verbatim.
        api @ ClientError::Api { .. } => api.into(),
        other => anyhow::Error::new(other).context(format!("watching campaign {id}")),
    }
}
