//! DKIM-signing the desk's own mail, so stations' servers can tell it from
//! phishing that copies it.

use std::path::Path;

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;

use super::AuthError;
use super::settings::DkimSettings;

/// The headers signed (absent ones too: DKIM then also refuses their
/// being added later). From is listed twice so a second From cannot be
/// slipped in above the signed one.
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// A configured key, ready to sign.
pub struct Signer {
    key: Key,
    domain: String,
}

enum Key {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

impl Signer {
    /// Loads `[dkim]`'s key (PEM: PKCS#1 or PKCS#8 RSA, PKCS#8 Ed25519);
    /// a relative key file is relative to `base_dir`.
    pub fn load(settings: &DkimSettings, base_dir: &Path) -> Result<Signer, AuthError> {
        let path = base_dir.join(&settings.key_file);
        let pem = std::fs::read(&path).map_err(|e| AuthError::Key(format!("{}: {e}", path.display())))?;
        Signer::from_pem(&pem, &settings.domain, &settings.selector)
            .map_err(|e| AuthError::Key(format!("{}: {e}", path.display())))
    }

    /// A signer for `domain` and `selector` from a PEM private key.
    pub fn from_pem(pem: &[u8], domain: &str, selector: &str) -> Result<Signer, String> {
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("not a PEM private key: {e}"))?;
        let rsa = match &der {
            PrivateKeyDer::Pkcs1(_) => true,
            // PKCS#8 holds either: the algorithm identifier says which.
            PrivateKeyDer::Pkcs8(k) => !is_ed25519_pkcs8(k.secret_pkcs8_der()),
            _ => return Err("unsupported key type (RSA or Ed25519 expected)".into()),
        };
        let key = if rsa {
            let k = RsaKey::<Sha256>::from_key_der(der).map_err(|e| e.to_string())?;
            Key::Rsa(configure(
                DkimSigner::from_key(k).domain(domain).selector(selector).headers(SIGNED_HEADERS.iter().copied()),
            ))
        } else {
            let PrivateKeyDer::Pkcs8(k) = der else { unreachable!("checked above") };
            let k = Ed25519Key::from_pkcs8_maybe_unchecked_der(k.secret_pkcs8_der()).map_err(|e| e.to_string())?;
            Key::Ed25519(configure(
                DkimSigner::from_key(k).domain(domain).selector(selector).headers(SIGNED_HEADERS.iter().copied()),
            ))
        };
        Ok(Signer { key, domain: domain.to_ascii_lowercase() })
    }

    /// The signing domain (`d=`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The message with a `DKIM-Signature` header put on top.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AuthError> {
        let signature = match &self.key {
            Key::Rsa(s) => s.sign(message),
            Key::Ed25519(s) => s.sign(message),
        }
        .map_err(|e| AuthError::Sign(e.to_string()))?;
        let header = signature.to_header();
        let mut out = Vec::with_capacity(header.len() + message.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(message);
        Ok(out)
    }
}

/// Relaxed canonicalisation both ways: survives the header refolding and
/// trailing-space changes relays are allowed to make.
fn configure<T: mail_auth::common::crypto::SigningKey>(s: DkimSigner<T, Done>) -> DkimSigner<T, Done> {
    s.header_canonicalization(Canonicalization::Relaxed).body_canonicalization(Canonicalization::Relaxed)
}

/// Whether a PKCS#8 key's algorithm is Ed25519 (OID 1.3.101.112).
fn is_ed25519_pkcs8(der: &[u8]) -> bool {
    const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    der.windows(ED25519_OID.len()).take(32).any(|w| w == ED25519_OID)
}
