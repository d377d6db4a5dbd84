//! Group commit of attempt outcomes: whatever has arrived while the previous write ran goes
//! in the next one, so a busy sender writes a few large transactions rather than many small.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use pregon_domain::{CampaignStatus, PausedReason};
use pregon_store::{Lease, Outcome, OutcomeKind};
use tokio::sync::mpsc;

use super::Dispatcher;

/// Most outcomes in one transaction.
const MAX_BATCH: usize = 2_000;

/// One attempt's outcome, and what it says about the sender.
pub(crate) struct Report {
    pub outcome: Outcome,
    /// The provider refused the sender itself: pause its campaigns.
    pub sender_error: Option<String>,
    /// The provider refused the campaign's template: pause that campaign (id, detail).
    pub campaign_error: Option<(String, String)>,
}

pub(crate) async fn write_outcomes(d: Arc<Dispatcher>, lease: Lease, mut rx: mpsc::UnboundedReceiver<Report>) {
    let mut batch: Vec<Report> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        // Pause first, so the requeued messages are not claimed again meanwhile.
        if let Some(detail) = batch.iter().find_map(|r| r.sender_error.clone()) {
            let now = d.clock.now_millis();
            match d
                .store
                .pause_sender_campaigns(&lease.sender_id, PausedReason::SenderError, Some(&detail), now)
                .await
            {
                Ok(ids) if !ids.is_empty() => {
                    tracing::error!(sender = %lease.sender_id, campaigns = ?ids, %detail, "provider refused the sender; campaigns paused")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "pausing campaigns after a sender error failed"),
            }
        }
        let mut refused: Vec<&(String, String)> = batch.iter().filter_map(|r| r.campaign_error.as_ref()).collect();
        refused.sort_by(|a, b| a.0.cmp(&b.0));
        refused.dedup_by(|a, b| a.0 == b.0);
        for (campaign_id, detail) in refused {
            match d
                .store
                .pause_campaign(
                    campaign_id,
                    PausedReason::TemplateError,
                    Some(detail),
                    d.clock.now_millis(),
                )
                .await
            {
                Ok(true) => {
                    tracing::error!(campaign = %campaign_id, %detail, "provider refused the template; campaign paused")
                }
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "pausing a campaign after a template error failed"),
            }
        }
        let outcomes: Vec<Outcome> = batch.drain(..).map(|r| r.outcome).collect();
        let mut tries = 0;
        let touched = loop {
            match d.store.record_outcomes(&lease, &outcomes, d.clock.now_millis()).await {
                Ok(t) => break t,
                Err(e) if tries < 50 => {
                    tries += 1;
                    tracing::warn!(error = %e, tries, "recording outcomes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * tries.min(10))).await;
                }
                Err(e) => {
                    // The messages stay `sending` and become `unknown` on recovery: never re-sent.
                    tracing::error!(error = %e, lost = outcomes.len(), "giving up recording outcomes");
                    break Vec::new();
                }
            }
        };
        count(&d, &outcomes);
        for c in touched {
            if c.status != CampaignStatus::Running {
                continue;
            }
            let rule = c.settings.auto_pause;
            let finished = (c.counts.sent + c.counts.delivered + c.counts.read + c.counts.failed) as u64;
            if rule.should_pause(c.counts.failed as u64, finished) {
                let detail = format!("{} of {} attempted messages failed", c.counts.failed, finished);
                match d
                    .store
                    .pause_campaign(
                        &c.id,
                        PausedReason::TooManyFailures,
                        Some(&detail),
                        d.clock.now_millis(),
                    )
                    .await
                {
                    Ok(true) => tracing::warn!(campaign = %c.id, %detail, "campaign paused: too many failures"),
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "auto-pause failed"),
                }
            }
        }
    }
}

fn count(d: &Dispatcher, outcomes: &[Outcome]) {
    for o in outcomes {
        let counter = match o.kind {
            OutcomeKind::Sent { .. } => &d.metrics.sent,
            OutcomeKind::Failed { .. } => &d.metrics.failed,
            OutcomeKind::Retry { .. } | OutcomeKind::Requeue { .. } => &d.metrics.retried,
            OutcomeKind::Unknown { .. } => &d.metrics.unknown,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
