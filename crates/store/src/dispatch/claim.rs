//! The claim: reserving a sender's next due messages, in the order [`RoundRobin`] gives.
//!
//! The queue's members are the sender's running campaigns (held `for share` in PostgreSQL,
//! so none pauses mid-claim while the same campaign's other batches go on) and its single
//! messages of each priority. Each turn takes the oldest due messages of one member; in
//! PostgreSQL with `for update skip locked`, so that a turn never waits for rows another
//! transaction holds.

use pregon_domain::MessageStatus;

use crate::campaigns::counts::{self, Deltas};
use crate::db::{sql, Db};
use crate::dispatch::round_robin::{Member, RoundRobin};
use crate::dispatch::{check_lease, sender_is_active};
use crate::error::Result;
use crate::records::{ClaimRequest, ClaimedMessage, Lease, Millis};
use crate::rows::{claimed_from_row, RecordRow, CLAIMED_COLUMNS};

pub(super) async fn claim(db: &Db, lease: &Lease, request: &ClaimRequest, now: Millis) -> Result<Vec<ClaimedMessage>> {
    let mut tx = db.write().await?;
    let d = tx.dialect();
    check_lease(&mut tx, lease, now).await?;
    // A sender that is paused or suspended sends nothing, single messages included.
    if !sender_is_active(&mut tx, &lease.sender_id).await? {
        return Ok(Vec::new());
    }
    let mut members: Vec<(i64, Member)> = Vec::new();
    for row in tx
        .fetch_all(
            sql(format!(
                "select campaign_id, priority from campaign where sender_id = $1 and status = 'running' \
                 and (recheck_at is null or recheck_at > $2) order by campaign_id{}",
                d.for_share()
            ))
            .bind(&lease.sender_id)
            .bind(now),
        )
        .await?
    {
        members.push((row.int("priority")?, Some(row.text("campaign_id")?)));
    }
    for row in tx
        .fetch_all(
            sql(
                "select distinct priority from message where sender_id = $1 and campaign_id is null \
                 and status = 'queued' and next_attempt_at <= $2 and (expires_at is null or expires_at > $2)",
            )
            .bind(&lease.sender_id)
            .bind(now),
        )
        .await?
    {
        members.push((row.int("priority")?, None));
    }

    let take = |from_member: &str| {
        let chosen = d.in_subquery(
            "message_id",
            &format!(
                "select message_id from message where {from_member} and status = 'queued' \
                 and next_attempt_at <= $2 and (expires_at is null or expires_at > $2) \
                 order by message_id limit $4{}",
                d.skip_locked()
            ),
        );
        format!(
            "update message set status = 'claimed', lease_epoch = $1, updated_at = $2 \
             where {chosen} returning {CLAIMED_COLUMNS}"
        )
    };
    let from_campaign = take("campaign_id = $3");
    let from_singles = take("sender_id = $3 and campaign_id is null and priority = $5");

    let mut claimed: Vec<ClaimedMessage> = Vec::new();
    let mut deltas = Deltas::default();
    let mut turns = RoundRobin::new(members, request.limit, request.round).with_caps(&request.caps);
    while let Some(turn) = turns.next_turn() {
        let q = match &turn.member {
            Some(campaign_id) => sql(from_campaign.as_str())
                .bind(lease.epoch)
                .bind(now)
                .bind(campaign_id)
                .bind(turn.room as i64),
            None => sql(from_singles.as_str())
                .bind(lease.epoch)
                .bind(now)
                .bind(&lease.sender_id)
                .bind(turn.room as i64)
                .bind(turn.priority),
        };
        let rows = tx.fetch_all(q).await?;
        let got = rows.len();
        let mut batch = rows.iter().map(claimed_from_row).collect::<Result<Vec<_>>>()?;
        // Oldest first, as the subquery chose them.
        batch.sort_by_key(|m| m.id);
        claimed.extend(batch);
        deltas.shift(
            turn.member.clone(),
            MessageStatus::Queued,
            MessageStatus::Claimed,
            got as i64,
        );
        turns.took(turn, got);
    }
    counts::add_batch(&mut tx, &deltas, None, now).await?;
    tx.commit().await?;
    Ok(claimed)
}
