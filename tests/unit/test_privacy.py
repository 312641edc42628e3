"""Secrets stay out: redaction of known secrets in log output (exclusion: test_exclusion.py)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codestral_lsp.privacy import MASK, RedactingFilter, redact

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
