"""Files never sent: exclude patterns, the secret-file defaults, symlink targets and git's ignores.

One policy, one decision per document. ``Policy.match`` is the pure part (patterns on a path);
``decide`` adds what needs the file system and git (a symlink's target, ``git check-ignore``) and
is the single answer both the server and ``codestral-lsp complete`` use. ``Exclusions`` keeps each
open document's decision: made when the document opens (and again when a call brings another
policy or a ``.gitignore`` is saved), never on the event loop, and awaited only by that
document's requests, with a deadline. Unknown means excluded: a git that fails or hangs keeps
the file out.
``Exclusions.aclose`` stops it all when the server exits (see ``gitignore``: the checks must be
cancelled before ``asyncio.run``'s teardown, or a git being started can hang the exit).

Patterns:
- ``exclude`` (the user's) has gitignore semantics (``pathspec``'s ``GitIgnoreSpec``, the rules
  git itself applies), matched against the path relative to the workspace root (the absolute
  path, without its leading ``/``, for files outside every root): a pattern without a slash
  matches a name at any depth, ``dir/`` excludes everything under any ``dir``, ``a/**`` all
  under ``a``, ``!pattern`` re-includes. Case-sensitive, as in git.
- The defaults are matched case-insensitively: ``DEFAULT_NAMES`` against the file name only, so
  ``credentials*`` does not take a directory ``credentials-service/`` with it, and
  ``DEFAULT_PATHS`` against the whole absolute path (``~/.ssh/config`` is excluded wherever the
  workspace is).
- A symlink is judged twice: the link's own path and its target's, by patterns and by git.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from codestral_lsp import lazy
from codestral_lsp.documents import DocumentStore, Slot
from codestral_lsp.gitignore import GitIgnores, repository
from codestral_lsp.source import Source

if TYPE_CHECKING:
    import pathspec
    from pathspec import GitIgnoreSpec

    from codestral_lsp.settings import Settings
else:  # imported when the first pattern is compiled: not needed to start (issue 13)
    pathspec = lazy.module("pathspec")

logger = logging.getLogger(__name__)

# Files that hold secrets by their name (matched on the lower-cased file name).
DEFAULT_NAMES: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".htpasswd",
    ".git-credentials",
    "secrets.*",
    "secret.*",
    "credentials*",
    "application_default_credentials.json",
    "*.tfvars",
    "*.tfvars.json",
    "*.tfstate",
    "*.tfstate.backup",
)
# Places that hold secrets (matched on the lower-cased absolute path, at any depth).
DEFAULT_PATHS: tuple[str, ...] = (
    ".ssh/",
    ".aws/",
    ".gnupg/",
    ".azure/",
    "**/.config/gcloud/",
    "**/.kube/config",
    "**/.docker/config.json",
)

WAIT_S = 2.0  # how long a request waits for its own document's decision before it gives up


def check_patterns(patterns: Iterable[str]) -> None:
    """Raise ValueError naming the first pattern that is not a valid gitignore pattern."""
    for pattern in patterns:
        try:
            pathspec.GitIgnoreSpec.from_lines([pattern])
        except ValueError as exc:
            raise ValueError(f"{pattern!r} is not a valid gitignore pattern ({exc})") from None


def file_path(uri: str) -> str:
    """The path part of ``uri``, percent-decoded (query and fragment dropped)."""
    return unquote(urlparse(uri).path)


@dataclass(frozen=True)
class Policy:
    """What to exclude: compared by its settings, so an unchanged policy re-decides nothing."""

    exclude: tuple[str, ...] = ()
    defaults: bool = True
    gitignore: bool = True
    roots: tuple[str, ...] = ()  # workspace roots, as absolute paths

    @classmethod
    def of(cls, settings: Settings, roots: tuple[str, ...]) -> Policy:
        return cls(settings.exclude, settings.exclude_defaults, settings.respect_gitignore, roots)

    @cached_property
    def _user(self) -> GitIgnoreSpec:
        return pathspec.GitIgnoreSpec.from_lines(self.exclude)

    @cached_property
    def _names(self) -> GitIgnoreSpec:
        return pathspec.GitIgnoreSpec.from_lines(DEFAULT_NAMES if self.defaults else ())

    @cached_property
    def _paths(self) -> GitIgnoreSpec:
        return pathspec.GitIgnoreSpec.from_lines(DEFAULT_PATHS if self.defaults else ())

    def match(self, path: str, roots: Sequence[str] | None = None) -> str | None:
        """Which rule excludes the file at absolute ``path`` ("exclude", "excludeDefaults").

        ``roots`` replaces the policy's own (a symlink's target is matched against both).
        """
        roots = self.roots if roots is None else roots
        if self.exclude and self._user.match_file(relative(path, roots)):
            return "exclude"
        lower = path.lower().lstrip("/")
        if self.defaults and (
            self._names.match_file(PurePosixPath(lower).name) or self._paths.match_file(lower)
        ):
            return "excludeDefaults"
        return None


def relative(path: str, roots: Sequence[str]) -> str:
    """``path`` relative to the deepest root holding it, else without its leading ``/``."""
    best = ""
    for root in roots:
        base = root.rstrip("/")
        if path.startswith(base + "/") and len(base) >= len(best):
            best = base
    return path[len(best) + 1 :] if best else path.lstrip("/")


@dataclass(frozen=True)
class Decision:
    """Whether a document must never be completed nor read, and why (for the log)."""

    excluded: bool
    why: str = ""


ALLOWED = Decision(False)
_STOPPING = Decision(True, "the server is stopping")


@dataclass(frozen=True)
class Refusal:
    """Why a document gets no completion: ``source`` names it in answers, ``why`` for people."""

    source: Source  # EXCLUDED or TOO_LARGE
    why: str  # what the document does: "is ignored by git (...)", "is larger than ..."


def refusal(decision: Decision, length: int, max_file_size: int) -> Refusal | None:
    """The one answer to "may this document be completed", from its exclusion decision and its
    length in characters; the server and ``codestral-lsp complete`` both ask it."""
    if decision.excluded:
        return Refusal(Source.EXCLUDED, decision.why)
    if length > max_file_size:
        return Refusal(
            Source.TOO_LARGE, f"is larger than maxFileSize ({length} > {max_file_size} characters)"
        )
    return None


@dataclass(frozen=True)
class _Facts:
    """What the file system says about a path: its target, and where git would look."""

    target: str  # the path with every symlink resolved
    targets_root: tuple[str, ...]  # the roots, resolved too
    checks: tuple[tuple[str, str], ...]  # (repository, path in it) for the link and its target


def _inspect(uri_path: str, roots: Sequence[str]) -> _Facts:
    """Blocking file-system work: run in a thread."""
    path = local_path(uri_path)
    target = os.path.realpath(path)
    # The link itself, in its real directory (git refuses paths "beyond a symbolic link").
    link = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
    checks = []
    for candidate in dict.fromkeys((link, target)):
        repo = repository(os.path.dirname(candidate))
        if repo is not None:
            checks.append((repo, os.path.relpath(candidate, repo).replace(os.sep, "/")))
    resolved_roots = tuple(_uri_form(os.path.realpath(local_path(r))) for r in roots)
    return _Facts(_uri_form(target), resolved_roots, tuple(checks))


def local_path(uri_path: str) -> str:
    """A file URI's path as this system spells it (``/C:/x`` is ``C:\\x`` on Windows)."""
    if os.name == "nt" and len(uri_path) > 2 and uri_path[0] == "/" and uri_path[2] == ":":
        return uri_path[1:].replace("/", "\\")
    return uri_path


def _uri_form(path: str) -> str:
    """The inverse of ``local_path``: the form patterns are matched against."""
    if os.name == "nt":
        return "/" + path.replace("\\", "/")
    return path


async def decide(uri: str, policy: Policy, git: GitIgnores) -> Decision:
    """The one exclusion decision for the document at ``uri`` (blocking work off the loop)."""
    path = file_path(uri)
    rule = policy.match(path)
    if rule is not None:
        return Decision(True, f"matches an exclude pattern ({rule})")
    if urlparse(uri).scheme != "file":
        return ALLOWED  # no file behind it: nothing to resolve, nothing git could ignore
    facts = await asyncio.to_thread(_inspect, path, policy.roots)
    if facts.target != path:
        rule = policy.match(facts.target) or policy.match(facts.target, facts.targets_root)
        if rule is not None:
            return Decision(True, f"links to {facts.target}, which matches ({rule})")
    if not policy.gitignore or not facts.checks:
        return ALLOWED
    verdicts = await asyncio.gather(*(git.ignored(repo, rel) for repo, rel in facts.checks))
    for verdict in verdicts:
        if verdict.ignored is None:
            return Decision(True, f"git could not tell whether it is ignored ({verdict.why})")
    if any(v.ignored for v in verdicts):
        return Decision(True, "is ignored by git (respectGitignore)")
    return ALLOWED


@dataclass
class _Entry:
    """One open document's decision; ``None`` while it is being made."""

    decision: Decision | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    told: str = ""  # the last reason logged for it: each is said once

    def close(self) -> None:
        """Its document closed: a request still waiting answers now, excluded."""
        if self.task is not None:
            self.task.cancel()
        self.decision, self.task = Decision(True, "closed"), None
        self.ready.set()


class Exclusions:
    """Each open document's exclusion decision: made at open, awaited only by its own requests.

    Memory: one small record per open document (its decision), in the document's record in
    ``documents``: it goes when the document closes. Not open means excluded.
    """

    def __init__(self, documents: DocumentStore, git: GitIgnores | None = None) -> None:
        self.documents = documents
        self.git = git or GitIgnores()
        self.policy = Policy()
        self._slot: Slot[_Entry] = Slot("exclusion", _Entry, _Entry.close)
        self._closed = False

    def __len__(self) -> int:
        return len(self._entries())

    def _entries(self) -> dict[str, _Entry]:
        """The decisions kept, by URI."""
        found = ((t.doc.uri, t.peek(self._slot)) for t in self.documents.records())
        return {uri: entry for uri, entry in found if entry is not None}

    def _follow(self, policy: Policy) -> None:
        """Every call brings the policy; one that differs from the last decides all again."""
        if policy != self.policy:
            self.policy = policy
            self.refresh()

    def refresh(self) -> None:
        """Decide every open document again (a ``.gitignore`` changed, or the policy)."""
        for uri in self._entries():
            self._start(uri)

    def open(self, uri: str, policy: Policy) -> None:
        """Start deciding ``uri`` under ``policy``: patterns at once, the rest in the background."""
        self._follow(policy)
        self._start(uri)

    def _start(self, uri: str) -> None:
        tracked = self.documents.tracked(uri)
        if tracked is None:
            return  # not open: nothing to keep, and ``decision`` says excluded
        entry = tracked.get(self._slot)
        if entry.task is not None:
            entry.task.cancel()
            entry.task = None
        entry.decision = None
        entry.ready.clear()
        if self._closed:
            entry.decision = _STOPPING
            entry.ready.set()
            return
        rule = self.policy.match(file_path(uri))
        if rule is not None:
            self._settle(uri, entry, Decision(True, f"matches an exclude pattern ({rule})"))
            return
        task = asyncio.ensure_future(self._decide(uri, entry, self.policy))
        task.add_done_callback(lambda done: self._check(uri, entry, done))
        entry.task = task

    async def _decide(self, uri: str, entry: _Entry, policy: Policy) -> None:
        try:
            decision = await decide(uri, policy, self.git)
        except OSError as exc:  # the file system failed us: unknown, so excluded
            decision = Decision(True, f"could not be inspected ({exc})")
        self._settle(uri, entry, decision)

    def _check(self, uri: str, entry: _Entry, done: asyncio.Task[None]) -> None:
        """A decision that failed unexpectedly: logged, and the document stays out."""
        if not done.cancelled() and done.exception() is not None:
            logger.error("deciding whether %s is excluded failed: %r", uri, done.exception())
            if entry.task is done:
                self._settle(uri, entry, Decision(True, "could not be decided"))

    def _settle(self, uri: str, entry: _Entry, decision: Decision) -> None:
        entry.decision, entry.task = decision, None
        entry.ready.set()
        if decision.excluded and entry.told != decision.why:
            entry.told = decision.why
            logger.warning("%s %s: no completions, never sent", uri, decision.why)

    async def aclose(self) -> None:
        """Stop deciding: running decisions are cancelled and read as excluded, git is stopped.

        Called while the event loop still runs normally, before ``asyncio.run``'s teardown.
        """
        self._closed = True
        tasks = []
        for entry in self._entries().values():
            if entry.task is not None:
                tasks.append(entry.task)
                entry.task.cancel()
                entry.decision, entry.task = _STOPPING, None
                entry.ready.set()  # a request still waiting answers now
        await self.git.aclose()
        if tasks:
            await asyncio.wait(tasks)

    def allowed(self, uri: str, policy: Policy) -> bool:
        """Whether ``uri`` is known to be allowed now (undecided counts as not allowed)."""
        self._follow(policy)
        tracked = self.documents.tracked(uri)
        entry = None if tracked is None else tracked.peek(self._slot)
        return entry is not None and entry.decision is not None and not entry.decision.excluded

    async def decision(self, uri: str, policy: Policy, wait_s: float = WAIT_S) -> Decision:
        """``uri``'s decision under ``policy``, waiting at most ``wait_s`` for it; past that,
        excluded."""
        self._follow(policy)
        tracked = self.documents.tracked(uri)
        if tracked is None:
            return Decision(True, "not open")
        if tracked.peek(self._slot) is None:
            self._start(uri)
        entry = tracked.get(self._slot)
        deadline = time.monotonic() + wait_s
        while entry.decision is None:  # a refresh may restart it while we wait
            left = deadline - time.monotonic()
            try:
                await asyncio.wait_for(entry.ready.wait(), max(left, 0))
            except asyncio.TimeoutError:
                logger.info("%s: its exclusion check is still running, nothing sent", uri)
                return Decision(True, "its exclusion check is still running")
        return entry.decision
