//! The daemon's JSON log, read back for the moments it records: IDLE ended,
//! a message committed, a mail accepted by the SMTP server.

use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

use complaintd::ticket::TicketNo;
use serde_json::Value;

/// When things happened inside the daemon.
#[derive(Default)]
pub struct Moments {
    /// Every time an IDLE ended, in order.
    pub idle_ended: Vec<SystemTime>,
    /// Ticket → when its complaint was committed.
    pub committed: HashMap<String, SystemTime>,
    /// Ticket → when the SMTP server accepted its forward.
    pub forward_sent: HashMap<String, SystemTime>,
    /// Ticket → when the SMTP server accepted its acknowledgement.
    pub ack_sent: HashMap<String, SystemTime>,
    /// Lines at WARN or above, for the report.
    pub warnings: Vec<String>,
}

impl Moments {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let mut m = Moments::default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            let Some(at) = v["timestamp"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| SystemTime::from(t.with_timezone(&chrono::Utc)))
            else {
                continue;
            };
            let fields = &v["fields"];
            let ticket = |name: &str| fields[name].as_str().and_then(TicketNo::find_in).map(|t| t.to_string());
            match fields["message"].as_str().unwrap_or_default() {
                "IMAP: IDLE ended" => m.idle_ended.push(at),
                "intake: handled" => {
                    if let Some(t) = ticket("ticket") {
                        m.committed.insert(t, at);
                    }
                }
                "outbox: sent" => {
                    let key = fields["key"].as_str().unwrap_or_default();
                    if let Some(t) = ticket("key") {
                        if key.contains(":forward:") {
                            m.forward_sent.insert(t, at);
                        } else if key.contains(":ack:") {
                            m.ack_sent.insert(t, at);
                        }
                    }
                }
                _ => {}
            }
            if matches!(v["level"].as_str(), Some("WARN" | "ERROR")) && m.warnings.len() < 20 {
                m.warnings.push(line.to_owned());
            }
        }
        Ok(m)
    }

    /// The last IDLE end in `[from, to]`: the wake-up that brought a message in.
    pub fn idle_ended_between(&self, from: SystemTime, to: SystemTime) -> Option<SystemTime> {
        self.idle_ended.iter().rev().find(|&&t| t >= from && t <= to).copied()
    }
}
