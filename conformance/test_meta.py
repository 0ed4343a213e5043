"""The suite tests itself: it must fail on a backend with one wrong op (and say which), pass on
a correct plugin backend, and reject an unknown backend name with a usage error.

Each check runs the suite in a child ``python -m pytest`` (the meta-tests skip themselves
there). Together they take a few seconds.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import lamina
import lamina_numpy

from .conftest import META_CHILD_ENV

ROOT = Path(__file__).resolve().parent.parent


def run_suite(*args: str, timeout: float = 120) -> tuple[int, str]:
    env = dict(os.environ)
    env[META_CHILD_ENV] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    # The child must import the same lamina the parent is testing.
    paths = [str(Path(m.__file__).resolve().parent.parent) for m in (lamina, lamina_numpy)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable, "-m", "pytest", "conformance", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def _counts(output: str) -> dict[str, int]:
    return {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|error|errors|skipped|xfailed)", output)}


def test_broken_backend_fails_and_names_the_op():
    rc, out = run_suite("--backend", "broken", "-q", "-x", "-p", "no:cacheprovider")
    assert rc == 1, f"the suite must fail on the 'broken' backend (exit 1), got exit {rc}:\n{out[-3000:]}"
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert failed, f"no FAILED line in the report:\n{out[-3000:]}"
    assert all("softmax" in line and "[broken-" in line for line in failed), \
        "the failure must name the broken op (softmax) and the backend:\n" + "\n".join(failed)
    assert "non-finite" in out or "outside tolerance" in out, "the report must say what was wrong"


def test_float64_plugin_backend_passes():
    rc, out = run_suite("--backend", "numpy64", "-q", "-p", "no:cacheprovider",
                        "-k", "unary or binary or reduction or softmax or matmul or random or update or gradient")
    counts = _counts(out)
    assert rc == 0, f"the suite must pass on the numpy64 plugin backend, got exit {rc}:\n{out[-3000:]}"
    assert counts.get("passed", 0) >= 200 and not counts.get("failed"), f"too few tests ran: {counts}"


def test_unknown_backend_is_a_usage_error():
    rc, out = run_suite("--backend", "no-such-backend", "-q", "-p", "no:cacheprovider")
    assert rc == 4, f"an unknown --backend must stop with a usage error (exit 4), got {rc}:\n{out[-2000:]}"
    assert "no-such-backend" in out and "available backends" in out
