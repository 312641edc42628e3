"""Command line: arguments, logging, and starting the server on stdio or TCP."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from codestral_lsp import __version__

logger = logging.getLogger(__name__)

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="codestral-lsp",
        description=(
            "A language server that answers textDocument/inlineCompletion with Codestral "
            "fill-in-the-middle completions. Speaks LSP on stdio unless --tcp is given."
        ),
    )
    parser.add_argument("--version", action="version", version=f"codestral-lsp {__version__}")
    parser.add_argument(
        "--tcp",
        metavar="HOST:PORT",
        type=_host_port,
        help="serve one editor over TCP instead of stdio (e.g. 127.0.0.1:2087)",
    )
    parser.add_argument("--log-file", metavar="PATH", help="also write the log to this file")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log detail: -v requests and timings, -vv prompts and completions",
    )
    return parser.parse_args(argv)


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def setup_logging(verbosity: int, log_file: str | None) -> list[logging.Handler]:
    """Log to stderr (never stdout: it carries the protocol) and optionally to a file."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    root = logging.getLogger()
    root.setLevel(level)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    # pygls logs every message, httpx/httpcore every socket event: only wanted at -vvv.
    for chatty in ("pygls", "httpx", "httpcore", "asyncio"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
    return handlers


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    handlers = setup_logging(args.verbose, args.log_file)

    from codestral_lsp.server import create_server
    from codestral_lsp.transport import LspLogHandler  # pygls import: ~0.4 s

    server = create_server()
    lsp_handler = LspLogHandler(server)
    lsp_handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger().addHandler(lsp_handler)
    for handler in [*handlers, lsp_handler]:
        handler.addFilter(server.redactor)
    if not args.tcp:
        # On stdio, editors file stderr in their LSP log too: say each thing there once.
        handlers[0].addFilter(lambda record: not lsp_handler.delivers(record))
    if args.tcp:
        host, port = args.tcp
        server.start_tcp(host, port)
    else:
        server.start_stdio()
    return 0
