//! Permitted variants of the reference client: ways to be a correct SMTP client that
//! the plain reference client does not show. They are the client suite's negative
//! control, as the server variants are the catalogue's: under every one of them the
//! client cases must give no fail and no error (a case that fails one would give a
//! false verdict on some real client that chose the same way).

use smtp_protocol::client::ClientConfig;

/// One permitted behaviour of the reference client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientVariant {
    /// Open with HELO, never EHLO: a client that needs no extension.
    HeloOnly,
    /// Never pipeline, even when PIPELINING is offered.
    NoPipelining,
    /// Verify the server's certificate against the CA it is given.
    VerifyCa,
    /// Send QUIT and close without waiting for the 221.
    QuitNoWait,
    /// Authenticate only when the server asks for it (530 to MAIL).
    AuthWhenRequired,
}

impl ClientVariant {
    /// Every variant.
    pub const ALL: [Self; 5] = [
        Self::HeloOnly,
        Self::NoPipelining,
        Self::VerifyCa,
        Self::QuitNoWait,
        Self::AuthWhenRequired,
    ];

    /// The name on the command line: `client-` and kebab case.
    pub fn name(self) -> &'static str {
        match self {
            Self::HeloOnly => "client-helo-only",
            Self::NoPipelining => "client-no-pipelining",
            Self::VerifyCa => "client-verify-ca",
            Self::QuitNoWait => "client-quit-no-wait",
            Self::AuthWhenRequired => "client-auth-when-required",
        }
    }

    /// What the client does.
    pub fn description(self) -> &'static str {
        match self {
            Self::HeloOnly => "opens every session with HELO, never EHLO",
            Self::NoPipelining => "waits for each reply, even when PIPELINING is offered",
            Self::VerifyCa => {
                "verifies the server certificate against the CA it is given and refuses \
                 TLS to a server it cannot verify"
            }
            Self::QuitNoWait => "sends QUIT and closes the connection without reading the 221",
            Self::AuthWhenRequired => {
                "logs in only after the server refuses MAIL with 530 (authentication required)"
            }
        }
    }

    /// The RFC text that allows it.
    pub fn allowed_by(self) -> &'static str {
        match self {
            Self::HeloOnly => {
                "RFC 5321 §3.2: \"contemporary clients that do not require service extensions in \
                 the mail session being initiated, MAY use HELO instead of EHLO\""
            }
            Self::NoPipelining => {
                "RFC 2920 §3.1: a client MAY pipeline once the server offers it; it never has to"
            }
            Self::VerifyCa => {
                "RFC 3207 §4.1: \"the SMTP client ... SHOULD ... decide whether or not to continue\" \
                 once it knows who the server is; checking the certificate is the point of TLS"
            }
            Self::QuitNoWait => {
                "RFC 5321 §4.1.1.10: the sender \"MUST NOT intentionally close the transmission \
                 channel until it sends a QUIT command, and it SHOULD wait until it receives the \
                 reply\" (a SHOULD: the case about it may warn)"
            }
            Self::AuthWhenRequired => {
                "RFC 4954 §6: 530 \"Authentication required\" tells a client that did not \
                 authenticate to do so; AUTH is never required of a client before that"
            }
        }
    }

    /// By name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Set what this variant changes in the client's session.
    pub fn apply(self, config: &mut ClientConfig) {
        match self {
            Self::HeloOnly => config.helo_only = true,
            Self::NoPipelining => config.pipelining = false,
            // The driver verifies; see `SendOptions::trust`.
            Self::VerifyCa => {}
            Self::QuitNoWait => config.quit_without_reply = true,
            Self::AuthWhenRequired => config.auth_when_required = true,
        }
    }
}

impl std::fmt::Display for ClientVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
