//! What is wrong with a config, key by key: every problem `check-config`
//! and start-up report, with its dotted key.

use std::collections::HashSet;

use super::Settings;
use super::directory::Column;

impl Settings {
    /// Everything wrong with the values, as (key, message), the key as
    /// written in the file (`stations[2].emails[0]`), section by section.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut found = self.problems_of_settings();
        if self.mailbox.max_attempts == 0 {
            found.push(("mailbox.max_attempts".into(), "must be at least 1".into()));
        }
        found.extend(self.mailbox.limits.problems(self.mailbox.max_attachment_bytes));
        for (i, user) in self.http.iter().flat_map(|h| &h.users).enumerate() {
            if argon2::password_hash::phc::PasswordHash::new(&user.password_hash).is_err() {
                let message = "not an Argon2 PHC string (make one with `complaintd hash-password`)".into();
                found.push((format!("http.users[{i}].password_hash"), message));
            }
            if user.name.trim().is_empty() {
                found.push((format!("http.users[{i}].name"), "must not be empty".into()));
            }
        }
        found
    }

    /// How problems name field `column` (item `item`) of the `i`th station:
    /// `stations[2].emails[0]` in this file, or its row and column in
    /// `stations_file`.
    fn station_key(&self, i: usize, column: Column, item: Option<usize>) -> String {
        if let Some(dir) = &self.directory
            && let Some(row) = i.checked_sub(dir.first).and_then(|k| dir.rows.get(k))
        {
            return dir.key(*row, column);
        }
        format!("stations[{i}].{}{}", column.field(), item.map(|j| format!("[{j}]")).unwrap_or_default())
    }

    fn problems_of_settings(&self) -> Vec<(String, String)> {
        let mut found = self.directory.as_ref().map(|d| d.problems.clone()).unwrap_or_default();
        for (key, server) in [("mailbox.server", &self.mailbox.server), ("smtp.server", &self.smtp.server)] {
            if !server.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()) {
                found.push((key.into(), format!("{server:?} is not host:port")));
            }
        }
        let url = &self.database.url;
        if !["sqlite://", "postgres://", "postgresql://"].iter().any(|p| url.starts_with(p)) {
            found.push(("database.url".into(), "not sqlite://PATH or postgres://…".into()));
        }
        let mut address = |key: String, value: &str| {
            if !is_plain_address(value) {
                found.push((key, format!("{value:?} is not an email address (a plain local@domain)")));
            }
        };
        address("smtp.from".into(), &self.smtp.from);
        let desk = &self.desk;
        address("desk.dispatch_address".into(), &desk.dispatch_address);
        for (i, a) in desk.pre_report_addresses.iter().enumerate() {
            address(format!("desk.pre_report_addresses[{i}]"), a);
        }
        for (i, a) in desk.call_center_senders.iter().enumerate() {
            // `@domain` allows a whole domain: checked as an address in it.
            address(
                format!("desk.call_center_senders[{i}]"),
                &if a.starts_with('@') { format!("x{a}") } else { a.clone() },
            );
        }
        for (i, h) in desk.handlers.iter().enumerate() {
            address(format!("desk.handlers[{i}]"), h.address());
        }
        address("desk.supervisor".into(), &desk.supervisor);
        address("desk.channel_management".into(), &desk.channel_management);
        for (i, st) in self.stations.iter().enumerate() {
            for (j, a) in st.emails.iter().enumerate() {
                address(self.station_key(i, Column::Emails, Some(j)), a);
            }
            for (j, a) in st.backups.iter().enumerate() {
                address(self.station_key(i, Column::Backups, Some(j)), a);
            }
            address(self.station_key(i, Column::Manager, None), &st.manager);
        }
        if desk.call_center_senders.is_empty() {
            found.push(("desk.call_center_senders".into(), "nobody may send complaints".into()));
        }
        let (mut codes, mut names, mut emails) = (HashSet::new(), HashSet::new(), Vec::<(String, &str)>::new());
        for (i, s) in self.stations.iter().enumerate() {
            if s.code.trim().is_empty() {
                found.push((self.station_key(i, Column::Code, None), "a station needs a code".into()));
            } else if !codes.insert(s.code.to_ascii_uppercase()) {
                found.push((self.station_key(i, Column::Code, None), format!("duplicate station {}", s.code)));
            }
            // Forms may name the station instead of its code: a name must say which.
            if !names.insert(s.name.trim().to_lowercase()) {
                found.push((self.station_key(i, Column::Name, None), format!("duplicate station name {}", s.name)));
            }
            if s.emails.is_empty() {
                found.push((self.station_key(i, Column::Emails, None), "a station needs an address".into()));
            }
            // A reply is accepted from the ticket's station: an address must say which.
            for (j, e) in s.emails.iter().enumerate() {
                match emails.iter().find(|(other, _)| other.eq_ignore_ascii_case(e)) {
                    Some((_, code)) => found.push((
                        self.station_key(i, Column::Emails, Some(j)),
                        format!("{e} is also an address of {code}"),
                    )),
                    None => emails.push((e.clone(), &s.code)),
                }
            }
        }
        found.extend(self.replies.problems());
        if let Err(e) = self.reports.monthly_schedule() {
            found.push(("reports.monthly".into(), format!("{:?}: {e}", self.reports.monthly)));
        }
        if let Err(e) = self.reports.weekly_schedule() {
            found.push(("reports.weekly".into(), format!("{:?}: {e}", self.reports.weekly)));
        }
        // A healthy intake ends a round at least every poll_seconds.
        if let Some(m) = &self.metrics
            && m.intake_stale_seconds <= self.mailbox.poll_seconds
        {
            let poll = self.mailbox.poll_seconds;
            found.push((
                "metrics.intake_stale_seconds".into(),
                format!("{} must exceed mailbox.poll_seconds ({poll})", m.intake_stale_seconds),
            ));
        }
        let codes: Vec<&str> = self.stations.iter().map(|s| s.code.as_str()).collect();
        found.extend(self.auth.problems(&codes));
        if let Some(dkim) = &self.dkim {
            found.extend(dkim.problems(&self.smtp.from, &self.base_dir));
        }
        found
    }
}

/// Whether `value` is a plain addr-spec: `local@domain`, the local part
/// letters, digits and ``.#$&'*+/=?^_`{|}~-``, without `%` or `!` (routing
/// through another host), no quotes, no source route, no display name.
pub fn is_plain_address(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else { return false };
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || ".#$&'*+/=?^_`{|}~-".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok && value.parse::<lettre::Address>().is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_addresses_are_accepted() {
        use super::is_plain_address as plain;
        assert!(plain("zhang.san@cc.example.com") && plain("a+b@x.cn"));
        for bad in ["a%b@x.cn", "a!b@x.cn", "\"a b\"@x.cn", "@x.cn:a@y.cn", "A <a@x.cn>", "a@x..cn", "a@", "a@-x.cn"] {
            assert!(!plain(bad), "{bad}");
        }
    }
}
