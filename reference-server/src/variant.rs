//! Permitted variants: behaviours the RFCs allow that the plain reference server does
//! not show, each switched on by name (`smtpspec serve --variant NAME`).
//!
//! They are the mirror of the deviations. A deviation is a way to get SMTP wrong, and
//! the catalogue must fail it; a variant is a way to get SMTP right differently, and
//! the catalogue must not fail it. Real servers differ in exactly these ways (how many
//! connections they take, how they refuse a bare LF, which code refuses an over-size
//! message, which SASL mechanisms they offer), so a case that fails a variant would
//! give a false verdict on some server nobody here has run. The self-test runs the
//! catalogue against every variant and requires no fail and no error.
//!
//! Each variant only sets keys of the configuration file ([`FileSettings`]), so every
//! one of them is also something an operator can configure by hand.

use crate::settings::{ErrorLimitSettings, FileSettings, GreetingDelay};

/// One permitted variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// At most 4 connections at once; 421 to the rest.
    MaxConnections4,
    /// Greetings held back up to 2 s while more than 4 connections are open.
    SlowGreeting,
    /// 421 and close on a bare CR or LF, in a command or in the content.
    BareLineEndsClose,
    /// A message with a bare CR or LF refused with 550 at its end; the session goes on.
    BareLf550,
    /// An over-size message refused with 550 instead of 552.
    SizeRefused550,
    /// `SIZE` advertised without a number, though a limit is enforced.
    SizeWithoutNumber,
    /// `SIZE 0`: no fixed maximum.
    SizeZero,
    /// AUTH offers LOGIN only.
    AuthLoginOnly,
    /// AUTH offers CRAM-MD5 only.
    AuthCramMd5Only,
    /// VRFY answered 252 (cannot verify, will try).
    Vrfy252,
    /// Senders at address literals refused (policy).
    RefuseLiteralSenders,
    /// Error replies slowed by 1 s after 3 errors; 421 and close after 10.
    ErrorLimits,
    /// Messages with more than 30 Received lines refused as loops.
    HopLimit30,
    /// Every recipient accepted (a catch-all domain).
    CatchAll,
    /// Messages stored with LF line ends under a `Return-path:` line.
    StoreLfLowercase,
    /// 421 and close after 10 commands in a row without MAIL.
    NonmailLimit10,
    /// No PIPELINING.
    NoPipelining,
    /// No ENHANCEDSTATUSCODES.
    NoEnhancedStatusCodes,
    /// A two-line 220 greeting.
    MultilineGreeting,
    /// Replies without text.
    TerseReplies,
    /// Unknown recipients refused with 450 (temporary).
    UnknownRecipient450,
    /// DATA without a valid recipient answered 554, not 503.
    NoValidRecipients554,
    /// Only 8BITMIME and SIZE: no PIPELINING, CHUNKING, DSN, ETRN, SMTPUTF8, STARTTLS.
    MinimalEsmtp,
    /// Every reply, the greeting's included, sent 200 ms late.
    SlowReplies,
    /// The port speaks the PROXY protocol: every connection opens with a v1 or v2
    /// header (the harness sends one), and a missing or malformed one closes it.
    ProxyProtocol,
}

impl Variant {
    /// Every variant.
    pub const ALL: [Self; 25] = [
        Self::MaxConnections4,
        Self::SlowGreeting,
        Self::BareLineEndsClose,
        Self::BareLf550,
        Self::SizeRefused550,
        Self::SizeWithoutNumber,
        Self::SizeZero,
        Self::AuthLoginOnly,
        Self::AuthCramMd5Only,
        Self::Vrfy252,
        Self::RefuseLiteralSenders,
        Self::ErrorLimits,
        Self::HopLimit30,
        Self::CatchAll,
        Self::StoreLfLowercase,
        Self::NonmailLimit10,
        Self::NoPipelining,
        Self::NoEnhancedStatusCodes,
        Self::MultilineGreeting,
        Self::TerseReplies,
        Self::UnknownRecipient450,
        Self::NoValidRecipients554,
        Self::MinimalEsmtp,
        Self::SlowReplies,
        Self::ProxyProtocol,
    ];

    /// The name used by `--variant NAME`.
    pub fn name(self) -> &'static str {
        match self {
            Self::MaxConnections4 => "max-connections-4",
            Self::SlowGreeting => "slow-greeting",
            Self::BareLineEndsClose => "bare-line-ends-close",
            Self::BareLf550 => "bare-lf-550",
            Self::SizeRefused550 => "size-refused-550",
            Self::SizeWithoutNumber => "size-without-number",
            Self::SizeZero => "size-zero",
            Self::AuthLoginOnly => "auth-login-only",
            Self::AuthCramMd5Only => "auth-cram-md5-only",
            Self::Vrfy252 => "vrfy-252",
            Self::RefuseLiteralSenders => "refuse-literal-senders",
            Self::ErrorLimits => "error-limits",
            Self::HopLimit30 => "hop-limit-30",
            Self::CatchAll => "catch-all",
            Self::StoreLfLowercase => "store-lf-lowercase",
            Self::NonmailLimit10 => "nonmail-limit-10",
            Self::NoPipelining => "no-pipelining",
            Self::NoEnhancedStatusCodes => "no-enhanced-status-codes",
            Self::MultilineGreeting => "multiline-greeting",
            Self::TerseReplies => "terse-replies",
            Self::UnknownRecipient450 => "unknown-recipient-450",
            Self::NoValidRecipients554 => "no-valid-recipients-554",
            Self::MinimalEsmtp => "minimal-esmtp",
            Self::SlowReplies => "slow-replies",
            Self::ProxyProtocol => "proxy-protocol",
        }
    }

    /// What the server does under this variant.
    pub fn description(self) -> &'static str {
        match self {
            Self::MaxConnections4 => {
                "at most 4 connections at once; the rest are greeted with 421 and closed"
            }
            Self::SlowGreeting => {
                "the 220 greeting held back 150 ms per open connection above 4, up to 2 s"
            }
            Self::BareLineEndsClose => {
                "a bare CR or LF in a command or in the content gets 421 and the connection is closed"
            }
            Self::BareLf550 => {
                "a message holding a bare CR or LF is refused with 550 at its end; the session goes on"
            }
            Self::SizeRefused550 => "a message over the SIZE limit is refused with 550 at its end",
            Self::SizeWithoutNumber => {
                "EHLO says SIZE without a number; the limit is still enforced"
            }
            Self::SizeZero => "EHLO says SIZE 0: no fixed maximum message size",
            Self::AuthLoginOnly => "AUTH offers the LOGIN mechanism only",
            Self::AuthCramMd5Only => "AUTH offers the CRAM-MD5 mechanism only",
            Self::Vrfy252 => "VRFY is answered 252: cannot verify, but will accept and try",
            Self::RefuseLiteralSenders => {
                "MAIL FROM a mailbox at an address literal is refused with 550 5.7.1 (policy)"
            }
            Self::ErrorLimits => {
                "after 3 error replies each further one waits 1 s; the 11th error gets 421 and a close"
            }
            Self::HopLimit30 => "a message with more than 30 Received lines is refused as a loop",
            Self::CatchAll => "every recipient of the domain is accepted (a catch-all)",
            Self::StoreLfLowercase => {
                "messages are stored with LF line ends under a 'Return-path:' line"
            }
            Self::NonmailLimit10 => {
                "the 11th command in a row that is not MAIL, RCPT or DATA gets 421 and a close"
            }
            Self::NoPipelining => "PIPELINING is not offered",
            Self::NoEnhancedStatusCodes => {
                "ENHANCEDSTATUSCODES is not offered and replies carry no enhanced codes"
            }
            Self::MultilineGreeting => "the 220 greeting has two lines",
            Self::TerseReplies => {
                "replies carry no text beyond what the grammar requires (the greeting's and EHLO's domain)"
            }
            Self::UnknownRecipient450 => "an unknown recipient is refused with 450 (temporary)",
            Self::NoValidRecipients554 => {
                "DATA with no accepted recipient gets 554 'no valid recipients' instead of 503"
            }
            Self::MinimalEsmtp => {
                "EHLO offers SIZE and 8BITMIME only: no PIPELINING, CHUNKING, BINARYMIME, DSN, ETRN, SMTPUTF8, STARTTLS, AUTH"
            }
            Self::SlowReplies => "every reply, the greeting's included, is sent 200 ms late",
            Self::ProxyProtocol => {
                "the port speaks the PROXY protocol (v1 and v2): each connection opens with a header naming the client; without a valid one it is closed"
            }
        }
    }

    /// The RFC text that allows it.
    pub fn allowed_by(self) -> &'static str {
        match self {
            Self::MaxConnections4 | Self::NonmailLimit10 | Self::ErrorLimits => {
                "RFC 5321 §7.8: \"rational operational behavior requires that servers be permitted \
                 to detect such attacks and take action to defend themselves\"; §3.8: 421 \"can be \
                 issued after the server receives any command\""
            }
            Self::SlowGreeting => {
                "RFC 5321 §4.5.3.2.1: \"Many SMTP servers accept a TCP connection but delay delivery \
                 of the 220 message until their system load permits more mail to be processed\""
            }
            Self::BareLineEndsClose => {
                "RFC 5321 §2.3.8: bare CR and LF are not line ends; §3.8: a server closes \"after \
                 detecting the need to shut down the SMTP service and returning a 421 response code\""
            }
            Self::BareLf550 => {
                "RFC 5321 §4.3.2, DATA: \"E: 450, 550 (rejections for policy reasons)\""
            }
            Self::SizeRefused550 => {
                "RFC 5321 §4.3.2 lists 550 after the data; RFC 1870 §6.3 prefers 552 (a SHOULD)"
            }
            Self::SizeWithoutNumber => {
                "RFC 1870 §4: \"The numeric parameter to the EHLO SIZE keyword is optional\""
            }
            Self::SizeZero => {
                "RFC 1870 §4: \"A parameter value of 0 (zero) indicates that no fixed maximum \
                 message size is in force\""
            }
            Self::AuthLoginOnly | Self::AuthCramMd5Only => {
                "RFC 4954 §3: the AUTH keyword lists the mechanisms the server offers; §4 asks \
                 implementations to implement PLAIN over TLS, but a site may offer fewer, and \
                 a case that needs PLAIN must then skip, not fail"
            }
            Self::Vrfy252 => {
                "RFC 5321 §7.3: \"If a site disables these commands for security reasons, the SMTP \
                 server MUST return a 252 response\""
            }
            Self::RefuseLiteralSenders => {
                "RFC 5321 §4.3.2, MAIL: \"E: 552, 451, 452, 550, 553, 503, 455, 555\"; refusing a \
                 sender is policy"
            }
            Self::HopLimit30 => {
                "RFC 5321 §6.3: \"SHOULD use a large rejection threshold, normally at least 100 \
                 Received entries\" (a SHOULD: cases about it may warn)"
            }
            Self::CatchAll => {
                "RFC 5321 §4.3.2, RCPT: \"S: 250, 251\"; which mailboxes exist is the domain's choice"
            }
            Self::StoreLfLowercase => {
                "RFC 5322 §1.2.2: header field names are case-insensitive; storing with local line \
                 ends is the delivery agent's business (RFC 5321 §2.3.8 governs the wire)"
            }
            Self::NoPipelining | Self::NoEnhancedStatusCodes | Self::MinimalEsmtp => {
                "RFC 5321 §2.2.1: extensions are optional; a server offers those it supports"
            }
            Self::MultilineGreeting => {
                "RFC 5321 §4.2: \"Greeting = ( \"220 \" (Domain / address-literal) [ SP textstring ] \
                 CRLF ) / ( \"220-\" (Domain / address-literal) [ SP textstring ] CRLF *( \"220-\" \
                 [ textstring ] CRLF ) \"220\" [ SP textstring ] CRLF )\""
            }
            Self::TerseReplies => {
                "RFC 5321 §4.2.1: \"any text, including no text at all ... MUST be acceptable\""
            }
            Self::UnknownRecipient450 => {
                "RFC 5321 §4.3.2, RCPT: \"E: 550, 551, 552, 553, 450, 451, 452, 503, 455, 555\""
            }
            Self::NoValidRecipients554 => {
                "RFC 5321 §3.3: \"the server MAY return a 'command out of sequence' (503) or 'no \
                 valid recipients' (554) reply\""
            }
            Self::SlowReplies => {
                "RFC 5321 §4.5.3.2: the client's timeouts are minutes (\"Initial 220 Message: 5 \
                 Minutes\", \"MAIL Command: 5 Minutes\", ...); a busy or distant server answers \
                 late, and a client must wait"
            }
            Self::ProxyProtocol => {
                "RFC 5321 §4.4: the TCP-info of a Received line is the sending host's address,                  which behind a load balancer only its PROXY header tells; HAProxy's PROXY                  specification has the receiver read exactly one header first"
            }
        }
    }

    /// Look a variant up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Set the configuration keys this variant stands for.
    pub fn apply(self, f: &mut FileSettings) {
        match self {
            Self::MaxConnections4 => f.max_connections = Some(4),
            Self::SlowGreeting => {
                f.greeting_delay = Some(GreetingDelay {
                    busy_above: 4,
                    step_ms: 150,
                    max_ms: 2000,
                });
            }
            Self::BareLineEndsClose => f.bare_line_ends = "close".into(),
            Self::BareLf550 => f.bare_line_ends = "refuse-with-550".into(),
            Self::SizeRefused550 => f.size_refusal = 550,
            Self::SizeWithoutNumber => f.size_number = false,
            Self::SizeZero => f.max_message_size = 0,
            Self::AuthLoginOnly => f.auth_mechanisms = vec!["LOGIN".into()],
            Self::AuthCramMd5Only => f.auth_mechanisms = vec!["CRAM-MD5".into()],
            Self::Vrfy252 => f.verify = "cannot-verify".into(),
            Self::RefuseLiteralSenders => f.refuse_literal_senders = true,
            Self::ErrorLimits => {
                f.error_limits = Some(ErrorLimitSettings {
                    sleep_after: 3,
                    sleep_ms: 1000,
                    close_after: 10,
                });
            }
            Self::HopLimit30 => f.max_hops = 30,
            Self::CatchAll => f.recipients = None,
            Self::StoreLfLowercase => {
                f.maildir_format.newlines = "lf".into();
                f.maildir_format.return_path_name = "Return-path".into();
            }
            Self::NonmailLimit10 => f.nonmail_limit = Some(10),
            Self::NoPipelining => f.extensions.pipelining = false,
            Self::NoEnhancedStatusCodes => f.extensions.enhancedstatuscodes = false,
            Self::MultilineGreeting => f.multiline_greeting = true,
            Self::TerseReplies => f.terse_replies = true,
            Self::UnknownRecipient450 => f.unknown_recipient = 450,
            Self::NoValidRecipients554 => f.no_valid_recipients = 554,
            Self::MinimalEsmtp => {
                let e = &mut f.extensions;
                e.pipelining = false;
                e.chunking = false;
                e.binarymime = false;
                e.dsn = false;
                e.etrn = false;
                e.smtputf8 = false;
                e.starttls = false;
            }
            Self::SlowReplies => f.reply_delay_ms = 200,
            Self::ProxyProtocol => f.proxy = Some("any".into()),
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_resolves_and_changes_something() {
        let plain = FileSettings::default().resolve().expect("defaults");
        for v in Variant::ALL {
            assert_eq!(Variant::from_name(v.name()), Some(v));
            let f = FileSettings {
                variants: vec![v.name().into()],
                ..FileSettings::default()
            };
            let s = f.resolve().unwrap_or_else(|e| panic!("{v}: {e}"));
            let changed = format!(
                "{:?}{:?}{:?}{}{:?}{:?}",
                s.protocol,
                s.store_format,
                s.greeting_delay,
                s.max_connections,
                s.reply_delay,
                s.proxy
            ) != format!(
                "{:?}{:?}{:?}{}{:?}{:?}",
                plain.protocol,
                plain.store_format,
                plain.greeting_delay,
                plain.max_connections,
                plain.reply_delay,
                plain.proxy
            );
            // The file accepts every recipient already; the embedded target has a table.
            assert!(changed || v == Variant::CatchAll, "{v} changes nothing");
        }
    }

    #[test]
    fn unknown_variant_is_named() {
        let f = FileSettings {
            variants: vec!["nope".into()],
            ..FileSettings::default()
        };
        let e = f.resolve().expect_err("unknown");
        assert!(e.0.contains("nope"), "{e}");
    }
}
