"""One measuring process: ``python -m benchmarks.child SPEC_JSON RESULT_PATH``.

The orchestrator (benchmarks.cli) starts one of these per (library, backend, BLAS setting, round)
so that each library gets a fresh process (Keras reads KERAS_BACKEND at import; OpenBLAS reads
OPENBLAS_CORETYPE at load), and so that the memory high-water mark is per library. The spec
names the implementation (``lamina``, ``numpy-hand``, ``torch``, ``keras``, or ``floor``), the
backend, and what to run; the result JSON is written to RESULT_PATH.

Protocol inside the process: load the data, build the model, warm up (a short fit: first calls,
JIT compiles, thread pools), then time ``epochs`` full W1 epochs (training + validation, as the
library's own ``fit`` reports an epoch), then time W1-infer (``evaluate`` on the 18,000
validation samples) ``epochs`` times, then (on the CPU) the GEMM floor once more in the same
process (``own_floor``), then the sweep points if asked. The layer workloads
(``conv``, ``lstm``: benchmarks.layers) run first, for lamina and torch only, when asked. Timings are
``time.perf_counter`` around device-synchronised work.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback

SWEEP_REPEATS = 3  # each sweep point is timed 3 times in the process; the best counts (floor too)
IMPLS = {"lamina": "impl_lamina", "numpy-hand": "impl_numpy", "torch": "impl_torch", "keras": "impl_keras"}
GPU_BACKENDS = ("cupy", "cuda")  # their products are not the CPU's: no own floor


class Unavailable(Exception):
    """The (library, backend) cannot run here; the message says why."""


def _trainer_class(impl: str):
    try:
        module = importlib.import_module(f"benchmarks.{IMPLS[impl]}")
        return module
    except KeyError:
        raise Unavailable(f"unknown implementation {impl!r}") from None


def _make_trainer(module, backend, mlp, seed):
    try:
        return module.Trainer(backend, mlp, seed)
    except ModuleNotFoundError as exc:
        raise Unavailable(f"{exc.name} is not installed") from None
    except Exception as exc:  # BackendUnavailableError, no CUDA, ...
        name = type(exc).__name__
        if name in ("BackendUnavailableError", "RuntimeError", "ImportError"):
            raise Unavailable(str(exc).strip().splitlines()[0] if str(exc).strip() else name) from None
        raise


def run_floor(spec: dict, data_shape: dict) -> dict:
    from . import floor
    from .workloads import W1, sweep_points

    steps_train = data_shape["train_n"] // W1.batch
    steps_val = data_shape["val_n"] // W1.batch
    f = floor.w1_floor(W1, steps_train, steps_val)
    scale = data_shape["scale"]
    out = {"w1": f["epoch"] * scale, "w1-infer": f["val"] * scale, "w1_train_part": f["train"] * scale}
    if spec.get("sweep"):
        out["sweep"] = {}
        for p in sweep_points(spec.get("quick", False)):
            secs = min(floor.sweep_floor(p.mlp, p.steps) for _ in range(SWEEP_REPEATS))
            out["sweep"][p.name] = {"seconds": secs, "samples": p.steps * p.batch}
    return out


def run_impl(spec: dict, data_shape: dict) -> dict:
    from . import data as data_mod
    from .workloads import W1, sweep_points

    module = _trainer_class(spec["impl"])
    seed = int(spec.get("seed", 1))
    t0 = time.perf_counter()
    trainer = _make_trainer(module, spec["backend"], W1, seed)
    d = data_mod.load(spec.get("synthetic", False))
    x, y = d["x_train"], d["y_train"]
    tn, vn = data_shape["train_n"], data_shape["val_n"]
    # The validation split of fit(validation_split=0.3): the last 18,000 of the 60,000.
    x_tr, y_tr, x_val, y_val = x[:42000], y[:42000], x[42000:], y[42000:]
    trainer.prepare(x_tr, y_tr, x_val, y_val)
    out: dict = {"device": trainer.device(), "data": d["source"], "library": module.library_info(),
                 "setup_s": time.perf_counter() - t0}
    workloads = spec.get("workloads", ["w1", "w1-infer"])
    epochs = max(1, int(spec.get("epochs", 1)))
    scale = data_shape["scale"]

    if "w1" in workloads or "w1-infer" in workloads:
        t0 = time.perf_counter()
        trainer.fit_epochs(1, train_n=5 * W1.batch, val_n=2 * W1.batch)  # warm-up: first calls, JIT, pools
        out["warmup_s"] = time.perf_counter() - t0
        r0 = _usage()
        times, logs = trainer.fit_epochs(epochs, train_n=tn, val_n=vn)
        out["w1"] = {"seconds": [s * scale for s in times], "logs": logs,
                     "val_accuracy": logs.get("val_accuracy"), "usage": _usage(r0)}
        out["rss_after_w1_mib"] = _rss()
    if "w1-infer" in workloads:
        runs = [trainer.evaluate(val_n=vn) for _ in range(epochs)]
        out["w1-infer"] = {"seconds": [s * scale for s, _ in runs], "val_accuracy": runs[-1][1]}
    if ("w1" in out or "w1-infer" in out) and _on_cpu(spec, out["device"]):
        # The floor again, in this process right after the workload: the machine's speed moves by
        # 10-50 % between processes, so the ratio to this floor ("x own floor") is steadier than
        # the ratio to the floor process's. A failure here costs the column, not the timings.
        from . import floor
        try:
            f = floor.w1_floor(W1, tn // W1.batch, vn // W1.batch)
            out["own_floor"] = {"w1": f["epoch"] * scale, "w1-infer": f["val"] * scale}
        except Exception as exc:
            out["own_floor_error"] = f"{type(exc).__name__}: {exc}"
    if spec.get("sweep"):
        out["sweep"] = {}
        for p in sweep_points(spec.get("quick", False)):
            try:
                t = _make_trainer(module, spec["backend"], p.mlp, seed)
                t.train_steps(x, y, 2)  # warm-up at this shape
                r0 = _usage()
                secs = min(t.train_steps(x, y, p.steps) for _ in range(SWEEP_REPEATS))
                out["sweep"][p.name] = {"seconds": secs, "samples": p.steps * p.batch, "usage": _usage(r0)}
            except Exception as exc:  # e.g. out of memory at width 4096 on a small card
                out["sweep"][p.name] = {"error": f"{type(exc).__name__}: {exc}"}
            del t
    return out


def _on_cpu(spec: dict, device: str) -> bool:
    """Whether the process's products ran on the CPU (its backend is not a GPU one and its device
    names no GPU: Keras on jax or torch may run on a card), so that a CPU floor describes it."""
    text = str(device).lower()
    return spec["backend"] not in GPU_BACKENDS and "cuda" not in text and "gpu" not in text


def _wants_w1(spec: dict) -> bool:
    return bool(spec.get("sweep")) or any(w in ("w1", "w1-infer") for w in spec.get("workloads", ["w1", "w1-infer"]))


def run_layers(spec: dict) -> dict:
    """The CONV / LSTM workloads (benchmarks.layers) for lamina and torch; {} when none is asked."""
    from .layers import LAYER_WORKLOADS, RUNNERS

    wanted = [w for w in spec.get("workloads", []) if w in LAYER_WORKLOADS]
    if not wanted or spec["impl"] not in RUNNERS:
        return {}
    try:
        out = RUNNERS[spec["impl"]](spec["backend"], wanted, int(spec.get("seed", 1)), bool(spec.get("quick")))
    except ModuleNotFoundError as exc:
        raise Unavailable(f"{exc.name} is not installed") from None
    except Exception as exc:
        name = type(exc).__name__
        if name in ("BackendUnavailableError", "RuntimeError", "ImportError"):
            raise Unavailable(str(exc).strip().splitlines()[0] if str(exc).strip() else name) from None
        raise
    module = _trainer_class(spec["impl"])
    out.setdefault("library", module.library_info())
    return out


def _usage(since: dict | None = None) -> dict:
    """CPU user/system seconds and minor page faults of this process (differences when ``since``).
    Many page faults and system time point at large temporaries being mapped and unmapped."""
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF)
    now = {"user_s": r.ru_utime, "sys_s": r.ru_stime, "minor_faults": r.ru_minflt}
    return now if since is None else {k: now[k] - since[k] for k in now}


def _rss() -> float:
    from .sysinfo import peak_rss_mib
    return peak_rss_mib()


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    result_path = argv[1]
    from .sysinfo import blas_env, blas_info, peak_rss_mib
    from .workloads import EpochShape

    data_shape = EpochShape.for_run(spec.get("quick", False)).as_dict()
    result: dict = {"spec": spec, "pid": os.getpid(), "blas_env": blas_env(), "data_shape": data_shape}
    try:
        if spec["impl"] == "floor":
            result["floor"] = run_floor(spec, data_shape)
        else:
            result.update(run_layers(spec))
            if _wants_w1(spec):
                result.update(run_impl(spec, data_shape))
        result["status"] = "ok"
    except Unavailable as exc:
        result["status"] = "unavailable"
        result["reason"] = str(exc)
    except Exception as exc:
        result["status"] = "error"
        result["reason"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    result["blas"] = blas_info()  # after the libraries are loaded, so their pools are listed
    result["peak_rss_mib"] = peak_rss_mib()
    with open(result_path, "w") as f:
        json.dump(result, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
