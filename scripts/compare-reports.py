#!/usr/bin/env python3
"""Compare the verdicts of a fresh report with the committed one, for CI.

Usage: compare-reports.py COMMITTED.json NEW.json

Exit 1 when any case changed verdict, or appeared or disappeared: a verdict change
must be seen and accepted, not slip through. Accept a change by refreshing the
committed reports: scripts/refresh-reports.sh (needs the peers: scripts/peers/install.sh).
"""
import json
import sys

old = json.load(open(sys.argv[1]))
new = json.load(open(sys.argv[2]))
before = {c["id"]: c["verdict"] for c in old["cases"]}
after = {c["id"]: c["verdict"] for c in new["cases"]}
changes = []
for cid in sorted(set(before) | set(after)):
    b, a = before.get(cid, "absent"), after.get(cid, "absent")
    if b != a:
        reason = next((c["reason"] for c in new["cases"] if c["id"] == cid), "")
        changes.append(f"  {cid}: {b} -> {a}  {reason}")
name = sys.argv[1]
if changes:
    print(f"{name}: {len(changes)} verdict(s) changed:", file=sys.stderr)
    print("\n".join(changes), file=sys.stderr)
    print("accept with scripts/refresh-reports.sh and commit reports/", file=sys.stderr)
    sys.exit(1)
print(f"{name}: {len(after)} verdicts as committed")
