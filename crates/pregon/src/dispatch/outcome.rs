//! Group commit of attempt outcomes: whatever has arrived while the previous write ran goes
//! in the next one, so a busy sender writes a few large transactions rather than many small.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use pregon_domain::{CampaignStatus, FailureReason, PausedReason};
use pregon_store::{Lease, Outcome, OutcomeKind, StoreError};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::Dispatcher;

/// Most outcomes in one transaction.
const MAX_BATCH: usize = 2_000;

/// One attempt's outcome, and what it says about the sender.
pub(crate) struct Report {
    pub outcome: Outcome,
    /// The provider refused the sender itself: pause its campaigns.
    pub sender_error: Option<String>,
    /// The provider refused the campaign's template: what becomes of the campaign.
    pub campaign_error: Option<CampaignRefusal>,
    /// The provider said the recipient opted out (Meta 131050: of marketing): recorded in
    /// the consent register, so that later sends skip them before asking.
    pub opt_out: Option<ProviderOptOut>,
}

/// An opt-out a provider reported on a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProviderOptOut {
    pub phone: String,
    pub scope: pregon_domain::OptOutScope,
    /// The provider's error code, kept as the opt-out's reason.
    pub code: String,
}

/// The provider refused a campaign as a whole (its template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CampaignRefusal {
    pub campaign_id: String,
    /// The provider's code and words.
    pub detail: String,
    pub effect: CampaignEffect,
}

/// What a campaign-level refusal does to the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CampaignEffect {
    /// It waits, paused for this reason (`template_error`, or `template_paused`, which the
    /// template's approval ends by itself).
    Pause(PausedReason),
    /// It ends `failed` (the template is disabled: nothing of it can go any more).
    Fail(FailureReason),
}

/// Writes the outcomes of one sender (of `tenant`) that arrive on `rx`. While the database
/// cannot take them (full, read-only, unreachable) it keeps trying until it can (or
/// shutdown, or the lease is gone) and holds `stuck` up, so the sender claims and sends
/// nothing meanwhile: an outcome not recorded leaves its message `sending`, never sent
/// again (recovery makes it `unknown`).
#[tracing::instrument(name = "outcomes", skip_all, fields(sender = %lease.sender_id))]
pub(crate) async fn write_outcomes(
    d: Arc<Dispatcher>,
    lease: Lease,
    tenant: String,
    mut rx: mpsc::UnboundedReceiver<Report>,
    stop: CancellationToken,
    stuck: watch::Sender<bool>,
) {
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
        let mut refused: Vec<&CampaignRefusal> = batch.iter().filter_map(|r| r.campaign_error.as_ref()).collect();
        // One effect per campaign, the gravest first: failing outranks pausing.
        refused.sort_by_key(|r| (r.campaign_id.clone(), !matches!(r.effect, CampaignEffect::Fail(_))));
        refused.dedup_by(|a, b| a.campaign_id == b.campaign_id);
        for r in refused {
            let (campaign_id, detail, now) = (&r.campaign_id, &r.detail, d.clock.now_millis());
            let done = match r.effect {
                CampaignEffect::Pause(reason) => d.store.pause_campaign(campaign_id, reason, Some(detail), now).await,
                CampaignEffect::Fail(reason) => d.store.fail_campaign(campaign_id, reason, Some(detail), now).await,
            };
            match done {
                Ok(true) => {
                    tracing::error!(campaign = %campaign_id, %detail, effect = ?r.effect, "provider refused the template")
                }
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "stopping a campaign after a template error failed"),
            }
        }
        let opt_outs: Vec<ProviderOptOut> = batch.iter().filter_map(|r| r.opt_out.clone()).collect();
        let outcomes: Vec<Outcome> = batch.drain(..).map(|r| r.outcome).collect();
        // Before the outcomes, which may complete the campaign: once it is done, its
        // recipients' opt-outs are in the register.
        if !opt_outs.is_empty() {
            record_opt_outs(&d, &lease, &opt_outs).await;
        }
        let mut tries: u64 = 0;
        let touched = loop {
            match d.store.record_outcomes(&lease, &outcomes, d.clock.now_millis()).await {
                Ok(t) => {
                    stuck.send_replace(false);
                    break t;
                }
                Err(StoreError::Unavailable(why)) if !stop.is_cancelled() => {
                    if !stuck.send_replace(true) {
                        tracing::warn!(%why, pending = outcomes.len(), "the database cannot record outcomes; sending waits until it can");
                    }
                    tries = tries.saturating_add(1);
                    tokio::time::sleep(Duration::from_millis(100 * tries.min(10))).await;
                }
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
        count(&d, &tenant, &lease.sender_id, &outcomes);
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

/// Adds the provider's opt-outs to the sender's tenant's register (`source: provider`). A
/// failure here loses no message (each was recorded `skipped` already): it is logged, and
/// the provider will say it again on the next send.
async fn record_opt_outs(d: &Dispatcher, lease: &Lease, opt_outs: &[ProviderOptOut]) {
    let tenant = match d.store.sender_by_id(&lease.sender_id).await {
        Ok(s) => s.tenant_id,
        Err(e) => {
            tracing::error!(error = %e, "recording provider opt-outs: the sender could not be read");
            return;
        }
    };
    let by = pregon_store::Change::by(pregon_store::Actor::system());
    for o in opt_outs {
        let reason = format!("provider error {}", o.code);
        let now = d.clock.now_millis();
        match d
            .store
            .add_opt_out(&tenant, &o.phone, Some(&reason), "provider", o.scope, now, &by)
            .await
        {
            Ok(_) => {
                tracing::info!(sender = %lease.sender_id, scope = o.scope.as_str(), code = %o.code, "provider opt-out recorded")
            }
            Err(e) => tracing::error!(error = %e, "recording a provider opt-out failed"),
        }
    }
}

/// Counts the outcomes just written: the dispatcher's own counters, and the final statuses
/// by tenant and sender for `/metrics`.
fn count(d: &Dispatcher, tenant: &str, sender: &str, outcomes: &[Outcome]) {
    use crate::metrics::FinalStatus;
    for o in outcomes {
        let (counter, status) = match o.kind {
            OutcomeKind::Sent { .. } => (&d.metrics.sent, Some(FinalStatus::sent)),
            OutcomeKind::Failed { .. } => (&d.metrics.failed, Some(FinalStatus::failed)),
            OutcomeKind::Expired { .. } => (&d.metrics.expired, Some(FinalStatus::expired)),
            OutcomeKind::Skipped { .. } => (&d.metrics.skipped, Some(FinalStatus::skipped)),
            OutcomeKind::Retry { .. } | OutcomeKind::Requeue { .. } => (&d.metrics.retried, None),
            OutcomeKind::Unknown { .. } => (&d.metrics.unknown, Some(FinalStatus::unknown)),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(status) = status {
            d.metrics.message_finished(tenant, sender, status);
        }
    }
}
