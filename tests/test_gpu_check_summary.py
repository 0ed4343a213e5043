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


def _graph_check(same_weights, same_logs=True, failed=()):
    return {"median_graphs": 0.135, "median_no_graphs": 0.324, "graphs_over_no_graphs": 0.135 / 0.324,
            "graph_launches": 294, "graphs_failed": list(failed), "same_weights": same_weights,
            "same_logs": same_logs}


def test_each_networks_graph_check_is_listed_and_a_difference_fails_the_check(tmp_path, capsys):
    """gpu_check.sh's CUDA graph probes (W1, then the cnn and lstm networks while time is left): each
    that ran gets its rows; one whose weights or history differ with graphs fails the check."""
    (tmp_path / "cuda_graph.json").write_text(json.dumps(_graph_check(True)))
    (tmp_path / "cuda_graph_lstm.json").write_text(json.dumps(_graph_check(False, failed=["GraphRefused: x"])))
    out = _run(tmp_path, capsys, {"update_many": "ok"})
    assert "W1 fit with CUDA graphs" in out and "0.135 s/epoch against 0.324 without (0.42x); 294 launches" in out
    assert "lstm fit with CUDA graphs" in out and "not captured: GraphRefused: x" in out
    assert "cnn fit" not in out  # skipped for time: no row, no problem
    assert out.rstrip().endswith("NOT PASSED: lstm fit with CUDA graphs differs from fit without them "
                                 "(cuda_graph_lstm.json)")
    (tmp_path / "cuda_graph_lstm.json").write_text(json.dumps(_graph_check(True)))
    (tmp_path / "cuda_graph_cnn.json").write_text(json.dumps({"error": "RuntimeError: boom"}))
    out = _run(tmp_path, capsys, {"update_many": "ok"})
    assert "cnn fit with CUDA graphs" in out and "RuntimeError: boom" in out
    assert out.rstrip().endswith("NOT PASSED: the cnn CUDA graph check did not run (cuda_graph_cnn.log)")
    (tmp_path / "cuda_graph_cnn.json").unlink()
    w1 = dict(_graph_check(True), direct_products_equal_cupy_matmul=False,
              direct_products_by_case={"forward": True, "Dense(1) forward": False})
    (tmp_path / "cuda_graph.json").write_text(json.dumps(w1))
    out = _run(tmp_path, capsys, {"update_many": "ok"})
    row = next(line for line in out.splitlines() if "direct products = CuPy's" in line)
    assert row.rstrip().endswith("False (differ: Dense(1) forward)")
    assert out.rstrip().endswith("NOT PASSED: direct cuBLAS products differ from CuPy's matmul: Dense(1) forward "
                                 "(cuda_graph.json)")
