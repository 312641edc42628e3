"""Files never sent: gitignore-style patterns, defaults, symlinks, the per-document gate."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from codestral_lsp.documents import DocumentStore
from codestral_lsp.exclusion import Exclusions, Policy, check_patterns, decide, file_path
from codestral_lsp.gitignore import GitIgnores, Ran
from codestral_lsp.settings import SettingsLayers
from tests.unit.test_gitignore import FakeGit, repo, until

DEFAULTS = Policy()


@pytest.mark.parametrize(
    "uri",
    [
        "file:///home/u/proj/.env",
        "file:///home/u/proj/.env.local",
        "file:///home/u/proj/deploy/prod.env",
        "file:///etc/ssl/server.pem",
        "file:///home/u/proj/tls/server.key",
        "file:///home/u/.ssh/id_rsa",
        "file:///home/u/.ssh/id_ed25519.pub",
        "file:///home/u/keys/id_ed25519",  # a key outside .ssh, by its name
        "file:///home/u/.netrc",
        "file:///home/u/proj/.npmrc",
        "file:///home/u/.pypirc",
        "file:///home/u/.git-credentials",
        "file:///home/u/proj/config/secrets.yaml",
        "file:///home/u/proj/credentials.json",
        "file:///home/u/.aws/credentials",
        "file:///home/u/.aws/config",
        "file:///home/u/.ssh/config",
        "file:///home/u/.ssh/known_hosts",
        "file:///home/u/.docker/config.json",
        "file:///home/u/infra/prod.tfvars",
        "file:///home/u/my%20project/.env",  # percent-encoded directory
        "file:///home/u/proj/%2Eenv",  # percent-encoded name
        "file:///home/u/proj/secrets%2Eyaml",
        "file:///C:/Users/u/.ssh/id_rsa",  # a Windows path in a file URI
        "file:///home/u/proj/.env?x=1#top",  # query and fragment are not the path
        # Case does not matter for the defaults (case-insensitive file systems, habits).
        "file:///home/u/proj/.ENV",
        "file:///home/u/.ssh/ID_RSA",
        "file:///home/u/keys/ID_RSA",
        "file:///home/u/proj/tls/cert.PEM",
        "file:///home/u/proj/Secrets.Yaml",
        "file:///home/u/.SSH/config",
        # The wider list.
        "file:///home/u/proj/.envrc",
        "file:///home/u/.pgpass",
        "file:///home/u/.kube/config",
        "file:///home/u/.config/gcloud/application_default_credentials.json",
        "file:///home/u/.config/gcloud/credentials.db",
        "file:///home/u/proj/application_default_credentials.json",
        "file:///home/u/infra/prod.tfvars.json",
        "file:///home/u/infra/terraform.tfstate.backup",
        "file:///srv/www/.htpasswd",
        "file:///home/u/proj/.git-credentials",
        "file:///home/u/.azure/accessTokens.json",
    ],
)
def test_default_patterns_exclude(uri: str) -> None:
    assert DEFAULTS.match(file_path(uri)) == "excludeDefaults"


@pytest.mark.parametrize(
    "uri",
    [
        "file:///home/u/proj/environment.py",
        "file:///home/u/proj/keys.py",
        "file:///home/u/proj/key.py",
        "file:///home/u/proj/README.md",
        "file:///home/u/proj/src/secretary.py",
        "file:///home/u/proj/env/settings.py",  # a directory named env
        "file:///home/u/proj/.envrc.example.py",
        "file:///home/u/proj/docs/ssh/config.md",  # ssh without the dot
        "file:///home/u/proj/aws/config",
        "file:///home/u/proj/docker/config.json",
        "file:///home/u/proj/kube/config",
        "file:///home/u/proj/pem.py",
        "file:///home/u/credentials-service/app.py",  # name patterns do not take directories
        "file:///home/u/proj/tfvars.py",
        "untitled:Untitled-1",
    ],
)
def test_default_patterns_leave_ordinary_files(uri: str) -> None:
    assert DEFAULTS.match(file_path(uri)) is None


@pytest.mark.parametrize(
    ("path", "patterns", "excluded"),
    [
        ("/w/conf.local.py", ["*.local.py"], True),
        ("/w/conf.py", ["*.local.py"], False),
        ("/w/deep/er/conf.local.py", ["*.local.py"], True),  # no slash: any depth
        ("/w/secrets/db/prod.py", ["secrets/**"], True),
        ("/w/secrets/db/prod.py", ["secrets/"], True),
        ("/w/app/secrets/key.py", ["secrets/"], True),  # a directory at any depth
        ("/w/app/secrets/key.py", ["/secrets/"], False),  # anchored at the root
        ("/w/secrets.py", ["secrets/"], False),  # a file, not the directory
        ("/w/app/generated/api.py", ["app/generated/*"], True),
        ("/w/app/generated/deep/api.py", ["app/generated/*"], True),  # its directory goes too
        ("/w/lib/app/generated/api.py", ["app/generated/*"], False),  # anchored: middle slash
        ("/w/a/b/c/gen_x.py", ["a/**/gen_*.py"], True),
        ("/w/keep.local.py", ["*.local.py", "!keep.local.py"], False),  # re-included
        ("/w/CONF.LOCAL.PY", ["*.local.py"], False),  # user patterns: case-sensitive, as git
        ("/w/my dir/notes.txt", ["my dir/"], True),
        ("/elsewhere/secrets/x.py", ["secrets/"], True),  # outside the root: absolute path
        ("/elsewhere/x.py", ["/elsewhere/x.py"], True),
        ("/w/.env", [], None),  # defaults off: nothing
    ],
)
def test_user_patterns_have_gitignore_semantics(
    path: str, patterns: list[str], excluded: bool | None
) -> None:
    policy = Policy(tuple(patterns), defaults=False, roots=("/w",))
    assert policy.match(path) == ("exclude" if excluded else None)


def test_the_deepest_root_holding_a_path_wins() -> None:
    policy = Policy(("/pkg/gen.py",), defaults=False, roots=("/w", "/w/sub"))
    assert policy.match("/w/sub/pkg/gen.py") == "exclude"  # relative to /w/sub, not to /w
    nested = Policy(("/sub/pkg/gen.py",), defaults=False, roots=("/w", "/w/sub"))
    assert nested.match("/w/sub/pkg/gen.py") is None


@pytest.mark.parametrize("bad", ["\\", "foo\\"])
def test_a_pattern_git_cannot_read_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid gitignore pattern"):
        check_patterns(["ok.py", bad])


def test_policies_compare_by_their_settings() -> None:
    assert Policy(("a",), roots=("/w",)) == Policy(("a",), roots=("/w",))
    assert Policy(("a",)) != Policy(("b",))


# --- symlinks ---------------------------------------------------------------------------------


class NoGit(GitIgnores):
    async def ignored(self, repo: str, path: str) -> object:  # type: ignore[override]
        raise AssertionError("git asked outside a repository")


async def test_a_symlink_is_judged_by_its_target_too(tmp_path: Path) -> None:
    (tmp_path / "ignored.py").write_text("SECRET = 1\n", encoding="utf-8")
    (tmp_path / "link.py").symlink_to(tmp_path / "ignored.py")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id_rsa").write_text("key\n", encoding="utf-8")
    (tmp_path / "deploy.py").symlink_to(tmp_path / "keys" / "id_rsa")
    policy = Policy(("ignored.py",), roots=(str(tmp_path),))
    link = await decide((tmp_path / "link.py").as_uri(), policy, NoGit())
    assert link.excluded
    assert "ignored.py" in link.why
    to_key = await decide((tmp_path / "deploy.py").as_uri(), policy, NoGit())
    assert to_key.excluded
    plain = await decide((tmp_path / "other.py").as_uri(), policy, NoGit())
    assert not plain.excluded


# --- the gate: decided once per document, waited for only by its own requests ---------------


ANY = Policy()


def opened(gate: Exclusions, uri: str, policy: Policy = ANY) -> None:
    """Open ``uri`` as the server does: in the store, then its decision starts."""
    gate.documents.open(uri, "", 1, "python")
    gate.open(uri, policy)


async def test_a_hanging_check_holds_back_only_its_own_document(tmp_path: Path) -> None:
    slow, fast = repo(tmp_path, "slow"), repo(tmp_path, "fast")
    fake = FakeGit()
    fake.slow.add(str(slow))
    gate = Exclusions(DocumentStore(), GitIgnores(fake))
    opened(gate, (slow / "a.py").as_uri())
    opened(gate, (fast / "b.py").as_uri())
    opened(gate, "file:///nowhere/c.py")  # no repository: decided without git
    assert not (await gate.decision((fast / "b.py").as_uri(), ANY)).excluded
    assert not (await gate.decision("file:///nowhere/c.py", ANY)).excluded
    assert gate.allowed((fast / "b.py").as_uri(), ANY)
    assert not gate.allowed((slow / "a.py").as_uri(), ANY)  # undecided: not a snippet source
    pending = await gate.decision((slow / "a.py").as_uri(), ANY, wait_s=0)
    assert pending.excluded
    assert "still running" in pending.why
    fake.release.set()
    assert not (await gate.decision((slow / "a.py").as_uri(), ANY)).excluded


async def test_git_that_cannot_tell_keeps_the_file_out(tmp_path: Path) -> None:
    root = repo(tmp_path, "r")
    fake = FakeGit()
    fake.failing.add("a.py")
    gate = Exclusions(DocumentStore(), GitIgnores(fake))
    opened(gate, (root / "a.py").as_uri())
    decision = await gate.decision((root / "a.py").as_uri(), ANY)
    assert decision.excluded
    assert "git could not tell" in decision.why


async def test_paths_waiting_for_one_repository_go_in_one_call(tmp_path: Path) -> None:
    root = repo(tmp_path, "r")
    fake = FakeGit(ignored={"f7.py"})
    fake.slow.add(str(root))
    git = GitIgnores(fake, running=1)
    gate = Exclusions(DocumentStore(), git)
    uris = [(root / f"f{i}.py").as_uri() for i in range(50)]
    for uri in uris:
        opened(gate, uri)
    await until(lambda: len(fake.calls) == 1, "the first call")
    first = len(fake.calls[0][1])
    await until(lambda: len(git._waiting.get(str(root), ())) == 50 - first, "the rest to queue")
    fake.release.set()
    decisions = [await gate.decision(uri, ANY) for uri in uris]
    assert len(fake.calls) <= 2  # the first, and one for all that waited behind it
    assert sorted(p for _, paths in fake.calls for p in paths) == sorted(
        f"f{i}.py" for i in range(50)
    )
    assert [d.excluded for d in decisions] == [i == 7 for i in range(50)]


async def test_a_new_policy_decides_again_and_an_unchanged_one_does_not(tmp_path: Path) -> None:
    root = repo(tmp_path, "r")
    fake = FakeGit()
    gate = Exclusions(DocumentStore(), GitIgnores(fake))
    uri = (root / "app.py").as_uri()
    plain = Policy(roots=(str(root),))
    opened(gate, uri, plain)
    assert not (await gate.decision(uri, plain)).excluded
    assert gate.allowed(uri, Policy(roots=(str(root),)))  # equal: nothing decided again
    assert len(fake.calls) == 1
    assert (await gate.decision(uri, Policy(("app.py",), roots=(str(root),)))).excluded
    assert not gate.allowed(uri, Policy(("app.py",), roots=(str(root),)))
    fake.ignored.add("app.py")
    assert not gate.allowed(uri, plain)  # decided again: undecided until git answers
    gate.refresh()  # a .gitignore was saved
    decision = await gate.decision(uri, plain)
    assert decision.excluded
    assert "ignored by git" in decision.why


async def test_a_closed_document_answers_its_waiting_request(tmp_path: Path) -> None:
    root = repo(tmp_path, "r")
    fake = FakeGit()
    fake.slow.add(str(root))
    gate = Exclusions(DocumentStore(), GitIgnores(fake))
    uri = (root / "a.py").as_uri()
    opened(gate, uri)
    waiting = asyncio.ensure_future(gate.decision(uri, ANY, wait_s=60))
    await until(lambda: fake.calls, "git to be asked")
    gate.documents.close(uri)
    assert (await waiting).excluded
    assert len(gate) == 0
    fake.release.set()


async def test_stopping_answers_every_waiter_and_starts_no_more_checks(tmp_path: Path) -> None:
    root = repo(tmp_path, "r")
    fake = FakeGit()
    fake.slow.add(str(root))
    git = GitIgnores(fake, running=1)
    gate = Exclusions(DocumentStore(), git)
    first, second = (root / "a.py").as_uri(), (root / "b.py").as_uri()
    opened(gate, first)
    await until(lambda: fake.calls, "git to be asked")
    opened(gate, second)  # queued behind the running call
    await until(lambda: git._waiting.get(str(root)), "the second to queue")
    waiting = [asyncio.ensure_future(gate.decision(u, ANY, wait_s=60)) for u in (first, second)]
    await gate.aclose()
    decisions = await asyncio.gather(*waiting)
    assert [(d.excluded, d.why) for d in decisions] == [(True, "the server is stopping")] * 2
    assert not git._tasks
    opened(gate, (root / "c.py").as_uri())  # a request that comes in late: no new check
    assert (await gate.decision((root / "c.py").as_uri(), ANY)).excluded
    assert (await git.ignored(str(root), "d.py")).ignored is None
    assert len(fake.calls) == 1


async def test_a_runner_that_breaks_keeps_the_file_out(tmp_path: Path) -> None:
    root = repo(tmp_path, "r")

    async def broken(repo: str, paths: Sequence[str]) -> Ran:
        raise RuntimeError("boom")

    gate = Exclusions(DocumentStore(), GitIgnores(broken))
    opened(gate, (root / "a.py").as_uri())
    decision = await gate.decision((root / "a.py").as_uri(), ANY)
    assert decision.excluded
    assert "git could not tell" in decision.why


def test_a_bad_exclude_pattern_is_named_and_the_last_good_value_kept() -> None:
    layers = SettingsLayers({}, "file")
    assert layers.set_layer("init", {"exclude": ["secrets/"]}) == []
    problems = layers.set_layer("change", {"exclude": ["ok.py", "bad\\"]})
    assert [p.key for p in problems] == ["exclude"]
    assert "'bad\\\\' is not a valid gitignore pattern" in str(problems[0])
    assert layers.current.exclude == ("secrets/",)
