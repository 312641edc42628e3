"""Shared fixtures: a started fake Codestral server per test; no test key in any output."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fake_codestral import DEFAULT_KEY, FakeCodestral


@pytest.fixture
async def fake_codestral() -> AsyncIterator[FakeCodestral]:
    """A fake Codestral on 127.0.0.1 (key `DEFAULT_KEY`), stopped after the test."""
    async with FakeCodestral() as fake:
        yield fake


@pytest.fixture(scope="session", autouse=True)
def the_key_never_appears_in_any_output(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """After the whole suite: every log and output file the tests' servers wrote is free of the
    test key (servers run at -vv, and with -v in the editor tests). Neovim's own state (its
    LSP log holds the client config it was given, the key in cmd_env included) is the
    editor's, not ours, and is skipped."""
    yield
    base = tmp_path_factory.getbasetemp()
    written = [
        p
        for p in base.rglob("*")
        if p.is_file() and "xdg" not in p.relative_to(base).parts and p.stat().st_size < 5e7
    ]
    leaks = [p for p in written if DEFAULT_KEY.encode() in p.read_bytes()]
    assert written, "no server output was found to check"
    assert not leaks, f"the API key appears in {leaks}"


@pytest.fixture(autouse=True)
def no_key_on_the_test_streams(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """What each test printed (including servers' stderr forwarded by pytest-lsp)."""
    yield
    out, err = capfd.readouterr()
    assert DEFAULT_KEY not in out + err, "the API key was printed"
