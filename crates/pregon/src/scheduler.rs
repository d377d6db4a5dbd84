//! The scheduler: it pauses and resumes campaigns by their daily window (in one time zone;
//! windows in each recipient's own zone are kept by the dispatcher) and their sender's daily
//! limit, as their settings ([`pregon_domain::CampaignSettings`]) say.
//!
//! The store does the enforcing: a campaign is claimed from only while it is `running` and
//! its `recheck_at` lies ahead, so nothing leaves outside a window even in the moment before
//! the scheduler pauses the campaign. The scheduler, run by every dispatcher on every poll,
//! looks again at each campaign whose `recheck_at` has come and gives a verdict: send until
//! the window closes, or hold (`outside_window` until it opens, `daily_limit` until room
//! frees up). Verdicts are conditional writes, so any number of processes may run it.

use pregon_domain::{PausedReason, WindowState};
use pregon_store::{CampaignRecord, DispatcherStore, Millis, StoreError, Verdict};

/// How many campaigns one pass of the scheduler looks at.
const RECHECK_BATCH: usize = 200;

/// How long a campaign held by a daily limit waits when the store cannot say when room frees
/// up (it always can while anyone is counted; this is a floor against busy loops).
const DAILY_LIMIT_FLOOR_MILLIS: Millis = 1_000;

/// What the scheduler decides for a campaign whose `recheck_at` has come.
pub async fn verdict_for(store: &dyn DispatcherStore, c: &CampaignRecord, now: Millis) -> Result<Verdict, StoreError> {
    let sender = store.sender_by_id(&c.sender_id).await?;
    if !sender.status.is_active() {
        // Its sender stopped: it waits for the sender instead, which resumes it.
        return Ok(Verdict::Hold {
            reason: PausedReason::SenderPaused,
            recheck_at: now + pregon_store::DAY_MILLIS,
        });
    }
    let mut run_until = None;
    if c.windowed {
        if let Some(window) = c.settings.campaign_window() {
            match window.state_at(now) {
                WindowState::Closed { opens_at } => {
                    return Ok(Verdict::Hold {
                        reason: PausedReason::OutsideWindow,
                        recheck_at: opens_at,
                    })
                }
                WindowState::Open { closes_at } => run_until = Some(closes_at),
            }
        }
    }
    if c.paused_reason == Some(PausedReason::DailyLimit) {
        if let Some(limit) = sender.daily_limit {
            let usage = store.daily_usage(&sender.limit_key(), now).await?;
            if usage.used >= limit {
                let room_at = usage.room_at.unwrap_or(now).max(now + DAILY_LIMIT_FLOOR_MILLIS);
                return Ok(Verdict::Hold {
                    reason: PausedReason::DailyLimit,
                    recheck_at: room_at,
                });
            }
        }
    }
    Ok(Verdict::Run { recheck_at: run_until })
}

/// Looks again at every campaign whose `recheck_at` has come; returns how many changed.
#[tracing::instrument(name = "scheduler_tick", skip_all)]
pub async fn recheck_due(store: &dyn DispatcherStore, now: Millis) -> Result<usize, StoreError> {
    let mut changed = 0;
    let due = store.campaigns_to_recheck(now, RECHECK_BATCH).await?;
    for c in &due {
        let verdict = verdict_for(store, c, now).await?;
        if store.apply_verdict(&c.id, verdict, now).await? {
            let was_running = c.status == pregon_domain::CampaignStatus::Running;
            let runs = matches!(verdict, Verdict::Run { .. });
            if was_running != runs {
                tracing::info!(campaign = %c.id, ?verdict, "campaign schedule changed");
                changed += 1;
            }
        }
    }
    Ok(changed)
}
