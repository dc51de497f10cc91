//! Starting the server under test for a run, from a profile's `launch`: spawn it in its
//! own process group with its output in a log file, wait until its address accepts
//! connections, and stop the whole group afterwards (also when the run fails), so a
//! CI job needs no start/stop script around `smtpspec run`. Also the one place a
//! profile's other commands are started (a client under test, an MTA's inject, reset
//! and queue check): [`command`], [`run_to_end`], [`exits_zero`].

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::outcome::HarnessError;
use crate::profile::Launch;
use crate::scenario::parse_duration;

/// How long a launched server gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// A running target; stopped when dropped.
#[derive(Debug)]
pub struct Launched {
    child: Child,
    /// Where its output goes.
    pub log: PathBuf,
    /// How long it took to accept connections.
    pub ready_after: Duration,
}

impl Launched {
    /// The pid of the process started, the leader of its own process group.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The last lines of a log, for an error message.
fn tail(path: &PathBuf) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(2000)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n    ")
}

/// Start `launch` and wait until `addr` accepts a connection.
pub async fn start(launch: &Launch, addr: SocketAddr) -> Result<Launched, HarnessError> {
    let log = match &launch.log {
        Some(l) => l.clone(),
        None => std::env::temp_dir().join(format!("smtpspec-launch-{}.log", addr.port())),
    };
    if let Some(parent) = log.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| crate::harness_error!("{}: {e}", parent.display()))?;
    }
    let out = File::create(&log).map_err(|e| crate::harness_error!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(HarnessError::of)?;
    let (program, args) = launch
        .command
        .split_first()
        .ok_or_else(|| crate::harness_error!("launch.command is empty"))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    if let Some(dir) = &launch.dir {
        cmd.current_dir(dir);
    }
    let child = cmd
        .spawn()
        .map_err(|e| crate::harness_error!("launch {program}: {e}"))?;
    let mut launched = Launched {
        child,
        log,
        ready_after: Duration::ZERO,
    };
    let limit = launch
        .ready_timeout
        .as_deref()
        .and_then(parse_duration)
        .unwrap_or(Duration::from_secs(20));
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = launched.child.try_wait() {
            return Err(crate::harness_error!(
                "the launch command exited ({status}) before {addr} was ready; {}:\n    {}",
                launched.log.display(),
                tail(&launched.log)
            ));
        }
        let probe = tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(addr),
        )
        .await;
        if let Ok(Ok(_)) = probe {
            launched.ready_after = start.elapsed();
            return Ok(launched);
        }
        if start.elapsed() > limit {
            return Err(crate::harness_error!(
                "{addr} did not accept connections within {} ms of the launch; {}:\n    {}",
                limit.as_millis(),
                launched.log.display(),
                tail(&launched.log)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        let Ok(pid) = i32::try_from(self.child.id()) else {
            let _ = self.child.kill();
            return;
        };
        let group = Pid::from_raw(pid);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // The leader is gone; take any stragglers of its group with it.
                let _ = killpg(group, Signal::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// A profile's command (a client, an MTA's inject, reset or queue check) ready to
/// start: no stdin, killed if the harness drops it, run in `dir`.
pub fn command(
    args: &[String],
    dir: Option<&Path>,
) -> Result<tokio::process::Command, HarnessError> {
    let (program, rest) = args
        .split_first()
        .ok_or_else(|| crate::harness_error!("the command is empty"))?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(rest).stdin(Stdio::null()).kill_on_drop(true);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    Ok(cmd)
}

/// Run a command of the profile to its end (bounded), returning its output.
pub async fn run_to_end(
    args: &[String],
    dir: Option<&Path>,
    limit: Duration,
) -> Result<String, HarnessError> {
    let mut cmd = command(args, dir)?;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .map_err(|e| crate::harness_error!("cannot start {}: {e}", args[0]))?;
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| {
            crate::harness_error!("{} did not finish within {} s", args[0], limit.as_secs())
        })?
        .map_err(HarnessError::from)?;
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat())
        .trim()
        .to_string();
    if out.status.success() {
        Ok(text)
    } else {
        Err(crate::harness_error!(
            "{} exited with {}: {text}",
            args[0],
            out.status
        ))
    }
}

/// The exit status of a profile command as a yes or no (0 is yes); a command that
/// cannot run says no.
pub async fn exits_zero(args: &[String], dir: Option<&Path>) -> bool {
    let Ok(mut cmd) = command(args, dir) else {
        return false;
    };
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    match cmd.status().await {
        Ok(s) => s.success(),
        Err(_) => false,
    }
}
