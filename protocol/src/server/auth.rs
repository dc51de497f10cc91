//! AUTH (RFC 4954) with the PLAIN (RFC 4616), LOGIN and CRAM-MD5 (RFC 2195) mechanisms.

use hmac::{KeyInit, Mac};

use super::{AuthMechanism, Deviation, ServerSession, State};
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
    /// CRAM-MD5: waiting for `user SP hex(HMAC-MD5(password, challenge))`.
    CramMd5 { challenge: String },
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
        let offered =
            AuthMechanism::from_name(mechanism).filter(|m| self.config.auth_mechanisms.contains(m));
        match (offered, initial) {
            (Some(AuthMechanism::Plain), None) => self.challenge(Stage::Plain, ""),
            (Some(AuthMechanism::Plain), Some(resp)) => self.plain(resp.as_bytes()),
            (Some(AuthMechanism::Login), None) => {
                self.challenge(Stage::LoginUser, LOGIN_USER_PROMPT);
            }
            (Some(AuthMechanism::Login), Some(resp)) => self.login_user(resp.as_bytes()),
            // RFC 2195 §2: the server speaks first; an initial response has no place.
            (Some(AuthMechanism::CramMd5), None) => {
                // Unique per connection and time, in the msg-id form RFC 2195 shows.
                let challenge = format!(
                    "<{}.{}@{}>",
                    self.connection, self.now, self.config.hostname
                );
                let encoded = base64::encode(challenge.as_bytes());
                self.challenge(Stage::CramMd5 { challenge }, &encoded);
            }
            (Some(AuthMechanism::CramMd5), Some(_)) => self.reply(
                ReplyCode::ARGUMENT_ERROR,
                EnhancedCode::SYNTAX_ERROR,
                "CRAM-MD5 takes no initial response",
            ),
            (None, _) => self.reply(
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
            self.failed_auth_logs_in();
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
            Stage::CramMd5 { challenge } => match base64::decode(resp) {
                Some(answer) => self.cram_md5(&challenge, &answer),
                None => self.bad_base64(),
            },
        }
    }

    /// RFC 2195 §2: the response is the user name, a space, and the lower-case hex of
    /// HMAC-MD5 keyed with the password over the challenge.
    fn cram_md5(&mut self, challenge: &str, answer: &[u8]) {
        let Some(space) = answer.iter().rposition(|&b| b == b' ') else {
            return self.fail();
        };
        let (user, digest) = (&answer[..space], &answer[space + 1..]);
        let Ok(user) = std::str::from_utf8(user) else {
            return self.fail();
        };
        let Some(password) = self.config.users.get(user) else {
            return self.fail();
        };
        let Ok(mut mac) = hmac::Hmac::<md5::Md5>::new_from_slice(password.as_bytes()) else {
            return self.fail();
        };
        mac.update(challenge.as_bytes());
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if digest.eq_ignore_ascii_case(expected.as_bytes()) {
            self.succeed(user);
        } else {
            self.fail();
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
            self.succeed(user);
        } else {
            self.fail();
        }
    }

    /// Deviation: the session is marked authenticated before the exchange is judged.
    fn failed_auth_logs_in(&mut self) {
        if self.config.deviations.has(Deviation::FailedAuthLogsIn) {
            self.user = Some(String::new());
        }
    }

    fn succeed(&mut self, user: &str) {
        self.user = Some(user.to_owned());
        self.reply(
            ReplyCode::AUTH_SUCCEEDED,
            EnhancedCode::AUTH_OK,
            "Authentication successful",
        );
    }

    fn fail(&mut self) {
        self.failed_auth_logs_in();
        self.reply(
            ReplyCode::AUTH_INVALID,
            EnhancedCode::AUTH_INVALID,
            "Authentication credentials invalid",
        );
    }
}

#[cfg(test)]
impl ServerSession {
    /// Put the session where `AUTH CRAM-MD5` with this challenge would (tests use the
    /// challenge of RFC 2195's example).
    pub(crate) fn cram_challenge_for_test(&mut self, challenge: &str) {
        self.state = State::Auth(Stage::CramMd5 {
            challenge: challenge.to_owned(),
        });
    }
}
