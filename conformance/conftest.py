"""pytest plumbing for the conformance suite.

``pytest conformance --backend NAME`` (repeatable) selects the backends; without it every name
in ``lamina.backends.available_backends()`` is tried. A backend that cannot start here
(``BackendUnavailableError`` or ``ImportError``, e.g. CuPy without a GPU) is reported as
skipped with its reason. Test ids read ``test_unary[numpy-exp-float32]``: backend, case, dtype.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lamina import backends

# Backends that exist only to test the suite itself (see _test_backends.py).
TEST_BACKENDS = ("numpy64", "broken")
META_CHILD_ENV = "LAMINA_CONFORMANCE_META_CHILD"

_state: dict = {}
_HERE = Path(__file__).resolve().parent


def _in_suite(path) -> bool:
    """True for files of this suite (the plugin registered below sees the whole session)."""
    try:
        Path(path).resolve().relative_to(_HERE)
        return True
    except ValueError:
        return False


def pytest_addoption(parser):
    group = parser.getgroup("lamina", "Lamina conformance")
    try:
        group.addoption("--backend", action="append", default=[], dest="lamina_backends", metavar="NAME",
                        help="backend to test (repeatable); default: every available backend")
    except ValueError:  # a conftest higher up already defines --backend; read whatever it stores
        pass


def _backend_option(config) -> list[str]:
    value = config.getoption("--backend", default=None)
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


def _requested(config) -> tuple[list[str], bool]:
    names = _backend_option(config)
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
        if "dtype" not in metafunc.fixturenames or not _in_suite(metafunc.definition.path):
            return
        for mark in metafunc.definition.iter_markers("parametrize"):
            names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
            if "dtype" in names:
                return  # the test chose its own dtypes
        metafunc.parametrize("dtype", ["float32", "float64"])


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds; deselect with -m 'not slow'")
    if any(n in TEST_BACKENDS for n in _backend_option(config)):
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
            if _in_suite(item.path) and item.path.name == "test_meta.py":
                item.add_marker(skip)
