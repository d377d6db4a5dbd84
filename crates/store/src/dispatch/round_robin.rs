//! The order of a claim, decided before any SQL: highest priority first, then round-robin
//! between the members of a sender's queue of equal priority.

use std::collections::{HashMap, VecDeque};

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
    fn nothing_to_claim_ends_at_once() {
        assert!(simulate(&[], 10, 0).is_empty());
        assert!(simulate(&[(5, "a", 1)], 0, 0).is_empty());
    }
}
