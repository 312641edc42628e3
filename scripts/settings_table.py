"""Write what is derived from the code into the files that show it, from where it is declared.

    python scripts/settings_table.py

The README's table of settings (from ``codestral_lsp/settings.py``), and the VS Code extension's
provider choices and key variables (from the provider table, ``codestral_lsp/backends``).
Replaces what stands between marker comments; tests/unit/test_settings.py and
tests/e2e/test_editor_configs.py fail while a file and the code disagree.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codestral_lsp.backends import PROVIDERS
from codestral_lsp.settings import markdown_table

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN = "<!-- settings table: made by scripts/settings_table.py from codestral_lsp/settings.py -->"
END = "<!-- end of settings table -->"
VSCODE = ROOT / "editors" / "vscode"
KEYS_BEGIN = "// key variables: made by scripts/settings_table.py from the provider table"
KEYS_END = "// end of key variables"


def between(text: str, begin: str, end: str, inner: str) -> str:
    """``text`` with ``inner`` between the lines ``begin`` and ``end``."""
    head, found_begin, rest = text.partition(begin)
    _, found_end, tail = rest.partition(end)
    if not found_begin or not found_end:
        raise SystemExit(f"missing markers {begin} ... {end}")
    return f"{head}{begin}\n{inner}\n{end}{tail}"


def with_table(readme: str) -> str:
    """``readme`` with the current table between the markers."""
    return between(readme, BEGIN, END, markdown_table())


def key_variables() -> str:
    """extension.ts's map: each provider that takes a key, and the variable it reads."""
    rows = [f"  {p.name}: '{p.key_env}'," for p in PROVIDERS.values() if p.key_env]
    return "\n".join(["const KEY_VARIABLES: Record<string, string> = {", *rows, "};"])


def with_providers(manifest: str) -> str:
    """package.json with the provider setting's choices from the table."""
    data = json.loads(manifest)
    data["contributes"]["configuration"]["properties"]["codestral.provider"]["enum"] = list(
        PROVIDERS
    )
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def rewrite(path: Path, change: Callable[[str], str]) -> None:
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    rewrite(README, with_table)
    rewrite(VSCODE / "package.json", with_providers)
    rewrite(
        VSCODE / "src" / "extension.ts",
        lambda text: between(text, KEYS_BEGIN, KEYS_END, key_variables()),
    )
