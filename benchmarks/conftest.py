"""Fixtures for the pytest-benchmark suites (``pytest benchmarks``; not part of the normal test run).

``backend`` is parametrized over every Lamina backend name known here; one that cannot start (CuPy
without a GPU) is skipped with the backend's own sentence. Each benchmarked callable ends with
``backend.synchronize()`` so that GPU timings are of finished work.
"""
from __future__ import annotations

import pytest

try:
    from lamina.backends import available_backends
    _NAMES = available_backends()
except Exception:  # pragma: no cover - lamina not importable: the modules skip themselves
    _NAMES = ["numpy"]


@pytest.fixture(params=_NAMES)
def backend(request):
    from lamina import backends
    from lamina.backends import BackendUnavailableError

    try:
        be = backends.get_backend(request.param)
    except (BackendUnavailableError, ImportError) as exc:
        pytest.skip(f"backend {request.param!r} is not usable here: {str(exc).splitlines()[0]}")
    previous = backends._active
    backends.set_backend(request.param)
    yield be
    backends._active = previous


@pytest.fixture
def mnist_batch():
    """One W1 batch (200 MNIST images, one-hot labels), or random data of that shape without MNIST."""
    from benchmarks import data

    d = data.load() if data.find_mnist() else data.load(synthetic=True)
    return d["x_train"][:200].copy(), data.one_hot(d["y_train"][:200]), d["source"]


def pytest_collection_modifyitems(config, items):
    """Without the pytest-benchmark plugin (not installed, or ``-p no:benchmark``) skip, not error."""
    if config.pluginmanager.hasplugin("benchmark"):
        return
    skip = pytest.mark.skip(reason="pytest-benchmark is not installed or is disabled "
                                   "(pip install -e '.[bench]')")
    here = str(__import__("pathlib").Path(__file__).parent)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(skip)
