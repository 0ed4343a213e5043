"""benchmarks.report: the rows of the printed table, from child results (no process is run)."""
from __future__ import annotations

import pytest

from benchmarks import report

CONFIG = {"label": "as-set"}


def _result(impl, backend, w1=None, infer=None, own=None, floor=None):
    r = {"config": "as-set", "status": "ok", "spec": {"impl": impl, "backend": backend}, "peak_rss_mib": 100.0}
    if floor is not None:
        r["floor"] = floor
    if w1 is not None:
        r["w1"] = {"seconds": w1, "val_accuracy": 0.9}
    if infer is not None:
        r["w1-infer"] = {"seconds": infer, "val_accuracy": 0.9}
    if own is not None:
        r["own_floor"] = own
    return r


def test_x_own_floor_is_the_median_of_each_process_against_its_own_floor():
    """Three rounds in which the machine's speed moved: each process's time over the floor it
    measured itself, then the median; x floor divides medians measured in different processes."""
    results = [
        _result("floor", "numpy", floor={"w1": 1.0, "w1-infer": 0.10}),
        _result("floor", "numpy", floor={"w1": 2.0, "w1-infer": 0.20}),
        _result("floor", "numpy", floor={"w1": 1.5, "w1-infer": 0.15}),
        _result("lamina", "numpy", w1=[1.2, 1.4], infer=[0.12], own={"w1": 1.0, "w1-infer": 0.1}),  # 1.3, 1.2
        _result("lamina", "numpy", w1=[2.6], infer=[0.25], own={"w1": 2.0, "w1-infer": 0.2}),  # 1.3, 1.25
        _result("lamina", "numpy", w1=[3.0], infer=[0.33], own={"w1": 2.0, "w1-infer": 0.3}),  # 1.5, 1.1
        _result("torch", "cuda", w1=[0.5], infer=[0.05]),  # a GPU process measures no own floor
    ]
    rows = {(r["workload"], r["library"]): r for r in report.build_rows(results, [CONFIG], ["w1", "w1-infer"])}
    lam = rows[("w1", "lamina")]
    assert lam["x_own_floor"] == pytest.approx(1.3)
    assert lam["median_s"] == pytest.approx(2.6) and lam["x_floor"] == pytest.approx(2.6 / 1.5)
    assert rows[("w1-infer", "lamina")]["x_own_floor"] == pytest.approx(1.2)
    assert rows[("w1", "torch")]["x_own_floor"] is None
    assert rows[("w1", "floor: GEMMs only")]["x_own_floor"] is None
    table = report.format_table(list(rows.values()), show_config=False)
    header = table.splitlines()[0]
    assert "x own floor" in header
    lamina_line = next(line for line in table.splitlines() if "lamina/numpy" in line and "W1 train" in line)
    cells = [c.strip() for c in lamina_line.strip("|").split("|")]
    names = [c.strip() for c in header.strip("|").split("|")]
    assert cells[names.index("x own floor")] == "1.30" and cells[names.index("x floor")] == "1.73"
    torch_line = next(line for line in table.splitlines() if "torch/cuda" in line and "W1 train" in line)
    assert [c.strip() for c in torch_line.strip("|").split("|")][names.index("x own floor")] == "-"


def test_own_floor_only_for_processes_on_the_cpu():
    """The in-process floor is measured where the products ran on the CPU: not for a GPU backend,
    nor for a CPU-named backend whose device is a card (Keras on jax or torch with CUDA)."""
    from benchmarks.child import _on_cpu
    assert _on_cpu({"backend": "numpy"}, "CPU") and _on_cpu({"backend": "jax"}, "TFRT_CPU_0")
    assert not _on_cpu({"backend": "cupy"}, "NVIDIA H200") and not _on_cpu({"backend": "cuda"}, "CPU")
    assert not _on_cpu({"backend": "jax"}, "cuda:0") and not _on_cpu({"backend": "torch"}, "CUDA NVIDIA H200")
    assert not _on_cpu({"backend": "jax"}, "GpuDevice(id=0)")
