"""Imports deferred to first use, for what answering ``initialize`` does not need.

``module("httpx")`` is the module, loaded by the standard library's ``importlib.util.LazyLoader``
when an attribute of it is first read: the import costs nothing until then. Modules that use one
keep the ordinary import for type checking, so types stay exact::

    if TYPE_CHECKING:
        import httpx
    else:
        httpx = lazy.module("httpx")

Only for pure-Python modules (LazyLoader cannot defer an extension module's creation), touched
from one thread (before Python 3.12 the first touch is not thread-safe).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def module(name: str) -> ModuleType:
    """``name``, executed when first used; as it is if it was imported already."""
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    deferred = importlib.util.module_from_spec(spec)
    sys.modules[name] = deferred
    loader.exec_module(deferred)
    parent, _, child = name.rpartition(".")
    if parent:  # as an import would: ``email.utils`` is reachable from ``email``
        setattr(sys.modules[parent], child, deferred)
    return deferred
