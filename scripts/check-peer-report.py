#!/usr/bin/env python3
"""Check a JSON report of smtpspec against a real peer, for CI.

Usage: check-peer-report.py REPORT NAME [ID=VERDICT ...]

Fails (exit 1) when any case ended in `error` (a harness fault: a real peer must be
judged, never crash the run) or when a named case did not get the named verdict
(`ID=pass`, `ID=fail`, `ID=!skip` for "ran at all"). Prints the summary either way.
"""
import json
import sys

report = json.load(open(sys.argv[1]))
name = sys.argv[2]
cases = {c["id"]: c for c in report["cases"]}
print(f"{name}: {report['summary']}  target: {report['target']['banner']}")
problems = [f"error: {c['id']}: {c['reason']}" for c in report["cases"] if c["verdict"] == "error"]
for want in sys.argv[3:]:
    cid, verdict = want.split("=", 1)
    case = cases.get(cid)
    if case is None:
        problems.append(f"no case {cid} in the report")
    elif verdict.startswith("!"):
        if case["verdict"] == verdict[1:]:
            problems.append(f"{cid}: {case['verdict']} ({case['reason']})")
    elif case["verdict"] != verdict:
        problems.append(f"{cid}: {case['verdict']}, expected {verdict} ({case['reason']})")
for p in problems:
    print(f"  {name}: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
