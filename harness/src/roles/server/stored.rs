//! `expect_stored`: the message the target stored for this case, found by the case's
//! token in the target's store, and its octets and header fields checked.

use std::time::{Duration, Instant};

use super::Target;
use super::{Failure, expand, unescaped};
use crate::profile::store::{MailStore, header_fields};
use crate::scenario::load::StoredCheck;
use crate::scenario::template::Vars;

/// How long `expect_stored: { absent: true }` watches the mailbox.
pub(crate) const ABSENT_WAIT: Duration = Duration::from_secs(1);

/// Find the stored message carrying this case's token and check its octets.
pub(super) async fn expect_stored(
    target: &Target,
    vars: &Vars,
    check: &StoredCheck,
    limit: Duration,
) -> Result<(), Failure> {
    let Some(mailbox) = &target.mailbox else {
        // The gate skips such cases; nothing to look at is never a pass.
        return Err(Failure::Unobservable(
            "the target profile gives no store to read".into(),
        ));
    };
    let token = vars.get("case.token").cloned().unwrap_or_default();
    if check.spec.absent {
        return absent(mailbox, &token, limit).await;
    }
    let message = stored(mailbox, &token, limit).await?;
    content(mailbox, &message, vars, check)?;
    headers(&message, vars, check)
}

/// No message carrying `token` may appear while the store is watched.
async fn absent(mailbox: &MailStore, token: &str, limit: Duration) -> Result<(), Failure> {
    let deadline = Instant::now() + ABSENT_WAIT.min(limit);
    while Instant::now() < deadline {
        if mailbox.find(token.as_bytes()).is_some() {
            return Err(Failure::Mismatch(crate::unmet!(
                "a message carrying {token} was stored"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The stored message carrying `token`, once it appears within `limit`.
async fn stored(mailbox: &MailStore, token: &str, limit: Duration) -> Result<Vec<u8>, Failure> {
    let deadline = Instant::now() + limit;
    let message = loop {
        if let Some(m) = mailbox.find(token.as_bytes()) {
            break m;
        }
        if Instant::now() > deadline {
            // What the case looks for is in the stored copy; without one there is
            // nothing to judge (the delivery may lag, or the profile's store be wrong).
            return Err(Failure::Unobservable(format!(
                "no message carrying {token} appeared in the {} store {} within {} ms",
                mailbox.kind.as_str(),
                mailbox.dir.display(),
                limit.as_millis()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    Ok(message)
}

/// `contains`, `matches` and `lacks` against the stored octets.
fn content(
    mailbox: &MailStore,
    message: &[u8],
    vars: &Vars,
    check: &StoredCheck,
) -> Result<(), Failure> {
    let e = &check.spec;
    let want =
        |t: &String| -> Result<Vec<u8>, Failure> { Ok(mailbox.as_stored(&unescaped(t, vars)?)) };
    let has = |needle: &[u8]| message.windows(needle.len().max(1)).any(|w| w == needle);
    for t in &e.contains {
        let n = want(t)?;
        if !has(&n) {
            return Err(Failure::Mismatch(crate::unmet!(
                "the stored message lacks {:?}",
                String::from_utf8_lossy(&n)
            )));
        }
    }
    let text = String::from_utf8_lossy(message);
    if let Some(p) = check.patterns.iter().find(|p| !p.is_match(&text)) {
        return Err(Failure::Mismatch(crate::unmet!(
            "the stored message does not match /{}/",
            p.as_str()
        )));
    }
    for t in &e.lacks {
        let n = want(t)?;
        if has(&n) {
            return Err(Failure::Mismatch(crate::unmet!(
                "the stored message contains {:?}",
                String::from_utf8_lossy(&n)
            )));
        }
    }
    Ok(())
}

/// `headers`: each named field present, with the value or matching the pattern asked.
fn headers(message: &[u8], vars: &Vars, check: &StoredCheck) -> Result<(), Failure> {
    let fields = header_fields(message);
    for h in &check.headers {
        let found: Vec<&String> = fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&h.name))
            .map(|(_, v)| v)
            .collect();
        if found.is_empty() {
            return Err(Failure::Mismatch(crate::unmet!(
                "the stored message has no {} header field",
                h.name
            )));
        }
        if let Some(value) = &h.value {
            let want = expand(value, vars)?;
            if !found.iter().any(|v| **v == want) {
                return Err(Failure::Mismatch(crate::unmet!(
                    "no {} field is {want:?}; found {found:?}",
                    h.name
                )));
            }
        }
        if let Some(re) = &h.matches
            && !found.iter().any(|v| re.is_match(v))
        {
            return Err(Failure::Mismatch(crate::unmet!(
                "no {} field matches /{}/; found {found:?}",
                h.name,
                re.as_str()
            )));
        }
    }
    Ok(())
}
