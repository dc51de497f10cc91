//! The EHLO response (RFC 5321 §4.1.1.1): the server's name, an optional greeting, and
//! one line per service extension with its parameters.
//!
//! ```text
//! ehlo-ok-rsp  = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
//!              / ( "250-" Domain [ SP ehlo-greet ] CRLF
//!                 *( "250-" ehlo-line CRLF )
//!                 "250" SP ehlo-line CRLF )
//! ehlo-line    = ehlo-keyword *( SP ehlo-param )
//! ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//! ehlo-param   = 1*(%d33-126)
//! ```

use std::fmt;

use crate::reply::{Reply, ReplyCode};

/// Extension keywords smtpspec knows, each with the RFC that defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Extension {
    /// RFC 1870: message size declaration; parameter is the maximum size.
    Size,
    /// RFC 2920: command pipelining.
    Pipelining,
    /// RFC 6152: 8-bit MIME transport.
    EightBitMime,
    /// RFC 6531: internationalized email.
    SmtpUtf8,
    /// RFC 2034: enhanced status codes in replies.
    EnhancedStatusCodes,
    /// RFC 3207: TLS upgrade.
    StartTls,
    /// RFC 4954: authentication; parameters are SASL mechanisms.
    Auth,
    /// RFC 3030: BDAT.
    Chunking,
    /// RFC 3030: binary MIME bodies with BDAT.
    BinaryMime,
    /// RFC 3461: delivery status notifications.
    Dsn,
    /// RFC 1985: remote queue starting.
    Etrn,
    /// RFC 5321 §3.5.2 (not an extension, but advertised by some servers).
    Vrfy,
    /// RFC 5321 §3.5.2: EXPN advertised (an extension keyword registered by RFC 1869).
    Expn,
    /// RFC 5321 §4.1.1.8 (advertised by some servers).
    Help,
}

impl Extension {
    /// Every known extension.
    pub const ALL: [Self; 14] = [
        Self::Size,
        Self::Pipelining,
        Self::EightBitMime,
        Self::SmtpUtf8,
        Self::EnhancedStatusCodes,
        Self::StartTls,
        Self::Auth,
        Self::Chunking,
        Self::BinaryMime,
        Self::Dsn,
        Self::Etrn,
        Self::Vrfy,
        Self::Expn,
        Self::Help,
    ];

    /// The keyword as advertised.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Size => "SIZE",
            Self::Pipelining => "PIPELINING",
            Self::EightBitMime => "8BITMIME",
            Self::SmtpUtf8 => "SMTPUTF8",
            Self::EnhancedStatusCodes => "ENHANCEDSTATUSCODES",
            Self::StartTls => "STARTTLS",
            Self::Auth => "AUTH",
            Self::Chunking => "CHUNKING",
            Self::BinaryMime => "BINARYMIME",
            Self::Dsn => "DSN",
            Self::Etrn => "ETRN",
            Self::Vrfy => "VRFY",
            Self::Expn => "EXPN",
            Self::Help => "HELP",
        }
    }

    /// Recognise a keyword, ignoring case (RFC 5321 §2.4).
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.keyword().eq_ignore_ascii_case(word))
    }
}

/// One extension line: a keyword and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EhloLine {
    /// The keyword as sent.
    pub keyword: String,
    /// The parameters, split on SP.
    pub params: Vec<String>,
}

impl EhloLine {
    /// A line for `ext` with `params`.
    pub fn new(ext: Extension, params: &[&str]) -> Self {
        Self {
            keyword: ext.keyword().to_owned(),
            params: params.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    /// The known extension this line advertises, if any.
    pub fn extension(&self) -> Option<Extension> {
        Extension::from_keyword(&self.keyword)
    }
}

impl fmt::Display for EhloLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.keyword)?;
        self.params.iter().try_for_each(|p| write!(f, " {p}"))
    }
}

/// Something wrong in an EHLO response that does not hide its meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EhloFinding {
    /// The first line does not start with a domain or address literal.
    BadDomain {
        /// What was there.
        text: String,
    },
    /// Line `line` (1-based) is not `keyword *(SP param)`; e.g. the old `AUTH=LOGIN` form.
    BadLine {
        /// 1-based line number within the reply.
        line: usize,
        /// The line's text.
        text: String,
    },
    /// A keyword advertised twice.
    DuplicateKeyword {
        /// The keyword.
        keyword: String,
    },
}

impl fmt::Display for EhloFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadDomain { text } => write!(
                f,
                "EHLO reply does not start with a domain (RFC 5321 §4.1.1.1): {text:?}"
            ),
            Self::BadLine { line, text } => write!(
                f,
                "EHLO line {line} is not 'keyword *(SP param)' (RFC 5321 §4.1.1.1): {text:?}"
            ),
            Self::DuplicateKeyword { keyword } => {
                write!(f, "EHLO keyword {keyword} advertised more than once")
            }
        }
    }
}

/// A parsed EHLO response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EhloResponse {
    /// The name the server gives itself.
    pub domain: String,
    /// The rest of the first line, if any.
    pub greeting: Option<String>,
    /// The extension lines, in order, including lines with findings that still parsed.
    pub lines: Vec<EhloLine>,
}

fn is_keyword(w: &str) -> bool {
    w.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl EhloResponse {
    /// No extensions at all: what a client knows of a server that refused EHLO or was
    /// never asked.
    pub fn empty() -> Self {
        Self {
            domain: String::new(),
            greeting: None,
            lines: Vec::new(),
        }
    }

    /// Read the EHLO response out of a 250 reply. Findings name what was wrong; lines
    /// that are not well-formed are left out of `lines`.
    pub fn from_reply(reply: &Reply) -> (Self, Vec<EhloFinding>) {
        let mut findings = Vec::new();
        let first = reply.lines.first().map_or("", String::as_str);
        let (domain, greeting) = match first.split_once(' ') {
            Some((d, g)) => (d.to_owned(), Some(g.to_owned())),
            None => (first.to_owned(), None),
        };
        if crate::address::Domain::parse(&domain).is_err()
            && !(domain.starts_with('[') && domain.ends_with(']'))
        {
            findings.push(EhloFinding::BadDomain { text: first.into() });
        }
        let mut lines: Vec<EhloLine> = Vec::new();
        for (i, text) in reply.lines.iter().enumerate().skip(1) {
            let mut words = text.split(' ');
            let keyword = words.next().unwrap_or("");
            let params: Vec<String> = words.map(str::to_owned).collect();
            let well_formed = is_keyword(keyword)
                && params
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| (33..=126).contains(&b)));
            if !well_formed {
                findings.push(EhloFinding::BadLine {
                    line: i + 1,
                    text: text.clone(),
                });
                continue;
            }
            if lines
                .iter()
                .any(|l| l.keyword.eq_ignore_ascii_case(keyword))
            {
                findings.push(EhloFinding::DuplicateKeyword {
                    keyword: keyword.to_owned(),
                });
            }
            lines.push(EhloLine {
                keyword: keyword.to_owned(),
                params,
            });
        }
        (
            Self {
                domain,
                greeting,
                lines,
            },
            findings,
        )
    }

    /// The line advertising `ext`, if any.
    pub fn get(&self, ext: Extension) -> Option<&EhloLine> {
        self.lines.iter().find(|l| l.extension() == Some(ext))
    }

    /// True if `ext` is advertised.
    pub fn has(&self, ext: Extension) -> bool {
        self.get(ext).is_some()
    }

    /// True if a line with this keyword is advertised (case-insensitive, RFC 5321
    /// §2.4), for keywords [`Extension`] does not model.
    pub fn offers(&self, keyword: &str) -> bool {
        self.lines
            .iter()
            .any(|l| l.keyword.eq_ignore_ascii_case(keyword))
    }

    /// The SIZE limit: `Some(Some(n))` for `SIZE n`, `Some(None)` for `SIZE` or `SIZE 0`
    /// (no fixed limit, RFC 1870 §4), `None` if not advertised.
    pub fn size_limit(&self) -> Option<Option<u64>> {
        self.get(Extension::Size).map(|l| {
            l.params
                .first()
                .and_then(|p| p.parse::<u64>().ok())
                .filter(|&n| n > 0)
        })
    }

    /// The SASL mechanisms of the AUTH line, upper case.
    pub fn auth_mechanisms(&self) -> Vec<String> {
        self.get(Extension::Auth)
            .map(|l| l.params.iter().map(|p| p.to_ascii_uppercase()).collect())
            .unwrap_or_default()
    }

    /// The reply that advertises this response.
    pub fn to_reply(&self) -> Reply {
        let mut first = self.domain.clone();
        if let Some(g) = &self.greeting {
            first.push(' ');
            first.push_str(g);
        }
        let mut lines = vec![first];
        lines.extend(self.lines.iter().map(ToString::to_string));
        Reply::multiline(ReplyCode::OK, lines)
    }
}

/// Every keyword a client could have taken as offered in `bytes`, the octets of an
/// EHLO reply as they went out, however malformed (codes that change, bare LF line
/// ends, no final line, NUL): on each line but the first, the word after the code and
/// its separator, up to SP, CR or `=` (the `AUTH=LOGIN` form of old servers),
/// upper-cased. Wider than [`EhloResponse::from_reply`] on purpose: whoever judges
/// what a client may use must count anything it could have read as an offer.
pub fn offered_keywords(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| {
            let word = line
                .get(4..)?
                .split(|&b| matches!(b, b' ' | b'\r' | b'='))
                .next()?;
            (!word.is_empty()).then(|| String::from_utf8_lossy(word).to_ascii_uppercase())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::offered_keywords;

    #[test]
    fn offered_keywords_read_what_a_lenient_client_could() {
        let sent =
            b"250-mx.test\r\n251-pipelining\n250-AUTH=LOGIN PLAIN\r\n250-\r\n250 SIZE 10\r\n";
        assert_eq!(
            offered_keywords(sent),
            ["PIPELINING", "AUTH", "SIZE"].map(String::from)
        );
        // No final line, and a line too short to hold a keyword.
        assert_eq!(
            offered_keywords(b"250-mx.test\r\n250-8BITMIME\r\n25"),
            ["8BITMIME"]
        );
    }

    use super::*;

    #[test]
    fn parses_a_typical_response() {
        let reply = Reply::parse(
            b"250-mx.example.test Hello client\r\n250-SIZE 10240000\r\n250-AUTH PLAIN login\r\n250-8BITMIME\r\n250 X-CUSTOM a b\r\n",
        )
        .expect("reply")
        .reply;
        let (ehlo, findings) = EhloResponse::from_reply(&reply);
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(ehlo.domain, "mx.example.test");
        assert_eq!(ehlo.greeting.as_deref(), Some("Hello client"));
        assert_eq!(ehlo.size_limit(), Some(Some(10_240_000)));
        assert_eq!(ehlo.auth_mechanisms(), vec!["PLAIN", "LOGIN"]);
        assert!(ehlo.has(Extension::EightBitMime) && !ehlo.has(Extension::StartTls));
        assert_eq!(ehlo.lines[3].params, vec!["a", "b"]);
        assert_eq!(ehlo.to_reply(), reply);
    }

    #[test]
    fn reports_bad_lines() {
        let reply = Reply::multiline(
            ReplyCode::OK,
            vec![
                "not_a domain".into(),
                "AUTH=LOGIN".into(),
                "SIZE".into(),
                "size 5".into(),
            ],
        );
        let (ehlo, findings) = EhloResponse::from_reply(&reply);
        assert_eq!(findings.len(), 3, "{findings:?}");
        assert_eq!(ehlo.lines.len(), 2);
        assert_eq!(ehlo.size_limit(), Some(None));
    }
}
