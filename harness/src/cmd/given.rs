//! What `run` is told about the server on the command line (`--var`, `--from`,
//! `--domain`, `--user`, `--tls`, `--no-mail`, ...), checked before anything starts
//! and applied over the profile's (or the greeting's) values once the server is up.

use smtpspec::profile::vars::{self, Given as GivenVars};
use smtpspec::roles::server::Restraint;
use smtpspec::wire::tls::TlsSettings;

use super::{CliError, usage};
use crate::cli::{GivenArgs, TlsMode};

/// The command line's word on the server, checked.
#[derive(Debug, Default)]
pub(crate) struct Given {
    /// The variables set.
    pub(crate) vars: GivenVars,
    tls: Option<TlsMode>,
    tls_name: Option<String>,
    /// `--no-mail`.
    pub(crate) no_mail: bool,
}

impl Given {
    /// Check every value given.
    pub(crate) fn from_args(args: &GivenArgs) -> Result<Self, CliError> {
        let mut set = GivenVars::default();
        for v in &args.vars {
            let (name, value) = v
                .split_once('=')
                .ok_or_else(|| usage!("--var {v:?} is not NAME=VALUE"))?;
            set.set(name.trim(), value)
                .map_err(|e| usage!("--var {name}: {e}"))?;
        }
        let short = [
            ("--from", "client.from", &args.from),
            ("--rcpt", "target.rcpt", &args.rcpt),
            ("--bad-rcpt", "target.bad_rcpt", &args.bad_rcpt),
            ("--domain", "target.domain", &args.domain),
            ("--helo", "client.helo", &args.helo),
            ("--user", "target.user", &args.user),
            ("--password", "target.password", &args.password),
        ];
        for (flag, name, value) in short {
            if let Some(value) = value {
                set.set(name, value).map_err(|e| usage!("{flag}: {e}"))?;
            }
        }
        Ok(Self {
            vars: set,
            tls: args.tls,
            tls_name: args.tls_name.clone(),
            no_mail: args.no_mail,
        })
    }

    /// The port of a `--target HOST` given without one: 465 for implicit TLS
    /// (RFC 8314 §7.3), else 25.
    pub(crate) fn default_port(&self) -> u16 {
        if self.tls == Some(TlsMode::Implicit) {
            smtp_protocol::limits::SUBMISSIONS_PORT
        } else {
            smtp_protocol::limits::SMTP_PORT
        }
    }

    /// `--tls` and `--tls-name` over the profile's TLS settings.
    pub(crate) fn tls(&self, tls: &mut TlsSettings) {
        match self.tls {
            Some(TlsMode::Implicit) => tls.implicit = true,
            Some(TlsMode::Starttls | TlsMode::None) => tls.implicit = false,
            None => {}
        }
        if let Some(name) = &self.tls_name {
            tls.server_name = Some(name.clone());
        }
    }

    /// What the cases must not do to this server.
    pub(crate) fn restraint(&self) -> Restraint {
        Restraint {
            no_mail: self.no_mail,
            no_tls: self.tls == Some(TlsMode::None),
        }
    }

    /// The server's variables once its greeting is known: without a profile and
    /// without `--domain`, the domain its greeting names; then what was given.
    pub(crate) fn settle(
        &self,
        vars: &mut smtpspec::scenario::template::Vars,
        banner: Option<&str>,
    ) {
        if !self.vars.names_domain()
            && let Some(domain) = banner.and_then(vars::domain_in_banner)
        {
            vars::move_to_domain(vars, &domain);
        }
        self.vars.apply(vars);
    }
}
