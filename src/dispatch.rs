//! Dispatch: what the desk does with a message once intake has read it.
//! Every effect (ticket, timeline, outgoing mail) is written in the caller's
//! transaction, so a message's effects are committed together or not at all.

use std::time::SystemTime;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use serde_json::{Value, json};

use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::config::{Settings, Station};
use crate::deadline;
use crate::intake::{Kind, Parsed};
use crate::mail::compose::{self, Draft};
use crate::store::{Event, NewTicket, OutboxMail, Tx};
use crate::templates::Templates;
use crate::ticket::{Status, Ticket, TicketNo};

/// What became of an incoming message.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Its effects are committed; it goes to the handled folder.
    Handled {
        ticket: Option<TicketNo>,
        note: String,
    },
    /// Refused or unusable; it goes to the quarantine folder, never applied.
    Quarantined {
        ticket: Option<TicketNo>,
        reason: String,
    },
}

impl Disposition {
    pub fn outcome(&self) -> &'static str {
        match self {
            Disposition::Handled { .. } => "handled",
            Disposition::Quarantined { .. } => "quarantined",
        }
    }
}

/// Everything dispatch needs besides the transaction.
pub struct Dispatcher {
    pub settings: Settings,
    pub calendar: Calendar,
    pub templates: Templates,
    pub clock: Clock,
    /// `From:` of everything the daemon sends.
    pub from: Mailbox,
}

impl Dispatcher {
    pub fn new(
        settings: Settings,
        calendar: Calendar,
        templates: Templates,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let from: Mailbox = if settings.smtp.from_name.is_empty() {
            settings.smtp.from.parse()
        } else {
            format!("{} <{}>", settings.smtp.from_name, settings.smtp.from).parse()
        }
        .with_context(|| format!("smtp.from {:?}", settings.smtp.from))?;
        Ok(Self {
            settings,
            calendar,
            templates,
            clock,
            from,
        })
    }

    /// Applies one parsed message. Errors are infrastructure errors (the
    /// transaction is dropped and the message retried); refusals are
    /// `Disposition::Quarantined`.
    pub async fn apply(&self, tx: &mut Tx, msg: &Parsed) -> anyhow::Result<Disposition> {
        match msg.kind {
            Kind::Complaint => self.complaint(tx, msg).await,
            Kind::Reply => self.reply(tx, msg).await,
            Kind::PreReport => Ok(Disposition::Quarantined {
                ticket: None,
                reason: "pre-reports are not handled yet".into(),
            }),
            Kind::AutoReply => self.auto_reply(tx, msg).await,
            Kind::Bounce => self.bounce(tx, msg).await,
            Kind::Unrecognized => Ok(Disposition::Quarantined {
                ticket: None,
                reason: "unrecognized message".into(),
            }),
        }
    }

    async fn complaint(&self, tx: &mut Tx, msg: &Parsed) -> anyhow::Result<Disposition> {
        let now = self.clock.now();
        if !self.settings.is_call_center(&msg.from) {
            return Ok(Disposition::Quarantined {
                ticket: None,
                reason: format!("{} may not file complaints", msg.from),
            });
        }
        if !msg.problems.is_empty() {
            self.problem_reply(tx, msg, now).await?;
            return Ok(Disposition::Quarantined {
                ticket: None,
                reason: msg.problems.join("; "),
            });
        }
        let Some(urgency) = msg.fields.urgency else {
            // The parser reports a missing urgency as a problem; never guess one.
            return Ok(Disposition::Quarantined {
                ticket: None,
                reason: "no urgency".into(),
            });
        };
        let station = msg
            .routed_to
            .as_deref()
            .and_then(|code| self.settings.station(code))
            .cloned();
        let day = now.with_timezone(&self.calendar.tz()).date_naive();
        let number = tx.next_ticket_no(day).await?;
        let new = NewTicket {
            number: number.clone(),
            kind: "complaint".into(),
            status: if station.is_some() {
                Status::Open
            } else {
                Status::Unrouted
            },
            urgency,
            station: station.as_ref().map(|s| s.code.clone()),
            handler: msg.from.clone(),
            subject: msg.subject.clone(),
            complaint_no: msg.fields.complaint_no.clone(),
            category: msg.fields.category.clone(),
            customer_name: msg.fields.customer_name.clone(),
            phone: msg.fields.phone.clone(),
            service_order: msg.fields.service_order.clone(),
            fields: serde_json::to_value(&msg.fields)?,
            source_message_id: msg.message_id.clone(),
            received_at: now,
            pre_reported: false,
            major: false,
            linked_to: None,
        };
        tx.insert_ticket(&new).await?;
        let mut ticket = tx.ticket(&number).await?.context("ticket just inserted")?;
        self.event(
            tx,
            &number,
            "received",
            Some(&msg.from),
            msg.message_id.as_deref(),
            None,
        )
        .await?;
        match &station {
            Some(station) => {
                self.dispatch_to(tx, &mut ticket, station, msg, now).await?;
                self.send(
                    tx,
                    "ack",
                    &ticket,
                    Some(station),
                    &json!({}),
                    vec![ticket.handler.clone()],
                    vec![],
                    msg.message_id.clone(),
                    vec![],
                    true,
                )
                .await?;
            }
            None => {
                tx.update_ticket(&ticket, None).await?;
                self.send(
                    tx,
                    "unrouted",
                    &ticket,
                    None,
                    &json!({}),
                    vec![ticket.handler.clone()],
                    vec![],
                    msg.message_id.clone(),
                    vec![],
                    true,
                )
                .await?;
                self.event(
                    tx,
                    &number,
                    "unrouted",
                    None,
                    None,
                    msg.fields.station.as_deref(),
                )
                .await?;
            }
        }
        Ok(Disposition::Handled {
            ticket: Some(number),
            note: "ticket created".into(),
        })
    }

    /// Starts the clock and forwards the complaint to the station, copying
    /// the handler.
    async fn dispatch_to(
        &self,
        tx: &mut Tx,
        ticket: &mut Ticket,
        station: &Station,
        msg: &Parsed,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let d = deadline::compute(
            &self.calendar,
            &self.settings.deadlines,
            now,
            ticket.urgency,
        );
        ticket.station = Some(station.code.clone());
        ticket.status = Status::Open;
        ticket.dispatched_at = Some(now);
        ticket.reply_due = Some(d.reply_due);
        ticket.escalate_at = Some(d.escalate_at);
        ticket.result_due = Some(d.result_due);
        ticket.close_due = Some(d.close_due);
        ticket.extension_cap = Some(d.extension_cap);
        tx.update_ticket(ticket, None).await?;
        self.send(
            tx,
            "forward",
            ticket,
            Some(station),
            &json!({}),
            station.emails.clone(),
            vec![ticket.handler.clone()],
            None,
            msg.attachments.clone(),
            false,
        )
        .await?;
        self.event(
            tx,
            &ticket.number,
            "forwarded",
            None,
            None,
            Some(&station.code),
        )
        .await
    }

    async fn reply(&self, tx: &mut Tx, msg: &Parsed) -> anyhow::Result<Disposition> {
        let Some(number) = &msg.ticket else {
            return Ok(Disposition::Quarantined {
                ticket: None,
                reason: "reply names no ticket".into(),
            });
        };
        let Some(ticket) = tx.ticket(number).await? else {
            return Ok(Disposition::Quarantined {
                ticket: None,
                reason: format!("no ticket {number}"),
            });
        };
        let station = ticket
            .station
            .as_deref()
            .and_then(|c| self.settings.station(c));
        let from_station =
            station.is_some_and(|s| s.emails.iter().any(|e| e.eq_ignore_ascii_case(&msg.from)));
        let from_handler = ticket.handler.eq_ignore_ascii_case(&msg.from);
        if !from_station && !from_handler {
            self.event(
                tx,
                number,
                "refused",
                Some(&msg.from),
                msg.message_id.as_deref(),
                Some("sender not allowed"),
            )
            .await?;
            return Ok(Disposition::Quarantined {
                ticket: Some(number.clone()),
                reason: format!("{} may not act on {number}", msg.from),
            });
        }
        let action = msg.action.map(|a| a.as_str()).unwrap_or("update");
        self.event(
            tx,
            number,
            &format!("reply:{action}"),
            Some(&msg.from),
            msg.message_id.as_deref(),
            Some(&msg.reply_text),
        )
        .await?;
        if from_station {
            let extra =
                json!({ "reply": { "from": msg.from, "action": action, "text": msg.reply_text } });
            self.send(
                tx,
                "relay",
                &ticket,
                station,
                &extra,
                vec![ticket.handler.clone()],
                vec![],
                msg.message_id.clone(),
                msg.attachments.clone(),
                false,
            )
            .await?;
        }
        Ok(Disposition::Handled {
            ticket: Some(number.clone()),
            note: format!("reply {action}"),
        })
    }

    async fn auto_reply(&self, tx: &mut Tx, msg: &Parsed) -> anyhow::Result<Disposition> {
        // Never answered and never a response; only noted on the ticket.
        if let Some(number) = &msg.ticket
            && tx.ticket(number).await?.is_some()
        {
            self.event(
                tx,
                number,
                "auto_reply",
                Some(&msg.from),
                msg.message_id.as_deref(),
                None,
            )
            .await?;
        }
        Ok(Disposition::Handled {
            ticket: msg.ticket.clone(),
            note: "auto-reply ignored".into(),
        })
    }

    async fn bounce(&self, tx: &mut Tx, msg: &Parsed) -> anyhow::Result<Disposition> {
        if let Some(number) = &msg.ticket
            && tx.ticket(number).await?.is_some()
        {
            self.event(
                tx,
                number,
                "bounce",
                Some(&msg.from),
                msg.message_id.as_deref(),
                None,
            )
            .await?;
        }
        Ok(Disposition::Handled {
            ticket: msg.ticket.clone(),
            note: "bounce noted".into(),
        })
    }

    /// Tells the sender what is wrong with the form, naming the fields.
    async fn problem_reply(
        &self,
        tx: &mut Tx,
        msg: &Parsed,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let ctx = json!({
            "message": { "subject": msg.subject, "from": msg.from },
            "problems": msg.problems,
        });
        let rendered = self
            .templates
            .render("problem", &self.context(None, None, &ctx))?;
        let draft = Draft {
            to: vec![msg.from.clone()],
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            in_reply_to: msg.message_id.clone(),
            auto_submitted: true,
            ..Draft::default()
        };
        let key = format!(
            "problem:{}",
            msg.message_id.as_deref().unwrap_or(&msg.subject)
        );
        self.enqueue(tx, key, None, "problem", &draft, now).await
    }

    /// Renders template `name` about `ticket` and queues it.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        tx: &mut Tx,
        name: &str,
        ticket: &Ticket,
        station: Option<&Station>,
        extra: &Value,
        to: Vec<String>,
        cc: Vec<String>,
        in_reply_to: Option<String>,
        attachments: Vec<crate::intake::Attachment>,
        auto_submitted: bool,
    ) -> anyhow::Result<()> {
        let rendered = self
            .templates
            .render(name, &self.context(Some(ticket), station, extra))?;
        let draft = Draft {
            to,
            cc,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            attachments,
            in_reply_to,
            auto_submitted,
        };
        let key = match &extra.get("key") {
            Some(Value::String(k)) => format!("{}:{k}", ticket.number),
            _ => format!("{}:{name}:{}", ticket.number, in_reply_key(&draft)),
        };
        self.enqueue(
            tx,
            key,
            Some(&ticket.number),
            name,
            &draft,
            self.clock.now(),
        )
        .await
    }

    async fn enqueue(
        &self,
        tx: &mut Tx,
        key: String,
        ticket: Option<&TicketNo>,
        purpose: &str,
        draft: &Draft,
        not_before: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let message_id =
            compose::message_id(ticket, purpose, &self.settings.smtp.message_id_domain);
        let body = compose::compose(
            draft,
            &self.from,
            &message_id,
            SystemTime::from(self.clock.now()),
        )?;
        let mail = OutboxMail {
            key,
            ticket: ticket.cloned(),
            message_id,
            envelope_from: self.settings.smtp.from.clone(),
            recipients: draft.recipients(),
            subject: draft.subject.clone(),
            body,
            not_before,
        };
        tx.enqueue(&mail, self.clock.now()).await?;
        Ok(())
    }

    async fn event(
        &self,
        tx: &mut Tx,
        ticket: &TicketNo,
        kind: &str,
        actor: Option<&str>,
        message_id: Option<&str>,
        detail: Option<&str>,
    ) -> anyhow::Result<()> {
        tx.add_event(&Event {
            ticket: ticket.clone(),
            at: self.clock.now(),
            kind: kind.into(),
            actor: actor.map(str::to_owned),
            message_id: message_id.map(str::to_owned),
            detail: detail.map(str::to_owned),
        })
        .await?;
        Ok(())
    }

    /// The template context: always the same keys, so strict templates fail
    /// on typos at start-up rather than on a missing value at run time.
    pub fn context(
        &self,
        ticket: Option<&Ticket>,
        station: Option<&Station>,
        extra: &Value,
    ) -> Value {
        let tz = self.calendar.tz();
        let local = |t: Option<DateTime<Utc>>| -> String {
            t.map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default()
        };
        let field_names = [
            "complaint_no",
            "urgency",
            "category",
            "station",
            "customer_name",
            "phone",
            "service_order",
            "product",
            "serial",
            "region",
            "address",
            "description",
            "demand",
            "handler",
            "reporter",
            "actions_taken",
            "major",
            "expected_resolution",
        ];
        let mut fields = serde_json::Map::new();
        for name in field_names {
            let value = ticket
                .and_then(|t| t.fields.get(name))
                .cloned()
                .unwrap_or(Value::Null);
            let text = match value {
                Value::Null => String::new(),
                Value::String(s) => s,
                Value::Bool(b) => if b { "是" } else { "否" }.into(),
                other => other.to_string(),
            };
            fields.insert(name.into(), Value::String(text));
        }
        let mut ctx = json!({
            "ticket": {
                "number": ticket.map(|t| t.number.as_str()).unwrap_or(""),
                "urgency": ticket.map(|t| t.urgency.chinese()).unwrap_or(""),
                "status": ticket.map(|t| t.status.as_str()).unwrap_or(""),
                "subject": ticket.map(|t| t.subject.as_str()).unwrap_or(""),
                "handler": ticket.map(|t| t.handler.as_str()).unwrap_or(""),
                "received_at": local(ticket.map(|t| t.received_at)),
                "reply_due": local(ticket.and_then(|t| t.reply_due)),
                "escalate_at": local(ticket.and_then(|t| t.escalate_at)),
                "result_due": local(ticket.and_then(|t| t.result_due)),
                "close_due": local(ticket.and_then(|t| t.close_due)),
                "extension_cap": local(ticket.and_then(|t| t.extension_cap)),
                "repeats": ticket.map(|t| t.repeats).unwrap_or(0),
            },
            "fields": fields,
            "station": {
                "code": station.map(|s| s.code.as_str()).unwrap_or(""),
                "name": station.map(|s| s.name.as_str()).unwrap_or(""),
            },
            "desk": {
                "address": self.settings.desk.dispatch_address,
            },
            "message": { "subject": "", "from": "" },
            "problems": [],
            "reply": { "from": "", "action": "", "text": "" },
            "reason": "",
        });
        if let (Value::Object(base), Value::Object(extra)) = (&mut ctx, extra) {
            for (k, v) in extra {
                base.insert(k.clone(), v.clone());
            }
        }
        ctx
    }

    /// A context with every key filled, for checking templates at start-up.
    pub fn sample_context(settings: &Settings) -> Value {
        let _ = settings;
        json!({
            "ticket": {
                "number": "TS-20261120-0001", "urgency": "加急", "status": "open", "subject": "投诉转出",
                "handler": "liujia@hq.example.test", "received_at": "2026-11-20 09:30",
                "reply_due": "2026-11-20 17:30", "escalate_at": "2026-11-20 17:30",
                "result_due": "2026-11-24 09:30", "close_due": "2026-11-25 09:30",
                "extension_cap": "2026-11-27 09:30", "repeats": 0,
            },
            "fields": {
                "complaint_no": "HC1", "urgency": "加急", "category": "服务类", "station": "BJ01",
                "customer_name": "马丽", "phone": "139", "service_order": "SO-1", "product": "E500",
                "serial": "S1", "region": "北京", "address": "海淀", "description": "报修后无人联系",
                "demand": "上门", "handler": "刘嘉", "reporter": "林工", "actions_taken": "致歉",
                "major": "否", "expected_resolution": "",
            },
            "station": { "code": "BJ01", "name": "北京海淀服务站" },
            "desk": { "address": "complaints@hq.example.test" },
            "message": { "subject": "投诉转出", "from": "liujia@hq.example.test" },
            "problems": ["missing required field: urgency"],
            "reply": { "from": "station-bj01@stations.example.test", "action": "contacted", "text": "已联系" },
            "reason": "sender not allowed",
        })
    }
}

/// Distinguishes mails of one template about one ticket by what they answer.
fn in_reply_key(draft: &Draft) -> String {
    draft.in_reply_to.clone().unwrap_or_default()
}
