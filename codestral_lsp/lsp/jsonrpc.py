"""Reading LSP frames robustly, and answering malformed messages with JSON-RPC errors.

pygls' own loop drops a request whose params do not parse without answering (the editor's
request hangs), goes deaf for good after one frame without a usable ``Content-Length``, and
shows every malformed message to the user. Here a bad header costs that frame only (the
reader finds the next ``Content-Length``), bad JSON gets -32700, a message that is not a
JSON-RPC object gets -32600, params that do not fit the method's types get -32602 for a
request (a notification is logged and dropped), and only the log hears about any of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from typing import Any

from pygls.exceptions import JsonRpcException
from pygls.protocol import JsonRPCProtocol

logger = logging.getLogger(__name__)

MAX_FRAME = 512 * 1024 * 1024  # a 50 MB document arrives as ~50-300 MB of JSON: room to spare
MAX_HEADER = 8192  # LSP headers are two short lines; more is not a header
_HEADER_END = b"\r\n\r\n"
_LENGTH = re.compile(rb"(?i)content-length[ \t]*:[ \t]*([0-9]{1,12})[ \t]*(?:\r\n|$)")
_READ = 1 << 16
MAX_OPENING = 1 << 20  # an initialize request: capabilities and settings, a few KiB
_OPENING_LINE = re.compile(rb"(?i)content-(?:length|type)[ \t]*:[^\r\n]*")

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602


async def frames(reader: asyncio.StreamReader) -> Any:
    """Yield each frame's body; a frame with no usable length is skipped (logged).

    A header block longer than ``MAX_HEADER`` is not kept: its bytes are dropped until the
    next blank line (the end of some header), so memory stays bounded whatever arrives.
    """
    buffer = bytearray()
    while True:
        end = buffer.find(_HEADER_END)
        skipping = False
        while end < 0:
            if len(buffer) > MAX_HEADER:
                if not skipping:
                    logger.error("dropped a header over %d bytes with no end", MAX_HEADER)
                    yield None  # the caller answers with a parse error
                    skipping = True
                del buffer[: -len(_HEADER_END)]  # what is left may start the blank line
            chunk = await reader.read(_READ)
            if not chunk:
                return
            buffer += chunk
            end = buffer.find(_HEADER_END, max(0, len(buffer) - len(chunk) - 3))
        header = bytes(buffer[:end])
        del buffer[: end + len(_HEADER_END)]
        found = list(_LENGTH.finditer(header))
        length = int(found[-1].group(1)) if found else -1
        if not 0 <= length <= MAX_FRAME:
            logger.error("skipped a frame with no usable Content-Length: %r", header[:200])
            yield None  # the caller answers with a parse error
            continue
        while len(buffer) < length:
            chunk = await reader.read(max(_READ, length - len(buffer)))
            if not chunk:
                return
            buffer += chunk
        body = bytes(buffer[:length])
        del buffer[:length]
        yield body


class NotLsp(Exception):
    """A connection's first bytes are not an LSP ``initialize`` request (an HTTP request?)."""


async def opening(reader: asyncio.StreamReader) -> bytes:
    """The first frame of a connection, held to the letter: an ``initialize`` request.

    Its header has only ``Content-Length`` and ``Content-Type`` lines (an HTTP request line such
    as ``POST / HTTP/1.1`` fails here, before any body is read) within ``MAX_HEADER`` bytes; its
    body is at most ``MAX_OPENING`` bytes of JSON-RPC 2.0 with an id. Raises ``NotLsp``.
    """
    try:
        header = await reader.readuntil(_HEADER_END)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise NotLsp("no LSP header") from None
    lines = header[: -len(_HEADER_END)].split(b"\r\n")
    if len(header) > MAX_HEADER or not all(_OPENING_LINE.fullmatch(line) for line in lines):
        raise NotLsp(f"not an LSP header: {header[:40]!r}")
    found = [int(m.group(1)) for line in lines if (m := _LENGTH.match(line))]
    if len(found) != 1 or found[0] > MAX_OPENING:
        raise NotLsp("no usable Content-Length")
    try:
        body = await reader.readexactly(found[0])
        data = json.loads(body)
    except (asyncio.IncompleteReadError, ValueError, RecursionError):
        raise NotLsp("not a JSON message") from None
    if not (
        isinstance(data, dict)
        and data.get("jsonrpc") == "2.0"
        and data.get("method") == "initialize"
        and isinstance(data.get("id"), (int, str))
    ):
        raise NotLsp("the first message is not an initialize request")
    return body


async def serve(
    reader: asyncio.StreamReader,
    protocol: JsonRPCProtocol,
    stop: threading.Event,
    first: bytes | None = None,
) -> None:
    """The message loop: frames in, messages to pygls' handlers, errors answered here.

    ``first``: a message already read (by ``opening``), handled before the rest.
    """
    if first is not None:
        dispatch(protocol, first)
    async for body in frames(reader):
        if stop.is_set():
            break
        if body is None:
            _error(protocol, None, PARSE_ERROR, "Parse error: missing or bad Content-Length")
            continue
        dispatch(protocol, body)
        # Let a request's handler start before the next message is read, so that it sees the
        # documents as they were when it arrived, not after a didChange sent right behind it.
        await asyncio.sleep(0)


def dispatch(protocol: JsonRPCProtocol, body: bytes) -> None:
    """Check one message's shape, structure it, and hand it to pygls."""
    if not body.strip():
        logger.warning("ignored an empty message")
        return
    try:
        data = json.loads(body)
    except RecursionError:
        logger.error("unreadable message: nested too deep")
        _error(protocol, None, PARSE_ERROR, "Parse error: nested too deep")
        return
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.error("unreadable message: %s", exc)
        _error(protocol, None, PARSE_ERROR, f"Parse error: {exc}")
        return
    if not isinstance(data, dict):
        logger.error("message is not a JSON object: %.200r", data)
        _error(protocol, None, INVALID_REQUEST, "Invalid request: not a JSON-RPC object")
        return
    msg_id = data.get("id")
    if not (msg_id is None or isinstance(msg_id, (str, int))) or isinstance(msg_id, bool):
        _error(protocol, None, INVALID_REQUEST, "Invalid request: bad id")
        return
    method = data.get("method")
    if data.get("jsonrpc") != "2.0" or ("method" in data and not isinstance(method, str)):
        logger.error("not a JSON-RPC 2.0 message: %.200r", data)
        _error(protocol, msg_id, INVALID_REQUEST, "Invalid request: not JSON-RPC 2.0")
        return
    try:
        message = protocol.structure_message(data)
    except (JsonRpcException, RecursionError) as exc:
        reason = _reason(exc) if isinstance(exc, JsonRpcException) else "nested too deep"
        if msg_id is not None and method is not None:
            _error(protocol, msg_id, INVALID_PARAMS, f"Invalid params for {method}: {reason}")
        else:
            logger.error("dropped %s: invalid params: %s", method, reason)
        return
    protocol.handle_message(message)


def _reason(exc: BaseException) -> str:
    """The deepest cause's message: what cattrs found wrong, without the traceback."""
    cause: BaseException = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    exceptions = getattr(cause, "exceptions", None)
    while exceptions:
        cause = exceptions[0]
        exceptions = getattr(cause, "exceptions", None)
    text = str(cause) or type(cause).__name__
    if "line" in text or "character" in text or "uinteger" in text.lower():
        return f"bad position: {text}"
    return text


def _error(protocol: JsonRPCProtocol, msg_id: str | int | None, code: int, message: str) -> None:
    protocol._send_data(  # pygls' own writer, so frames never interleave
        {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}
    )
