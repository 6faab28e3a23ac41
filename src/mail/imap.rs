//! The IMAP side: connect (IMAPS, STARTTLS or plaintext on loopback), log in,
//! search, fetch, move, and wait with IDLE. Every command has a timeout, so a
//! silent server cannot hang the daemon.

use std::collections::HashSet;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use async_imap::extensions::idle::IdleResponse;
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tracing::debug;

use crate::config::{MailboxSettings, TlsMode};

/// Longest any single command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How long fetching `bytes` may take: the command timeout, plus a second
/// per 256 KiB (a link as slow as 256 KiB/s still gets a large mail in).
pub fn fetch_timeout(bytes: u64) -> Duration {
    COMMAND_TIMEOUT + Duration::from_secs(bytes / (256 * 1024))
}

/// A connection that is either plaintext (lab only) or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Plain(_) => "Stream::Plain",
            Stream::Tls(_) => "Stream::Tls",
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type Session = async_imap::Session<Stream>;

/// The system's web PKI roots plus the configured extra CA.
pub fn tls_config(ca_file: Option<&std::path::Path>) -> anyhow::Result<Arc<ClientConfig>> {
    let pem = match ca_file {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("reading CA file {}", path.display()))?),
        None => None,
    };
    tls_config_pem(pem.as_deref()).with_context(|| match ca_file {
        Some(path) => format!("CA file {}", path.display()),
        None => "TLS settings".into(),
    })
}

/// The system's web PKI roots plus the certificates of `ca_pem`.
pub fn tls_config_pem(ca_pem: Option<&[u8]>) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots.add(cert.context("reading a PEM certificate")?)?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Wraps a connected socket in TLS for `host`.
pub async fn start_tls(tcp: TcpStream, host: &str, tls: Arc<ClientConfig>) -> anyhow::Result<Stream> {
    let name = ServerName::try_from(host.to_owned()).with_context(|| format!("bad server name {host}"))?;
    let stream = TlsConnector::from(tls).connect(name, tcp).await?;
    Ok(Stream::Tls(Box::new(stream)))
}

/// An authenticated IMAP session with one folder selected.
pub struct Mailbox {
    session: Session,
    /// The selected folder.
    pub folder: String,
    /// UIDVALIDITY of the selected folder: with a UID, the message's identity.
    pub uidvalidity: u32,
    /// Whether the server offers IDLE.
    pub idle: bool,
}

/// One message fetched from the server.
pub struct Fetched {
    pub uid: u32,
    /// RFC822.SIZE as the server reports it.
    pub size: u32,
    /// The whole message, or only its header when it was too large.
    pub raw: Vec<u8>,
    /// `raw` is the header only.
    pub header_only: bool,
}

async fn timed<T, E: Into<anyhow::Error>>(what: &str, fut: impl Future<Output = Result<T, E>>) -> anyhow::Result<T> {
    match timeout(COMMAND_TIMEOUT, fut).await {
        Ok(r) => r.map_err(Into::into).with_context(|| format!("IMAP {what}")),
        Err(_) => bail!("IMAP {what}: no answer in {COMMAND_TIMEOUT:?}"),
    }
}

/// Whether `error` is the server refusing a command (a NO or BAD answer),
/// as opposed to a stall, a lost connection or a crash.
pub fn refused_command(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        matches!(
            e.downcast_ref::<async_imap::error::Error>(),
            Some(async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_))
        )
    })
}

/// Connects and logs in; tells whether the server offers IDLE.
async fn login(
    settings: &MailboxSettings,
    password: &str,
    ca: Option<&std::path::Path>,
) -> anyhow::Result<(Session, bool)> {
    let host = settings.server.rsplit_once(':').map(|(h, _)| h).unwrap_or(&settings.server);
    let tcp = timed("connect", TcpStream::connect(&settings.server)).await?;
    tcp.set_nodelay(true)?;
    let stream = match settings.tls {
        TlsMode::Imaps | TlsMode::Smtps => start_tls(tcp, host, tls_config(ca)?).await?,
        TlsMode::None | TlsMode::Starttls => Stream::Plain(tcp),
    };
    let mut client = async_imap::Client::new(stream);
    timed("greeting", async { client.read_response().await.map_err(anyhow::Error::from) })
        .await?
        .ok_or_else(|| anyhow!("IMAP server closed the connection before greeting"))?;
    if settings.tls == TlsMode::Starttls {
        timed("STARTTLS", client.run_command_and_check_ok("STARTTLS", None)).await?;
        let Stream::Plain(tcp) = client.into_inner() else { unreachable!("STARTTLS on a TLS stream") };
        client = async_imap::Client::new(start_tls(tcp, host, tls_config(ca)?).await?);
    }
    let mut session =
        timed("LOGIN", async { client.login(&settings.user, password).await.map_err(|(e, _)| anyhow::Error::from(e)) })
            .await?;
    let caps = timed("CAPABILITY", session.capabilities()).await?;
    Ok((session, caps.has_str("IDLE")))
}

impl Mailbox {
    /// Connects, logs in, makes sure the side folders exist, selects the inbox.
    pub async fn open(
        settings: &MailboxSettings,
        password: &str,
        ca: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        Self::open_folder(settings, password, ca, &settings.folder).await
    }

    /// Like [`Mailbox::open`], with another folder selected.
    pub async fn open_folder(
        settings: &MailboxSettings,
        password: &str,
        ca: Option<&std::path::Path>,
        folder: &str,
    ) -> anyhow::Result<Self> {
        let (mut session, idle) = login(settings, password, ca).await?;
        for side in [&settings.handled_folder, &settings.quarantine_folder, &settings.sent_folder] {
            // CREATE fails when the folder exists; that is the common case.
            let _ = timed("CREATE", session.create(side)).await;
        }
        let selected = timed("SELECT", session.select(folder)).await?;
        Ok(Self { session, folder: folder.to_owned(), uidvalidity: selected.uid_validity.unwrap_or(0), idle })
    }

    /// Logs in and looks at `folder` read-only, changing nothing (for
    /// `check-config --connect`); says what it found.
    pub async fn check(
        settings: &MailboxSettings,
        password: &str,
        ca: Option<&std::path::Path>,
    ) -> anyhow::Result<String> {
        let (mut session, idle) = login(settings, password, ca).await?;
        let folder = timed("EXAMINE", session.examine(&settings.folder)).await?;
        let _ = timeout(Duration::from_secs(5), session.logout()).await;
        Ok(format!(
            "logged in as {} at {}; {} holds {} message(s); IDLE {}",
            settings.user,
            settings.server,
            settings.folder,
            folder.exists,
            if idle { "offered" } else { "not offered (polling)" }
        ))
    }

    /// UIDs of every message in the folder, ascending. The folder holds only
    /// unhandled mail (handled mail is moved out), so this is the work list;
    /// it is asked afresh after every wake because IDLE notices can be lost.
    pub async fn pending_uids(&mut self) -> anyhow::Result<Vec<u32>> {
        let found: HashSet<u32> = timed("UID SEARCH", self.session.uid_search("ALL")).await?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// The sizes (RFC822.SIZE) of the given messages, in UID order: asked
    /// before any body, so batches can be bounded by bytes.
    pub async fn sizes(&mut self, uids: &[u32]) -> anyhow::Result<Vec<(u32, u64)>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set(uids);
        let mut sizes: Vec<(u32, u64)> = timed("UID FETCH size", async {
            let stream = self.session.uid_fetch(&set, "(UID RFC822.SIZE)").await?;
            let all: Vec<_> = stream.try_collect().await?;
            Ok::<_, anyhow::Error>(all.iter().filter_map(|f| Some((f.uid?, u64::from(f.size.unwrap_or(0))))).collect())
        })
        .await?;
        sizes.sort_unstable();
        Ok(sizes)
    }

    /// The subjects of the given messages (a cheap header peek: which of
    /// the fresh mail is urgent), raw header bytes per UID.
    pub async fn peek_subjects(&mut self, uids: &[u32]) -> anyhow::Result<Vec<(u32, Vec<u8>)>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set(uids);
        timed("UID FETCH subject", async {
            let stream = self.session.uid_fetch(&set, "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await?;
            let all: Vec<_> = stream.try_collect().await?;
            Ok::<_, anyhow::Error>(
                all.iter().filter_map(|f| Some((f.uid?, f.header().unwrap_or_default().to_vec()))).collect(),
            )
        })
        .await
    }

    /// Fetches the given messages (of `bytes` in all) whole, or only their
    /// headers; the timeout grows with the bytes asked for (a slow link
    /// must not turn a large message into an endless retry).
    pub async fn fetch(&mut self, uids: &[u32], bytes: u64, header_only: bool) -> anyhow::Result<Vec<Fetched>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set(uids);
        let query = if header_only { "(UID RFC822.SIZE BODY.PEEK[HEADER])" } else { "(UID RFC822.SIZE BODY.PEEK[])" };
        let allowed = fetch_timeout(if header_only { 0 } else { bytes });
        let fetched = match timeout(allowed, async {
            let stream = self.session.uid_fetch(&set, query).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await
        {
            Ok(r) => r.context("IMAP UID FETCH body")?,
            Err(_) => bail!("IMAP UID FETCH body: {bytes} bytes not received in {allowed:?}"),
        };
        let mut out = Vec::with_capacity(fetched.len());
        for f in fetched {
            let raw = if header_only { f.header() } else { f.body() };
            if let (Some(uid), Some(raw)) = (f.uid, raw) {
                let size = f.size.unwrap_or(raw.len() as u32);
                out.push(Fetched { uid, size, raw: raw.to_vec(), header_only });
            }
        }
        out.sort_by_key(|f| f.uid);
        Ok(out)
    }

    /// Whether the folder holds a message with this Message-ID (given without
    /// angle brackets) that arrived on or after `since`.
    pub async fn has_message_id(&mut self, message_id: &str, since: chrono::NaiveDate) -> anyhow::Result<bool> {
        // Our own Message-IDs never hold quotes; strip them anyway so the
        // search string cannot be broken out of.
        let id = message_id.replace(['"', '\\', '\r', '\n'], "");
        let query = format!("SINCE {} HEADER Message-ID \"<{id}>\"", since.format("%d-%b-%Y"));
        let found = timed("UID SEARCH", self.session.uid_search(query)).await?;
        Ok(!found.is_empty())
    }

    /// The whole message with this Message-ID (without angle brackets) in
    /// the selected folder, the oldest if several (the first one filed: a
    /// later copy with its Message-ID is a duplicate moved there unread);
    /// `None` when there is none.
    pub async fn fetch_by_message_id(&mut self, message_id: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let id = message_id.replace(['"', '\\', '\r', '\n'], "");
        let found = timed("UID SEARCH", self.session.uid_search(format!("HEADER Message-ID \"<{id}>\""))).await?;
        let Some(uid) = found.into_iter().min() else { return Ok(None) };
        let bytes = self.sizes(&[uid]).await?.first().map_or(0, |(_, size)| *size);
        Ok(self.fetch(&[uid], bytes, false).await?.pop().map(|f| f.raw))
    }

    /// Selects another folder on the same session.
    pub async fn select(&mut self, folder: &str) -> anyhow::Result<()> {
        let selected = timed("SELECT", self.session.select(folder)).await?;
        self.folder = folder.to_owned();
        self.uidvalidity = selected.uid_validity.unwrap_or(0);
        Ok(())
    }

    /// Moves messages to another folder (marks them handled or quarantined).
    pub async fn move_to(&mut self, uids: &[u32], folder: &str) -> anyhow::Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        timed("UID MOVE", self.session.uid_mv(uid_set(uids), folder)).await
    }

    /// Waits until the server reports a change, `max_wait` passes, or
    /// `stop` fires. Without IDLE it just sleeps (polling).
    pub async fn wait(mut self, max_wait: Duration, stop: &tokio::sync::watch::Receiver<bool>) -> anyhow::Result<Self> {
        let mut stop = stop.clone();
        if !self.idle {
            tokio::select! {
                _ = tokio::time::sleep(max_wait) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            timed("NOOP", self.session.noop()).await?;
            return Ok(self);
        }
        let Self { session, folder, uidvalidity, idle } = self;
        let mut handle = session.idle();
        timed("IDLE", handle.init()).await?;
        let (wait, interrupt) = handle.wait_with_timeout(max_wait);
        let outcome = tokio::select! {
            r = wait => Some(r),
            _ = stop.wait_for(|s| *s) => None,
        };
        drop(interrupt);
        if let Some(r) = outcome {
            // The benchmarks read this line to tell the server's notification
            // delay from the daemon's own work.
            let new_data = matches!(r?, IdleResponse::NewData(_));
            debug!(new_data, "IMAP: IDLE ended");
        }
        let session = timed("DONE", handle.done()).await?;
        Ok(Self { session, folder, uidvalidity, idle })
    }

    pub async fn logout(mut self) {
        let _ = timeout(Duration::from_secs(5), self.session.logout()).await;
    }
}

/// `1,2,5:9`-style set of UIDs.
fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn fetch_timeouts_grow_with_size() {
        assert_eq!(super::fetch_timeout(0), super::COMMAND_TIMEOUT);
        assert!(super::fetch_timeout(25 << 20) >= super::COMMAND_TIMEOUT + std::time::Duration::from_secs(100));
    }

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(super::uid_set(&[5, 1, 2, 3, 9, 7, 8]), "1:3,5,7:9");
        assert_eq!(super::uid_set(&[4]), "4");
    }
}
