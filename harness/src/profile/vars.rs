//! The variables the catalogue's cases read (`{{target.rcpt}}`, `{{client.from}}`,
//! ...), as a user gives them on the command line (`--var`, `--domain`, `--from`, ...)
//! over those of the target, and as a report shows them (secrets hidden).
//!
//! Without a profile, a server's domain is read from its greeting (RFC 5321 §4.2:
//! "220 <domain> ..."), so that the recipient the cases use is the server's own
//! postmaster (§4.5.1: every server takes mail for it), not `postmaster@localhost`.

use std::collections::BTreeMap;

use smtp_protocol::base64;

use crate::scenario::template::{KNOWN, Vars};
use crate::yaml::Invalid;

/// Every variable a user may set: the first seven of [`KNOWN`]; the others are
/// made from them (the AUTH tokens) or by each case (`case.token`).
pub const SETTABLE: &[&str] = KNOWN.split_at(7).0;

/// Variables whose values a report must not show.
const SECRET: [&str; 3] = [
    "target.password",
    "target.auth_plain",
    "target.auth_login_password",
];

/// Variables given by the user, applied over a target's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Given {
    values: BTreeMap<String, String>,
}

impl Given {
    /// Set `name` (one of [`SETTABLE`]) to `value`; a value that would end a command
    /// line early (CR, LF, NUL) is refused, since every case would send it.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), Invalid> {
        if !SETTABLE.contains(&name) {
            return Err(crate::invalid!(
                "no variable {name:?}: the variables are {}",
                SETTABLE.join(", ")
            ));
        }
        if value.is_empty() || value.contains(['\r', '\n', '\0']) {
            return Err(crate::invalid!(
                "{name} must not be empty or hold CR, LF or NUL"
            ));
        }
        self.values.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    /// Whether the user named the target's domain (then the greeting is not read
    /// for it).
    pub fn names_domain(&self) -> bool {
        self.values.contains_key("target.domain")
    }

    /// Apply over `vars`: a new domain moves the recipients to it unless they are
    /// given too; credentials make the AUTH tokens.
    pub fn apply(&self, vars: &mut Vars) {
        if let Some(domain) = self.values.get("target.domain") {
            move_to_domain(vars, domain);
        }
        for (k, v) in &self.values {
            vars.insert(k.clone(), v.clone());
        }
        let user = vars.get("target.user").cloned();
        let password = vars.get("target.password").cloned();
        if let (Some(user), Some(password)) = (user, password) {
            add_credentials(vars, &user, &password);
        }
    }
}

/// The target's domain is `domain`: the recipients keep their local parts and take
/// the domain.
pub fn move_to_domain(vars: &mut Vars, domain: &str) {
    vars.insert("target.domain".into(), domain.into());
    for key in ["target.rcpt", "target.bad_rcpt"] {
        if let Some(address) = vars.get(key) {
            let local = address
                .rsplit_once('@')
                .map_or(address.as_str(), |(l, _)| l);
            let moved = format!("{local}@{domain}");
            vars.insert(key.into(), moved);
        }
    }
}

/// The user, the password and the AUTH tokens made from them: PLAIN's initial
/// response (RFC 4616) and LOGIN's two answers, each base64.
pub fn add_credentials(v: &mut Vars, user: &str, password: &str) {
    v.insert("target.user".into(), user.into());
    v.insert("target.password".into(), password.into());
    let token = base64::encode(format!("\0{user}\0{password}").as_bytes());
    v.insert("target.auth_plain".into(), token);
    v.insert(
        "target.auth_login_user".into(),
        base64::encode(user.as_bytes()),
    );
    v.insert(
        "target.auth_login_password".into(),
        base64::encode(password.as_bytes()),
    );
}

/// The domain a greeting names (`220 mx.example.test ESMTP ...`), when it is a
/// domain: dotted labels of letters, digits and hyphens. An address literal, a bare
/// word or nothing gives none.
pub fn domain_in_banner(banner: &str) -> Option<String> {
    let first = banner.lines().next()?;
    let rest = first.get(4..)?;
    let word = rest.split_whitespace().next()?.trim_end_matches('.');
    let labels: Vec<&str> = word.split('.').collect();
    let is_label = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let numeric = labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit()));
    (labels.len() >= 2 && word.len() <= 255 && labels.iter().all(is_label) && !numeric)
        .then(|| word.to_ascii_lowercase())
}

/// The variables as a report shows them: the secrets replaced, the derived AUTH
/// tokens of the user left out (they say nothing the user and password do not).
pub fn shown(vars: &Vars) -> BTreeMap<String, String> {
    vars.iter()
        .filter(|(k, _)| *k != "target.auth_login_user")
        .map(|(k, v)| {
            let v = if SECRET.contains(&k.as_str()) {
                "(secret)".to_owned()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Given, domain_in_banner, shown};
    use crate::scenario::template::Vars;

    fn base() -> Vars {
        let mut v = Vars::new();
        v.insert("target.domain".into(), "localhost".into());
        v.insert("target.rcpt".into(), "postmaster@localhost".into());
        v.insert("target.bad_rcpt".into(), "nobody-1@localhost".into());
        v
    }

    #[test]
    fn a_domain_moves_the_recipients_unless_they_are_given() {
        let mut g = Given::default();
        g.set("target.domain", "mx.test").unwrap();
        let mut v = base();
        g.apply(&mut v);
        assert_eq!(v["target.rcpt"], "postmaster@mx.test");
        assert_eq!(v["target.bad_rcpt"], "nobody-1@mx.test");
        g.set("target.rcpt", "alice@mx.test").unwrap();
        let mut v = base();
        g.apply(&mut v);
        assert_eq!(v["target.rcpt"], "alice@mx.test");
    }

    #[test]
    fn credentials_make_tokens_and_reports_hide_secrets() {
        let mut g = Given::default();
        g.set("target.user", "u").unwrap();
        g.set("target.password", "p").unwrap();
        let mut v = base();
        g.apply(&mut v);
        assert_eq!(v["target.auth_plain"], "AHUAcA==");
        let s = shown(&v);
        assert_eq!(s["target.password"], "(secret)");
        assert_eq!(s["target.auth_plain"], "(secret)");
        assert_eq!(s["target.user"], "u");
    }

    #[test]
    fn the_settable_names_are_the_given_ones() {
        assert_eq!(super::SETTABLE.last(), Some(&"target.password"));
        assert!(
            super::SETTABLE
                .iter()
                .all(|n| !n.contains("auth_") && *n != "case.token")
        );
    }

    #[test]
    fn unknown_names_and_line_breaking_values_are_refused() {
        let mut g = Given::default();
        assert!(g.set("target.rcpt", "a@b\r\nRSET").is_err());
        assert!(g.set("target.nope", "x").is_err());
        assert!(g.set("client.from", "").is_err());
    }

    #[test]
    fn the_greeting_names_the_domain_when_it_is_one() {
        assert_eq!(
            domain_in_banner("220 MX.Example.test ESMTP Postfix").as_deref(),
            Some("mx.example.test")
        );
        assert_eq!(
            domain_in_banner("220-mail.test ready\r\n220 more").as_deref(),
            Some("mail.test")
        );
        for none in [
            "220 localhost ESMTP",
            "220 [127.0.0.1] ready",
            "220 127.0.0.1 ready",
            "220 ",
            "220",
            "220 -bad-.test x",
        ] {
            assert_eq!(domain_in_banner(none), None, "{none}");
        }
    }
}
