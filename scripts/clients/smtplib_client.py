#!/usr/bin/env python3
"""Send the smtpspec client-test message with Python's smtplib, as its documentation
shows: an EmailMessage read from the file, send_message(), quit(). Mode (argv[1]):
plain, tls-required (STARTTLS or fail, the certificate checked against the run's CA in
SMTPSPEC_CA, as the default context checks it against the system's), auth (login with
SMTPSPEC_USER / SMTPSPEC_PASSWORD) or auth-tls (both: STARTTLS, then login). Everything else comes from SMTPSPEC_* variables.
Exit 0 when the server took the message, 1 otherwise."""
import email
import email.policy
import os
import smtplib
import ssl
import sys

mode = sys.argv[1] if len(sys.argv) > 1 else "plain"
env = os.environ
with open(env["SMTPSPEC_MESSAGE"]) as f:
    msg = email.message_from_file(f, policy=email.policy.SMTP)
s = None
try:
    s = smtplib.SMTP(env["SMTPSPEC_HOST"], int(env["SMTPSPEC_PORT"]),
                     local_hostname=env["SMTPSPEC_HELO"], timeout=5)
    s.ehlo_or_helo_if_needed()
    if mode in ("tls-required", "auth-tls"):
        ctx = ssl.create_default_context(cafile=env.get("SMTPSPEC_CA"))
        s.starttls(context=ctx)
    if mode in ("auth", "auth-tls"):
        s.login(env["SMTPSPEC_USER"], env["SMTPSPEC_PASSWORD"])
    s.send_message(msg, from_addr=env["SMTPSPEC_FROM"], to_addrs=[env["SMTPSPEC_TO"]])
    s.quit()
    s = None
except Exception as e:  # report any failure in the exit status, as a CLI would
    print(f"smtplib: {type(e).__name__}: {e}", file=sys.stderr)
    if s is not None:
        try:
            s.quit()
        except Exception:
            pass
    sys.exit(1)
