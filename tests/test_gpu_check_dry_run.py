"""The GPU branch of benchmarks/gpu_check.sh, dry-run on the CPU: its training, comparison, step-count
and summary commands, in subprocesses where ``import cupy`` is the NumPy fake of
tests/test_cupy_backend.py (tests/fake_cupy_site on PYTHONPATH, as ``GPU_CHECK_FAKE_CUPY=1`` does).

A wrong flag, a crash in benchmarks.train_compare or benchmarks.step_counts with the cupy backend, or a
summary that reads a fake run as a GPU result fails here instead of in the rare GPU session."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHIM = REPO / "tests" / "fake_cupy_site"


def _run(args: list[str], env: dict, timeout: float = 240) -> str:
    done = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_gpu_branch_commands_run_on_the_fake_cupy_and_match_numpy(tmp_path, mnist_dir):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LAMINA_BACKEND", "LAMINA_DEVICE", "LAMINA_CUPY_FUSED", "LAMINA_GPU_MEMORY_LIMIT")}
    paths = [SHIM, REPO, REPO / "frontend", REPO / "backend_numpy", REPO / "backend_cupy"]
    env.update(PYTHONPATH=os.pathsep.join(map(str, paths)), LAMINA_DATASETS=str(mnist_dir),
               LAMINA_HOME=str(tmp_path / "home"))
    out = tmp_path / "out"

    # gpu_check.sh (d): W1 from one seed on "cupy" (the fake) and on numpy, then --compare
    for backend in ("cupy", "numpy"):
        _run(["-m", "benchmarks.train_compare", "--impl", "lamina", "--backend", backend, "--epochs", "1",
              "--seed", "1", "--out", str(out)], env)
    cupy_run = json.loads((out / "train-lamina-cupy.json").read_text())
    numpy_run = json.loads((out / "train-lamina-numpy.json").read_text())
    assert "FAKE-CUPY" in cupy_run["device"]  # it really ran on the fake, not on a CuPy found elsewhere
    status = cupy_run["kernel_status"]
    # W1's dropout is drawn inside dense_activation (lamina_dense_forward), never by the dropout op
    assert {"update_many", "dense_activation", "dense_activation_grad", "softmax_grad"} <= set(status), status
    assert all(v == "ok" for v in status.values()), status  # every fused launch passed the signature checks
    assert abs(cupy_run["test_accuracy"] - numpy_run["test_accuracy"]) < 1e-6
    assert cupy_run["test_accuracy"] > 0.85  # one epoch of W1 learns
    _run(["-m", "benchmarks.train_compare", "--compare", str(out / "weights-lamina-cupy.npz"),
          str(out / "weights-lamina-numpy.npz"), "--out", str(out)], env)
    compared = json.loads((out / "weights-compare.json").read_text())
    assert len(compared["per_array"]) == 6  # W1: three Dense layers, kernel and bias each
    assert compared["max_abs_diff"] <= 1e-6, compared  # the fake computes with NumPy: the same weights
    with np.load(out / "weights-lamina-cupy.npz") as a, np.load(out / "weights-lamina-numpy.npz") as b:
        assert all(np.isfinite(a[k]).all() and np.abs(a[k] - b[k]).max() <= 1e-6 for k in a.files)

    # gpu_check.sh (e): step counts on cupy with --profile (PyTorch without CUDA: reported, not a crash)
    counts_path = out / "step_counts.json"
    _run(["-m", "benchmarks.step_counts", "--backend", "cupy", "--steps", "3", "--profile",
          "--json", str(counts_path)], env)
    counts = json.loads(counts_path.read_text())
    assert counts["lamina"]["backend"] == "cupy" and counts["lamina"]["protocol_calls_per_step"] > 10
    assert counts["lamina"]["fit_transfers_per_update"] <= 1.0
    assert "profile" in counts

    # gpu_check.sh (f): the summary, without env.json: the fake's device name alone marks the dry run
    (out / "problems.txt").write_text("")
    summary = _run(["-m", "benchmarks.train_compare", "--summary", str(out)], env)
    assert "DRY RUN" in summary.splitlines()[0]
    result = next(line for line in summary.splitlines() if line.strip().startswith("result"))
    assert "DRY RUN ONLY, NOT A GPU CHECK" in result and "PASSED" not in result, summary
    assert "max |w_cupy - w_numpy|" in summary and "0.000e+00" in summary
    assert "Lamina cupy fused kernels" in summary and "FAILED" not in summary
