//! The command-line grammar of RFC 5321 §4.1.1 and the extension RFCs.

use super::{Command, CommandError, ParseOptions, Parsed, Verb};
use crate::address::{
    ForwardPath, Host, RawPath, ReversePath, parse_domain, parse_host, parse_path,
};
use crate::leniency::{Leniency, Notes};
use crate::param::{Param, ParamsOf, parse_params};
use crate::syntax::{Cursor, SyntaxError, class, is, is_atext};

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(super) fn parse(line: &[u8], options: ParseOptions) -> Result<Parsed, CommandError> {
    let mut notes = Notes::default();
    let end = line.len() - line.iter().rev().take_while(|&&b| is_blank(b)).count();
    if end < line.len() {
        notes.add(Leniency::TrailingWhitespace);
    }
    let line = &line[..end];
    if line.is_empty() {
        return Err(CommandError::Empty);
    }
    let verb_len = line.iter().position(|&b| is_blank(b)).unwrap_or(line.len());
    let word = &line[..verb_len];
    let verb = Verb::from_bytes(word).ok_or_else(|| CommandError::UnknownVerb {
        verb: String::from_utf8_lossy(&word[..word.len().min(32)]).into_owned(),
    })?;
    let mut c = Cursor::new(line);
    c.set_pos(verb_len);
    if !c.is_empty() && c.take_while(is_blank) != b" " {
        notes.add(Leniency::ExtraWhitespace);
    }
    let command = arguments(verb, &mut c, &mut notes)
        .and_then(|cmd| {
            if c.is_empty() {
                Ok(cmd)
            } else {
                Err(c.error("end of line"))
            }
        })
        .map_err(|error| CommandError::Syntax { verb, error })?;
    if notes.non_ascii {
        let declared =
            matches!(&command, Command::Mail { params, .. } if params.contains(&Param::SmtpUtf8));
        if !(options.smtputf8 || declared) {
            notes.add(Leniency::EightBitWithoutSmtputf8);
        }
    }
    Ok(Parsed {
        command,
        leniencies: notes.leniencies,
    })
}

fn arguments(verb: Verb, c: &mut Cursor<'_>, notes: &mut Notes) -> Result<Command, SyntaxError> {
    Ok(match verb {
        Verb::Ehlo => Command::Ehlo(
            required(c, "a domain or address literal").and_then(|()| parse_host(c, notes))?,
        ),
        Verb::Helo => {
            required(c, "a domain")?;
            let host = parse_host(c, notes)?;
            if matches!(host, Host::Literal(_)) {
                notes.add(Leniency::HeloAddressLiteral);
            }
            Command::Helo(host)
        }
        Verb::Mail => {
            let path = path_after(c, notes, b"FROM", "FROM:")?;
            let from = match path {
                RawPath::Null => ReversePath::Null,
                RawPath::Mailbox(m) => ReversePath::Mailbox(m),
            };
            let params = params(c, notes, ParamsOf::Mail)?;
            Command::Mail { from, params }
        }
        Verb::Rcpt => {
            let path_start = c.pos();
            let to = match path_after(c, notes, b"TO", "TO:")? {
                RawPath::Null => {
                    return Err(SyntaxError {
                        offset: path_start,
                        expected: "a forward-path (<> is only a reverse-path)",
                    });
                }
                // `<Postmaster>` is the one address that needs no domain (RFC 5321 §4.1.1.3).
                RawPath::Mailbox(m)
                    if m.host.is_none() && m.local.as_str().eq_ignore_ascii_case("postmaster") =>
                {
                    notes
                        .leniencies
                        .retain(|&l| l != Leniency::UnqualifiedAddress);
                    ForwardPath::Postmaster
                }
                RawPath::Mailbox(m) => ForwardPath::Mailbox(m),
            };
            let params = params(c, notes, ParamsOf::Rcpt)?;
            Command::Rcpt { to, params }
        }
        Verb::Data => none(c, Command::Data)?,
        Verb::Rset => none(c, Command::Rset)?,
        Verb::Quit => none(c, Command::Quit)?,
        Verb::StartTls => none(c, Command::StartTls)?,
        Verb::Vrfy => {
            required(c, "a user name or mailbox")?;
            Command::Vrfy(text(c, notes)?)
        }
        Verb::Expn => {
            required(c, "a mailing list name")?;
            Command::Expn(text(c, notes)?)
        }
        Verb::Help => Command::Help(optional_text(c, notes)?),
        Verb::Noop => Command::Noop(optional_text(c, notes)?),
        Verb::Auth => auth(c)?,
        Verb::Bdat => bdat(c)?,
        Verb::Etrn => {
            required(c, "a node name")?;
            etrn(c, notes)?
        }
    })
}

fn required(c: &Cursor<'_>, expected: &'static str) -> Result<(), SyntaxError> {
    if c.is_empty() {
        Err(c.error(expected))
    } else {
        Ok(())
    }
}

/// DATA, RSET, QUIT and STARTTLS take no argument (RFC 5321 §4.3.2: 501 if one is given).
fn none(c: &Cursor<'_>, cmd: Command) -> Result<Command, SyntaxError> {
    if c.is_empty() {
        Ok(cmd)
    } else {
        Err(c.error("no argument for this command"))
    }
}

/// `FROM:<path>` or `TO:<path>`, with the spacing leniencies around the colon.
fn path_after(
    c: &mut Cursor<'_>,
    notes: &mut Notes,
    keyword: &[u8],
    expected: &'static str,
) -> Result<RawPath, SyntaxError> {
    if !c.eat_ci(keyword) {
        return Err(c.error(expected));
    }
    if !c.take_while(is_blank).is_empty() {
        notes.add(Leniency::SpaceBeforeColon);
    }
    c.expect(b':', expected)?;
    if !c.take_while(is_blank).is_empty() {
        notes.add(Leniency::SpaceAfterColon);
    }
    parse_path(c, notes)
}

fn params(c: &mut Cursor<'_>, notes: &mut Notes, of: ParamsOf) -> Result<Vec<Param>, SyntaxError> {
    if c.is_empty() {
        return Ok(Vec::new());
    }
    let sep = c.take_while(is_blank);
    if sep.is_empty() {
        return Err(c.error("SP before parameters"));
    }
    if sep != b" " {
        notes.add(Leniency::ExtraWhitespace);
    }
    parse_params(c, of)
}

/// Free text of VRFY, EXPN, HELP and NOOP: printable ASCII and spaces (UTF-8 noted).
fn text(c: &mut Cursor<'_>, notes: &mut Notes) -> Result<String, SyntaxError> {
    let start = c.pos();
    loop {
        c.take_while(|b| is(b, class::TEXT));
        if c.is_empty() {
            break;
        }
        if c.utf8_non_ascii().is_none() {
            return Err(c.error("printable text"));
        }
        notes.non_ascii = true;
    }
    Ok(c.text(start, c.pos()))
}

fn optional_text(c: &mut Cursor<'_>, notes: &mut Notes) -> Result<Option<String>, SyntaxError> {
    if c.is_empty() {
        Ok(None)
    } else {
        text(c, notes).map(Some)
    }
}

/// `AUTH mechanism [SP initial-response]` (RFC 4954 §4).
fn auth(c: &mut Cursor<'_>) -> Result<Command, SyntaxError> {
    required(c, "a SASL mechanism")?;
    let mech = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if mech.is_empty() || mech.len() > 20 {
        return Err(c.error("a SASL mechanism name of 1 to 20 characters (RFC 4422 §3.1)"));
    }
    let mechanism = String::from_utf8_lossy(mech).to_ascii_uppercase();
    let initial_response = if c.eat(b' ') {
        let start = c.pos();
        let resp =
            c.take_while(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
        if !is_base64_or_empty_marker(resp) {
            c.set_pos(start);
            return Err(c.error("a base64 initial response or '=' (RFC 4954 §4)"));
        }
        Some(String::from_utf8_lossy(resp).into_owned())
    } else {
        None
    };
    Ok(Command::Auth {
        mechanism,
        initial_response,
    })
}

fn is_base64_or_empty_marker(s: &[u8]) -> bool {
    if s == b"=" {
        return true;
    }
    let body_len = s.len() - s.iter().rev().take_while(|&&b| b == b'=').count();
    !s.is_empty()
        && s.len().is_multiple_of(4)
        && s.len() - body_len <= 2
        && !s[..body_len].contains(&b'=')
}

/// `BDAT chunk-size [SP LAST]` (RFC 3030 §2).
fn bdat(c: &mut Cursor<'_>) -> Result<Command, SyntaxError> {
    let digits = c.take_while(|b| b.is_ascii_digit());
    let size = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| c.error("a chunk size (1*DIGIT) that fits in 64 bits"))?;
    let last = if c.eat(b' ') {
        if !c.eat_ci(b"LAST") {
            return Err(c.error("LAST"));
        }
        true
    } else {
        false
    };
    Ok(Command::Bdat { size, last })
}

/// `ETRN [ "@" / "#" ] node-name` (RFC 1985 §5).
fn etrn(c: &mut Cursor<'_>, notes: &mut Notes) -> Result<Command, SyntaxError> {
    if c.eat(b'#') {
        let queue = c.take_while(is_atext);
        if queue.is_empty() {
            return Err(c.error("a queue name after '#'"));
        }
        return Ok(Command::Etrn(format!(
            "#{}",
            String::from_utf8_lossy(queue)
        )));
    }
    let at = if c.eat(b'@') { "@" } else { "" };
    let domain = parse_domain(c, notes)?;
    Ok(Command::Etrn(format!("{at}{domain}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Mailbox;

    fn lenient(s: &str) -> Result<Parsed, CommandError> {
        Command::parse_with(s.as_bytes(), ParseOptions::default())
    }

    #[test]
    fn every_verb_parses_strictly() {
        for line in [
            "EHLO client.test",
            "ehlo [IPv6:::1]",
            "HELO client.test",
            "MAIL FROM:<>",
            "MAIL FROM:<a@b.test> SIZE=10 BODY=8BITMIME",
            "RCPT TO:<Postmaster>",
            "rcpt to:<postmaster@b.test> NOTIFY=NEVER",
            "DATA",
            "RSET",
            "VRFY Smith",
            "EXPN staff",
            "HELP",
            "HELP MAIL",
            "NOOP",
            "NOOP anything at all",
            "QUIT",
            "STARTTLS",
            "AUTH PLAIN AHVzZXIAcGFzcw==",
            "AUTH LOGIN",
            "AUTH PLAIN =",
            "BDAT 0 LAST",
            "BDAT 1000",
            "ETRN @example.test",
            "ETRN #queue1",
        ] {
            let cmd = Command::parse(line.as_bytes());
            assert!(cmd.is_ok(), "{line}: {cmd:?}");
        }
    }

    #[test]
    fn postmaster_is_special_only_in_rcpt() {
        assert_eq!(
            Command::parse(b"RCPT TO:<POSTMASTER>"),
            Ok(Command::Rcpt {
                to: ForwardPath::Postmaster,
                params: vec![]
            })
        );
        assert_eq!(
            Command::parse(b"MAIL FROM:<postmaster>"),
            Err(CommandError::Lenient {
                verb: Verb::Mail,
                leniency: Leniency::UnqualifiedAddress
            })
        );
    }

    #[test]
    fn leniencies_are_accepted_and_named() {
        let cases: &[(&str, &[Leniency])] = &[
            ("MAIL FROM: <a@b.test>", &[Leniency::SpaceAfterColon]),
            ("MAIL FROM :<a@b.test>", &[Leniency::SpaceBeforeColon]),
            ("MAIL FROM:a@b.test", &[Leniency::MissingAngleBrackets]),
            ("NOOP  ", &[Leniency::TrailingWhitespace]),
            ("MAIL  FROM:<a@b.test>", &[Leniency::ExtraWhitespace]),
            (
                "RCPT TO:<a@b.test>\tNOTIFY=NEVER",
                &[Leniency::ExtraWhitespace],
            ),
            ("RCPT TO:<ü@b.test>", &[Leniency::EightBitWithoutSmtputf8]),
            ("HELO [192.0.2.1]", &[Leniency::HeloAddressLiteral]),
            ("MAIL FROM:<root>", &[Leniency::UnqualifiedAddress]),
        ];
        for (line, want) in cases {
            let got = lenient(line).map(|p| p.leniencies);
            assert_eq!(got.as_deref(), Ok(*want), "{line}");
            assert!(
                Command::parse(line.as_bytes()).is_err(),
                "strict refuses {line}"
            );
        }
    }

    #[test]
    fn smtputf8_makes_utf8_legal() {
        assert!(Command::parse("MAIL FROM:<ü@b.test> SMTPUTF8".as_bytes()).is_ok());
        let p = Command::parse_with(
            "RCPT TO:<ü@例子.测试>".as_bytes(),
            ParseOptions { smtputf8: true },
        )
        .expect("parse");
        assert!(p.leniencies.is_empty());
    }

    #[test]
    fn errors_carry_codes_and_offsets() {
        let e = Command::parse(b"FOO bar").expect_err("unknown");
        assert_eq!(e.reply_code(), 500);
        let e = Command::parse(b"DATA now").expect_err("arg");
        assert_eq!(e.reply_code(), 501);
        match Command::parse(b"MAIL FROM:<a@b.test> SIZE=x") {
            Err(CommandError::Syntax { error, .. }) => assert_eq!(error.offset, 26),
            other => panic!("{other:?}"),
        }
        assert_eq!(Command::parse(b""), Err(CommandError::Empty));
        assert!(Command::parse(b"RCPT TO:<>").is_err());
        assert!(Command::parse(b"MAIL FROM:<a@b.test> NOTIFY=NEVER").is_err());
        assert!(Command::parse(b"AUTH PLAIN abc").is_err(), "not base64");
        assert!(Command::parse(b"BDAT x").is_err());
        assert!(Command::parse(b"EHLO").is_err());
        assert!(Command::parse(b"NOOP \x00").is_err());
        assert!(Command::parse(b"MAIL FROM:<a@b.test>garbage").is_err());
    }

    #[test]
    fn formats_canonically() {
        let cmd = Command::parse(b"mail from:<\"j\"@B.test> size=5").expect("parse");
        assert_eq!(cmd.to_string(), "MAIL FROM:<j@B.test> SIZE=5");
        assert_eq!(
            Command::Mail {
                from: ReversePath::Mailbox(Mailbox::parse("x@y.test").expect("mailbox")),
                params: vec![]
            }
            .to_bytes(),
            b"MAIL FROM:<x@y.test>\r\n"
        );
    }
}
