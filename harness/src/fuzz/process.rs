//! The target's processes as Linux shows them in `/proc`: whether the one started
//! (or named by a pid file) still runs, how it ended, and what it and its children
//! hold (resident memory, open descriptors). A forking server (Postfix's master and
//! its smtpd children) is one group, so the figures are the group's sums; a server
//! started in the background of a script is in the script's group, so the
//! processes counted are the leader's group when it leads one, and always the
//! leader and its descendants (a group that was the script's would count the
//! script, and the fuzzer when the script started it too).

use std::path::Path;

use crate::outcome::HarnessError;

/// The target's processes, named by their leader: its group when it leads one, and
/// its descendants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// The leader's pid (and the group's id).
    pub leader: i32,
}

/// Whether the leader runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Life {
    /// It runs.
    Running,
    /// It ended and its parent has not reaped it yet: how, in words.
    Exited(String),
    /// No such process any more (reaped, or a pid file's process that ended).
    Gone,
}

/// What a group holds at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Resident memory, KiB, summed over the group.
    pub rss_kib: u64,
    /// Open file descriptors, summed over the group.
    pub fds: u64,
    /// Processes in the group.
    pub processes: u64,
}

impl Group {
    /// The group a pid file names (its first number).
    pub fn from_pid_file(path: &Path) -> Result<Self, HarnessError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| crate::harness_error!("{}: {e}", path.display()))?;
        let leader = text
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| crate::harness_error!("{}: no process id in it", path.display()))?;
        Ok(Self { leader })
    }

    /// Whether the leader runs, and how it ended if not.
    pub fn life(&self) -> Life {
        match stat(self.leader) {
            None => Life::Gone,
            Some(s) if s.state == 'Z' || s.state == 'X' => Life::Exited(wait_status(s.exit_code)),
            Some(_) => Life::Running,
        }
    }

    /// The memory and descriptors of the group and the leader's descendants now;
    /// `None` when no process of them is left.
    pub fn usage(&self) -> Option<Usage> {
        let entries = std::fs::read_dir("/proc").ok()?;
        let all: Vec<(i32, Stat)> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .filter_map(|pid| stat(pid).map(|s| (pid, s)))
            .collect();
        let mut ours: std::collections::HashSet<i32> = all
            .iter()
            .filter(|(pid, s)| *pid == self.leader || s.pgrp == self.leader)
            .map(|(pid, _)| *pid)
            .collect();
        // Descendants: a child's parent is counted, until nothing more is added (a
        // few rounds: a process tree is shallow).
        loop {
            let before = ours.len();
            for (pid, s) in &all {
                if ours.contains(&s.ppid) {
                    ours.insert(*pid);
                }
            }
            if ours.len() == before {
                break;
            }
        }
        let mut out = Usage::default();
        for (pid, s) in all
            .iter()
            .filter(|(pid, s)| ours.contains(pid) && s.state != 'Z')
        {
            out.processes += 1;
            out.rss_kib += s.rss_pages * page_kib();
            out.fds += std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
        }
        (out.processes > 0).then_some(out)
    }
}

/// The fields of `/proc/PID/stat` used here.
struct Stat {
    state: char,
    ppid: i32,
    pgrp: i32,
    rss_pages: u64,
    exit_code: i32,
}

/// `/proc/PID/stat`, read past the command name (which may hold spaces and
/// parentheses: the fields start after the last `)`).
fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // Field 3 is the first after the name: state, then ppid (4), pgrp (5), …,
    // rss (24), …, exit_code (52, Linux 3.5 and later).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied();
    Some(Stat {
        state: field(3)?.chars().next()?,
        ppid: field(4)?.parse().ok()?,
        pgrp: field(5)?.parse().ok()?,
        rss_pages: field(24)?.parse().ok()?,
        exit_code: field(52).and_then(|f| f.parse().ok()).unwrap_or(0),
    })
}

/// A `waitpid` status in words: the signal that killed it, or its exit code.
fn wait_status(code: i32) -> String {
    let signal = code & 0x7f;
    if signal == 0 {
        return format!("exit code {}", (code >> 8) & 0xff);
    }
    let name = nix::sys::signal::Signal::try_from(signal).map_or("unknown", |s| s.as_str());
    let core = if code & 0x80 != 0 {
        ", core dumped"
    } else {
        ""
    };
    format!("killed by signal {signal} ({name}{core})")
}

fn page_kib() -> u64 {
    static KIB: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *KIB.get_or_init(|| {
        use nix::unistd::{SysconfVar, sysconf};
        // The kernel's page size (4 KiB on x86-64, 16 or 64 KiB on some aarch64).
        sysconf(SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .and_then(|b| u64::try_from(b).ok())
            .map_or(4, |b| (b / 1024).max(1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_name() {
        let line = "42 (a (weird) name) Z 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    100 1000 250 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 \
                    0 0 0 0 0 0 0 0 139";
        let s = parse_stat(line).expect("parses");
        assert_eq!(s.state, 'Z');
        assert_eq!((s.ppid, s.pgrp), (1, 42));
        assert_eq!(s.rss_pages, 250);
        assert_eq!(s.exit_code, 139);
        assert_eq!(
            wait_status(139),
            "killed by signal 11 (SIGSEGV, core dumped)"
        );
        assert_eq!(wait_status(3 << 8), "exit code 3");
    }

    #[test]
    fn a_process_that_leads_no_group_is_seen_with_its_children() {
        // A child started here is in this test's group, and leads none.
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        // Between fork and exec the child has no memory of its own yet, and just after
        // the exec its name is `sleep` a moment before its pages are (its resident size
        // read 0 twice): measure the `sleep` it becomes, once it has memory.
        let mut u = None;
        for _ in 0..200 {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            u = Group { leader: pid }.usage();
            if comm.trim() == "sleep" && u.as_ref().is_some_and(|u| u.rss_kib > 0) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        let u = u.expect("the child is seen");
        assert_eq!(u.processes, 1, "{u:?}");
        assert!(u.rss_kib > 0, "{u:?}");
        // This process is its parent, not its child: not counted with it.
        let me = Group {
            leader: std::process::id() as i32,
        };
        assert!(me.usage().expect("own").processes >= 1);
    }

    #[test]
    fn this_process_is_seen() {
        let me = std::process::id() as i32;
        let pgrp = stat(me).expect("own stat").pgrp;
        let g = Group { leader: pgrp };
        let u = g.usage().expect("own group");
        assert!(u.rss_kib > 0 && u.fds > 0 && u.processes >= 1, "{u:?}");
        assert_eq!(
            Group { leader: me }.life(),
            Life::Running,
            "a process that runs is running"
        );
    }
}
