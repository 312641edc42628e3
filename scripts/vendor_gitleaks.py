"""Regenerate ``codestral_lsp/secret_rules.py`` from gitleaks' default rule set.

    python scripts/vendor_gitleaks.py path/to/gitleaks/config/gitleaks.toml COMMIT

gitleaks (https://github.com/gitleaks/gitleaks, MIT) keeps the best-maintained list of provider
token formats. Its regexes are written for Go's RE2; this script turns them into Python ``re``
syntax (scoped ``(?i)``, ``\\z``, POSIX classes, nested-set escapes), drops the rules this
project replaces with its own (generic key/value, curl, private keys, multi-line Kubernetes
secrets), and writes the rest as data. Each kept regex must compile with Python's ``re``.
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

import tomllib

# Rules that codestral_lsp.redaction covers in its own way (and why):
SKIP = {
    "generic-api-key": "names and values: redaction's key/value rules (no entropy floor)",
    "private-key": "multi-line: redaction's per-document private-key index",
    "kubernetes-secret-yaml": "multi-line",
    "curl-auth-header": "unbounded backtracking in Python's re: redaction's header rule",
    "curl-auth-user": "unbounded backtracking in Python's re: redaction's curl rule",
    "pkcs12-file": "a path rule, no regex",
}

LICENSE = """\
Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE."""

OUT = Path(__file__).resolve().parent.parent / "codestral_lsp" / "secret_rules.py"


def _close_of(pattern: str, start: int) -> int:
    """Index of the ")" closing the group that encloses ``start``, or len(pattern)."""
    depth, i, in_class = 0, start, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return len(pattern)


def _scope_flags(pattern: str) -> str:
    """Go's mid-pattern ``(?i)`` runs to the end of its group: Python wants ``(?i:...)``."""
    while True:
        at = pattern.find("(?i)", 1)
        if at < 0:
            return pattern
        end = _close_of(pattern, at + 4)
        pattern = pattern[:at] + "(?i:" + pattern[at + 4 : end] + ")" + pattern[end:]


def _escape_in_classes(pattern: str) -> str:
    """Escape what Python reads as a possible nested set inside ``[...]``."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "]" and out[-1] != "[":
                in_class = False
            elif c == "[" or (c in "-&~|" and pattern[i + 1 : i + 2] == c):
                out.append("\\" + c)
                i += 1
                continue
        elif c == "[":
            in_class = True
            out.append(c)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def to_python(pattern: str) -> str:
    pattern = pattern.replace("[[:alnum:]]", "[A-Za-z0-9]").replace("\\z", "\\Z")
    pattern = _scope_flags(pattern)
    if pattern.startswith("(?i)") and "(?i)" in pattern[4:]:
        pattern = "(?i)" + pattern[4:].replace("(?i)", "")
    return _escape_in_classes(pattern)


def main(source: str, commit: str) -> None:
    config = tomllib.loads(Path(source).read_text(encoding="utf-8"))
    rows = []
    for rule in config["rules"]:
        if rule["id"] in SKIP or "regex" not in rule:
            continue
        pattern = to_python(rule["regex"])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            re.compile(pattern)
        keywords = tuple(k.lower() for k in rule.get("keywords", ()))
        rows.append((rule["id"], pattern, keywords, int(rule.get("secretGroup", 0))))
    lines = [
        '"""Provider token formats, vendored as data from gitleaks\' default rule set (generated).',
        "",
        "Source: https://github.com/gitleaks/gitleaks, config/gitleaks.toml at commit",
        f"{commit},",
        "by scripts/vendor_gitleaks.py (do not edit by hand: rerun it).",
        "",
        "gitleaks is MIT licensed, Copyright (c) 2019 Zachary Rice:",
        "",
        *(f"    {line}" if line else "" for line in LICENSE.splitlines()),
        "",
        "Each row: (rule id, Python regex, lower-case keywords one of which the text must contain,",
        "the capture group holding the secret (0: the first group that matched, else the match)).",
        '"""',
        "",
        "RULES: tuple[tuple[str, str, tuple[str, ...], int], ...] = (",
    ]
    for rule_id, pattern, keywords, group in rows:
        lines.append(f"    ({rule_id!r}, {pattern!r}, {keywords!r}, {group}),")
    lines.append(")")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(rows)} rules written to {OUT}")  # noqa: T201 - a script's report


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
