"""Command line: arguments, logging, and starting the server on stdio or TCP; doctor, complete."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codestral_lsp import __version__, lazy
from codestral_lsp.backends import PROVIDERS

if TYPE_CHECKING:
    import asyncio
    import ipaddress
    import socket

    from codestral_lsp.lsp.server import CodestralServer
else:  # --version and --help need none of them; the server imports asyncio with pygls
    asyncio = lazy.module("asyncio")
    ipaddress = lazy.module("ipaddress")
    socket = lazy.module("socket")

logger = logging.getLogger(__name__)

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_MAIN_EPILOG = """\
examples:
  codestral-lsp                          the server on stdio (what your editor runs)
  codestral-lsp doctor                   is my key, endpoint and model right?
  codestral-lsp complete app.py:12:5     what would the server suggest there?

Run `codestral-lsp COMMAND --help` for a command's options, examples and exit codes.
"""

_SETTINGS_NOTE = """\
Settings are read exactly as the server reads them, lowest first: defaults; the TOML file
($CODESTRAL_LSP_CONFIG, else ~/.config/codestral-lsp/config.toml); --settings (what your editor
passes as initializationOptions); then --endpoint, --model, --provider. The key comes from the
apiKey setting, else the provider's variable: CODESTRAL_API_KEY (codestral), MISTRAL_API_KEY
(mistral) or LANGDOCK_API_KEY (langdock). A Codestral key gets 401 on api.mistral.ai and the
reverse.
"""

_DOCTOR_EPILOG = (
    _SETTINGS_NOTE
    + """
examples:
  codestral-lsp doctor
  codestral-lsp doctor --provider mistral         # a La Plateforme key, in MISTRAL_API_KEY
  codestral-lsp doctor --settings '{"model": "codestral-2508", "stop": ["\\n\\n"]}'
  codestral-lsp doctor --settings @editor-settings.json

exit codes:
  0  the endpoint answered (warnings about settings are allowed)
  1  a problem was found; each comes with its fix
  2  bad arguments
"""
)

_COMPLETE_EPILOG = (
    """\
LINE and COL are 1-based, as editors show them; COL counts characters, so an accented letter,
a CJK character or an emoji is one column. The suggestion goes through the server's own
pipeline (context window, request, secret redaction, shaping) with no cache and no other files
as context. stdout holds the suggestion only (plus a final newline); messages go to stderr.

"""
    + _SETTINGS_NOTE
    + """
examples:
  codestral-lsp complete src/app.py:12:5
  codestral-lsp complete --json src/app.py:12:5 | jq .text
  codestral-lsp complete -vv --model codestral-2508 main.go:40:1   # log prompt and answer

exit codes:
  0  a suggestion was printed
  1  the backend failed, or no key (the message and its fix on stderr)
  2  bad arguments: FILE:LINE:COL malformed, the file unreadable or not UTF-8, no such place
  3  nothing to show here: the model's answer was empty after shaping, or the file is
     excluded (exclude, secret files, .gitignore) and nothing was sent
"""
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="codestral-lsp",
        description=(
            "A language server that answers textDocument/inlineCompletion with Codestral\n"
            "fill-in-the-middle completions. Speaks LSP on stdio unless --tcp or --socket\n"
            "is given."
        ),
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"codestral-lsp {__version__}")
    listen = parser.add_mutually_exclusive_group()
    listen.add_argument(
        "--tcp",
        metavar="HOST:PORT",
        type=_host_port,
        help="serve one editor over TCP instead of stdio (e.g. 127.0.0.1:2087); loopback "
        "addresses only, unless --allow-remote",
    )
    listen.add_argument(
        "--socket",
        metavar="PATH",
        help="serve one editor on a unix socket at PATH, owner-only (0600): unlike TCP, no "
        "other user or web page can reach it",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="let --tcp listen on a non-loopback address (0.0.0.0, a LAN address): whoever "
        "reaches it first gets completions paid with your key. Prefer an SSH tunnel",
    )
    parser.add_argument("--log-file", metavar="PATH", help="also write the log to this file")
    _verbose(parser, default=0)
    commands = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        title="commands",
        description="without a command, the language server starts",
    )
    doctor = commands.add_parser(
        "doctor",
        help="check settings, key and endpoint with one tiny request",
        description=(
            "Show every setting with the source it came from (the key only as set or not\n"
            "set), then send one tiny fill-in-the-middle request and show its latency, token\n"
            "usage and rate-limit headers. Each problem found is printed with its fix."
        ),
        epilog=_DOCTOR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(doctor)
    complete = commands.add_parser(
        "complete",
        help="print the suggestion the server would show at FILE:LINE:COL",
        description="Print the suggestion the server would show at a place in a file.",
        epilog=_COMPLETE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    complete.add_argument(
        "target", metavar="FILE:LINE:COL", help="the place, e.g. src/app.py:12:5 (1-based)"
    )
    complete.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: text, range (0-based, UTF-16 as in LSP), replace, "
        "raw model text, prompt/suffix sizes, timings, usage, model, finish_reason",
    )
    _common(complete)
    args = parser.parse_args(argv)
    if args.command and (args.tcp or args.socket):
        parser.error(f"--tcp and --socket start the server; not with '{args.command}'")
    if args.tcp and not args.allow_remote and not _loopback(args.tcp[0]):
        parser.error(
            f"--tcp {args.tcp[0]} listens beyond this machine: anyone who can reach it could use "
            "your key. Use 127.0.0.1 (or --socket), or add --allow-remote if you mean it"
        )
    return args


def _loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address (unresolvable: no)."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in found}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses
    )


def _verbose(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="more log detail: -v requests and timings, -vv prompts and completions",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    """Options of the terminal commands: what to check, and as which editor settings."""
    parser.add_argument(
        "--provider",
        choices=sorted(PROVIDERS),
        help="the service your key belongs to (picks the URL and the key's variable)",
    )
    parser.add_argument(
        "--endpoint", metavar="URL", help="a full FIM URL, overriding the provider's (gateways)"
    )
    parser.add_argument("--model", help="the model to ask, e.g. codestral-latest, codestral-2508")
    parser.add_argument(
        "--settings",
        metavar="JSON",
        type=_json_object,
        help="settings as your editor passes them (initializationOptions): a JSON object, or "
        "@FILE to read it from a file",
    )
    # SUPPRESS: a -v before the command (codestral-lsp -v doctor) is not reset to 0 here.
    _verbose(parser, default=argparse.SUPPRESS)


def _json_object(value: str) -> dict[str, Any]:
    try:
        text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
        data = json.loads(text)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {value[1:]}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, e.g. \'{"model": "x"}\'')
    return data


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
    if args.command:
        return run_command(args)

    server = _built_server()
    from codestral_lsp.lsp.transport import LspLogHandler

    lsp_handler = LspLogHandler(server)
    lsp_handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger().addHandler(lsp_handler)
    for handler in [*handlers, lsp_handler]:
        handler.addFilter(server.redactor)
    if not args.tcp and not args.socket:
        # On stdio, editors file stderr in their LSP log too: say each thing there once.
        handlers[0].addFilter(lambda record: not lsp_handler.delivers(record))
    if not args.tcp and not args.socket:
        server.start_stdio()
        return 0
    where = args.socket or "{}:{}".format(*args.tcp)
    if args.tcp and args.allow_remote and not _loopback(args.tcp[0]):
        logger.warning(
            "--allow-remote: listening on %s, reachable from other machines; the first to "
            "connect gets completions paid with your key",
            where,
        )
    try:
        if args.socket:
            server.start_socket(args.socket)
        else:
            # Whoever connects first is the client: its settings may not point the key at a
            # host of its choosing (unless it brings its own key). The settings file and the
            # environment decide where the key goes.
            server.settings_layers.pin_destination()
            server.start_tcp(*args.tcp)
    except OSError as exc:
        logger.error("cannot listen on %s: %s", where, exc.strerror or exc)
        return 1
    return 0


def _built_server() -> CodestralServer:
    """The server, imported and built with the garbage collector off, then its objects frozen.

    Importing pygls, lsprotocol and the server makes some 100,000 objects that live as long as
    the process: the ~140 collections they set off during startup free almost nothing, and
    every full collection later would walk them all again.
    """
    gc.disable()
    try:
        from codestral_lsp.lsp.server import create_server  # pygls import: ~0.4 s

        server = create_server()
    finally:
        gc.freeze()
        gc.enable()
    return server


def run_command(args: argparse.Namespace) -> int:
    """``doctor`` or ``complete``: a terminal command, output on stdout."""
    overrides = {
        key: value
        for key, value in (
            ("provider", args.provider),
            ("endpoint", args.endpoint),
            ("model", args.model),
        )
        if value is not None
    }
    if args.command == "doctor":
        from codestral_lsp.commands.doctor import run_doctor

        return asyncio.run(run_doctor(overrides, args.settings, os.environ, sys.stdout))
    from codestral_lsp.commands.complete import run_complete

    work = run_complete(args.target, args.json, overrides, args.settings, os.environ, sys.stdout)
    return asyncio.run(work)
