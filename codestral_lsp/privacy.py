"""Keeping secrets out: redaction of known secrets in logs and of secret-looking text sent."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

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
