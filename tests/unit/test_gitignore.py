"""The git check-ignore runner: batches per repository, fails closed, runs nothing the
repository configures, and never outlives a stop (nor lets git's children do so)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from codestral_lsp.gitignore import GitIgnores, Ran, check_ignore
from tests.processes import running


class FakeGit:
    """A ``check-ignore`` runner: records each call; blocks calls for ``slow`` repos."""

    def __init__(self, ignored: set[str] | None = None) -> None:
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.ignored = ignored or set()
        self.slow: set[str] = set()
        self.release = asyncio.Event()
        self.failing: set[str] = set()

    async def __call__(self, repo: str, paths: Sequence[str]) -> Ran:
        self.calls.append((repo, tuple(paths)))
        if repo in self.slow:
            await self.release.wait()
        if self.failing & set(paths):
            return Ran(frozenset(), "git failed: fatal: pathspec is beyond a symbolic link")
        return Ran(frozenset(p for p in paths if p in self.ignored))


def repo(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    (root / ".git").mkdir(parents=True)
    return root.resolve()


async def until(condition: object, what: str) -> None:
    """Poll ``condition()`` (a callable) on the loop until true, for at most 10 s."""
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + 10
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


async def test_one_bad_path_does_not_fail_its_whole_batch(tmp_path: Path) -> None:
    root = str(repo(tmp_path, "r"))
    fake = FakeGit(ignored={"ignored.py"})
    fake.failing.add("bad.py")  # git dies on it (beyond a symlink, in a submodule...)
    git = GitIgnores(fake)
    answers = await asyncio.gather(
        git.ignored(root, "bad.py"), git.ignored(root, "ok.py"), git.ignored(root, "ignored.py")
    )
    assert [a.ignored for a in answers] == [None, False, True]
    assert fake.calls[0] == (root, ("bad.py", "ok.py", "ignored.py"))  # one call, then each
    assert len(fake.calls) == 4


# --- the git call itself (a real git) ------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def real_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    return path


def configure(repo: Path, name: str, value: str) -> None:
    subprocess.run(["git", "config", name, value], cwd=repo, check=True)


@needs_git
async def test_check_ignore_runs_nothing_the_repository_configures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = real_repo(tmp_path / "r")
    marker = tmp_path / "ran"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\ntouch "{marker}"\necho 0\n', encoding="utf-8")
    hook.chmod(0o755)
    configure(root, "core.fsmonitor", str(hook))
    (root / ".gitignore").write_text("*.log\n", encoding="utf-8")
    (root / ".git" / "info" / "exclude").write_text("local.py\n", encoding="utf-8")
    elsewhere = real_repo(tmp_path / "elsewhere")
    monkeypatch.setenv("GIT_DIR", str(elsewhere / ".git"))  # inherited: must not steer git
    ran = await check_ignore(str(root), ["a.py", "b.log", "sub/c.log", "local.py", "sp ace.py"])
    assert ran == Ran(frozenset({"b.log", "sub/c.log", "local.py"}))
    assert not marker.exists()


async def test_a_git_that_hangs_is_stopped_and_gives_no_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nexec {shutil.which('sleep')} 600\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    ran = await check_ignore(str(tmp_path), ["a.py"], timeout_s=0.05)
    assert ran.ignored == frozenset()
    assert ran.failure == "git took longer than 0.05 s"


async def test_no_git_gives_no_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    ran = await check_ignore(str(tmp_path), ["a.py"])
    assert ran.failure is not None
    assert ran.failure.startswith("git cannot be run")


# --- stopping: nothing git does may keep the server from exiting --------------------------

ENDS_WHILE_GIT_STARTS = textwrap.dedent(
    """
    import asyncio, sys
    from codestral_lsp.gitignore import GitIgnores

    async def main(turns):
        git = GitIgnores()
        asyncio.ensure_future(git.ignored(sys.argv[1], "a.py"))
        for _ in range(turns):  # end the loop at every step of git's start, one per run
            await asyncio.sleep(0)
        await git.aclose()

    for turns in range(8):
        asyncio.run(main(turns))
    print("exited")
    """
)


@needs_git
def test_a_loop_that_ends_while_git_starts_still_exits(tmp_path: Path) -> None:
    """``asyncio.run``'s teardown cancelled asyncio's own pipe-connecting task along with the
    check, and the subprocess transport then waited forever; stopping first avoids it."""
    root = real_repo(tmp_path / "r")
    try:
        done = subprocess.run(
            [sys.executable, "-c", ENDS_WHILE_GIT_STARTS, str(root)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the event loop never finished: a git check being started hung its end")
    assert (done.returncode, done.stdout.strip()) == (0, "exited"), done.stderr


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("when", ["while git starts", "while git runs"])
async def test_a_stopped_check_kills_git_and_what_git_started(
    when: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(  # a wrapper whose child holds git's pipes open
        f'#!/bin/sh\nsleep 600 &\necho "$$ $!" > "{pids}.tmp"\nmv "{pids}.tmp" "{pids}"\nwait\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    checking: asyncio.Future[Ran] | None = None

    class CancelledAtStart(subprocess.Popen):  # type: ignore[type-arg]
        """Cancels the check once git has started its child, before asyncio has its pipes."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            deadline = time.monotonic() + 10
            while not pids.exists() and time.monotonic() < deadline:
                time.sleep(0.005)  # the event loop must not run on until then
            assert checking is not None
            checking.cancel()

    if when == "while git starts":
        monkeypatch.setattr(subprocess, "Popen", CancelledAtStart)
    checking = asyncio.ensure_future(check_ignore(str(tmp_path), ["a.py"]))
    await until(pids.exists, "git to start")
    wrapper, child = (int(p) for p in pids.read_text(encoding="utf-8").split())
    try:
        if when == "while git runs":
            checking.cancel()
        stopped, _ = await asyncio.wait([checking], timeout=30)
        assert stopped, "stopping git waited for its child (600 s)"
        assert checking.cancelled()
        await until(lambda: not running(wrapper) and not running(child), "both to be killed")
    finally:
        for pid in (wrapper, child):
            if running(pid):
                os.kill(pid, signal.SIGKILL)
