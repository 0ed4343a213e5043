"""What one W1 training step asks of the device: protocol calls, host transfers, and (on a GPU, with
PyTorch's profiler) kernel launches and synchronisations, beside PyTorch's own step.

    python -m benchmarks.step_counts [--backend numpy|cupy] [--steps 20] [--profile] [--json PATH]

* **protocol calls per step**: the backend methods the frontend calls during ``train_on_batch``
  (calls a backend makes to itself are not counted). On CuPy nearly every one is one or more
  kernel launches (views are none), so this is the launch count to expect, measurable on any
  machine. Also per step of a ``fit`` epoch, whose steps after the first few are replayed
  (``lamina.ops.replay``): everything the loop asks of the backend per batch.
* **host transfers**: ``to_numpy`` and ``synchronize`` calls, per ``train_on_batch`` and, for a
  real ``fit`` of one W1 epoch with its progress bar, per displayed progress update (the issue's
  target: at most one).
* ``--profile`` (CUDA only): ``torch.profiler`` records every kernel the process launches, whoever
  launches it, so it counts CuPy's kernels, memory copies and synchronising API calls for the same
  steps, and the same for PyTorch's eager W1 step on the card. When the profiler cannot see CuPy's
  work it says so instead of reporting zeros.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import threading
import time
from typing import Any

from .workloads import W1

_SYNC_NAMES = ("Synchronize", "cudaMemcpy", "cuMemcpyDtoH", "cuMemcpyHtoD")  # blocking API calls


class CallCounter:
    """Counts the frontend's calls to a backend object's public methods (not nested ones)."""

    def __init__(self, backend: Any):
        self.backend = backend
        self.calls: collections.Counter = collections.Counter()
        self._depth = threading.local()
        self._wrapped: list[str] = []
        for name in dir(type(backend)):
            attr = getattr(backend, name, None)
            if name.startswith("_") or not callable(attr) or isinstance(attr, type):
                continue
            setattr(backend, name, self._wrap(name, attr))  # an instance attribute shadows the method
            self._wrapped.append(name)

    def _wrap(self, name: str, method: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._depth, "n", 0)
            if depth == 0:
                self.calls[name] += 1
            self._depth.n = depth + 1
            try:
                return method(*args, **kwargs)
            finally:
                self._depth.n = depth
        return counted

    def remove(self) -> None:
        for name in self._wrapped:
            delattr(self.backend, name)
        self._wrapped.clear()

    def transfers(self) -> int:
        return self.calls["to_numpy"] + self.calls["synchronize"]


def lamina_counts(backend: str, steps: int, seed: int = 1, fit_samples: int = 42000) -> dict:
    """Protocol calls and host transfers per W1 step on a Lamina backend (no GPU tools needed)."""
    import numpy as np

    from . import data
    from .impl_lamina import Trainer

    d = data.load()
    t = Trainer(backend, W1, seed)
    be, model = t.be, t.model
    x = np.ascontiguousarray(d["x_train"][:fit_samples])
    y = data.one_hot(d["y_train"][:fit_samples])
    b = W1.batch
    for i in range(3):  # build, optimizer slots, first calls, the memory pool's cache
        model.train_on_batch(x[i * b:(i + 1) * b], y[i * b:(i + 1) * b])
    be.synchronize()
    counter = CallCounter(be)
    try:
        for i in range(steps):
            model.train_on_batch(x[i * b:(i + 1) * b], y[i * b:(i + 1) * b])
        per_step = {k: v / steps for k, v in counter.calls.items()}
        step_transfers = counter.transfers() / steps
        # A real fit epoch with its progress bar: transfers per displayed update.
        import lamina.models.model as model_module

        updates = []

        class CountingBar(model_module.Progbar):
            def update(self, current, values=None, finalize=None):
                updates.append(current)
                super().update(current, values, finalize)

        real_bar = model_module.Progbar
        model_module.Progbar = CountingBar
        counter.calls.clear()
        try:
            t0 = time.perf_counter()
            model.fit(x, y, batch_size=b, epochs=1, verbose=1)
            fit_seconds = time.perf_counter() - t0
        finally:
            model_module.Progbar = real_bar
        fit_transfers = counter.transfers()
        fit_calls = sum(counter.calls.values()) - fit_transfers
    finally:
        counter.remove()
    return {
        "backend": backend, "device": be.device_description(), "steps": steps,
        "protocol_calls_per_step": sum(per_step.values()) - step_transfers,
        "top_calls_per_step": dict(sorted(per_step.items(), key=lambda kv: -kv[1])[:12]),
        "host_transfers_per_train_on_batch": step_transfers,
        "fit_steps": len(x) // b, "fit_progress_updates": len(updates), "fit_host_transfers": fit_transfers,
        "fit_transfers_per_update": fit_transfers / max(len(updates), 1), "fit_seconds": fit_seconds,
        "fit_protocol_calls_per_step": fit_calls / max(len(x) // b, 1),
    }


def _profile(run: Any, steps: int) -> dict:
    """Kernels, copies and blocking API calls that torch.profiler records during ``run()``, the time
    the card spent in them, and the wall time of an unprofiled ``run()`` just before: where the card's
    time is far below the wall time, the step is bound by the host (Python and launches), and only
    fewer launches (a CUDA graph of the step) can close the gap."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    start = time.perf_counter()
    run()
    wall = time.perf_counter() - start
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run()
    kernels = copies = 0
    busy_us = 0.0
    blocking: collections.Counter = collections.Counter()
    names: collections.Counter = collections.Counter()
    name_us: collections.Counter = collections.Counter()
    for e in prof.events():
        if e.device_type == DeviceType.CUDA:
            took = e.time_range.elapsed_us()
            busy_us += took
            name_us[e.name[:60]] += took
            if e.name.startswith("Memcpy") or e.name.startswith("Memset"):
                copies += 1
            else:
                kernels += 1
                names[e.name[:60]] += 1
        elif any(s in e.name for s in _SYNC_NAMES):
            blocking[e.name] += 1
    return {"kernels_per_step": kernels / steps, "copies_per_step": copies / steps,
            "blocking_calls_per_step": {k: v / steps for k, v in blocking.items()},
            "device_ms_per_step": busy_us / 1000 / steps, "wall_ms_per_step": wall * 1000 / steps,
            "top_kernels": dict(names.most_common(8)),
            "top_device_us_per_step": {k: round(v / steps, 2) for k, v in name_us.most_common(12)}}


def profile_counts(steps: int, seed: int = 1) -> dict:
    """CUDA only: torch.profiler's view of Lamina's CuPy step and of PyTorch's eager step."""
    import numpy as np
    import torch

    from . import data
    from .impl_lamina import Trainer as LaminaTrainer
    from .impl_torch import Trainer as TorchTrainer

    if not torch.cuda.is_available():
        raise RuntimeError("--profile needs a CUDA device that PyTorch can see")
    d = data.load()
    b = W1.batch
    x = np.ascontiguousarray(d["x_train"][: (steps + 3) * b])
    y1 = data.one_hot(d["y_train"][: (steps + 3) * b])
    out: dict = {}
    lt = LaminaTrainer("cupy", W1, seed)
    for i in range(3):
        lt.model.train_on_batch(x[i * b:(i + 1) * b], y1[i * b:(i + 1) * b])
    lt.be.synchronize()

    def lamina_steps() -> None:
        for i in range(3, 3 + steps):
            lt.model.train_on_batch(x[i * b:(i + 1) * b], y1[i * b:(i + 1) * b])
        lt.be.synchronize()

    # fit's replayed steps, the W1 workload's own path: no host read per step (train_on_batch above
    # returns its loss, one read per step by its contract)
    nfit = steps * b

    def lamina_fit() -> None:
        lt.model.fit(x[:nfit], y1[:nfit], batch_size=b, epochs=1, verbose=0, shuffle=False)
        lt.be.synchronize()

    for who, run in (("lamina_cupy", lamina_steps), ("lamina_cupy_fit", lamina_fit)):
        out[who] = _profile(run, steps)
        if out[who]["kernels_per_step"] == 0:
            out[who]["note"] = ("the profiler recorded no CuPy kernels (its CUPTI may not see a "
                                "CUDA runtime other than PyTorch's); use protocol calls instead")
    tt = TorchTrainer("cuda", W1, seed)
    xs = torch.from_numpy(x[: steps * b]).cuda()
    ys = torch.from_numpy(d["y_train"][: steps * b]).cuda()
    tt._train_epoch(xs[: 3 * b], ys[: 3 * b])  # warm-up; ends with one read of the epoch's metrics
    torch.cuda.synchronize()

    def torch_steps() -> None:
        tt._train_epoch(xs, ys)
        torch.cuda.synchronize()

    out["torch_cuda"] = _profile(torch_steps, steps)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.step_counts", description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="numpy")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--profile", action="store_true", help="CUDA: torch.profiler counts for Lamina/CuPy and PyTorch")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error(f"--steps must be at least 1, got {args.steps}")
    result = {"lamina": lamina_counts(args.backend, args.steps)}
    if args.profile:
        try:
            result["profile"] = profile_counts(args.steps)
        except Exception as exc:  # report, do not hide the counts above
            result["profile"] = {"error": f"{type(exc).__name__}: {exc}"}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    r = result["lamina"]
    print(f"\nW1 step counts on lamina/{r['backend']} ({r['device']}), {r['steps']} train_on_batch steps:")
    print(f"  protocol calls per step (launches to expect on a GPU): {r['protocol_calls_per_step']:.1f}")
    print(f"  host transfers per train_on_batch: {r['host_transfers_per_train_on_batch']:.2f}")
    print(f"  fit, one epoch: {r['fit_steps']} steps, {r['fit_progress_updates']} progress updates, "
          f"{r['fit_host_transfers']} host transfers = {r['fit_transfers_per_update']:.2f} per update "
          f"({r['fit_seconds']:.2f} s)")
    print(f"  fit, protocol calls per step (replayed steps, with the batch gather, the update and the metric "
          f"totals): {r['fit_protocol_calls_per_step']:.1f}")
    print("  most frequent calls per step: " + ", ".join(f"{k} {v:g}" for k, v in r["top_calls_per_step"].items()))
    if "profile" in result:
        prof = result["profile"]
        if "error" in prof:
            print(f"  profile: {prof['error']}")
        for who in ("lamina_cupy", "lamina_cupy_fit", "torch_cuda"):
            if who in prof:
                q = prof[who]
                print(f"  {who}: {q['kernels_per_step']:.1f} kernels, {q['copies_per_step']:.1f} copies/memsets, "
                      f"blocking calls {q['blocking_calls_per_step']} per step; card busy "
                      f"{q['device_ms_per_step']:.3f} ms of {q['wall_ms_per_step']:.3f} ms wall per step"
                      + (f" ({q['note']})" if "note" in q else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
