"""Train W1 for a few epochs from a fixed seed and record what the GPU check compares.

    python -m benchmarks.train_compare --impl lamina --backend cupy --epochs 3 --seed 1 --out DIR
    python -m benchmarks.train_compare --impl lamina --backend numpy --epochs 3 --seed 1 --out DIR
    python -m benchmarks.train_compare --impl torch --backend cuda --epochs 3 --out DIR
    python -m benchmarks.train_compare --compare DIR/weights-lamina-cupy.npz DIR/weights-lamina-numpy.npz --out DIR
    python -m benchmarks.train_compare --summary DIR

A training run writes ``DIR/train-<impl>-<backend>.json`` (seconds per epoch, the logs of the last
epoch, test loss and accuracy on the 10,000 MNIST test images) and, for Lamina, the final weights
as ``DIR/weights-lamina-<backend>.npz``. Lamina backends started from the same seed begin with the
same weights and draw the same dropout masks and shuffles (Philox, bit for bit), so the final
weights differ only by float32 rounding differences (cuBLAS vs OpenBLAS summation order) that
training amplifies; ``--compare`` reports the largest absolute difference per weight array.
``--summary`` prints the GPU check's closing table from everything in DIR.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

FAKE_DEVICE_MARK = "FAKE-CUPY"  # in the fake CuPy's device name (tests/fake_cupy_site)


def train(impl: str, backend: str, epochs: int, seed: int, out: Path) -> int:
    from . import data as data_mod
    from .child import IMPLS, Unavailable, _make_trainer, _trainer_class
    from .workloads import W1

    if data_mod.find_mnist() is None:
        print("MNIST not found (looked in " + ", ".join(map(str, data_mod.candidate_dirs())) + "); not training.")
        return 3
    if impl not in IMPLS:
        print(f"unknown implementation {impl!r}")
        return 2
    module = _trainer_class(impl)
    try:
        trainer = _make_trainer(module, backend, W1, seed)
    except Unavailable as exc:
        print(f"{impl}/{backend} is not usable here: {exc}")
        return 4
    d = data_mod.load()
    x, y = d["x_train"], d["y_train"]
    trainer.prepare(x[:42000], y[:42000], x[42000:], y[42000:])
    t0 = time.perf_counter()
    times, logs = trainer.fit_epochs(epochs)
    total = time.perf_counter() - t0
    trainer.prepare(x[:42000], y[:42000], d["x_test"], d["y_test"])  # evaluate on the test set
    _, test_acc = trainer.evaluate()
    result = {"impl": impl, "backend": backend, "device": trainer.device(), "epochs": epochs, "seed": seed,
              "seconds_per_epoch": times, "median_s_per_epoch": statistics.median(times), "total_s": total,
              "last_epoch_logs": logs, "test_accuracy": test_acc, "data": d["source"]}
    status = getattr(getattr(trainer, "be", None), "kernel_status", None)
    if callable(status):  # CuPy: which fused kernels ran ("ok") and which fell back ("failed: ...")
        result["kernel_status"] = status()
    out.mkdir(parents=True, exist_ok=True)
    (out / f"train-{impl}-{backend}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    if hasattr(trainer, "final_weights"):
        weights = trainer.final_weights()
        np.savez(out / f"weights-{impl}-{backend}.npz", *weights)
    print(f"{impl}/{backend} on {result['device']}: {', '.join(f'{t:.2f}' for t in times)} s per epoch; "
          f"test accuracy {test_acc:.4f}; val_accuracy {logs.get('val_accuracy', float('nan')):.4f}")
    return 0


def compare(a_path: Path, b_path: Path, out: Path) -> int:
    with np.load(a_path) as a, np.load(b_path) as b:
        keys = sorted(a.files, key=lambda k: int(k.split("_")[-1]))
        diffs = []
        for k in keys:
            d = float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64))))
            scale = float(np.max(np.abs(b[k]))) or 1.0
            diffs.append({"array": k, "shape": list(a[k].shape), "max_abs_diff": d, "max_abs_value": scale})
    worst = max(d["max_abs_diff"] for d in diffs)
    result = {"a": str(a_path), "b": str(b_path), "max_abs_diff": worst, "per_array": diffs}
    out.mkdir(parents=True, exist_ok=True)
    (out / "weights-compare.json").write_text(json.dumps(result, indent=1) + "\n")
    for d in diffs:
        print(f"  {d['array']:>8} {str(tuple(d['shape'])):>12}: max |a-b| = {d['max_abs_diff']:.3e} "
              f"(max |w| = {d['max_abs_value']:.3f})")
    print(f"max |{a_path.name} - {b_path.name}| over all weights: {worst:.3e}")
    return 0


def _pytest_counts(log: Path) -> str:
    if not log.is_file():
        return "not run"
    text = log.read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if re.search(r"\d+ (passed|failed|skipped|errors?|deselected)", ln)]
    if not lines:
        return "no pytest summary (see " + log.name + ")"
    counts = dict((k, int(v)) for v, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)",
                                                         lines[-1]))
    return ", ".join(f"{v} {k}" for k, v in counts.items()) or lines[-1].strip()


def _kernel_summary(status: dict) -> str:
    """``ok: a, b; FAILED: c (reason)`` from a backend's ``kernel_status()``."""
    ok = sorted(op for op, v in status.items() if v == "ok")
    failed = sorted(f"{op} ({v})" for op, v in status.items() if v != "ok")
    parts = [f"ok: {', '.join(ok) or 'none'}"] + ([f"FAILED: {'; '.join(failed)}"] if failed else [])
    return "; ".join(parts)


def summary(out: Path) -> int:
    def load(name):
        p = out / name
        return json.loads(p.read_text()) if p.is_file() else None

    env = load("env.json") or {}
    # A dry run (GPU_CHECK_FAKE_CUPY=1: cupy is the NumPy fake of tests/fake_cupy_site) must never read
    # as a GPU result: env.json says so, and so does the fake's device name in the training record.
    cupy_device = str((load("train-lamina-cupy.json") or {}).get("device", ""))
    dry_run = bool(env.get("dry_run")) or FAKE_DEVICE_MARK in cupy_device or (out / "dry_run.txt").is_file()
    rows = [("mode", "DRY RUN: fake CuPy (NumPy on the CPU), no GPU was used")] if dry_run else []
    rows += [("card", env.get("card") or "none"), ("date", env.get("date") or _dt.date.today().isoformat()),
             ("conformance --backend cupy", _pytest_counts(out / "conformance_cupy.log")),
             ("tests/test_cupy_backend.py", _pytest_counts(out / "test_cupy_backend.log")),
             ("tests/ (not slow), LAMINA_BACKEND=cupy", _pytest_counts(out / "tests_cupy.log"))]
    bench = load("bench.json")
    bench_rows = {(r["library"], r["backend"], r["workload"]): r for r in (bench or {}).get("rows", [])}
    for label, impl, backend in (("Lamina cupy", "lamina", "cupy"), ("Lamina numpy", "lamina", "numpy"),
                                 ("PyTorch CUDA (eager, hand loop)", "torch", "cuda")):
        t = load(f"train-{impl}-{backend}.json")
        if t:
            times = ", ".join(f"{s:.2f}" for s in t["seconds_per_epoch"])
            rows.append((f"{label} s/epoch", f"{t['median_s_per_epoch']:.3f} (epochs: {times})"))
            rows.append((f"{label} test accuracy", f"{t['test_accuracy']:.4f} after {t['epochs']} epochs"))
            if "kernel_status" in t:
                rows.append((f"{label} fused kernels", _kernel_summary(t["kernel_status"])))
        else:
            rows.append((f"{label} s/epoch", "not run (see the log above)"))
    cmp_ = load("weights-compare.json")
    rows.append(("max |w_cupy - w_numpy|", f"{cmp_['max_abs_diff']:.3e}" if cmp_ else "not compared"))
    counts = load("step_counts.json")
    if counts:
        c = counts["lamina"]
        rows.append(("W1 step: protocol calls", f"{c['protocol_calls_per_step']:.0f} per step (launches to expect)"))
        rows.append(("fit: host transfers", f"{c['fit_transfers_per_update']:.2f} per displayed update "
                                            f"({c['fit_host_transfers']} for {c['fit_progress_updates']} updates)"))
        for who, label in (("lamina_cupy", "Lamina cupy train_on_batch"), ("lamina_cupy_fit", "Lamina cupy fit"),
                           ("torch_cuda", "PyTorch CUDA")):
            q = (counts.get("profile") or {}).get(who)
            if q and q.get("note"):  # the profiler saw none of this work: not "0 kernels"
                rows.append((f"{label} per step (profiler)", f"not measured: {q['note']}"))
            elif q:
                rows.append((f"{label} per step (profiler)", f"{q['kernels_per_step']:.1f} kernels, "
                                                             f"{q['copies_per_step']:.1f} copies, blocking "
                                                             f"{sum(q['blocking_calls_per_step'].values()):.2f}; "
                                                             f"card busy {q.get('device_ms_per_step', float('nan')):.3f} of "
                                                             f"{q.get('wall_ms_per_step', float('nan')):.3f} ms"))
        if "error" in (counts.get("profile") or {}):
            rows.append(("profiler", counts["profile"]["error"][:120]))
    graph_problems = []
    # (a probe that did not run at all is among gpu_check.sh's problems already, or was skipped for time)
    for name, label in (("cuda_graph.json", "W1"), ("cuda_graph_cnn.json", "cnn"), ("cuda_graph_lstm.json", "lstm")):
        graph = load(name)
        if graph and "median_graphs" in graph:
            failed = "; not captured: " + " | ".join(graph["graphs_failed"])[:160] if graph["graphs_failed"] else ""
            rows.append((f"{label} fit with CUDA graphs", f"{graph['median_graphs']:.3f} s/epoch against "
                                                          f"{graph['median_no_graphs']:.3f} without "
                                                          f"({graph['graphs_over_no_graphs']:.2f}x); "
                                                          f"{graph['graph_launches']} launches{failed}"))
            rows.append(("  same weights and history", f"{graph['same_weights']} and {graph['same_logs']}"))
            if not (graph["same_weights"] and graph["same_logs"]):
                graph_problems.append(f"{label} fit with CUDA graphs differs from fit without them ({name})")
            direct = graph.get("direct_products_equal_cupy_matmul")
            if direct is not None:  # W1's probe: libcublas called directly against CuPy's matmul
                differ = [k for k, v in (graph.get("direct_products_by_case") or {}).items() if not v]
                rows.append(("  direct products = CuPy's", str(direct)[:120] + (f" (differ: {', '.join(differ)})"
                                                                                if differ else "")))
                if direct is False:
                    graph_problems.append(f"direct cuBLAS products differ from CuPy's matmul: {', '.join(differ)} ({name})")
        elif graph:
            rows.append((f"{label} fit with CUDA graphs", str(graph.get("error", "no result"))[:120]))
            graph_problems.append(f"the {label} CUDA graph check did not run ({name.replace('.json', '.log')})")
    floor = bench_rows.get(("floor: GEMMs only", "numpy", "w1"))
    if floor:
        rows.append(("W1 GEMM floor on the host CPU", f"{floor['median_s']:.3f} s/epoch"))
    for (lib, be, wl), r in sorted(bench_rows.items()):
        if wl == "w1" and r.get("status") == "ok" and not lib.startswith("floor"):
            x_floor = "-" if r.get("x_floor") is None else f"{r['x_floor']:.2f}"  # None: the floor did not run
            rows.append((f"bench W1 {lib}/{be}", f"{r['median_s']:.3f} s/epoch (x floor {x_floor})"))
    problems = (out / "problems.txt").read_text().splitlines() if (out / "problems.txt").is_file() else []
    problems = [p for p in problems if p.strip()]
    problems += [g for g in graph_problems if g not in problems]
    fused = (load("train-lamina-cupy.json") or {}).get("kernel_status") or {}
    failed = sorted(op for op, v in fused.items() if v != "ok")
    if failed:  # the generic code took over, so training worked, but a kernel is broken on this card
        problems.append(f"fused CUDA kernel(s) fell back: {', '.join(failed)}")
    if dry_run:
        uncovered = (out / "dry_run.txt").read_text().splitlines() if (out / "dry_run.txt").is_file() else []
        uncovered = [u for u in uncovered if u.strip()]
        if uncovered:
            rows.append(("not covered by the dry run", "; ".join(uncovered)))
        rows.append(("result", ("DRY RUN ONLY, NOT A GPU CHECK: the scripts ran" if not problems else
                                "DRY RUN ONLY, NOT A GPU CHECK, with problems: " + "; ".join(problems))))
    else:
        rows.append(("result", "PASSED" if not problems else "NOT PASSED: " + "; ".join(problems)))
    width = max(len(k) for k, _ in rows)
    print("GPU check summary" + (" (DRY RUN with the fake CuPy: no GPU)" if dry_run else ""))
    for k, v in rows:
        print(f"  {k.ljust(width)}  {v}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.train_compare", description=__doc__.splitlines()[0])
    p.add_argument("--impl", default="lamina")
    p.add_argument("--backend", default="numpy")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("gpu_check_out"))
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A_NPZ", "B_NPZ"))
    p.add_argument("--summary", type=Path, metavar="DIR")
    args = p.parse_args(argv)
    if args.summary:
        return summary(args.summary)
    if args.compare:
        return compare(args.compare[0], args.compare[1], args.out)
    return train(args.impl, args.backend, args.epochs, args.seed, args.out)


if __name__ == "__main__":
    sys.exit(main())
