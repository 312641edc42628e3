"""Excluded files never leave, whatever git does: slow, failing, or configured to run code."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import ServerFactory, items, open_doc, run_cli, send_inline, server_env
from tests.fake_codestral import FakeCodestral
from tests.processes import running

FAST = {"debounceMs": 0, "debounceMaxMs": 0, "cacheSize": 0}
GIT = shutil.which("git")
pytestmark = pytest.mark.skipif(GIT is None, reason="needs git")


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git("init", "-q", cwd=path)
    return path


def fake_git(tmp_path: Path, slow_repo: Path, body: str) -> dict[str, str | None]:
    """A ``git`` first on PATH: runs ``body`` for calls in ``slow_repo``, else the real git."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "git"
    script.write_text(
        f'#!/bin/sh\ncase "$*" in\n  *"-C {slow_repo} "*)\n{body}\n    ;;\nesac\n'
        f'exec "{GIT}" "$@"\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


async def until(condition: object, what: str, timeout: float = 20) -> None:
    """Poll ``condition()`` until true, for at most ``timeout`` seconds."""
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def sent(fake: FakeCodestral) -> str:
    return "\n".join(f"{r.body['prompt']}\n{r.body.get('suffix', '')}" for r in fake.requests)


async def status(client: LanguageClient) -> object:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codestral.status")
    )


SLOW_MARKER = "SLOW_REPO_MARKER_31b7"


async def test_a_hanging_git_holds_back_only_its_own_document_and_fails_closed(
    start_server: ServerFactory, fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    slow, fast = new_repo(tmp_path / "slow-repo"), new_repo(tmp_path / "fast-repo")
    started, release = tmp_path / "git-started", tmp_path / "git-release"
    hang = f'    touch "{started}"\n    while [ ! -e "{release}" ]; do sleep 0.01; done'
    env = fake_git(tmp_path, slow, hang)
    slow_text = f"def invoice_total(lines):\n    # {SLOW_MARKER}\n    return sum(lines)\n"
    here, there = (fast / "app.py").as_uri(), (slow / "billing.py").as_uri()
    async with start_server(init_options=FAST, env=env) as client:
        open_doc(client, here, "total = invoice_total(lines, ")
        assert items(await send_inline(client, here, 0, 29, invoked=True))  # decided, via git
        open_doc(client, there, slow_text)
        await until(started.exists, "git to start hanging")
        # The other document's check hangs: these answer anyway, and do not read it.
        said = await status(client)
        assert isinstance(said, dict)
        assert said["endpointHost"] == fake_codestral.base_url.removeprefix("http://")
        assert items(await send_inline(client, here, 0, 29, invoked=True))
        # Its own request waits a bounded time, then sends nothing (unknown = excluded).
        assert items(await send_inline(client, there, 2, 21, invoked=True)) == []
        assert SLOW_MARKER not in sent(fake_codestral)
        requests = len(fake_codestral.requests)
        release.touch()

        async def answered() -> bool:
            return bool(items(await send_inline(client, there, 2, 21, invoked=True)))

        deadline = asyncio.get_running_loop().time() + 20
        while not await answered():  # decided once git answers: not ignored
            assert asyncio.get_running_loop().time() < deadline, "never decided"
    assert len(fake_codestral.requests) > requests
    assert SLOW_MARKER in sent(fake_codestral)  # the check, not the file, was holding it


async def test_a_failing_git_keeps_the_file_out_and_says_so_once(
    start_server: ServerFactory, fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    repo = new_repo(tmp_path / "owned-by-other")
    fail = '    echo "fatal: detected dubious ownership in repository" >&2\n    exit 128'
    env = fake_git(tmp_path, repo, fail)
    async with start_server(init_options=FAST, env=env) as client:
        for name in ("a.py", "b.py"):
            uri = (repo / name).as_uri()
            open_doc(client, uri, "x = ")
            assert items(await send_inline(client, uri, 0, 4, invoked=True)) == []
        said = client.log_file.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert fake_codestral.requests == []
    assert said.count("its files are treated as ignored") == 1  # the cause, once
    assert said.count("git could not tell whether it is ignored") == 2  # once per file


async def test_git_runs_no_code_from_the_repository(
    start_server: ServerFactory, fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    repo = new_repo(tmp_path / "repo")
    marker = tmp_path / "fsmonitor-ran"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\ntouch "{marker}"\necho 0\n', encoding="utf-8")
    hook.chmod(0o755)
    git("config", "core.fsmonitor", str(hook), cwd=repo)
    git("config", "core.hooksPath", str(tmp_path), cwd=repo)
    (repo / ".gitignore").write_text("ignored.py\n", encoding="utf-8")
    (repo / ".git" / "info" / "exclude").write_text("local.py\n", encoding="utf-8")
    (tmp_path / "excludes").write_text("personal.py\n", encoding="utf-8")
    git("config", "core.excludesFile", str(tmp_path / "excludes"), cwd=repo)
    async with start_server(init_options=FAST) as client:
        for name in ("app.py", "ignored.py", "local.py", "personal.py"):
            open_doc(client, (repo / name).as_uri(), "x = ")
        answers = {
            name: items(await send_inline(client, (repo / name).as_uri(), 0, 4, invoked=True))
            for name in ("app.py", "ignored.py", "local.py", "personal.py")
        }
    assert not marker.exists(), "git ran the repository's fsmonitor hook"
    # What git ignores is still honoured: .gitignore, info/exclude, core.excludesFile.
    assert [bool(a) for a in answers.values()] == [True, False, False, False]
    assert len(fake_codestral.requests) == 1


async def test_symlinks_case_and_directory_patterns(
    start_server: ServerFactory, fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    repo = new_repo(tmp_path / "repo")
    (repo / ".gitignore").write_text("ignored.py\n", encoding="utf-8")
    (repo / "ignored.py").write_text("IGNORED_TARGET_5c2e = 1\n", encoding="utf-8")
    (repo / "link.py").symlink_to(repo / "ignored.py")
    (repo / "secrets" / "db").mkdir(parents=True)
    options = {**FAST, "exclude": ["secrets/"]}
    files = {
        "link.py": "IGNORED_TARGET_5c2e = 1\nx = ",
        ".ENV": "TOKEN=abc\nx = ",
        "ID_RSA": "key body\nx = ",
        "cert.PEM": "cert body\nx = ",
        "secrets/db/prod.py": "x = ",
        "app.py": "x = ",
    }
    async with start_server(init_options=options) as client:
        answers = {}
        for name, text in files.items():
            uri = (repo / name).as_uri()
            open_doc(client, uri, text)
            line = text.count("\n")
            answers[name] = items(await send_inline(client, uri, line, 4, invoked=True))
    assert {n: bool(a) for n, a in answers.items()} == {n: n == "app.py" for n in files}
    assert len(fake_codestral.requests) == 1
    assert "IGNORED_TARGET_5c2e" not in sent(fake_codestral)


async def test_decisions_follow_gitignore_saves_and_settings(
    start_server: ServerFactory, fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    repo = new_repo(tmp_path / "repo")
    app, util = (repo / "app.py").as_uri(), (repo / "util.py").as_uri()
    async with start_server(init_options=FAST) as client:
        open_doc(client, app, "x = ")
        open_doc(client, util, "x = ")
        assert items(await send_inline(client, app, 0, 4, invoked=True))
        assert items(await send_inline(client, util, 0, 4, invoked=True))
        (repo / ".gitignore").write_text("app.py\n", encoding="utf-8")
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=(repo / ".gitignore").as_uri())
            )
        )
        assert items(await send_inline(client, app, 0, 4, invoked=True)) == []
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"codestral": {"exclude": ["util.py"]}})
        )
        assert items(await send_inline(client, util, 0, 4, invoked=True)) == []
    assert len(fake_codestral.requests) == 2


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.timeout(60)  # the old server never exited here: the test hangs, then fails
async def test_exit_stops_a_running_git_check_and_what_it_started(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    repo = new_repo(tmp_path / "repo")
    pids = tmp_path / "git-pids"
    # A git wrapper whose child holds git's pipes: killing git alone would leave them open.
    hang = (
        f'    sleep 600 &\n    echo "$$ $!" > "{pids}.tmp"\n    mv "{pids}.tmp" "{pids}"\n    wait'
    )
    env = fake_git(tmp_path, repo, hang)
    async with start_server(init_options=FAST, env=env) as client:
        open_doc(client, (repo / "app.py").as_uri(), "x = ")
        await until(pids.exists, "git to start")
        server = client._server  # type: ignore[attr-defined]
    git_pid, child_pid = (int(p) for p in pids.read_text(encoding="utf-8").split())
    try:
        assert server.returncode == 0
        await until(lambda: not running(git_pid) and not running(child_pid), "git to be killed")
    finally:
        for pid in (git_pid, child_pid):
            if running(pid):
                os.kill(pid, signal.SIGKILL)


async def test_complete_in_the_terminal_uses_the_same_decision(
    fake_codestral: FakeCodestral, tmp_path: Path
) -> None:
    repo = new_repo(tmp_path / "repo")
    (repo / ".gitignore").write_text("ignored.py\n", encoding="utf-8")
    (repo / "ignored.py").write_text("x = \n", encoding="utf-8")
    (repo / "link.py").symlink_to(repo / "ignored.py")
    (repo / "CERT.PEM").write_text("x = \n", encoding="utf-8")
    env = server_env(tmp_path, {"CODESTRAL_API_KEY": fake_codestral.api_key})
    for name, why in [("link.py", "is ignored by git"), ("CERT.PEM", "excludeDefaults")]:
        ran = await run_cli(
            "complete", "--endpoint", fake_codestral.url, f"{repo / name}:1:5", env=env
        )
        assert ran.code == 3
        assert why in ran.err
    assert fake_codestral.requests == []
