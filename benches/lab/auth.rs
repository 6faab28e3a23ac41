//! Auth: the backlog with authentication on against off, on mail that is
//! really signed. Each complaint is DKIM-signed with the lab's key for
//! hq.example.test (as HQ's submission server signs it) before it is
//! appended, so "on" (`mode = "enforce"`) verifies a real signature against
//! the lab's DNS for every mail and enforces the call center's `pass`; "off"
//! (`mode = "off"`) verifies nothing; "signed" is "on" with the desk also
//! signing its own mail (`[dkim]`, the lab's RSA-2048 key), whose cost falls
//! mostly on the lab's MX, which verifies every signed mail it is given;
//! "ed25519" signs with the lab's Ed25519 key instead. The runs go off, on,
//! signed, ed25519, ed25519, signed, on, off, so a drift in the machine's
//! load falls on every side. Beside them, the in-process cost per mail of
//! verifying and of signing.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use complaintd::auth::{AuthSettings, DkimSettings, Outcome, Signer, Verifier};
use serde::Serialize;

use crate::backlog::{CONNECTIONS, drain};
use crate::rig::{Lab, Network, STATIONS, imap_login, write_config};

/// Mails verified (and signed) one after another for the per-mail cost.
const SAMPLE: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    On,
    /// On, the desk signing with the lab's RSA-2048 key.
    Signed,
    /// On, the desk signing with the lab's Ed25519 key.
    Ed25519,
    Off,
}

#[derive(Debug, Serialize)]
pub struct Run {
    pub side: Side,
    /// Daemon start → every forward in the station inboxes, seconds.
    pub desk_secs: f64,
    /// … and every copy and acknowledgement in the handler's inbox, seconds.
    pub drain_secs: f64,
    pub cpu_secs: f64,
    pub peak_rss_kib: u64,
}

#[derive(Debug, Serialize)]
pub struct Auth {
    pub mails: usize,
    pub runs: Vec<Run>,
    /// Mean of the "on" runs' start → every forward, seconds.
    pub on_secs: f64,
    pub off_secs: f64,
    pub signed_secs: f64,
    /// Rate with auth on / rate with auth off.
    pub fraction: f64,
    /// Rate with auth on and the desk signing / rate with auth off.
    pub signed_fraction: f64,
    /// … signing with Ed25519.
    pub ed25519_secs: f64,
    pub ed25519_fraction: f64,
    /// Daemon CPU per complaint, ms, on, signed and off.
    pub on_cpu_ms: f64,
    pub signed_cpu_ms: f64,
    pub ed25519_cpu_ms: f64,
    pub off_cpu_ms: f64,
    /// In-process verification of a signed complaint, key fetched from DNS, ms.
    pub verify_cold_ms: f64,
    /// … with the key cached, µs per mail.
    pub verify_warm_us: f64,
    /// … of an unsigned complaint, µs per mail.
    pub verify_unsigned_us: f64,
    /// Signing one complaint with the lab's RSA key, µs.
    pub sign_us: f64,
    /// … with its Ed25519 key, µs.
    pub sign_ed25519_us: f64,
}

/// The lab's RSA key for hq.example.test (`scripts/lab` writes it).
fn hq_dkim(lab: &Lab) -> DkimSettings {
    DkimSettings {
        domain: "hq.example.test".into(),
        selector: std::env::var("COMPLAINTD_LAB_DKIM_SELECTOR").unwrap_or_else(|_| "lab".into()),
        key_file: lab.dir.join("dkim/hq.example.test.private"),
    }
}

/// The lab's Ed25519 key for hq.example.test.
fn hq_ed25519(lab: &Lab) -> DkimSettings {
    DkimSettings {
        domain: "hq.example.test".into(),
        selector: std::env::var("COMPLAINTD_LAB_DKIM_ED25519_SELECTOR").unwrap_or_else(|_| "ed".into()),
        key_file: lab.dir.join("dkim/hq.example.test.ed25519.pem"),
    }
}

/// Puts N signed complaints into `net`'s shared mailbox.
async fn fill_signed(lab: &Lab, net: &Network, n: usize, signer: &Signer) -> anyhow::Result<()> {
    let mut mails = Vec::with_capacity(n);
    for i in 0..n {
        mails.push(signer.sign(&net.complaint(i, STATIONS[i % STATIONS.len()]))?);
    }
    let mails = std::sync::Arc::new(mails);
    let mut tasks = Vec::new();
    for k in 0..CONNECTIONS {
        let (lab, net, mails) = (lab.clone(), net.clone(), mails.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = imap_login(&lab, &net.dispatch()).await?;
            for mail in mails.iter().skip(k).step_by(CONNECTIONS) {
                s.append("INBOX", None, None, mail).await?;
            }
            s.logout().await?;
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// The example config for `net`: enforcing (on), and signing (signed), or verifying nothing (off).
fn config(lab: &Lab, net: &Network, dir: &Path, side: Side) -> anyhow::Result<std::path::PathBuf> {
    let path = write_config(lab, net, dir)?;
    let text = std::fs::read_to_string(&path)?;
    let text = match side {
        Side::Off => text.replace("mode = \"report\"", "mode = \"off\""),
        Side::On => text.replace("mode = \"report\"", "mode = \"enforce\""),
        Side::Signed | Side::Ed25519 => {
            let d = if side == Side::Signed { hq_dkim(lab) } else { hq_ed25519(lab) };
            let dkim = format!(
                "\n[dkim]\ndomain = \"{}\"\nselector = \"{}\"\nkey_file = \"{}\"\n",
                d.domain,
                d.selector,
                d.key_file.display()
            );
            text.replace("mode = \"report\"", "mode = \"enforce\"") + &dkim
        }
    };
    std::fs::write(&path, text)?;
    Ok(path)
}

/// [`SAMPLE`] complaints of a fresh network, unsigned.
fn sample(prefix: &str) -> Vec<Vec<u8>> {
    let net = Network::new(prefix);
    (0..SAMPLE).map(|i| net.complaint(i, STATIONS[i % STATIONS.len()])).collect()
}

/// `plain` signed by `signer`, and the µs that took per mail.
fn sign_timed(signer: &Signer, plain: &[Vec<u8>]) -> anyhow::Result<(Vec<Vec<u8>>, f64)> {
    let started = Instant::now();
    let signed: Vec<Vec<u8>> = plain.iter().map(|m| signer.sign(m)).collect::<Result<_, _>>()?;
    Ok((signed, started.elapsed().as_secs_f64() * 1e6 / plain.len() as f64))
}

/// The per-mail cost of verifying (cold, warm, unsigned) and signing.
async fn per_mail(lab: &Lab, signer: &Signer) -> anyhow::Result<(f64, f64, f64, f64)> {
    let settings = AuthSettings { resolver: Some(lab.dns.clone()), ..AuthSettings::default() };
    let verifier = Verifier::new(&settings)?;
    let plain = sample("v");
    let (signed, sign_us) = sign_timed(signer, &plain)?;
    let started = Instant::now();
    let first = verifier.verify(&signed[0]).await;
    let cold_ms = started.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(first.verdict == Outcome::Pass, "the bench's signed mail does not pass: {}", first.describe());
    let timed = |mails: &[Vec<u8>]| {
        let verifier = &verifier;
        let mails = mails.to_vec();
        async move {
            let started = Instant::now();
            for m in &mails {
                verifier.verify(m).await;
            }
            started.elapsed().as_secs_f64() * 1e6 / mails.len() as f64
        }
    };
    let warm_us = timed(&signed).await;
    let unsigned_us = timed(&plain).await;
    Ok((cold_ms, warm_us, unsigned_us, sign_us))
}

pub async fn run(lab: &Lab, n: usize, work: &Path) -> anyhow::Result<Auth> {
    let patience = Duration::from_secs(if n > 1000 { 600 } else { 180 });
    let signer = Signer::load(&hq_dkim(lab), Path::new("/")).context("the lab's hq key (scripts/lab up)")?;
    let (verify_cold_ms, verify_warm_us, verify_unsigned_us, sign_us) = per_mail(lab, &signer).await?;
    let ed25519 = Signer::load(&hq_ed25519(lab), Path::new("/")).context("the lab's hq Ed25519 key")?;
    let (_, sign_ed25519_us) = sign_timed(&ed25519, &sample("e"))?;
    let mut runs = Vec::new();
    let order = [Side::Off, Side::On, Side::Signed, Side::Ed25519, Side::Ed25519, Side::Signed, Side::On, Side::Off];
    for side in order {
        lab.wait_for_empty_queue(patience).await?;
        let net = Network::new(match side {
            Side::On => "an",
            Side::Signed => "as",
            Side::Ed25519 => "ae",
            Side::Off => "af",
        });
        fill_signed(lab, &net, n, &signer).await.context("filling the shared mailbox")?;
        let dir = work.join(&net.prefix);
        let config = config(lab, &net, &dir, side)?;
        let db = format!("sqlite://{}", dir.join("complaintd.db").display());
        let d = drain(lab, &net, &config, &db, &dir, n, patience).await?;
        eprintln!("bench: auth {side:?}: {n} forwards in {:.2} s", d.forwarded);
        runs.push(Run {
            side,
            desk_secs: d.forwarded,
            drain_secs: d.drained,
            cpu_secs: d.cpu_secs,
            peak_rss_kib: d.peak_rss_kib,
        });
    }
    let mean = |side: Side, f: fn(&Run) -> f64| {
        let of: Vec<f64> = runs.iter().filter(|r| r.side == side).map(f).collect();
        of.iter().sum::<f64>() / of.len() as f64
    };
    let (on_secs, off_secs) = (mean(Side::On, |r| r.desk_secs), mean(Side::Off, |r| r.desk_secs));
    let signed_secs = mean(Side::Signed, |r| r.desk_secs);
    let ed25519_secs = mean(Side::Ed25519, |r| r.desk_secs);
    let cpu_ms = |side| mean(side, |r| r.cpu_secs) * 1000.0 / n as f64;
    Ok(Auth {
        mails: n,
        on_cpu_ms: cpu_ms(Side::On),
        signed_cpu_ms: cpu_ms(Side::Signed),
        ed25519_cpu_ms: cpu_ms(Side::Ed25519),
        off_cpu_ms: cpu_ms(Side::Off),
        runs,
        on_secs,
        signed_secs,
        off_secs,
        fraction: off_secs / on_secs,
        signed_fraction: off_secs / signed_secs,
        ed25519_secs,
        ed25519_fraction: off_secs / ed25519_secs,
        verify_cold_ms,
        verify_warm_us,
        verify_unsigned_us,
        sign_us,
        sign_ed25519_us,
    })
}

impl Auth {
    pub fn markdown(&self, o: &mut String) {
        let _ = writeln!(o, "### Backlog of {} signed complaints, auth on (enforce) against off\n", self.mails);
        let _ = writeln!(o, "| run | start → every forward | → handler's copies too | CPU per complaint | peak RSS |");
        let _ = writeln!(o, "|---|---:|---:|---:|---:|");
        for r in &self.runs {
            let _ = writeln!(
                o,
                "| {:?} | {:.2} s | {:.2} s | {:.2} ms | {:.1} MiB |",
                r.side,
                r.desk_secs,
                r.drain_secs,
                r.cpu_secs * 1000.0 / self.mails as f64,
                r.peak_rss_kib as f64 / 1024.0
            );
        }
        let met = if self.fraction >= 0.9 { "met" } else { "**missed**" };
        let _ = writeln!(
            o,
            "\nAuth on runs at {:.0} % of auth off (mean {:.2} s against {:.2} s; target within 10 %: {met}); \
             with the desk signing its mail too, {:.0} % ({:.2} s) with RSA-2048 and {:.0} % ({:.2} s) with \
             Ed25519. Daemon CPU per complaint: {:.2} ms on, {:.2} ms signed (RSA), {:.2} ms signed (Ed25519), \
             {:.2} ms off.\n",
            self.fraction * 100.0,
            self.on_secs,
            self.off_secs,
            self.signed_fraction * 100.0,
            self.signed_secs,
            self.ed25519_fraction * 100.0,
            self.ed25519_secs,
            self.on_cpu_ms,
            self.signed_cpu_ms,
            self.ed25519_cpu_ms,
            self.off_cpu_ms
        );
        let _ = writeln!(
            o,
            "Per mail, in process: verifying a signed complaint {:.0} µs with the key cached ({:.1} ms for the \
             first, the key fetched from the lab's DNS), an unsigned one {:.0} µs; signing one {:.0} µs \
             (RSA-2048), {:.0} µs (Ed25519).\n",
            self.verify_warm_us, self.verify_cold_ms, self.verify_unsigned_us, self.sign_us, self.sign_ed25519_us
        );
    }
}
