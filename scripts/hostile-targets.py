#!/usr/bin/env python3
"""Hostile SMTP targets on loopback, for measuring what smtpspec costs against them.

Usage: hostile-targets.py MODE PORT [SECONDS]

The first connection behaves (220, 250 to EHLO), so target discovery works and every
case runs; every later connection gets MODE:
  silent     accept and say nothing
  endless    '220-' then an endless line (64 KiB writes, up to 1 GiB)
  multiline  '220-...' continuation lines without end
  drip       a valid greeting one octet every 50 ms, then silence
  reset      close at once
The server stops after SECONDS (default 60) so that it cannot outlive its caller.
"""
import socket
import sys
import threading
import time

MODE, PORT = sys.argv[1], int(sys.argv[2])
LIFETIME = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0


def behave(conn):
    conn.sendall(b"220 hostile.test ESMTP\r\n")
    f = conn.makefile("rb")
    for line in f:
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            conn.sendall(b"250-hostile.test\r\n250 PIPELINING\r\n")
        elif verb == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            break
        else:
            conn.sendall(b"250 ok\r\n")


def hostile(conn):
    if MODE == "silent":
        time.sleep(LIFETIME)
    elif MODE == "endless":
        conn.sendall(b"220-")
        chunk = b"x" * 65536
        for _ in range(16384):
            conn.sendall(chunk)
    elif MODE == "multiline":
        line = b"220-still greeting\r\n" * 1000
        for _ in range(100000):
            conn.sendall(line)
    elif MODE == "drip":
        for b in b"220 slow.test ESMTP\r\n":
            conn.sendall(bytes([b]))
            time.sleep(0.05)
        time.sleep(LIFETIME)
    elif MODE == "reset":
        pass


def serve(conn, first):
    try:
        (behave if first else hostile)(conn)
    except OSError:
        pass
    finally:
        conn.close()


def main():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", PORT))
    s.listen(128)
    threading.Timer(LIFETIME, lambda: __import__("os")._exit(0)).start()
    first = True
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, first), daemon=True).start()
        first = False


main()
