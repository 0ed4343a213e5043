"""``lamina.backends``: the backend protocol, its shared base class and the registry.

The active backend is chosen once per process: ``LAMINA_BACKEND``, else ``"backend"`` in
``$LAMINA_HOME/lamina.json``, else ``numpy``. Backends are found by name among the built-ins,
those registered in-process with :func:`register_backend`, and the entry-point group
``lamina.backends`` (each entry point names a class or factory returning a backend object).
"""
from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any, Callable

from .. import _config
from .base import ArrayBackend
from .protocol import Backend

__all__ = ["Backend", "ArrayBackend", "get_backend", "current", "set_backend",
           "register_backend", "available_backends", "BackendUnavailableError"]


class BackendUnavailableError(RuntimeError):
    """The requested backend exists but cannot run here (e.g. CuPy without a GPU)."""


_BUILTINS = {"numpy": "lamina_numpy:NumpyBackend", "cupy": "lamina_cupy:CupyBackend"}
_registered: dict[str, Callable[[], Any]] = {}
_instances: dict[str, Any] = {}
_active: Any = None


def register_backend(name: str, factory: Callable[[], Any]) -> None:
    """Make ``factory()`` available as backend ``name`` in this process (plugins without packaging)."""
    _registered[name] = factory
    _instances.pop(name, None)


def _entry_points() -> dict[str, Any]:
    try:
        return {ep.name: ep for ep in metadata.entry_points(group="lamina.backends")}
    except Exception:  # a broken distribution elsewhere must not stop Lamina from starting
        return {}


def available_backends() -> list[str]:
    """Every backend name known here (it may still fail to start, e.g. CuPy without a GPU)."""
    return sorted(set(_BUILTINS) | set(_registered) | set(_entry_points()))


def _load_target(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def get_backend(name: str) -> Any:
    """The backend object called ``name`` (created once, then cached)."""
    if name in _instances:
        return _instances[name]
    if name in _registered:
        factory = _registered[name]
    elif name in _BUILTINS:
        factory = _load_target(_BUILTINS[name])
    else:
        eps = _entry_points()
        if name not in eps:
            raise ValueError(
                f"Unknown Lamina backend {name!r}; available backends are "
                f"{', '.join(available_backends())}. Set LAMINA_BACKEND to one of them."
            )
        factory = eps[name].load()
    backend = factory()
    missing = [m for m in ("name", "asarray", "matmul", "to_numpy") if not hasattr(backend, m)]
    if missing:
        raise TypeError(f"Backend {name!r} does not implement the protocol (missing {', '.join(missing)}).")
    _instances[name] = backend
    return backend


def current() -> Any:
    """The active backend (chosen from the environment and config on first use)."""
    global _active
    if _active is None:
        _active = get_backend(_config.requested_backend())
    return _active


def set_backend(name: str) -> Any:
    """Switch the active backend for this process (tests and benchmarks use this)."""
    global _active
    _active = get_backend(name)
    return _active
