//! Why a target refused service: the wording of its 421 (or of a greeting other than
//! 220), and of the refusal it closed after. Throttling is no finding, but a campaign
//! that spent two thirds of its sessions on "421 Too many concurrent SMTP
//! connections" must say so, with the setting that lifts it, or its figures mislead.

use std::collections::BTreeMap;

use smtp_protocol::reply::{Reply, ReplyCode};

/// Most distinct wordings kept per count; the rest are counted under [`OTHER`].
const KEPT: usize = 16;
/// The key of wordings past [`KEPT`].
pub const OTHER: &str = "(other replies)";

/// The replies of one session that refused service, worded as they were parsed (the
/// session's reader is the one SMTP parser; nothing here reads the transcript again).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refusals {
    /// The greeting, when it was no 220.
    pub greeting: Option<String>,
    /// The first 421 after the greeting.
    pub first_421: Option<String>,
    /// The last 4xx or 5xx, the greeting's included.
    pub last: Option<String>,
}

impl Refusals {
    /// Note a reply the session read; `greeting` for the first.
    pub fn heard(&mut self, reply: &Reply, greeting: bool) {
        if greeting && reply.code != ReplyCode::SERVICE_READY {
            // Any greeting but 220 refuses service (a 554, or a stray code).
            self.greeting = Some(wording(reply));
        }
        if !reply.code.is_negative() {
            return;
        }
        let said = wording(reply);
        if !greeting && reply.code == ReplyCode::SERVICE_NOT_AVAILABLE && self.first_421.is_none() {
            self.first_421 = Some(said.clone());
        }
        self.last = Some(said);
    }

    /// The reply that refused service in a throttled session: the greeting when it
    /// was no 220, else the first 421.
    pub fn throttled(&self) -> String {
        self.greeting
            .as_ref()
            .or(self.first_421.as_ref())
            .map_or_else(|| "(no reply read)".to_owned(), Clone::clone)
    }

    /// The last refusal (4xx or 5xx) before the target closed the connection.
    pub fn before_close(&self) -> String {
        self.last
            .clone()
            .unwrap_or_else(|| "(no refusal read)".to_owned())
    }
}

/// Count one more session under `why`, keeping at most [`KEPT`] wordings.
pub fn count(by: &mut BTreeMap<String, u64>, why: String) {
    if by.len() >= KEPT && !by.contains_key(&why) {
        *by.entry(OTHER.to_owned()).or_default() += 1;
    } else {
        *by.entry(why).or_default() += 1;
    }
}

/// What to change when the wording says the target limits connections. A heuristic
/// on words ("too many" and "connection"), as no reply code or enhanced code says
/// "connection limit" (RFC 3463 has 4.7.0 for any policy); a wrong guess costs an
/// advice line, never a verdict.
pub fn advice(why: &str) -> Option<&'static str> {
    let w = why.to_ascii_lowercase();
    (w.contains("too many") && w.contains("connection")).then_some(
        "the target limits connections at once or per client: raise that limit (Exim \
         smtp_accept_max, Postfix smtpd_client_connection_count_limit and \
         smtpd_client_connection_rate_limit) or give fewer --jobs",
    )
}

/// A reply as a key: its code, enhanced code and last line, digits after the code as
/// `#` (dates, counts, addresses), at most 100 characters.
fn wording(reply: &Reply) -> String {
    let mut text = String::new();
    if let Some(e) = reply.enhanced {
        text = format!(" {e}");
    }
    let last = reply.lines.last().map_or("", String::as_str);
    if !last.is_empty() {
        text.push(' ');
        text.push_str(last);
    }
    let text: String = text
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .filter(|c| !c.is_control())
        .take(97)
        .collect();
    format!("{}{text}", reply.code.get())
}

#[cfg(test)]
mod tests {
    use smtp_protocol::reply::ReplyParser;

    use super::{OTHER, Refusals, advice, count};

    /// The refusals of a session that read `replies` (the first its greeting).
    fn heard(replies: &[&str]) -> Refusals {
        let mut r = Refusals::default();
        for (i, bytes) in replies.iter().enumerate() {
            let mut p = ReplyParser::new();
            p.push(bytes.as_bytes());
            let reply = p.next_reply().expect("a reply").expect("well formed").reply;
            r.heard(&reply, i == 0);
        }
        r
    }

    #[test]
    fn a_refused_greeting_is_its_own_reason() {
        let r =
            heard(&["421 mx.test Too many concurrent SMTP connections; try again at 10:42\r\n"]);
        let why = r.throttled();
        assert_eq!(
            why,
            "421 mx.test Too many concurrent SMTP connections; try again at ##:##"
        );
        assert!(advice(&why).is_some_and(|a| a.contains("smtp_accept_max")));
    }

    #[test]
    fn a_421_in_the_session_is_found_behind_the_others() {
        let r = heard(&[
            "220-mx.test\r\n220 ESMTP\r\n",
            "250 ok\r\n",
            "500 5.5.2 what?\r\n",
            "421-4.7.0 mx.test\r\n421 4.7.0 Error: too many errors\r\n",
            "221 bye\r\n",
        ]);
        assert_eq!(r.throttled(), "421 #.#.# Error: too many errors");
        assert_eq!(advice(&r.throttled()), None);
        assert_eq!(r.before_close(), "421 #.#.# Error: too many errors");
        assert_eq!(heard(&["220 hi\r\n"]).throttled(), "(no reply read)");
        assert_eq!(heard(&["220 hi\r\n"]).before_close(), "(no refusal read)");
        // A greeting that is no 220 refuses service whatever its code.
        assert_eq!(heard(&["250 odd\r\n"]).throttled(), "250 odd");
    }

    #[test]
    fn wordings_past_sixteen_are_counted_together() {
        let mut by = Default::default();
        for i in 0..20 {
            count(&mut by, format!("421 reason {}", "x".repeat(i)));
        }
        count(&mut by, "421 reason ".into());
        assert_eq!(by.len(), 17);
        assert_eq!(by[OTHER], 4);
        assert_eq!(by["421 reason "], 2);
    }
}
