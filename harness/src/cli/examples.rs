//! What `--help` shows after the options: examples first (the way a new user learns a
//! command), then the exit statuses scripts rely on (README.md, "Command line").

/// `smtpspec --help`.
pub(super) const TOP: &str = "\
Examples:
  smtpspec run                        the catalogue against the embedded reference server
  smtpspec run --target 127.0.0.1:25  against a server on this machine (port 25 if none given)
  smtpspec list --filter 4.5.3.1      the cases of RFC 5321 §4.5.3.1 and its subsections
  smtpspec fuzz --target 127.0.0.1:25 --duration 60s

Exit status: 0 conformant · 1 non-conformant (a fail at or above --fail-on) · 2 usage, \
configuration or scenario-file error · 3 the target could not be tested.";

/// `smtpspec run --help`.
pub(super) const RUN: &str = "\
Examples:
  smtpspec run --target 127.0.0.1:2525 --filter 4.1.1 --verbose
  smtpspec run --target scenarios/targets/aiosmtpd.yaml --output-dir out
  smtpspec run --target 127.0.0.1 --format junit --output junit.xml --baseline last.json
  smtpspec run --target mx.example.test --domain example.test --no-mail

--filter EXPR selects a case when its id contains EXPR, when its section is EXPR or a \
subsection of it (4.5.3.1 takes 4.5.3.1.1, not 4.5.3.10), when it has the tag EXPR, or when \
EXPR is its level (must, should, may).

Exit status: 0 conformant · 1 a fail at or above --fail-on · 2 usage, configuration or \
scenario-file error, or nothing selected · 3 the target could not be tested.";

/// `smtpspec client --help`.
pub(super) const CLIENT: &str = "\
Examples:
  smtpspec client --client scenarios/targets/clients/swaks.yaml
  smtpspec client -- swaks --server {host} --port {port} --from {from} --to {to} --data @{message}
  smtpspec client --client scenarios/targets/clients/msmtp.yaml --format junit --output junit.xml

Placeholders in the command and profile: {host} {port} {from} {to} {message} {user} \
{password} {helo}; the same in the environment as SMTPSPEC_HOST, SMTPSPEC_PORT, ...

Exit status: 0 conformant · 1 a fail at or above --fail-on · 2 usage or scenario-file error, \
or nothing selected · 3 the client could not be tested.";

/// `smtpspec serve --help`.
pub(super) const SERVE: &str = "\
Examples:
  smtpspec serve --listen 127.0.0.1:2525 --maildir /tmp/mail
  smtpspec serve --store discard --threads 1     a sink for load tests
  smtpspec serve --deviate data-end-lf-dot-lf   a known deviation, to see a tool catch it
  smtpspec serve --list-variants";

/// `smtpspec dns --help`.
pub(super) const DNS: &str = "\
Examples:
  smtpspec dns --zone zones.yaml --listen 127.0.0.1:5300
  dig @127.0.0.1 -p 5300 example.test MX

A zone file maps each zone to its names (\"@\" is the zone itself) and their records or \
fault:
  example.test:
    \"@\":  { MX: [\"10 mx1\", \"20 mx2\"], TXT: [\"v=spf1 -all\"] }
    mx1:  { A: [127.0.0.2], AAAA: [\"::1\"] }
    www:  { CNAME: \"@\" }
    slow: { fault: timeout }      # also servfail, nxdomain, refused, truncate
  nomail.test:
    \"@\":  { MX: [\"0 .\"] }        # null MX (RFC 7505)";

/// `smtpspec send --help`.
pub(super) const SEND: &str = "\
Examples:
  smtpspec send --from a@example.test --to b@example.test --dns 127.0.0.1:5300
  smtpspec send --from a@example.test --to b@example.test --server 127.0.0.1:2525 --format json
  smtpspec send --from '' --to b@example.test --server 127.0.0.1:2525 --tls required

Exit status: 0 delivered to every recipient · 1 a recipient bounced (5xx, NXDOMAIN, null MX) \
· 2 usage error · 3 a recipient is still deferred.";

/// `smtpspec fuzz --help`.
pub(super) const FUZZ: &str = "\
Examples:
  smtpspec fuzz --duration 30s                   the embedded reference server
  smtpspec fuzz --target 127.0.0.1:25 --duration 10m --output-dir out
  smtpspec fuzz --target a.yaml --target b.yaml  differential: disagreements are findings
  smtpspec fuzz --replay out/findings --target 127.0.0.1:25
  smtpspec fuzz --client scenarios/targets/clients/msmtp.yaml --duration 5m    a client

Exit status: 0 no finding · 1 findings (written under --output-dir) · 2 usage error · 3 the \
target could not be fuzzed (no connection, no 220 greeting).";

/// `smtpspec report --help`.
pub(super) const REPORT: &str = "\
Examples:
  smtpspec report out/report.json --format html --output report.html
  smtpspec report postfix.json exim.json --format markdown    a matrix across implementations
  smtpspec report out/report.json --format text
  smtpspec report out/report.json --format badge --output badge.svg    the grades, for a README";

/// `smtpspec list --help`.
pub(super) const LIST: &str = "\
Examples:
  smtpspec list
  smtpspec list --filter must
  smtpspec list --filter 4.5.3.1 my-suites/

Exit status: 0 listed · 2 a scenario-file error, or nothing selected.";

/// `smtpspec check --help`.
pub(super) const CHECK: &str = "\
Examples:
  smtpspec check
  smtpspec check my-suites/ other.yaml

Exit status: 0 no error · 2 located errors, printed one per line.";

/// `smtpspec coverage --help`.
pub(super) const COVERAGE: &str = "\
Examples:
  smtpspec coverage
  smtpspec coverage --filter 5321-4.1 --all
  smtpspec coverage --format json";

/// `smtpspec schema --help`.
pub(super) const SCHEMA: &str = "\
Examples:
  smtpspec schema > scenarios/schema.json
  smtpspec schema --report > reports/schema.json";

/// `smtpspec completions --help`.
pub(super) const COMPLETIONS: &str = "\
Examples:
  smtpspec completions bash > ~/.local/share/bash-completion/completions/smtpspec
  smtpspec completions zsh > ~/.zfunc/_smtpspec
  smtpspec completions fish > ~/.config/fish/completions/smtpspec.fish";
