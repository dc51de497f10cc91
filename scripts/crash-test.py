#!/usr/bin/env python3
"""Kill the reference server with SIGKILL while clients deliver to its Maildir, several
times, and check after each restart that nothing acknowledged was lost.

RFC 5321 §6.1: once the server has sent 250 at the end of the data, the message is its
responsibility. So after every kill and restart:
  - every message whose 250 a client read is in new/ exactly once, byte for byte;
  - no file in new/ is partial or unknown (a message whose 250 was lost in the kill may
    be there too: it was durable before the 250 was written, which is allowed);
  - tmp/ is empty again, and the startup line counted what the kill left there.

Usage: crash-test.py BIN [KILLS] [SESSIONS] [SEED]
Traffic stays on 127.0.0.1. Prints one line per kill and a summary; exit 1 on a loss.
CRASH_TEST_STORE=discard runs the server with a store that keeps nothing: the check
must then fail (CI runs it so, to show that it can). CRASH_TEST_SYNC=file-system runs
the Maildir with one syncfs per round instead of an fdatasync per file.
"""

import os
import random
import re
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

from loopback import free_port

BIN = sys.argv[1]
KILLS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
SESSIONS = int(sys.argv[3]) if len(sys.argv) > 3 else 8
SEED = int(sys.argv[4]) if len(sys.argv) > 4 else int(time.time())
STORE = os.environ.get("CRASH_TEST_STORE", "maildir")
SYNC = os.environ.get("CRASH_TEST_SYNC", "files")
rng = random.Random(SEED)


def message(mid, size):
    """A message whose octets arrive unchanged: CRLF lines, none starting with a dot."""
    body_line = (mid * 8)[:70]
    lines = [
        "From: crash@client.test",
        "To: sink@server.test",
        f"Message-ID: <{mid}@crash.test>",
        f"Subject: crash test {mid}",
        "",
    ]
    while sum(len(x) + 2 for x in lines) < size:
        lines.append(body_line)
    return ("\r\n".join(lines) + "\r\n").encode()


class Server:
    def __init__(self, maildir):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--maildir", maildir,
             "--store", STORE, "--maildir-sync", SYNC, "--hostname", "crash.test"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
        sys.exit(f"crash-test: the server did not listen: {self.output()}")

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def client(port, name, sent, acked, stop):
    """Deliver messages over one session (a new one after an error) until `stop`."""
    n = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
                s.ehlo("client.test")
                while not stop.is_set():
                    n += 1
                    mid = f"{name}x{n}"
                    data = message(mid, rng.choice([300, 1000, 5000, 40000]))
                    sent[mid] = data
                    s.sendmail("crash@client.test", ["sink@server.test"], data)
                    acked.append(mid)  # the 250 after the data was read
        except (OSError, smtplib.SMTPException):
            time.sleep(0.01)


def check(maildir, sent, acked):
    """What new/ holds against what was sent and acknowledged."""
    found, partial, unknown = {}, [], []
    new = os.path.join(maildir, "new")
    for f in os.listdir(new):
        octets = open(os.path.join(new, f), "rb").read()
        m = re.search(rb"Message-ID: <([^@>]+)@crash\.test>", octets)
        mid = m.group(1).decode() if m else None
        if mid is None or mid not in sent:
            unknown.append(f)
            continue
        if not (octets.startswith(b"Return-Path: <crash@client.test>\r\n")
                and octets.endswith(sent[mid])):
            partial.append(f)
        found[mid] = found.get(mid, 0) + 1
    lost = [m for m in acked if found.get(m, 0) == 0]
    twice = [m for m, k in found.items() if k > 1]
    unacked_present = len(set(found) - set(acked))
    return found, lost, twice, partial, unknown, unacked_present


def main():
    work = tempfile.mkdtemp(prefix="smtpspec-crash-")
    maildir = os.path.join(work, "Maildir")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(maildir, sub))
    sent, acked = {}, []
    failures = 0
    print(f"crash-test: {KILLS} kills, {SESSIONS} sessions, seed {SEED}, Maildir {maildir}")
    server = Server(maildir)
    for k in range(1, KILLS + 1):
        stop = threading.Event()
        threads = [threading.Thread(target=client,
                                    args=(server.port, f"k{k}s{i}", sent, acked, stop))
                   for i in range(SESSIONS)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 2.5))
        server.kill()
        stop.set()
        for t in threads:
            t.join()
        left = len(os.listdir(os.path.join(maildir, "tmp")))
        server = Server(maildir)
        line = server.output().splitlines()[0]
        m = re.search(r"\((\d+) unfinished file\(s\) left in tmp/", line)
        removed = int(m.group(1)) if m else (0 if STORE == "discard" else -1)
        tmp_now = len(os.listdir(os.path.join(maildir, "tmp")))
        found, lost, twice, partial, unknown, extra = check(maildir, sent, acked)
        bad = lost or twice or partial or unknown or removed != left or tmp_now
        failures += bool(bad)
        print(f"kill {k}: {len(acked)} acknowledged, {len(found)} in new/ "
              f"({extra} stored without their 250 read), {left} left in tmp/ and "
              f"{removed} removed at restart; lost {len(lost)}, twice {len(twice)}, "
              f"partial {len(partial)}, unknown {len(unknown)}"
              + ("" if not bad else "  <-- FAILED"))
        for what, items in (("lost", lost), ("twice", twice), ("partial", partial),
                            ("unknown", unknown)):
            for i in items[:5]:
                print(f"  {what}: {i}")
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=40)
    if not acked:
        print("crash-test: no message was acknowledged: nothing was tested")
        return 1
    print(f"crash-test: {'FAILED' if failures else 'passed'}: {len(acked)} acknowledged "
          f"messages over {KILLS} kills, {failures} kill(s) with a loss")
    if not failures:
        subprocess.run(["rm", "-rf", work], check=False)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
