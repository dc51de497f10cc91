#!/usr/bin/env python3
"""Load test of `smtpspec serve --maildir`: many idle connections held open, then many
messages over many sessions, every acknowledged one checked in the Maildir.

  1. IDLE connections are opened and greeted with EHLO, and held; the server's resident
     memory is read then (per connection, from the figure before they opened).
  2. While they stay open, MESSAGES messages go over SESSIONS sessions, each message
     with a unique id; every 250 after the data is recorded.
  3. The Maildir must hold every acknowledged message exactly once and nothing that was
     not acknowledged (no kill here: everything sent must be acknowledged).

Usage: load-test.py BIN IDLE MESSAGES SESSIONS [SIZE]
Prints the figures (peak RSS, memory per idle connection, msgs/s); exit 1 on a loss,
a duplicate, a refused connection or a failed transaction. Traffic stays on 127.0.0.1.
"""

import asyncio
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time

from loopback import free_port

BIN, IDLE, MESSAGES, SESSIONS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
SIZE = int(sys.argv[5]) if len(sys.argv) > 5 else 1000


def status(pid, key):
    """A figure of /proc/PID/status in KiB (VmRSS, VmHWM)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


async def reply(reader):
    """Read one whole reply; its code."""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed")
        if line[3:4] != b"-":
            return int(line[:3])


async def expect(reader, code, what):
    got = await reply(reader)
    if got != code:
        raise RuntimeError(f"{what}: {got}, not {code}")


async def hold(port, held, errors):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
        await expect(r, 220, "greeting")
        w.write(b"EHLO idle.test\r\n")
        await expect(r, 250, "EHLO")
        held.append(w)
    except Exception as e:  # noqa: BLE001 - every failure is counted and shown
        errors.append(f"idle connection: {e}")


def body(mid):
    line = (mid + " ") * 10
    head = (f"From: load@client.test\r\nTo: sink@server.test\r\n"
            f"Message-ID: <{mid}@load.test>\r\nSubject: {mid}\r\n\r\n")
    out = head
    while len(out) < SIZE:
        out += line[:72] + "\r\n"
    return out.encode() + b".\r\n"


async def sender(port, name, count, acked, errors):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
        await expect(r, 220, "greeting")
        w.write(b"EHLO load.test\r\n")
        await expect(r, 250, "EHLO")
        for n in range(count):
            mid = f"{name}x{n}"
            w.write(b"MAIL FROM:<load@client.test>\r\n")
            await expect(r, 250, "MAIL")
            w.write(b"RCPT TO:<sink@server.test>\r\n")
            await expect(r, 250, "RCPT")
            w.write(b"DATA\r\n")
            await expect(r, 354, "DATA")
            w.write(body(mid))
            await expect(r, 250, "end of data")
            acked.add(mid)
        w.write(b"QUIT\r\n")
        await reply(r)
        w.close()
    except Exception as e:  # noqa: BLE001
        errors.append(f"session {name}: {e}")


async def run(port, pid):
    errors, held, acked = [], [], set()
    base = status(pid, "VmRSS")
    t0 = time.time()
    # Open in waves, so the listen backlog is not the thing measured.
    for start in range(0, IDLE, 500):
        await asyncio.gather(*(hold(port, held, errors)
                               for _ in range(start, min(IDLE, start + 500))))
    opened = time.time() - t0
    await asyncio.sleep(0.5)
    idle_rss = status(pid, "VmRSS")
    per = (idle_rss - base) / max(len(held), 1)
    print(f"idle: {len(held)} of {IDLE} connections held after EHLO in {opened:.1f} s; "
          f"server RSS {base / 1024:.1f} MiB before, {idle_rss / 1024:.1f} MiB with them "
          f"({per:.2f} KiB each)")
    per_session = [MESSAGES // SESSIONS + (1 if i < MESSAGES % SESSIONS else 0)
                   for i in range(SESSIONS)]
    t0 = time.time()
    await asyncio.gather(*(sender(port, f"s{i}", n, acked, errors)
                           for i, n in enumerate(per_session)))
    took = time.time() - t0
    print(f"messages: {len(acked)} of {MESSAGES} acknowledged over {SESSIONS} sessions in "
          f"{took:.1f} s ({len(acked) / took:.0f} msgs/s), {len(held)} idle connections open")
    for w in held:
        w.close()
    return errors, acked, idle_rss, len(held)


def main():
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    work = tempfile.mkdtemp(prefix="smtpspec-load-")
    maildir = os.path.join(work, "Maildir")
    port = free_port()
    log = open(os.path.join(work, "serve.log"), "w+")
    proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--maildir",
                             maildir, "--hostname", "load.test"], stdout=log, stderr=log)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    log.seek(0)
    print(log.readline().strip())
    errors, acked, idle_rss, held = asyncio.run(run(port, proc.pid))
    peak = status(proc.pid, "VmHWM")
    proc.terminate()
    proc.wait(timeout=60)
    log.seek(0)
    print(log.read().strip().splitlines()[-1])
    # The store, against the acknowledgements.
    seen, damaged = {}, []
    for f in os.listdir(os.path.join(maildir, "new")):
        octets = open(os.path.join(maildir, "new", f), "rb").read()
        m = re.search(rb"Message-ID: <([^@>]+)@load\.test>", octets)
        mid = m.group(1).decode() if m else f"(no id: {f})"
        seen[mid] = seen.get(mid, 0) + 1
        # Byte for byte: the Return-Path line, then (after the Received line) exactly
        # the content sent, without the end-of-data line.
        if not (m and octets.startswith(b"Return-Path: <load@client.test>\r\n")
                and octets.endswith(body(mid)[:-3])):
            damaged.append(f)
    left_in_tmp = len(os.listdir(os.path.join(maildir, "tmp")))
    missing = acked - set(seen)
    twice = [m for m, k in seen.items() if k > 1]
    unacked = set(seen) - acked
    print(f"store: {len(seen)} distinct messages in new/; missing {len(missing)}, "
          f"twice {len(twice)}, unacknowledged {len(unacked)}, not as sent {len(damaged)}, "
          f"left in tmp/ {left_in_tmp}; peak RSS {peak / 1024:.1f} MiB")
    for e in errors[:10]:
        print(f"  error: {e}")
    ok = (not (missing or twice or unacked or errors or damaged or left_in_tmp)
          and held == IDLE and len(acked) == MESSAGES)
    print(f"load-test: {'passed' if ok else 'FAILED'}"
          + ("" if ok else f" ({len(errors)} error(s))"))
    print(f"figures: idle_connections={held} idle_rss_mib={idle_rss / 1024:.1f} "
          f"peak_rss_mib={peak / 1024:.1f} messages={len(acked)}")
    if ok:
        subprocess.run(["rm", "-rf", work], check=False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
