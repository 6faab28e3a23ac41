//! A complaint from the call center: a new ticket forwarded to its station
//! (or left unrouted for the handler), a repeat of an open one, or a link to
//! the station's pre-report.

use chrono::{DateTime, Utc};

use super::{Desk, DeskResult, Disposition, Incoming};
use crate::auth::Role as AuthRole;
use crate::config::Station;
use crate::deadline;
use crate::intake::Parsed;
use crate::notify::compose::files_of;
use crate::notify::{FileAttachment, Notice, OutboxKey, TemplateName};
use crate::store::{EventKind, NewTicket, Tx};
use crate::ticket::{Status, Ticket, TicketKind, TicketNo, Urgency};

impl Desk {
    pub(super) async fn complaint(&self, tx: &mut Tx, incoming: Incoming<'_>) -> DeskResult<Disposition> {
        let msg = incoming.msg;
        let now = self.clock.now();
        if !self.settings.is_call_center(&msg.from) {
            let reason = match self.settings.station_by_address(&msg.from) {
                Some(_) => format!(
                    "{} is a station: it may only pre-report, to {} or with 投诉报备 in the subject",
                    msg.from,
                    self.settings.desk.pre_report_addresses.join(", ")
                ),
                None => format!("{} may not file complaints", msg.from),
            };
            return Ok(Disposition::quarantined(None, reason));
        }
        // Before anything is answered or filed: a spoofed call center gets
        // neither a ticket nor a forward, nor a reply about its form.
        if let Some(refused) = self.check_sender(tx, incoming, AuthRole::CallCenter, None, None).await? {
            return Ok(refused);
        }
        if !msg.problems.is_empty() {
            self.problem_reply(tx, incoming, TemplateName::Problem, &msg.problems).await?;
            return Ok(Disposition::quarantined(None, msg.problems.join("; ")));
        }
        let Some(urgency) = msg.fields.urgency else {
            // The parser reports a missing urgency as a problem; never guess one.
            return Ok(Disposition::quarantined(None, "no urgency"));
        };
        let station = msg.routed_to.as_deref().and_then(|code| self.settings.station(code)).cloned();
        let (order, phone) = (msg.fields.service_order.as_deref(), msg.fields.phone.as_deref());
        if let Some(station) = &station
            && let Some(open) = tx.open_ticket_about(&station.code, order, phone).await?
        {
            return self.repeat(tx, open, station, incoming).await;
        }
        let pre_report = match &station {
            Some(station) => {
                let since = now - chrono::Duration::days(i64::from(self.settings.reports.link_days));
                tx.pre_report_about(&station.code, order, phone, since).await?
            }
            None => None,
        };
        let day = now.with_timezone(&self.calendar.tz()).date_naive();
        let number = tx.next_ticket_no(day).await?;
        let new = NewTicket {
            status: if station.is_some() { Status::Open } else { Status::Unrouted },
            urgency,
            station: station.as_ref().map(|s| s.code.clone()),
            // Linked to the station's pre-report: exempt from the assessment
            // when not major and closed in time (seed 004, 投诉报备).
            pre_reported: pre_report.is_some(),
            major: pre_report.as_ref().is_some_and(|p| p.major),
            linked_to: pre_report.as_ref().map(|p| p.number.clone()),
            ..filed_from(msg, number.clone(), TicketKind::Complaint, now)?
        };
        let mut ticket = tx.insert_ticket(new).await?;
        tx.add_event(self.event(&number, EventKind::Received).by(&msg.from).message(msg.message_id.as_deref())).await?;
        if let Some(pre) = &pre_report {
            tx.add_event(self.event(&number, EventKind::Linked).detail(pre.number.as_str())).await?;
            let back = self.event(&pre.number, EventKind::Linked).by(&msg.from);
            tx.add_event(back.message(msg.message_id.as_deref()).detail(number.as_str())).await?;
        }
        match &station {
            Some(station) => {
                let ack = OutboxKey::answer(&number, TemplateName::Ack, incoming.source());
                let forward = Assignment {
                    forward: OutboxKey::forward(&number),
                    ack,
                    files: files_of(&msg.attachments),
                    originals: None,
                    in_reply_to: msg.message_id.clone(),
                };
                self.assign(tx, &mut ticket, station, forward, now).await?;
            }
            None => {
                tx.update_ticket(&ticket, None).await?;
                let key = OutboxKey::answer(&number, TemplateName::Unrouted, incoming.source());
                let notice = Notice::new(TemplateName::Unrouted, key)
                    .about(&ticket)
                    .to(vec![ticket.handler.clone()])
                    .in_reply_to(msg.message_id.clone());
                self.send(tx, notice).await?;
                let mut unrouted = self.event(&number, EventKind::Unrouted);
                if let Some(named) = &msg.fields.station {
                    unrouted = unrouted.detail(named);
                }
                tx.add_event(unrouted).await?;
            }
        }
        Ok(Disposition::handled(Some(&number), "ticket created"))
    }

    /// The customer complained again about an open ticket: no new case, but
    /// the ticket goes up one urgency level (its reply deadline moves
    /// closer if the station has not answered) and the station is told.
    async fn repeat(
        &self,
        tx: &mut Tx,
        mut ticket: Ticket,
        station: &Station,
        incoming: Incoming<'_>,
    ) -> DeskResult<Disposition> {
        let msg = incoming.msg;
        let now = self.clock.now();
        ticket.repeats += 1;
        ticket.urgency = ticket.urgency.raised();
        if ticket.first_reply_at.is_none() {
            let cal = self.calendar_of(Some(&station.code));
            let d = deadline::compute(cal, &self.settings.deadlines, now, ticket.urgency);
            ticket.reply_due = Some(ticket.reply_due.map_or(d.reply_due, |r| r.min(d.reply_due)));
            ticket.escalate_at = Some(ticket.escalate_at.map_or(d.escalate_at, |e| e.min(d.escalate_at)));
        }
        self.save(tx, &ticket).await?;
        let description = msg.fields.description.clone().unwrap_or_default();
        let mut event = self.event(&ticket.number, EventKind::Repeat).by(&msg.from).message(msg.message_id.as_deref());
        if let Some(d) = &msg.fields.description {
            event = event.detail(d);
        }
        tx.add_event(event).await?;
        let mut cc = vec![ticket.handler.clone()];
        if !msg.from.eq_ignore_ascii_case(&ticket.handler) {
            cc.push(msg.from.clone());
        }
        let key = OutboxKey::answer(&ticket.number, TemplateName::Repeat, incoming.source());
        let notice = Notice::new(TemplateName::Repeat, key)
            .about(&ticket)
            .station(Some(station))
            .to(self.station_addresses(&ticket, Some(station)))
            .cc(cc)
            .files(files_of(&msg.attachments))
            .with(|c| {
                c.repeat.description = description;
                c.repeat.from = msg.from.clone();
            });
        self.send(tx, notice).await?;
        Ok(Disposition::handled(Some(&ticket.number), "repeat complaint linked"))
    }

    /// Gives the ticket to `station`: the clock starts, the complaint is
    /// forwarded there (the handler copied) and the handler acknowledged.
    pub(super) async fn assign(
        &self,
        tx: &mut Tx,
        ticket: &mut Ticket,
        station: &Station,
        assignment: Assignment,
        now: DateTime<Utc>,
    ) -> DeskResult<()> {
        // The station's own calendar, if it has one: its working time is what it can answer in.
        let cal = self.calendar_of(Some(&station.code));
        let d = deadline::compute(cal, &self.settings.deadlines, now, ticket.urgency);
        d.start(ticket, &station.code, now);
        self.save(tx, ticket).await?;
        let forward = Notice::new(TemplateName::Forward, assignment.forward)
            .about(ticket)
            .station(Some(station))
            .to(station.emails.clone())
            .cc(vec![ticket.handler.clone()])
            .files(assignment.files)
            .originals(assignment.originals);
        self.send(tx, forward).await?;
        tx.add_event(self.event(&ticket.number, EventKind::Forwarded).detail(&station.code)).await?;
        let ack = Notice::new(TemplateName::Ack, assignment.ack)
            .about(ticket)
            .station(Some(station))
            .to(vec![ticket.handler.clone()])
            .in_reply_to(assignment.in_reply_to);
        self.send(tx, ack).await?;
        Ok(())
    }
}

/// The mail of giving a ticket to a station.
pub(super) struct Assignment {
    /// The forward's key: once per ticket, or once per reassignment.
    pub forward: OutboxKey,
    /// The handler's acknowledgement's key.
    pub ack: OutboxKey,
    /// Sent on to the station.
    pub files: Vec<FileAttachment>,
    /// The Message-ID of the mail whose attachments the outbox adds when it
    /// sends the forward (a reassign: read back from the Handled folder).
    pub originals: Option<String>,
    /// The complaint mail the acknowledgement answers.
    pub in_reply_to: Option<String>,
}

/// The ticket a form files as it reads: the number, the subject, the form's
/// fields and the mail it came from; owned by its sender, open, normal, no
/// station, until the caller says otherwise.
pub(super) fn filed_from(
    msg: &Parsed,
    number: TicketNo,
    kind: TicketKind,
    now: DateTime<Utc>,
) -> DeskResult<NewTicket> {
    Ok(NewTicket {
        number,
        kind,
        status: Status::Open,
        urgency: msg.fields.urgency.unwrap_or(Urgency::Normal),
        station: None,
        handler: msg.from.clone(),
        subject: msg.subject.clone(),
        complaint_no: msg.fields.complaint_no.clone(),
        category: msg.fields.category.clone(),
        customer_name: msg.fields.customer_name.clone(),
        phone: msg.fields.phone.clone(),
        service_order: msg.fields.service_order.clone(),
        fields: serde_json::to_value(&msg.fields).map_err(anyhow::Error::from)?,
        source_message_id: msg.message_id.clone(),
        received_at: now,
        pre_reported: false,
        major: false,
        linked_to: None,
    })
}
