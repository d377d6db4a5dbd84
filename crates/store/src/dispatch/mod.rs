//! Dispatch: what a dispatcher writes while it sends for the senders it holds.
//!
//! A dispatcher owns a sender through its lease (owner, fencing epoch, expiry). Every write
//! it makes about a message is conditional on that epoch, so a dispatcher that lost its
//! lease cannot overwrite the new owner's work. A new owner first recovers what the previous
//! one left in flight: `claimed` goes back to `queued`, `sending` becomes `unknown`.
//!
//! A message's way through a sender: [`claim`] reserves it, `mark_sending` makes it
//! `sending` durably just before its request, and `record_outcomes` group-commits what the
//! provider answered ([`attempts`]); claimed messages that will not be attempted now go back
//! (`release_claimed`, `defer_claimed`) or are skipped (`skip_claimed`).

pub(crate) mod attempts;
pub(crate) mod batch;
mod claim;
pub(crate) mod limits;
pub(crate) mod round_robin;

use std::collections::HashSet;

use async_trait::async_trait;
use pregon_domain::PausedReason;

use crate::campaigns::counts;
use crate::campaigns::transitions::{self, ids_of};
use crate::consent::Register;
use crate::db::{sql, Ids, Tx};
use crate::error::{Result, StoreError};
use crate::records::{
    Admission, CampaignRecord, ClaimRequest, ClaimedMessage, Deferral, Lease, Millis, Outcome, SenderRecord, Skip,
};
use crate::rows::{campaign_from_row, RecordRow, CAMPAIGN_COLUMNS};
use crate::SqlStore;
use batch::{recovered_from_rows, recovery_detail};

/// What a dispatcher writes while sending for the senders it holds.
#[async_trait]
pub trait DispatchStore: Send + Sync {
    /// Takes the sender's lease when it is free or expired (or already ours), with a new
    /// epoch. A new owner first recovers the previous owner's work in the same transaction:
    /// `claimed` goes back to `queued`, `sending` becomes `unknown`.
    async fn acquire_lease(&self, sender_id: &str, owner_id: &str, ttl_ms: i64, now: Millis) -> Result<Option<Lease>>;
    /// Extends the lease; false when it is no longer ours.
    async fn renew_lease(&self, lease: &Lease, ttl_ms: i64, now: Millis) -> Result<bool>;
    async fn release_lease(&self, lease: &Lease) -> Result<()>;
    /// Active senders that have a running campaign or a due single message.
    async fn senders_with_work(&self, now: Millis) -> Result<Vec<String>>;
    /// Whether the sender is active and has a running campaign or a due single message.
    /// Running campaigns of the sender with nothing left to send are completed first (a
    /// batch that finished one may not have got to it).
    async fn sender_has_work(&self, sender_id: &str, now: Millis) -> Result<bool>;
    /// Reserves up to `limit` due messages: highest priority first, round-robin between
    /// campaigns of equal priority, oldest first within a campaign.
    /// `round` rotates the round-robin so that small claims still take turns; `caps` hold
    /// back campaigns paced by their own rate plans. Only campaigns that may send now
    /// (running, and inside their window) are claimed from; nothing when the sender is not
    /// `active`.
    async fn claim(&self, lease: &Lease, request: &ClaimRequest, now: Millis) -> Result<Vec<ClaimedMessage>>;
    /// Durably marks claimed messages `sending` (attempts + 1) just before their requests;
    /// returns the ids that moved (a paused or cancelled campaign's messages do not, nor
    /// any message of a sender that is no longer `active`).
    async fn mark_sending(&self, lease: &Lease, ids: &[i64], now: Millis) -> Result<Vec<i64>>;
    /// Returns claimed messages that will not be attempted now to `queued`.
    async fn release_claimed(&self, lease: &Lease, ids: &[i64], now: Millis) -> Result<()>;
    /// Puts claimed messages back in the queue until their times, without spending an
    /// attempt. Fenced by the lease like every dispatcher write.
    async fn defer_claimed(&self, lease: &Lease, deferrals: &[Deferral], now: Millis) -> Result<()>;
    /// Moves claimed messages that must not be sent after all to `skipped` with their
    /// reason, one event each, counters exact; completes campaigns left with nothing to send.
    /// Fenced by the lease like every dispatcher write; returns the ids that moved.
    async fn skip_claimed(&self, lease: &Lease, skips: &[Skip], now: Millis) -> Result<Vec<i64>>;
    /// Group-commits the outcomes of attempts; completes campaigns with nothing left to
    /// send and returns the campaigns touched, as they are after the write.
    async fn record_outcomes(&self, lease: &Lease, outcomes: &[Outcome], now: Millis) -> Result<Vec<CampaignRecord>>;
    /// Pauses a running campaign for a reason of pregon's own; false when it was not running.
    async fn pause_campaign(
        &self,
        campaign_id: &str,
        reason: PausedReason,
        detail: Option<&str>,
        now: Millis,
    ) -> Result<bool>;
    /// Ends a campaign `failed` for `reason` (WhatsApp disabled its template): see
    /// [`transitions::fail`]. False when it could not send any more anyway.
    async fn fail_campaign(
        &self,
        campaign_id: &str,
        reason: pregon_domain::FailureReason,
        detail: Option<&str>,
        now: Millis,
    ) -> Result<bool>;
    /// Pauses every running campaign of a sender; returns their ids.
    async fn pause_sender_campaigns(
        &self,
        sender_id: &str,
        reason: PausedReason,
        detail: Option<&str>,
        now: Millis,
    ) -> Result<Vec<String>>;
    /// Admits recipients under a daily limit of unique recipients over a rolling 24 hours:
    /// of `phones`, those already counted in the last 24 hours, and new ones while fewer than
    /// `limit` are counted. The admitted are counted as messaged now, in one transaction that
    /// other processes sharing the key wait for.
    async fn admit_recipients(&self, limit_key: &str, limit: i64, phones: &[String], now: Millis) -> Result<Admission>;
    /// Pauses with `daily_limit`, until `recheck_at`, every running campaign of the senders
    /// counted under `sender`'s limit key (its group's, or its own); returns their ids.
    async fn pause_for_daily_limit(
        &self,
        sender: &SenderRecord,
        recheck_at: Millis,
        now: Millis,
    ) -> Result<Vec<String>>;
    /// Of `phones`, those the tenant holds an opt-out for (one query): checked again just
    /// before sending.
    /// Of `phones`, those opted out, with what each opt-out covers.
    async fn opted_out_among(
        &self,
        tenant_id: &str,
        phones: &[String],
    ) -> Result<std::collections::HashMap<String, pregon_domain::OptOutScope>>;
    /// Of `phones`, those the tenant holds an opt-in for (one query).
    async fn opted_in_among(&self, tenant_id: &str, phones: &[String]) -> Result<HashSet<String>>;
}

/// Checks the lease is still held, and keeps it so (PostgreSQL: `for share`) until the
/// transaction ends: a new owner's takeover waits for this write, and this write fails with
/// `LeaseLost` after it.
pub(crate) async fn check_lease(tx: &mut Tx, lease: &Lease, now: Millis) -> Result<()> {
    let lock = tx.dialect().for_share();
    let held = tx
        .fetch_optional(
            sql(format!(
                "select 1 as held from sender_lease where sender_id = $1 and owner_id = $2 and epoch = $3 \
                 and expires_at > $4{lock}"
            ))
            .bind(&lease.sender_id)
            .bind(&lease.owner_id)
            .bind(lease.epoch)
            .bind(now),
        )
        .await?;
    held.map(|_| ()).ok_or(StoreError::LeaseLost)
}

/// Whether the sender is active (a missing one is not). A plain read: a status change
/// committed a moment later stops the sender's next claim.
pub(crate) async fn sender_is_active(tx: &mut Tx, sender_id: &str) -> Result<bool> {
    let row = tx
        .fetch_optional(sql("select status from sender where sender_id = $1").bind(sender_id))
        .await?;
    Ok(match row {
        Some(r) => r.text("status")? == pregon_domain::SenderStatus::Active.as_str(),
        None => false,
    })
}

/// The condition that a sender has work: a running campaign inside its window, or a due
/// single message (`$1`: now; `s`: the sender).
const HAS_WORK: &str = "s.status = 'active' and s.deleted_at is null and ( \
     exists (select 1 from campaign c where c.sender_id = s.sender_id and c.status = 'running' \
             and (c.recheck_at is null or c.recheck_at > $1)) \
     or exists (select 1 from message m where m.sender_id = s.sender_id and m.campaign_id is null \
                and m.status = 'queued' and m.next_attempt_at <= $1))";

impl SqlStore {
    /// Completes the running campaigns among `campaign_ids` that have nothing left to send,
    /// each in a transaction of its own under its exclusive lock (which checks again), and
    /// returns the campaigns' records as they are then.
    pub(crate) async fn finish_done(&self, campaign_ids: &[String], now: Millis) -> Result<Vec<CampaignRecord>> {
        let read = |ids: &[String]| {
            let d = self.db.dialect();
            let q = sql(format!(
                "select {CAMPAIGN_COLUMNS} from {} where {} order by campaign_id",
                d.campaigns(),
                d.in_list("campaign_id", "$1")
            ))
            .bind(crate::db::Texts(ids));
            async move {
                let rows = self.db.fetch_all(q).await?;
                rows.iter().map(campaign_from_row).collect::<Result<Vec<_>>>()
            }
        };
        let records = read(campaign_ids).await?;
        let done: Vec<&CampaignRecord> = records
            .iter()
            .filter(|c| c.status == pregon_domain::CampaignStatus::Running && c.counts.pending() == 0)
            .collect();
        if done.is_empty() {
            return Ok(records);
        }
        for campaign in done {
            let mut tx = self.db.write().await?;
            tx.lock(sql("select 1 from campaign where campaign_id = $1 for no key update").bind(&campaign.id))
                .await?;
            transitions::complete_and_notify(&mut tx, &campaign.id, now).await?;
            tx.commit().await?;
        }
        read(campaign_ids).await
    }
}

#[async_trait]
impl DispatchStore for SqlStore {
    async fn acquire_lease(&self, sender_id: &str, owner_id: &str, ttl_ms: i64, now: Millis) -> Result<Option<Lease>> {
        let mut tx = self.db.write().await?;
        // The row lock the upsert takes (PostgreSQL) waits for every write still checking the
        // old lease.
        let taken = tx
            .fetch_optional(
                sql(
                    "insert into sender_lease (sender_id, owner_id, epoch, expires_at) values ($1, $2, 1, $3) \
                     on conflict (sender_id) do update set owner_id = $2, epoch = sender_lease.epoch + 1, \
                     expires_at = $3 where sender_lease.expires_at <= $4 or sender_lease.owner_id = $2 \
                     returning epoch",
                )
                .bind(sender_id)
                .bind(owner_id)
                .bind(now + ttl_ms)
                .bind(now),
            )
            .await?;
        let Some(epoch) = taken.map(|r| r.int("epoch")).transpose()? else {
            return Ok(None);
        };
        // Recovery: whatever a previous owner left in flight, its campaigns locked first.
        tx.lock(
            sql("select campaign_id from campaign where campaign_id in \
                 (select campaign_id from message where sender_id = $1 and status in ('claimed', 'sending')) \
                 order by campaign_id for no key update")
            .bind(sender_id),
        )
        .await?;
        let recovered = tx
            .fetch_all(
                sql(
                    "update message set status = case status when 'claimed' then 'queued' else 'unknown' end, \
                     lease_epoch = case status when 'claimed' then null else lease_epoch end, updated_at = $1 \
                     where sender_id = $2 and status in ('claimed', 'sending') \
                     returning message_id, campaign_id, status",
                )
                .bind(now)
                .bind(sender_id),
            )
            .await?;
        if !recovered.is_empty() {
            let (deltas, unknown_ids) = recovered_from_rows(&recovered)?;
            let ids = tx.dialect().list_rows("$3", crate::db::Ty::Int);
            tx.execute(
                sql(format!(
                    "insert into message_event (message_id, status, detail, at) \
                     select u.value, 'unknown', $1, $2 from {ids} as u order by u.n"
                ))
                .bind(recovery_detail())
                .bind(now)
                .bind(Ids(&unknown_ids)),
            )
            .await?;
            counts::apply(&mut tx, &deltas, None, now).await?;
            for cid in deltas.campaigns() {
                transitions::complete_and_notify(&mut tx, cid, now).await?;
            }
            tracing::warn!(
                sender_id,
                recovered = recovered.len(),
                unknown = unknown_ids.len(),
                "recovered in-flight messages"
            );
        }
        tx.commit().await?;
        Ok(Some(Lease {
            sender_id: sender_id.to_string(),
            owner_id: owner_id.to_string(),
            epoch,
        }))
    }

    async fn renew_lease(&self, lease: &Lease, ttl_ms: i64, now: Millis) -> Result<bool> {
        let mut tx = self.db.write().await?;
        let done = tx
            .execute(
                sql("update sender_lease set expires_at = $1 \
                     where sender_id = $2 and owner_id = $3 and epoch = $4 and expires_at > $5")
                .bind(now + ttl_ms)
                .bind(&lease.sender_id)
                .bind(&lease.owner_id)
                .bind(lease.epoch)
                .bind(now),
            )
            .await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        let mut tx = self.db.write().await?;
        tx.execute(
            sql("update sender_lease set expires_at = 0 where sender_id = $1 and owner_id = $2 and epoch = $3")
                .bind(&lease.sender_id)
                .bind(&lease.owner_id)
                .bind(lease.epoch),
        )
        .await?;
        tx.commit().await
    }

    async fn senders_with_work(&self, now: Millis) -> Result<Vec<String>> {
        let rows = self
            .db
            .fetch_all(sql(format!("select s.sender_id from sender s where {HAS_WORK}")).bind(now))
            .await?;
        rows.iter().map(|r| r.text("sender_id")).collect()
    }

    async fn sender_has_work(&self, sender_id: &str, now: Millis) -> Result<bool> {
        // Running campaigns with nothing left that a batch did not get to complete.
        let from = self.db.dialect().campaigns();
        let idle = self
            .db
            .fetch_all(
                sql(format!(
                    "select campaign_id from {from} where sender_id = $1 and status = 'running' \
                     and n_queued + n_claimed + n_sending = 0"
                ))
                .bind(sender_id),
            )
            .await?;
        if !idle.is_empty() {
            self.finish_done(&ids_of(&idle)?, now).await?;
        }
        let found = self
            .db
            .fetch_optional(
                sql(format!(
                    "select 1 as found from sender s where s.sender_id = $2 and {HAS_WORK}"
                ))
                .bind(now)
                .bind(sender_id),
            )
            .await?;
        Ok(found.is_some())
    }

    async fn claim(&self, lease: &Lease, request: &ClaimRequest, now: Millis) -> Result<Vec<ClaimedMessage>> {
        claim::claim(&self.db, lease, request, now).await
    }

    async fn mark_sending(&self, lease: &Lease, ids: &[i64], now: Millis) -> Result<Vec<i64>> {
        attempts::mark_sending(&self.db, lease, ids, now).await
    }

    async fn release_claimed(&self, lease: &Lease, ids: &[i64], now: Millis) -> Result<()> {
        attempts::release_claimed(&self.db, lease, ids, now).await
    }

    async fn defer_claimed(&self, lease: &Lease, deferrals: &[Deferral], now: Millis) -> Result<()> {
        attempts::defer_claimed(&self.db, lease, deferrals, now).await
    }

    async fn skip_claimed(&self, lease: &Lease, skips: &[Skip], now: Millis) -> Result<Vec<i64>> {
        attempts::skip_claimed(&self.db, lease, skips, now).await
    }

    async fn record_outcomes(&self, lease: &Lease, outcomes: &[Outcome], now: Millis) -> Result<Vec<CampaignRecord>> {
        attempts::record_outcomes(self, lease, outcomes, now).await
    }

    async fn pause_campaign(
        &self,
        campaign_id: &str,
        reason: PausedReason,
        detail: Option<&str>,
        now: Millis,
    ) -> Result<bool> {
        let mut tx = self.db.write().await?;
        let done = tx
            .execute(
                sql(
                    "update campaign set status = 'paused', paused_reason = $1, paused_detail = $2, updated_at = $3 \
                     where campaign_id = $4 and status = 'running'",
                )
                .bind(reason.as_str())
                .bind(detail)
                .bind(now)
                .bind(campaign_id),
            )
            .await?;
        if done == 1 {
            transitions::requeue_claimed(&mut tx, campaign_id, now).await?;
        }
        tx.commit().await?;
        Ok(done == 1)
    }

    async fn fail_campaign(
        &self,
        campaign_id: &str,
        reason: pregon_domain::FailureReason,
        detail: Option<&str>,
        now: Millis,
    ) -> Result<bool> {
        let mut tx = self.db.write().await?;
        tx.lock(
            sql(format!(
                "select 1 from campaign where campaign_id = $1{}",
                tx.dialect().for_no_key_update()
            ))
            .bind(campaign_id),
        )
        .await?;
        let done = transitions::fail(&mut tx, campaign_id, reason, detail, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn pause_sender_campaigns(
        &self,
        sender_id: &str,
        reason: PausedReason,
        detail: Option<&str>,
        now: Millis,
    ) -> Result<Vec<String>> {
        let mut tx = self.db.write().await?;
        let d = tx.dialect();
        let chosen = d.in_subquery(
            "campaign_id",
            &format!(
                "select campaign_id from campaign where sender_id = $4 and status = 'running' \
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
                .bind(reason.as_str())
                .bind(detail)
                .bind(now)
                .bind(sender_id),
            )
            .await?;
        let ids = ids_of(&rows)?;
        for id in &ids {
            transitions::requeue_claimed(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn admit_recipients(&self, limit_key: &str, limit: i64, phones: &[String], now: Millis) -> Result<Admission> {
        limits::admit_recipients(&self.db, limit_key, limit, phones, now).await
    }

    async fn pause_for_daily_limit(
        &self,
        sender: &SenderRecord,
        recheck_at: Millis,
        now: Millis,
    ) -> Result<Vec<String>> {
        limits::pause_for_daily_limit(&self.db, sender, recheck_at, now).await
    }

    async fn opted_out_among(
        &self,
        tenant_id: &str,
        phones: &[String],
    ) -> Result<std::collections::HashMap<String, pregon_domain::OptOutScope>> {
        self.opt_out_scopes_linked(tenant_id, phones).await
    }

    async fn opted_in_among(&self, tenant_id: &str, phones: &[String]) -> Result<HashSet<String>> {
        self.register_among(Register::OptIn, tenant_id, phones).await
    }
}
