//! The certification summary: two scores (conformance, security), a grade for each
//! with the caps that hold it down and why, and what was not tested. Readers of
//! h2spec, testssl.sh and internet.nl look for one line they can act on; the cases
//! stay the evidence. The rules are README.md's "Certification summary", versioned by
//! [`SCORING_VERSION`]: a grade means the same in every release that writes it.

pub use super::grades::{Cap, Certification, NotTested, Part, SCORING_VERSION, Score};
use super::model::{CaseReport, Report};
use super::standing::Standing;
use crate::outcome::{Level, NotRun, Verdict, skip_reason};

/// The security classes, in the order of [`class_of`].
pub const CLASSES: [&str; 4] = ["smuggling", "injection", "tls", "parsing"];

/// A case's security class, if it has one: tag `smuggling`; an injection tag (or the
/// `security.injection` suite, parameters aside); the `extensions.starttls` and
/// `security.policy` suites (TLS and AUTH where the operator requires them) and the
/// `transport-policy` tag (a sender's DANE, RFC 7672); an
/// overflow, stuffing, UTF-8, chunking or CVE tag (input the server mis-frames or
/// mis-decodes, which crashes or desynchronises it rather than forging mail).
pub fn class_of(case: &CaseReport) -> Option<&'static str> {
    let tagged = |t: &[&str]| case.tags.iter().any(|x| t.contains(&x.as_str()));
    let injection = [
        "starttls-injection",
        "header-injection",
        "CVE-2011-0411",
        "CVE-2020-7247",
    ];
    if tagged(&["smuggling"]) {
        Some("smuggling")
    } else if tagged(&injection) {
        Some("injection")
    } else if case.suite == "extensions.starttls"
        || case.suite == "security.policy"
        || tagged(&["transport-policy"])
    {
        Some("tls")
    } else if tagged(&["integer-overflow", "stuffing", "utf8", "chunking"])
        || case.tags.iter().any(|t| t.starts_with("CVE-"))
    {
        Some("parsing")
    } else if case.suite.starts_with("security.") {
        Some("injection")
    } else {
        None
    }
}

impl Report {
    /// The report's certification summary: the one it carries, or (a report written
    /// before there was one) made now from its cases.
    pub fn certified(&self) -> Certification {
        self.summary
            .certification
            .clone()
            .unwrap_or_else(|| self.certification())
    }

    /// The certification summary of this report.
    pub fn certification(&self) -> Certification {
        let untestable = self.standing() == Standing::Untestable;
        let levels: Vec<Part> = Level::ALL
            .into_iter()
            .map(|l| {
                part(
                    l.to_string(),
                    self.cases.iter().filter(|c| c.spec.level == l),
                )
            })
            .collect();
        let mut conformance = score(&self.cases.iter().collect::<Vec<_>>(), levels, untestable);
        let must_fails = self
            .cases
            .iter()
            .filter(|c| c.verdict == Verdict::Fail && c.spec.level == Level::Must)
            .count();
        if must_fails > 0 {
            cap(
                &mut conformance,
                "C",
                format!("{must_fails} case(s) failed at MUST level: not conformant"),
            );
        }
        let secure: Vec<&CaseReport> = self
            .cases
            .iter()
            .filter(|c| class_of(c).is_some())
            .collect();
        let classes = CLASSES
            .iter()
            .map(|k| {
                part(
                    (*k).to_owned(),
                    secure.iter().copied().filter(|c| class_of(c) == Some(k)),
                )
            })
            .collect();
        let mut security = score(&secure, classes, untestable);
        security_caps(&mut security, &secure, self.of_a_client());
        Certification {
            scoring_version: SCORING_VERSION,
            conformance,
            security,
            not_tested: not_tested(&self.cases),
        }
    }
}

/// The caps of the security grade (README.md, "Certification summary").
fn security_caps(s: &mut Score, cases: &[&CaseReport], client: bool) {
    let failed = |class: &str, level: Option<Level>| {
        cases.iter().any(|c| {
            class_of(c) == Some(class)
                && c.verdict == Verdict::Fail
                && level.is_none_or(|l| c.spec.level == l)
        })
    };
    if failed("smuggling", Some(Level::Must)) {
        cap(
            s,
            "F",
            "message data ends where RFC 5321 §4.1.1.4 does not end it: mail can be forged \
             through this server (SMTP smuggling)"
                .into(),
        );
    }
    if failed("injection", Some(Level::Must)) {
        cap(
            s,
            "F",
            "commands or data injected where they must not be acted on were acted on".into(),
        );
    }
    if failed("tls", None) || failed("parsing", Some(Level::Must)) {
        cap(s, "C", "a STARTTLS or parsing case failed".into());
    }
    let tested = |class: &str| {
        cases
            .iter()
            .any(|c| class_of(c) == Some(class) && tried(c.verdict))
    };
    if !client && !cases.is_empty() && !tested("smuggling") {
        cap(
            s,
            "B",
            "SMTP smuggling was not tested (every such case skipped)".into(),
        );
    }
    let no_starttls = format!("{} STARTTLS", skip_reason::NOT_ADVERTISED);
    if !client && cases.iter().any(|c| c.reason == no_starttls) {
        cap(
            s,
            "B",
            "STARTTLS is not offered: mail to this server travels in the clear (RFC 3207)".into(),
        );
    }
}

/// A verdict that tested the case.
fn tried(v: Verdict) -> bool {
    matches!(v, Verdict::Pass | Verdict::Warn | Verdict::Fail)
}

fn part<'a>(name: String, cases: impl Iterator<Item = &'a CaseReport>) -> Part {
    let mut p = Part {
        name,
        ..Part::default()
    };
    for c in cases {
        match c.verdict {
            Verdict::Pass => p.pass += 1,
            Verdict::Warn => p.warn += 1,
            Verdict::Fail => p.fail += 1,
            Verdict::Skip | Verdict::Error => p.not_tested += 1,
        }
    }
    p
}

/// The points of a case's level (README "Certification summary": MUST 3, SHOULD 2,
/// MAY 1).
fn weight(level: Level) -> u64 {
    match level {
        Level::Must => 3,
        Level::Should => 2,
        Level::May => 1,
    }
}

fn score(cases: &[&CaseReport], parts: Vec<Part>, untestable: bool) -> Score {
    // Counted in half points, so a warn's half of an odd weight stays exact.
    let (mut earned, mut possible) = (0u64, 0u64);
    for c in cases.iter().filter(|c| tried(c.verdict)) {
        let w = 2 * weight(c.spec.level);
        possible += w;
        earned += match c.verdict {
            Verdict::Pass => w,
            Verdict::Warn => w / 2,
            _ => 0,
        };
    }
    if untestable || possible == 0 {
        return Score {
            score: None,
            grade: "-".into(),
            caps: Vec::new(),
            parts,
        };
    }
    // Rounded down: 89.9 is no A.
    let score = (earned * 100 / possible) as u32;
    Score {
        score: Some(score),
        grade: grade(score).into(),
        caps: Vec::new(),
        parts,
    }
}

/// A 90, B 80, C 70, D 60, F below.
fn grade(score: u32) -> &'static str {
    match score {
        90.. => "A",
        80..=89 => "B",
        70..=79 => "C",
        60..=69 => "D",
        _ => "F",
    }
}

/// Hold `s` at `at` most, saying why (a grade not yet given is not capped).
fn cap(s: &mut Score, at: &str, reason: String) {
    if s.score.is_none() {
        return;
    }
    if s.grade.as_str() < at {
        s.grade = at.to_owned();
    }
    s.caps.push(Cap {
        grade: at.to_owned(),
        reason,
    });
}

fn not_tested(cases: &[CaseReport]) -> NotTested {
    let mut n = NotTested::default();
    for c in cases {
        match c.verdict {
            Verdict::Error => n.error += 1,
            Verdict::Skip => match NotRun::of(&c.reason) {
                NotRun::NotApplicable => n.not_applicable += 1,
                NotRun::NeedsProfile => {
                    n.needs_profile += 1;
                    if let Some(var) = missing_variable(&c.reason)
                        && !n.missing_variables.contains(&var)
                    {
                        n.missing_variables.push(var);
                    }
                }
                NotRun::HeldBack => n.held_back += 1,
                NotRun::Inconclusive => n.inconclusive += 1,
            },
            _ => {}
        }
    }
    n.missing_variables.sort();
    n
}

/// The variable a skip reason names (`{{target.auth_plain}}`).
fn missing_variable(reason: &str) -> Option<String> {
    let rest = reason.strip_prefix(skip_reason::UNDEFINED)?;
    let inner = rest.trim().strip_prefix("{{")?.split("}}").next()?;
    Some(inner.to_owned())
}

#[cfg(test)]
#[path = "certification_tests.rs"]
mod tests;
