//! The dispatcher's batched writes, decided once for every database: the JSON rows one
//! statement expands ([`crate::db::Dialect::json_rows`]), and what the rows a batch changed
//! mean for the per-campaign counters and the event log.

use std::collections::HashMap;

use pregon_domain::MessageStatus;
use serde_json::json;

use crate::campaigns::counts::Deltas;
use crate::error::Result;
use crate::records::{Millis, Outcome, OutcomeKind, Skip};
use crate::rows::{parse_enum, RecordRow};

/// `[id, status, provider id, error code, error message, next attempt, spend attempt, skip
/// reason]` per outcome.
pub(crate) fn outcome_rows(outcomes: &[Outcome], now: Millis) -> String {
    let rows: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| match &o.kind {
            OutcomeKind::Sent {
                provider_message_id, ..
            } => json!([o.message_id, "sent", provider_message_id, null, null, null, 1, null]),
            OutcomeKind::Unknown {
                error_code,
                error_message,
            } => json!([o.message_id, "unknown", null, error_code, error_message, null, 1, null]),
            OutcomeKind::Retry {
                next_attempt_at,
                error_code,
                error_message,
            } => json!([
                o.message_id,
                "queued",
                null,
                error_code,
                error_message,
                next_attempt_at,
                1,
                null
            ]),
            OutcomeKind::Failed {
                error_code,
                error_message,
            } => json!([o.message_id, "failed", null, error_code, error_message, null, 1, null]),
            // Refused before any request: the attempt is not spent.
            OutcomeKind::Expired {
                error_code,
                error_message,
            } => json!([o.message_id, "expired", null, error_code, error_message, null, 0, null]),
            OutcomeKind::Skipped {
                skip_reason,
                error_code,
                error_message,
            } => json!([
                o.message_id,
                "skipped",
                null,
                error_code,
                error_message,
                null,
                1,
                skip_reason.as_str()
            ]),
            OutcomeKind::Requeue {
                error_code,
                error_message,
                next_attempt_at,
            } => json!([
                o.message_id,
                "queued",
                null,
                error_code,
                error_message,
                next_attempt_at.unwrap_or(now),
                0,
                null
            ]),
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// What a group commit of outcomes changed, read from the message rows it updated
/// (`message_id, campaign_id, status, provider_message_id, error_code, error_message,
/// next_attempt_at`).
pub(crate) struct Recorded {
    pub(crate) deltas: Deltas,
    /// `[message id, status, detail]` per event to append.
    pub(crate) events: String,
    pub(crate) any_sent: bool,
}

impl Recorded {
    pub(crate) fn from_rows<R: RecordRow>(outcomes: &[Outcome], updated: &[R]) -> Result<Self> {
        let recorded: HashMap<i64, &str> = outcomes
            .iter()
            .filter_map(|o| match &o.kind {
                OutcomeKind::Sent {
                    recorded_text: Some(t), ..
                } => Some((o.message_id, t.as_str())),
                _ => None,
            })
            .collect();
        let mut deltas = Deltas::default();
        let mut events = Vec::with_capacity(updated.len());
        let mut any_sent = false;
        for row in updated {
            let id = row.int("message_id")?;
            let to: MessageStatus = parse_enum(&row.text("status")?)?;
            any_sent |= to == MessageStatus::Sent;
            deltas.shift(row.opt_text("campaign_id")?, MessageStatus::Sending, to, 1);
            let detail = match to {
                MessageStatus::Sent => match recorded.get(&id) {
                    Some(text) => json!({"provider_message_id": row.opt_text("provider_message_id")?, "text": text}),
                    None => json!({"provider_message_id": row.opt_text("provider_message_id")?}),
                },
                _ => json!({
                    "error_code": row.opt_text("error_code")?,
                    "error_message": row.opt_text("error_message")?,
                    "next_attempt_at": (to == MessageStatus::Queued).then(|| row.int("next_attempt_at")).transpose()?,
                }),
            };
            events.push(json!([id, to.as_str(), detail.to_string()]));
        }
        Ok(Recorded {
            deltas,
            events: serde_json::Value::Array(events).to_string(),
            any_sent,
        })
    }
}

/// The ids of messages a batch moved from `from` to `to`, and the counter changes, read from
/// the updated rows (`message_id, campaign_id`).
pub(crate) fn moved_from_rows<R: RecordRow>(
    rows: &[R],
    from: MessageStatus,
    to: MessageStatus,
) -> Result<(Vec<i64>, Deltas)> {
    let mut moved = Vec::with_capacity(rows.len());
    let mut deltas = Deltas::default();
    for row in rows {
        moved.push(row.int("message_id")?);
        deltas.shift(row.opt_text("campaign_id")?, from, to, 1);
    }
    Ok((moved, deltas))
}

/// What a new lease owner's recovery changed, read from the updated rows (`message_id,
/// campaign_id, status`): counter changes, and the ids that became `unknown`.
pub(crate) fn recovered_from_rows<R: RecordRow>(rows: &[R]) -> Result<(Deltas, Vec<i64>)> {
    let mut deltas = Deltas::default();
    let mut unknown_ids = Vec::new();
    for row in rows {
        let to: MessageStatus = parse_enum(&row.text("status")?)?;
        let from = if to == MessageStatus::Queued {
            MessageStatus::Claimed
        } else {
            MessageStatus::Sending
        };
        if to == MessageStatus::Unknown {
            unknown_ids.push(row.int("message_id")?);
        }
        deltas.shift(row.opt_text("campaign_id")?, from, to, 1);
    }
    Ok((deltas, unknown_ids))
}

/// The event detail of a message found `sending` by a new lease owner.
pub(crate) fn recovery_detail() -> String {
    json!({"reason": "the dispatcher stopped while the request was in flight"}).to_string()
}

/// `[message id, skip reason]` per skip.
pub(crate) fn skip_rows(skips: &[Skip]) -> String {
    let rows: Vec<serde_json::Value> = skips.iter().map(|s| json!([s.message_id, s.reason.as_str()])).collect();
    serde_json::Value::Array(rows).to_string()
}

/// What a batch of skips changed, read from the updated rows (`message_id, campaign_id,
/// skip_reason`): the ids skipped, the counter changes, and `[message id, detail]` per event.
pub(crate) fn skipped_from_rows<R: RecordRow>(rows: &[R]) -> Result<(Vec<i64>, Deltas, String)> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut deltas = Deltas::default();
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.int("message_id")?;
        ids.push(id);
        deltas.shift(
            row.opt_text("campaign_id")?,
            MessageStatus::Claimed,
            MessageStatus::Skipped,
            1,
        );
        let detail = json!({"reason": row.opt_text("skip_reason")?, "checked": "just before sending"});
        events.push(json!([id, detail.to_string()]));
    }
    Ok((ids, deltas, serde_json::Value::Array(events).to_string()))
}
