//! Moves between stations by mail: a station's return (退回: its clocks
//! stop, the handler is told its reason and a proposed station) and the
//! handler's "转 SH02" (moved there with fresh deadlines; back to the
//! station that returned it, a refused return that counts against it).

use super::{Desk, DeskResult, Incoming};
use crate::config::Station;
use crate::deadline;
use crate::intake::moves::{self, Move};
use crate::intake::station_for_place;
use crate::notify::{KeyPrefix, Notice, OutboxKey, TemplateName};
use crate::store::{EventKind, Tx};
use crate::ticket::{Status, Ticket};

impl Desk {
    /// The station returns `ticket`: its clocks stop now, its unsent alerts
    /// are withdrawn and the handler is told why, with a station proposed
    /// (the one the reply names, else the one the customer's region has).
    pub(super) async fn give_back(
        &self,
        tx: &mut Tx,
        ticket: &mut Ticket,
        station: Option<&Station>,
        incoming: Incoming<'_>,
    ) -> DeskResult<String> {
        let msg = incoming.msg;
        if ticket.status == Status::Returned {
            return Ok("returned again (already returned)".into());
        }
        let now = self.clock.now();
        ticket.give_back(now);
        for prefix in KeyPrefix::alerts(&ticket.number) {
            tx.cancel_unsent(prefix.as_str()).await?;
        }
        let own = station.map(|s| s.code.as_str());
        let named = match moves::read(&msg.reply_text, &self.settings.stations) {
            Some(Move::Return { to }) => to.filter(|c| Some(c.as_str()) != own),
            _ => None,
        };
        let place = |key: &str| ticket.fields.get(key).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        let proposed = named.or_else(|| {
            [place("region"), place("address")].iter().find_map(|p| station_for_place(p, &self.settings, own))
        });
        let proposed = proposed.and_then(|c| self.settings.station(&c)).cloned();
        let key = OutboxKey::at(&ticket.number, TemplateName::Returned, now);
        let notice = Notice::new(TemplateName::Returned, key)
            .about(ticket)
            .station(station)
            .to(vec![ticket.handler.clone()])
            .in_reply_to(msg.message_id.clone())
            .with(|c| {
                c.reason = msg.reply_text.clone();
                c.moved.from = station.map(|s| format!("{} {}", s.code, s.name)).unwrap_or_default();
                if let Some(p) = &proposed {
                    c.moved.to = format!("{} {}", p.code, p.name);
                    c.moved.to_code = p.code.clone();
                }
            });
        self.send(tx, notice).await?;
        Ok(match &proposed {
            Some(p) => format!("returned by the station; {} proposed", p.code),
            None => "returned by the station".to_owned(),
        })
    }

    /// The handler's "转 CODE": to another station with fresh deadlines; to
    /// the station that returned it, the return is refused (counted against
    /// it) and its clocks start again.
    pub(super) async fn move_to(
        &self,
        tx: &mut Tx,
        ticket: &mut Ticket,
        station: Option<&Station>,
        incoming: Incoming<'_>,
    ) -> DeskResult<String> {
        let msg = incoming.msg;
        let now = self.clock.now();
        let Some(Move::Reassign { to, written }) = moves::read(&msg.reply_text, &self.settings.stations) else {
            return Ok("no station to move to".into());
        };
        let Some(new) = to.and_then(|c| self.settings.station(&c)).cloned() else {
            return Ok(format!("unknown station {written:?}: not moved"));
        };
        if station.is_some_and(|s| s.code == new.code) {
            if ticket.status != Status::Returned {
                return Ok(format!("already with {}", new.code));
            }
            let key = OutboxKey::answer(&ticket.number, TemplateName::Note, incoming.source());
            self.refuse_return(tx, ticket, &new, &msg.from, &msg.reply_text, key, msg.message_id.clone()).await?;
            return Ok(format!("return refused: back to {}", new.code));
        }
        self.reassign(tx, ticket, &new, now).await?;
        Ok(format!("moved to {}", new.code))
    }

    /// The handler (or operator, `by`) sends the ticket back to `station`,
    /// which returned it: the return is refused (counted against it), its
    /// clocks start again, its answers so far still stand, and it is told
    /// with `text`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn refuse_return(
        &self,
        tx: &mut Tx,
        ticket: &mut Ticket,
        station: &Station,
        by: &str,
        text: &str,
        key: OutboxKey,
        in_reply_to: Option<String>,
    ) -> DeskResult<()> {
        let now = self.clock.now();
        ticket.refuse_return();
        let d = deadline::compute(self.calendar_of(Some(&station.code)), &self.settings.deadlines, now, ticket.urgency);
        let mut fresh = ticket.clone();
        d.start(&mut fresh, &station.code, now);
        ticket.dispatched_at = fresh.dispatched_at;
        ticket.reply_due = fresh.reply_due;
        ticket.escalate_at = fresh.escalate_at;
        ticket.result_due = fresh.result_due;
        ticket.close_due = fresh.close_due;
        ticket.extension_cap = fresh.extension_cap;
        tx.add_event(self.event(&ticket.number, EventKind::ReturnRefused).by(by).detail(&station.code)).await?;
        let note = Notice::new(TemplateName::Note, key)
            .about(ticket)
            .station(Some(station))
            .to(self.station_addresses(ticket, Some(station)))
            .in_reply_to(in_reply_to)
            .with(|c| {
                c.reply.from = self.notify.handler_name(&ticket.handler);
                c.reply.text = format!("退回未获同意，本投诉仍由贵站处理，期限已重新起算。\n\n{text}");
            });
        self.send(tx, note).await?;
        Ok(())
    }
}
