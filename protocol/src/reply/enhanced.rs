//! Enhanced mail system status codes (RFC 3463), carried at the start of reply text when
//! the server advertises ENHANCEDSTATUSCODES (RFC 2034).

use std::fmt;

/// `class.subject.detail`, e.g. `5.1.1` (bad destination mailbox address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnhancedCode {
    /// 2 success, 4 persistent transient failure, 5 permanent failure (RFC 3463 §3.1).
    pub class: u8,
    /// The subject (RFC 3463 §3.2), 0 to 999.
    pub subject: u16,
    /// The detail (RFC 3463 §3.3), 0 to 999.
    pub detail: u16,
}

impl EnhancedCode {
    /// A code, if its parts are in range (class 2, 4 or 5; subject and detail up to three
    /// digits, RFC 3463 §2).
    pub const fn new(class: u8, subject: u16, detail: u16) -> Option<Self> {
        if matches!(class, 2 | 4 | 5) && subject <= 999 && detail <= 999 {
            Some(Self {
                class,
                subject,
                detail,
            })
        } else {
            None
        }
    }

    /// Parse a code at the start of `text`; returns it and the octets it took,
    /// including the single space that separates it from the rest of the text.
    pub fn parse_prefix(text: &[u8]) -> Option<(Self, usize)> {
        fn number(s: &[u8], at: &mut usize) -> Option<u16> {
            let start = *at;
            while *at < s.len() && s[*at].is_ascii_digit() && *at - start < 4 {
                *at += 1;
            }
            let digits = &s[start..*at];
            if digits.is_empty() || digits.len() > 3 {
                return None;
            }
            Some(digits.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0')))
        }
        let mut at = 0;
        let class = number(text, &mut at)?;
        if text.get(at) != Some(&b'.') {
            return None;
        }
        at += 1;
        let subject = number(text, &mut at)?;
        if text.get(at) != Some(&b'.') {
            return None;
        }
        at += 1;
        let detail = number(text, &mut at)?;
        match text.get(at) {
            None => {}
            Some(b' ') => at += 1,
            Some(_) => return None,
        }
        let code = Self::new(u8::try_from(class).ok()?, subject, detail)?;
        Some((code, at))
    }

    /// 2.0.0 Other undefined status: success.
    pub const OK: Self = Self {
        class: 2,
        subject: 0,
        detail: 0,
    };
    /// 2.1.0 Other address status: sender accepted.
    pub const SENDER_OK: Self = Self {
        class: 2,
        subject: 1,
        detail: 0,
    };
    /// 2.1.5 Destination address valid.
    pub const RECIPIENT_OK: Self = Self {
        class: 2,
        subject: 1,
        detail: 5,
    };
    /// 2.5.0 Other or undefined protocol status: success (VRFY 252).
    pub const PROTOCOL_OK: Self = Self {
        class: 2,
        subject: 5,
        detail: 0,
    };
    /// 2.7.0 Other or undefined security status: authentication succeeded (RFC 4954 §6).
    pub const AUTH_OK: Self = Self {
        class: 2,
        subject: 7,
        detail: 0,
    };
    /// 4.3.0 Other or undefined mail system status: local error.
    pub const SYSTEM_TEMP: Self = Self {
        class: 4,
        subject: 3,
        detail: 0,
    };
    /// 4.3.2 System not accepting network messages: shutting down.
    pub const SHUTTING_DOWN: Self = Self {
        class: 4,
        subject: 3,
        detail: 2,
    };
    /// 4.4.2 Bad connection: timeout.
    pub const TIMEOUT: Self = Self {
        class: 4,
        subject: 4,
        detail: 2,
    };
    /// 5.1.1 Bad destination mailbox address.
    pub const BAD_MAILBOX: Self = Self {
        class: 5,
        subject: 1,
        detail: 1,
    };
    /// 5.2.3 Message length exceeds administrative limit.
    pub const LENGTH_EXCEEDS_LIMIT: Self = Self {
        class: 5,
        subject: 2,
        detail: 3,
    };
    /// 5.3.4 Message too big for system.
    pub const MESSAGE_TOO_BIG: Self = Self {
        class: 5,
        subject: 3,
        detail: 4,
    };
    /// 5.3.2 System not accepting network messages (RFC 7504 §3).
    pub const NOT_ACCEPTING: Self = Self {
        class: 5,
        subject: 3,
        detail: 2,
    };
    /// 5.5.1 Invalid command.
    pub const INVALID_COMMAND: Self = Self {
        class: 5,
        subject: 5,
        detail: 1,
    };
    /// 5.5.2 Syntax error.
    pub const SYNTAX_ERROR: Self = Self {
        class: 5,
        subject: 5,
        detail: 2,
    };
    /// 5.5.3 Too many recipients (permanent).
    pub const TOO_MANY_RECIPIENTS: Self = Self {
        class: 5,
        subject: 5,
        detail: 3,
    };
    /// 4.5.3 Too many recipients (try the rest later, RFC 5321 §4.5.3.1.10).
    pub const TOO_MANY_RECIPIENTS_TEMP: Self = Self {
        class: 4,
        subject: 5,
        detail: 3,
    };
    /// 5.5.4 Invalid command arguments.
    pub const INVALID_ARGUMENTS: Self = Self {
        class: 5,
        subject: 5,
        detail: 4,
    };
    /// 5.6.7 Non-ASCII addresses not permitted (RFC 6531 §3.5).
    pub const NON_ASCII_NOT_PERMITTED: Self = Self {
        class: 5,
        subject: 6,
        detail: 7,
    };
    /// 5.4.6 Routing loop detected (too many Received lines, RFC 5321 §6.3).
    pub const ROUTING_LOOP: Self = Self {
        class: 5,
        subject: 4,
        detail: 6,
    };
    /// 5.6.0 Other or undefined media error: bad content (bare CR/LF, NUL).
    pub const BAD_CONTENT: Self = Self {
        class: 5,
        subject: 6,
        detail: 0,
    };
    /// 5.7.0 Other or undefined security status.
    pub const SECURITY: Self = Self {
        class: 5,
        subject: 7,
        detail: 0,
    };
    /// 5.7.8 Authentication credentials invalid (RFC 4954 §6).
    pub const AUTH_INVALID: Self = Self {
        class: 5,
        subject: 7,
        detail: 8,
    };
    /// 5.7.11 Encryption required for requested authentication mechanism (RFC 4954 §6).
    pub const ENCRYPTION_NEEDED: Self = Self {
        class: 5,
        subject: 7,
        detail: 11,
    };
}

impl EnhancedCode {
    /// The code as it goes on the wire (`class.subject.detail`), written into `buf`
    /// without the allocation of `to_string`; the written part is returned. The fields
    /// are public, so any `u16` is written as `Display` would write it.
    pub(crate) fn write_to(self, buf: &mut [u8; ENHANCED_MAX]) -> &[u8] {
        let mut n = 0;
        for (i, v) in [u16::from(self.class), self.subject, self.detail]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                buf[n] = b'.';
                n += 1;
            }
            let mut digits = [0u8; 5];
            let mut len = 0;
            let mut rest = v;
            loop {
                digits[len] = b'0' + (rest % 10) as u8;
                len += 1;
                rest /= 10;
                if rest == 0 {
                    break;
                }
            }
            for &d in digits[..len].iter().rev() {
                buf[n] = d;
                n += 1;
            }
        }
        &buf[..n]
    }
}

/// The longest enhanced code [`EnhancedCode::write_to`] can write: a `u8` (three
/// digits), two `u16`s (five each) and two dots.
pub(crate) const ENHANCED_MAX: usize = 15;

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_displayed() {
        let mut buf = [0u8; ENHANCED_MAX];
        for e in [
            EnhancedCode::new(2, 0, 0).unwrap(),
            EnhancedCode::new(5, 7, 23).unwrap(),
            EnhancedCode::new(4, 999, 100).unwrap(),
            EnhancedCode {
                class: 255,
                subject: u16::MAX,
                detail: 10,
            },
            // The longest there is: it fills the buffer.
            EnhancedCode {
                class: 255,
                subject: u16::MAX,
                detail: u16::MAX,
            },
        ] {
            assert_eq!(e.write_to(&mut buf), e.to_string().as_bytes());
        }
    }

    #[test]
    fn prefix() {
        assert_eq!(
            EnhancedCode::parse_prefix(b"5.1.1 No such user"),
            Some((EnhancedCode::BAD_MAILBOX, 6))
        );
        assert_eq!(
            EnhancedCode::parse_prefix(b"2.0.0"),
            Some((EnhancedCode::OK, 5))
        );
        assert_eq!(EnhancedCode::parse_prefix(b"2.0.0x"), None);
        assert_eq!(EnhancedCode::parse_prefix(b"3.0.0 x"), None);
        assert_eq!(EnhancedCode::parse_prefix(b"2.1000.0 x"), None);
        assert_eq!(EnhancedCode::parse_prefix(b"Ok"), None);
        assert_eq!(EnhancedCode::OK.to_string(), "2.0.0");
    }
}
