//! Mailboxes, domains, address literals and paths (RFC 5321 §4.1.2, §4.1.3).
//!
//! Values hold the *meaning* of what was on the wire (a local part without its quotes,
//! an IP address as a number), so that two spellings of one address compare equal, as
//! §4.1.2 demands ("all quoted forms MUST be treated as equivalent"). Formatting writes
//! the minimal quoting, which is what a sender SHOULD transmit.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::leniency::{Leniency, Notes};
use crate::limits::{MAX_DOMAIN, MAX_LOCAL_PART, MAX_PATH};
use crate::syntax::{Cursor, SyntaxError, class, is, is_atext, is_qtext};

/// A domain name of letters, digits and hyphens (RFC 5321 §4.1.2 `Domain`), or with
/// SMTPUTF8 also U-labels (RFC 6531 §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Domain(String);

impl Domain {
    /// Parse a whole string as a strict ASCII domain.
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        let mut c = Cursor::new(s.as_bytes());
        let mut notes = Notes::default();
        let d = parse_domain(&mut c, &mut notes)?;
        if !c.is_empty() || !notes.leniencies.is_empty() || notes.non_ascii {
            return Err(c.error("end of domain"));
        }
        Ok(d)
    }

    /// The domain as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An address literal in brackets (RFC 5321 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddressLiteral {
    /// `[192.0.2.1]`
    V4(Ipv4Addr),
    /// `[IPv6:2001:db8::1]`
    V6(Ipv6Addr),
    /// `[tag:content]`, a standardized tag other than IPv6.
    General {
        /// The tag (an `Ldh-str`).
        tag: String,
        /// The content after the colon (`1*dcontent`).
        content: String,
    },
}

impl fmt::Display for AddressLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(a) => write!(f, "[{a}]"),
            Self::V6(a) => write!(f, "[IPv6:{a}]"),
            Self::General { tag, content } => write!(f, "[{tag}:{content}]"),
        }
    }
}

/// What follows the `@` of a mailbox, and what EHLO names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name.
    Domain(Domain),
    /// An address literal.
    Literal(AddressLiteral),
}

impl Host {
    /// Parse a whole string as a strict domain or address literal, as EHLO would send
    /// it: what a client configured with its own name must check before it uses it.
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        let mut c = Cursor::new(s.as_bytes());
        let mut notes = Notes::default();
        let h = parse_host(&mut c, &mut notes)?;
        if !c.is_empty() {
            return Err(c.error("end of host"));
        }
        if !notes.leniencies.is_empty() || notes.non_ascii {
            return Err(SyntaxError {
                offset: 0,
                expected: "a strict ASCII domain or address literal",
            });
        }
        Ok(h)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(d) => d.fmt(f),
            Self::Literal(l) => l.fmt(f),
        }
    }
}

/// A local part by meaning: the text without quotes or quoting backslashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalPart(String);

impl LocalPart {
    /// A local part holding `text`; fails on characters that no quoting can carry
    /// (controls, and non-ASCII that is not UTF-8 text).
    pub fn new(text: impl Into<String>) -> Result<Self, SyntaxError> {
        let text = text.into();
        if text.is_empty() {
            return Err(SyntaxError {
                offset: 0,
                expected: "a non-empty local part",
            });
        }
        if let Some(at) = text.bytes().position(|b| b < 32 || b == 127) {
            return Err(SyntaxError {
                offset: at,
                expected: "no control characters in a local part",
            });
        }
        Ok(Self(text))
    }

    /// The text of the local part, quotes removed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if the text is a `Dot-string` and needs no quotes.
    pub fn is_dot_string(&self) -> bool {
        !self.0.is_empty()
            && self
                .0
                .split('.')
                .all(|atom| !atom.is_empty() && atom.bytes().all(|b| is_atext(b) || b >= 0x80))
    }
}

impl fmt::Display for LocalPart {
    /// Writes the minimal quoting (RFC 5321 §4.1.2: "the sending system SHOULD transmit
    /// the form that uses the minimum quoting possible").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_dot_string() {
            return f.write_str(&self.0);
        }
        f.write_str("\"")?;
        for ch in self.0.chars() {
            if ch == '"' || ch == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{ch}")?;
        }
        f.write_str("\"")
    }
}

/// `local-part@host` (RFC 5321 §4.1.2 `Mailbox`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The local part.
    pub local: LocalPart,
    /// The domain or address literal; `None` only from a lenient parse of an unqualified
    /// address ([`Leniency::UnqualifiedAddress`]).
    pub host: Option<Host>,
}

impl Mailbox {
    /// Parse a whole string as a strict mailbox (no brackets).
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        let mut c = Cursor::new(s.as_bytes());
        let mut notes = Notes::default();
        let m = parse_mailbox(&mut c, &mut notes)?;
        if !c.is_empty() {
            return Err(c.error("end of mailbox"));
        }
        if !notes.leniencies.is_empty() || notes.non_ascii {
            return Err(SyntaxError {
                offset: 0,
                expected: "a strict ASCII mailbox",
            });
        }
        Ok(m)
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(h) => write!(f, "{}@{}", self.local, h),
            None => write!(f, "{}", self.local),
        }
    }
}

/// The argument of MAIL FROM (RFC 5321 §4.1.2 `Reverse-path`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`, used for bounces (RFC 5321 §4.5.5).
    Null,
    /// A sender mailbox.
    Mailbox(Mailbox),
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("<>"),
            Self::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// The argument of RCPT TO (RFC 5321 §4.1.1.3 `Forward-path`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain, which every server must accept (RFC 5321 §4.5.1).
    Postmaster,
    /// A recipient mailbox.
    Mailbox(Mailbox),
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postmaster => f.write_str("<Postmaster>"),
            Self::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// Parse `Domain`: labels of letters, digits and inner hyphens. U-labels are accepted
/// and noted; underscores are accepted and noted as a leniency.
pub(crate) fn parse_domain(c: &mut Cursor<'_>, notes: &mut Notes) -> Result<Domain, SyntaxError> {
    let start = c.pos();
    loop {
        let label_start = c.pos();
        while let Some(b) = c.peek() {
            if is(b, class::LABEL) {
                c.bump();
            } else if is(b, class::HIGH) {
                if c.utf8_non_ascii().is_none() {
                    return Err(c.error("UTF-8 text in a domain label"));
                }
                notes.non_ascii = true;
            } else {
                break;
            }
        }
        let label = c.slice(label_start, c.pos());
        match (label.first(), label.last()) {
            (None, _) => return Err(c.error("a domain label")),
            (Some(b'-'), _) => {
                return Err(SyntaxError {
                    offset: label_start,
                    expected: "a letter or digit to start a domain label",
                });
            }
            (_, Some(b'-')) => {
                return Err(SyntaxError {
                    offset: c.pos() - 1,
                    expected: "a letter or digit to end a domain label",
                });
            }
            _ => {}
        }
        if label.contains(&b'_') {
            notes.add(Leniency::UnderscoreInDomain);
        }
        if label.len() > 63 {
            return Err(SyntaxError {
                offset: label_start,
                expected: "a domain label of at most 63 octets (RFC 1035 §2.3.4)",
            });
        }
        if c.peek() == Some(b'.')
            && c.peek_at(1)
                .is_some_and(|b| is(b, class::LABEL | class::HIGH))
        {
            c.bump();
        } else {
            break;
        }
    }
    if c.pos() - start > MAX_DOMAIN {
        notes.add(Leniency::OverlongDomain);
    }
    Ok(Domain(c.text(start, c.pos())))
}

/// Parse the content of an address literal including its brackets.
pub(crate) fn parse_address_literal(c: &mut Cursor<'_>) -> Result<AddressLiteral, SyntaxError> {
    c.expect(b'[', "'[' to open an address literal")?;
    let start = c.pos();
    let body = c.take_while(|b| b != b']' && (33..=126).contains(&b));
    let lit = parse_literal_body(body).map_err(|(off, expected)| SyntaxError {
        offset: start + off,
        expected,
    })?;
    c.expect(b']', "']' to close an address literal")?;
    Ok(lit)
}

fn parse_literal_body(body: &[u8]) -> Result<AddressLiteral, (usize, &'static str)> {
    if body.first().is_some_and(u8::is_ascii_digit) {
        return parse_ipv4(body)
            .map(AddressLiteral::V4)
            .ok_or((0, "an IPv4 address of four numbers 0-255"));
    }
    let colon = body
        .iter()
        .position(|&b| b == b':')
        .ok_or((0, "an IPv4 address or 'tag:' of an address literal"))?;
    let (tag, content) = (&body[..colon], &body[colon + 1..]);
    if tag.is_empty() || !tag.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err((0, "a standardized tag (Ldh-str) of an address literal"));
    }
    if tag.eq_ignore_ascii_case(b"IPv6") {
        let text = std::str::from_utf8(content).map_err(|_| (colon + 1, "an IPv6 address"))?;
        return text
            .parse::<Ipv6Addr>()
            .map(AddressLiteral::V6)
            .map_err(|_| (colon + 1, "an IPv6 address (RFC 4291)"));
    }
    if content.is_empty() || !content.iter().all(|&b| matches!(b, 33..=90 | 94..=126)) {
        return Err((colon + 1, "dcontent of a general address literal"));
    }
    Ok(AddressLiteral::General {
        tag: String::from_utf8_lossy(tag).into_owned(),
        content: String::from_utf8_lossy(content).into_owned(),
    })
}

/// RFC 5321 `Snum 3("." Snum)`: 1 to 3 digits each, value at most 255; leading zeros are
/// allowed by the grammar.
fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split(|&b| b == b'.');
    for slot in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = part
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
        *slot = u8::try_from(v).ok()?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

/// Parse a domain or an address literal.
pub(crate) fn parse_host(c: &mut Cursor<'_>, notes: &mut Notes) -> Result<Host, SyntaxError> {
    if c.peek() == Some(b'[') {
        parse_address_literal(c).map(Host::Literal)
    } else {
        parse_domain(c, notes).map(Host::Domain)
    }
}

/// Parse `Local-part`: a dot-string or a quoted string.
pub(crate) fn parse_local_part(
    c: &mut Cursor<'_>,
    notes: &mut Notes,
) -> Result<LocalPart, SyntaxError> {
    let start = c.pos();
    let mut text = String::new();
    if c.eat(b'"') {
        loop {
            match c.peek() {
                Some(b'"') => {
                    c.bump();
                    break;
                }
                Some(b'\\') => {
                    c.bump();
                    match c.bump() {
                        Some(b @ 32..=126) => text.push(b as char),
                        _ => return Err(c.error("a printable character after '\\'")),
                    }
                }
                Some(b) if is_qtext(b) => {
                    c.bump();
                    text.push(b as char);
                }
                Some(b) if b >= 0x80 => match c.utf8_non_ascii() {
                    Some(ch) => {
                        notes.non_ascii = true;
                        text.push_str(ch);
                    }
                    None => return Err(c.error("UTF-8 text in a quoted string")),
                },
                _ => return Err(c.error("'\"' to close the quoted local part")),
            }
        }
        if text.is_empty() {
            // `""` is grammatical but names nothing a server can deliver to.
            return Err(SyntaxError {
                offset: start,
                expected: "a non-empty quoted local part",
            });
        }
    } else {
        loop {
            let atom_start = c.pos();
            loop {
                c.take_while(is_atext);
                if !c.peek().is_some_and(|b| is(b, class::HIGH)) {
                    break;
                }
                if c.utf8_non_ascii().is_none() {
                    return Err(c.error("UTF-8 text in a local part"));
                }
                notes.non_ascii = true;
            }
            if c.pos() == atom_start {
                return Err(c.error("an atom of the local part (atext)"));
            }
            if !c.eat(b'.') {
                break;
            }
        }
        text = c.text(start, c.pos());
    }
    if c.pos() - start > MAX_LOCAL_PART {
        notes.add(Leniency::OverlongLocalPart);
    }
    Ok(LocalPart(text))
}

/// Parse `Mailbox` without brackets. A missing `@domain` is accepted as a leniency.
pub(crate) fn parse_mailbox(c: &mut Cursor<'_>, notes: &mut Notes) -> Result<Mailbox, SyntaxError> {
    let local = parse_local_part(c, notes)?;
    if c.eat(b'@') {
        let host = parse_host(c, notes)?;
        Ok(Mailbox {
            local,
            host: Some(host),
        })
    } else {
        notes.add(Leniency::UnqualifiedAddress);
        Ok(Mailbox { local, host: None })
    }
}

/// What a path in brackets held.
pub(crate) enum RawPath {
    Null,
    Mailbox(Mailbox),
}

/// Parse `Path` or `<>`, with an optional source route that is accepted and dropped
/// (RFC 5321 §4.1.2 `A-d-l`: "MUST BE accepted, ... SHOULD be ignored"). Missing
/// brackets are a leniency.
pub(crate) fn parse_path(c: &mut Cursor<'_>, notes: &mut Notes) -> Result<RawPath, SyntaxError> {
    let start = c.pos();
    let bracketed = c.eat(b'<');
    if !bracketed {
        notes.add(Leniency::MissingAngleBrackets);
    }
    if bracketed && c.eat(b'>') {
        return Ok(RawPath::Null);
    }
    if c.peek() == Some(b'@') {
        loop {
            c.expect(b'@', "'@' of a source route")?;
            parse_domain(c, notes)?;
            if !c.eat(b',') {
                break;
            }
        }
        c.expect(b':', "':' after the source route")?;
    }
    let mailbox = parse_mailbox(c, notes)?;
    if bracketed {
        c.expect(b'>', "'>' to close the path")?;
    }
    if c.pos() - start > MAX_PATH {
        notes.add(Leniency::OverlongPath);
    }
    Ok(RawPath::Mailbox(mailbox))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> (Result<RawPath, SyntaxError>, Notes) {
        let mut notes = Notes::default();
        let mut c = Cursor::new(s.as_bytes());
        (parse_path(&mut c, &mut notes), notes)
    }

    fn mailbox_of(s: &str) -> Mailbox {
        match path(s).0 {
            Ok(RawPath::Mailbox(m)) => m,
            _ => panic!("no mailbox in {s}"),
        }
    }

    #[test]
    fn quoted_and_unquoted_forms_are_equal() {
        assert_eq!(
            mailbox_of("<\"joe\"@example.org>"),
            mailbox_of("<joe@example.org>")
        );
        assert_eq!(
            mailbox_of("<\"Joe\\,Smith\"@x.test>").local.as_str(),
            "Joe,Smith"
        );
        assert_eq!(
            mailbox_of("<\"a b\"@x.test>").to_string(),
            "\"a b\"@x.test",
            "formatting quotes only what needs it"
        );
    }

    #[test]
    fn source_route_is_accepted_and_dropped() {
        let m = mailbox_of("<@relay.test,@hop.test:user@x.test>");
        assert_eq!(m.to_string(), "user@x.test");
    }

    #[test]
    fn address_literals() {
        assert_eq!(
            mailbox_of("<u@[192.0.2.1]>").host,
            Some(Host::Literal(AddressLiteral::V4(Ipv4Addr::new(
                192, 0, 2, 1
            ))))
        );
        assert_eq!(mailbox_of("<u@[001.0.2.1]>").to_string(), "u@[1.0.2.1]");
        assert!(matches!(
            mailbox_of("<u@[IPv6:2001:db8::1]>").host,
            Some(Host::Literal(AddressLiteral::V6(_)))
        ));
        assert!(matches!(
            mailbox_of("<u@[x-tag:abc]>").host,
            Some(Host::Literal(AddressLiteral::General { .. }))
        ));
        assert!(path("<u@[256.0.0.1]>").0.is_err());
        assert!(path("<u@[IPv6:2001:db8:::1]>").0.is_err());
    }

    #[test]
    fn domain_label_rules() {
        assert!(Domain::parse("a-b.example").is_ok());
        assert!(Domain::parse("-a.example").is_err());
        assert!(Domain::parse("a-.example").is_err());
        assert!(Domain::parse("a..example").is_err());
        assert!(
            Domain::parse("a_b.example").is_err(),
            "strict refuses underscore"
        );
        let (r, notes) = path("<u@a_b.example>");
        assert!(r.is_ok());
        assert_eq!(notes.leniencies, vec![Leniency::UnderscoreInDomain]);
    }

    #[test]
    fn leniencies_are_named() {
        let (r, notes) = path("u@x.test");
        assert!(r.is_ok());
        assert_eq!(notes.leniencies, vec![Leniency::MissingAngleBrackets]);
        let (_, notes) = path("<root>");
        assert_eq!(notes.leniencies, vec![Leniency::UnqualifiedAddress]);
        let long = format!("<{}@x.test>", "a".repeat(65));
        assert_eq!(path(&long).1.leniencies, vec![Leniency::OverlongLocalPart]);
    }

    #[test]
    fn utf8_is_noted() {
        let (r, notes) = path("<用户@例子.测试>");
        assert!(r.is_ok());
        assert!(notes.non_ascii);
        assert!(path("<\u{0}@x>").0.is_err());
        let mut c = Cursor::new(b"<\xff@x.test>");
        assert!(parse_path(&mut c, &mut Notes::default()).is_err());
    }
}
