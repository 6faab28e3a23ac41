//! What intake takes in a round, and in which commands: fresh mail before
//! the backlog (urgent first), batches bounded by count and bytes, a large
//! message (or one that failed before) fetched alone. Pure.

use std::collections::HashSet;

/// Messages planned per round; the rest wait for the next round.
pub const ROUND: usize = 100;
/// Messages fetched in one command at most.
pub const BATCH: usize = 50;

/// The order to take `pending` (ascending UIDs) in: what arrived since the
/// last round (UIDs above `last_seen`) first, urgent ones first, then the
/// backlog, oldest first. A backlog of thousands never holds up fresh mail.
pub fn order(pending: &[u32], last_seen: u32, urgent: &HashSet<u32>) -> Vec<u32> {
    let (mut fresh, backlog): (Vec<u32>, Vec<u32>) = pending.iter().partition(|u| **u > last_seen);
    // Stable: urgent first, each group oldest first.
    fresh.sort_by_key(|u| (!urgent.contains(u), *u));
    fresh.extend(backlog);
    fresh
}

/// How long the messages of a batch are held for the instance trying them,
/// renewed every [`HOLD_RENEWAL`] while it works on them (a large fetch on a
/// slow link included): a crashed instance's messages are free again soon.
pub const HOLD: std::time::Duration = std::time::Duration::from_secs(15);
/// How often a hold is renewed: well within [`HOLD`], so one slow renewal
/// does not lose it.
pub const HOLD_RENEWAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether a peeked Subject header marks the mail urgent (紧急).
pub fn is_urgent(subject_header: &[u8]) -> bool {
    mail_parser::MessageParser::new()
        .parse_headers(subject_header)
        .and_then(|m| m.subject().map(|s| s.contains("紧急") || s.to_lowercase().contains("urgent")))
        .unwrap_or(false)
}

/// Groups `sizes` (in the order to take them) into fetch commands of at
/// most [`BATCH`] messages and `max_bytes` bytes; a message larger than
/// `max_bytes`, or one in `alone`, gets a command of its own.
pub fn batches(sizes: &[(u32, u64)], max_bytes: u64, alone: &HashSet<u32>) -> Vec<Vec<(u32, u64)>> {
    let mut out: Vec<Vec<(u32, u64)>> = Vec::new();
    let mut current: Vec<(u32, u64)> = Vec::new();
    let mut bytes = 0u64;
    for &(uid, size) in sizes {
        let single = size >= max_bytes || alone.contains(&uid);
        if !current.is_empty() && (single || current.len() >= BATCH || bytes + size > max_bytes) {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        if single {
            out.push(vec![(uid, size)]);
            continue;
        }
        bytes += size;
        current.push((uid, size));
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_mail_goes_first_urgent_first() {
        let pending: Vec<u32> = (1..=10).collect();
        let urgent = HashSet::from([9]);
        assert_eq!(order(&pending, 7, &urgent), vec![9, 8, 10, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(order(&pending, 0, &HashSet::new()), pending);
    }

    #[test]
    fn urgency_is_read_from_an_encoded_subject() {
        assert!(is_urgent("Subject: =?UTF-8?B?57Sn5oCl5oqV6K+J?=\r\n\r\n".as_bytes()));
        assert!(is_urgent("Subject: 【紧急】投诉\r\n\r\n".as_bytes()));
        assert!(!is_urgent(b"Subject: hello\r\n\r\n"));
    }

    #[test]
    fn batches_are_bounded_by_count_and_bytes() {
        let small: Vec<(u32, u64)> = (1..=120).map(|u| (u, 1000)).collect();
        let b = batches(&small, 1 << 20, &HashSet::new());
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![50, 50, 20]);
        let mixed = vec![(1, 400), (2, 400), (3, 5000), (4, 300), (5, 100)];
        let b = batches(&mixed, 1000, &HashSet::from([5]));
        assert_eq!(b, vec![vec![(1, 400), (2, 400)], vec![(3, 5000)], vec![(4, 300)], vec![(5, 100)]]);
    }
}
