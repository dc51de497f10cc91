//! ESMTP parameters of MAIL and RCPT (RFC 5321 §4.1.2 `esmtp-param`), typed for the
//! extensions smtpspec knows and kept verbatim for the others.

use std::fmt;

use crate::syntax::{Cursor, SyntaxError, is_esmtp_value_char, is_keyword_char, upcase};
use crate::xtext;

/// The BODY parameter of MAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum BodyType {
    /// `BODY=7BIT` (RFC 6152 §2).
    SevenBit,
    /// `BODY=8BITMIME` (RFC 6152 §2).
    EightBitMime,
    /// `BODY=BINARYMIME` (RFC 3030 §3), only with BDAT.
    BinaryMime,
}

impl BodyType {
    fn as_str(self) -> &'static str {
        match self {
            Self::SevenBit => "7BIT",
            Self::EightBitMime => "8BITMIME",
            Self::BinaryMime => "BINARYMIME",
        }
    }
}

/// The RET parameter of MAIL (RFC 3461 §4.3): how much of the message a DSN returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Ret {
    /// `RET=FULL`
    Full,
    /// `RET=HDRS`
    Hdrs,
}

/// The NOTIFY parameter of RCPT (RFC 3461 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Notify {
    /// `NEVER`: no DSN at all. Exclusive of the others.
    pub never: bool,
    /// `SUCCESS`
    pub success: bool,
    /// `FAILURE`
    pub failure: bool,
    /// `DELAY`
    pub delay: bool,
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.never {
            return f.write_str("NEVER");
        }
        let words: Vec<&str> = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        f.write_str(&words.join(","))
    }
}

/// One ESMTP parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Param {
    /// `SIZE=n`: declared message size in octets (RFC 1870 §3).
    Size(u64),
    /// `BODY=...` (RFC 6152, RFC 3030).
    Body(BodyType),
    /// `SMTPUTF8`: the transaction carries UTF-8 addresses or headers (RFC 6531 §3.4).
    SmtpUtf8,
    /// `RET=...` (RFC 3461 §4.3).
    Ret(Ret),
    /// `ENVID=xtext`, decoded (RFC 3461 §4.4).
    EnvId(String),
    /// `AUTH=xtext` of MAIL (RFC 4954 §5), decoded; `None` for `AUTH=<>`.
    Auth(Option<String>),
    /// `NOTIFY=...` (RFC 3461 §4.1).
    Notify(Notify),
    /// `ORCPT=addr-type;xtext` (RFC 3461 §4.2), the address decoded.
    Orcpt {
        /// The address type, usually `rfc822`.
        addr_type: String,
        /// The original recipient, decoded.
        addr: String,
    },
    /// A parameter smtpspec does not interpret, kept as sent.
    Other {
        /// The keyword, as sent.
        keyword: String,
        /// The value after `=`, if any.
        value: Option<String>,
    },
}

/// Which command a parameter list belongs to; some parameters are only valid on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamsOf {
    Mail,
    Rcpt,
}

impl Param {
    /// The keyword, upper-cased for known parameters.
    pub fn keyword(&self) -> &str {
        match self {
            Self::Size(_) => "SIZE",
            Self::Body(_) => "BODY",
            Self::SmtpUtf8 => "SMTPUTF8",
            Self::Ret(_) => "RET",
            Self::EnvId(_) => "ENVID",
            Self::Auth(_) => "AUTH",
            Self::Notify(_) => "NOTIFY",
            Self::Orcpt { .. } => "ORCPT",
            Self::Other { keyword, .. } => keyword,
        }
    }

    fn allowed_on(&self, of: ParamsOf) -> bool {
        match self {
            Self::Size(_)
            | Self::Body(_)
            | Self::SmtpUtf8
            | Self::Ret(_)
            | Self::EnvId(_)
            | Self::Auth(_) => of == ParamsOf::Mail,
            Self::Notify(_) | Self::Orcpt { .. } => of == ParamsOf::Rcpt,
            Self::Other { .. } => true,
        }
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Size(n) => write!(f, "SIZE={n}"),
            Self::Body(b) => write!(f, "BODY={}", b.as_str()),
            Self::SmtpUtf8 => f.write_str("SMTPUTF8"),
            Self::Ret(Ret::Full) => f.write_str("RET=FULL"),
            Self::Ret(Ret::Hdrs) => f.write_str("RET=HDRS"),
            Self::EnvId(v) => write!(f, "ENVID={}", xtext::encode(v.as_bytes())),
            Self::Auth(None) => f.write_str("AUTH=<>"),
            Self::Auth(Some(v)) => write!(f, "AUTH={}", xtext::encode(v.as_bytes())),
            Self::Notify(n) => write!(f, "NOTIFY={n}"),
            Self::Orcpt { addr_type, addr } => {
                write!(f, "ORCPT={addr_type};{}", xtext::encode(addr.as_bytes()))
            }
            Self::Other {
                keyword,
                value: None,
            } => f.write_str(keyword),
            Self::Other {
                keyword,
                value: Some(v),
            } => write!(f, "{keyword}={v}"),
        }
    }
}

fn decode_xtext(value: &[u8], at: usize) -> Result<String, SyntaxError> {
    let bytes = xtext::decode(value).map_err(|e| SyntaxError {
        offset: at + e.offset,
        expected: e.reason,
    })?;
    String::from_utf8(bytes).map_err(|_| SyntaxError {
        offset: at,
        expected: "xtext that decodes to UTF-8 text",
    })
}

fn ascii(b: &[u8]) -> String {
    b.iter().map(|&b| char::from(b)).collect()
}

fn parse_one(keyword: &[u8], value: Option<&[u8]>, at: usize) -> Result<Param, SyntaxError> {
    let vat = at + keyword.len() + 1;
    let err = |expected: &'static str| SyntaxError {
        offset: vat,
        expected,
    };
    let mut kbuf = [0u8; 16];
    let mut vbuf = [0u8; 16];
    let param = match (upcase(keyword, &mut kbuf), value) {
        (b"SIZE", Some(v)) => {
            if v.is_empty() || v.len() > 20 || !v.iter().all(u8::is_ascii_digit) {
                return Err(err("SIZE=1*20DIGIT (RFC 1870 §3)"));
            }
            let n = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(err("a SIZE value that fits in 64 bits"))?;
            Param::Size(n)
        }
        (b"BODY", Some(v)) => Param::Body(match upcase(v, &mut vbuf) {
            b"7BIT" => BodyType::SevenBit,
            b"8BITMIME" => BodyType::EightBitMime,
            b"BINARYMIME" => BodyType::BinaryMime,
            _ => return Err(err("BODY=7BIT, 8BITMIME or BINARYMIME")),
        }),
        (b"SMTPUTF8", None) => Param::SmtpUtf8,
        (b"SMTPUTF8", Some(_)) => return Err(err("SMTPUTF8 without a value (RFC 6531 §3.4)")),
        (b"RET", Some(v)) => Param::Ret(match upcase(v, &mut vbuf) {
            b"FULL" => Ret::Full,
            b"HDRS" => Ret::Hdrs,
            _ => return Err(err("RET=FULL or RET=HDRS (RFC 3461 §4.3)")),
        }),
        (b"ENVID", Some(v)) => {
            let s = decode_xtext(v, vat)?;
            if s.is_empty() || s.len() > crate::limits::MAX_ENVID {
                return Err(err("an ENVID of 1 to 100 characters (RFC 3461 §4.4)"));
            }
            Param::EnvId(s)
        }
        (b"AUTH", Some(b"<>")) => Param::Auth(None),
        (b"AUTH", Some(v)) => Param::Auth(Some(decode_xtext(v, vat)?)),
        (b"NOTIFY", Some(v)) => {
            let mut n = Notify::default();
            for word in v.split(|&b| b == b',') {
                let slot = match upcase(word, &mut vbuf) {
                    b"NEVER" => &mut n.never,
                    b"SUCCESS" => &mut n.success,
                    b"FAILURE" => &mut n.failure,
                    b"DELAY" => &mut n.delay,
                    _ => return Err(err("NOTIFY=NEVER or a list of SUCCESS,FAILURE,DELAY")),
                };
                if *slot {
                    return Err(err("each NOTIFY keyword once"));
                }
                *slot = true;
            }
            if n.never && (n.success || n.failure || n.delay) {
                return Err(err("NEVER alone (RFC 3461 §4.1)"));
            }
            Param::Notify(n)
        }
        (b"ORCPT", Some(v)) => {
            let semi = v
                .iter()
                .position(|&b| b == b';')
                .ok_or(err("ORCPT=addr-type;xtext (RFC 3461 §4.2)"))?;
            let (ty, addr) = (&v[..semi], &v[semi + 1..]);
            if ty.is_empty() || !ty.iter().all(|&b| crate::syntax::is_atext(b)) {
                return Err(err("an atom as ORCPT address type"));
            }
            let addr = decode_xtext(addr, vat + semi + 1)?;
            if addr.is_empty() || addr.len() > crate::limits::MAX_ORCPT {
                return Err(err("an ORCPT address of 1 to 500 characters"));
            }
            Param::Orcpt {
                addr_type: String::from_utf8_lossy(ty).into_owned(),
                addr,
            }
        }
        (b"SIZE" | b"BODY" | b"RET" | b"ENVID" | b"AUTH" | b"NOTIFY" | b"ORCPT", None) => {
            return Err(SyntaxError {
                offset: at + keyword.len(),
                expected: "'=' and a value for this parameter",
            });
        }
        // Keyword and value were checked to be ASCII by the caller.
        _ => Param::Other {
            keyword: ascii(keyword),
            value: value.map(ascii),
        },
    };
    Ok(param)
}

/// Parse `esmtp-param *(SP esmtp-param)` up to the end of the cursor. Each parameter may
/// appear once; parameters of the other command are refused.
pub(crate) fn parse_params(c: &mut Cursor<'_>, of: ParamsOf) -> Result<Vec<Param>, SyntaxError> {
    let mut params: Vec<Param> = Vec::with_capacity(4);
    loop {
        let at = c.pos();
        if !c.peek().is_some_and(|b| b.is_ascii_alphanumeric()) {
            return Err(c.error("an esmtp-keyword"));
        }
        let keyword = c.take_while(is_keyword_char);
        let value = if c.eat(b'=') {
            let v = c.take_while(is_esmtp_value_char);
            if v.is_empty() {
                return Err(c.error("an esmtp-value after '='"));
            }
            Some(v)
        } else {
            None
        };
        let param = parse_one(keyword, value, at)?;
        if !param.allowed_on(of) {
            return Err(SyntaxError {
                offset: at,
                expected: match of {
                    ParamsOf::Mail => "a parameter of MAIL (this one belongs to RCPT)",
                    ParamsOf::Rcpt => "a parameter of RCPT (this one belongs to MAIL)",
                },
            });
        }
        if params
            .iter()
            .any(|p| p.keyword().eq_ignore_ascii_case(param.keyword()))
        {
            return Err(SyntaxError {
                offset: at,
                expected: "each parameter at most once",
            });
        }
        params.push(param);
        if c.is_empty() {
            return Ok(params);
        }
        if !c.eat(b' ') {
            return Err(c.error("SP between parameters"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str, of: ParamsOf) -> Result<Vec<Param>, SyntaxError> {
        parse_params(&mut Cursor::new(s.as_bytes()), of)
    }

    #[test]
    fn known_mail_parameters() {
        let p = parse(
            "SIZE=1000 body=8bitmime SMTPUTF8 RET=HDRS ENVID=QQ+2B1 AUTH=<>",
            ParamsOf::Mail,
        )
        .expect("parse");
        assert_eq!(
            p,
            vec![
                Param::Size(1000),
                Param::Body(BodyType::EightBitMime),
                Param::SmtpUtf8,
                Param::Ret(Ret::Hdrs),
                Param::EnvId("QQ+1".into()),
                Param::Auth(None)
            ]
        );
    }

    #[test]
    fn known_rcpt_parameters() {
        let p = parse(
            "NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a+2Bb@x.test",
            ParamsOf::Rcpt,
        )
        .expect("parse");
        assert_eq!(p[1].to_string(), "ORCPT=rfc822;a+2Bb@x.test");
        assert_eq!(p[0].to_string(), "NOTIFY=SUCCESS,DELAY");
    }

    #[test]
    fn refusals_are_located() {
        assert_eq!(
            parse("SIZE=12x", ParamsOf::Mail).map_err(|e| e.offset),
            Err(5)
        );
        assert!(parse("NOTIFY=NEVER", ParamsOf::Mail).is_err());
        assert!(parse("SIZE=1 SIZE=2", ParamsOf::Mail).is_err());
        assert!(parse("NOTIFY=NEVER,DELAY", ParamsOf::Rcpt).is_err());
        assert!(parse("ENVID=a+0D+0Ab", ParamsOf::Mail).is_err());
        assert!(parse("SIZE=123456789012345678901", ParamsOf::Mail).is_err());
        assert!(parse("X-FOO=", ParamsOf::Mail).is_err());
        assert!(parse("SIZE", ParamsOf::Mail).is_err());
        assert!(parse("SMTPUTF8=yes", ParamsOf::Mail).is_err());
    }

    #[test]
    fn unknown_parameters_are_kept() {
        let p = parse("X-PRIORITY=5 XYZZY", ParamsOf::Rcpt).expect("parse");
        assert_eq!(p[0].to_string(), "X-PRIORITY=5");
        assert_eq!(p[1].to_string(), "XYZZY");
    }
}
