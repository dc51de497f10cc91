//! Whether a case applies to a target: the greeting it is for, the EHLO keywords and
//! parameters it needs (before and after TLS), a SIZE limit, a recipient the target
//! refuses, a store to read. A case that does not apply is skipped with the reason,
//! never run to a verdict it cannot reach.

use super::Target;
use crate::outcome::skip_reason::{
    ADVERTISES, CATCH_ALL, GREETS, IMPLICIT_TLS, NEEDS_STORE, NO_MAIL, NO_POLICY, NO_PROXY, NO_TLS,
    NO_TLS_EHLO, NOT_ADVERTISED, PROXY_PORT, UNDEFINED,
};
use crate::scenario::PolicyName;
use crate::scenario::load::{Action, Case};
use smtp_protocol::command::Verb;
use smtp_protocol::ehlo::EhloLine;
use smtp_protocol::reply::ReplyCode;

/// Why the case does not apply to this target, if it does not: the first of the
/// preconditions below that fails.
pub(super) fn gate(case: &Case, target: &Target) -> Option<String> {
    restraint(case, target)
        .or_else(|| greeting(case, target))
        .or_else(|| policy(case, target))
        .or_else(|| proxy(case, target))
        .or_else(|| keywords(case, target))
        .or_else(|| size(case, target))
        .or_else(|| variables(case, target))
        .or_else(|| store(case, target))
        .or_else(|| after_tls(case, target))
        .or_else(|| super::prelude::unreachable(case, target))
}

/// What the user does not want done to the target (`--no-mail`, `--tls none`).
fn restraint(case: &Case, target: &Target) -> Option<String> {
    let steps = case.steps();
    if target.restraint.no_tls
        && steps
            .iter()
            .any(|s| matches!(s.action, Action::Starttls | Action::Handshake))
    {
        return Some(format!("{NO_TLS} the case starts TLS"));
    }
    if target.restraint.no_mail && steps.iter().any(|s| sends_message(&s.action)) {
        return Some(format!("{NO_MAIL} the case sends a message (DATA or BDAT)"));
    }
    None
}

/// Whether a step sends a message: a body, or a line whose verb is DATA or BDAT
/// (in a raw write too, where lines may be written as `\r\n` escapes). Erring
/// towards yes only skips more under `--no-mail`.
fn sends_message(action: &Action) -> bool {
    matches!(action, Action::SendBody { .. })
        || super::prelude::lines(action)
            .iter()
            .any(|l| matches!(super::prelude::verb(l), Some(Verb::Data | Verb::Bdat)))
}

/// The greeting the case is for (220 unless it says otherwise).
fn greeting(case: &Case, target: &Target) -> Option<String> {
    let ready = [ReplyCode::SERVICE_READY.get()];
    let wanted: &[u16] = if case.meta.requires_greeting.is_empty() {
        &ready
    } else {
        &case.meta.requires_greeting
    };
    (!wanted.contains(&target.greeting_code)).then(|| {
        format!(
            "{GREETS} {}; the case is for {}",
            target.greeting_code,
            wanted
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        )
    })
}

/// `proxy_port`: whether the port speaks PROXY, as the case needs.
fn proxy(case: &Case, target: &Target) -> Option<String> {
    match (case.meta.proxy_port, target.tls.proxy.is_some()) {
        (Some(true), false) => Some(format!(
            "{NO_PROXY} (`proxy: v1` or `v2`); the case sends PROXY headers to such a port"
        )),
        (Some(false), true) => Some(format!(
            "{PROXY_PORT} (the target profile's `proxy:`); the case is for ports that do not"
        )),
        _ => None,
    }
}

/// `requires_policy`: what the target's operator must have declared it refuses.
fn policy(case: &Case, target: &Target) -> Option<String> {
    let missing = case.meta.requires_policy.iter().find(|p| {
        let declared = &target.policy;
        !match p {
            PolicyName::AuthRequiresTls => declared.auth_requires_tls,
            PolicyName::TlsRequired => declared.tls_required,
            PolicyName::AuthRequired => declared.auth_required,
        }
    })?;
    Some(format!(
        "{NO_POLICY} {}: the case judges a policy only its operator can declare",
        missing.as_str()
    ))
}

/// `requires`: keywords the target must (or, with `!`, must not) advertise.
fn keywords(case: &Case, target: &Target) -> Option<String> {
    for want in &case.meta.requires {
        match want.strip_prefix('!') {
            // `!KEYWORD`: the case is about servers without the extension.
            Some(absent) if offers(&target.ehlo, absent) => {
                return Some(format!(
                    "{ADVERTISES} {absent}; the case is for servers that do not"
                ));
            }
            Some(_) => {}
            None if !offers(&target.ehlo, want) => {
                return Some(format!("{NOT_ADVERTISED} {want}"));
            }
            None => {}
        }
    }
    None
}

/// A fixed SIZE limit, for the cases that name it or pad a message past it.
fn size(case: &Case, target: &Target) -> Option<String> {
    if target.size_limit.is_some() {
        return None;
    }
    if case.meta.requires.iter().any(|k| k == SIZE_LIMIT) {
        return Some(
            "the target advertises SIZE without a fixed limit (no number, or 0); the case \
             needs one"
                .into(),
        );
    }
    let pads = case.steps().iter().any(|s| {
        matches!(
            s.action,
            Action::SendBody {
                exceed_size: true,
                ..
            }
        )
    });
    pads.then(|| {
        "the target advertises no SIZE limit (no number, or 0); the case needs one to exceed".into()
    })
}

/// Every variable the case uses, and a recipient the target refuses when it uses one.
fn variables(case: &Case, target: &Target) -> Option<String> {
    if let Some(reply) = &target.catch_all
        && case.meta.uses.contains("target.bad_rcpt")
    {
        return Some(format!(
            "{CATCH_ALL} at discovery ({reply}): a catch-all; the case needs a recipient it \
             refuses"
        ));
    }
    let var = case
        .meta
        .uses
        .iter()
        .find(|v| *v != "case.token" && !target.vars.contains_key(*v))?;
    Some(format!("{UNDEFINED} {{{{{var}}}}}"))
}

/// A readable store, for the cases that check the stored message.
fn store(case: &Case, target: &Target) -> Option<String> {
    let checks = case
        .steps()
        .iter()
        .any(|s| matches!(s.action, Action::ExpectStored(_)));
    if !checks {
        return None;
    }
    match &target.mailbox {
        None => Some(format!(
            "{NEEDS_STORE}; the target profile gives no store to read"
        )),
        Some(m) => m.problem(),
    }
}

/// STARTTLS where the session is not already TLS, and the keywords needed after it.
fn after_tls(case: &Case, target: &Target) -> Option<String> {
    if target.tls.implicit
        && case
            .steps()
            .iter()
            .any(|s| matches!(s.action, Action::Starttls | Action::Handshake))
    {
        return Some(format!("{IMPLICIT_TLS}; the case negotiates STARTTLS"));
    }
    if case.meta.requires_after_tls.is_empty() {
        return None;
    }
    let Some(tls_ehlo) = &target.tls_ehlo else {
        return Some(match &target.tls_problem {
            Some(p) => format!("{NO_TLS_EHLO} ({p})"),
            None => format!("{NOT_ADVERTISED} STARTTLS"),
        });
    };
    let missing = case
        .meta
        .requires_after_tls
        .iter()
        .find(|k| !offers(tls_ehlo, k))?;
    Some(format!("{NOT_ADVERTISED} {missing} after TLS"))
}

/// `requires: [SIZE=limit]`: SIZE with a fixed limit, a number above 0 (RFC 1870 §4:
/// the number is optional, and 0 means no fixed limit).
const SIZE_LIMIT: &str = "SIZE=LIMIT";

/// Does an EHLO list offer `want`: a keyword (`SIZE`), or a keyword with one of its
/// parameters (`AUTH=PLAIN`)? Both compared without case.
fn offers(ehlo: &[EhloLine], want: &str) -> bool {
    if want == SIZE_LIMIT {
        // Judged against the parsed limit by the gate.
        return offers(ehlo, "SIZE");
    }
    let (keyword, param) = match want.split_once('=') {
        Some((k, p)) => (k, Some(p)),
        None => (want, None),
    };
    ehlo.iter().any(|line| {
        line.keyword.eq_ignore_ascii_case(keyword)
            && param.is_none_or(|p| line.params.iter().any(|w| w.eq_ignore_ascii_case(p)))
    })
}
