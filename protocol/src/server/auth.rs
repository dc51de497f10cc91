//! AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms.

use super::{ServerSession, State};
use crate::base64;
use crate::line::Line;
use crate::reply::{EnhancedCode, Reply, ReplyCode};

/// Where a SASL exchange stands while the server waits for a client response line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stage {
    /// PLAIN without an initial response: waiting for `[authzid] NUL authcid NUL passwd`.
    Plain,
    /// LOGIN: waiting for the user name.
    LoginUser,
    /// LOGIN: waiting for the password of `user`.
    LoginPassword { user: String },
}

/// 334 challenges of LOGIN: base64 of "Username:" and "Password:".
const LOGIN_USER_PROMPT: &str = "VXNlcm5hbWU6";
const LOGIN_PASSWORD_PROMPT: &str = "UGFzc3dvcmQ6";

impl ServerSession {
    pub(super) fn auth_start(&mut self, mechanism: &str, initial: Option<&str>) {
        if self.config.users.is_empty() {
            return self.reply(
                ReplyCode::NOT_IMPLEMENTED,
                EnhancedCode::INVALID_COMMAND,
                "Command not implemented",
            );
        }
        if !self.auth_offered() {
            return self.reply(
                ReplyCode::ENCRYPTION_REQUIRED,
                EnhancedCode::ENCRYPTION_NEEDED,
                "Encryption required for requested authentication mechanism (RFC 4954 §6)",
            );
        }
        if !self.helo.as_ref().is_some_and(|h| h.esmtp) {
            // Extensions are used only after EHLO (RFC 5321 §2.2.1, RFC 4954 §4).
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                EnhancedCode::INVALID_COMMAND,
                "Send EHLO first",
            );
        }
        let in_tx = self.tx.is_some()
            && !self
                .config
                .deviations
                .has(super::Deviation::AuthInTransaction);
        if self.user.is_some() || in_tx {
            // RFC 4954 §4: once per session, and never inside a mail transaction.
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                EnhancedCode::INVALID_COMMAND,
                "AUTH not allowed now",
            );
        }
        match (mechanism, initial) {
            ("PLAIN", None) => self.challenge(Stage::Plain, ""),
            ("PLAIN", Some(resp)) => self.plain(resp.as_bytes()),
            ("LOGIN", None) => self.challenge(Stage::LoginUser, LOGIN_USER_PROMPT),
            ("LOGIN", Some(resp)) => self.login_user(resp.as_bytes()),
            _ => self.reply(
                ReplyCode::PARAM_NOT_IMPLEMENTED,
                EnhancedCode::INVALID_ARGUMENTS,
                "Unrecognized authentication type",
            ),
        }
    }

    fn challenge(&mut self, stage: Stage, base64: &str) {
        self.send_raw(Reply::challenge(base64));
        self.state = State::Auth(stage);
    }

    pub(super) fn auth_response(&mut self, stage: Stage, line: &Line) {
        if line.overflow.is_some() || !line.findings.is_clean() {
            return self.reply(
                ReplyCode::ARGUMENT_ERROR,
                EnhancedCode::SYNTAX_ERROR,
                "Malformed authentication response",
            );
        }
        let resp = line.bytes.as_slice();
        if resp == b"*" {
            return self.reply(
                ReplyCode::ARGUMENT_ERROR,
                EnhancedCode::SECURITY,
                "Authentication cancelled",
            );
        }
        match stage {
            Stage::Plain => self.plain(resp),
            Stage::LoginUser => self.login_user(resp),
            Stage::LoginPassword { user } => match base64::decode(resp) {
                Some(password) => self.check(&user, &password),
                None => self.bad_base64(),
            },
        }
    }

    fn bad_base64(&mut self) {
        self.reply(
            ReplyCode::ARGUMENT_ERROR,
            EnhancedCode::SYNTAX_ERROR,
            "Cannot decode base64 response",
        );
    }

    /// PLAIN (RFC 4616 §2): `[authzid] NUL authcid NUL passwd`; `=` is an empty response.
    fn plain(&mut self, resp: &[u8]) {
        let decoded = if resp == b"=" {
            Some(Vec::new())
        } else {
            base64::decode(resp)
        };
        let Some(decoded) = decoded else {
            return self.bad_base64();
        };
        let mut parts = decoded.split(|&b| b == 0);
        let (Some(authzid), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.fail();
        };
        if !authzid.is_empty() && authzid != user {
            return self.fail();
        }
        match std::str::from_utf8(user) {
            Ok(user) => self.check(user, password),
            Err(_) => self.fail(),
        }
    }

    fn login_user(&mut self, resp: &[u8]) {
        match base64::decode(resp).map(String::from_utf8) {
            Some(Ok(user)) => self.challenge(Stage::LoginPassword { user }, LOGIN_PASSWORD_PROMPT),
            Some(Err(_)) => self.fail(),
            None => self.bad_base64(),
        }
    }

    fn check(&mut self, user: &str, password: &[u8]) {
        let ok = self
            .config
            .users
            .get(user)
            .is_some_and(|p| p.as_bytes() == password);
        if ok {
            self.user = Some(user.to_owned());
            self.reply(
                ReplyCode::AUTH_SUCCEEDED,
                EnhancedCode::AUTH_OK,
                "Authentication successful",
            );
        } else {
            self.fail();
        }
    }

    fn fail(&mut self) {
        self.reply(
            ReplyCode::AUTH_INVALID,
            EnhancedCode::AUTH_INVALID,
            "Authentication credentials invalid",
        );
    }
}
