"""Secrets stay out: excluded files by pattern, and redaction of known secrets in log output."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codestral_lsp.privacy import DEFAULT_EXCLUDE, MASK, RedactingFilter, is_excluded, redact


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
    ],
)
def test_default_patterns_exclude(uri: str) -> None:
    assert is_excluded(uri, DEFAULT_EXCLUDE)


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
        "file:///home/u/proj/pem.py",
        "untitled:Untitled-1",
    ],
)
def test_default_patterns_leave_ordinary_files(uri: str) -> None:
    assert not is_excluded(uri, DEFAULT_EXCLUDE)


@pytest.mark.parametrize(
    ("uri", "patterns", "excluded"),
    [
        ("file:///w/conf.local.py", ["*.local.py"], True),
        ("file:///w/conf.py", ["*.local.py"], False),
        ("file:///w/app/generated/api.py", ["generated/*"], True),  # the path's tail
        ("file:///w/app/generated/deep/api.py", ["generated/*"], False),  # one level only
        ("file:///w/app/generated/deep/api.py", ["generated/*/*.py"], True),
        ("file:///w/app/generated/api.py", ["/w/app/*"], True),  # a whole path
        ("file:///w/my%20dir/notes.txt", ["my dir/*"], True),
        ("file:///w/.env", [], False),  # defaults off
    ],
)
def test_user_patterns(uri: str, patterns: list[str], excluded: bool) -> None:
    assert is_excluded(uri, patterns) is excluded


# --- redaction --------------------------------------------------------------------------------

SECRET = "sk-live-7f3a9c2e1b4d"
OTHER = "gw-header-value-42"


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        (f"key {SECRET}!", [SECRET], f"key {MASK}!"),
        (f"{SECRET}{SECRET}", [SECRET], MASK * 2),
        (f"{SECRET} and {OTHER}", [SECRET, OTHER], f"{MASK} and {MASK}"),
        ("nothing here", [SECRET], "nothing here"),
        ("an empty secret masks nothing", [""], "an empty secret masks nothing"),
        (f"Bearer {SECRET}", [], f"Bearer {SECRET}"),
    ],
)
def test_redact(text: str, secrets: list[str], expected: str) -> None:
    assert redact(text, secrets) == expected


# Key-like secrets: not made of the mask's own letters only (a secret "redacted" would survive).
keys = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=9)


@given(st.lists(st.one_of(keys, st.text(max_size=30))), keys, st.lists(keys, max_size=2))
def test_redact_never_leaves_a_secret(pieces: list[str], secret: str, more: list[str]) -> None:
    text = secret.join(pieces) + secret[: len(secret) // 2]
    redacted = redact(text, [secret, *more])
    assert secret not in redacted
    assert redacted.count(MASK) >= max(0, len(pieces) - 1)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, RedactingFilter]]:
    """A logger whose one handler writes to a string through a redacting filter."""
    logger = logging.getLogger("tests.privacy.captured")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    redactor = RedactingFilter()
    redactor.secrets = (SECRET, OTHER)
    handler.addFilter(redactor)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream, redactor
    logger.removeHandler(handler)
    logger.propagate = True


def test_filter_masks_message_arguments(
    captured: tuple[logging.Logger, io.StringIO, RedactingFilter],
) -> None:
    logger, stream, _ = captured
    logger.info("sending with key %s to %r", SECRET, {"x-gateway": OTHER})
    logger.debug("%(key)s", {"key": SECRET})
    logger.warning(f"formatted early: {SECRET}")  # noqa: G004 - the point of the test
    said = stream.getvalue()
    assert SECRET not in said
    assert OTHER not in said
    assert said.count(MASK) == 4


def test_filter_masks_the_secret_in_a_traceback(
    captured: tuple[logging.Logger, io.StringIO, RedactingFilter],
) -> None:
    logger, stream, _ = captured
    try:
        try:
            raise ValueError(f"bad header {OTHER}")
        except ValueError as exc:
            raise RuntimeError(f"refused key {SECRET}") from exc
    except RuntimeError:
        logger.exception("request failed")
    said = stream.getvalue()
    for shown in ("Traceback", "RuntimeError: refused key", "ValueError: bad header"):
        assert shown in said
    assert SECRET not in said
    assert OTHER not in said
    assert said.count(MASK) == 2


def test_filter_masks_a_traceback_another_handler_formatted_first(
    captured: tuple[logging.Logger, io.StringIO, RedactingFilter],
) -> None:
    logger, stream, _ = captured
    plain = logging.StreamHandler(io.StringIO())  # no filter: caches exc_text with the secret
    plain.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers.insert(0, plain)
    try:
        raise RuntimeError(SECRET)
    except RuntimeError:
        logger.exception("failed: %s", SECRET)
    logger.removeHandler(plain)
    said = stream.getvalue()
    assert SECRET not in said
    assert said.count(MASK) == 2


def test_filter_lets_every_record_through_and_touches_nothing_without_secrets(
    captured: tuple[logging.Logger, io.StringIO, RedactingFilter],
) -> None:
    logger, stream, redactor = captured
    redactor.secrets = ()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s", (SECRET,), None)
    assert redactor.filter(record)
    assert (record.msg, record.args) == ("a %s", (SECRET,))
    redactor.secrets = (SECRET,)
    assert redactor.filter(record)
    assert (record.msg, record.args) == (f"a {MASK}", None)
    logger.info("plain")
    assert stream.getvalue() == "INFO tests.privacy.captured plain\n"
