//! A station's pre-report (投诉报备, PRODUCT.md §8): a ticket flagged
//! pre-reported, without deadlines (the station is the one acting), owned
//! on the desk's side by the station's regional manager, who receives the
//! station's later replies. The station gets the ticket number; the manager
//! is copied when the station did not copy them; a major one goes to the
//! supervisor too. A repeated pre-report (same station, same service order
//! or phone, the first still open) is linked to the first: no second ticket.

use super::complaint::filed_from;
use super::{Desk, DeskResult, Disposition, Incoming};
use crate::auth::Role as AuthRole;
use crate::config::Station;
use crate::notify::compose::files_of;
use crate::notify::{Notice, OutboxKey, TemplateName};
use crate::store::{EventKind, NewTicket, Tx};
use crate::ticket::{Ticket, TicketKind};

impl Desk {
    pub(super) async fn pre_report(&self, tx: &mut Tx, incoming: Incoming<'_>) -> DeskResult<Disposition> {
        let msg = incoming.msg;
        let now = self.clock.now();
        let Some(station) = self.settings.station_by_address(&msg.from).cloned() else {
            let reason = format!("pre-report from {}, which is no station's address (stations[].emails)", msg.from);
            return Ok(Disposition::quarantined(None, reason));
        };
        if let Some(refused) = self.check_sender(tx, incoming, AuthRole::PreReport, Some(&station.code), None).await? {
            return Ok(refused);
        }
        let mut problems = msg.problems.clone();
        if let Some(named) = &msg.fields.station
            && !named.eq_ignore_ascii_case(&station.code)
        {
            problems.push(format!("station: the form names {named}, but the sender is {}'s address", station.code));
        }
        if !problems.is_empty() {
            self.problem_reply(tx, incoming, TemplateName::Problem, &problems).await?;
            return Ok(Disposition::quarantined(None, problems.join("; ")));
        }
        let (order, phone) = (msg.fields.service_order.as_deref(), msg.fields.phone.as_deref());
        if let Some(first) = tx.open_pre_report_about(&station.code, order, phone).await? {
            let mut event =
                self.event(&first.number, EventKind::Repeat).by(&msg.from).message(msg.message_id.as_deref());
            if let Some(d) = &msg.fields.description {
                event = event.detail(d);
            }
            tx.add_event(event).await?;
            self.pre_report_ack(tx, incoming, &first, &station).await?;
            return Ok(Disposition::handled(Some(&first.number), "repeated pre-report linked to the first"));
        }
        let day = now.with_timezone(&self.calendar.tz()).date_naive();
        let number = tx.next_ticket_no(day).await?;
        let major = msg.fields.major.unwrap_or(false);
        let new = NewTicket {
            station: Some(station.code.clone()),
            handler: station.manager.clone(),
            pre_reported: true,
            major,
            ..filed_from(msg, number.clone(), TicketKind::PreReport, now)?
        };
        let ticket = tx.insert_ticket(new).await?;
        let filed = self.event(&number, EventKind::PreReported).by(&msg.from).message(msg.message_id.as_deref());
        tx.add_event(filed).await?;
        self.pre_report_ack(tx, incoming, &ticket, &station).await?;
        if major {
            let supervisor = self.settings.desk.supervisor.clone();
            let notice =
                Notice::new(TemplateName::PrereportMajor, OutboxKey::once(&number, TemplateName::PrereportMajor))
                    .about(&ticket)
                    .station(Some(&station))
                    .to(vec![supervisor.clone()])
                    .cc(vec![station.manager.clone()])
                    .files(files_of(&msg.attachments));
            self.send(tx, notice).await?;
            tx.add_event(self.event(&number, EventKind::Major).detail(&supervisor)).await?;
        }
        Ok(Disposition::handled(Some(&number), "pre-report filed"))
    }

    /// Tells the station the ticket number of its pre-report; the manager
    /// who was not copied gets the copy, with the pre-report's files.
    async fn pre_report_ack(
        &self,
        tx: &mut Tx,
        incoming: Incoming<'_>,
        ticket: &Ticket,
        station: &Station,
    ) -> DeskResult<()> {
        let msg = incoming.msg;
        let manager_copied = msg.recipients.iter().any(|r| r.eq_ignore_ascii_case(&station.manager));
        let (cc, files) =
            if manager_copied { (vec![], vec![]) } else { (vec![station.manager.clone()], files_of(&msg.attachments)) };
        let key = OutboxKey::answer(&ticket.number, TemplateName::PrereportAck, incoming.source());
        let ack = Notice::new(TemplateName::PrereportAck, key)
            .about(ticket)
            .station(Some(station))
            .to(vec![msg.from.clone()])
            .cc(cc)
            .in_reply_to(msg.message_id.clone())
            .files(files);
        self.send(tx, ack).await?;
        Ok(())
    }
}
