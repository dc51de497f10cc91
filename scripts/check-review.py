#!/usr/bin/env python3
"""Check that reports/REVIEW.md accounts for every fail and warn in the committed reports.

Usage: check-review.py [REPORTS_DIR]      (default: reports)

Every `fail` or `warn` verdict of a committed report (reports/*.json, reports/clients/,
reports/senders/) must appear in REVIEW.md under a `## <case id>` heading, as a table row
`| <report> | <verdict> | <evidence> |` (report as its path under reports/ without
`.json`: `exim`, `clients/swaks`, `senders/postfix`), and each section must quote the
RFC sentence it rests on (a line starting with `> `). A row whose verdict is no longer
in the report is stale and fails too: a refreshed report is reviewed again.
"""
import glob
import json
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "reports"
want = set()
for path in sorted(glob.glob(f"{root}/**/*.json", recursive=True)):
    if os.path.basename(path) == "schema.json":
        continue
    name = os.path.relpath(path, root)[: -len(".json")]
    for case in json.load(open(path))["cases"]:
        if case["verdict"] in ("fail", "warn"):
            want.add((case["id"], name, case["verdict"]))

have, quoted, problems = set(), set(), []
section = None
review = os.path.join(root, "REVIEW.md")
for n, line in enumerate(open(review), 1):
    heading = re.match(r"^## (\S+/\S+)\s*$", line)
    if heading:
        section = heading.group(1)
        continue
    if section and line.startswith("> "):
        quoted.add(section)
    row = re.match(r"^\|\s*([\w./-]+)\s*\|\s*(fail|warn)\s*\|", line)
    if row:
        if section is None:
            problems.append(f"{review}:{n}: a verdict row outside any `## <case id>` section")
        else:
            have.add((section, row.group(1), row.group(2)))

for cid, name, verdict in sorted(want - have):
    problems.append(f"not reviewed: {cid} is {verdict} in {name}")
for cid, name, verdict in sorted(have - want):
    problems.append(f"stale: REVIEW.md says {cid} is {verdict} in {name}; the report does not")
for cid in sorted({c for c, _, _ in have} - quoted):
    problems.append(f"{cid}: no RFC sentence quoted (a `> ` line)")
for p in problems:
    print(f"check-review: {p}", file=sys.stderr)
print(f"check-review: {len(want)} fail/warn verdicts, {len(want & have)} reviewed")
sys.exit(1 if problems else 0)
