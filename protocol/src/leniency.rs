//! Leniencies: departures from the strict grammar that real servers commonly tolerate.
//!
//! The parsers of this crate are strict by default. In lenient mode they accept each of
//! these departures and name it, so the caller decides: the reference server refuses them
//! (501), a deliberately broken server accepts them, and the harness can report which
//! ones a target tolerates.

use std::fmt;

/// One named departure from the RFC grammar that a parser tolerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leniency {
    /// `MAIL FROM: <a@b>`: RFC 5321 §4.1.1.2 puts no space between the colon and the path.
    SpaceAfterColon,
    /// `MAIL FROM :<a@b>`: the colon belongs to the keyword (RFC 5321 §4.1.1.2).
    SpaceBeforeColon,
    /// `MAIL FROM:a@b`: the path must be in angle brackets (RFC 5321 §4.1.2 `Path`).
    MissingAngleBrackets,
    /// Spaces or tabs at the end of the line (RFC 5321 §4.1.1: the line ends after the
    /// last argument).
    TrailingWhitespace,
    /// More than one space, or a tab, where the grammar has one SP (RFC 5321 §4.1.1).
    ExtraWhitespace,
    /// Non-ASCII octets in a command without SMTPUTF8 (RFC 5321 §4.1.2; RFC 6531 §3.3).
    EightBitWithoutSmtputf8,
    /// A mailbox with no `@domain` other than `<Postmaster>` (RFC 5321 §4.1.2 `Mailbox`);
    /// the shape of the CVE-2020-7247 attack.
    UnqualifiedAddress,
    /// An underscore in a domain label (RFC 5321 §4.1.2: only letters, digits, hyphen).
    UnderscoreInDomain,
    /// A local part over 64 octets (RFC 5321 §4.5.3.1.1).
    OverlongLocalPart,
    /// A domain over 255 octets (RFC 5321 §4.5.3.1.2).
    OverlongDomain,
    /// A path over 256 octets (RFC 5321 §4.5.3.1.3).
    OverlongPath,
    /// `HELO [192.0.2.1]`: HELO takes a domain only; address literals belong to EHLO
    /// (RFC 5321 §4.1.1.1).
    HeloAddressLiteral,
}

impl Leniency {
    /// Every leniency, for listings and tests.
    pub const ALL: [Self; 12] = [
        Self::SpaceAfterColon,
        Self::SpaceBeforeColon,
        Self::MissingAngleBrackets,
        Self::TrailingWhitespace,
        Self::ExtraWhitespace,
        Self::EightBitWithoutSmtputf8,
        Self::UnqualifiedAddress,
        Self::UnderscoreInDomain,
        Self::OverlongLocalPart,
        Self::OverlongDomain,
        Self::OverlongPath,
        Self::HeloAddressLiteral,
    ];

    /// A stable identifier, used in reports and configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Self::SpaceAfterColon => "space-after-colon",
            Self::SpaceBeforeColon => "space-before-colon",
            Self::MissingAngleBrackets => "missing-angle-brackets",
            Self::TrailingWhitespace => "trailing-whitespace",
            Self::ExtraWhitespace => "extra-whitespace",
            Self::EightBitWithoutSmtputf8 => "eight-bit-without-smtputf8",
            Self::UnqualifiedAddress => "unqualified-address",
            Self::UnderscoreInDomain => "underscore-in-domain",
            Self::OverlongLocalPart => "overlong-local-part",
            Self::OverlongDomain => "overlong-domain",
            Self::OverlongPath => "overlong-path",
            Self::HeloAddressLiteral => "helo-address-literal",
        }
    }

    /// The RFC section whose grammar or limit the departure breaks.
    pub fn section(self) -> &'static str {
        match self {
            Self::SpaceAfterColon | Self::SpaceBeforeColon => "RFC 5321 §4.1.1.2",
            Self::MissingAngleBrackets | Self::UnqualifiedAddress | Self::UnderscoreInDomain => {
                "RFC 5321 §4.1.2"
            }
            Self::TrailingWhitespace | Self::ExtraWhitespace => "RFC 5321 §4.1.1",
            Self::EightBitWithoutSmtputf8 => "RFC 6531 §3.3",
            Self::OverlongLocalPart => "RFC 5321 §4.5.3.1.1",
            Self::OverlongDomain => "RFC 5321 §4.5.3.1.2",
            Self::OverlongPath => "RFC 5321 §4.5.3.1.3",
            Self::HeloAddressLiteral => "RFC 5321 §4.1.1.1",
        }
    }
}

impl fmt::Display for Leniency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.section())
    }
}

/// What a lenient parse found besides the value itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Notes {
    pub(crate) leniencies: Vec<Leniency>,
    /// Non-ASCII text was accepted somewhere (needs SMTPUTF8 to be legal).
    pub(crate) non_ascii: bool,
}

impl Notes {
    pub(crate) fn add(&mut self, l: Leniency) {
        if !self.leniencies.contains(&l) {
            self.leniencies.push(l);
        }
    }
}
