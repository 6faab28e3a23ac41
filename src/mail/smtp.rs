//! The SMTP side: one pooled transport built from the settings; the outbox
//! worker hands it finished messages.

use std::time::Duration;

use anyhow::Context as _;
use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{SmtpSettings, TlsMode};

/// Longest wait for any one SMTP answer; the outbox lease outlasts a whole send.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// A pooled SMTP client.
#[derive(Clone)]
pub struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

/// Why a mail was not accepted; permanent errors are not retried forever.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("bad address {0:?}")]
    Address(String),
    #[error("smtp: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

impl SendError {
    /// A 5xx answer or a malformed address: trying again will not help.
    pub fn is_permanent(&self) -> bool {
        match self {
            SendError::Address(_) => true,
            SendError::Smtp(e) => e.is_permanent(),
        }
    }

    /// The server may have taken the mail all the same: the connection broke
    /// or timed out after it was handed over, so its answer never came.
    /// A 4xx/5xx answer, a refused connection or a client-side refusal
    /// means it was not taken.
    pub fn may_have_been_accepted(&self) -> bool {
        match self {
            SendError::Address(_) => false,
            // A client error (e.g. no STARTTLS offered) stops before any data.
            SendError::Smtp(e) => !(e.is_transient() || e.is_permanent() || e.is_client() || connection_refused(e)),
        }
    }
}

fn connection_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
            return true;
        }
        cause = c.source();
    }
    false
}

impl Sender {
    pub fn new(settings: &SmtpSettings, password: Option<String>, ca_pem: Option<Vec<u8>>) -> anyhow::Result<Self> {
        let (host, port) = settings
            .server
            .rsplit_once(':')
            .with_context(|| format!("smtp.server {:?} is not host:port", settings.server))?;
        let port: u16 = port.parse().with_context(|| format!("smtp.server port {port:?}"))?;
        let tls_params = || -> anyhow::Result<TlsParameters> {
            let mut b = TlsParameters::builder(host.to_owned());
            if let Some(pem) = &ca_pem {
                b = b.add_root_certificate(Certificate::from_pem(pem)?);
            }
            Ok(b.build_rustls()?)
        };
        let tls = match settings.tls {
            TlsMode::None => Tls::None,
            TlsMode::Starttls => Tls::Required(tls_params()?),
            TlsMode::Imaps | TlsMode::Smtps => Tls::Wrapper(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(COMMAND_TIMEOUT))
            .pool_config(PoolConfig::new().max_size(settings.pool_size.max(1)));
        if let (Some(user), Some(password)) = (&settings.user, password) {
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self { transport: builder.build() })
    }

    /// Submits one finished message.
    pub async fn send(&self, from: &str, recipients: &[String], message: &[u8]) -> Result<(), SendError> {
        let parse = |a: &str| a.parse::<Address>().map_err(|_| SendError::Address(a.to_owned()));
        let to = recipients.iter().map(|r| parse(r)).collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(Some(parse(from)?), to).map_err(|_| SendError::Address(from.to_owned()))?;
        self.transport.send_raw(&envelope, message).await?;
        Ok(())
    }

    /// Opens a connection, says hello and logs in when configured to (for
    /// `check-config --connect`).
    pub async fn check(&self) -> anyhow::Result<()> {
        if !self.transport.test_connection().await? {
            anyhow::bail!("the server did not answer NOOP");
        }
        Ok(())
    }
}
