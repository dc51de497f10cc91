//! Ports whose operator requires TLS or AUTH before mail (the profile's `policy:`
//! says `tls_required`, `auth_required`): which sessions get the prelude (STARTTLS,
//! AUTH) before the case, and which cases cannot run at all.
//!
//! A case runs inside the prelude unless it is about the very thing the prelude would
//! do: the cases about what the clear side refuses run in the clear, a case that
//! negotiates STARTTLS itself gets no prelude, and a case that sends AUTH itself is
//! not logged in first. Such a case must then reach its own STARTTLS or AUTH with
//! only the commands the port answers before them (RFC 3207 §4: NOOP, EHLO, STARTTLS,
//! QUIT; RFC 4954 §6: AUTH, EHLO, HELO, NOOP, RSET, QUIT), or it is skipped: the 530
//! it would get is the port's policy, not what the case tests.

use super::Target;
use crate::outcome::skip_reason::{REQUIRES_AUTH, REQUIRES_TLS};
use crate::scenario::PolicyName;
use crate::scenario::load::{Action, Case};
use crate::wire::Prelude;
use smtp_protocol::command::Verb;

/// The prelude of this case's session, if any.
pub(super) fn prelude_for(case: &Case, target: &Target) -> Option<Prelude> {
    let mut p = target.tls.prelude.clone()?;
    if about_the_clear(case) || starts_tls(case) {
        return None;
    }
    if sends_auth(case)
        || case
            .meta
            .requires_policy
            .contains(&PolicyName::AuthRequired)
    {
        p.auth_plain = None;
    }
    (p.starttls || p.auth_plain.is_some()).then_some(p)
}

/// Why the case cannot run on this port, if it cannot: a command before its own
/// STARTTLS or AUTH that the port refuses until then.
pub(super) fn unreachable(case: &Case, target: &Target) -> Option<String> {
    let port = target.tls.prelude.as_ref()?;
    if about_the_clear(case) {
        return None;
    }
    let mine = prelude_for(case, target);
    let tls_missing = port.starttls && mine.as_ref().is_none_or(|p| !p.starttls);
    let auth_missing = port.auth_plain.is_some()
        && mine.as_ref().is_none_or(|p| p.auth_plain.is_none())
        && !case
            .meta
            .requires_policy
            .contains(&PolicyName::AuthRequired);
    if tls_missing {
        let allowed = [Verb::Ehlo, Verb::Noop, Verb::Quit, Verb::StartTls];
        if let Some(word) = refused_before(case, &allowed, |a, v| {
            matches!(a, Action::Starttls | Action::Handshake) || v == Some(Verb::StartTls)
        }) {
            return Some(format!(
                "{REQUIRES_TLS} before its STARTTLS the case sends {word}"
            ));
        }
    }
    if auth_missing {
        let allowed = [
            Verb::Auth,
            Verb::Ehlo,
            Verb::Helo,
            Verb::Noop,
            Verb::Rset,
            Verb::Quit,
            Verb::StartTls,
        ];
        if let Some(word) = refused_before(case, &allowed, |_, v| v == Some(Verb::Auth)) {
            return Some(format!(
                "{REQUIRES_AUTH} before logging in the case sends {word}"
            ));
        }
    }
    let mine = mine?;
    if case
        .steps()
        .first()
        .is_some_and(|s| !lines(&s.action).is_empty())
    {
        // An early talker: the prelude has read the greeting long before.
        let why = if mine.starttls {
            REQUIRES_TLS
        } else {
            REQUIRES_AUTH
        };
        return Some(format!(
            "{why} the session starts TLS or logs in before the case, which talks before \
             the greeting"
        ));
    }
    if mine.auth_plain.is_some() {
        // The session said EHLO to log in: a case about a command before EHLO cannot
        // be judged in it.
        let first = case.steps().iter().flat_map(|s| lines(&s.action)).next();
        if let Some(word) = first.filter(|l| before_ehlo(verb(l))) {
            let word = word.split(' ').next().unwrap_or_default().to_owned();
            return Some(format!(
                "{REQUIRES_AUTH} the session says EHLO and logs in before the case, which \
                 begins with {word} before any EHLO"
            ));
        }
    }
    None
}

/// A first command whose answer depends on whether EHLO came before it.
fn before_ehlo(v: Option<Verb>) -> bool {
    matches!(
        v,
        Some(
            Verb::Mail
                | Verb::Rcpt
                | Verb::Data
                | Verb::Bdat
                | Verb::Rset
                | Verb::Vrfy
                | Verb::Expn
                | Verb::Etrn
                | Verb::Auth
                | Verb::StartTls
        )
    )
}

/// A case about what a server refuses in the clear.
fn about_the_clear(case: &Case) -> bool {
    case.meta
        .requires_policy
        .iter()
        .any(|p| matches!(p, PolicyName::TlsRequired | PolicyName::AuthRequiresTls))
}

fn starts_tls(case: &Case) -> bool {
    case.steps()
        .iter()
        .any(|s| matches!(s.action, Action::Starttls | Action::Handshake))
}

fn sends_auth(case: &Case) -> bool {
    case.steps()
        .iter()
        .any(|s| lines(&s.action).iter().any(|l| verb(l) == Some(Verb::Auth)))
}

/// The first command the case sends, before the step where `until` holds, whose verb
/// is not `allowed` (content counts as a refused command).
fn refused_before(
    case: &Case,
    allowed: &[Verb],
    until: impl Fn(&Action, Option<Verb>) -> bool,
) -> Option<String> {
    for step in case.steps() {
        if until(&step.action, None) {
            return None;
        }
        if matches!(step.action, Action::SendBody { .. }) {
            return Some("message content".into());
        }
        for line in lines(&step.action) {
            let v = verb(&line);
            if until(&step.action, v) {
                return None;
            }
            let word = line.split(' ').next().unwrap_or_default();
            if !word.is_empty() && !v.is_some_and(|v| allowed.contains(&v)) {
                return Some(word.to_owned());
            }
        }
    }
    None
}

/// The command lines a step sends, as written (raw writes split at their line ends,
/// `\r\n` escapes included).
pub(super) fn lines(action: &Action) -> Vec<String> {
    let texts: Vec<&str> = match action {
        Action::Send(t) | Action::SendRaw(t) => vec![t.as_str()],
        Action::SendBatch { lines, .. } => lines.iter().map(String::as_str).collect(),
        _ => return Vec::new(),
    };
    texts
        .iter()
        .flat_map(|t| t.split(['\n', '\r']))
        .flat_map(|l| l.split("\\n"))
        .map(|l| {
            l.split("\\r")
                .next()
                .unwrap_or_default()
                .trim_start()
                .to_owned()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// The verb a command line starts with.
pub(super) fn verb(line: &str) -> Option<Verb> {
    let word = line.split([' ', '\\']).next().unwrap_or_default();
    Verb::from_bytes(word.as_bytes())
}
