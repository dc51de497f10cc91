//! Named deviations: realistic ways a server gets SMTP wrong, switched on one at a time to
//! prove that the scenario catalogue can fail (README.md, "Deviations").
//!
//! Each one mimics a bug that shipped in a real server. They live here, in one list, and
//! the session consults them at single, marked points, so the correct path stays
//! readable and no deviation leaks into the default behaviour.

use std::fmt;

/// One deliberate misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Deviation {
    /// Accept a bare LF as the end of a command line (RFC 5321 §2.3.8 forbids it).
    BareLfLineEnd,
    /// End DATA on `<LF>.<LF>` as well as `<CRLF>.<CRLF>` (SMTP smuggling,
    /// CVE-2023-51764/51765/51766).
    DataEndLfDotLf,
    /// Keep the transaction after RSET (RFC 5321 §4.1.1.5 says clear it).
    KeepTransactionAfterRset,
    /// Answer 250 to RCPT before MAIL (RFC 5321 §4.1.4 requires 503).
    RcptBeforeMail,
    /// Keep plaintext that was pipelined after STARTTLS and run it inside TLS
    /// (CVE-2011-0411, Postfix and many others).
    StartTlsKeepPlaintext,
    /// Advertise STARTTLS again after TLS is up (RFC 3207 §4.2 forbids it).
    StartTlsAdvertisedAfterTls,
    /// Mark every line of a multiline reply as the last (`250 ` instead of `250-`).
    MultilineAllFinal,
    /// Give enhanced status codes a class that does not match the reply code.
    EnhancedClassMismatch,
    /// Accept DATA with no accepted recipient (RFC 5321 §3.3 requires 503 or 554).
    DataWithoutRecipients,
    /// Strip the 8th bit of message content (pre-8BITMIME relays).
    Strip8thBit,
    /// Do not remove the leading dot of dot-stuffed lines (RFC 5321 §4.5.2).
    NoDotUnstuffing,
    /// Send two replies to NOOP and RSET (desynchronises a pipelining client).
    DoubleReply,
    /// Advertise SIZE but do not enforce it at the end of the data (RFC 1870 §6).
    SizeNotEnforced,
    /// Silently truncate command lines at 512 octets, as a fixed buffer that ignores
    /// the allowances extensions add (RFC 1870, 3461, 4954), and run what is left
    /// (RFC 5321 §4.5.3.1.4 requires 500 for a line that is too long).
    TruncateLongLines,
    /// Accept `MAIL FROM:<...>` with shell metacharacters and no domain
    /// (OpenSMTPD CVE-2020-7247).
    UnqualifiedShellSender,
    /// Take the end of each read from the socket as the end of a command line, as
    /// servers that treat one `recv()` as one command do (RFC 2920 §3.2: input is a
    /// stream; TCP may cut it anywhere).
    SegmentIsLine,
    /// Accept AUTH inside a mail transaction (RFC 4954 §4 requires 503; aiosmtpd 1.4.6
    /// runs it).
    AuthInTransaction,
    /// Pick the line-end regime per message: when the first line of the content ends
    /// with a bare LF, the whole message is read with LF line ends and `<LF>.<LF>` ends
    /// it (a smuggling variant that cases with CRLF first lines never see).
    LfRegimePerMessage,
    /// Throw away input already received when DATA is accepted, as a server that
    /// clears its read buffer on entering data mode does: a body sent with DATA,
    /// before the 354, is lost and the server waits for one (RFC 2920 §3.2: a server
    /// never discards input it has received; transaction-stuffing cases show it).
    DataFlushesInput,
    /// Drop NUL octets from message content before looking for the end of the data,
    /// so `<CRLF>.<NUL><CRLF>` and `<CRLF><NUL>.<CRLF>` end it (a smuggling variant
    /// of servers that clean content as they read it; RFC 5321 §4.1.1.4).
    StripNulInData,
    /// Keep a BDAT chunk size in 32 bits: `BDAT 4294967297` reads one octet of chunk
    /// and runs the rest as commands (the integer class of CVE-2020-28019; RFC 3030
    /// §2: the chunk is exactly the octets its size names).
    BdatSize32Bit,
    /// Count a failed or cancelled AUTH exchange as a login: the 535 or 501 goes out,
    /// but the session is marked authenticated, so a submission port takes MAIL and a
    /// second AUTH gets 503 (the state bug of a flag set before the check; RFC 4954 §4
    /// lets the client try again, RFC 6409 §4.3 refuses mail without a login).
    FailedAuthLogsIn,
    /// On a port that speaks the PROXY protocol, greet a connection whose header is
    /// missing or malformed anyway, skipping the first line as if it were one: any
    /// client then passes for whoever it likes, and a server that guesses is the class
    /// of CVE-2023-42117 (HAProxy's specification: a receiver must not guess).
    ProxyLenient,
    /// Planted for the network fuzzer: close the connection without a reply when a
    /// MAIL or RCPT parameter value is longer than 700 octets (a fixed buffer that
    /// gives up). No catalogue case reaches it; `smtpspec fuzz` must.
    PlantedLongParamClose,
    /// Planted for the network fuzzer: answer HELP with an argument longer than 40
    /// octets with a two-line reply whose lines carry different codes (214, then 211).
    PlantedHelpMixedCodes,
    /// Planted for the network fuzzer: a MAIL `SIZE=` value of 2^32 or more whose low
    /// 32 bits are zero (a size kept in 32 bits wraps to 0) leaves the session hung: it
    /// neither answers nor closes, whatever follows.
    PlantedSizeWrapHang,
    /// Planted for the network fuzzer: the command after two RSETs in a row is
    /// answered twice (a reply buffer not cleared on a path only RSET takes), so every
    /// later reply answers the command before it.
    PlantedDoubleReply,
    /// Planted for the network fuzzer: a VRFY or EXPN argument with an octet over 127
    /// panics the session (an unchecked UTF-8 conversion); the server lives on and
    /// says so only in its log.
    PlantedVrfy8bitPanic,
    /// Planted for the network fuzzer: every RSET leaks 16 KiB that no session end
    /// frees; only the server's memory shows it.
    PlantedRsetLeak,
    /// Planted for the network fuzzer: an ETRN argument over 64 octets aborts the
    /// whole process (a fixed queue-name buffer behind a stack protector).
    PlantedEtrnAbort,
    /// Planted for the network fuzzer: a NOOP line with a number of 2^32 or more (a
    /// shared 32-bit counter set from it overflows) corrupts state every session
    /// shares, and from then on every RCPT, in any session, gets 451.
    /// One session shows nothing; the next transaction does.
    PlantedNoopPoison,
    /// Planted for the network fuzzer: a transaction that names the same recipient
    /// twice is stored twice (a delivery loop that does not merge recipients) and
    /// acknowledged once; only the store shows it.
    PlantedDoubleStore,
}

impl Deviation {
    /// Carried out by the reference server's connection driver, not by the session:
    /// the PROXY header comes before any SMTP, so no session state machine sees it.
    pub fn is_driven(self) -> bool {
        self == Self::ProxyLenient
    }

    /// Every deviation.
    pub const ALL: [Self; 32] = [
        Self::BareLfLineEnd,
        Self::DataEndLfDotLf,
        Self::KeepTransactionAfterRset,
        Self::RcptBeforeMail,
        Self::StartTlsKeepPlaintext,
        Self::StartTlsAdvertisedAfterTls,
        Self::MultilineAllFinal,
        Self::EnhancedClassMismatch,
        Self::DataWithoutRecipients,
        Self::Strip8thBit,
        Self::NoDotUnstuffing,
        Self::DoubleReply,
        Self::SizeNotEnforced,
        Self::TruncateLongLines,
        Self::UnqualifiedShellSender,
        Self::SegmentIsLine,
        Self::AuthInTransaction,
        Self::LfRegimePerMessage,
        Self::DataFlushesInput,
        Self::StripNulInData,
        Self::BdatSize32Bit,
        Self::FailedAuthLogsIn,
        Self::ProxyLenient,
        Self::PlantedLongParamClose,
        Self::PlantedHelpMixedCodes,
        Self::PlantedSizeWrapHang,
        Self::PlantedDoubleReply,
        Self::PlantedVrfy8bitPanic,
        Self::PlantedRsetLeak,
        Self::PlantedEtrnAbort,
        Self::PlantedNoopPoison,
        Self::PlantedDoubleStore,
    ];

    /// Planted bugs: the fuzzer's negative control, as the others are the catalogue's.
    /// The catalogue's deviation test leaves them out; the fuzzer's test takes them.
    pub fn is_planted(self) -> bool {
        matches!(
            self,
            Self::PlantedLongParamClose
                | Self::PlantedHelpMixedCodes
                | Self::PlantedSizeWrapHang
                | Self::PlantedDoubleReply
                | Self::PlantedVrfy8bitPanic
                | Self::PlantedRsetLeak
                | Self::PlantedEtrnAbort
                | Self::PlantedNoopPoison
                | Self::PlantedDoubleStore
        )
    }

    /// Planted bugs that only the server's store shows (the wire says one message,
    /// the store holds two): the fuzzer finds them when it can read the store.
    pub fn is_stored(self) -> bool {
        matches!(self, Self::PlantedDoubleStore)
    }

    /// Planted bugs that only the server's process shows (its log, its memory), not
    /// the wire: the fuzzer finds them when it watches a launched server.
    pub fn is_watched(self) -> bool {
        matches!(
            self,
            Self::PlantedVrfy8bitPanic | Self::PlantedRsetLeak | Self::PlantedEtrnAbort
        )
    }

    /// The name used by `smtpspec serve --deviate NAME`.
    pub fn name(self) -> &'static str {
        match self {
            Self::BareLfLineEnd => "bare-lf-line-end",
            Self::DataEndLfDotLf => "data-end-lf-dot-lf",
            Self::KeepTransactionAfterRset => "keep-transaction-after-rset",
            Self::RcptBeforeMail => "rcpt-before-mail",
            Self::StartTlsKeepPlaintext => "starttls-keep-plaintext",
            Self::StartTlsAdvertisedAfterTls => "starttls-advertised-after-tls",
            Self::MultilineAllFinal => "multiline-all-final",
            Self::EnhancedClassMismatch => "enhanced-class-mismatch",
            Self::DataWithoutRecipients => "data-without-recipients",
            Self::Strip8thBit => "strip-8th-bit",
            Self::NoDotUnstuffing => "no-dot-unstuffing",
            Self::DoubleReply => "double-reply",
            Self::SizeNotEnforced => "size-not-enforced",
            Self::TruncateLongLines => "truncate-long-lines",
            Self::UnqualifiedShellSender => "unqualified-shell-sender",
            Self::SegmentIsLine => "segment-is-line",
            Self::AuthInTransaction => "auth-in-transaction",
            Self::LfRegimePerMessage => "lf-regime-per-message",
            Self::DataFlushesInput => "data-flushes-input",
            Self::StripNulInData => "strip-nul-in-data",
            Self::BdatSize32Bit => "bdat-size-32-bit",
            Self::FailedAuthLogsIn => "failed-auth-logs-in",
            Self::ProxyLenient => "proxy-lenient",
            Self::PlantedLongParamClose => "planted-long-param-close",
            Self::PlantedHelpMixedCodes => "planted-help-mixed-codes",
            Self::PlantedSizeWrapHang => "planted-size-wrap-hang",
            Self::PlantedDoubleReply => "planted-double-reply",
            Self::PlantedVrfy8bitPanic => "planted-vrfy-8bit-panic",
            Self::PlantedRsetLeak => "planted-rset-leak",
            Self::PlantedEtrnAbort => "planted-etrn-abort",
            Self::PlantedNoopPoison => "planted-noop-poison",
            Self::PlantedDoubleStore => "planted-double-store",
        }
    }

    /// One line for `--list-deviations`: what goes wrong, and where it was seen.
    pub fn description(self) -> &'static str {
        match self {
            Self::BareLfLineEnd => {
                "accept a bare LF as a command line end (RFC 5321 §2.3.8; smuggling enabler)"
            }
            Self::DataEndLfDotLf => {
                "end DATA on <LF>.<LF> too (SMTP smuggling, CVE-2023-51764/51765/51766)"
            }
            Self::KeepTransactionAfterRset => {
                "RSET answers 250 but keeps sender and recipients (RFC 5321 §4.1.1.5)"
            }
            Self::RcptBeforeMail => "answer 250 to RCPT before MAIL (RFC 5321 §4.1.4 wants 503)",
            Self::StartTlsKeepPlaintext => {
                "run plaintext pipelined after STARTTLS inside TLS (CVE-2011-0411)"
            }
            Self::StartTlsAdvertisedAfterTls => {
                "advertise STARTTLS again after TLS is up (RFC 3207 §4.2)"
            }
            Self::MultilineAllFinal => {
                "mark every line of a multiline reply final: 250 a / 250 b (RFC 5321 §4.2.1)"
            }
            Self::EnhancedClassMismatch => {
                "enhanced status code class differs from the reply code (RFC 3463 §2)"
            }
            Self::DataWithoutRecipients => {
                "accept DATA with no accepted recipient (RFC 5321 §3.3 wants 503/554)"
            }
            Self::Strip8thBit => "strip the 8th bit of message content (RFC 6152)",
            Self::NoDotUnstuffing => "keep the leading dot of dot-stuffed lines (RFC 5321 §4.5.2)",
            Self::DoubleReply => "send two replies to NOOP and RSET (breaks pipelining)",
            Self::SizeNotEnforced => {
                "advertise SIZE but accept larger messages at end of data (RFC 1870 §6)"
            }
            Self::TruncateLongLines => {
                "cut command lines at 512 octets, extensions' allowances ignored, and run them (RFC 5321 §4.5.3.1.4)"
            }
            Self::UnqualifiedShellSender => {
                "accept MAIL FROM:<;shell;> without a domain (OpenSMTPD CVE-2020-7247)"
            }
            Self::SegmentIsLine => {
                "end a command line wherever a TCP read ends (RFC 2920 §3.2: input is a stream)"
            }
            Self::AuthInTransaction => "run AUTH inside a mail transaction (RFC 4954 §4 wants 503)",
            Self::LfRegimePerMessage => {
                "read a message whose first line ends in bare LF with LF line ends, <LF>.<LF> ending it (RFC 5321 §4.1.1.4)"
            }
            Self::DataFlushesInput => {
                "throw away input received before the 354 when DATA is accepted (RFC 2920 §3.2)"
            }
            Self::StripNulInData => {
                "drop NUL octets from message content, so <CRLF>.<NUL><CRLF> ends DATA (RFC 5321 §4.1.1.4)"
            }
            Self::BdatSize32Bit => {
                "keep BDAT chunk sizes in 32 bits, so BDAT 2^32+1 takes one octet (RFC 3030 §2)"
            }
            Self::FailedAuthLogsIn => {
                "count a failed or cancelled AUTH as a login (RFC 4954 §4, RFC 6409 §4.3)"
            }
            Self::ProxyLenient => {
                "on a PROXY port, greet despite a missing or malformed header (HAProxy's PROXY specification; CVE-2023-42117 class)"
            }
            Self::PlantedLongParamClose => {
                "planted for the fuzzer: close without a reply on a MAIL/RCPT parameter value over 700 octets (RFC 5321 §3.8)"
            }
            Self::PlantedHelpMixedCodes => {
                "planted for the fuzzer: a HELP argument over 40 octets gets 214-/211 mixed codes in one reply (RFC 5321 §4.2.1)"
            }
            Self::PlantedSizeWrapHang => {
                "planted for the fuzzer: MAIL with SIZE= a multiple of 2^32 hangs the session, no reply and no close (RFC 5321 §4.2)"
            }
            Self::PlantedDoubleReply => {
                "planted for the fuzzer: the command after two RSETs in a row is answered twice (RFC 5321 §4.2: one reply per command)"
            }
            Self::PlantedVrfy8bitPanic => {
                "planted for the fuzzer: a VRFY/EXPN argument with an 8-bit octet panics the session; only the log shows it (RFC 5321 §3.8)"
            }
            Self::PlantedRsetLeak => {
                "planted for the fuzzer: every RSET leaks 16 KiB for the life of the process; only its memory shows it"
            }
            Self::PlantedEtrnAbort => {
                "planted for the fuzzer: an ETRN argument over 64 octets aborts the process (SIGABRT); the pid shows how it died"
            }
            Self::PlantedNoopPoison => {
                "planted for the fuzzer: a number of 2^32 or more in a NOOP line makes every later RCPT, in any session, get 451 (shared state corrupted)"
            }
            Self::PlantedDoubleStore => {
                "planted for the fuzzer: a transaction naming the same recipient twice is stored twice and acknowledged once; only the store shows it"
            }
        }
    }

    /// Look a deviation up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The deviations switched on for a server; empty for the reference behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Deviations(u32);

impl Deviations {
    /// No deviation: the reference server.
    pub const NONE: Self = Self(0);

    /// This set with `d` switched on.
    pub fn with(self, d: Deviation) -> Self {
        Self(self.0 | d.bit())
    }

    /// True if `d` is on.
    pub fn has(self, d: Deviation) -> bool {
        self.0 & d.bit() != 0
    }

    /// True if none is on.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The deviations that are on.
    pub fn iter(self) -> impl Iterator<Item = Deviation> {
        Deviation::ALL.into_iter().filter(move |d| self.has(*d))
    }
}

impl FromIterator<Deviation> for Deviations {
    fn from_iter<I: IntoIterator<Item = Deviation>>(iter: I) -> Self {
        iter.into_iter().fold(Self::NONE, Self::with)
    }
}

/// The trigger of [`Deviation::PlantedLongParamClose`]: a MAIL or RCPT line with a
/// `KEYWORD=value` parameter after the path whose value is longer than 700 octets.
pub(super) fn long_param(line: &[u8]) -> bool {
    let verb = line.get(..4).unwrap_or_default();
    if !verb.eq_ignore_ascii_case(b"MAIL") && !verb.eq_ignore_ascii_case(b"RCPT") {
        return false;
    }
    let Some(after_path) = line.iter().position(|&b| b == b'>') else {
        return false;
    };
    line[after_path..]
        .split(|&b| b == b' ')
        .filter_map(|word| word.iter().position(|&b| b == b'=').map(|i| &word[i + 1..]))
        .any(|value| value.len() > 700)
}

/// The trigger of [`Deviation::PlantedSizeWrapHang`]: a MAIL line whose `SIZE=` value
/// is at least 2^32 and a multiple of it, so a 32-bit copy of it is 0.
pub(super) fn size_wraps(line: &[u8]) -> bool {
    if !line
        .get(..4)
        .is_some_and(|v| v.eq_ignore_ascii_case(b"MAIL"))
    {
        return false;
    }
    line.split(|&b| b == b' ')
        .filter(|w| w.len() > 5 && w[..5].eq_ignore_ascii_case(b"SIZE="))
        .filter_map(|w| std::str::from_utf8(&w[5..]).ok()?.parse::<u64>().ok())
        .any(|n| n >= 1 << 32 && n % (1 << 32) == 0)
}

/// A VRFY or EXPN line whose octets are not all ASCII (the planted panic's trigger).
pub(super) fn is_8bit_verify(line: &[u8]) -> bool {
    let verb = &line[..line.len().min(5)];
    (verb.eq_ignore_ascii_case(b"VRFY ") || verb.eq_ignore_ascii_case(b"EXPN ")) && !line.is_ascii()
}

/// An ETRN line whose argument is over 64 octets (the planted abort's trigger).
pub(super) fn is_long_etrn(line: &[u8]) -> bool {
    line.len() > 5 + 64 && line[..5].eq_ignore_ascii_case(b"ETRN ")
}

/// A NOOP line with a decimal number of 2^32 or more in it (the planted poison's
/// trigger).
pub(super) fn is_noop_overflow(line: &[u8]) -> bool {
    line.len() > 5
        && line[..5].eq_ignore_ascii_case(b"NOOP ")
        && line
            .split(|b| !b.is_ascii_digit())
            .any(|run| run.len() > 10 || (run.len() == 10 && run > b"4294967295".as_slice()))
}

/// The state `PlantedNoopPoison` corrupts: shared by every session of the process,
/// as a real server's caches and pools are. Only that deviation reads or writes it.
pub(super) static POISONED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// True when `line` is an RSET (for [`Deviation::PlantedDoubleReply`]).
pub(super) fn is_rset(line: &[u8]) -> bool {
    line.eq_ignore_ascii_case(b"RSET")
}
