//! `check-config --connect`, authentication: that the desk's DKIM key is
//! the one published in DNS, and that our mail server stamps received mail
//! with a trusted authserv-id.
//!
//! The authserv-id is checked on mail the desk already received (the
//! newest messages of the handled folder, headers only), not by sending a
//! probe: a probe would land in a live desk's inbox, and its results would
//! only show once delivered, which a check with a timeout cannot wait for.
//! A desk with no received mail yet gets a warning, not a pass.

use crate::auth::{Outcome, Signer, Verifier, results};
use crate::config::{Secret, Settings};
use crate::mail::imap::Mailbox;
use crate::setup::password;

use super::level::Level;

/// How many of the newest handled messages are looked at.
const RECENT: usize = 20;
/// How long reading them may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The findings, as `(level, key, message)`.
pub async fn findings(s: &Settings) -> Vec<(Level, &'static str, String)> {
    let mut found = Vec::new();
    let verifier = match Verifier::new(&s.auth) {
        Ok(v) => v,
        Err(e) => return vec![(Level::Error, "auth.resolver", e.to_string())],
    };
    if let Some(dkim) = &s.dkim {
        match Signer::load(dkim, &s.base_dir) {
            Err(e) => found.push((Level::Error, "dkim.key_file", e.to_string())),
            Ok(signer) => {
                let name = format!("{}._domainkey.{}", dkim.selector, dkim.domain);
                let v = verifier.check_published(&signer).await;
                found.push(match v.verdict {
                    Outcome::Pass => (Level::Ok, "dkim", format!("{name} publishes the key of dkim.key_file")),
                    Outcome::TempError => {
                        (Level::Error, "dkim", format!("{name}: DNS did not answer: {}", v.describe()))
                    }
                    _ => (Level::Error, "dkim", format!("{name} does not verify our signature: {}", v.describe())),
                });
            }
        }
    }
    if s.auth.trusted_authserv_ids.is_empty() {
        found.push((
            Level::Warning,
            "auth.trusted_authserv_ids",
            "none: only signatures checked here count, not our mail server's results".into(),
        ));
        return found;
    }
    let looked = tokio::time::timeout(TIMEOUT, stamped(s))
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer in {TIMEOUT:?}")));
    match looked {
        Ok((seen, looked)) if seen > 0 => found.push((
            Level::Ok,
            "auth.trusted_authserv_ids",
            format!("{seen} of the {looked} newest handled messages carry results of a trusted authserv-id"),
        )),
        Ok((_, looked)) => found.push((
            Level::Warning,
            "auth.trusted_authserv_ids",
            format!(
                "none of the {looked} newest handled messages carries results of {}: is it our MX's authserv-id?",
                s.auth.trusted_authserv_ids.join(", ")
            ),
        )),
        Err(e) => found.push((Level::Error, "auth.trusted_authserv_ids", format!("reading handled mail: {e:#}"))),
    }
    found
}

/// How many of the newest handled messages carry trusted results, of how many.
async fn stamped(s: &Settings) -> anyhow::Result<(usize, usize)> {
    let password = password(s.mailbox.password_env.as_deref(), s.mailbox.password.as_ref().map(Secret::expose))
        .ok_or_else(|| anyhow::anyhow!("no password"))?;
    let ca = s.mailbox.ca_file.as_ref().map(|p| s.resolve(p));
    let mut mailbox = Mailbox::open_folder(&s.mailbox, &password, ca.as_deref(), &s.mailbox.handled_folder).await?;
    let uids = mailbox.pending_uids().await?;
    let recent = &uids[uids.len().saturating_sub(RECENT)..];
    let fetched = mailbox.fetch(recent, 0, true).await;
    mailbox.logout().await;
    let fetched = fetched?;
    let seen = fetched
        .iter()
        .filter(|m| {
            let headers = unfold(&m.raw);
            !results::ours(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())), &s.auth.trusted_authserv_ids)
                .is_empty()
        })
        .count();
    Ok((seen, fetched.len()))
}

/// A header block as `(name, value)`, top first, continuation lines joined.
fn unfold(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push_str(line);
            }
        } else if let Some((n, v)) = line.split_once(':') {
            headers.push((n.to_owned(), v.to_owned()));
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    #[test]
    fn headers_unfold_top_first() {
        let h = super::unfold(b"Authentication-Results: mx;\r\n dkim=pass\r\nFrom: a@b\r\n\r\nX: body");
        assert_eq!(h, vec![("Authentication-Results".into(), " mx; dkim=pass".into()), ("From".into(), " a@b".into())]);
    }
}
