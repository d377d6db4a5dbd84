//! Provider reports, decided once for every database: which message each status report is
//! about, what it changes (monotonically), the events it records and the counter changes it
//! makes; and the JSON rows of inbound replies.
//!
//! A batch of reports is planned in memory against the messages it matched, read (and in
//! PostgreSQL locked) in the same transaction, then written with one statement per table.
//! Reports about one message apply in arrival order, each to the state the previous one
//! left, so a batch holding `delivered` and `read` for a message ends `read` whichever
//! order they came in.

use std::collections::{HashMap, HashSet};

use pregon_domain::MessageStatus;
use serde_json::json;

use crate::campaigns::counts::Deltas;
use crate::error::Result;
use crate::records::{InboundRecord, Millis, NewInbound, StatusEffect, StatusUpdate};
use crate::rows::{parse_enum, RecordRow};

/// Whether a provider's report of `to` moves a message that is `from`, when the report is
/// about the message's current attempt: never down the rank sent < delivered < read;
/// `failed` only before the message was delivered; `delivered` and `read` also after a
/// `failed` (the handset acknowledged it after all).
pub(crate) fn report_moves(from: MessageStatus, to: MessageStatus) -> bool {
    match to {
        MessageStatus::Delivered | MessageStatus::Read => {
            matches!(
                from,
                MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read | MessageStatus::Failed
            ) && from.delivery_rank() < to.delivery_rank()
        }
        MessageStatus::Failed => from == MessageStatus::Sent,
        _ => false,
    }
}

/// `[sender id, provider message id, message hint]` per update: what messages are found by.
pub(crate) fn status_keys(updates: &[StatusUpdate]) -> String {
    let rows: Vec<serde_json::Value> = updates
        .iter()
        .map(|u| json!([u.sender_id, u.provider_message_id, u.message_hint]))
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// The key of a provider-reported event: one per message and reported status.
fn provider_key(update: &StatusUpdate) -> String {
    format!("{}/{}", update.provider_message_id, update.status.as_str())
}

fn earliest(current: Option<Millis>, at: Millis) -> Option<Millis> {
    Some(current.map_or(at, |c| c.min(at)))
}

/// A message as a batch of reports found it ([`TRACKED_COLUMNS`](crate::rows::TRACKED_COLUMNS))
/// and leaves it.
#[derive(Debug, Clone, PartialEq)]
struct Tracked {
    id: i64,
    campaign_id: Option<String>,
    sender_id: String,
    status: MessageStatus,
    provider_message_id: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    sent_at: Option<Millis>,
    delivered_at: Option<Millis>,
    read_at: Option<Millis>,
}

impl Tracked {
    fn from_row(row: &impl RecordRow) -> Result<Self> {
        Ok(Tracked {
            id: row.int("message_id")?,
            campaign_id: row.opt_text("campaign_id")?,
            sender_id: row.text("sender_id")?,
            status: parse_enum(&row.text("status")?)?,
            provider_message_id: row.opt_text("provider_message_id")?,
            error_code: row.opt_text("error_code")?,
            error_message: row.opt_text("error_message")?,
            sent_at: row.opt_int("sent_at")?,
            delivered_at: row.opt_int("delivered_at")?,
            read_at: row.opt_int("read_at")?,
        })
    }

    /// A message the provider took without our learning its id (its answer has not been
    /// recorded yet, or never came): only a report that echoes our id can find it.
    fn awaits_provider_id(&self) -> bool {
        self.provider_message_id.is_none() && matches!(self.status, MessageStatus::Sending | MessageStatus::Unknown)
    }

    /// Applies one report; returns whether the status moved.
    fn apply(&mut self, u: &StatusUpdate) -> bool {
        let moved = if self.awaits_provider_id() {
            // The first we hear of this attempt: whatever the report says, the provider took it.
            self.provider_message_id = Some(u.provider_message_id.clone());
            self.sent_at = self.sent_at.or(Some(u.at));
            true
        } else if self.provider_message_id.as_deref() == Some(u.provider_message_id.as_str())
            && matches!(
                self.status,
                MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read | MessageStatus::Failed
            )
        {
            report_moves(self.status, u.status)
        } else {
            // About an earlier attempt of a message sent again since: history only.
            return false;
        };
        if moved {
            match u.status {
                MessageStatus::Failed => {
                    self.error_code = u.error_code.clone();
                    self.error_message = u.error_message.clone();
                }
                _ => {
                    self.error_code = None;
                    self.error_message = None;
                }
            }
            self.status = u.status;
        }
        match u.status {
            MessageStatus::Delivered => self.delivered_at = earliest(self.delivered_at, u.at),
            // MessageStatus::Read implies delivered: a `delivered` that comes later only makes it earlier.
            MessageStatus::Read => {
                self.read_at = earliest(self.read_at, u.at);
                self.delivered_at = earliest(self.delivered_at, u.at);
            }
            _ => {}
        }
        moved
    }
}

/// What a batch of status reports will write.
pub(crate) struct StatusPlan {
    effects: Vec<StatusEffect>,
    /// `[id, status, provider id, error code, error message, sent_at, delivered_at,
    /// read_at]` per message that changed.
    pub(crate) messages: String,
    pub(crate) changed: usize,
    /// `[message id, status, detail, at, provider key]` per event to record.
    pub(crate) events: String,
    /// The event each update records, to tell duplicates once the insert says which it skipped.
    event_keys: Vec<Option<(i64, String)>>,
    pub(crate) deltas: Deltas,
}

impl StatusPlan {
    /// Plans `updates` against the messages they matched (read in the writing transaction).
    pub(crate) fn new<R: RecordRow>(updates: &[StatusUpdate], rows: &[R]) -> Result<Self> {
        let mut tracked = rows.iter().map(Tracked::from_row).collect::<Result<Vec<_>>>()?;
        tracked.sort_by_key(|t| t.id);
        tracked.dedup_by_key(|t| t.id);
        let before = tracked.clone();
        let mut by_provider_id: HashMap<(&str, String), usize> = HashMap::new();
        let mut by_id: HashMap<(&str, i64), usize> = HashMap::new();
        for (j, t) in before.iter().enumerate() {
            match &t.provider_message_id {
                Some(pid) => {
                    by_provider_id.insert((t.sender_id.as_str(), pid.clone()), j);
                }
                None if t.awaits_provider_id() => {
                    by_id.insert((t.sender_id.as_str(), t.id), j);
                }
                None => {}
            }
        }
        let mut seen: HashSet<(i64, String)> = HashSet::new();
        let mut effects = Vec::with_capacity(updates.len());
        let mut event_keys = vec![None; updates.len()];
        let mut events = Vec::new();
        for (i, u) in updates.iter().enumerate() {
            let sender = u.sender_id.as_str();
            let found = by_provider_id
                .get(&(sender, u.provider_message_id.clone()))
                .copied()
                .or_else(|| {
                    let j = *by_id.get(&(sender, u.message_hint?))?;
                    tracked[j].awaits_provider_id().then_some(j)
                });
            let Some(j) = found else {
                effects.push(StatusEffect::UnknownMessage);
                continue;
            };
            let key = provider_key(u);
            if !seen.insert((tracked[j].id, key.clone())) {
                effects.push(StatusEffect::Duplicate);
                continue;
            }
            let learned = tracked[j].provider_message_id.is_none();
            let moved = tracked[j].apply(u);
            if learned {
                by_provider_id.insert((sender, u.provider_message_id.clone()), j);
            }
            let mut detail = u.detail.clone();
            if let Some(map) = detail.as_object_mut() {
                map.insert("applied".into(), json!(moved));
            }
            events.push(json!([tracked[j].id, u.status.as_str(), detail.to_string(), u.at, key]));
            event_keys[i] = Some((tracked[j].id, key));
            effects.push(if moved {
                StatusEffect::Applied
            } else {
                StatusEffect::Kept
            });
        }
        let mut deltas = Deltas::default();
        let mut messages = Vec::new();
        for (t, b) in tracked.iter().zip(&before) {
            if t == b {
                continue;
            }
            deltas.shift(t.campaign_id.clone(), b.status, t.status, 1);
            messages.push(json!([
                t.id,
                t.status.as_str(),
                t.provider_message_id,
                t.error_code,
                t.error_message,
                t.sent_at,
                t.delivered_at,
                t.read_at
            ]));
        }
        Ok(StatusPlan {
            effects,
            changed: messages.len(),
            messages: serde_json::Value::Array(messages).to_string(),
            events: serde_json::Value::Array(events).to_string(),
            event_keys,
            deltas,
        })
    }

    pub(crate) fn has_events(&self) -> bool {
        self.event_keys.iter().any(Option::is_some)
    }

    /// The effects, once the event insert said which events it recorded (`message_id,
    /// provider_key` of each row it inserted): the others were recorded before.
    pub(crate) fn effects<R: RecordRow>(mut self, inserted: &[R]) -> Result<Vec<StatusEffect>> {
        let mut new: HashSet<(i64, String)> = HashSet::with_capacity(inserted.len());
        for row in inserted {
            new.insert((row.int("message_id")?, row.text("provider_key")?));
        }
        for (effect, key) in self.effects.iter_mut().zip(&self.event_keys) {
            if key.as_ref().is_some_and(|k| !new.contains(k)) {
                *effect = StatusEffect::Duplicate;
            }
        }
        Ok(self.effects)
    }
}

/// `[tenant, sender, phone, provider id, type, text, opted out, received at]` per reply.
pub(crate) fn inbound_rows(inbound: &[NewInbound]) -> String {
    let rows: Vec<serde_json::Value> = inbound
        .iter()
        .map(|m| {
            json!([
                m.tenant_id,
                m.sender_id,
                m.phone,
                m.provider_message_id,
                m.message_type,
                m.text,
                m.opt_out_reason.is_some(),
                m.received_at,
                m.user_id
            ])
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// `[tenant, phone, reason]` per opt-out the newly stored replies ask for.
pub(crate) fn reply_opt_outs(inbound: &[NewInbound], stored: &[InboundRecord]) -> Option<String> {
    let reasons: HashMap<(&str, &str), &str> = inbound
        .iter()
        .filter_map(|m| {
            m.opt_out_reason
                .as_deref()
                .map(|r| ((m.sender_id.as_str(), m.provider_message_id.as_str()), r))
        })
        .collect();
    let rows: Vec<serde_json::Value> = stored
        .iter()
        .filter(|r| r.opted_out)
        .map(|r| {
            let reason = reasons.get(&(r.sender_id.as_str(), r.provider_message_id.as_str()));
            json!([r.tenant_id, r.phone, reason])
        })
        .collect();
    (!rows.is_empty()).then(|| serde_json::Value::Array(rows).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageStatus::*;

    #[test]
    fn reports_never_move_down_the_rank() {
        assert!(report_moves(Sent, Delivered));
        assert!(report_moves(Sent, Read));
        assert!(report_moves(Delivered, Read));
        assert!(!report_moves(Read, Delivered));
        assert!(!report_moves(Delivered, Delivered));
        assert!(!report_moves(Read, Sent));
        assert!(!report_moves(Delivered, Sent));
        assert!(report_moves(Sent, Failed));
        assert!(!report_moves(Delivered, Failed));
        assert!(!report_moves(Read, Failed));
        assert!(!report_moves(Failed, Failed));
        assert!(report_moves(Failed, Delivered));
        assert!(report_moves(Failed, Read));
        for from in [Queued, Claimed, Skipped, Cancelled] {
            for to in [Sent, Delivered, Read, Failed] {
                assert!(!report_moves(from, to), "{from} must not move to {to}");
            }
        }
    }
}
