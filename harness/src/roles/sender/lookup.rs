//! Hostile-lookup cases (`expect.survives_lookup`): an MTA receives a message whose
//! client address or sender domain leads it to hostile DNS records (an SPF record with
//! crafted macros, a malformed PTR name), and must go on answering every command
//! (RFC 5321 §4.2). The evidence is the fake DNS's log: an MTA that never asked for
//! the hostile record was not tested by it, whatever it answered.

use crate::outcome::{HarnessError, Outcome, Unmet};
use crate::scenario::sender::DeliveryDef;

use smtp_protocol::reply::{Reply, ReplyCode};

use super::judge::Observation;
use super::submit::Cut;

/// What the lookup rule makes of a delivery.
pub(super) enum Survival {
    /// Decided here: the MTA was not tested (skip), stopped answering (fail), or a
    /// handover of a case without the rule was cut (error, as before the rule).
    Judged(Outcome),
    /// The MTA asked and answered every command; the rest of `expect` still applies.
    Answered(String),
    /// The case has no lookup rule and nothing was cut.
    NotAsked,
}

/// Apply the case's `survives_lookup` rule to what was seen.
pub(super) fn survived(def: &DeliveryDef, seen: &Observation) -> Survival {
    let cut = seen
        .runs
        .iter()
        .find_map(|r| r.handover.as_ref().and_then(|h| h.cut.clone()));
    let wanted = def.expect.lookups().unwrap_or_default();
    if wanted.is_empty() {
        return match cut {
            Some(cut) => Survival::Judged(Outcome::Error(HarnessError(format!("submit: {cut}")))),
            None => Survival::NotAsked,
        };
    }
    let asked = wanted.iter().find(|(rtype, name)| {
        seen.questions
            .iter()
            .any(|q| q.rtype == *rtype && q.name.trim_end_matches('.') == name)
    });
    let Some((rtype, name)) = asked else {
        let listed: Vec<String> = wanted.iter().map(|(t, n)| format!("{t} {n}")).collect();
        return Survival::Judged(Outcome::Inconclusive(format!(
            "the sender never asked the DNS for {} (it does not look this up here), so the \
             hostile record was not tested",
            listed.join(" or ")
        )));
    };
    match cut {
        Some(Cut::Closed(at)) => {
            return Survival::Judged(Outcome::Unmet(Unmet::new(format!(
                "after asking the DNS for {rtype} {name}, the MTA dropped the connection at \
                 {at} (a crashed process; RFC 5321 §4.2: every command gets its reply)"
            ))));
        }
        // A slow answer is not the case's failure: a hang and a slow check look alike.
        Some(Cut::Silent(at)) => {
            return Survival::Judged(Outcome::Inconclusive(format!(
                "after asking the DNS for {rtype} {name}, the MTA was silent at {at}: a hang \
                 or a slow check, not judged"
            )));
        }
        None => {}
    }
    let refusal = seen
        .runs
        .iter()
        .find_map(|r| r.handover.as_ref())
        .and_then(|h| h.refused.as_ref());
    if let Some(r) = refusal.filter(|r| internal_failure(r)) {
        let r = r.to_bytes();
        let r = String::from_utf8_lossy(&r);
        let r = r.trim_end();
        return Survival::Judged(Outcome::Inconclusive(format!(
            "after asking the DNS for {rtype} {name}, the MTA answered {r}: a part of it \
             behind the reply (a policy service, a lookup) may have failed on the record, \
             so its answering shows no survival"
        )));
    }
    let answer = match seen
        .runs
        .iter()
        .find_map(|r| r.handover.as_ref()?.refusal())
    {
        Some(refusal) => format!("refused it ({refusal})"),
        None => "took the message".to_string(),
    };
    Survival::Answered(format!(
        "asked the DNS for {rtype} {name}, answered every command and {answer}"
    ))
}

/// A reply that says the MTA itself is in trouble rather than refusing the mail: 421
/// (closing, RFC 5321 §3.8) or an enhanced code 4.3.x, "mail system status" (RFC 3463
/// §3.5), which is what Postfix answers when its policy service fails.
fn internal_failure(reply: &Reply) -> bool {
    /// The subject of RFC 3463 §3.5, "mail system status".
    const MAIL_SYSTEM: u16 = 3;
    reply.code == ReplyCode::SERVICE_NOT_AVAILABLE
        || reply
            .enhanced
            .is_some_and(|e| e.class == 4 && e.subject == MAIL_SYSTEM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Question;
    use crate::roles::sender::judge::Run;
    use crate::roles::sender::submit::Handover;
    use crate::scenario::sender::DeliveryExpect;

    fn case(lookups: &[&str]) -> DeliveryDef {
        let mut def: DeliveryDef =
            serde_saphyr::from_str("zones: {}\ncontent: x\nexpect: {}\n").unwrap();
        def.expect = DeliveryExpect {
            survives_lookup: lookups.iter().map(|s| (*s).to_string()).collect(),
            ..DeliveryExpect::default()
        };
        def
    }

    fn seen(asked: &[(&str, &str)], handover: Handover) -> Observation {
        Observation {
            runs: vec![Run {
                outcome: None,
                tried: Vec::new(),
                account: None,
                handover: Some(handover),
            }],
            connections: Vec::new(),
            taken: Default::default(),
            sees_refused: false,
            received: Vec::new(),
            policies_served: 0,
            questions: asked
                .iter()
                .map(|(t, n)| Question {
                    name: (*n).to_string(),
                    rtype: (*t).to_string(),
                    protocol: "udp",
                })
                .collect(),
        }
    }

    fn reply(line: &str) -> Reply {
        Reply::parse(format!("{line}\r\n").as_bytes())
            .unwrap()
            .reply
    }

    fn cut() -> Handover {
        Handover {
            cut: Some(Cut::Closed(
                "the reply to MAIL: the connection closed".into(),
            )),
            ..Handover::default()
        }
    }

    #[test]
    fn no_question_asked_is_no_test_and_a_cut_after_one_is_a_finding() {
        let def = case(&["TXT spf.test"]);
        let not_asked = survived(&def, &seen(&[("A", "spf.test.")], cut()));
        assert!(matches!(
            not_asked,
            Survival::Judged(Outcome::Inconclusive(_))
        ));
        let died = survived(&def, &seen(&[("TXT", "spf.test.")], cut()));
        assert!(matches!(died, Survival::Judged(Outcome::Unmet(_))));
        let refused = Handover {
            refused: Some(reply("550 5.7.1 SPF fail")),
            ..Handover::default()
        };
        match survived(&def, &seen(&[("TXT", "spf.test.")], refused)) {
            Survival::Answered(how) => assert!(how.contains("refused it (550"), "{how}"),
            _ => panic!("a refusal is an answer"),
        }
        // Silence is not judged, nor a reply that says the MTA's own parts failed.
        let silent = Handover {
            cut: Some(Cut::Silent("the greeting: no reply".into())),
            ..Handover::default()
        };
        let asked = [("TXT", "spf.test.")];
        assert!(matches!(
            survived(&def, &seen(&asked, silent)),
            Survival::Judged(Outcome::Inconclusive(_))
        ));
        for line in [
            "451 4.3.5 Server configuration problem",
            "421 shutting down",
        ] {
            let h = Handover {
                refused: Some(reply(line)),
                envelope_refused: true,
                ..Handover::default()
            };
            assert!(
                matches!(
                    survived(&def, &seen(&asked, h)),
                    Survival::Judged(Outcome::Inconclusive(_))
                ),
                "{line}"
            );
        }
    }

    #[test]
    fn a_cut_handover_without_the_rule_stays_an_error() {
        let def = case(&[]);
        assert!(matches!(
            survived(&def, &seen(&[], cut())),
            Survival::Judged(Outcome::Error(_))
        ));
        assert!(matches!(
            survived(&def, &seen(&[], Handover::default())),
            Survival::NotAsked
        ));
    }
}
