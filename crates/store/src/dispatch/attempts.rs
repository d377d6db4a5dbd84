//! Attempts: the writes around each provider request. Every one is fenced by the lease epoch
//! under which the messages were claimed, and (but for skips) holds its campaigns only
//! `for share`, adding its counts through [`counts::add_batch`].

use pregon_domain::MessageStatus;

use crate::campaigns::counts::{self, lock_campaigns_of, share_campaigns_of};
use crate::campaigns::transitions;
use crate::db::{sql, Db, Ids, Ty};
use crate::dispatch::batch::{moved_from_rows, outcome_rows, skip_rows, skipped_from_rows, Recorded};
use crate::dispatch::{check_lease, sender_is_active};
use crate::error::Result;
use crate::records::{CampaignRecord, Deferral, Lease, Millis, Outcome, Skip};
use crate::SqlStore;

pub(super) async fn mark_sending(db: &Db, lease: &Lease, ids: &[i64], now: Millis) -> Result<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = db.write().await?;
    check_lease(&mut tx, lease, now).await?;
    // Nothing starts on a sender paused or suspended since the claim.
    if !sender_is_active(&mut tx, &lease.sender_id).await? {
        return Ok(Vec::new());
    }
    share_campaigns_of(&mut tx, ids).await?;
    // Only messages still claimed under this epoch, of a campaign that is still running (or
    // single messages), start their attempt.
    let claimed = tx.dialect().in_list("message_id", "$2");
    let rows = tx
        .fetch_all(
            sql(format!(
                "update message set status = 'sending', attempts = attempts + 1, updated_at = $1 \
                 where {claimed} and status = 'claimed' and lease_epoch = $3 \
                 and (campaign_id is null or exists (select 1 from campaign c \
                      where c.campaign_id = message.campaign_id and c.status = 'running' \
                      and (c.recheck_at is null or c.recheck_at > $1))) \
                 returning message_id, campaign_id"
            ))
            .bind(now)
            .bind(Ids(ids))
            .bind(lease.epoch),
        )
        .await?;
    let (moved, deltas) = moved_from_rows(&rows, MessageStatus::Claimed, MessageStatus::Sending)?;
    counts::add_batch(&mut tx, &deltas, None, now).await?;
    tx.commit().await?;
    Ok(moved)
}

pub(super) async fn release_claimed(db: &Db, lease: &Lease, ids: &[i64], now: Millis) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut tx = db.write().await?;
    share_campaigns_of(&mut tx, ids).await?;
    let claimed = tx.dialect().in_list("message_id", "$2");
    let rows = tx
        .fetch_all(
            sql(format!(
                "update message set status = 'queued', lease_epoch = null, updated_at = $1 \
                 where {claimed} and status = 'claimed' and lease_epoch = $3 \
                 returning message_id, campaign_id"
            ))
            .bind(now)
            .bind(Ids(ids))
            .bind(lease.epoch),
        )
        .await?;
    let (_, deltas) = moved_from_rows(&rows, MessageStatus::Claimed, MessageStatus::Queued)?;
    counts::add_batch(&mut tx, &deltas, None, now).await?;
    tx.commit().await
}

pub(super) async fn defer_claimed(db: &Db, lease: &Lease, deferrals: &[Deferral], now: Millis) -> Result<()> {
    if deferrals.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = deferrals.iter().map(|d| d.message_id).collect();
    let pairs: Vec<(i64, i64)> = deferrals.iter().map(|d| (d.message_id, d.until)).collect();
    let mut tx = db.write().await?;
    share_campaigns_of(&mut tx, &ids).await?;
    let until = tx.dialect().json_rows("$2", &[("id", Ty::Int), ("until", Ty::Int)]);
    let rows = tx
        .fetch_all(
            sql(format!(
                "update message set status = 'queued', lease_epoch = null, updated_at = $1, \
                 next_attempt_at = d.until from {until} as d \
                 where message.message_id = d.id and message.status = 'claimed' and message.lease_epoch = $3 \
                 returning message.message_id, message.campaign_id"
            ))
            .bind(now)
            .bind(serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into()))
            .bind(lease.epoch),
        )
        .await?;
    let (_, deltas) = moved_from_rows(&rows, MessageStatus::Claimed, MessageStatus::Queued)?;
    counts::add_batch(&mut tx, &deltas, None, now).await?;
    tx.commit().await
}

/// Skips move messages out of the queue for good and may finish a campaign: they hold their
/// campaigns exclusively and complete them in the same transaction.
pub(super) async fn skip_claimed(db: &Db, lease: &Lease, skips: &[Skip], now: Millis) -> Result<Vec<i64>> {
    if skips.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = db.write().await?;
    let d = tx.dialect();
    check_lease(&mut tx, lease, now).await?;
    let ids: Vec<i64> = skips.iter().map(|s| s.message_id).collect();
    lock_campaigns_of(&mut tx, &ids).await?;
    let skipped = d.json_rows("$2", &[("id", Ty::Int), ("reason", Ty::Text)]);
    let rows = tx
        .fetch_all(
            sql(format!(
                "update message set status = 'skipped', skip_reason = v.reason, lease_epoch = null, updated_at = $1 \
                 from {skipped} as v \
                 where message.message_id = v.id and message.status = 'claimed' and message.lease_epoch = $3 \
                 returning message.message_id, message.campaign_id, message.skip_reason"
            ))
            .bind(now)
            .bind(skip_rows(skips))
            .bind(lease.epoch),
        )
        .await?;
    let (moved, deltas, events) = skipped_from_rows(&rows)?;
    let events_rows = d.json_rows("$2", &[("id", Ty::Int), ("detail", Ty::Text)]);
    tx.execute(
        sql(format!(
            "insert into message_event (message_id, status, detail, at) \
             select v.id, 'skipped', v.detail, $1 from {events_rows} as v order by v.n"
        ))
        .bind(now)
        .bind(events),
    )
    .await?;
    counts::apply(&mut tx, &deltas, None, now).await?;
    for cid in deltas.campaigns() {
        transitions::complete_and_notify(&mut tx, cid, now).await?;
    }
    tx.commit().await?;
    Ok(moved)
}

/// Group-commits a batch's outcomes under shared campaign locks, then completes the
/// campaigns left with nothing to send. SQLite completes them in the batch's own
/// transaction. PostgreSQL cannot: two batches of one campaign commit side by side, and each
/// could still count the other's messages in flight. It completes them after the commit,
/// when this batch and every batch committed before it are visible, so the last batch of a
/// campaign always sees nothing left; should that fail, the campaign completes when its
/// sender is next found idle ([`super::DispatchStore::sender_has_work`]).
///
/// A message that would go back to the queue (a retry, a hand-back) of a campaign that was
/// cancelled or failed while its request was in flight is cancelled instead: a final
/// campaign keeps nothing queued.
pub(super) async fn record_outcomes(
    store: &SqlStore,
    lease: &Lease,
    outcomes: &[Outcome],
    now: Millis,
) -> Result<Vec<CampaignRecord>> {
    if outcomes.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = store.db.write().await?;
    let d = tx.dialect();
    let ids: Vec<i64> = outcomes.iter().map(|o| o.message_id).collect();
    share_campaigns_of(&mut tx, &ids).await?;
    let answers = d.json_rows(
        "$2",
        &[
            ("id", Ty::Int),
            ("status", Ty::Text),
            ("pid", Ty::Text),
            ("code", Ty::Text),
            ("msg", Ty::Text),
            ("next", Ty::Int),
            ("spend", Ty::Int),
            ("skip", Ty::Text),
        ],
    );
    let updated = tx
        .fetch_all(
            sql(format!(
                "update message set status = case when v.status = 'queued' and message.campaign_id is not null \
                     and exists (select 1 from campaign c where c.campaign_id = message.campaign_id \
                                 and c.status in ('cancelled', 'failed')) then 'cancelled' else v.status end, \
                   provider_message_id = coalesce(v.pid, message.provider_message_id), \
                   error_code = v.code, error_message = v.msg, \
                   skip_reason = coalesce(v.skip, message.skip_reason), \
                   next_attempt_at = coalesce(v.next, message.next_attempt_at), \
                   attempts = message.attempts - 1 + v.spend, \
                   lease_epoch = case when v.status = 'queued' then null else message.lease_epoch end, \
                   sent_at = case when v.status = 'sent' then $1 else message.sent_at end, updated_at = $1 \
                 from {answers} as v \
                 where message.message_id = v.id and message.status = 'sending' and message.lease_epoch = $3 \
                 returning message.message_id, message.campaign_id, message.status, message.provider_message_id, \
                           message.error_code, message.error_message, message.next_attempt_at"
            ))
            .bind(now)
            .bind(outcome_rows(outcomes, now))
            .bind(lease.epoch),
        )
        .await?;
    let recorded = Recorded::from_rows(outcomes, &updated)?;
    let events = d.json_rows("$2", &[("id", Ty::Int), ("status", Ty::Text), ("detail", Ty::Text)]);
    tx.execute(
        sql(format!(
            "insert into message_event (message_id, status, detail, at) \
             select v.id, v.status, v.detail, $1 from {events} as v order by v.n"
        ))
        .bind(now)
        .bind(recorded.events),
    )
    .await?;
    counts::add_batch(&mut tx, &recorded.deltas, recorded.any_sent.then_some(now), now).await?;
    let touched = recorded.deltas.campaign_ids();
    match d {
        crate::db::Dialect::Sqlite => {
            let mut records = Vec::with_capacity(touched.len());
            for cid in &touched {
                transitions::complete_and_notify(&mut tx, cid, now).await?;
                records.push(transitions::read(&mut tx, cid).await?);
            }
            tx.commit().await?;
            Ok(records)
        }
        crate::db::Dialect::Postgres => {
            let fold = counts::due_for_folding(&mut tx, &touched).await?;
            tx.commit().await?;
            // The outcomes are committed: a failed fold only leaves the rows for the next one.
            if !fold.is_empty() {
                let folded = match store.db.write().await {
                    Ok(tx) => counts::fold(tx, &fold).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = folded {
                    tracing::warn!(error = %e, "folding campaign counts failed; retried with the next batch");
                }
            }
            match store.finish_done(&touched, now).await {
                Ok(records) => Ok(records),
                Err(e) => {
                    tracing::warn!(error = %e, "completing campaigns after their outcomes failed; retried when idle");
                    Ok(Vec::new())
                }
            }
        }
    }
}
