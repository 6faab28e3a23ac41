//! A reply to a ticket, from its station or its handler: who may act, what
//! each action does to the ticket (the transitions are `Ticket`'s), and the
//! mail it triggers: a station's reply is relayed to the handler, the
//! handler's note reaches the station.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};

use super::{Desk, DeskResult, Disposition, Incoming};
use crate::calendar::BusinessDays;
use crate::config::Station;
use crate::notify::compose::files_of;
use crate::notify::context::action_words;
use crate::notify::{KeyPrefix, Notice, OutboxKey, TemplateName};
use crate::store::{EventKind, Tx};
use crate::ticket::{Action, ExtensionRefused, Status, Ticket};

/// Who a reply is from, as far as the ticket is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// One of the addresses of the ticket's station.
    Station,
    /// The ticket's handler (also when the handler writes from a station address).
    Handler,
}

/// Who may act on `ticket`: its station and its handler; nobody else.
pub(super) fn role(ticket: &Ticket, station: Option<&Station>, from: &str) -> Option<Role> {
    if ticket.handler.eq_ignore_ascii_case(from) {
        Some(Role::Handler)
    } else if station.is_some_and(|s| s.emails.iter().any(|e| e.eq_ignore_ascii_case(from))) {
        Some(Role::Station)
    } else {
        None
    }
}

/// What an action may be from `role`: closing and reopening are the
/// handler's (首问负责制); from a station they are an ordinary update.
pub(super) fn allowed(action: Action, role: Role) -> Action {
    match (action, role) {
        (Action::Close | Action::Reopen, Role::Station) => Action::Update,
        _ => action,
    }
}

impl Desk {
    pub(super) async fn reply(&self, tx: &mut Tx, incoming: Incoming<'_>) -> DeskResult<Disposition> {
        let msg = incoming.msg;
        let Some(number) = &msg.ticket else {
            return Ok(Disposition::quarantined(None, "reply names no ticket"));
        };
        let Some(mut ticket) = tx.lock_ticket(number).await? else {
            return Ok(Disposition::quarantined(None, format!("no ticket {number}")));
        };
        let station = self.station_of(&ticket);
        let Some(role) = role(&ticket, station.as_ref(), &msg.from) else {
            // Logged on the ticket, never applied: a forged or misdirected reply.
            let refused = self.event(number, EventKind::Refused).by(&msg.from).message(msg.message_id.as_deref());
            tx.add_event(refused.detail("sender not allowed")).await?;
            return Ok(Disposition::quarantined(Some(number), format!("{} may not act on {number}", msg.from)));
        };
        let now = self.clock.now();
        let action = allowed(msg.action.unwrap_or(Action::Update), role);
        let note = match action {
            _ if ticket.status == Status::Closed && action != Action::Reopen => "reply to a closed ticket".to_owned(),
            Action::Contacted => {
                ticket.contact(now);
                "customer contacted".to_owned()
            }
            Action::Result => {
                ticket.report_result(now);
                "result reported".to_owned()
            }
            Action::Extension => {
                ticket.answered(now);
                self.extend(tx, &mut ticket, station.as_ref(), incoming).await?
            }
            Action::Update => {
                if role == Role::Station {
                    ticket.answered(now);
                }
                "update".to_owned()
            }
            Action::Close => {
                let valid = !first_line(&msg.reply_text).contains("无效");
                self.close(tx, &mut ticket, valid, now).await?
            }
            Action::Reopen => self.reopen(tx, &mut ticket).await?,
        };
        self.save(tx, &ticket).await?;
        let event = self.event(number, EventKind::Reply(action)).by(&msg.from).message(msg.message_id.as_deref());
        tx.add_event(event.detail(&msg.reply_text)).await?;
        let fill = |c: &mut crate::notify::MailContext| {
            c.reply.from = msg.from.clone();
            c.reply.action = action_words(action).to_owned();
            c.reply.text = msg.reply_text.clone();
        };
        if role == Role::Station {
            // The desk sees every station reply by mail: no portal needed.
            let key = OutboxKey::answer(number, TemplateName::Relay, incoming.source());
            let relay = Notice::new(TemplateName::Relay, key)
                .about(&ticket)
                .station(station.as_ref())
                .to(vec![ticket.handler.clone()])
                .in_reply_to(msg.message_id.clone())
                .files(files_of(&msg.attachments))
                .with(fill);
            self.send(tx, relay).await?;
        } else if action == Action::Update
            && let Some(station) = &station
        {
            // The handler's questions reach the station the same way.
            let key = OutboxKey::answer(number, TemplateName::Note, incoming.source());
            let note = Notice::new(TemplateName::Note, key)
                .about(&ticket)
                .station(Some(station))
                .to(station.emails.clone())
                .in_reply_to(msg.message_id.clone())
                .files(files_of(&msg.attachments))
                .with(fill);
            self.send(tx, note).await?;
        }
        Ok(Disposition::handled(Some(number), &note))
    }

    /// An extension moves result and close to the requested time, at most
    /// to the cap (5 business days after dispatch); past the cap, or twice,
    /// it is refused with a reply.
    async fn extend(
        &self,
        tx: &mut Tx,
        ticket: &mut Ticket,
        station: Option<&Station>,
        incoming: Incoming<'_>,
    ) -> DeskResult<String> {
        let msg = incoming.msg;
        if ticket.extension_cap.is_none() {
            return Ok("extension on an undispatched ticket".into());
        }
        let requested = requested_time(&msg.reply_text, self.calendar.tz(), self.clock.now());
        let Err(refused) = ticket.extend(requested, false) else {
            return Ok("extension granted".into());
        };
        let to = station.map(|s| s.emails.clone()).unwrap_or_else(|| vec![msg.from.clone()]);
        let reason = self.refusal_words(&refused);
        let key = OutboxKey::answer(&ticket.number, TemplateName::Refused, incoming.source());
        let notice = Notice::new(TemplateName::Refused, key)
            .answers_sender()
            .about(ticket)
            .station(station)
            .to(to)
            .cc(vec![ticket.handler.clone()])
            .in_reply_to(msg.message_id.clone())
            .with(|c| c.reason = reason);
        self.send(tx, notice).await?;
        Ok("extension refused".into())
    }

    /// Why an extension was refused, in the words the station reads.
    pub(super) fn refusal_words(&self, refused: &ExtensionRefused) -> String {
        match refused {
            ExtensionRefused::NotDispatched => "投诉尚未转给服务站，没有可延期的期限。".to_owned(),
            ExtensionRefused::AlreadyExtended => "本投诉已延期一次，不能再次延期。".to_owned(),
            ExtensionRefused::PastCap { requested, cap } => format!(
                "申请的时间 {} 超过最长期限 {}（派单后 5 个工作日）。",
                self.local(*requested),
                self.local(*cap)
            ),
        }
    }

    /// Closes the ticket, valid or not for the assessment, and queues the
    /// follow-up call reminder (回访) for the handler one business day later.
    pub(super) async fn close(
        &self,
        tx: &mut Tx,
        ticket: &mut Ticket,
        valid: bool,
        now: DateTime<Utc>,
    ) -> DeskResult<String> {
        ticket.close(valid, now);
        let at = self.calendar.add_business_days(now, BusinessDays::from_half_days(2));
        let followup = Notice::new(TemplateName::Followup, OutboxKey::followup(&ticket.number, now))
            .about(ticket)
            .to(vec![ticket.handler.clone()])
            .not_before(at);
        self.send(tx, followup).await?;
        Ok(format!("closed ({})", if valid { "valid" } else { "invalid" }))
    }

    /// Opens a closed ticket again, withdrawing the follow-up reminder if it
    /// has not gone out yet.
    pub(super) async fn reopen(&self, tx: &mut Tx, ticket: &mut Ticket) -> DeskResult<String> {
        ticket.reopen();
        tx.cancel_unsent(KeyPrefix::followups(&ticket.number).as_str()).await?;
        Ok("reopened".to_owned())
    }
}

pub(super) fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
}

/// A date (and maybe a time) written in an extension request:
/// `2026-11-20`, `2026/11/20 15:00`, `2026年11月20日`, `11月20日`. A date
/// alone means the end of that working day.
fn requested_time(text: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let line = first_line(text);
    let digits = |s: &str| -> Vec<u32> {
        s.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).filter_map(|p| p.parse().ok()).collect()
    };
    let nums = digits(line);
    let local_now = now.with_timezone(&tz);
    let (date, rest) = match nums.as_slice() {
        [y, m, d, rest @ ..] if *y >= 2000 => (NaiveDate::from_ymd_opt(*y as i32, *m, *d)?, rest),
        [m, d, rest @ ..] if line.contains('月') => (NaiveDate::from_ymd_opt(local_now.year(), *m, *d)?, rest),
        _ => return None,
    };
    let time = match rest {
        [h, min, ..] if *h < 24 && *min < 60 => NaiveTime::from_hms_opt(*h, *min, 0)?,
        _ => NaiveTime::from_hms_opt(18, 0, 0)?,
    };
    tz.from_local_datetime(&date.and_time(time)).earliest().map(|t| t.with_timezone(&Utc))
}
