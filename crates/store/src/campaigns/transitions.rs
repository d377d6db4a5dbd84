//! The steps that move a campaign, run inside the transaction of whatever write moves it (a
//! person's action, the scheduler, a sender's status change, a batch that finishes it):
//! setting its status, moving its messages, completing it when nothing is left, holding it
//! while its sender is not active, and following its sender's status.
//!
//! The caller holds the campaign rows (exclusively, in PostgreSQL: `for no key update`).

use pregon_domain::{CampaignStatus, MessageStatus, PausedReason, SenderStatus};

use crate::campaigns::counts::{self, Deltas};
use crate::campaigns::plan::sender_hold_detail;
use crate::db::{sql, Tx};
use crate::error::Result;
use crate::records::{CampaignRecord, Millis};
use crate::rows::{campaign_from_row, parse_enum, RecordRow, CAMPAIGN_COLUMNS};

/// Reads a campaign inside the transaction, counts exact.
pub(crate) async fn read(tx: &mut Tx, campaign_id: &str) -> Result<CampaignRecord> {
    let from = tx.dialect().campaigns();
    let row = tx
        .fetch_one(sql(format!("select {CAMPAIGN_COLUMNS} from {from} where campaign_id = $1")).bind(campaign_id))
        .await?;
    campaign_from_row(&row)
}

/// Sets a campaign's status and the timestamps that go with it.
pub(crate) async fn set_status(
    tx: &mut Tx,
    campaign_id: &str,
    now: Millis,
    to: CampaignStatus,
    reason: Option<PausedReason>,
) -> Result<()> {
    tx.execute(
        sql(
            "update campaign set status = $1, paused_reason = $2, paused_detail = null, updated_at = $3, \
             started_at = case when $1 = 'running' then coalesce(started_at, $3) else started_at end, \
             recheck_at = case when $1 = 'running' and windowed then $3 end, \
             completed_at = case when $1 in ('completed', 'cancelled', 'failed') then $3 else null end \
             where campaign_id = $4",
        )
        .bind(to.as_str())
        .bind(reason.map(|r| r.as_str()))
        .bind(now)
        .bind(campaign_id),
    )
    .await?;
    Ok(())
}

/// Ends a campaign that can still send (`scheduled`, `running` or `paused`) `failed` for
/// `reason`: its queued and claimed messages are cancelled, never attempted (a claim in a
/// dispatcher's hands no longer starts), messages in flight finish as they will, and the
/// campaign's notification is queued. False, and nothing written, for any other state.
pub(crate) async fn fail(
    tx: &mut Tx,
    campaign_id: &str,
    reason: pregon_domain::FailureReason,
    detail: Option<&str>,
    now: Millis,
) -> Result<bool> {
    let done = tx
        .execute(
            sql(
                "update campaign set status = 'failed', paused_reason = null, paused_detail = null, \
                 failure_reason = $1, failure_detail = $2, recheck_at = null, completed_at = $3, updated_at = $3 \
                 where campaign_id = $4 and status in ('scheduled', 'running', 'paused')",
            )
            .bind(reason.as_str())
            .bind(detail)
            .bind(now)
            .bind(campaign_id),
        )
        .await?;
    if done == 0 {
        return Ok(false);
    }
    for from in [MessageStatus::Queued, MessageStatus::Claimed] {
        move_messages(tx, campaign_id, from, MessageStatus::Cancelled, false, now).await?;
    }
    let failed = read(tx, campaign_id).await?;
    crate::notifications::enqueue(tx, &failed, now).await?;
    Ok(true)
}

/// Moves every message of `campaign_id` in `from` to `to`, keeping the counters exact.
pub(crate) async fn move_messages(
    tx: &mut Tx,
    campaign_id: &str,
    from: MessageStatus,
    to: MessageStatus,
    reset_attempts: bool,
    now: Millis,
) -> Result<i64> {
    let moved = tx
        .execute(
            sql("update message set status = $1, lease_epoch = null, updated_at = $2, \
                 attempts = case when $3 then 0 else attempts end, \
                 next_attempt_at = case when $3 then 0 else next_attempt_at end \
                 where campaign_id = $4 and status = $5")
            .bind(to.as_str())
            .bind(now)
            .bind(reset_attempts)
            .bind(campaign_id)
            .bind(from.as_str()),
        )
        .await? as i64;
    if moved > 0 {
        counts::apply(tx, &Deltas::one(campaign_id, from, to, moved), None, now).await?;
    }
    Ok(moved)
}

/// Hands a campaign's claimed messages back to the queue (a pause, or a hold): they were
/// never attempted.
pub(crate) async fn requeue_claimed(tx: &mut Tx, campaign_id: &str, now: Millis) -> Result<i64> {
    move_messages(
        tx,
        campaign_id,
        MessageStatus::Claimed,
        MessageStatus::Queued,
        false,
        now,
    )
    .await
}

/// Completes a running campaign with nothing left to send; true when it did. The caller
/// queues its notification ([`complete_and_notify`]).
pub(crate) async fn complete_if_done(tx: &mut Tx, campaign_id: &str, now: Millis) -> Result<bool> {
    let counted = tx.dialect().campaigns();
    let done = tx
        .fetch_optional(
            sql(format!(
                "update campaign set status = 'completed', completed_at = $1, updated_at = $1 \
                 where campaign_id = $2 and status = 'running' \
                 and (select v.n_queued + v.n_claimed + v.n_sending from {counted} v \
                      where v.campaign_id = $2) = 0 \
                 returning campaign_id"
            ))
            .bind(now)
            .bind(campaign_id),
        )
        .await?;
    Ok(done.is_some())
}

/// Completes the campaign if it is done, and then queues its notification.
pub(crate) async fn complete_and_notify(tx: &mut Tx, campaign_id: &str, now: Millis) -> Result<()> {
    if complete_if_done(tx, campaign_id, now).await? {
        let campaign = read(tx, campaign_id).await?;
        crate::notifications::enqueue(tx, &campaign, now).await?;
    }
    Ok(())
}

/// Pauses a running campaign whose sender is not active, with reason `sender_paused`; true
/// when it did. The caller holds the sender's row (`for share`) and the campaign's.
pub(crate) async fn hold_for_sender(tx: &mut Tx, campaign_id: &str, now: Millis) -> Result<bool> {
    let row = tx
        .fetch_optional(
            sql(
                "select s.status from campaign c join sender s on s.sender_id = c.sender_id \
                 where c.campaign_id = $1 and c.status = 'running'",
            )
            .bind(campaign_id),
        )
        .await?;
    let sender_status: Option<SenderStatus> = row.map(|r| parse_enum(&r.text("status")?)).transpose()?;
    let Some(sender_status) = sender_status.filter(|s| !s.is_active()) else {
        return Ok(false);
    };
    tx.execute(
        sql(
            "update campaign set status = 'paused', paused_reason = $1, paused_detail = $2, updated_at = $3 \
             where campaign_id = $4",
        )
        .bind(PausedReason::SenderPaused.as_str())
        .bind(sender_hold_detail(sender_status))
        .bind(now)
        .bind(campaign_id),
    )
    .await?;
    requeue_claimed(tx, campaign_id, now).await?;
    Ok(true)
}

/// Makes a sender's campaigns follow its status change, in the transaction that made it
/// (which holds the sender's row): when it stops being active, its running campaigns pause
/// with reason `sender_paused` (their claimed messages back in the queue); when it is active
/// again, the campaigns paused so resume (and complete if nothing is left to send).
/// Campaigns paused for any other reason stay as they are.
pub(crate) async fn follow_sender(
    tx: &mut Tx,
    sender_id: &str,
    before: SenderStatus,
    after: SenderStatus,
    now: Millis,
) -> Result<()> {
    if before == after {
        return Ok(());
    }
    let d = tx.dialect();
    if after.is_active() {
        let chosen = d.in_subquery(
            "campaign_id",
            &format!(
                "select campaign_id from campaign where sender_id = $2 and status = 'paused' \
                 and paused_reason = $3 order by campaign_id{}",
                d.for_no_key_update()
            ),
        );
        let rows = tx
            .fetch_all(
                sql(format!(
                    "update campaign set status = 'running', paused_reason = null, paused_detail = null, \
                     started_at = coalesce(started_at, $1), updated_at = $1, \
                     recheck_at = case when windowed then $1 end \
                     where {chosen} returning campaign_id"
                ))
                .bind(now)
                .bind(sender_id)
                .bind(PausedReason::SenderPaused.as_str()),
            )
            .await?;
        for id in ids_of(&rows)? {
            complete_and_notify(tx, &id, now).await?;
        }
        return Ok(());
    }
    // Stopped, or stopped differently (paused ↔ suspended): the held ones say why anew.
    let chosen = d.in_subquery(
        "campaign_id",
        &format!(
            "select campaign_id from campaign where sender_id = $4 \
             and (status = 'running' or (status = 'paused' and paused_reason = $1)) \
             order by campaign_id{}",
            d.for_no_key_update()
        ),
    );
    let rows = tx
        .fetch_all(
            sql(format!(
                "update campaign set status = 'paused', paused_reason = $1, paused_detail = $2, updated_at = $3 \
                 where {chosen} returning campaign_id"
            ))
            .bind(PausedReason::SenderPaused.as_str())
            .bind(sender_hold_detail(after))
            .bind(now)
            .bind(sender_id),
        )
        .await?;
    for id in ids_of(&rows)? {
        requeue_claimed(tx, &id, now).await?;
    }
    Ok(())
}

/// The `campaign_id` column of each row.
pub(crate) fn ids_of(rows: &[crate::db::DbRow]) -> Result<Vec<String>> {
    rows.iter().map(|r| r.text("campaign_id")).collect()
}

/// What a provider's template event does to the template's campaigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateCampaigns {
    /// Running ones pause with reason `template_paused` (claimed messages back in the queue).
    Pause,
    /// Exactly those paused with `template_paused` run again.
    Resume,
    /// Scheduled, running and paused ones end `failed` with this reason.
    End(pregon_domain::FailureReason),
}

/// Makes a template's campaigns follow its provider's event, in the caller's transaction;
/// answers the campaigns changed.
pub(crate) async fn follow_template(
    tx: &mut Tx,
    template_id: &str,
    effect: TemplateCampaigns,
    detail: Option<&str>,
    now: Millis,
) -> Result<Vec<String>> {
    let d = tx.dialect();
    let chosen = |condition: &str| {
        d.in_subquery(
            "campaign_id",
            &format!(
                "select campaign_id from campaign where template_id = $1 and {condition} \
                 order by campaign_id{}",
                d.for_no_key_update()
            ),
        )
    };
    match effect {
        TemplateCampaigns::Pause => {
            let rows = tx
                .fetch_all(
                    sql(format!(
                        "update campaign set status = 'paused', paused_reason = $2, paused_detail = $3, \
                         updated_at = $4 where {} returning campaign_id",
                        chosen("status = 'running'")
                    ))
                    .bind(template_id)
                    .bind(PausedReason::TemplatePaused.as_str())
                    .bind(detail)
                    .bind(now),
                )
                .await?;
            let ids = ids_of(&rows)?;
            for id in &ids {
                requeue_claimed(tx, id, now).await?;
            }
            Ok(ids)
        }
        TemplateCampaigns::Resume => {
            let rows = tx
                .fetch_all(
                    sql(format!(
                        "update campaign set status = 'running', paused_reason = null, paused_detail = null, \
                         started_at = coalesce(started_at, $3), updated_at = $3, \
                         recheck_at = case when windowed then $3 end \
                         where {} returning campaign_id",
                        chosen("status = 'paused' and paused_reason = $2")
                    ))
                    .bind(template_id)
                    .bind(PausedReason::TemplatePaused.as_str())
                    .bind(now),
                )
                .await?;
            let ids = ids_of(&rows)?;
            for id in &ids {
                complete_and_notify(tx, id, now).await?;
            }
            Ok(ids)
        }
        TemplateCampaigns::End(reason) => {
            let rows = tx
                .fetch_all(
                    sql("select campaign_id from campaign where template_id = $1 \
                         and status in ('scheduled', 'running', 'paused') order by campaign_id")
                    .bind(template_id),
                )
                .await?;
            let mut ended = Vec::new();
            for id in ids_of(&rows)? {
                if fail(tx, &id, reason, detail, now).await? {
                    ended.push(id);
                }
            }
            Ok(ended)
        }
    }
}
