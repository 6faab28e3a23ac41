//! A reply to a ticket, from its station or its handler: who may act, what
//! each action does to the ticket (the transitions are `Ticket`'s), and the
//! mail it triggers: a station's reply is relayed to the handler, the
//! handler's note reaches the station.

use chrono::{DateTime, NaiveTime, TimeZone, Utc};

use super::{Desk, DeskResult, Disposition, Incoming};
use crate::auth::Role as AuthRole;
use crate::calendar::BusinessDays;
use crate::config::Station;
use crate::intake::Requested;
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
        (Action::Return, Role::Handler) => Action::Update,
        (Action::Close | Action::Reopen, Role::Station) => Action::Update,
        // A station's "转 SH02" says the complaint is SH02's: a return.
        (Action::Reassign, Role::Station) => Action::Return,
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
        let policy = match role {
            Role::Station => AuthRole::Station,
            Role::Handler => AuthRole::Handler,
        };
        let code = ticket.station.clone();
        if let Some(refused) = self.check_sender(tx, incoming, policy, code.as_deref(), Some(&ticket)).await? {
            return Ok(refused);
        }
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
            Action::Update if msg.extension_needs_date && role == Role::Station => {
                ticket.answered(now);
                self.ask_for_date(tx, &ticket, station.as_ref(), incoming).await?;
                "extension without a date: asked for one".to_owned()
            }
            Action::Update => {
                if role == Role::Station {
                    ticket.answered(now);
                }
                "update".to_owned()
            }
            Action::Close => {
                let valid = msg.close_valid != Some(false);
                self.close(tx, &mut ticket, valid, now).await?
            }
            Action::Reopen => self.reopen(tx, &mut ticket).await?,
            Action::Return => self.give_back(tx, &mut ticket, station.as_ref(), incoming).await?,
            Action::Reassign => self.move_to(tx, &mut ticket, station.as_ref(), incoming).await?,
        };
        self.save(tx, &ticket).await?;
        let event = self.event(number, EventKind::Reply(action)).by(&msg.from).message(msg.message_id.as_deref());
        // The line the action was read from comes first: what `tickets show`
        // prints, so a misreading is visible.
        let detail = match &msg.action_line {
            Some(line) => format!("{line}\n{}", msg.reply_text),
            None => msg.reply_text.clone(),
        };
        tx.add_event(event.detail(&detail)).await?;
        let fill = |c: &mut crate::notify::MailContext| {
            c.reply.from = msg.from.clone();
            c.reply.action = action_words(action).to_owned();
            c.reply.text = msg.reply_text.clone();
        };
        if role == Role::Station && action != Action::Return {
            // The desk sees every station reply by mail: no portal needed
            // (a return has its own mail to the handler).
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
                .to(self.station_addresses(&ticket, Some(station)))
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
        let requested = msg.requested.as_ref().map(|r| self.requested_until(r));
        let Err(refused) = ticket.extend(requested, false) else {
            // The station learns the deadlines that now hold; the handler is copied.
            let key = OutboxKey::answer(&ticket.number, TemplateName::Extended, incoming.source());
            let granted = Notice::new(TemplateName::Extended, key)
                .about(ticket)
                .station(station)
                .to(self.station_addresses(ticket, station))
                .cc(vec![ticket.handler.clone()])
                .in_reply_to(msg.message_id.clone());
            self.send(tx, granted).await?;
            return Ok("extension granted".into());
        };
        let mut to = self.station_addresses(ticket, station);
        if to.is_empty() {
            to.push(msg.from.clone());
        }
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

    /// The instant an extension request asks for: a date alone means the
    /// end of that day's work (18:00 local); working days count on the calendar.
    fn requested_until(&self, requested: &Requested) -> DateTime<Utc> {
        let now = self.clock.now();
        let tz = self.calendar.tz();
        match *requested {
            Requested::Until { date, time } => {
                let time = time.unwrap_or(NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default());
                tz.from_local_datetime(&date.and_time(time)).earliest().map_or(now, |t| t.with_timezone(&Utc))
            }
            Requested::Days { days, working: true } => {
                self.calendar.add_business_days(now, BusinessDays::from_half_days(days.saturating_mul(2)))
            }
            Requested::Days { days, working: false } => now + chrono::Duration::days(i64::from(days)),
            Requested::Hours { hours } => now + chrono::Duration::hours(i64::from(hours)),
        }
    }

    /// An extension asked for without a date or a duration is no extension:
    /// the station is asked for the date it needs.
    async fn ask_for_date(
        &self,
        tx: &mut Tx,
        ticket: &Ticket,
        station: Option<&Station>,
        incoming: Incoming<'_>,
    ) -> DeskResult<()> {
        let msg = incoming.msg;
        let to = station.map(|s| s.emails.clone()).unwrap_or_else(|| vec![msg.from.clone()]);
        let key = OutboxKey::answer(&ticket.number, TemplateName::Refused, incoming.source());
        let reason = "延期申请需写明延期到的日期或所需天数（例如：申请延期 2026-11-20，或 申请延期 3 个工作日），请补充后回复本邮件。";
        let notice = Notice::new(TemplateName::Refused, key)
            .about(ticket)
            .station(station)
            .to(to)
            .cc(vec![ticket.handler.clone()])
            .in_reply_to(msg.message_id.clone())
            .with(|c| c.reason = reason.to_owned());
        self.send(tx, notice).await?;
        Ok(())
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
        let station = self.station_of(ticket);
        let at = self.calendar.add_business_days(now, BusinessDays::from_half_days(2));
        let followup = Notice::new(TemplateName::Followup, OutboxKey::followup(&ticket.number, now))
            .about(ticket)
            .station(station.as_ref())
            .to(vec![ticket.handler.clone()])
            .not_before(at);
        self.send(tx, followup).await?;
        // A returned ticket was never the station's: it is not told.
        let to = self.station_addresses(ticket, station.as_ref());
        if !to.is_empty() && ticket.returned_at.is_none() {
            let closed = Notice::new(TemplateName::Closed, OutboxKey::at(&ticket.number, TemplateName::Closed, now))
                .about(ticket)
                .station(station.as_ref())
                .to(to);
            self.send(tx, closed).await?;
        }
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
