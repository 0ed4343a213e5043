"""Python side of the caching allocator for NumPy array data (``lamina_numpy._pool``).

A training step allocates the same array sizes every time; with the pool installed NumPy takes
them from a cache of freed blocks instead of the system, so steady-state steps allocate no new
buffers (``pool_stats()["misses"]`` stops growing). The pool is optional: where the extension was
not built (no C++ compiler or NumPy headers at install time) or ``LAMINA_NUMPY_POOL=0`` switches it
off, every function here is a harmless no-op and NumPy's own allocator serves.

``LAMINA_NUMPY_POOL_MB`` sets the most memory the cache may keep (default 256 MiB).
"""
from __future__ import annotations

import contextlib
import importlib
import os
import threading
import warnings
from typing import Iterator

__all__ = ["pool_available", "memory_scope", "pool_stats", "release_memory"]


def _load_pool():
    """The compiled pool, or None when it is not built or is switched off."""
    if os.environ.get("LAMINA_NUMPY_POOL", "1") == "0":
        return None
    try:
        # import_module, not `from . import _pool`: while the package is still importing, the latter
        # turns a missing module into a "circular import" ImportError, which warned on every import
        # of an install without the compiled pool
        pool = importlib.import_module(f"{__package__}._pool")
    except ModuleNotFoundError:  # not built here: NumPy's allocator serves
        return None
    except ImportError as exc:  # built but unusable (e.g. a NumPy older than 1.22): say so once
        warnings.warn(f"lamina_numpy._pool could not be loaded ({exc}); NumPy's allocator is used",
                      RuntimeWarning, stacklevel=2)
        return None
    return pool


_pool = _load_pool()


def pool_available() -> bool:
    """Whether ``memory_scope()`` really installs the pool (built and not switched off)."""
    return _pool is not None


_open = threading.local()  # per thread: how many scopes are open


@contextlib.contextmanager
def memory_scope(release: bool = False) -> Iterator[None]:
    """Allocate NumPy array data from the pool inside the ``with`` block.

    NumPy keeps its allocator in a context variable, so this affects the current thread (and
    context) only, and scopes nest: each one puts back the allocator it found. Arrays made inside
    stay valid after the scope ends; freed while a scope is open (in any thread) their memory goes
    to the cache, otherwise back to the system.
    ``release=True``: when this is the thread's outermost scope, the cached blocks go back to the
    system when it ends (``fit``, ``evaluate``, ``predict``; ``train_on_batch`` keeps the cache warm
    for the next call, and a ``predict`` inside ``predict_on_batch`` releases nothing). Blocks
    freed while no scope is open anywhere go straight back to the system.
    """
    if _pool is None:
        yield
        return
    depth = getattr(_open, "depth", 0) + 1
    _open.depth = depth
    token = _pool.install()
    try:
        yield
    finally:
        _pool.restore(token)
        _open.depth = depth - 1
        if release and depth == 1:
            _pool.release()


def pool_stats() -> dict[str, int]:
    """The pool's counters (hits, misses, small, cached_bytes, in_use_bytes, cap_bytes, ...),
    or an empty dict when the pool is not available, so callers need not check first."""
    return {} if _pool is None else _pool.stats()


def release_memory() -> int:
    """Return every cached block to the system (e.g. after training); the bytes freed. Arrays in
    use are not touched."""
    return 0 if _pool is None else _pool.release()
