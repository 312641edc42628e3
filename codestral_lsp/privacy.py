"""Keeping the key out of output: a logging filter that masks the current secrets.

Secret-looking text in what is sent is found by ``redaction``; files never sent, by ``exclusion``.
"""

from __future__ import annotations

import json
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
