"""The one registry of map layers: every :class:`layers.base.Layer` subclass decorated with :func:`register`.

Layers are discovered from this package: :func:`layers` imports every module of ``layers/`` once (a module that
registers nothing costs nothing), so adding a layer means adding one module. The HTTP API, the page, the callbacks
and the importer ask this registry which layers exist, in :attr:`Layer.order`.

Usage::

    from layers.base import Layer
    from layers.registry import register

    @register
    class StaffLayer(Layer):
        key = "staff"
        ...

    from layers import registry
    registry.get("staff").data(scope, ctx, "en")
"""
from __future__ import annotations

import importlib
import pkgutil
import threading

from layers.base import Layer

_LAYERS: dict[str, Layer] = {}
_lock = threading.RLock()
_discovered = False
#: modules of the package that are helpers, not layers (never imported by discovery for nothing)
_SKIP = frozenset({"base", "registry"})


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: register one instance of ``cls`` under ``cls.key``.

    Raises:
        ValueError: no key, or another class already registered that key.
    """
    if not cls.key:
        raise ValueError(f"{cls.__name__}: a layer needs a key")
    with _lock:
        prev = _LAYERS.get(cls.key)
        if prev is not None and type(prev).__qualname__ != cls.__qualname__:
            raise ValueError(f"layer key {cls.key!r} registered twice ({type(prev).__name__}, {cls.__name__})")
        _LAYERS[cls.key] = cls()
    return cls


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    with _lock:
        if _discovered:
            return
        import layers as pkg  # noqa: PLC0415

        for mod in pkgutil.iter_modules(pkg.__path__):
            if mod.name not in _SKIP and not mod.name.startswith("_"):
                importlib.import_module(f"layers.{mod.name}")
        _discovered = True


def layers() -> list[Layer]:
    """Every registered layer, in :attr:`Layer.order` (then key)."""
    _discover()
    return sorted(_LAYERS.values(), key=lambda layer: (layer.order, layer.key))


def get(key: str) -> Layer:
    """The layer ``key``. Raises: KeyError (unknown key)."""
    _discover()
    return _LAYERS[key]


def controlled() -> list[Layer]:
    """Layers with a row in the layer control."""
    return [layer for layer in layers() if layer.control]


def drawn() -> list[Layer]:
    """Layers whose component the registry draws (they have a ``pane``)."""
    return [layer for layer in layers() if layer.pane]


def live() -> list[Layer]:
    """Drawn layers that reload on live events (:attr:`Layer.live_events`)."""
    return [layer for layer in drawn() if layer.live_events]


def live_events() -> list[str]:
    """The Socket.IO events some drawn layer reloads on, each once, in layer order (the page listens to them)."""
    return list(dict.fromkeys(ev for layer in live() for ev in layer.live_events))


def by_api_key(name: str) -> Layer:
    """The layer served at ``/api/layers/<name>``. Raises: KeyError."""
    for layer in layers():
        if layer.api_key == name:
            return layer
    raise KeyError(name)


def api_keys() -> list[str]:
    """Names served under ``/api/layers/``."""
    return [layer.api_key for layer in layers() if layer.api_key]


def importable() -> list[Layer]:
    """Layers with a file import, in order."""
    return [layer for layer in layers() if layer.import_spec is not None]


def by_import_key(name: str) -> Layer:
    """The layer whose import is named ``name`` (its ``import_spec.key``, e.g. ``enterprises``). Raises: KeyError."""
    for layer in importable():
        if layer.import_spec.key == name:
            return layer
    raise KeyError(name)


def by_click_kind(kind: str) -> Layer | None:
    """The layer whose features open the feature panel as ``kind`` (``place`` covers ``park`` and ``building``)."""
    for layer in layers():
        if layer.click_kind == kind or (layer.click_kind == "place" and kind in ("park", "building")):
            return layer
    return None
