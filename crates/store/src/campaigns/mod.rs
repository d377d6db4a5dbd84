//! Campaigns and their messages, and single messages, as the API creates, reads and acts on
//! them.
//!
//! A campaign is created with all its messages in one transaction, all or nothing. A
//! person's action runs the steps [`plan::action_steps`] gives, in one transaction under the
//! campaign's lock. Counts change with the messages they count ([`counts`]). The campaign
//! object the API answers with, and notifications carry, is built in [`object`].

pub(crate) mod counts;
pub mod object;
pub(crate) mod plan;
pub(crate) mod transitions;

use async_trait::async_trait;
use pregon_domain::state::CampaignAction;
use pregon_domain::{AuditAction, CampaignStatus, MessageStatus, PausedReason, SenderStatus};
use serde_json::json;

use crate::audit::{self, AuditEntry, Change};
use crate::db::{sql, Tx, Ty};
use crate::error::{Result, StoreError};
use crate::records::{
    CampaignRecord, EventRecord, FailureGroup, MessageRecord, Millis, NewCampaign, NewSingleMessage, Page, PageRequest,
    SendSample, SingleMessageFilter,
};
use crate::rows::{
    campaign_from_row, event_from_row, message_from_row, page_of, parse_enum, settings_json, RecordRow,
    CAMPAIGN_COLUMNS, MESSAGE_COLUMNS,
};
use crate::SqlStore;
use counts::Deltas;
use plan::{action_allowed, action_steps, message_rows, Opening, Step};

/// Rows per statement when inserting a campaign's messages.
const INSERT_CHUNK: usize = 5_000;

/// A tenant's campaigns and messages, as the API works with them.
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Creates a campaign and all its messages in one transaction: all or nothing. One that
    /// would start running on a sender that is not `active` starts `paused` (`sender_paused`).
    async fn create_campaign(&self, campaign: NewCampaign, change: &Change) -> Result<CampaignRecord>;
    async fn list_campaigns(
        &self,
        tenant_id: &str,
        status: Option<CampaignStatus>,
        page: &PageRequest,
    ) -> Result<Page<CampaignRecord>>;
    async fn get_campaign(&self, tenant_id: &str, campaign_id: &str) -> Result<CampaignRecord>;
    /// The tenant's campaigns among `campaign_ids`, newest first; ids it has not are left out.
    async fn get_campaigns(&self, tenant_id: &str, campaign_ids: &[String]) -> Result<Vec<CampaignRecord>>;
    /// Applies a person's action, checking the state machine; `include_unknown` is for retry.
    /// An action that would make the campaign run while its sender is not `active` leaves it
    /// `paused` (`sender_paused`) instead, to resume with the sender; `pause` of such a
    /// campaign makes the pause the person's (`user`).
    async fn apply_action(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        action: CampaignAction,
        include_unknown: bool,
        now: Millis,
        change: &Change,
    ) -> Result<CampaignRecord>;
    async fn list_messages(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        status: Option<MessageStatus>,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>>;
    /// A campaign's failed messages grouped by provider error code, the largest groups
    /// first (at most `limit`), each with one message's provider words. Read from an index
    /// of failed messages alone; another tenant's campaign has none.
    async fn campaign_failures(&self, tenant_id: &str, campaign_id: &str, limit: i64) -> Result<Vec<FailureGroup>>;
    /// How many replies are linked to a campaign.
    async fn campaign_reply_count(&self, tenant_id: &str, campaign_id: &str) -> Result<i64>;
    /// A campaign's messages to `phone` (E.164), oldest first, at most `limit`; by its
    /// sender's (sender, phone) index.
    async fn campaign_messages_to(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        phone: &str,
        limit: i64,
    ) -> Result<Vec<MessageRecord>>;
    /// Up to `points` sent messages spread evenly over the campaign's message ids, with when
    /// each was sent, oldest id first: how its sending went over time, read in `points`
    /// index seeks whatever the campaign's size (messages go out in about id order).
    async fn campaign_send_samples(&self, tenant_id: &str, campaign_id: &str, points: i64) -> Result<Vec<SendSample>>;
    async fn insert_single_message(&self, message: NewSingleMessage, change: &Change) -> Result<MessageRecord>;
    async fn get_message(&self, tenant_id: &str, message_id: i64) -> Result<MessageRecord>;
    async fn message_events(&self, message_id: i64) -> Result<Vec<EventRecord>>;
    /// Cancels a message not yet attempted; `IllegalTransition` otherwise.
    async fn cancel_message(
        &self,
        tenant_id: &str,
        message_id: i64,
        now: Millis,
        change: &Change,
    ) -> Result<MessageRecord>;
    /// A tenant's single messages (those of no campaign): newest first, or, with
    /// [`SingleMessageFilter::scheduled_after`], those waiting for their send time, soonest
    /// first. Cursors are [`SingleMessageFilter::cursor_of`]; one this filter did not give
    /// out is `NotFound`.
    async fn list_single_messages(
        &self,
        tenant_id: &str,
        filter: &SingleMessageFilter,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>>;
}

/// Reads a message inside a transaction.
async fn read_message(tx: &mut Tx, message_id: i64) -> Result<MessageRecord> {
    let row = tx
        .fetch_one(sql(format!("select {MESSAGE_COLUMNS} from message where message_id = $1")).bind(message_id))
        .await?;
    message_from_row(&row)
}

#[async_trait]
impl CampaignStore for SqlStore {
    async fn create_campaign(&self, c: NewCampaign, change: &Change) -> Result<CampaignRecord> {
        let mut tx = self.db.write().await?;
        let d = tx.dialect();
        // `for share`: a concurrent status change of the sender waits for this campaign, and
        // then finds it.
        let sender = tx
            .fetch_optional(
                sql(format!(
                    "select status from sender where sender_id = $1{}",
                    d.for_share()
                ))
                .bind(&c.sender_id),
            )
            .await?;
        let sender_status: Option<SenderStatus> = sender.map(|r| parse_enum(&r.text("status")?)).transpose()?;
        let opening = Opening::of(&c, sender_status);
        tx.execute(
            sql(
                "insert into campaign (campaign_id, tenant_id, name, sender_id, template_id, status, paused_reason, \
                 paused_detail, priority, settings, start_at, windowed, recheck_at, n_queued, n_skipped, created_at, \
                 started_at, completed_at, updated_at, expires_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $16, $19)",
            )
            .bind(&c.id)
            .bind(&c.tenant_id)
            .bind(&c.name)
            .bind(&c.sender_id)
            .bind(&c.template_id)
            .bind(opening.status.as_str())
            .bind(opening.paused_reason.map(PausedReason::as_str))
            .bind(&opening.paused_detail)
            .bind(c.priority)
            .bind(settings_json(&c.settings))
            .bind(c.start_at)
            .bind(c.windowed)
            .bind(opening.recheck_at)
            .bind(opening.counts.queued)
            .bind(opening.counts.skipped)
            .bind(c.now)
            .bind(opening.started_at)
            .bind(opening.completed_at)
            .bind(c.expires_at),
        )
        .await?;
        // In the contacts' order: message ids are the claim order.
        let rows = d.json_rows(
            "$8",
            &[
                ("phone", Ty::Text),
                ("variables", Ty::Text),
                ("status", Ty::Text),
                ("skip_reason", Ty::Text),
                ("user_id", Ty::Text),
            ],
        );
        let insert = format!(
            "insert into message (tenant_id, campaign_id, sender_id, template_id, phone, variables, status, \
             skip_reason, priority, max_attempts, created_at, updated_at, expires_at, user_id) \
             select $1, $2, $3, $4, v.phone, v.variables, v.status, v.skip_reason, $5, $6, $7, $7, $9, v.user_id \
             from {rows} as v order by v.n"
        );
        for chunk in c.messages.chunks(INSERT_CHUNK) {
            tx.execute(
                sql(insert.as_str())
                    .bind(&c.tenant_id)
                    .bind(&c.id)
                    .bind(&c.sender_id)
                    .bind(&c.template_id)
                    .bind(c.priority)
                    .bind(c.max_attempts)
                    .bind(c.now)
                    .bind(message_rows(chunk))
                    .bind(c.expires_at),
            )
            .await?;
        }
        let accepted = c
            .messages
            .iter()
            .filter(|m| m.skip_reason.is_none())
            .map(|m| m.phone.as_str());
        crate::pricing::write_estimate(&mut tx, &c.tenant_id, &c.id, &c.template_id, accepted).await?;
        // Contacts that gave both a phone and a BSUID: an opt-out under either covers the other.
        crate::identity::link_message_identities(&mut tx, &c.tenant_id, &c.id, c.now).await?;
        let created = transitions::read(&mut tx, &c.id).await?;
        if created.status.is_final() {
            crate::notifications::enqueue(&mut tx, &created, c.now).await?;
        }
        let entry = AuditEntry::new(AuditAction::CampaignCreate, "campaign", &c.id).with(json!({
            "name": c.name, "sender_id": c.sender_id, "template_id": c.template_id,
            "status": created.status, "total": created.counts.total(),
            "queued": opening.counts.queued, "skipped": opening.counts.skipped,
        }));
        audit::record(&mut tx, &c.tenant_id, change, entry, c.now).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn list_campaigns(
        &self,
        tenant_id: &str,
        status: Option<CampaignStatus>,
        page: &PageRequest,
    ) -> Result<Page<CampaignRecord>> {
        let from = self.db.dialect().campaigns();
        let rows = self
            .db
            .fetch_all(
                sql(format!(
                    "select {CAMPAIGN_COLUMNS} from {from} where tenant_id = $1 \
                     and (cast($2 as text) is null or status = $2) \
                     and (cast($3 as text) is null or campaign_id < $3) order by campaign_id desc limit $4"
                ))
                .bind(tenant_id)
                .bind(status.map(CampaignStatus::as_str))
                .bind(&page.cursor)
                .bind(page.limit + 1),
            )
            .await?;
        let items = rows.iter().map(campaign_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |c| c.id.clone()))
    }

    async fn get_campaign(&self, tenant_id: &str, campaign_id: &str) -> Result<CampaignRecord> {
        let from = self.db.dialect().campaigns();
        let row = self
            .db
            .fetch_one(
                sql(format!(
                    "select {CAMPAIGN_COLUMNS} from {from} where tenant_id = $1 and campaign_id = $2"
                ))
                .bind(tenant_id)
                .bind(campaign_id),
            )
            .await?;
        campaign_from_row(&row)
    }

    async fn get_campaigns(&self, tenant_id: &str, campaign_ids: &[String]) -> Result<Vec<CampaignRecord>> {
        let d = self.db.dialect();
        let rows = self
            .db
            .fetch_all(
                sql(format!(
                    "select {CAMPAIGN_COLUMNS} from {} where tenant_id = $1 and {} order by campaign_id desc",
                    d.campaigns(),
                    d.in_list("campaign_id", "$2")
                ))
                .bind(tenant_id)
                .bind(crate::db::Texts(campaign_ids)),
            )
            .await?;
        rows.iter().map(campaign_from_row).collect()
    }

    async fn apply_action(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        action: CampaignAction,
        include_unknown: bool,
        now: Millis,
        change: &Change,
    ) -> Result<CampaignRecord> {
        let mut tx = self.db.write().await?;
        // The sender before the campaign (a campaign's sender never changes): whether the
        // action may make it run depends on the sender's status, which cannot change meanwhile.
        tx.lock(
            sql("select 1 from sender where sender_id = \
                 (select sender_id from campaign where tenant_id = $1 and campaign_id = $2) for share")
            .bind(tenant_id)
            .bind(campaign_id),
        )
        .await?;
        let lock = tx.dialect().for_no_key_update();
        let row = tx
            .fetch_one(
                sql(format!(
                    "select status, paused_reason, start_at from campaign \
                     where tenant_id = $1 and campaign_id = $2{lock}"
                ))
                .bind(tenant_id)
                .bind(campaign_id),
            )
            .await?;
        let from: CampaignStatus = parse_enum(&row.text("status")?)?;
        let reason: Option<PausedReason> = row.opt_text("paused_reason")?.as_deref().map(parse_enum).transpose()?;
        if !action_allowed(from, reason, action) {
            return Err(StoreError::campaign_transition(action.as_str(), from));
        }
        for step in action_steps(action, include_unknown, row.opt_int("start_at")?, now) {
            match step {
                Step::SetStatus(to, reason) => transitions::set_status(&mut tx, campaign_id, now, to, reason).await?,
                Step::Move {
                    from,
                    to,
                    reset_attempts,
                } => {
                    transitions::move_messages(&mut tx, campaign_id, from, to, reset_attempts, now).await?;
                }
                Step::CompleteIfDone => {
                    transitions::complete_if_done(&mut tx, campaign_id, now).await?;
                }
                Step::HoldForSender => {
                    transitions::hold_for_sender(&mut tx, campaign_id, now).await?;
                }
            }
        }
        let after = transitions::read(&mut tx, campaign_id).await?;
        // A final state reached by this action (a retry with nothing to retry that ends
        // where it began announces nothing).
        if after.status.is_final() && after.status != from {
            crate::notifications::enqueue(&mut tx, &after, now).await?;
        }
        let mut details = json!({"from": from, "to": after.status});
        if action == CampaignAction::Retry {
            details["include_unknown"] = json!(include_unknown);
        }
        let entry = AuditEntry::new(AuditAction::of_campaign(action), "campaign", campaign_id).with(details);
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn list_messages(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        status: Option<MessageStatus>,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>> {
        let after: i64 = match &page.cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| StoreError::NotFound)?,
        };
        // One statement per filter, so that a state's page is read from the (campaign,
        // status, id) index: a rare state of a large campaign is found without a scan.
        let q = match status {
            Some(status) => sql(format!(
                "select {MESSAGE_COLUMNS} from message where campaign_id = $1 and tenant_id = $2 \
                 and status = $3 and message_id > $4 order by message_id limit $5"
            ))
            .bind(campaign_id)
            .bind(tenant_id)
            .bind(status.as_str()),
            None => sql(format!(
                "select {MESSAGE_COLUMNS} from message where campaign_id = $1 and tenant_id = $2 \
                 and message_id > $3 order by message_id limit $4"
            ))
            .bind(campaign_id)
            .bind(tenant_id),
        };
        let rows = self.db.fetch_all(q.bind(after).bind(page.limit + 1)).await?;
        let items = rows.iter().map(message_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |m| m.id.to_string()))
    }

    async fn campaign_failures(&self, tenant_id: &str, campaign_id: &str, limit: i64) -> Result<Vec<FailureGroup>> {
        let rows = self
            .db
            .fetch_all(
                sql(
                    "select error_code, count(*) as n from message where campaign_id = $1 and status = 'failed' \
                     and exists (select 1 from campaign where campaign_id = $1 and tenant_id = $2) \
                     group by error_code order by n desc, error_code limit $3",
                )
                .bind(campaign_id)
                .bind(tenant_id)
                .bind(limit),
            )
            .await?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in &rows {
            let error_code = row.opt_text("error_code")?;
            let example = self
                .db
                .fetch_optional(
                    sql(
                        "select error_message from message where campaign_id = $1 and status = 'failed' \
                         and (error_code = $2 or (cast($2 as text) is null and error_code is null)) limit 1",
                    )
                    .bind(campaign_id)
                    .bind(error_code.as_deref()),
                )
                .await?;
            let error_message = match example {
                Some(r) => r.opt_text("error_message")?,
                None => None,
            };
            groups.push(FailureGroup {
                error_code,
                count: row.int("n")?,
                error_message,
            });
        }
        Ok(groups)
    }

    async fn campaign_reply_count(&self, tenant_id: &str, campaign_id: &str) -> Result<i64> {
        self.db
            .fetch_one(
                sql("select count(*) as n from inbound_message where campaign_id = $1 and tenant_id = $2")
                    .bind(campaign_id)
                    .bind(tenant_id),
            )
            .await?
            .int("n")
    }

    async fn campaign_messages_to(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        phone: &str,
        limit: i64,
    ) -> Result<Vec<MessageRecord>> {
        let rows = self
            .db
            .fetch_all(
                sql(format!(
                    "select {MESSAGE_COLUMNS} from message \
                     where sender_id = (select sender_id from campaign where campaign_id = $1 and tenant_id = $2) \
                     and phone = $3 and campaign_id = $1 order by message_id limit $4"
                ))
                .bind(campaign_id)
                .bind(tenant_id)
                .bind(phone)
                .bind(limit),
            )
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn campaign_send_samples(&self, tenant_id: &str, campaign_id: &str, points: i64) -> Result<Vec<SendSample>> {
        // Each bound and each sample is one seek in an index: min() and max() apart, and
        // each sent state apart, so that neither database reads a range.
        let bound = |order: &'static str| {
            sql(format!(
                "select message_id from message where campaign_id = $1 \
                 and exists (select 1 from campaign where campaign_id = $1 and tenant_id = $2) \
                 order by message_id {order} limit 1"
            ))
            .bind(campaign_id)
            .bind(tenant_id)
        };
        let (Some(lo), Some(hi)) = (
            self.db.fetch_optional(bound("asc")).await?,
            self.db.fetch_optional(bound("desc")).await?,
        ) else {
            return Ok(Vec::new());
        };
        let (lo, hi) = (lo.int("message_id")?, hi.int("message_id")?);
        let seek = ["sent", "delivered", "read"]
            .map(|status| {
                format!(
                    "select message_id, sent_at from (select message_id, sent_at from message \
                     where campaign_id = $1 and status = '{status}' and message_id >= $2 \
                     order by message_id limit 1) as {status}_first"
                )
            })
            .join(" union all ");
        let seek = format!("{seek} order by message_id limit 1");
        let points = points.max(2);
        let mut samples: Vec<SendSample> = Vec::new();
        for i in 0..points {
            let from = lo + (hi - lo) * i / (points - 1);
            if samples.last().is_some_and(|s| s.message_id >= from) {
                continue;
            }
            let row = self
                .db
                .fetch_optional(sql(seek.clone()).bind(campaign_id).bind(from))
                .await?;
            let Some(row) = row else { break };
            if let Some(at) = row.opt_int("sent_at")? {
                samples.push(SendSample {
                    message_id: row.int("message_id")?,
                    at,
                });
            }
        }
        Ok(samples)
    }

    async fn insert_single_message(&self, m: NewSingleMessage, change: &Change) -> Result<MessageRecord> {
        let mut tx = self.db.write().await?;
        let row = tx
            .fetch_one(
                sql(format!(
                    "insert into message (tenant_id, sender_id, template_id, phone, variables, status, priority, \
                     max_attempts, next_attempt_at, send_at, created_at, updated_at, expires_at, user_id) \
                     values ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $8, $9, $9, $10, $11) returning {MESSAGE_COLUMNS}"
                ))
                .bind(&m.tenant_id)
                .bind(&m.sender_id)
                .bind(&m.template_id)
                .bind(&m.phone)
                .bind(&m.variables)
                .bind(m.priority)
                .bind(m.max_attempts)
                .bind(m.send_at)
                .bind(m.now)
                .bind(m.expires_at)
                .bind(&m.user_id),
            )
            .await?;
        let message = message_from_row(&row)?;
        if let (Some(phone), Some(user_id)) = (pregon_domain::phone_of_key(&m.phone), &m.user_id) {
            crate::identity::link(&mut tx, &m.tenant_id, phone, user_id, m.now).await?;
        }
        tx.execute(
            sql("insert into message_event (message_id, status, detail, at) values ($1, 'queued', $2, $3)")
                .bind(message.id)
                .bind(json!({"send_at": m.send_at}).to_string())
                .bind(m.now),
        )
        .await?;
        let entry = AuditEntry::new(AuditAction::MessageSend, "message", message.id.to_string()).with(json!({
            "to": m.phone, "sender_id": m.sender_id, "template_id": m.template_id, "send_at": m.send_at,
        }));
        audit::record(&mut tx, &m.tenant_id, change, entry, m.now).await?;
        tx.commit().await?;
        Ok(message)
    }

    async fn get_message(&self, tenant_id: &str, message_id: i64) -> Result<MessageRecord> {
        let row = self
            .db
            .fetch_one(
                sql(format!(
                    "select {MESSAGE_COLUMNS} from message where message_id = $1 and tenant_id = $2"
                ))
                .bind(message_id)
                .bind(tenant_id),
            )
            .await?;
        message_from_row(&row)
    }

    async fn message_events(&self, message_id: i64) -> Result<Vec<EventRecord>> {
        let rows = self
            .db
            .fetch_all(
                sql("select status, detail, at from message_event where message_id = $1 order by message_event_id")
                    .bind(message_id),
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn cancel_message(
        &self,
        tenant_id: &str,
        message_id: i64,
        now: Millis,
        change: &Change,
    ) -> Result<MessageRecord> {
        let mut tx = self.db.write().await?;
        let campaign_id = tx
            .fetch_one(
                sql("select campaign_id from message where message_id = $1 and tenant_id = $2")
                    .bind(message_id)
                    .bind(tenant_id),
            )
            .await?
            .opt_text("campaign_id")?;
        // The campaign before the message (a message's campaign never changes).
        counts::lock_campaigns_of(&mut tx, &[message_id]).await?;
        let lock = tx.dialect().for_update();
        let status: MessageStatus = parse_enum(
            &tx.fetch_one(sql(format!("select status from message where message_id = $1{lock}")).bind(message_id))
                .await?
                .text("status")?,
        )?;
        if !matches!(status, MessageStatus::Queued | MessageStatus::Claimed) {
            return Err(StoreError::message_transition("cancel", status));
        }
        tx.execute(
            sql("update message set status = 'cancelled', lease_epoch = null, updated_at = $1 where message_id = $2")
                .bind(now)
                .bind(message_id),
        )
        .await?;
        tx.execute(
            sql("insert into message_event (message_id, status, at) values ($1, 'cancelled', $2)")
                .bind(message_id)
                .bind(now),
        )
        .await?;
        if let Some(cid) = campaign_id {
            counts::apply(
                &mut tx,
                &Deltas::one(&cid, status, MessageStatus::Cancelled, 1),
                None,
                now,
            )
            .await?;
            transitions::complete_and_notify(&mut tx, &cid, now).await?;
        }
        let message = read_message(&mut tx, message_id).await?;
        let entry = AuditEntry::new(AuditAction::MessageCancel, "message", message_id.to_string())
            .with(json!({"from": status, "campaign_id": message.campaign_id}));
        audit::record(&mut tx, tenant_id, change, entry, now).await?;
        tx.commit().await?;
        Ok(message)
    }

    async fn list_single_messages(
        &self,
        tenant_id: &str,
        filter: &SingleMessageFilter,
        page: &PageRequest,
    ) -> Result<Page<MessageRecord>> {
        let position = match &page.cursor {
            None => None,
            Some(c) => Some(filter.parse_cursor(c).ok_or(StoreError::NotFound)?),
        };
        let rows = match filter.scheduled_after {
            None => {
                self.db
                    .fetch_all(
                        sql(format!(
                            "select {MESSAGE_COLUMNS} from message where tenant_id = $1 and campaign_id is null \
                             and (cast($2 as text) is null or status = $2) and message_id < $3 \
                             order by message_id desc limit $4"
                        ))
                        .bind(tenant_id)
                        .bind(filter.status.map(MessageStatus::as_str))
                        .bind(position.map_or(i64::MAX, |(_, id)| id))
                        .bind(page.limit + 1),
                    )
                    .await?
            }
            Some(_) if filter.status.is_some_and(|s| s != MessageStatus::Queued) => Vec::new(),
            Some(after) => {
                let (at, id) = position.unwrap_or((i64::MIN, i64::MIN));
                self.db
                    .fetch_all(
                        sql(format!(
                            "select {MESSAGE_COLUMNS} from message where tenant_id = $1 and campaign_id is null \
                             and status = 'queued' and attempts = 0 and next_attempt_at > $2 \
                             and (next_attempt_at, message_id) > ($3, $4) \
                             order by next_attempt_at, message_id limit $5"
                        ))
                        .bind(tenant_id)
                        .bind(after)
                        .bind(at)
                        .bind(id)
                        .bind(page.limit + 1),
                    )
                    .await?
            }
        };
        let items = rows.iter().map(message_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |m| filter.cursor_of(m)))
    }
}
