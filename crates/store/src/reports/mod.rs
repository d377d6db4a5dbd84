//! Reports: what providers tell pregon about its senders and their messages (delivery
//! statuses, replies, quality and account changes), written as they arrive, batched.
//!
//! A batch of status reports is planned in memory ([`plan::StatusPlan`]) against the
//! messages it matched, read in the writing transaction, then written with one statement per
//! table. Finding and locking those messages is where the dialects differ, side by side
//! below: SQLite has one writer and reads them plainly; PostgreSQL locks them, and their
//! campaigns first, in the lock order of [`crate`].

pub(crate) mod plan;

use async_trait::async_trait;
use pregon_domain::{MessageStatus, ProviderKind, SenderStatus};

use crate::campaigns::counts::{self, lock_campaigns_of, share_campaigns_of};
use crate::campaigns::transitions;
use crate::db::{sql, Db, DbRow, Dialect, Ids, Tx, Ty};
use crate::error::{Result, StoreError};
use crate::records::{
    InboundRecord, Millis, NewInbound, Page, PageRequest, ReplyFilter, SenderRecord, StatusEffect, StatusUpdate,
};
use crate::rows::{
    inbound_from_row, page_of, sender_from_row, RecordRow, INBOUND_COLUMNS, SENDER_COLUMNS, TRACKED_COLUMNS,
};
use crate::SqlStore;
use plan::{inbound_rows, reply_opt_outs, status_keys, StatusPlan};

/// What the report writer (provider webhooks) uses, and the replies it stored.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Senders of a provider whose non-secret account id (`provider_account`) is `account`,
    /// or every sender of the provider when `account` is `None`; deleted ones included, since
    /// their messages still get reports. For routing a webhook before its signature is checked.
    async fn senders_by_provider_account(
        &self,
        provider: ProviderKind,
        account: Option<&str>,
    ) -> Result<Vec<SenderRecord>>;
    /// Applies provider status reports in one transaction, in order, and says what each did.
    /// A report changes only a message of its sender, found by provider id (or, for a
    /// message whose provider id was never recorded, by the echoed `message_hint`), and only
    /// monotonically: never down the rank sent < delivered < read; `failed` only before the
    /// message was delivered. Each new (message, status) becomes an event; a repeated one
    /// changes nothing. Campaign counters change in the same transaction.
    async fn apply_status_updates(&self, updates: &[StatusUpdate], now: Millis) -> Result<Vec<StatusEffect>>;
    /// Stores replies (one per sender and provider id: a redelivered one is skipped), each
    /// linked to the campaign of the latest campaign message its sender sent to that phone,
    /// and opts out the phones of those that ask for it, in one transaction. Returns the
    /// replies stored now.
    async fn insert_inbound(&self, inbound: &[NewInbound], now: Millis) -> Result<Vec<InboundRecord>>;
    /// A tenant's replies, newest first.
    async fn list_replies(
        &self,
        tenant_id: &str,
        filter: &ReplyFilter,
        page: &PageRequest,
    ) -> Result<Page<InboundRecord>>;
    /// Sets a sender's quality rating and/or status as its provider reports them; its
    /// campaigns follow a status change as in [`crate::SenderStore::update_sender`].
    async fn update_sender_quality(
        &self,
        sender_id: &str,
        quality_rating: Option<&str>,
        status: Option<SenderStatus>,
        now: Millis,
    ) -> Result<SenderRecord>;
}

/// The BSUIDs status reports name (Meta's `recipient_user_id`): each fills its message's
/// `user_id` when it had none, and links it to the message's phone. Only messages this
/// transaction already read (and, in PostgreSQL, locked) are touched.
async fn note_user_ids(tx: &mut Tx, updates: &[StatusUpdate], rows: &[DbRow], now: Millis) -> Result<()> {
    let mut noted: Vec<(i64, &str)> = Vec::new();
    for u in updates {
        let Some(user_id) = u.user_id.as_deref() else { continue };
        for r in rows {
            let same = r.opt_text("provider_message_id")?.as_deref() == Some(u.provider_message_id.as_str())
                && r.text("sender_id")? == u.sender_id;
            if same {
                noted.push((r.int("message_id")?, user_id));
            }
        }
    }
    for (id, user_id) in noted {
        tx.execute(
            sql("update message set user_id = $2 where message_id = $1 and user_id is null")
                .bind(id)
                .bind(user_id),
        )
        .await?;
        tx.execute(
            sql("insert into recipient_link (tenant_id, user_id, phone, created_at) \
                 select tenant_id, $2, phone, $3 from message where message_id = $1 and phone like '+%' \
                 on conflict do nothing")
            .bind(id)
            .bind(user_id)
            .bind(now),
        )
        .await?;
    }
    Ok(())
}

/// SQLite: the messages the reports are about, read in the writing transaction (which holds
/// the database's write lock). By provider id (the plan checks the sender), or, for a
/// message whose provider id was never recorded, by the id the provider echoed; `cross
/// join` keeps the keys outer, probing message's indexes.
async fn tracked_sqlite(tx: &mut Tx, keys: String) -> Result<Vec<DbRow>> {
    tx.fetch_all(
        sql(format!(
            "select {TRACKED_COLUMNS} from message where message_id in ( \
               select m.message_id from json_each($1) as k cross join message as m \
                 on m.provider_message_id = k.value ->> 1 \
               union all \
               select m.message_id from json_each($1) as k cross join message as m \
                 on m.message_id = k.value ->> 2 and m.sender_id = k.value ->> 0 \
                 and m.provider_message_id is null and m.status in ('sending', 'unknown'))"
        ))
        .bind(keys),
    )
    .await
}

/// PostgreSQL: the messages the reports are about, locked, and whether their campaigns are
/// held only `for share`.
///
/// Reports about messages already out of the queue (sent, delivered, unknown, …), the usual
/// case while a campaign is sending, cannot finish a campaign: they hold it `for share` and
/// tally their counts, so they do not stop its batches. Their message rows are ones no batch
/// writes (batches write queued, claimed and sending rows), and reports lock theirs in id
/// order. A report that may finish a message still in the queue's states takes the campaign
/// for itself, as every other such write does. May start the transaction over.
async fn tracked_postgres(db: &Db, mut tx: Tx, keys: String) -> Result<(Tx, Vec<DbRow>, bool)> {
    // One index probe per key: the lateral subquery (`offset 0` keeps it one) stops the
    // planner from hashing the whole provider id index when its statistics lag behind a
    // large campaign just sent.
    let found = tx
        .fetch_all(
            sql(
                "select m.message_id, m.status from jsonb_array_elements($1::jsonb) as k \
                   cross join lateral (select message_id, status from message \
                                       where provider_message_id = k ->> 1 offset 0) as m \
                 union \
                 select m.message_id, m.status from jsonb_array_elements($1::jsonb) as k \
                   join message as m on m.message_id = (k ->> 2)::bigint and m.sender_id = k ->> 0 \
                   and m.provider_message_id is null and m.status in ('sending', 'unknown')",
            )
            .bind(keys),
        )
        .await?;
    if found.is_empty() {
        return Ok((tx, found, false));
    }
    let ids: Vec<i64> = found.iter().map(|r| r.int("message_id")).collect::<Result<_>>()?;
    let lock_tracked = |ids: &[i64]| {
        sql(format!(
            "select {TRACKED_COLUMNS} from message where message_id = any($1) order by message_id for update"
        ))
        .bind(Ids(ids))
    };
    let mut shared = found.iter().all(|r| !row_is_pending(r));
    if shared {
        share_campaigns_of(&mut tx, &ids).await?;
    } else {
        lock_campaigns_of(&mut tx, &ids).await?;
    }
    let mut rows = tx.fetch_all(lock_tracked(&ids)).await?;
    if shared && rows.iter().any(row_is_pending) {
        // Put back in the queue (a retry) between the look and the lock: start over with the
        // exclusive lock.
        tx.rollback().await?;
        tx = db.write().await?;
        shared = false;
        lock_campaigns_of(&mut tx, &ids).await?;
        rows = tx.fetch_all(lock_tracked(&ids)).await?;
    }
    Ok((tx, rows, shared))
}

/// Whether a message row is still owed an attempt ([`MessageStatus::is_pending`]): a write
/// that moves it out of that may finish its campaign. Unreadable counts as pending.
fn row_is_pending(row: &DbRow) -> bool {
    row.text("status")
        .ok()
        .and_then(|s| s.parse::<MessageStatus>().ok())
        .is_none_or(MessageStatus::is_pending)
}

#[async_trait]
impl ReportStore for SqlStore {
    async fn senders_by_provider_account(
        &self,
        provider: ProviderKind,
        account: Option<&str>,
    ) -> Result<Vec<SenderRecord>> {
        let rows = self
            .db
            .fetch_all(
                sql(format!(
                    "select {SENDER_COLUMNS} from sender where provider = $1 \
                     and (cast($2 as text) is null or provider_account = $2) order by sender_id"
                ))
                .bind(provider.as_str())
                .bind(account),
            )
            .await?;
        rows.iter().map(sender_from_row).collect()
    }

    async fn apply_status_updates(&self, updates: &[StatusUpdate], now: Millis) -> Result<Vec<StatusEffect>> {
        // PostgreSQL may pick this transaction as a deadlock's victim (reports and batches
        // meet on message rows): it was rolled back whole, so it is run again.
        let mut tries = 0;
        loop {
            match self.apply_status_updates_once(updates, now).await {
                Err(e) if e.is_transient_conflict() && tries < 5 => {
                    tries += 1;
                    tracing::debug!(error = %e, tries, "status reports rolled back by a deadlock; again");
                }
                done => return done,
            }
        }
    }

    async fn insert_inbound(&self, inbound: &[NewInbound], now: Millis) -> Result<Vec<InboundRecord>> {
        if inbound.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.db.write().await?;
        let d = tx.dialect();
        let replies = d.json_rows(
            "$2",
            &[
                ("tenant_id", Ty::Text),
                ("sender_id", Ty::Text),
                ("phone", Ty::Text),
                ("pid", Ty::Text),
                ("message_type", Ty::Text),
                ("text", Ty::Text),
                ("opted_out", Ty::Flag),
                ("received_at", Ty::Int),
                ("user_id", Ty::Text),
            ],
        );
        let rows = tx
            .fetch_all(
                sql(format!(
                    "insert into inbound_message (tenant_id, sender_id, phone, provider_message_id, message_type, \
                       text, campaign_id, opted_out, received_at, created_at, user_id) \
                     select v.tenant_id, v.sender_id, v.phone, v.pid, v.message_type, v.text, \
                       (select m.campaign_id from message m where m.sender_id = v.sender_id and m.phone = v.phone \
                          and m.campaign_id is not null and m.sent_at is not null \
                          order by m.sent_at desc, m.message_id desc limit 1), \
                       v.opted_out, v.received_at, $1, v.user_id \
                     from {replies} as v where true order by v.n \
                     on conflict (sender_id, provider_message_id) do nothing \
                     returning {INBOUND_COLUMNS}"
                ))
                .bind(now)
                .bind(inbound_rows(inbound)),
            )
            .await?;
        let stored = rows.iter().map(inbound_from_row).collect::<Result<Vec<_>>>()?;
        // A reply naming both a phone and a BSUID links them.
        for r in &stored {
            if let (Some(phone), Some(user_id)) = (pregon_domain::phone_of_key(&r.phone), &r.user_id) {
                crate::identity::link(&mut tx, &r.tenant_id, phone, user_id, now).await?;
            }
        }
        if let Some(opt_outs) = reply_opt_outs(inbound, &stored) {
            let asked = d.json_rows(
                "$2",
                &[("tenant_id", Ty::Text), ("phone", Ty::Text), ("reason", Ty::Text)],
            );
            tx.execute(
                sql(format!(
                    "insert into opt_out (tenant_id, phone, reason, source, created_at) \
                     select v.tenant_id, v.phone, v.reason, 'reply', $1 from {asked} as v where true \
                     on conflict (tenant_id, phone) do update set scope = 'all'"
                ))
                .bind(now)
                .bind(opt_outs),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn list_replies(
        &self,
        tenant_id: &str,
        filter: &ReplyFilter,
        page: &PageRequest,
    ) -> Result<Page<InboundRecord>> {
        let before: i64 = match &page.cursor {
            None => i64::MAX,
            Some(c) => c.parse().map_err(|_| StoreError::NotFound)?,
        };
        // One statement per filter, so each uses its own index.
        let mut text = format!("select {INBOUND_COLUMNS} from inbound_message where tenant_id = $1");
        let mut n = 1;
        if filter.campaign_id.is_some() {
            n += 1;
            text.push_str(&format!(" and campaign_id = ${n}"));
        }
        if filter.phone.is_some() {
            n += 1;
            text.push_str(&format!(" and phone = ${n}"));
        }
        text.push_str(&format!(
            " and inbound_message_id < ${} order by inbound_message_id desc limit ${}",
            n + 1,
            n + 2
        ));
        let mut q = sql(text).bind(tenant_id);
        if let Some(c) = &filter.campaign_id {
            q = q.bind(c);
        }
        if let Some(p) = &filter.phone {
            q = q.bind(p);
        }
        let rows = self.db.fetch_all(q.bind(before).bind(page.limit + 1)).await?;
        let items = rows.iter().map(inbound_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |r| r.id.to_string()))
    }

    async fn update_sender_quality(
        &self,
        sender_id: &str,
        quality_rating: Option<&str>,
        status: Option<SenderStatus>,
        now: Millis,
    ) -> Result<SenderRecord> {
        let mut tx = self.db.write().await?;
        let before = crate::senders::lock_status(&mut tx, sender_id, None)
            .await?
            .ok_or(StoreError::NotFound)?;
        let row = tx
            .fetch_one(
                sql(format!(
                    "update sender set quality_rating = coalesce($1, quality_rating), status = coalesce($2, status), \
                     updated_at = $3 where sender_id = $4 returning {SENDER_COLUMNS}"
                ))
                .bind(quality_rating)
                .bind(status.map(SenderStatus::as_str))
                .bind(now)
                .bind(sender_id),
            )
            .await?;
        let updated = sender_from_row(&row)?;
        transitions::follow_sender(&mut tx, sender_id, before, updated.status, now).await?;
        tx.commit().await?;
        Ok(updated)
    }
}

impl SqlStore {
    async fn apply_status_updates_once(&self, updates: &[StatusUpdate], now: Millis) -> Result<Vec<StatusEffect>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let keys = status_keys(updates);
        let mut tx = self.db.write().await?;
        let d = tx.dialect();
        let (rows, shared) = match d {
            Dialect::Sqlite => (tracked_sqlite(&mut tx, keys).await?, false),
            Dialect::Postgres => {
                let (again, rows, shared) = tracked_postgres(&self.db, tx, keys).await?;
                tx = again;
                (rows, shared)
            }
        };
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(vec![StatusEffect::UnknownMessage; updates.len()]);
        }
        let plan = StatusPlan::new(updates, &rows)?;
        if plan.changed > 0 {
            let changes = d.json_rows(
                "$2",
                &[
                    ("id", Ty::Int),
                    ("status", Ty::Text),
                    ("pid", Ty::Text),
                    ("code", Ty::Text),
                    ("msg", Ty::Text),
                    ("sent", Ty::Int),
                    ("delivered", Ty::Int),
                    ("read", Ty::Int),
                ],
            );
            tx.execute(
                sql(format!(
                    "update message set status = v.status, provider_message_id = v.pid, error_code = v.code, \
                       error_message = v.msg, sent_at = v.sent, delivered_at = v.delivered, read_at = v.read, \
                       updated_at = $1 \
                     from {changes} as v where message.message_id = v.id"
                ))
                .bind(now)
                .bind(plan.messages.clone()),
            )
            .await?;
        }
        let inserted = if plan.has_events() {
            let events = d.json_rows(
                "$1",
                &[
                    ("id", Ty::Int),
                    ("status", Ty::Text),
                    ("detail", Ty::Text),
                    ("at", Ty::Int),
                    ("key", Ty::Text),
                ],
            );
            tx.fetch_all(
                sql(format!(
                    "insert into message_event (message_id, status, detail, at, provider_key) \
                     select v.id, v.status, v.detail, v.at, v.key from {events} as v where true order by v.n \
                     on conflict do nothing returning message_id, provider_key"
                ))
                .bind(plan.events.clone()),
            )
            .await?
        } else {
            Vec::new()
        };
        note_user_ids(&mut tx, updates, &rows, now).await?;
        if shared {
            counts::add_batch(&mut tx, &plan.deltas, None, now).await?;
        } else {
            counts::apply(&mut tx, &plan.deltas, None, now).await?;
            // A report can finish a message still `sending` (its answer not yet recorded).
            for cid in plan.deltas.campaigns() {
                transitions::complete_and_notify(&mut tx, cid, now).await?;
            }
        }
        tx.commit().await?;
        plan.effects(&inserted)
    }
}
