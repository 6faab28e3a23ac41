//! The SMTP side: a small pool of connections to the submission server; the
//! outbox worker hands it finished messages.
//!
//! lettre speaks the protocol, but the sockets are opened here, with
//! TCP_NODELAY: lettre writes a message and its closing "." in two writes
//! and then waits for the answer, so with Nagle's algorithm on, the server's
//! delayed ACK held every mail back ~40 ms (BENCHMARKS.md), which capped a
//! pool of four connections at ~100 mails a second.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::timeout;
use tokio_rustls::rustls::ClientConfig;

use crate::config::{SmtpSettings, TlsMode};
use crate::mail::imap::{Stream, start_tls, tls_config_pem};

/// Longest a connection, or one mail's whole exchange, may take; the outbox
/// lease outlasts both.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A pooled SMTP client.
#[derive(Clone)]
pub struct Sender {
    inner: Arc<Pool>,
}

struct Pool {
    /// Server host (also the TLS name) and port.
    host: String,
    port: u16,
    tls: TlsMode,
    /// For TLS from the first byte: the system's roots plus `smtp.ca_file`.
    wrapper: Option<Arc<ClientConfig>>,
    /// For STARTTLS, which lettre negotiates itself.
    starttls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    /// EHLO name: this host's name.
    hello: ClientId,
    /// Connections between mails, most recently used last.
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    /// At most `smtp.pool_size` mails in flight, so at most that many connections.
    slots: Semaphore,
}

/// Why a mail was not accepted; permanent errors are not retried forever.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("bad address {0:?}")]
    Address(String),
    #[error("smtp: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("smtp: connecting: {0:#}")]
    Connect(anyhow::Error),
    #[error("smtp: no answer in {TIMEOUT:?}")]
    Timeout,
}

impl SendError {
    /// A 5xx answer or a malformed address: trying again will not help.
    pub fn is_permanent(&self) -> bool {
        match self {
            SendError::Address(_) => true,
            SendError::Smtp(e) => e.is_permanent(),
            SendError::Connect(_) | SendError::Timeout => false,
        }
    }

    /// The server may have taken the mail all the same: the connection broke
    /// or timed out after the mail was handed over, so its answer never
    /// came. A 4xx/5xx answer, a failed connection or a client-side refusal
    /// means it was not taken.
    pub fn may_have_been_accepted(&self) -> bool {
        match self {
            SendError::Address(_) | SendError::Connect(_) => false,
            SendError::Timeout => true,
            // A client error (e.g. a bad command) stops before any data.
            SendError::Smtp(e) => !(e.is_transient() || e.is_permanent() || e.is_client()),
        }
    }
}

impl AsyncTokioStream for Stream {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            Stream::Plain(s) => s.peer_addr(),
            Stream::Tls(s) => s.get_ref().0.peer_addr(),
        }
    }
}

impl Sender {
    pub fn new(settings: &SmtpSettings, password: Option<String>, ca_pem: Option<Vec<u8>>) -> anyhow::Result<Self> {
        let (host, port) = settings
            .server
            .rsplit_once(':')
            .with_context(|| format!("smtp.server {:?} is not host:port", settings.server))?;
        let port: u16 = port.parse().with_context(|| format!("smtp.server port {port:?}"))?;
        let (mut wrapper, mut starttls) = (None, None);
        match settings.tls {
            TlsMode::None => {}
            TlsMode::Imaps | TlsMode::Smtps => wrapper = Some(tls_config_pem(ca_pem.as_deref())?),
            TlsMode::Starttls => {
                let mut b = TlsParameters::builder(host.to_owned());
                if let Some(pem) = &ca_pem {
                    b = b.add_root_certificate(Certificate::from_pem(pem)?);
                }
                starttls = Some(b.build_rustls()?);
            }
        }
        let credentials = match (&settings.user, password) {
            (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password)),
            _ => None,
        };
        Ok(Self {
            inner: Arc::new(Pool {
                host: host.to_owned(),
                port,
                tls: settings.tls,
                wrapper,
                starttls,
                credentials,
                hello: ClientId::default(),
                idle: Mutex::new(Vec::new()),
                slots: Semaphore::new(settings.pool_size.max(1) as usize),
            }),
        })
    }

    /// Submits one finished message.
    pub async fn send(&self, from: &str, recipients: &[String], message: &[u8]) -> Result<(), SendError> {
        let parse = |a: &str| a.parse::<Address>().map_err(|_| SendError::Address(a.to_owned()));
        let to = recipients.iter().map(|r| parse(r)).collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(Some(parse(from)?), to).map_err(|_| SendError::Address(from.to_owned()))?;
        let pool = &self.inner;
        let _slot = pool.slots.acquire().await.map_err(|_| SendError::Timeout)?;
        let mut conn = self.connection().await?;
        match timeout(TIMEOUT, conn.send(&envelope, message)).await {
            Ok(Ok(_)) => {
                pool.idle.lock().await.push(conn);
                Ok(())
            }
            // lettre has already quit a connection that failed mid-mail.
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(SendError::Timeout),
        }
    }

    /// An idle connection that still answers, or a new one.
    async fn connection(&self) -> Result<AsyncSmtpConnection, SendError> {
        loop {
            let Some(mut conn) = self.inner.idle.lock().await.pop() else { break };
            // The server may have closed it while it was idle.
            if matches!(timeout(TIMEOUT, conn.test_connected()).await, Ok(true)) {
                return Ok(conn);
            }
            conn.abort().await;
        }
        match timeout(TIMEOUT, self.connect()).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Timeout),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let pool = &self.inner;
        let tcp = TcpStream::connect((pool.host.as_str(), pool.port))
            .await
            .map_err(|e| SendError::Connect(anyhow::Error::new(e).context(format!("{}:{}", pool.host, pool.port))))?;
        tcp.set_nodelay(true).map_err(|e| SendError::Connect(e.into()))?;
        let stream = match &pool.wrapper {
            Some(config) => start_tls(tcp, &pool.host, config.clone()).await.map_err(SendError::Connect)?,
            None => Stream::Plain(tcp),
        };
        // Whatever fails before a mail is handed over leaves nothing in doubt.
        let setup = |e: lettre::transport::smtp::Error| SendError::Connect(e.into());
        let mut conn =
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &pool.hello).await.map_err(setup)?;
        if pool.tls == TlsMode::Starttls
            && let Some(params) = &pool.starttls
        {
            conn.starttls(params.clone(), &pool.hello).await.map_err(setup)?;
        }
        if let Some(credentials) = &pool.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await.map_err(setup)?;
        }
        Ok(conn)
    }

    /// Opens a connection, says hello and logs in when configured to (for
    /// `check-config --connect`).
    pub async fn check(&self) -> anyhow::Result<()> {
        let mut conn = self.connect().await?;
        if !conn.test_connected().await {
            anyhow::bail!("the server did not answer NOOP");
        }
        conn.quit().await?;
        Ok(())
    }
}
