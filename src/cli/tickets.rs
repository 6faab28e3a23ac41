//! The operator's console, `complaintd tickets …`: a table of tickets, one
//! ticket's timeline with its deadlines, and the operator's actions, which go
//! through `Desk::operate` in one transaction like a reply by mail.

use anyhow::Context as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::config::Settings;
use crate::deadline;
use crate::desk::{Desk, OperatorAction, OperatorError, view};
use crate::printable::one_line;
use crate::store::{Store, TicketQuery};
use crate::ticket::{Status, TicketNo};

/// What the operator works with: the desk's logic and its database.
pub struct Console {
    pub desk: Desk,
    pub store: Store,
    /// Recorded as the actor of every action (`operator:LOGIN`).
    pub actor: String,
}

/// Which tickets `tickets list` shows, as the operator typed it.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// A station code, any case.
    pub station: Option<String>,
    /// A state name (`open`, `closed`, …).
    pub status: Option<String>,
    /// Only tickets past a deadline now.
    pub overdue: bool,
}

/// One line of the `tickets list` table.
#[derive(Debug, Clone)]
struct Row {
    ticket: String,
    station: String,
    urgency: &'static str,
    status: &'static str,
    received: String,
    /// The earliest deadline still owed, e.g. `reply 2026-11-17 09:30`.
    next_deadline: Option<String>,
    overdue: bool,
}

impl Console {
    /// Loads calendar and templates and opens the database named by the
    /// settings (or `COMPLAINTD_DATABASE_URL`).
    pub async fn open(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        let store = crate::setup::store(&settings).await?;
        let desk = crate::setup::desk(settings, clock)?;
        let login = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default();
        let actor = if login.is_empty() { "operator".to_owned() } else { format!("operator:{login}") };
        Ok(Self { desk, store, actor })
    }

    /// A time as the desk writes it: local, to the minute.
    fn local(&self, t: DateTime<Utc>) -> String {
        view::local(&self.desk, t)
    }

    /// A time for JSON: RFC 3339 with the local offset.
    fn rfc3339(&self, t: DateTime<Utc>) -> String {
        view::rfc3339(&self.desk, t)
    }

    /// Parses `YYYY-MM-DD HH:MM` as local time on the desk's calendar.
    pub fn parse_local(&self, text: &str) -> anyhow::Result<DateTime<Utc>> {
        let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M")
            .with_context(|| format!("{text:?} is not a local time like \"2026-11-20 18:00\""))?;
        naive
            .and_local_timezone(self.desk.calendar.tz())
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .with_context(|| format!("{text:?} does not exist in {}", self.desk.calendar.tz()))
    }

    /// `tickets list`: a table, or a JSON array with `json`.
    pub async fn list(&self, filter: &ListFilter, json: bool) -> anyhow::Result<String> {
        let settings = &self.desk.settings;
        let station = match &filter.station {
            Some(code) => Some(settings.station(code).map(|s| s.code.clone()).with_context(|| {
                let known: Vec<&str> = settings.stations.iter().map(|s| s.code.as_str()).collect();
                format!("--station {code:?}: no such station (known: {})", known.join(", "))
            })?),
            None => None,
        };
        let status = match &filter.status {
            Some(s) => Some(Status::parse(s).with_context(|| {
                format!("--status {s:?}: no such state (unrouted, open, contacted, resolved, closed)")
            })?),
            None => None,
        };
        let now = self.desk.clock.now();
        let query = TicketQuery { station: station.as_deref(), status, overdue_at: filter.overdue.then_some(now) };
        let tickets = self.store.find_tickets(&query).await?;
        let with_next = tickets.iter().map(|t| (t, deadline::next_due(t)));
        if json {
            let list: Vec<Value> = with_next
                .map(|(t, next)| {
                    json!({
                        "ticket": t.number,
                        "station": t.station,
                        "urgency": t.urgency.as_str(),
                        "status": t.status.as_str(),
                        "received_at": self.rfc3339(t.received_at),
                        "next_deadline": next.map(|(m, due)| json!({
                            "milestone": m.as_str(), "due": self.rfc3339(due),
                        })),
                        "overdue": next.is_some_and(|(_, due)| due <= now),
                    })
                })
                .collect();
            return Ok(serde_json::to_string_pretty(&list)?);
        }
        let rows: Vec<Row> = with_next
            .map(|(t, next)| Row {
                ticket: t.number.to_string(),
                station: t.station.clone().unwrap_or_default(),
                urgency: t.urgency.as_str(),
                status: t.status.as_str(),
                received: self.local(t.received_at),
                next_deadline: next.map(|(m, due)| format!("{} {}", m.as_str(), self.local(due))),
                overdue: next.is_some_and(|(_, due)| due <= now),
            })
            .collect();
        Ok(table(&rows))
    }

    /// `tickets show`: the ticket, its deadlines and planned alerts, and
    /// its timeline (mail in, mail out, events) in local time.
    pub async fn show(&self, number: &TicketNo, json: bool) -> anyhow::Result<String> {
        let ticket = self.store.ticket(number).await?.with_context(|| format!("no ticket {number}"))?;
        let timeline = view::timeline(&self.store, number).await?;
        let deadlines = view::deadline_lines(&self.desk, &ticket);
        let alerts = view::planned_alerts(&self.desk, &ticket);
        let provisional = self.desk.provisional_years(&ticket);
        if json {
            let j = |t: Option<DateTime<Utc>>| t.map(|t| self.rfc3339(t));
            let out = json!({
                "ticket": ticket.number,
                "kind": ticket.kind.as_str(),
                "status": ticket.status.as_str(),
                "urgency": ticket.urgency.as_str(),
                "station": ticket.station,
                "handler": ticket.handler,
                "subject": ticket.subject,
                "fields": ticket.fields,
                "received_at": self.rfc3339(ticket.received_at),
                "dispatched_at": j(ticket.dispatched_at),
                "first_reply_at": j(ticket.first_reply_at),
                "result_at": j(ticket.result_at),
                "closed_at": j(ticket.closed_at),
                "valid": ticket.valid,
                "extended": ticket.extended,
                "pre_reported": ticket.pre_reported,
                "major": ticket.major,
                "linked_to": ticket.linked_to,
                "repeats": ticket.repeats,
                "deadlines": deadlines.iter().map(|d| d.to_json(&self.desk)).collect::<Vec<_>>(),
                "provisional": !provisional.is_empty(),
                "provisional_years": provisional,
                "alerts": alerts.iter().map(|(key, level, at)| json!({
                    "key": key, "level": level, "send_at": self.rfc3339(*at),
                })).collect::<Vec<_>>(),
                "timeline": timeline.iter().map(|e| e.to_json(&self.desk)).collect::<Vec<_>>(),
            });
            return Ok(serde_json::to_string_pretty(&out)?);
        }
        let mut out = String::new();
        let field = |name: &str| ticket.fields.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
        let station = match ticket.station.as_deref() {
            Some(code) => {
                let name = self.desk.settings.station(code).map(|s| s.name.as_str()).unwrap_or("(not configured)");
                format!("{code} {name}")
            }
            None => "(none)".into(),
        };
        out.push_str(&format!(
            "{}  {}  {}  {}\n",
            ticket.number,
            ticket.kind.as_str(),
            ticket.urgency.as_str(),
            ticket.status.as_str()
        ));
        let mut info = vec![
            ("subject", ticket.subject.clone()),
            ("station", station),
            ("handler", ticket.handler.clone()),
            ("customer", format!("{} {}", field("customer_name"), field("phone")).trim().to_owned()),
            ("service order", field("service_order")),
            ("category", field("category")),
            ("received", self.local(ticket.received_at)),
        ];
        if let Some(valid) = ticket.valid {
            info.push(("assessment", if valid { "valid" } else { "invalid" }.into()));
        }
        let mut flags = Vec::new();
        if ticket.pre_reported {
            flags.push("pre-reported".to_owned());
        }
        if ticket.major {
            flags.push("major".to_owned());
        }
        if ticket.extended {
            flags.push("extended".to_owned());
        }
        if ticket.repeats > 0 {
            flags.push(format!("repeated {}x", ticket.repeats));
        }
        if let Some(l) = &ticket.linked_to {
            flags.push(format!("linked to {l}"));
        }
        if !flags.is_empty() {
            info.push(("flags", flags.join(", ")));
        }
        for (k, v) in info.into_iter().filter(|(_, v)| !v.is_empty()) {
            // From mail: a subject or form field cannot repaint the terminal.
            out.push_str(&format!("  {k:<14} {}\n", one_line(&v)));
        }
        out.push_str("\nDeadlines\n");
        if !provisional.is_empty() {
            let years: Vec<String> = provisional.iter().map(|y| y.to_string()).collect();
            out.push_str(&format!(
                "  provisional: no official holiday arrangement for {} yet; these may move when it is imported\n",
                years.join(", ")
            ));
        }
        if deadlines.is_empty() {
            out.push_str("  (none: not dispatched to a station)\n");
        }
        for d in &deadlines {
            out.push_str(&format!("  {:<14} {}  {}\n", d.name, self.local(d.due), d.state(&self.desk)));
        }
        if !alerts.is_empty() {
            out.push_str("\nPlanned alerts\n");
            for (key, level, at) in &alerts {
                out.push_str(&format!("  {}  {level:<10} {key}\n", self.local(*at)));
            }
        }
        out.push_str("\nTimeline\n");
        for e in &timeline {
            // Senders, subjects, details and errors come from outside: one
            // line each, no escape sequences (no forged timeline lines).
            out.push_str(&format!("  {}  {:<5} {}\n", self.local(e.at()), e.label(), one_line(&e.text(&self.desk))));
        }
        Ok(out)
    }

    /// Applies an operator's action in one transaction; returns what was done.
    pub async fn act(
        &self,
        number: &TicketNo,
        action: &OperatorAction,
        note: Option<&str>,
    ) -> Result<String, OperatorError> {
        // A reassigned forward's original attachments are added by the
        // daemon's outbox when it sends it (read back from the Handled folder).
        let mut tx = self.store.begin().await?;
        let done = self.desk.operate(&mut tx, number, action, &self.actor, note).await?;
        tx.commit().await?;
        Ok(format!("{number}: {done}"))
    }
}

/// The rows as an aligned text table (every cell is ASCII, so byte widths
/// are display widths).
fn table(rows: &[Row]) -> String {
    let header = ["TICKET", "STATION", "URGENCY", "STATUS", "RECEIVED", "NEXT DEADLINE", ""];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.ticket.clone(),
                if r.station.is_empty() { "-".into() } else { r.station.clone() },
                r.urgency.into(),
                r.status.into(),
                r.received.clone(),
                r.next_deadline.clone().unwrap_or_else(|| "-".into()),
                if r.overdue { "OVERDUE".into() } else { String::new() },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        parts.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(&header.map(str::to_owned));
    for row in &cells {
        out.push_str(&line(row));
    }
    out.push_str(&format!("{} ticket(s)\n", rows.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_columns_and_marks_overdue() {
        let row = |ticket: &str, station: &str, overdue: bool| Row {
            ticket: ticket.into(),
            station: station.into(),
            urgency: "normal",
            status: "open",
            received: "2026-11-16 09:30".into(),
            next_deadline: Some("reply 2026-11-18 09:30".into()),
            overdue,
        };
        let out = table(&[row("TS-20261116-0001", "BJ01", true), row("TS-20261116-12345", "", false)]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(lines[0].starts_with("TICKET             STATION  URGENCY"), "{out}");
        assert!(lines[1].ends_with("reply 2026-11-18 09:30  OVERDUE"), "{out}");
        assert!(lines[2].contains("TS-20261116-12345  -  "), "{out}");
        assert!(!lines[2].contains("OVERDUE"));
        assert_eq!(lines[3], "2 ticket(s)");
        assert_eq!(table(&[]), "TICKET  STATION  URGENCY  STATUS  RECEIVED  NEXT DEADLINE\n0 ticket(s)\n");
    }
}
