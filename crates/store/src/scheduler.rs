//! What the scheduler writes: scheduled campaigns starting at their time, verdicts on
//! campaigns whose sending window opens or closes or whose daily limit has room again, and
//! queued messages whose `expires_at` has passed becoming `expired`.
//!
//! Every write is conditional on the campaign still being in the state the scheduler saw, so
//! any number of processes may run the scheduler at once.

use async_trait::async_trait;
use pregon_domain::{CampaignStatus, MessageStatus};
use serde_json::json;

use crate::campaigns::counts;
use crate::campaigns::transitions::{self, ids_of};
use crate::db::{sql, Ids, Ty};
use crate::dispatch::batch::moved_from_rows;
use crate::error::Result;
use crate::records::{CampaignRecord, Millis, Verdict};
use crate::rows::RecordRow;
use crate::rows::{campaign_from_row, CAMPAIGN_COLUMNS};
use crate::SqlStore;

/// The scheduler's reads and writes.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Starts scheduled campaigns whose time has come (those of a sender that is not
    /// `active` pause with `sender_paused`); returns their ids.
    async fn start_due_campaigns(&self, now: Millis) -> Result<Vec<String>>;
    /// Campaigns the scheduler must look at again: running, or paused for `outside_window`
    /// or `daily_limit`, whose `recheck_at` has come; at most `limit`, most overdue first.
    async fn campaigns_to_recheck(&self, now: Millis, limit: usize) -> Result<Vec<CampaignRecord>>;
    /// Applies the scheduler's verdict to a campaign it looked at: `Run` resumes one paused
    /// for `outside_window` or `daily_limit` (completing it if nothing is left); `Hold` pauses
    /// a running one (claimed messages back to the queue) or changes the reason; both set
    /// `recheck_at`. False, and nothing written, when the campaign is neither running nor
    /// paused for one of those reasons (a person paused or cancelled it meanwhile).
    async fn apply_verdict(&self, campaign_id: &str, verdict: Verdict, now: Millis) -> Result<bool>;
    /// Moves up to `limit` queued messages whose `expires_at` has passed to `expired` (the
    /// claim never takes them meanwhile), and completes the campaigns that leaves with
    /// nothing to send. Returns how many expired.
    async fn expire_due(&self, now: Millis, limit: usize) -> Result<usize>;
}

#[async_trait]
impl ScheduleStore for SqlStore {
    async fn start_due_campaigns(&self, now: Millis) -> Result<Vec<String>> {
        let mut tx = self.db.write().await?;
        let d = tx.dialect();
        // Their senders first (see the lock order): whether each runs or waits for its sender.
        tx.lock(
            sql(
                "select 1 from sender where sender_id in (select sender_id from campaign \
                 where status = 'scheduled' and start_at <= $1) order by sender_id for share",
            )
            .bind(now),
        )
        .await?;
        let due = d.in_subquery(
            "campaign_id",
            &format!(
                "select campaign_id from campaign where status = 'scheduled' and start_at <= $1 \
                 order by campaign_id{}",
                d.for_no_key_update()
            ),
        );
        let rows = tx
            .fetch_all(
                sql(format!(
                    "update campaign set status = 'running', started_at = coalesce(started_at, $1), \
                     updated_at = $1, recheck_at = case when windowed then $1 end \
                     where {due} returning campaign_id"
                ))
                .bind(now),
            )
            .await?;
        let ids = ids_of(&rows)?;
        for id in &ids {
            transitions::complete_and_notify(&mut tx, id, now).await?;
            transitions::hold_for_sender(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn campaigns_to_recheck(&self, now: Millis, limit: usize) -> Result<Vec<CampaignRecord>> {
        let from = self.db.dialect().campaigns();
        let rows = self
            .db
            .fetch_all(
                sql(format!(
                    "select {CAMPAIGN_COLUMNS} from {from} where recheck_at <= $1 and (status = 'running' \
                     or (status = 'paused' and paused_reason in ('outside_window', 'daily_limit'))) \
                     order by recheck_at limit $2"
                ))
                .bind(now)
                .bind(limit as i64),
            )
            .await?;
        rows.iter().map(campaign_from_row).collect()
    }

    async fn apply_verdict(&self, campaign_id: &str, verdict: Verdict, now: Millis) -> Result<bool> {
        let (status, reason, recheck_at) = match verdict {
            Verdict::Run { recheck_at } => (CampaignStatus::Running, None, recheck_at),
            Verdict::Hold { reason, recheck_at } => (CampaignStatus::Paused, Some(reason), Some(recheck_at)),
        };
        let mut tx = self.db.write().await?;
        let done = tx
            .execute(
                sql(
                    "update campaign set status = $1, paused_reason = $2, paused_detail = null, recheck_at = $3, \
                     updated_at = $4, \
                     started_at = case when $1 = 'running' then coalesce(started_at, $4) else started_at end \
                     where campaign_id = $5 and (status = 'running' \
                       or (status = 'paused' and paused_reason in ('outside_window', 'daily_limit')))",
                )
                .bind(status.as_str())
                .bind(reason.map(|r| r.as_str()))
                .bind(recheck_at)
                .bind(now)
                .bind(campaign_id),
            )
            .await?;
        if done == 0 {
            return Ok(false);
        }
        match status {
            CampaignStatus::Running => transitions::complete_and_notify(&mut tx, campaign_id, now).await?,
            _ => {
                transitions::requeue_claimed(&mut tx, campaign_id, now).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn expire_due(&self, now: Millis, limit: usize) -> Result<usize> {
        let mut tx = self.db.write().await?;
        let d = tx.dialect();
        let due: Vec<i64> = tx
            .fetch_all(
                sql(
                    "select message_id from message where status = 'queued' and expires_at <= $1 \
                     order by expires_at limit $2",
                )
                .bind(now)
                .bind(limit as i64),
            )
            .await?
            .iter()
            .map(|r| r.int("message_id"))
            .collect::<Result<_>>()?;
        if due.is_empty() {
            return Ok(0);
        }
        // As the dispatcher's batch writes do: the campaigns for share first, then the rows,
        // skipping any a claim holds (it cannot take them: they are past their time).
        counts::share_campaigns_of(&mut tx, &due).await?;
        let chosen = d.in_subquery(
            "message_id",
            &format!(
                "select message_id from message where {} and status = 'queued' order by message_id{}",
                d.in_list("message_id", "$2"),
                d.skip_locked()
            ),
        );
        let rows = tx
            .fetch_all(
                sql(format!(
                    "update message set status = 'expired', lease_epoch = null, updated_at = $1 \
                     where {chosen} and status = 'queued' returning message_id, campaign_id"
                ))
                .bind(now)
                .bind(Ids(&due)),
            )
            .await?;
        let (expired, deltas) = moved_from_rows(&rows, MessageStatus::Queued, MessageStatus::Expired)?;
        let events = d.list_rows("$2", Ty::Int);
        tx.execute(
            sql(format!(
                "insert into message_event (message_id, status, detail, at) \
                 select v.value, 'expired', $3, $1 from {events} as v order by v.n"
            ))
            .bind(now)
            .bind(Ids(&expired))
            .bind(json!({"reason": "its expires_at passed before it could be sent"}).to_string()),
        )
        .await?;
        counts::add_batch(&mut tx, &deltas, None, now).await?;
        let touched = deltas.campaign_ids();
        tx.commit().await?;
        self.finish_done(&touched, now).await?;
        Ok(expired.len())
    }
}
