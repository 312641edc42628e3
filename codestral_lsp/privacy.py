"""Keeping secrets out: redaction of known secrets in output, and files never sent anywhere."""

from __future__ import annotations

import fnmatch
import json
import logging
import re
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
    can format the secret back in. Whatever the known secrets, the value of any ``apiKey`` and
    a password in a URL are masked too: a library may log a client's raw settings before the
    server has read them (pygls logs the whole ``initialize`` request at -vvv).
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _mask_known_forms(redact(message, _spellings(self.secrets)))
        if self.secrets or masked != message:
            record.msg = masked
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _mask_known_forms(redact(record.exc_text, _spellings(self.secrets)))
        return True


def _spellings(secrets: Iterable[str]) -> list[str]:
    """Each secret as it is, and as ``repr`` and JSON write it (a newline as ``\\n``)."""
    found = []
    for secret in secrets:
        found += [secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]]
    return sorted(set(found), key=len, reverse=True)


# 'apiKey': '...' (repr), "apiKey": "..." (JSON), apiKey=... ; a string cut short (%.200r) too.
_KEY_VALUE = re.compile(
    r"""(?i)((?:['"])?api_?key(?:['"])?\s*[:=]\s*)(?:(['"])(?:\\.|(?!\2)[^\\])*(?:\2|$)|(?!<)[^\s,}'"]+)"""
)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]*@")


def _mask_known_forms(text: str) -> str:
    text = _KEY_VALUE.sub(rf"\1{MASK}", text)
    return _URL_PASSWORD.sub(rf"\1{MASK}@", text)


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


_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Private key blocks, also when the window cuts them before their END line.
    re.compile(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?"
        r"(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)"
    ),
    re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}"),  # OpenAI, Mistral-style, Anthropic
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),  # Stripe
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{22,}"),  # GitHub
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"),  # Google API keys
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),  # JWTs
)
# NAME=value where the name says key/token/secret/password and the value is long: the value
# goes, the name and quotes stay (the model still sees what kind of line it is). Unquoted
# values only in env/ini/yaml form (NAME=value, "name: value" at a line start), so code such
# as ``token = settings.token`` is left alone.
_NAME = r"[A-Za-z0-9_.\-]*(?i:key|token|secret|password|passwd|pwd|credentials?)[A-Za-z0-9_]*"
_QUOTED_SECRET = re.compile(rf"\b({_NAME}['\"]?\s*[:=]\s*)(['\"])([^'\"\n]{{8,}})\2")
_BARE_SECRET = re.compile(
    rf"(?m)(^\s*(?:export\s+)?{_NAME}(?:=|:[ \t]+)|\b{_NAME}=)([^\s'\"]{{12,}})"
)


def redact_secrets(text: str) -> str:
    """``text`` with what looks like a secret replaced by ``<redacted>``: O(len(text))."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(MASK, text)
    text = _QUOTED_SECRET.sub(rf"\1\2{MASK}\2", text)
    return _BARE_SECRET.sub(rf"\1{MASK}", text)


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
