//! The `expect` step checked and compiled: codes, classes, the preferred codes, the
//! sentence that narrows them, the enhanced code and text patterns.

use crate::yaml::Invalid;
use regex::Regex;

use crate::scenario::valid_id;
use crate::scenario::{ExpectReply, ExpectSpec};

/// A reply matcher, checked and compiled.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Allowed codes (empty: any).
    pub codes: Vec<u16>,
    /// Allowed code prefixes: `5` for `5xx`, `55` for `55x` (any of them; empty: any).
    pub class: Vec<String>,
    /// Enhanced code pattern: `5.1.1` or `5.x.x`.
    pub enhanced: Option<String>,
    /// Text pattern.
    pub text: Option<Regex>,
    /// Line count constraint.
    pub multiline: Option<bool>,
    /// Variable to store the reply text in.
    pub capture: Option<String>,
    /// Codes that pass outright; other accepted codes warn.
    pub prefer: Vec<u16>,
    /// The sentence that narrows the §4.3.2 codes, if the case cites one.
    pub because: Option<String>,
    /// A precondition: a mismatch skips the case.
    pub given: bool,
    /// Class prefixes that are a precondition (`given: 5xx`): a reply outside them
    /// skips the case.
    pub given_class: Vec<String>,
    /// What the reply answers (the greeting, a command, the end of data), when the
    /// steps tell; the §4.3.2 lint and reasons use it.
    pub answers: Option<smtp_protocol::reply::ReplyTo>,
    /// A refusal or a close settles the case as passed (`or_refused: true`).
    pub or_refused: bool,
}

impl Matcher {
    /// How the expectation reads in a verdict reason.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match self.codes.as_slice() {
            [] => {}
            [one] => parts.push(one.to_string()),
            many => parts.push(format!(
                "one of {}",
                many.iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
        if !self.class.is_empty() {
            parts.push(
                self.class
                    .iter()
                    .map(|c| format!("{c}{}", "x".repeat(3 - c.len())))
                    .collect::<Vec<_>>()
                    .join(" or "),
            );
        }
        if let Some(e) = &self.enhanced {
            parts.push(format!("enhanced {e}"));
        }
        if let Some(t) = &self.text {
            parts.push(format!("text /{}/", t.as_str()));
        }
        match self.multiline {
            Some(true) => parts.push("multiline".into()),
            Some(false) => parts.push("single line".into()),
            None => {}
        }
        if parts.is_empty() {
            "any reply".into()
        } else {
            parts.join(", ")
        }
    }
}

fn class_prefix(class: &str) -> Result<String, Invalid> {
    let c = class.to_ascii_lowercase();
    let digits = c.trim_end_matches('x');
    let ok = c.len() == 3
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (b'2'..=b'5').contains(&digits.as_bytes()[0]);
    if ok {
        Ok(digits.to_owned())
    } else {
        Err(crate::invalid!(
            "{class:?} is not a reply class like 2xx, 5xx or 55x"
        ))
    }
}

pub(super) fn matcher(spec: &ExpectSpec) -> Result<Matcher, Invalid> {
    let full = match spec {
        ExpectSpec::Code(c) => ExpectReply {
            code: Some(*c),
            ..ExpectReply::default()
        },
        ExpectSpec::Class(c) => ExpectReply {
            class: Some(super::super::Classes::One(c.clone())),
            ..ExpectReply::default()
        },
        ExpectSpec::Full(f) => f.clone(),
    };
    let mut codes: Vec<u16> = full.code.into_iter().collect();
    codes.extend(full.codes.iter().flatten());
    if let Some(bad) = codes.iter().find(|c| !(200..=599).contains(*c)) {
        return Err(crate::invalid!("{bad} is not a reply code (200 to 599)"));
    }
    let class = full
        .class
        .as_ref()
        .map(|c| {
            c.list()
                .into_iter()
                .map(class_prefix)
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    if let Some(e) = &full.enhanced {
        let parts: Vec<&str> = e.split('.').collect();
        let ok = parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..].iter().all(|p| {
                *p == "x"
                    || (p.len() <= 3 && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            });
        if !ok {
            return Err(crate::invalid!(
                "{e:?} is not an enhanced code like 5.1.1 or 5.x.x"
            ));
        }
    }
    let text = full
        .text
        .as_deref()
        .map(Regex::new)
        .transpose()
        .map_err(|e| crate::invalid!("bad text pattern: {e}"))?;
    if let Some(name) = &full.capture
        && !valid_id(&name.replace('_', "-"), true)
    {
        return Err(crate::invalid!("{name:?} is not a variable name"));
    }
    let in_class = |code: &u16| {
        class.is_empty()
            || class
                .iter()
                .any(|c| code.to_string().starts_with(c.as_str()))
    };
    if let Some(bad) = full
        .prefer
        .iter()
        .find(|p| !(codes.is_empty() || codes.contains(p)) || !in_class(p))
    {
        return Err(crate::invalid!(
            "prefer: {bad} is not one of the accepted codes"
        ));
    }
    if !codes.is_empty() && !codes.iter().any(in_class) {
        return Err(
            "no accepted code is in the accepted classes: the expectation can never be met".into(),
        );
    }
    if full.or_refused && !matches!(full.given, super::super::Given::Whole(false)) {
        return Err(
            "or_refused with given: a refusal cannot both pass the case and skip it".into(),
        );
    }
    let given_class = match &full.given {
        super::super::Given::Class(c) => vec![class_prefix(c)?],
        super::super::Given::Whole(_) => Vec::new(),
    };
    if full.because.as_deref().is_some_and(|b| !b.contains("RFC")) {
        return Err("because: cite the RFC and section (\"RFC 5321 §4.1.4: ...\")".into());
    }
    Ok(Matcher {
        codes,
        class,
        enhanced: full.enhanced,
        text,
        multiline: full.multiline,
        capture: full.capture,
        prefer: full.prefer,
        because: full.because,
        given: matches!(full.given, super::super::Given::Whole(true)),
        given_class,
        answers: None,
        or_refused: full.or_refused,
    })
}
