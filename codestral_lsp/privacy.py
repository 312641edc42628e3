"""Keeping secrets out: redaction of known secrets in output, and files never sent anywhere."""

from __future__ import annotations

import fnmatch
import logging
import subprocess
from collections.abc import Iterable
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

MASK = "<redacted>"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by a mask."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks the current secrets in every record it lets through.

    The record is formatted once here (``getMessage``) and its arguments dropped, so no handler
    can format the secret back in.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.msg = redact(message, self.secrets)
            record.args = None
            if record.exc_text:
                record.exc_text = redact(record.exc_text, self.secrets)
        return True


# Files that hold secrets: never completed, never read for context.
DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    "*.kdbx",
    "secrets.*",
    "secret.*",
    "credentials*",
    ".aws/*",
    ".ssh/*",
    ".gnupg/*",
    ".docker/config.json",
    "*.tfvars",
    "*.tfstate",
)


def is_excluded(uri: str, patterns: Iterable[str]) -> bool:
    """Whether the file at ``uri`` matches a pattern (by its name, or its path's tail)."""
    path = PurePosixPath(unquote(urlparse(uri).path))
    for pattern in patterns:
        if "/" in pattern:
            depth = pattern.count("/") + 1
            tail = "/".join(path.parts[-depth:])
            if fnmatch.fnmatchcase(tail, pattern) or fnmatch.fnmatchcase(str(path), pattern):
                return True
        elif fnmatch.fnmatchcase(path.name, pattern):
            return True
    return False


def git_ignored(uri: str) -> bool:
    """Whether git ignores the file at ``uri`` (False outside a repository or without git)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return False
    path = PurePosixPath(unquote(parsed.path))
    try:
        done = subprocess.run(
            ["git", "-C", str(path.parent), "check-ignore", "-q", "--", path.name],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
