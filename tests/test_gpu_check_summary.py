"""benchmarks.train_compare's summary, the last table of benchmarks/gpu_check.sh: a fused CUDA
kernel that fell back to the generic code is named and fails the check (training still works then,
so nothing else would show it)."""
from __future__ import annotations

import json

from benchmarks import train_compare


def _run(tmp_path, capsys, status):
    (tmp_path / "train-lamina-cupy.json").write_text(json.dumps({
        "seconds_per_epoch": [0.5, 0.4], "median_s_per_epoch": 0.45, "test_accuracy": 0.91, "epochs": 2,
        "kernel_status": status}))
    (tmp_path / "problems.txt").write_text("")
    assert train_compare.summary(tmp_path) == 0
    return capsys.readouterr().out


def test_all_fused_kernels_ok_passes(tmp_path, capsys):
    out = _run(tmp_path, capsys, {"update_many": "ok", "dropout_mask": "ok"})
    assert "ok: dropout_mask, update_many" in out and out.rstrip().endswith("PASSED")


def test_a_failed_fused_kernel_is_named_and_fails_the_check(tmp_path, capsys):
    out = _run(tmp_path, capsys, {"update_many": "failed: CompileException: bad", "sigmoid": "ok"})
    assert "FAILED: update_many (failed: CompileException: bad)" in out
    assert "NOT PASSED: fused CUDA kernel(s) fell back: update_many" in out


def test_kernel_summary_without_any_kernel():
    assert train_compare._kernel_summary({}) == "ok: none"
