"""The README's path for a newcomer: what it tells them to run works, or says what is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_fake_codestral_without_aiohttp_says_what_to_install() -> None:
    """After a plain `pip install .` there is no aiohttp; `-S` leaves out site-packages."""
    done = subprocess.run(
        [sys.executable, "-S", str(REPO / "tests" / "fake_codestral.py"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "No module named 'aiohttp'" in done.stderr
    assert "pip install '.[test]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_readme_says_how_to_get_the_fake_running() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "python tests/fake_codestral.py" in readme
    assert "pip install '.[test]'" in readme
