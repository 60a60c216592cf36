"""`bakery rules [--json]`: every validation rule, the source of docs/rules.md."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from bakery.commands import print_json
from bakery.config.rule_codes import FAMILIES, RULES


def rules_markdown() -> str:
    """Write the rule table as the Markdown of docs/rules.md."""
    lines = [
        "# Validation rules",
        "",
        "<!-- Generated from bakery/config/rule_codes.py by `bakery rules` (`make rules`); "
        "do not edit. -->",
        "",
        "Every finding of `bakery validate` (and of every command that reads the recipes) is",
        "reported as `FILE:LINE:COLUMN: CODE KEY.PATH: message`. A code starting with `E` is an",
        "error: validation fails (exit 1) and nothing is built. A code starting with `W` is a",
        "warning: `validate` prints it, and no command stops for it (exit 0 when there is no",
        "error).",
        "",
        "A project can switch a warning off in `bakery.yaml`, with the reason it does not apply:",
        "",
        "```yaml",
        "rules:",
        "  ignore:",
        "    - code: W2001",
        '      reason: "we list every region on purpose, the build region too"',
        "```",
        "",
        "Errors cannot be ignored; an unknown code, an error code or a code listed twice is an",
        "error itself (E3001 to E3003).",
    ]
    for digit, family in FAMILIES.items():
        rules = [rule for rule in RULES if rule.code[1] == digit]
        lines += ["", f"## {family}", "", "| code | severity | rule | what it means, what to do |"]
        lines.append("|---|---|---|---|")
        for rule in rules:
            description = rule.description.replace("|", "\\|")
            lines.append(f"| {rule.code} | {rule.severity} | {rule.title} | {description} |")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.json:
        print_json([{**asdict(rule), "family": rule.family} for rule in RULES])
    else:
        print(rules_markdown(), end="")
    return 0
