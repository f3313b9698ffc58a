"""Generate ``docs/rule-coverage.md`` from the rule table, so the table cannot drift from the code.

``python -m restorekit.rules.coverage`` prints it; ``--write`` rewrites docs/rule-coverage.md. A test compares.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from restorekit.rules import CHECKS, RULES

#: Where ``--write`` puts the table: the checkout's docs folder, from the checkout (an installed package has none).
DOC = Path("docs") / "rule-coverage.md"
MEANING = {
    "implemented": "decided offline from the recovery point's JSON, the request flags, `facts` and the disk images",
    "needs-live-data": "decided only by the state of Azure (or of the receiving machine) at restore time: the plan "
                       "gives an `unknown` finding naming the command to run, and decides once the answer is recorded "
                       "in `facts`",
    "not-applicable": "no offline input exists; the rule is in the table for reference and never evaluated",
}


def render() -> str:
    """The Markdown table."""
    counts = Counter(r.coverage for r in RULES)
    spec = [r for r in RULES if r.id.startswith("R")]
    spec_counts = Counter(r.coverage for r in spec)
    lines = [
        "# Rule coverage",
        "",
        "Generated from `restore/rules/` by `python -m restorekit.rules.coverage --write`; "
        "`tests/restore/test_rule_coverage.py` fails when this file and the rule data differ.",
        "",
        f"Rules of `spec/restore-rules.md`: {len(spec)} — " + ", ".join(
            f"{spec_counts[k]} {k}" for k in MEANING) + ".",
        f"With restorekit's own metadata-vs-disk checks (C01–C05): {len(RULES)} rules — " + ", ".join(
            f"{counts[k]} {k}" for k in MEANING) + ".",
        "",
        *[f"- **{k}**: {v}." for k, v in MEANING.items()],
        "",
        "| Rule | Options | Modifier | Severity | Coverage | Condition | Source |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in RULES:
        severity = r.severity + ("*" if r.disputed else "")
        lines.append(f"| {r.id} | {', '.join(r.options)} | {r.modifier or ''} | {severity} | {r.coverage} | "
                     f"{r.when.replace('|', '/')} | {r.source} |")
    lines += ["", "`*` = documents disagree across versions; implemented as `warn` and the message says so.", ""]
    return "\n".join(lines + _checks())


def _checks() -> list[str]:
    """The pre-checks no rule id covers: their findings carry ``"rule": null`` and ``"check": NAME``."""
    lines = [
        "## Checks without a rule id",
        "",
        f"{len(CHECKS)} replace-disks pre-checks compare the recovery point with the VM as it is now (`--target-vm`, "
        "the output of `az vm show -d`). No row of `spec/restore-rules.md` covers them, so a finding carries "
        '`"rule": null` and the check\'s name as `"check"`; the text view prints the name where a rule id would be.',
        "",
        "| Check | Options | Severity | Condition | Source |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {c.id} | {', '.join(c.options)} | {c.severity} | {c.when} | {c.source} |" for c in CHECKS]
    return [*lines, ""]


def main(argv: list[str]) -> int:
    """Print the table, or write it with ``--write``."""
    text = render()
    if "--write" in argv:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(text, "utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
