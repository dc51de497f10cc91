#!/usr/bin/env python3
"""aiosmtpd as a real peer for smtpspec: an SMTP server as a Python project ships it.

Usage: aiosmtpd_peer.py --listen 127.0.0.1:25257 --dir DIR [--profile FILE]

scenarios/targets/aiosmtpd.yaml launches it for `smtpspec run --target`; with
--profile it also writes a target profile for a server started by hand.

Configured the way an operator would run it for a domain, and nothing more:
- domain aiosmtpd.peers.test; alice@ and postmaster@ exist, other recipients get 550
  (the one policy decision, so that the catalogue's unknown-recipient cases apply);
- STARTTLS with a self-signed certificate (made with openssl on first start);
- AUTH after TLS (aiosmtpd's default) for user alice / password wonderland;
- SMTPUTF8 on; aiosmtpd's default SIZE (32 MiB);
- every accepted message stored as aiosmtpd hands it over (after unstuffing, CRLF
  kept, nothing added: aiosmtpd's stock handlers add no trace fields either) in
  DIR/Maildir, tmp/ then new/, so that expect_stored can look.
"""
import argparse
import os
import signal
import ssl
import subprocess
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

DOMAIN = "aiosmtpd.peers.test"
USERS = {"alice": "wonderland"}
KNOWN = {f"alice@{DOMAIN}", f"postmaster@{DOMAIN}", "postmaster"}


class MaildirHandler:
    def __init__(self, maildir):
        self.maildir = maildir
        self.count = 0
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() not in KNOWN:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = f"{time.time_ns()}.{os.getpid()}_{self.count}.aiosmtpd"
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or b"")
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.maildir, "new", name))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and USERS.get(auth_data.login.decode(errors="replace"))
        == auth_data.password.decode(errors="replace")
    )
    return AuthResult(success=ok, handled=False)


def certificate(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    if not os.path.exists(cert):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
             "-subj", f"/CN={DOMAIN}", "-keyout", key, "-out", cert],
            check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:25257")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--profile", help="where to write the target profile")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    os.makedirs(args.dir, exist_ok=True)
    maildir = os.path.abspath(os.path.join(args.dir, "Maildir"))
    if args.profile:
        with open(args.profile, "w") as f:
            f.write(
                f"address: {args.listen}\ndomain: {DOMAIN}\nrcpt: alice@{DOMAIN}\n"
                f"bad_rcpt: nosuchuser@{DOMAIN}\nuser: alice\npassword: wonderland\n"
                f"maildir: {maildir}\n"
                "policy:\n  auth_requires_tls: true\n"
                "  foreign_domains: [relay-test.invalid]\n")
    controller = Controller(
        MaildirHandler(maildir), hostname=host, port=int(port),
        server_hostname=DOMAIN, ident="aiosmtpd (smtpspec peer)",
        tls_context=certificate(args.dir), enable_SMTPUTF8=True,
        authenticator=authenticator, auth_require_tls=True)
    controller.start()
    print(f"aiosmtpd listening on {args.listen}, Maildir {maildir}", flush=True)
    # Blocked in __main__ before any thread started: wait here for Ctrl-C or SIGTERM.
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    controller.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
