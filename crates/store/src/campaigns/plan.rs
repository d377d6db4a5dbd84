//! What a write to a campaign does, decided before any SQL: a new campaign's opening state,
//! and the steps of a person's action on a campaign.
//!
//! A campaign runs only while its sender is `active`. One that would start running on a
//! sender that is `paused` or `suspended` (created, started, resumed, retried, or due by its
//! schedule) waits `paused` with reason [`PausedReason::SenderPaused`] instead, and resumes
//! by itself when the sender is active again; so do running campaigns when their sender
//! stops. A person's `pause` of such a campaign makes the pause theirs (reason `user`), so
//! that it stays paused when the sender comes back.

use pregon_domain::state::CampaignAction;
use pregon_domain::{CampaignStatus, MessageStatus, PausedReason, SenderStatus};

use serde_json::json;

use crate::records::{Counts, Millis, NewCampaign, NewMessage};

/// The detail of a campaign held for its sender, whose status is `sender_status`.
pub(crate) fn sender_hold_detail(sender_status: SenderStatus) -> String {
    format!("the sender is {sender_status}")
}

/// A new campaign's counts and status: `running` with nothing to send completes at once;
/// `running` with something to send on a sender that is not active waits for it.
pub(crate) struct Opening {
    pub(crate) counts: Counts,
    pub(crate) status: CampaignStatus,
    pub(crate) paused_reason: Option<PausedReason>,
    pub(crate) paused_detail: Option<String>,
    pub(crate) started_at: Option<Millis>,
    pub(crate) completed_at: Option<Millis>,
    /// A windowed campaign that runs waits for the scheduler to look at its window first.
    pub(crate) recheck_at: Option<Millis>,
}

impl Opening {
    /// `sender_status` is the sender's as read in the creating transaction (`None`: no such
    /// sender, which the insert then refuses).
    pub(crate) fn of(c: &NewCampaign, sender_status: Option<SenderStatus>) -> Self {
        let mut counts = Counts::default();
        for m in &c.messages {
            if m.skip_reason.is_some() {
                counts.skipped += 1;
            } else {
                counts.queued += 1;
            }
        }
        let mut status = c.status;
        let started_at = (status == CampaignStatus::Running).then_some(c.now);
        let mut completed_at = None;
        let mut paused_reason = None;
        let mut paused_detail = None;
        if status == CampaignStatus::Running && counts.pending() == 0 {
            status = CampaignStatus::Completed;
            completed_at = Some(c.now);
        } else if status == CampaignStatus::Running {
            if let Some(sender_status) = sender_status.filter(|s| !s.is_active()) {
                status = CampaignStatus::Paused;
                paused_reason = Some(PausedReason::SenderPaused);
                paused_detail = Some(sender_hold_detail(sender_status));
            }
        }
        let recheck_at = (status == CampaignStatus::Running && c.windowed).then_some(c.now);
        Opening {
            counts,
            status,
            paused_reason,
            paused_detail,
            started_at,
            completed_at,
            recheck_at,
        }
    }
}

/// One step of a campaign action, run in order in the action's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Sets the campaign's status (and the timestamps that go with it).
    SetStatus(CampaignStatus, Option<PausedReason>),
    /// Moves every message of the campaign in `from` to `to`, keeping the counters exact.
    Move {
        from: MessageStatus,
        to: MessageStatus,
        reset_attempts: bool,
    },
    /// Completes the campaign if it is running with nothing left to send.
    CompleteIfDone,
    /// Pauses the campaign with reason `sender_paused` if it is running and its sender is not
    /// active (after [`Step::CompleteIfDone`]: a campaign with nothing left to send completes).
    HoldForSender,
}

/// Whether `action` is legal for a campaign in `from` (paused for `reason`); an illegal one
/// answers 409. Beyond the state machine, a person may `pause` a campaign that waits for its
/// sender: the pause becomes theirs, and the campaign no longer resumes by itself.
pub(crate) fn action_allowed(from: CampaignStatus, reason: Option<PausedReason>, action: CampaignAction) -> bool {
    from.allows(action)
        || (action == CampaignAction::Pause
            && from == CampaignStatus::Paused
            && reason == Some(PausedReason::SenderPaused))
}

/// The steps of an action the campaign's state allows; `start_at` is the campaign's.
pub(crate) fn action_steps(
    action: CampaignAction,
    include_unknown: bool,
    start_at: Option<Millis>,
    now: Millis,
) -> Vec<Step> {
    use MessageStatus as M;
    let moving = |from, to, reset_attempts| Step::Move {
        from,
        to,
        reset_attempts,
    };
    match action {
        CampaignAction::Start | CampaignAction::Resume => {
            let to = match start_at {
                Some(at) if at > now => CampaignStatus::Scheduled,
                _ => CampaignStatus::Running,
            };
            vec![Step::SetStatus(to, None), Step::CompleteIfDone, Step::HoldForSender]
        }
        // Claimed but not attempted: back in the queue. In-flight `sending` finish.
        CampaignAction::Pause => vec![
            Step::SetStatus(CampaignStatus::Paused, Some(PausedReason::User)),
            moving(M::Claimed, M::Queued, false),
        ],
        CampaignAction::Cancel => vec![
            Step::SetStatus(CampaignStatus::Cancelled, None),
            moving(M::Queued, M::Cancelled, false),
            moving(M::Claimed, M::Cancelled, false),
        ],
        CampaignAction::Retry => {
            let mut steps = vec![moving(M::Failed, M::Queued, true)];
            if include_unknown {
                steps.push(moving(M::Unknown, M::Queued, true));
            }
            steps.push(Step::SetStatus(CampaignStatus::Running, None));
            steps.push(Step::CompleteIfDone);
            steps.push(Step::HoldForSender);
            steps
        }
    }
}

/// `[phone, variables, status, skip reason]` per new campaign message, in order.
pub(crate) fn message_rows(messages: &[NewMessage]) -> String {
    let rows: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            json!([
                m.phone,
                m.variables,
                if m.skip_reason.is_some() { "skipped" } else { "queued" },
                m.skip_reason.map(|r| r.as_str()),
                m.user_id
            ])
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pregon_domain::CampaignSettings;

    fn new_campaign(status: CampaignStatus, queued: usize, skipped: usize) -> NewCampaign {
        let message = |skip_reason| NewMessage {
            user_id: None,
            phone: "+584121234567".into(),
            variables: "{}".into(),
            skip_reason,
        };
        let mut messages: Vec<NewMessage> = (0..queued).map(|_| message(None)).collect();
        messages.extend((0..skipped).map(|_| message(Some(pregon_domain::SkipReason::InvalidPhone))));
        NewCampaign {
            expires_at: None,
            id: "cmp_1".into(),
            tenant_id: "ten_1".into(),
            name: "c".into(),
            sender_id: "snd_1".into(),
            template_id: "tpl_1".into(),
            status,
            priority: 5,
            settings: CampaignSettings::default(),
            start_at: None,
            windowed: false,
            max_attempts: 3,
            messages,
            now: 7,
        }
    }

    #[test]
    fn a_campaign_opening_on_a_stopped_sender_waits_for_it() {
        let held = Opening::of(
            &new_campaign(CampaignStatus::Running, 2, 1),
            Some(SenderStatus::Suspended),
        );
        assert_eq!(
            (held.status, held.paused_reason, held.paused_detail.as_deref()),
            (
                CampaignStatus::Paused,
                Some(PausedReason::SenderPaused),
                Some("the sender is suspended")
            )
        );
        assert_eq!((held.counts.queued, held.counts.skipped), (2, 1));
        let running = Opening::of(&new_campaign(CampaignStatus::Running, 2, 0), Some(SenderStatus::Active));
        assert_eq!((running.status, running.paused_reason), (CampaignStatus::Running, None));
        // Nothing to send: it completes whatever the sender.
        let done = Opening::of(&new_campaign(CampaignStatus::Running, 0, 3), Some(SenderStatus::Paused));
        assert_eq!((done.status, done.completed_at), (CampaignStatus::Completed, Some(7)));
        // Drafts and scheduled campaigns wait for a start anyway.
        for status in [CampaignStatus::Draft, CampaignStatus::Scheduled] {
            let o = Opening::of(&new_campaign(status, 2, 0), Some(SenderStatus::Paused));
            assert_eq!((o.status, o.paused_reason), (status, None));
        }
    }

    #[test]
    fn actions_that_run_a_campaign_hold_it_for_its_sender() {
        for action in [CampaignAction::Start, CampaignAction::Resume, CampaignAction::Retry] {
            let steps = action_steps(action, false, None, 0);
            assert_eq!(steps.last(), Some(&Step::HoldForSender), "{action:?}");
            let complete = steps.iter().position(|s| *s == Step::CompleteIfDone).unwrap();
            assert_eq!(complete + 2, steps.len(), "{action:?}: completing comes first");
        }
        for action in [CampaignAction::Pause, CampaignAction::Cancel] {
            assert!(!action_steps(action, false, None, 0).contains(&Step::HoldForSender));
        }
        use CampaignStatus as S;
        let sender_paused = Some(PausedReason::SenderPaused);
        assert!(action_allowed(S::Paused, sender_paused, CampaignAction::Pause));
        assert!(!action_allowed(
            S::Paused,
            Some(PausedReason::User),
            CampaignAction::Pause
        ));
        assert!(action_allowed(S::Paused, sender_paused, CampaignAction::Resume));
        assert!(action_allowed(S::Running, None, CampaignAction::Pause));
        assert!(!action_allowed(S::Completed, None, CampaignAction::Pause));
    }
}
