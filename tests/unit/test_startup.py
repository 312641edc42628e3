"""Startup: what building the server imports, and the deferred imports that keep it short."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

from codestral_lsp import lazy
from codestral_lsp.backends.client import FimClient

# Not needed to answer initialize; each costs tens of milliseconds to import (or to set up).
DEFERRED = ("httpx", "httpx_sse", "statistics", "pathspec", "email.utils", "decimal")

_PROBE = """
import json, sys, types
from codestral_lsp.lsp.server import create_server
server = create_server()
loaded = [n for n in {names} if type(sys.modules.get(n)) is types.ModuleType]
print(json.dumps({{"loaded": loaded, "pool": getattr(server.client, "_pool", "?") is not None}}))
"""


def test_building_the_server_imports_nothing_it_does_not_need_yet() -> None:
    probe = _PROBE.format(names=repr(DEFERRED))
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    found = json.loads(done.stdout)
    assert found == {"loaded": [], "pool": False}


def test_a_lazy_module_runs_at_its_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    deferred = lazy.module("colorsys")
    assert sys.modules["colorsys"] is deferred
    assert type(deferred) is not types.ModuleType  # not executed yet
    assert deferred.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert type(deferred) is types.ModuleType


def test_a_module_already_imported_is_returned_as_it_is() -> None:
    assert lazy.module("json") is json


def test_a_lazy_submodule_is_reachable_from_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import xml.dom

    monkeypatch.delitem(sys.modules, "xml.dom.minidom", raising=False)
    monkeypatch.delattr(xml.dom, "minidom", raising=False)
    deferred = lazy.module("xml.dom.minidom")
    assert xml.dom.minidom is deferred  # type: ignore[attr-defined]
    assert deferred.parseString("<a/>").documentElement.tagName == "a"


def test_a_missing_module_is_an_import_error() -> None:
    with pytest.raises(ModuleNotFoundError, match="no_such_module_here"):
        lazy.module("no_such_module_here")


async def test_the_pool_is_made_on_first_use_and_only_then_closed() -> None:
    client = FimClient()
    assert client.open_connections == 0
    await client.aclose()  # nothing to close: makes no pool on the way
    assert client._pool is None
    fresh = FimClient()
    assert fresh._client is fresh._client  # made once
    await fresh.aclose()
    assert fresh._client.is_closed
