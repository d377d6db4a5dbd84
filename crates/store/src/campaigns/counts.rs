//! A campaign's exact counts per message state, kept in the same transactions that move its
//! messages.
//!
//! Most writes add their changes to the campaign row's `n_*` columns, under the row's
//! exclusive lock ([`apply`]). The dispatcher's batch writes (claim, `sending` mark,
//! outcomes, hand-back, deferral) and provider reports about messages already out of the
//! queue hold their campaigns only `for share` in PostgreSQL, so that one campaign's next
//! claim, current `sending` mark and previous outcomes run side by side. They cannot update
//! the row, so they add their changes as rows of `campaign_tally` instead ([`add_batch`]),
//! which reads add back in (the view `campaign_counted`, [`Dialect::campaigns`]); now and
//! then the tally is folded into the row under its exclusive lock ([`fold_if_due`]). SQLite
//! has one writer at a time and no tally: a batch updates the row as any write does.

use std::collections::BTreeMap;

use pregon_domain::MessageStatus;

use crate::db::{sql, Dialect, Texts, Tx};
use crate::error::Result;
use crate::records::{Counts, Millis};
use crate::rows::RecordRow;

/// Count changes per campaign, applied in campaign id order (one statement each).
#[derive(Debug, Default)]
pub(crate) struct Deltas(BTreeMap<String, Counts>);

impl Deltas {
    /// `n` messages of one campaign moved from `from` to `to`.
    pub(crate) fn one(campaign_id: &str, from: MessageStatus, to: MessageStatus, n: i64) -> Self {
        let mut d = Deltas::default();
        d.shift(Some(campaign_id.to_string()), from, to, n);
        d
    }

    /// Records `n` messages moving; single messages (no campaign) and `n == 0` change nothing.
    pub(crate) fn shift(&mut self, campaign_id: Option<String>, from: MessageStatus, to: MessageStatus, n: i64) {
        if let (Some(cid), true) = (campaign_id, n != 0) {
            self.0.entry(cid).or_default().shift(from, to, n);
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &Counts)> {
        self.0.iter()
    }

    /// The campaigns touched, in id order.
    pub(crate) fn campaigns(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }

    /// The campaigns touched, in id order, as owned ids.
    pub(crate) fn campaign_ids(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

/// The counts as arguments `$1` to `$10`, in the order of the `n_*` columns, then `$11` the
/// time of the last send (when a message was sent), `$12` now, `$13` the campaign, and `$14`
/// the expired count (a later column).
fn count_args(
    q: crate::db::Sql,
    d: &Counts,
    last_sent_at: Option<Millis>,
    now: Millis,
    campaign_id: &str,
) -> crate::db::Sql {
    q.bind(d.queued)
        .bind(d.claimed)
        .bind(d.sending)
        .bind(d.sent)
        .bind(d.delivered)
        .bind(d.read)
        .bind(d.failed)
        .bind(d.unknown)
        .bind(d.skipped)
        .bind(d.cancelled)
        .bind(last_sent_at)
        .bind(now)
        .bind(campaign_id)
        .bind(d.expired)
}

/// Adds the changes to the campaigns' rows, which the caller holds (exclusively, in
/// PostgreSQL). `last_sent_at` is set where messages were sent.
pub(crate) async fn apply(tx: &mut Tx, deltas: &Deltas, last_sent_at: Option<Millis>, now: Millis) -> Result<()> {
    for (campaign_id, d) in deltas.iter() {
        let q = sql(
            "update campaign set n_queued = n_queued + $1, n_claimed = n_claimed + $2, n_sending = n_sending + $3, \
             n_sent = n_sent + $4, n_delivered = n_delivered + $5, n_read = n_read + $6, n_failed = n_failed + $7, \
             n_unknown = n_unknown + $8, n_skipped = n_skipped + $9, n_cancelled = n_cancelled + $10, \
             n_expired = n_expired + $14, last_sent_at = case when $4 > 0 then coalesce($11, last_sent_at) else last_sent_at end, updated_at = $12 \
             where campaign_id = $13",
        );
        tx.execute(count_args(q, d, last_sent_at, now, campaign_id)).await?;
    }
    Ok(())
}

/// Adds a batch's changes for campaigns the batch holds `for share`
/// ([`share_campaigns_of`]): tally rows in PostgreSQL, the rows themselves in SQLite.
pub(crate) async fn add_batch(tx: &mut Tx, deltas: &Deltas, last_sent_at: Option<Millis>, now: Millis) -> Result<()> {
    if tx.dialect() == Dialect::Sqlite {
        return apply(tx, deltas, last_sent_at, now).await;
    }
    for (campaign_id, d) in deltas.iter() {
        let q = sql(
            "insert into campaign_tally (n_queued, n_claimed, n_sending, n_sent, n_delivered, n_read, \
             n_failed, n_unknown, n_skipped, n_cancelled, last_sent_at, at, campaign_id, n_expired) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, case when $4 > 0 then $11 end, $12, $13, $14)",
        );
        tx.execute(count_args(q, d, last_sent_at, now, campaign_id)).await?;
    }
    Ok(())
}

/// Locks, in id order, the campaigns of the given messages `for share` (before the messages
/// themselves): their state cannot change meanwhile, but other batch writes of the same
/// campaigns go ahead at once. Counts then change through [`add_batch`].
pub(crate) async fn share_campaigns_of(tx: &mut Tx, message_ids: &[i64]) -> Result<()> {
    let d = tx.dialect();
    tx.lock(
        sql(format!(
            "select campaign_id from campaign where campaign_id in \
               (select campaign_id from message where {}) order by campaign_id for share",
            d.in_list("message_id", "$1")
        ))
        .bind(crate::db::Ids(message_ids)),
    )
    .await
}

/// Locks, in id order, the campaigns of the given messages for this transaction to change
/// (before the messages themselves).
pub(crate) async fn lock_campaigns_of(tx: &mut Tx, message_ids: &[i64]) -> Result<()> {
    let d = tx.dialect();
    tx.lock(
        sql(format!(
            "select campaign_id from campaign where campaign_id in \
               (select campaign_id from message where {}) order by campaign_id for no key update",
            d.in_list("message_id", "$1")
        ))
        .bind(crate::db::Ids(message_ids)),
    )
    .await
}

/// Tally rows a campaign may gather before they are folded into its row: enough that folding
/// (which waits for the campaign's in-flight batches) is rare, few enough that reading the
/// counts stays one short index range.
const FOLD_AT: i64 = 64;

/// The campaigns among `campaign_ids` whose tally has grown to [`FOLD_AT`] rows (none in
/// SQLite, which keeps no tally).
pub(crate) async fn due_for_folding(tx: &mut Tx, campaign_ids: &[String]) -> Result<Vec<String>> {
    if tx.dialect() == Dialect::Sqlite {
        return Ok(Vec::new());
    }
    let rows = tx
        .fetch_all(
            sql("select campaign_id from campaign_tally where campaign_id = any($1) \
                 group by campaign_id having count(*) >= $2")
            .bind(Texts(campaign_ids))
            .bind(FOLD_AT),
        )
        .await?;
    rows.iter().map(|r| r.text("campaign_id")).collect()
}

/// Folds the campaigns' tally rows into their counters (PostgreSQL), under their exclusive
/// row locks, so that no batch adds rows meanwhile; in a transaction of its own.
pub(crate) async fn fold(mut tx: Tx, campaign_ids: &[String]) -> Result<()> {
    tx.lock(
        sql("select 1 from campaign where campaign_id = any($1) order by campaign_id for no key update")
            .bind(Texts(campaign_ids)),
    )
    .await?;
    tx.execute(
        sql(
            "with gone as (delete from campaign_tally where campaign_id = any($1) returning *), \
             s as (select campaign_id, sum(n_queued) as q, sum(n_claimed) as cl, sum(n_sending) as sg, \
                     sum(n_sent) as st, sum(n_delivered) as dl, sum(n_read) as rd, sum(n_failed) as fl, \
                     sum(n_unknown) as un, sum(n_skipped) as sk, sum(n_cancelled) as ca, \
                     sum(n_expired) as ex, max(last_sent_at) as ls, max(at) as at \
                   from gone group by campaign_id) \
             update campaign c set n_queued = c.n_queued + s.q, n_claimed = c.n_claimed + s.cl, \
               n_sending = c.n_sending + s.sg, n_sent = c.n_sent + s.st, n_delivered = c.n_delivered + s.dl, \
               n_read = c.n_read + s.rd, n_failed = c.n_failed + s.fl, n_unknown = c.n_unknown + s.un, \
               n_skipped = c.n_skipped + s.sk, n_cancelled = c.n_cancelled + s.ca, n_expired = c.n_expired + s.ex, \
               last_sent_at = greatest(c.last_sent_at, s.ls), updated_at = greatest(c.updated_at, s.at) \
             from s where c.campaign_id = s.campaign_id",
        )
        .bind(Texts(campaign_ids)),
    )
    .await?;
    tx.commit().await
}
