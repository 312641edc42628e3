"""Write the README's table of settings from ``codestral_lsp/settings.py``, where each is declared.

    python scripts/settings_table.py

Replaces what stands between the two marker comments in README.md; tests/unit/test_settings.py
fails while the README and the code disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codestral_lsp.settings import markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- settings table: made by scripts/settings_table.py from codestral_lsp/settings.py -->"
END = "<!-- end of settings table -->"


def with_table(readme: str) -> str:
    """``readme`` with the current table between the markers."""
    head, begin, rest = readme.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise SystemExit(f"README.md lacks the markers {BEGIN} ... {END}")
    return f"{head}{BEGIN}\n{markdown_table()}\n{END}{tail}"


if __name__ == "__main__":
    README.write_text(with_table(README.read_text(encoding="utf-8")), encoding="utf-8")
