"""Real editor: Emacs 28 with Debian's lsp-mode 8, eglot 1.9 and company, as a new user sets it up.

Each test runs `emacs --batch -Q` with `tests/e2e/emacs/drive.el`, which loads the shipped
editors/emacs/ file, opens a Python file, lets the real server (`python -m codestral_lsp`) start
through lsp-mode or eglot against the fake Codestral, completes at the end of the buffer with
`completion-at-point` (C-M-i) or company, and prints the buffer. The fake runs in the test's
event loop while Emacs runs as a subprocess. Every wait in drive.el polls with a deadline.
`.ci/run` installs the Debian packages (emacs-nox elpa-lsp-mode elpa-eglot elpa-company).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fake_codestral import FakeCodestral

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("emacs") / "drive.el"
EMACS = shutil.which("emacs")
ELPA = Path("/usr/share/emacs/site-lisp/elpa")
PACKAGES = {"lsp-mode": "elpa-lsp-mode", "eglot": "elpa-eglot", "company": "elpa-company"}


def _missing(*packages: str) -> list[str]:
    if EMACS is None:
        return ["emacs-nox", *(PACKAGES[p] for p in packages)]
    installed = {path.name.rsplit("-", 1)[0] for path in ELPA.glob("*-*")}
    return [PACKAGES[p] for p in packages if p not in installed]


pytestmark = [pytest.mark.editor, pytest.mark.timeout(60)]


def answer_after(prompt_end: str, answer: str) -> Callable[[dict[str, Any]], str]:
    """The model: `answer` when the prompt ends with `prompt_end`, nothing anywhere else."""
    return lambda body: answer if body["prompt"].endswith(prompt_end) else ""


async def run_emacs(
    tmp_path: Path, fake: FakeCodestral, client: str, ui: str, text: str
) -> tuple[str, str]:
    """Emacs with `client` (lsp-mode, eglot) on `x.py` holding `text`; the buffer and stderr."""
    missing = _missing(client, *(["company"] if ui == "company" else []))
    if missing:
        pytest.skip(f"not installed: {' '.join(missing)} (apt-get install them; .ci/run does)")
    assert EMACS is not None
    (tmp_path / "x.py").write_text(text, encoding="utf-8")
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        HOME=str(tmp_path),  # no user init, no ~/.emacs.d outside the test
        CODESTRAL_API_KEY=fake.api_key,
        CODESTRAL_TEST_REPO=str(REPO),
        CODESTRAL_TEST_CLIENT=client,
        CODESTRAL_TEST_UI=ui,
        CODESTRAL_TEST_FILE="x.py",
        CODESTRAL_TEST_ENDPOINT=fake.url,
        CODESTRAL_TEST_SERVER=json.dumps(
            [sys.executable, "-m", "codestral_lsp", "-v", "--log-file", str(log)]
        ),
    )
    process = await asyncio.create_subprocess_exec(
        EMACS,
        *("--batch", "-Q", "-l", str(DRIVER)),
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 50)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    server_log = log.read_text(errors="replace") if log.exists() else "(no server log)"
    report = f"stderr:\n{stderr[-3000:]}\nserver log:\n{server_log[-3000:]}"
    assert process.returncode == 0, report
    assert "BUFFER-START\n" in stdout, report
    buffer = stdout.split("BUFFER-START\n", 1)[1].rsplit("BUFFER-END", 1)[0]
    return buffer, stderr


CASES = [
    pytest.param("    return ", "a + b", "    return a + b", id="after-a-space"),
    pytest.param("    return a", " + b", "    return a + b", id="word-typed"),
    pytest.param("", "    return a + b", "    return a + b", id="blank-line"),
]
MULTI_LINE = "\n    total = a + b\n    return total"


@pytest.mark.parametrize(("line", "answer", "expected"), CASES)
async def test_lsp_mode_8_completion_at_point_inserts_the_suggestion(
    tmp_path: Path, fake_codestral: FakeCodestral, line: str, answer: str, expected: str
) -> None:
    """Debian's lsp-mode 8 has no inline completion: the shipped file turns the menu on, says
    so, and C-M-i (which inserts the item's label) leaves the suggestion, not a label."""
    fake_codestral.completion = answer_after(f"b):\n{line}", answer)
    buffer, messages = await run_emacs(
        tmp_path, fake_codestral, "lsp-mode", "capf", f"def add(a, b):\n{line}"
    )
    assert buffer == f"def add(a, b):\n{expected}"
    assert "no `lsp-inline-completion-mode'" in messages.replace("‘", "`").replace("’", "'")


@pytest.mark.parametrize("ui", ["capf", "company"])
async def test_lsp_mode_8_multi_line_suggestion_keeps_its_indentation(
    tmp_path: Path, fake_codestral: FakeCodestral, ui: str
) -> None:
    fake_codestral.completion = answer_after("def add(a, b):", MULTI_LINE)
    buffer, _ = await run_emacs(tmp_path, fake_codestral, "lsp-mode", ui, "def add(a, b):")
    assert buffer == "def add(a, b):" + MULTI_LINE


@pytest.mark.parametrize("ui", ["capf", "company"])
async def test_eglot_on_emacs_28_starts_in_python_buffers_and_completes(
    tmp_path: Path, fake_codestral: FakeCodestral, ui: str
) -> None:
    """codestral-eglot.el's own hook starts eglot in python-mode (Emacs 28 has no
    python-base-mode); the suggestion comes through completion-at-point."""
    fake_codestral.completion = answer_after("def add(a, b):", MULTI_LINE)
    buffer, _ = await run_emacs(tmp_path, fake_codestral, "eglot", ui, "def add(a, b):")
    assert buffer == "def add(a, b):" + MULTI_LINE
