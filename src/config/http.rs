//! The `[http]` section: where the desk board listens and who may read it.

use std::net::SocketAddr;

use serde::Deserialize;

/// The `[http]` section: the desk board and who may log in to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Where to listen; only on this machine unless told otherwise.
    #[serde(default = "default_http_listen")]
    pub listen: SocketAddr,
    /// The board is reached through a TLS proxy: its cookies are `Secure`.
    #[serde(default)]
    pub tls: bool,
    /// Who may log in; the board is served only when there is someone.
    #[serde(default)]
    pub users: Vec<BoardUser>,
}

fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8025))
}

/// One person who may read the board.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardUser {
    /// The login name.
    pub name: String,
    /// Argon2 PHC string, from `complaintd hash-password`.
    pub password_hash: String,
    pub role: BoardRole,
    /// Their mail address: a manager sees the stations that name it.
    pub address: String,
}

/// What a board user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoardRole {
    /// Every station's tickets.
    Supervisor,
    Handler,
    /// Only the tickets of the stations whose `manager` is their address.
    Manager,
}
