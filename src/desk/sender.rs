//! Whether a message's sender is who its From says (issue 15): each role's
//! policy (`[auth]`) applied to the verdict intake computed. A refused
//! message is quarantined with the reason and never applied; the ticket's
//! handler (never the claimed sender, who may be the victim) is told once
//! per ticket and sender; a verdict DNS could not settle makes it wait.
//!
//! Machine mail is held to the same standard: an auto-reply or receipt
//! must pass its sender's policy like a reply; a delivery report must prove
//! it is about mail the desk sent (see [`Desk::check_report`]). Refused machine
//! mail is noted on the ticket and quarantined; nobody is told or answered
//! (a forger must not be able to make the desk write).

use tracing::warn;

use super::{Desk, DeskResult, Disposition, Incoming};
use crate::auth::align::{domain_of, normalise};
use crate::auth::{Decision, Mode, Outcome, Requirement, Role};
use crate::intake::Kind;
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
        // Machine mail tells nobody: a forger could send it by the thousand.
        let told = match incoming.msg.kind {
            Kind::AutoReply | Kind::Receipt | Kind::DelayNotice | Kind::Bounce => Told::Nobody,
            _ => Told::Handler,
        };
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
                let reason = match told {
                    Told::Handler => reason,
                    Told::Nobody => format!("{} not applied: {reason}", msg.kind.as_str()),
                };
                if let Some(ticket) = ticket {
                    let refused = self.event(&ticket.number, EventKind::Refused).by(&msg.from);
                    tx.add_event(refused.message(msg.message_id.as_deref()).detail(&reason)).await?;
                    if told == Told::Nobody {
                        return Ok(Some(Disposition::quarantined(number, reason)));
                    }
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

    /// [`Self::check_sender`] for an auto-reply or receipt about `ticket`:
    /// a refusal is noted on the ticket, and nobody is told.
    pub(super) async fn check_machine(
        &self,
        tx: &mut Tx,
        incoming: Incoming<'_>,
        ticket: &Ticket,
    ) -> DeskResult<Option<Disposition>> {
        let from = &incoming.msg.from;
        let station = self.station_of(ticket);
        let of_station =
            station.as_ref().is_some_and(|s| s.emails.iter().chain(&s.backups).any(|a| a.eq_ignore_ascii_case(from)));
        // Anyone else on a ticket's mail (its handler, a manager) is HQ's.
        let role = if of_station { Role::Station } else { Role::Handler };
        self.check_sender(tx, incoming, role, ticket.station.as_deref(), Some(ticket)).await
    }

    /// Whether a delivery report about `ticket` (a bounce, a delay or
    /// success notice; of `failed`, when it names one) is believed: `None`
    /// to apply it, else what becomes of it instead (noted on the ticket,
    /// nobody told; applied and logged in report mode). It is believed when
    /// it quotes the Message-ID of a mail the desk sent about the ticket to
    /// that recipient (the IDs carry 96 random bits: only a recipient of
    /// that mail knows one), or when it is authenticated as from our own
    /// domain or the failed recipient's (its mail system owning up). Mail
    /// never verified is believed, as above.
    pub(super) async fn check_report(
        &self,
        tx: &mut Tx,
        incoming: Incoming<'_>,
        ticket: &Ticket,
        failed: &str,
    ) -> DeskResult<Option<Disposition>> {
        let msg = incoming.msg;
        match self.believe_report(tx, incoming, ticket, failed).await? {
            Belief::Believed => Ok(None),
            Belief::Wait(reason) => Ok(Some(Disposition::Wait { reason })),
            Belief::Refused(reason) if self.settings.auth.mode == Mode::Enforce => {
                let refused = self.event(&ticket.number, EventKind::Refused).by(&msg.from);
                tx.add_event(refused.message(msg.message_id.as_deref()).detail(&reason)).await?;
                Ok(Some(Disposition::quarantined(Some(&ticket.number), reason)))
            }
            Belief::Refused(reason) => {
                warn!(from = %one_line(&msg.from), reason = %one_line(&reason), "auth: would refuse (report mode)");
                Ok(None)
            }
        }
    }

    async fn believe_report(
        &self,
        tx: &mut Tx,
        incoming: Incoming<'_>,
        ticket: &Ticket,
        failed: &str,
    ) -> DeskResult<Belief> {
        let Some(verdict) = incoming.auth else { return Ok(Belief::Believed) };
        let msg = incoming.msg;
        let quoted = |id: &str| msg.quoted_ids.iter().chain(&msg.references).any(|q| q.eq_ignore_ascii_case(id));
        let sent = tx.sent_about(&ticket.number).await?;
        let to_failed = |rcpts: &[String]| failed.is_empty() || rcpts.iter().any(|r| r.eq_ignore_ascii_case(failed));
        if sent.iter().any(|(id, rcpts)| quoted(id) && to_failed(rcpts)) {
            return Ok(Belief::Believed);
        }
        let signer = verdict.domain.as_deref().map(normalise);
        let ours = domain_of(&self.settings.smtp.from);
        let theirs = domain_of(failed);
        if verdict.verdict == Outcome::Pass && signer.is_some() && (signer == ours || signer == theirs) {
            return Ok(Belief::Believed);
        }
        if verdict.verdict == Outcome::TempError {
            return Ok(Belief::Wait(verdict.describe()));
        }
        let whom = if failed.is_empty() { String::new() } else { format!(" to {failed}") };
        Ok(Belief::Refused(format!(
            "{} not believed: it quotes no mail the desk sent{whom}, and its sender is {}",
            msg.kind.as_str(),
            verdict.describe()
        )))
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

/// Who hears of a refused message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    /// The ticket's handler, once per ticket and sender.
    Handler,
    /// Nobody: machine mail, which a forger could send by the thousand.
    Nobody,
}

/// What the desk makes of a delivery report.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Belief {
    Believed,
    /// Its sender's verdict is not known yet: it waits, like any mail.
    Wait(String),
    /// Not shown to be about our mail: noted, never applied.
    Refused(String),
}
