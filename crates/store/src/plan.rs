//! What a write does, decided before any SQL, the same for every database: a new campaign's
//! opening state, the steps of a person's action on a campaign, and the turns of a claim.
//!
//! A campaign runs only while its sender is `active`. One that would start running on a
//! sender that is `paused` or `suspended` (created, started, resumed, retried, or due by its
//! schedule) waits `paused` with reason [`PausedReason::SenderPaused`] instead, and resumes
//! by itself when the sender is active again; so do running campaigns when their sender
//! stops. A person's `pause` of such a campaign makes the pause theirs (reason `user`), so
//! that it stays paused when the sender comes back.

use std::collections::{HashMap, VecDeque};

use pregon_domain::state::CampaignAction;
use pregon_domain::{CampaignStatus, MessageStatus, PausedReason};

use crate::*;

/// The detail of a campaign held for its sender, whose status is `sender_status`.
pub(crate) fn sender_hold_detail(sender_status: &str) -> String {
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
    pub(crate) fn of(c: &NewCampaign, sender_status: Option<&str>) -> Self {
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
            if let Some(sender_status) = sender_status.filter(|s| *s != "active") {
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

/// The members of a sender's queue, each claimed from in turn: running campaigns, and the
/// sender's single messages of one priority (`None`).
pub(crate) type Member = Option<String>;

/// One turn of a claim: take up to `room` messages from `member`, of `priority`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Turn {
    pub(crate) member: Member,
    pub(crate) priority: i64,
    pub(crate) room: usize,
}

/// The order of a claim: highest priority first; within a priority, round-robin between the
/// members (rotated by `round`, so that small claims still take turns), an equal share for
/// each again and again while some have messages left and there is room.
pub(crate) struct RoundRobin {
    limit: usize,
    taken: usize,
    /// Priority groups still to visit, highest first, each already rotated.
    groups: VecDeque<(i64, Vec<Member>)>,
    /// The priority of the current group, and the members of its current pass, the next one
    /// at `pos`.
    priority: i64,
    pass: Vec<Member>,
    pos: usize,
    share: usize,
    /// Members of the current pass that filled their room: they may have more.
    still_full: Vec<Member>,
    /// What capped campaigns may still take in this claim.
    caps: HashMap<String, usize>,
}

impl RoundRobin {
    pub(crate) fn new(mut members: Vec<(i64, Member)>, limit: usize, round: u64) -> Self {
        // Highest priority first; ties keep a stable order (campaign ids are time-ordered).
        members.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let mut groups = VecDeque::new();
        let mut i = 0;
        while i < members.len() {
            let priority = members[i].0;
            let mut group: Vec<Member> = members[i..]
                .iter()
                .take_while(|m| m.0 == priority)
                .map(|m| m.1.clone())
                .collect();
            i += group.len();
            let turn = (round % group.len() as u64) as usize;
            group.rotate_left(turn);
            groups.push_back((priority, group));
        }
        RoundRobin {
            limit,
            taken: 0,
            groups,
            priority: 0,
            pass: Vec::new(),
            pos: 0,
            share: 0,
            still_full: Vec::new(),
            caps: HashMap::new(),
        }
    }

    /// Takes at most `caps[campaign]` messages from each capped campaign.
    pub(crate) fn with_caps(mut self, caps: &HashMap<String, usize>) -> Self {
        self.caps = caps.clone();
        self
    }

    fn cap(&self, member: &Member) -> usize {
        match member {
            Some(id) => self.caps.get(id).copied().unwrap_or(usize::MAX),
            None => usize::MAX,
        }
    }

    /// The next turn, or `None` when the claim is full or every member is drained.
    pub(crate) fn next_turn(&mut self) -> Option<Turn> {
        loop {
            if self.taken >= self.limit {
                return None;
            }
            if self.pos < self.pass.len() {
                let member = self.pass[self.pos].clone();
                self.pos += 1;
                let room = self.share.min(self.limit - self.taken).min(self.cap(&member));
                if room == 0 {
                    continue;
                }
                return Some(Turn {
                    member,
                    priority: self.priority,
                    room,
                });
            }
            let next = if self.still_full.is_empty() {
                let (priority, group) = self.groups.pop_front()?;
                self.priority = priority;
                group
            } else {
                std::mem::take(&mut self.still_full)
            };
            self.share = (self.limit - self.taken).div_ceil(next.len());
            self.pass = next;
            self.pos = 0;
        }
    }

    /// Reports how many messages a turn took.
    pub(crate) fn took(&mut self, turn: Turn, got: usize) {
        self.taken += got;
        if let Some(cap) = turn.member.as_ref().and_then(|id| self.caps.get_mut(id)) {
            *cap -= got.min(*cap);
        }
        if got == turn.room && self.cap(&turn.member) > 0 {
            self.still_full.push(turn.member);
        }
    }
}

/// Which of `phones` a daily limit admits: those already counted (`known`), and new ones
/// while fewer than `limit` are counted (`used` counts them in). Repeats count once.
pub(crate) fn admit(
    phones: &[String],
    known: &std::collections::HashSet<String>,
    used: &mut i64,
    limit: i64,
) -> std::collections::HashSet<String> {
    let mut admitted = std::collections::HashSet::with_capacity(phones.len());
    for phone in phones {
        if known.contains(phone) || admitted.contains(phone) {
            admitted.insert(phone.clone());
        } else if *used < limit {
            *used += 1;
            admitted.insert(phone.clone());
        }
    }
    admitted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a claim against members holding `available` messages each.
    fn simulate(members: &[(i64, &str, usize)], limit: usize, round: u64) -> Vec<(String, usize)> {
        let mut left: std::collections::HashMap<String, usize> =
            members.iter().map(|m| (m.1.to_string(), m.2)).collect();
        let mut rr = RoundRobin::new(
            members.iter().map(|m| (m.0, Some(m.1.to_string()))).collect(),
            limit,
            round,
        );
        let mut turns = Vec::new();
        while let Some(turn) = rr.next_turn() {
            let id = turn.member.clone().unwrap();
            let n = left.get_mut(&id).unwrap();
            let got = turn.room.min(*n);
            *n -= got;
            turns.push((id, got));
            rr.took(turn, got);
        }
        turns
    }

    #[test]
    fn equal_shares_then_leftovers_then_lower_priorities() {
        let turns = simulate(&[(7, "a", 10), (7, "b", 1), (1, "low", 10)], 8, 0);
        assert_eq!(
            turns,
            vec![
                ("a".into(), 4),
                ("b".into(), 1),
                // b is drained: a gets the rest of the room.
                ("a".into(), 3),
            ]
        );
        let turns = simulate(&[(7, "a", 2), (7, "b", 2), (1, "low", 10)], 8, 1);
        assert_eq!(turns, vec![("b".into(), 2), ("a".into(), 2), ("low".into(), 4)]);
    }

    #[test]
    fn rounds_rotate_single_turns() {
        let firsts: Vec<String> = (0..4)
            .map(|round| {
                simulate(&[(5, "a", 9), (5, "b", 9), (5, "c", 9)], 1, round)[0]
                    .0
                    .clone()
            })
            .collect();
        assert_eq!(firsts, vec!["a", "b", "c", "a"]);
    }

    fn new_campaign(status: CampaignStatus, queued: usize, skipped: usize) -> NewCampaign {
        let message = |skip_reason| NewMessage {
            phone: "+584121234567".into(),
            variables: "{}".into(),
            skip_reason,
        };
        let mut messages: Vec<NewMessage> = (0..queued).map(|_| message(None)).collect();
        messages.extend((0..skipped).map(|_| message(Some(pregon_domain::SkipReason::InvalidPhone))));
        NewCampaign {
            id: "cmp_1".into(),
            tenant_id: "ten_1".into(),
            name: "c".into(),
            sender_id: "snd_1".into(),
            template_id: "tpl_1".into(),
            status,
            priority: 5,
            settings: serde_json::json!({}),
            start_at: None,
            windowed: false,
            max_attempts: 3,
            messages,
            now: 7,
        }
    }

    #[test]
    fn a_campaign_opening_on_a_stopped_sender_waits_for_it() {
        let held = Opening::of(&new_campaign(CampaignStatus::Running, 2, 1), Some("suspended"));
        assert_eq!(
            (held.status, held.paused_reason, held.paused_detail.as_deref()),
            (
                CampaignStatus::Paused,
                Some(PausedReason::SenderPaused),
                Some("the sender is suspended")
            )
        );
        assert_eq!((held.counts.queued, held.counts.skipped), (2, 1));
        let running = Opening::of(&new_campaign(CampaignStatus::Running, 2, 0), Some("active"));
        assert_eq!((running.status, running.paused_reason), (CampaignStatus::Running, None));
        // Nothing to send: it completes whatever the sender.
        let done = Opening::of(&new_campaign(CampaignStatus::Running, 0, 3), Some("paused"));
        assert_eq!((done.status, done.completed_at), (CampaignStatus::Completed, Some(7)));
        // Drafts and scheduled campaigns wait for a start anyway.
        for status in [CampaignStatus::Draft, CampaignStatus::Scheduled] {
            let o = Opening::of(&new_campaign(status, 2, 0), Some("paused"));
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

    #[test]
    fn capped_campaigns_take_no_more_than_their_cap() {
        let members = vec![(5, Some("paced".to_string())), (5, Some("free".to_string()))];
        let caps = HashMap::from([("paced".to_string(), 1)]);
        let mut rr = RoundRobin::new(members, 10, 0).with_caps(&caps);
        let mut took: HashMap<String, usize> = HashMap::new();
        while let Some(turn) = rr.next_turn() {
            let id = turn.member.clone().unwrap();
            *took.entry(id).or_default() += turn.room;
            let room = turn.room;
            rr.took(turn, room);
        }
        assert_eq!(took["paced"], 1);
        assert_eq!(took["free"], 9);
        // A cap of zero skips the campaign altogether.
        let caps = HashMap::from([("paced".to_string(), 0)]);
        let mut rr = RoundRobin::new(vec![(5, Some("paced".to_string()))], 10, 0).with_caps(&caps);
        assert!(rr.next_turn().is_none());
    }

    #[test]
    fn daily_limit_admits_known_recipients_and_new_ones_while_there_is_room() {
        let phones: Vec<String> = ["+1", "+2", "+3", "+2", "+4"].iter().map(|p| p.to_string()).collect();
        let known = std::collections::HashSet::from(["+3".to_string()]);
        let mut used = 8;
        let admitted = admit(&phones, &known, &mut used, 10);
        // +1 and +2 fill the room; +3 was already counted; +4 finds none left.
        assert_eq!(used, 10);
        let mut got: Vec<&String> = admitted.iter().collect();
        got.sort();
        assert_eq!(got, vec!["+1", "+2", "+3"]);
    }

    #[test]
    fn nothing_to_claim_ends_at_once() {
        assert!(simulate(&[], 10, 0).is_empty());
        assert!(simulate(&[(5, "a", 1)], 0, 0).is_empty());
    }
}
