"""How fast W1's replayed training step could run as one CUDA graph: a measurement, not a feature.

    python -m benchmarks.cuda_graph_probe [--steps 200] [--json PATH]

On the CuPy backend, ``fit`` replays each training step from a recording (lamina/ops/replay.py):
the same backend calls on the same buffers, batch after batch. That is what CUDA stream capture
needs, so this probe takes one replayed step of a real W1 ``fit``, captures it on a CuPy stream
and times ``Graph.launch`` against calling the replayed step itself, both with one synchronisation
at the end of ``--steps`` steps. It reports whether the capture worked (and the error if not),
milliseconds per step each way, and the ratio.

What it does not show: a correct graph step. The captured step reads the batch it was captured
with, and the dropout kernels take their Philox counters as launch arguments, so every replay of
the graph draws the same masks; a real implementation must copy each batch into the captured
buffers and keep the counters on the card. The weights do change (the probe's model is thrown away).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .workloads import W1


def probe(steps: int, seed: int = 1) -> dict:
    import numpy as np

    from lamina.ops import replay

    from . import data
    from .impl_lamina import Trainer

    trainer = Trainer("cupy", W1, seed)
    cupy = trainer.be.xp
    d = data.load()
    b = W1.batch
    n = 20 * b
    x = np.ascontiguousarray(d["x_train"][:n])
    y = data.one_hot(d["y_train"][:n])
    caught: dict[str, Any] = {}
    original = replay.StepReplay.__call__

    def spy(self: Any, inputs: Any, step: Any, key: Any = ()) -> Any:
        result = original(self, inputs, step, key)
        if self.replayed >= 3 and "function" not in caught:  # a compiled recording is running
            for shape in self._shapes.values():
                if shape.function is not None:
                    caught["function"], caught["inputs"] = shape.function, list(inputs)
                    break
        return result

    replay.StepReplay.__call__ = spy
    try:
        trainer.model.fit(x, y, batch_size=b, epochs=1, verbose=0, shuffle=False)
    finally:
        replay.StepReplay.__call__ = original
    out: dict[str, Any] = {"device": trainer.be.device_description(), "steps": steps}
    if "function" not in caught:
        out["error"] = "fit replayed no step (nothing to capture)"
        return out
    fn, inputs = caught["function"], caught["inputs"]

    def per_step(run: Any) -> float:
        stream.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            run()
        stream.synchronize()
        return (time.perf_counter() - start) * 1000 / steps

    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        for _ in range(5):  # warm: the pool holds every buffer the step asks for
            fn(inputs)
        out["replayed_ms_per_step"] = per_step(lambda: fn(inputs))
        try:
            stream.begin_capture()
            try:
                fn(inputs)
            finally:
                graph = stream.end_capture()
            graph.launch(stream)
            stream.synchronize()
        except Exception as exc:  # the answer the probe is for: report it
            out["error"] = f"capture failed: {type(exc).__name__}: {exc}"[:400]
            return out
        out["graph_ms_per_step"] = per_step(lambda: graph.launch(stream))
    out["graph_over_replayed"] = out["graph_ms_per_step"] / out["replayed_ms_per_step"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cuda_graph_probe", description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error(f"--steps must be at least 1, got {args.steps}")
    try:
        result = probe(args.steps)
    except Exception as exc:  # report, so that the GPU check's log says why
        result = {"error": f"{type(exc).__name__}: {exc}"[:400]}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    if "error" in result:
        print(f"CUDA graph probe: {result['error']}")
    if "graph_ms_per_step" in result:
        print(f"W1 replayed step on {result['device']}: {result['replayed_ms_per_step']:.3f} ms called, "
              f"{result['graph_ms_per_step']:.3f} ms as one CUDA graph ({result['graph_over_replayed']:.2f}x)")
    elif "replayed_ms_per_step" in result:
        print(f"W1 replayed step: {result['replayed_ms_per_step']:.3f} ms called")
    return 0 if "graph_ms_per_step" in result else 1


if __name__ == "__main__":
    sys.exit(main())
