//! Starting the client under test for a client case: a command from its profile (its
//! output drained so that it never blocks on a full pipe), or the reference client
//! in-process; and waiting for its exit.

use crate::outcome::HarnessError;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use smtp_protocol::address::{ForwardPath, Host, Mailbox, ReversePath};
use smtp_protocol::client::{ClientConfig, Credentials, Outgoing, Timeouts, TlsPolicy};

use super::{ClientUnderTest, FROM, HELO, MESSAGE, TO};
use crate::profile::client::expand;
use crate::profile::launch::command;
use crate::scenario::client::ClientMode;
use crate::send::{ClientVariant, Trust};
use crate::test_ca::TestCa;

/// How the client run ended.
#[derive(Debug, Clone)]
pub(crate) struct Exit {
    pub(crate) code: Option<i32>,
    /// The signal that ended it, when one did.
    pub(crate) signal: Option<i32>,
    pub(crate) output: String,
}

pub(crate) fn code_text(code: Option<i32>) -> String {
    code.map_or_else(|| "by a signal".into(), |c| format!("with status {c}"))
}

/// A started client.
pub(crate) enum Process {
    /// A process, with tasks draining its output so that it never blocks on a full pipe.
    Child(
        Box<tokio::process::Child>,
        Vec<tokio::task::JoinHandle<String>>,
    ),
    Task(tokio::task::JoinHandle<u8>),
}

impl Process {
    pub(crate) async fn wait(&mut self) -> Result<Exit, HarnessError> {
        match self {
            Self::Child(child, readers) => {
                let status = child.wait().await.map_err(HarnessError::of)?;
                let mut output = String::new();
                for reader in readers.drain(..) {
                    if let Ok(Ok(text)) =
                        tokio::time::timeout(Duration::from_millis(500), reader).await
                    {
                        output.push_str(&text);
                        output.push(' ');
                    }
                }
                Ok(Exit {
                    code: status.code(),
                    signal: std::os::unix::process::ExitStatusExt::signal(&status),
                    output: output.trim().to_string(),
                })
            }
            Self::Task(task) => {
                let code = task.await.map_err(HarnessError::of)?;
                Ok(Exit {
                    code: Some(i32::from(code)),
                    signal: None,
                    output: String::new(),
                })
            }
        }
    }

    pub(crate) async fn kill(&mut self) {
        match self {
            Self::Child(child, readers) => {
                let _ = child.kill().await;
                readers.iter().for_each(tokio::task::JoinHandle::abort);
            }
            Self::Task(task) => task.abort(),
        }
    }
}

/// Read a pipe to its end, keeping the last 2 KiB of what the client printed (for
/// the transcript and the reason of an error).
fn drain(
    mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut tail = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&buf[..n]);
            let excess = tail.len().saturating_sub(2048);
            tail.drain(..excess);
        }
        String::from_utf8_lossy(&tail).trim().replace('\n', " | ")
    })
}

pub(crate) fn start_client(
    client: &ClientUnderTest,
    mode: ClientMode,
    addr: SocketAddr,
    ca: &TestCa,
) -> Result<Process, HarnessError> {
    match client {
        ClientUnderTest::Reference(variants) => {
            let trust = variants
                .contains(&ClientVariant::VerifyCa)
                .then(|| ca.roots())
                .transpose()?
                .map(|roots| Trust { roots, name: None });
            Ok(Process::Task(tokio::spawn(reference_client(
                mode,
                addr,
                variants.clone(),
                trust,
            ))))
        }
        ClientUnderTest::Command(profile, message) => {
            let template = &profile.commands[&mode];
            let values = [
                ("host", addr.ip().to_string()),
                ("port", addr.port().to_string()),
                ("from", FROM.to_string()),
                ("to", TO.to_string()),
                ("message", message.display().to_string()),
                ("user", profile.user.clone()),
                ("password", profile.password.clone()),
                ("helo", HELO.to_string()),
                ("ca", ca.ca_file.display().to_string()),
            ];
            let args: Vec<String> = template.iter().map(|a| expand(a, &values)).collect();
            let mut cmd = command(&args, profile.dir.as_deref())?;
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            for (k, v) in &values {
                cmd.env(format!("SMTPSPEC_{}", k.to_ascii_uppercase()), v);
            }
            let mut child = cmd
                .spawn()
                .map_err(|e| crate::harness_error!("cannot start {}: {e}", args[0]))?;
            let mut readers = Vec::new();
            if let Some(out) = child.stdout.take() {
                readers.push(drain(out));
            }
            if let Some(err) = child.stderr.take() {
                readers.push(drain(err));
            }
            Ok(Process::Child(Box::new(child), readers))
        }
        ClientUnderTest::Absent(why) => Err(HarnessError(why.clone())),
    }
}

/// smtpspec's own client as the client under test: one delivery to the scripted
/// server; 0 when delivered, as a command-line client would exit.
async fn reference_client(
    mode: ClientMode,
    addr: SocketAddr,
    variants: Vec<ClientVariant>,
    trust: Option<Trust>,
) -> u8 {
    let Ok(helo) = Host::parse(HELO) else {
        return 2;
    };
    let mut config = ClientConfig::new(helo);
    match mode {
        ClientMode::Plain => config.tls = TlsPolicy::Never,
        ClientMode::TlsRequired => config.tls = TlsPolicy::Required,
        ClientMode::Auth => {
            config.tls = TlsPolicy::Never;
            config.auth_without_tls = true;
            config.auth = Some(Credentials {
                user: "user".into(),
                password: "password".into(),
            });
        }
        ClientMode::AuthTls => {
            config.tls = TlsPolicy::Required;
            config.auth = Some(Credentials {
                user: "user".into(),
                password: "password".into(),
            });
        }
    }
    for v in &variants {
        v.apply(&mut config);
    }
    let (Ok(from), Ok(to)) = (Mailbox::parse(FROM), Mailbox::parse(TO)) else {
        return 2;
    };
    let message = Outgoing {
        from: ReversePath::Mailbox(from),
        to: vec![ForwardPath::Mailbox(to)],
        content: MESSAGE.as_bytes().to_vec(),
    };
    let mut options = crate::send::SendOptions::new(config);
    options.server = Some(addr);
    options.timeouts = Timeouts::default().scaled(0.01);
    options.connect_timeout = Duration::from_secs(2);
    options.trust = trust;
    crate::send::deliver(&message, &options).await.exit_code()
}
