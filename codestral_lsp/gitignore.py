"""Asking git which files it ignores: batched per repository, bounded, running no repository code.

``git check-ignore`` reads the repository's ``.gitignore`` files, ``info/exclude`` and
``core.excludesFile``, which is what we want from it. What we do not want is anything a checkout
can make git *run*: a repository's ``.git/config`` may name an fsmonitor hook or a hooks
directory. Command-line ``-c`` settings win over every config file, so each call turns those off
(``core.fsmonitor``, ``core.hooksPath``) and the untracked cache with them; the environment
loses every inherited ``GIT_*`` variable (no ``GIT_DIR`` or ``GIT_CONFIG_*`` steering it
elsewhere), never prompts, never pages, takes no optional locks (the user's index is not
rewritten), and stdin carries only our paths. System and global config stay: they are the
user's own, and may hold the ``core.excludesFile`` the user expects us to honour. git's own
``safe.directory`` check stays on: a repository owned by someone else is refused, and so (fail
closed) excluded.

Calls are batched: every path waiting for one repository goes in one ``check-ignore --stdin -z``
call, at most ``MAX_RUNNING`` calls run at once, each within ``TIMEOUT_S``. An answer git cannot
give (timeout, error, no git) is ``None``: the caller treats it as ignored.

Stopping (``GitIgnores.aclose``, when the server exits) cancels every check while the event loop
still runs normally: each git is killed with its process group and reaped, and every waiter is
answered (unknown). Left to ``asyncio.run``'s own teardown, a git that was just starting could
hang the exit for good: the teardown also cancels asyncio's internal task that connects the
child's pipes, and the subprocess transport then waits forever for pipes it never connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

TIMEOUT_S = 20.0
STOP_S = 5.0  # how long stopping waits for the running checks to end
MAX_RUNNING = 2
SAFE_CONFIG: tuple[str, ...] = (
    "core.fsmonitor=false",
    f"core.hooksPath={os.devnull}",
    "core.untrackedCache=false",
    "core.pager=cat",
)


def repository(directory: str) -> str | None:
    """The work tree holding ``directory`` (the nearest ancestor with a ``.git``), if any.

    Blocking (a few ``stat`` calls): run it off the event loop. Outside every repository git
    has nothing to ignore, so no git process is started at all.
    """
    current = directory
    while True:
        if os.path.lexists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def git_command(repo: str) -> list[str]:
    config = [arg for setting in SAFE_CONFIG for arg in ("-c", setting)]
    return ["git", "--no-pager", *config, "-C", repo, "check-ignore", "--stdin", "-z"]


def git_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without inherited ``GIT_*`` variables, plus ours (see the module docstring)."""
    env = {k: v for k, v in environ.items() if not k.upper().startswith("GIT_")}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_PAGER="cat",
        PAGER="cat",
        LC_ALL="C",
    )
    return env


@dataclass(frozen=True)
class Verdict:
    """git's answer for one path: ``ignored`` is None when git could not tell (``why``)."""

    ignored: bool | None
    why: str = ""


@dataclass(frozen=True)
class Ran:
    """One ``check-ignore`` call: the ignored paths, or why there is no answer."""

    ignored: frozenset[str]
    failure: str | None = None


Runner = Callable[[str, Sequence[str]], Awaitable[Ran]]


async def check_ignore(repo: str, paths: Sequence[str], timeout_s: float = TIMEOUT_S) -> Ran:
    """Run ``git check-ignore`` once in ``repo`` for ``paths`` (relative to it)."""
    starting = asyncio.ensure_future(_start(repo))
    try:
        process = await asyncio.shield(starting)
    except OSError as exc:
        return Ran(frozenset(), f"git cannot be run: {exc.strerror or exc}")
    except asyncio.CancelledError:
        # asyncio's own clean-up of a start cut short kills git alone, then waits for every
        # holder of its pipes: let the start finish (a second cancel does not cut it short
        # either), then stop git as below.
        await asyncio.shield(_stop_once_started(starting))
        raise
    request = b"".join(os.fsencode(p) + b"\0" for p in paths)
    try:
        out, err = await asyncio.wait_for(process.communicate(request), timeout_s)
    except asyncio.TimeoutError:
        return Ran(frozenset(), f"git took longer than {timeout_s:g} s")
    finally:
        await _stop(process)
    if process.returncode not in (0, 1):  # 0: some ignored, 1: none; else git failed
        said = err.decode("utf-8", "replace").strip().splitlines()
        return Ran(frozenset(), f"git failed: {said[-1] if said else process.returncode}")
    return Ran(frozenset(os.fsdecode(p) for p in out.split(b"\0") if p))


async def _start(repo: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *git_command(repo),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=git_environment(os.environ),
        start_new_session=os.name == "posix",  # its own process group: killed as one
    )


async def _stop_once_started(starting: asyncio.Future[asyncio.subprocess.Process]) -> None:
    with contextlib.suppress(OSError):
        await _stop(await starting)


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Kill git and anything it started (a child still holding git's pipes would keep
    ``wait()`` waiting: a git wrapper script, say), and reap it."""
    if process.returncode is not None:
        return
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


class GitIgnores:
    """Answers "does git ignore this path?", batching the questions for each repository."""

    def __init__(self, run: Runner = check_ignore, running: int = MAX_RUNNING) -> None:
        self._run = run
        self._slots = asyncio.Semaphore(running)
        self._waiting: dict[str, dict[str, asyncio.Future[Verdict]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._told: set[str] = set()
        self._closed = False

    async def ignored(self, repo: str, path: str) -> Verdict:
        """Whether git ignores ``path`` (relative to ``repo``); waits for its batch."""
        if self._closed:
            return _STOPPED
        batch = self._waiting.get(repo)
        if batch is None:
            batch = self._waiting[repo] = {}
            task = asyncio.ensure_future(self._answer(repo))
            self._tasks.add(task)
            task.add_done_callback(self._finished)
        future = batch.get(path)
        if future is None:
            future = batch[path] = asyncio.get_running_loop().create_future()
        return await asyncio.shield(future)  # one waiter leaving does not cancel the batch

    async def _answer(self, repo: str) -> None:
        """Ask git about every path waiting for ``repo`` once a slot is free."""
        async with self._slots:
            batch = self._waiting.pop(repo)
            verdicts: dict[str, Verdict] = {}
            try:
                verdicts = await self._ask(repo, list(batch))
            finally:  # every waiter gets an answer, also when this fails or is cancelled
                for path, future in batch.items():
                    if not future.done():
                        future.set_result(verdicts.get(path, _GONE))

    async def aclose(self) -> None:
        """Stop: cancel every check (git killed and reaped), answer every waiter, start no more."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for batch in self._waiting.values():  # batches whose task never started
            for future in batch.values():
                if not future.done():
                    future.set_result(_STOPPED)
        self._waiting.clear()
        if tasks:
            _, running = await asyncio.wait(tasks, timeout=STOP_S)
            if running:
                logger.error("%d git checks did not stop within %g s", len(running), STOP_S)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("asking git failed: %r", task.exception())

    async def _ask(self, repo: str, paths: list[str]) -> dict[str, Verdict]:
        ran = await self._run(repo, paths)
        if ran.failure is not None and len(paths) > 1 and "longer than" not in ran.failure:
            # One bad path (beyond a symlink, in a submodule) fails the whole call: ask one by one.
            return {p: (await self._ask(repo, [p]))[p] for p in paths}
        if ran.failure is not None:
            if ran.failure not in self._told:
                self._told.add(ran.failure)
                logger.warning("%s (in %s): its files are treated as ignored", ran.failure, repo)
            return dict.fromkeys(paths, Verdict(None, ran.failure))
        return {p: Verdict(p in ran.ignored) for p in paths}


_GONE = Verdict(None, "the check was stopped")
_STOPPED = Verdict(None, "the server is stopping")
