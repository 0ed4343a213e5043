"""pytest plumbing for the conformance suite.

``pytest conformance --backend NAME`` (repeatable) selects the backends; without it every name
in ``lamina.backends.available_backends()`` is tried. A backend that cannot start here
(``BackendUnavailableError`` or ``ImportError``, e.g. CuPy without a GPU) is reported as
skipped with its reason. Test ids read ``test_unary[numpy-exp-float32]``: backend, case, dtype.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from lamina import backends

# Backends that exist only to test the suite itself (see _test_backends.py).
TEST_BACKENDS = ("numpy64", "broken")
META_CHILD_ENV = "LAMINA_CONFORMANCE_META_CHILD"

_state: dict = {}


def pytest_addoption(parser):
    group = parser.getgroup("lamina", "Lamina conformance")
    group.addoption("--backend", action="append", default=[], dest="lamina_backends", metavar="NAME",
                    help="backend to test (repeatable); default: every available backend")


def _requested(config) -> tuple[list[str], bool]:
    names = list(config.getoption("lamina_backends", default=None) or [])
    if names:
        return list(dict.fromkeys(names)), True
    return backends.available_backends(), False


def _resolve(config) -> dict:
    """name -> ("ok", backend) | ("skip", reason); created once per session."""
    if "resolved" in _state:
        return _state["resolved"]
    names, explicit = _requested(config)
    resolved: dict = {}
    for name in names:
        try:
            resolved[name] = ("ok", backends.get_backend(name))
        except (backends.BackendUnavailableError, ImportError) as exc:
            resolved[name] = ("skip", f"backend {name!r} is unavailable here: {exc}")
        except Exception as exc:
            if explicit:
                raise pytest.UsageError(
                    f"--backend {name}: creating the backend failed with "
                    f"{type(exc).__name__}: {exc}") from None
            # Not asked for by name: report it, but let the backends that work be tested.
            resolved[name] = ("skip", f"backend {name!r} could not be created "
                                      f"({type(exc).__name__}: {exc})")
    _state["resolved"] = resolved
    return resolved


class _DtypeParametrization:
    """Adds the ``dtype`` parameter last, so ids read backend-case-dtype."""

    @pytest.hookimpl(trylast=True)
    def pytest_generate_tests(self, metafunc):
        if "dtype" in metafunc.fixturenames:
            metafunc.parametrize("dtype", ["float32", "float64"])


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds; deselect with -m 'not slow'")
    names = config.getoption("lamina_backends", default=None) or []
    if any(n in TEST_BACKENDS for n in names):
        from ._test_backends import register_test_backends
        register_test_backends()
    if not config.pluginmanager.has_plugin("lamina-conformance-dtype"):
        config.pluginmanager.register(_DtypeParametrization(), "lamina-conformance-dtype")


def pytest_sessionstart(session):
    _resolve(session.config)  # a bad --backend stops here with one clear line


def pytest_report_header(config):
    lines = []
    for name, (status, value) in _resolve(config).items():
        if status == "ok":
            lines.append(f"lamina backend {name}: {value.device_description()}")
        else:
            lines.append(f"lamina backend {name}: SKIPPED — {value}")
    return lines


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        params = []
        for name, (status, value) in _resolve(metafunc.config).items():
            marks = [pytest.mark.skip(reason=value)] if status == "skip" else []
            params.append(pytest.param(name, marks=marks, id=name))
        metafunc.parametrize("backend", params, indirect=True)


@pytest.fixture
def backend(request):
    """The backend under test, made the active one (``lamina.ops`` uses it) for this test."""
    name = request.param
    status, be = _resolve(request.config)[name]
    assert status == "ok"
    try:
        previous = backends.current().name
    except Exception:
        previous = None
    backends.set_backend(name)
    try:
        yield be
    finally:
        if previous is not None:
            try:
                backends.set_backend(previous)
            except Exception:
                pass


@pytest.fixture
def numpy_backend():
    """The NumPy backend, the reference the others are compared with."""
    return backends.get_backend("numpy")


@pytest.fixture
def quiet_numpy():
    """Special values (inf, nan, log 0) are intended in some tests: no NumPy warnings."""
    with np.errstate(all="ignore"):
        yield


def pytest_collection_modifyitems(config, items):
    if os.environ.get(META_CHILD_ENV):
        skip = pytest.mark.skip(reason="meta-tests do not run inside the meta-test's own child run")
        for item in items:
            if item.module.__name__.endswith("test_meta"):
                item.add_marker(skip)
