//! The trace line a server prepends to every message it accepts (RFC 5321 §4.4), and
//! the RFC 5322 §3.3 date it carries, computed from a Unix time given by the caller
//! (this crate has no clock).

/// Format a Unix time (seconds, UTC) as an RFC 5322 date-time: `Sun, 29 Nov 2026
/// 21:00:00 +0000`.
pub fn rfc5322_date(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Format a Unix time (seconds, UTC) as RFC 3339 (`2026-11-29T21:00:00Z`), for reports.
pub fn rfc3339(unix: u64) -> String {
    let (y, m, d) = civil_from_days((unix / 86_400) as i64);
    let secs = unix % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), by the era
/// arithmetic of the "days from civil" family of algorithms (400-year eras of 146097 days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// What the Received line says about a transaction.
#[derive(Debug, Clone)]
pub struct Trace<'a> {
    /// The name the client gave in EHLO/HELO.
    pub helo: &'a str,
    /// The client's address as the transport saw it.
    pub peer: &'a str,
    /// This server's name.
    pub by: &'a str,
    /// The `with` protocol of RFC 3848 / RFC 6531 (ESMTP, ESMTPSA, UTF8SMTPS, ...).
    pub with: &'static str,
    /// A message identifier, unique to this server.
    pub id: &'a str,
    /// The single recipient, if there is exactly one (RFC 5321 §4.4: "for" clause).
    pub for_rcpt: Option<&'a str>,
    /// Unix time of acceptance.
    pub unix_time: u64,
}

impl Trace<'_> {
    /// The header field with its CRLF, folded before `by`, `with` and `;` so that no
    /// line exceeds the 78 characters RFC 5322 §2.1.1 recommends in the usual case.
    pub fn header(&self) -> String {
        let mut h = format!(
            "Received: from {} ({})\r\n\tby {} with {} id {}",
            self.helo, self.peer, self.by, self.with, self.id
        );
        if let Some(r) = self.for_rcpt {
            h.push_str(&format!("\r\n\tfor {r}"));
        }
        h.push_str(&format!(";\r\n\t{}\r\n", rfc5322_date(self.unix_time)));
        h
    }
}

/// The Return-Path field that final delivery prepends (RFC 5321 §4.4: "When the
/// delivery SMTP server makes the 'final delivery' of a message, it inserts a
/// return-path line at the beginning of the mail data"), with its CRLF.
pub fn return_path(from: &crate::address::ReversePath) -> String {
    format!("Return-Path: {from}\r\n")
}

/// How many `Received:` fields the header section of `message` has (RFC 5321 §6.3
/// counts them to detect loops). Only the header section counts: a forwarded message
/// quoted in the body is not a hop.
pub fn hop_count(message: &[u8]) -> usize {
    let mut count = 0;
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:") {
            count += 1;
        }
    }
    count
}

/// The `with` keyword (RFC 3848 §1, RFC 6531 §3.7.3) for a session.
pub fn with_protocol(esmtp: bool, tls: bool, auth: bool, utf8: bool) -> &'static str {
    match (esmtp, utf8, tls, auth) {
        (false, _, _, _) => "SMTP",
        (true, false, false, false) => "ESMTP",
        (true, false, true, false) => "ESMTPS",
        (true, false, false, true) => "ESMTPA",
        (true, false, true, true) => "ESMTPSA",
        (true, true, false, false) => "UTF8SMTP",
        (true, true, true, false) => "UTF8SMTPS",
        (true, true, false, true) => "UTF8SMTPA",
        (true, true, true, true) => "UTF8SMTPSA",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hops_are_counted_in_the_header_section_only() {
        let m =
            b"Received: a\r\nreceived: b\r\nSubject: x\r\nRECEIVED: c\r\n\r\nReceived: body\r\n";
        assert_eq!(super::hop_count(m), 3);
        assert_eq!(super::hop_count(b"\r\nReceived: a\r\n"), 0);
        assert_eq!(super::hop_count(b"Received-SPF: pass\r\n\r\n"), 0);
    }

    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_986_000),
            "Sun, 29 Nov 2026 21:00:00 +0000"
        );
    }

    #[test]
    fn header_shape() {
        let t = Trace {
            helo: "client.test",
            peer: "127.0.0.1",
            by: "mx.test",
            with: with_protocol(true, true, true, false),
            id: "1-1",
            for_rcpt: Some("<a@mx.test>"),
            unix_time: 0,
        };
        assert_eq!(
            t.header(),
            "Received: from client.test (127.0.0.1)\r\n\tby mx.test with ESMTPSA id 1-1\r\n\tfor <a@mx.test>;\r\n\tThu, 1 Jan 1970 00:00:00 +0000\r\n"
        );
    }
}
