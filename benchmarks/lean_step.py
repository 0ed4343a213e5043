"""How close to the GEMM floor can any NumPy W1 training step get? A lean step, timed against the floor.

    python -m benchmarks.lean_step [--rounds 6] [--steps 105] [--variant end|per-layer|no-mask]

The step is W1's arithmetic with none of a framework's work: the floor's products on the real
shuffled batches, bias adds, tanh, dropout masks from the NumPy backend's compiled helper (1-bit
Philox slots), the softmax cross-entropy gradient, tanh's gradient and one compiled Nesterov update
of all parameters (``sgd_update_many``). No loss value, no metrics, no validation pass, no tape, no
layers. Rounds alternate the lean step and the floor's training products (``benchmarks.floor``) in
one process and report each round's ratio, so the machine's drift cancels.

Variants, for what-ifs:

* ``end``: the update after the whole backward pass (what Lamina does);
* ``per-layer``: each layer updated right after its gradients, while they are in cache;
* ``no-mask``: dropout as a plain scaling, i.e. what a mask that costs nothing would give.

Measured on the 2-core AMD EPYC development machine (docs/performance.md): ``end`` 1.23x the floor
with OPENBLAS as set and 1.39x unset, so even this step misses the performance issue's 1.15x.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .floor import GemmSequence
from .workloads import W1


class LeanStep:
    def __init__(self, x: np.ndarray, y: np.ndarray, variant: str, seed: int = 0):
        from lamina.backends import set_backend
        self.be = set_backend("numpy")
        self.x, self.y, self.variant = x, y, variant
        rng = np.random.default_rng(seed)
        s = W1.sizes
        self.W = [(rng.standard_normal((s[i], s[i + 1])) * 0.05).astype(np.float32) for i in range(len(s) - 1)]
        self.b = [np.zeros(s[i + 1], np.float32) for i in range(len(s) - 1)]
        self.vW = [np.zeros_like(w) for w in self.W]
        self.vb = [np.zeros_like(b) for b in self.b]
        self.rng, self.counter = rng, 0

    def _update(self, layers: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        self.be.sgd_update_many([self.W[i] for i, _, _ in layers] + [self.b[i] for i, _, _ in layers],
                                [gw for _, gw, _ in layers] + [gb for _, _, gb in layers],
                                [self.vW[i] for i, _, _ in layers] + [self.vb[i] for i, _, _ in layers],
                                W1.lr, W1.momentum, True)

    def step(self, xb: np.ndarray, yb: np.ndarray) -> None:
        be, last = self.be, len(self.W) - 1
        saved, inp = [], xb
        for i, (w, b) in enumerate(zip(self.W, self.b)):
            h = inp @ w
            h += b
            if i < last:
                np.tanh(h, out=h)
                if self.variant == "no-mask":
                    mask = np.float32(1.0 / (1.0 - W1.dropout))
                else:
                    mask = be.dropout_mask(h.shape, W1.dropout, 1, self.counter, "float32")
                    self.counter += 1
                saved.append((inp, h, mask))
                inp = h * mask
            else:
                saved.append((inp, h, None))
                e = np.exp(h - h.max(axis=1, keepdims=True))
                e /= e.sum(axis=1, keepdims=True)
        d = (e - yb) / np.float32(len(xb))
        done = []
        for i in range(last, -1, -1):
            inp, h, mask = saved[i]
            gw, gb = inp.T @ d, d.sum(axis=0)
            dh = d @ self.W[i].T if i else None
            if self.variant == "per-layer":
                self._update([(i, gw, gb)])
            else:
                done.append((i, gw, gb))
            if i:
                _, h_prev, mask_prev = saved[i - 1]
                dh *= mask_prev
                d = be.tanh_grad(h_prev, dh)
        if done:
            self._update(done)

    def run(self, steps: int) -> float:
        b = W1.batch
        order = self.rng.permutation(len(self.x))
        t0 = time.perf_counter()
        for k in range(steps):
            idx = order[k * b:(k + 1) * b]
            self.step(self.x.take(idx, axis=0), self.y.take(idx, axis=0))
        return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.lean_step", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--steps", type=int, default=105, help="training steps per round (an epoch has 210)")
    p.add_argument("--variant", default="end", choices=("end", "per-layer", "no-mask"))
    args = p.parse_args(argv)
    if not 1 <= args.steps <= 210 or args.rounds < 1:
        p.error("--steps must be in 1..210 (one epoch's batches) and --rounds at least 1")

    from . import data
    from .data import one_hot
    from .sysinfo import blas_info, blas_summary
    d = data.load()
    lean = LeanStep(np.ascontiguousarray(d["x_train"][:42000]), one_hot(d["y_train"][:42000]), args.variant)
    floor = GemmSequence(W1)
    lean.run(5)
    floor.train_steps(5)
    ratios = []
    for r in range(args.rounds):
        t_lean = lean.run(args.steps)
        t_floor = floor.train_steps(args.steps)
        ratios.append(t_lean / t_floor)
        print(f"round {r + 1}: lean {t_lean:.3f} s, floor {t_floor:.3f} s, ratio {ratios[-1]:.3f}")
    print(f"lean W1 step ({args.variant}, {args.steps} steps per round, {blas_summary(blas_info())}): "
          f"median {np.median(ratios):.3f}x the floor, min {min(ratios):.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
