//! The intake log: every message taken from the mailbox, unique on its
//! mailbox, UIDVALIDITY and UID, and on its Message-ID, recorded in the same
//! transaction as its effects.

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::rows::{from_ms, to_ms};
use super::{Result, Store, StoreError, Tx};
use crate::intake::{Kind, Parsed};
use crate::ticket::TicketNo;

/// A message's row in the intake log: how mail without a Message-ID is
/// told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InboundId(pub i64);

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Claimed, its effects not yet settled (only inside the transaction).
    Pending,
    /// Its effects are committed; it went to the handled folder.
    Handled,
    /// Refused or unusable; it went to the quarantine folder.
    Quarantined,
}

impl InboundOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Handled => "handled",
            Self::Quarantined => "quarantined",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Handled, Self::Quarantined].into_iter().find(|o| o.as_str() == s)
    }
}

/// What intake made of a message: its kind, or `None` when it was read from
/// its header alone (too big to fetch).
pub fn kind_name(kind: Option<Kind>) -> &'static str {
    kind.map_or("oversized", Kind::as_str)
}

/// One message taken from the mailbox.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    /// Mailbox (account/folder) it came from.
    pub mailbox: String,
    /// With `uid`, identifies the message on the server for good.
    pub uidvalidity: u32,
    pub uid: u32,
    /// Also unique: the same mail delivered twice is handled once.
    pub message_id: Option<String>,
    pub sender: String,
    pub subject: String,
    /// What the parser made of it (`None`: too big, read from its header).
    pub kind: Option<Kind>,
    pub ticket: Option<TicketNo>,
    pub outcome: InboundOutcome,
    /// Why it was quarantined, or what was done.
    pub reason: Option<String>,
    pub received_at: DateTime<Utc>,
    /// Its authentication verdict as JSON (`auth::Verdict`; the store does
    /// not read it), `None` when it was not verified.
    pub auth: Option<String>,
}

impl InboundRecord {
    /// A message read as `parsed`, about to be claimed (`Pending`) at `at`.
    pub fn new(mailbox: String, uidvalidity: u32, uid: u32, parsed: &Parsed, at: DateTime<Utc>) -> Self {
        Self {
            mailbox,
            uidvalidity,
            uid,
            message_id: parsed.message_id.clone(),
            sender: parsed.from.clone(),
            subject: parsed.subject.clone(),
            kind: Some(parsed.kind),
            ticket: None,
            outcome: InboundOutcome::Pending,
            reason: None,
            received_at: at,
            auth: None,
        }
    }
}

impl Store {
    /// The messages intake took about a ticket, oldest first.
    pub async fn inbound_of(&self, ticket: &TicketNo) -> Result<Vec<InboundRecord>> {
        on_pool!(self, |p| {
            sqlx::query(
                "SELECT mailbox, uidvalidity, uid, message_id, sender, subject, kind, outcome, reason, received_at,
                        auth
                 FROM inbound WHERE ticket = $1 ORDER BY received_at, id",
            )
            .bind(ticket.as_str())
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| {
                let outcome: String = r.try_get("outcome")?;
                let kind: String = r.try_get("kind")?;
                Ok(InboundRecord {
                    mailbox: r.try_get("mailbox")?,
                    uidvalidity: u32::try_from(r.try_get::<i64, _>("uidvalidity")?).unwrap_or_default(),
                    uid: u32::try_from(r.try_get::<i64, _>("uid")?).unwrap_or_default(),
                    message_id: r.try_get("message_id")?,
                    sender: r.try_get("sender")?,
                    subject: r.try_get("subject")?,
                    kind: Kind::parse(&kind),
                    ticket: Some(ticket.clone()),
                    outcome: InboundOutcome::parse(&outcome)
                        .ok_or_else(|| StoreError::Corrupt(format!("inbound outcome {outcome:?}")))?,
                    reason: r.try_get("reason")?,
                    received_at: from_ms(r.try_get("received_at")?),
                    auth: r.try_get("auth")?,
                })
            })
            .collect()
        })
    }
}

impl Tx {
    /// The Message-ID of the mail `ticket` was filed from (its first
    /// complaint, else its pre-report), as the intake log has it.
    pub async fn source_message_id(&mut self, ticket: &TicketNo) -> Result<Option<String>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT message_id FROM inbound
                 WHERE ticket = $1 AND kind IN ($2, $3) AND message_id IS NOT NULL
                 ORDER BY CASE kind WHEN $2 THEN 0 ELSE 1 END, received_at, id LIMIT 1",
            )
            .bind(ticket.as_str())
            .bind(Kind::Complaint.as_str())
            .bind(Kind::PreReport.as_str())
            .fetch_optional(&mut *c)
            .await?
        }))
    }

    /// Records a message as taken; its row, or `None` when it was taken
    /// before (same UID or same Message-ID): the caller must then do nothing.
    pub async fn claim_inbound(&mut self, r: &InboundRecord) -> Result<Option<InboundId>> {
        let id: Option<i64> = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO inbound (mailbox, uidvalidity, uid, message_id, sender, subject, kind,
                                      ticket, outcome, reason, received_at, auth)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(&r.mailbox)
            .bind(i64::from(r.uidvalidity))
            .bind(i64::from(r.uid))
            .bind(&r.message_id)
            .bind(&r.sender)
            .bind(&r.subject)
            .bind(kind_name(r.kind))
            .bind(r.ticket.as_ref().map(|t| t.as_str()))
            .bind(r.outcome.as_str())
            .bind(&r.reason)
            .bind(to_ms(r.received_at))
            .bind(&r.auth)
            .fetch_optional(&mut *c)
            .await?
        });
        Ok(id.map(InboundId))
    }

    /// What became of a message taken before (by UID, else by Message-ID).
    pub async fn inbound_outcome(&mut self, r: &InboundRecord) -> Result<Option<InboundOutcome>> {
        let outcome: Option<String> = on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT outcome FROM inbound
                 WHERE (mailbox = $1 AND uidvalidity = $2 AND uid = $3) OR message_id = $4
                 LIMIT 1",
            )
            .bind(&r.mailbox)
            .bind(i64::from(r.uidvalidity))
            .bind(i64::from(r.uid))
            .bind(&r.message_id)
            .fetch_optional(&mut *c)
            .await?
        });
        Ok(outcome.as_deref().and_then(InboundOutcome::parse))
    }

    /// Sets the outcome of a claimed message once its effects are known.
    pub async fn settle_inbound(
        &mut self,
        id: InboundId,
        outcome: InboundOutcome,
        reason: Option<&str>,
        ticket: Option<&TicketNo>,
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("UPDATE inbound SET outcome = $1, reason = $2, ticket = $3 WHERE id = $4")
                .bind(outcome.as_str())
                .bind(reason)
                .bind(ticket.map(|t| t.as_str()))
                .bind(id.0)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }
}
