//! Whether a message's sender is who its From says (issue 15): each role's
//! policy (`[auth]`) applied to the verdict intake computed. A refused
//! message is quarantined with the reason and never applied; the ticket's
//! handler (never the claimed sender, who may be the victim) is told once
//! per ticket and sender; a verdict DNS could not settle makes it wait.

use tracing::warn;

use super::{Desk, DeskResult, Disposition, Incoming};
use crate::auth::{Decision, Mode, Outcome, Requirement, Role};
use crate::notify::{Notice, OutboxKey, TemplateName};
use crate::printable::one_line;
use crate::store::{EventKind, Tx};
use crate::ticket::Ticket;

impl Desk {
    /// What `role`'s policy makes of `incoming`'s verdict: `None` to apply
    /// it, else what becomes of it instead. Mail never verified (the desk's
    /// own unit tests, operator input) is applied.
    pub(super) async fn check_sender(
        &self,
        tx: &mut Tx,
        incoming: Incoming<'_>,
        role: Role,
        station: Option<&str>,
        ticket: Option<&Ticket>,
    ) -> DeskResult<Option<Disposition>> {
        let Some(verdict) = incoming.auth else { return Ok(None) };
        let msg = incoming.msg;
        match self.settings.auth.decide(verdict, role, station) {
            Decision::Apply => Ok(None),
            Decision::ApplyReported { reason } => {
                // Report mode: applied; the verdict is on the intake row.
                warn!(from = %one_line(&msg.from), reason = %one_line(&reason), "auth: would refuse (report mode)");
                Ok(None)
            }
            Decision::Wait => Ok(Some(Disposition::Wait { reason: verdict.describe() })),
            Decision::Refuse { reason } => {
                let number = ticket.map(|t| &t.number);
                if let Some(ticket) = ticket {
                    let refused = self.event(&ticket.number, EventKind::Refused).by(&msg.from);
                    tx.add_event(refused.message(msg.message_id.as_deref()).detail(&reason)).await?;
                    let notice = Notice::new(TemplateName::Forged, OutboxKey::forged(&ticket.number, &msg.from))
                        .about(ticket)
                        .to(vec![ticket.handler.clone()])
                        .with(|c| {
                            c.message.subject = msg.subject.clone();
                            c.message.from = msg.from.clone();
                            c.reason = reason.clone();
                        });
                    self.send(tx, notice).await?;
                }
                Ok(Some(Disposition::quarantined(number, reason)))
            }
        }
    }

    /// Whether the claimed sender may get an automatic answer (unreadable
    /// mail, form problems): not when enforcement would refuse their mail,
    /// or a forger could make the desk write to anyone of ours.
    pub(super) fn may_answer_sender(&self, incoming: Incoming<'_>) -> bool {
        let Some(verdict) = incoming.auth else { return true };
        let auth = &self.settings.auth;
        if auth.mode == Mode::Report || verdict.verdict == Outcome::Pass {
            return true;
        }
        let from = &incoming.msg.from;
        let role = if let Some(station) = self.settings.station_by_address(from) {
            auth.requirement(Role::Station, Some(&station.code))
        } else if self.settings.is_call_center(from) {
            auth.requirement(Role::CallCenter, None)
        } else {
            auth.requirement(Role::Handler, None)
        };
        role == Requirement::Any
    }
}
