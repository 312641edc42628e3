"""Keeping the key out of output: a logging filter that masks the current secrets.

Secret-looking text in what is sent is found by ``redaction``; files never sent, by ``exclusion``.
"""

from __future__ import annotations

import logging
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
