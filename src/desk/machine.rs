//! Mail no person wrote to act on: auto-replies (noted, never answered),
//! bounces (the handler told once), and unreadable mail (quarantined; one of
//! ours is told what is wrong, strangers and machines are not). A bounce of a
//! station's address, or its away auto-reply, puts the station's backup
//! contacts on the ticket's mail; neither is believed on its From alone
//! (`sender.rs`: auto-replies pass their sender's policy, bounces prove
//! they are about our mail).

use std::sync::atomic::AtomicU64;

use tracing::{info, warn};

use super::reply::first_line;
use super::{Desk, DeskResult, Disposition, Incoming};
use crate::config::Station;
use crate::intake::{AutoReason, Kind, Parsed};
use crate::notify::{Notice, OutboxKey, TemplateName};
use crate::printable::one_line;
use crate::store::{EventKind, Tx};
use crate::ticket::Ticket;

/// Words of an out-of-office auto-reply (an acknowledgement says none).
const AWAY_WORDS: &[&str] =
    &["休假", "不在", "外出", "出差", "请假", "假期", "out of office", "out of the office", "away from", "vacation"];

/// Replies not sent because their recipient's hourly cap was reached.
pub static REPLY_CAP_HITS: AtomicU64 = AtomicU64::new(0);

impl Desk {
    /// Auto-replies, read receipts and delay notices: never answered, never
    /// a response (no clock stops); only recorded on the ticket as what they are.
    pub(super) async fn auto_reply(&self, tx: &mut Tx, incoming: Incoming<'_>) -> DeskResult<Disposition> {
        let msg = incoming.msg;
        let (kind, what) = match msg.kind {
            Kind::Receipt => (EventKind::Receipt, "receipt recorded"),
            Kind::DelayNotice => (EventKind::DelayNotice, "delay notice recorded"),
            _ => (EventKind::AutoReply, "auto-reply ignored"),
        };
        if let Some(number) = &msg.ticket
            && let Some(ticket) = tx.ticket(number).await?
        {
            // A forged receipt or "away" must not move the ticket's mail; a
            // delivery report (delay, success) is held to a bounce's proof.
            let refused = match &msg.delivery {
                Some(d) => {
                    let failed = d.recipient.clone().unwrap_or_default();
                    self.check_report(tx, incoming, &ticket, &failed).await?
                }
                None => self.check_machine(tx, incoming, &ticket).await?,
            };
            if let Some(refused) = refused {
                return Ok(refused);
            }
            let mut noted = self.event(number, kind).by(&msg.from).message(msg.message_id.as_deref());
            if let Some(detail) = machine_detail(msg) {
                noted = noted.detail(&detail);
            }
            tx.add_event(noted).await?;
            if msg.kind == Kind::AutoReply && says_away(msg) {
                self.away(tx, msg).await?;
            }
        }
        Ok(Disposition::handled(msg.ticket.as_ref(), what))
    }

    /// A bounce about a ticket means its station (or someone on it) could
    /// not be reached: the handler is told, once per ticket, so a bouncing
    /// handler address cannot start a loop.
    pub(super) async fn bounce(&self, tx: &mut Tx, incoming: Incoming<'_>) -> DeskResult<Disposition> {
        let msg = incoming.msg;
        let ticket = match &msg.ticket {
            Some(number) => tx.ticket(number).await?,
            None => None,
        };
        let Some(ticket) = ticket else {
            return Ok(Disposition::handled(None, "bounce about no ticket"));
        };
        let failed = msg.delivery.as_ref().and_then(|d| d.recipient.clone()).unwrap_or_default();
        if let Some(refused) = self.check_report(tx, incoming, &ticket, &failed).await? {
            return Ok(refused);
        }
        let event = self.event(&ticket.number, EventKind::Bounce).by(&msg.from).message(msg.message_id.as_deref());
        let reason = bounce_reason(msg);
        tx.add_event(event.detail(&machine_detail(msg).unwrap_or_else(|| reason.clone()))).await?;
        let station = self.station_of(&ticket);
        // A bounce that names none of the station's addresses (a handler's, say) is not the station's.
        let of_station = station.as_ref().filter(|s| failed.is_empty() || is_one_of(&failed, &s.emails));
        let backups = match of_station {
            Some(s) => self.use_backups(tx, ticket.clone(), s, &format!("{failed} {reason}")).await?,
            None => Vec::new(),
        };
        let notice = Notice::new(TemplateName::Bounce, OutboxKey::once(&ticket.number, TemplateName::Bounce))
            .about(&ticket)
            .station(station.as_ref())
            .to(vec![ticket.handler.clone()])
            .with(|c| {
                c.reason = reason;
                c.moved.from = failed;
                c.moved.to = backups.join(", ");
            });
        self.send(tx, notice).await?;
        Ok(Disposition::handled(Some(&ticket.number), "bounce: handler alerted"))
    }

    /// The station's auto-reply says it is away: its backups get the
    /// ticket's mail from now on, and the handler is told once.
    async fn away(&self, tx: &mut Tx, msg: &Parsed) -> DeskResult<()> {
        let Some(number) = &msg.ticket else { return Ok(()) };
        let Some(ticket) = tx.lock_ticket(number).await? else { return Ok(()) };
        let Some(station) = self.station_of(&ticket).filter(|s| is_one_of(&msg.from, &s.emails)) else {
            return Ok(());
        };
        let backups = self.use_backups(tx, ticket.clone(), &station, "auto-reply: away").await?;
        if backups.is_empty() {
            return Ok(());
        }
        let reason = format!("自动回复称不在岗（{}）", one_line(first_line(&msg.reply_text)));
        let notice = Notice::new(TemplateName::Backup, OutboxKey::once(&ticket.number, TemplateName::Backup))
            .about(&ticket)
            .station(Some(&station))
            .to(vec![ticket.handler.clone()])
            .with(|c| {
                c.reason = reason;
                c.moved.to = backups.join(", ");
            });
        self.send(tx, notice).await?;
        Ok(())
    }

    /// Puts `station`'s backups on `ticket` (once: later calls return
    /// nothing) and sends them the forward, with the original attachments,
    /// so the complaint reaches someone.
    /// Returns the backups newly in use.
    async fn use_backups(
        &self,
        tx: &mut Tx,
        mut ticket: Ticket,
        station: &Station,
        why: &str,
    ) -> DeskResult<Vec<String>> {
        if ticket.backup_at.is_some() || station.backups.is_empty() || ticket.closed_at.is_some() {
            return Ok(Vec::new());
        }
        ticket.backup_at = Some(self.clock.now());
        self.save(tx, &ticket).await?;
        let detail = format!("{}: {}", station.backups.join(", "), one_line(why.trim()));
        tx.add_event(self.event(&ticket.number, EventKind::BackupInUse).detail(&detail)).await?;
        let key = OutboxKey::at(&ticket.number, TemplateName::Forward, self.clock.now());
        let forward = Notice::new(TemplateName::Forward, key)
            .about(&ticket)
            .station(Some(station))
            .to(station.backups.clone())
            .cc(vec![ticket.handler.clone()])
            .originals(tx.source_message_id(&ticket.number).await?);
        self.send(tx, forward).await?;
        Ok(station.backups.clone())
    }

    /// Quarantines a message nobody can act on (`msg.problems` say why).
    /// One of ours (the call center, a handler, a station) is told, so they
    /// can fix it; strangers and machines are not (no backscatter, no loops).
    pub async fn unreadable(&self, tx: &mut Tx, incoming: Incoming<'_>, reason: &str) -> DeskResult<Disposition> {
        let msg = incoming.msg;
        if self.settings.is_network_member(&msg.from)
            && !self.is_own_mail(msg)
            && !msg.do_not_answer
            && !matches!(msg.kind, Kind::AutoReply | Kind::Bounce | Kind::Receipt | Kind::DelayNotice)
            && self.may_answer_sender(incoming)
        {
            self.problem_reply(tx, incoming, TemplateName::Unreadable, &msg.problems).await?;
        }
        let reason =
            if msg.problems.is_empty() { reason.to_owned() } else { format!("{reason}: {}", msg.problems.join("; ")) };
        Ok(Disposition::quarantined(None, reason))
    }

    /// Quarantines a message intake gave up on (it crashed or stalled the
    /// attempts before): a handler who sent it is told once (this runs once
    /// per message, under its intake claim); for anyone else the operator
    /// is told by the log and the quarantine count.
    pub async fn given_up(&self, tx: &mut Tx, incoming: Incoming<'_>) -> DeskResult<Disposition> {
        let msg = incoming.msg;
        let reason = msg.problems.join("; ");
        if self.settings.desk.handlers.iter().any(|h| h.address().eq_ignore_ascii_case(&msg.from))
            && self.may_answer_sender(incoming)
        {
            self.problem_reply(tx, incoming, TemplateName::Unreadable, &msg.problems).await?;
        } else {
            tracing::error!(from = %one_line(&msg.from), subject = %one_line(&msg.subject), reason = %one_line(&reason), "intake: poison message quarantined unparsed");
        }
        Ok(Disposition::quarantined(None, reason))
    }

    /// Whether another automatic reply to `recipient` fits this hour's cap
    /// (counted in the database: it holds across restarts and instances).
    /// A loop with an auto-responder that ignores RFC 3834 stops here.
    pub(super) async fn may_answer(&self, tx: &mut Tx, recipient: &str) -> DeskResult<bool> {
        let cap = self.settings.desk.replies_per_hour;
        if tx.count_reply(recipient, self.clock.now(), cap).await? {
            return Ok(true);
        }
        REPLY_CAP_HITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        warn!(to = %recipient, cap, "desk: reply cap reached; not answering");
        Ok(false)
    }

    /// Tells the sender what is wrong with their mail.
    pub(super) async fn problem_reply(
        &self,
        tx: &mut Tx,
        incoming: Incoming<'_>,
        template: TemplateName,
        problems: &[String],
    ) -> DeskResult<()> {
        let msg = incoming.msg;
        if msg.do_not_answer {
            info!(from = %one_line(&msg.from), "intake: not answering automatic or list mail");
            return Ok(());
        }
        if !self.may_answer(tx, &msg.from).await? {
            return Ok(());
        }
        let notice = Notice::new(template, OutboxKey::reply_to(template, incoming.source()))
            .answers_sender()
            .to(vec![msg.from.clone()])
            .in_reply_to(msg.message_id.clone())
            .with(|c| {
                c.message.subject = msg.subject.clone();
                c.message.from = msg.from.clone();
                c.problems = problems.to_vec();
            });
        self.send(tx, notice).await?;
        Ok(())
    }
}

/// Why a bounce failed, for the handler: the status and the server's words.
fn bounce_reason(msg: &Parsed) -> String {
    let from_dsn = msg
        .delivery
        .as_ref()
        .map(|d| [d.status.as_deref(), d.reason.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" "));
    match from_dsn.filter(|r| !r.is_empty()) {
        Some(r) => r,
        None => first_line(&msg.reply_text).to_owned(),
    }
}

/// Whether `address` is one of `list` (addresses compare case-insensitively).
fn is_one_of(address: &str, list: &[String]) -> bool {
    list.iter().any(|a| a.eq_ignore_ascii_case(address))
}

/// An out-of-office auto-reply: one with away words in its subject or text;
/// an acknowledgement ("您的来信已收到") says nothing about being away.
fn says_away(msg: &Parsed) -> bool {
    if matches!(msg.auto_reason, Some(AutoReason::Acknowledgement(_))) {
        return false;
    }
    let text = format!("{} {}", msg.subject, msg.reply_text).to_lowercase();
    AWAY_WORDS.iter().any(|w| text.contains(w))
}

/// What a machine's mail says, for the timeline and the handler: the failed
/// recipient and the server's reason, or why it is automatic, or the receipt.
fn machine_detail(msg: &Parsed) -> Option<String> {
    if let Some(d) = &msg.delivery {
        let parts: Vec<&str> =
            [d.recipient.as_deref(), d.status.as_deref(), d.reason.as_deref()].into_iter().flatten().collect();
        if !parts.is_empty() {
            return Some(parts.join(" "));
        }
    }
    if let Some(r) = &msg.receipt {
        return serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_owned));
    }
    msg.auto_reason.as_ref().and_then(|r| serde_json::to_string(r).ok())
}
