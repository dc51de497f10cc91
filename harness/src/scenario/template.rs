//! Variables (`{{target.rcpt}}`) and escapes (`\r\n`, `\x00`) in step text.

use std::collections::BTreeMap;

/// The variables a case can use, from the target profile and the harness.
pub type Vars = BTreeMap<String, String>;

/// Names every scenario may use; values come from the target profile.
pub const KNOWN: &[&str] = &[
    "client.helo",
    "client.from",
    "target.domain",
    "target.rcpt",
    "target.bad_rcpt",
    "target.user",
    "target.password",
    "target.auth_plain",
    "target.auth_login_user",
    "target.auth_login_password",
    "case.token",
];

/// The variable names used in `text`, or the offset of an unclosed `{{`.
pub fn names(text: &str) -> Result<Vec<&str>, usize> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut base = 0;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or(base + open)?;
        out.push(after[..close].trim());
        let used = open + 2 + close + 2;
        base += used;
        rest = &rest[used..];
    }
    Ok(out)
}

/// Replace every `{{name}}` with its value (names were checked at load time).
pub fn expand(text: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match after.find("}}") {
            Some(close) => {
                let name = after[..close].trim();
                out.push_str(vars.get(name).map_or("", String::as_str));
                rest = &after[close + 2..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decode `\r \n \t \0 \\ \xHH` into octets; other text is taken as UTF-8. Returns the
/// offset of a bad escape.
pub fn unescape(text: &str) -> Result<Vec<u8>, usize> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let code = *b.get(i + 1).ok_or(i)?;
        match code {
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'0' => out.push(0),
            b'\\' => out.push(b'\\'),
            b'x' => {
                let hex = text.get(i + 2..i + 4).ok_or(i)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| i)?);
                i += 2;
            }
            _ => return Err(i),
        }
        i += 2;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_escapes() {
        let mut vars = Vars::new();
        vars.insert("target.rcpt".into(), "a@b.test".into());
        assert_eq!(
            names("RCPT TO:<{{ target.rcpt }}>"),
            Ok(vec!["target.rcpt"])
        );
        assert_eq!(names("x {{oops"), Err(2));
        assert_eq!(
            expand("RCPT TO:<{{target.rcpt}}>", &vars),
            "RCPT TO:<a@b.test>"
        );
        assert_eq!(unescape(r"a\r\n.\x00\\"), Ok(b"a\r\n.\0\\".to_vec()));
        assert_eq!(unescape(r"a\q"), Err(1));
        assert_eq!(unescape(r"\xZZ"), Err(0));
    }
}
