//! Send the smtpspec client-test message with lettre's blocking SMTP transport, the
//! common way: `SmtpTransport` to a host and port, `send_raw` with an envelope. Mode
//! (first argument): plain, tls-required (STARTTLS required, the certificate checked
//! against the run's CA in SMTPSPEC_CA),
//! auth (PLAIN or LOGIN), or auth-tls (both). Values come from the SMTPSPEC_* environment. Exit 0 when
//! the server took the message, 1 otherwise.

use std::process::exit;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{SmtpTransport, Transport};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("lettre-client: {name} is not set");
        exit(2)
    })
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "plain".into());
    let host = var("SMTPSPEC_HOST");
    let port: u16 = var("SMTPSPEC_PORT").parse().unwrap_or(25);
    let message = std::fs::read(var("SMTPSPEC_MESSAGE")).unwrap_or_else(|e| {
        eprintln!("lettre-client: {e}");
        exit(2)
    });
    let (Ok(from), Ok(to)) = (var("SMTPSPEC_FROM").parse(), var("SMTPSPEC_TO").parse()) else {
        eprintln!("lettre-client: bad address");
        exit(2)
    };
    let Ok(envelope) = Envelope::new(Some(from), vec![to]) else {
        eprintln!("lettre-client: bad envelope");
        exit(2)
    };
    let mut builder = SmtpTransport::builder_dangerous(host.as_str())
        .port(port)
        .hello_name(ClientId::Domain(var("SMTPSPEC_HELO")))
        .timeout(Some(Duration::from_secs(5)));
    if mode == "tls-required" || mode == "auth-tls" {
        let ca = std::fs::read(var("SMTPSPEC_CA")).unwrap_or_else(|e| {
            eprintln!("lettre-client: SMTPSPEC_CA: {e}");
            exit(2)
        });
        let ca = Certificate::from_pem(&ca).unwrap_or_else(|e| {
            eprintln!("lettre-client: SMTPSPEC_CA: {e}");
            exit(2)
        });
        let tls = TlsParameters::builder(host.clone())
            .add_root_certificate(ca)
            .build()
            .unwrap_or_else(|e| {
                eprintln!("lettre-client: {e}");
                exit(2)
            });
        builder = builder.tls(Tls::Required(tls));
    }
    if mode == "auth" || mode == "auth-tls" {
        builder = builder
            .credentials(Credentials::new(var("SMTPSPEC_USER"), var("SMTPSPEC_PASSWORD")))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    match builder.build().send_raw(&envelope, &message) {
        Ok(r) => println!("lettre: {} {}", r.code(), r.message().collect::<Vec<_>>().join(" ")),
        Err(e) => {
            eprintln!("lettre: {e}");
            exit(1)
        }
    }
}
