"""The GEMM floor: the matrix products of one W1 epoch and nothing else, timed with NumPy.

Per training step (batch 200): forward ``x@W1, h1@W2, h2@W3``; weight gradients
``x.T@d1, h1.T@d2, h2.T@d3``; input gradients ``d3@W3.T, d2@W2.T`` (none for the input layer).
210 such steps, then 90 forward-only validation steps. Every operand is preallocated and every
product writes into a preallocated output (``matmul(..., out=)``), with transposes as views so
BLAS sees the same transpose flags a careful implementation would. No element-wise work, no
Python framework: no implementation that does these products in float32 on this BLAS can be
faster, so each workload is reported as a multiple of its floor.
"""
from __future__ import annotations

import time

import numpy as np

from .workloads import MLP


class GemmSequence:
    """Preallocated operands for one MLP shape; ``train_steps(n)``/``forward_steps(n)`` time n steps."""

    def __init__(self, mlp: MLP, seed: int = 0):
        rng = np.random.default_rng(seed)
        s, b = mlp.sizes, mlp.batch
        f32 = np.float32

        def rand(*shape):  # normal-sized values: no denormals to slow BLAS down
            return (rng.standard_normal(shape) * 0.1).astype(f32)

        self.x = rand(b, s[0])
        self.W = [rand(s[i], s[i + 1]) for i in range(len(s) - 1)]
        self.h = [rand(b, s[i + 1]) for i in range(len(s) - 1)]   # layer outputs
        self.d = [rand(b, s[i + 1]) for i in range(len(s) - 1)]   # gradients at layer outputs
        self.gW = [np.empty_like(w) for w in self.W]
        self.gin = [np.empty((b, s[i]), f32) for i in range(len(s) - 1)]  # gradients at layer inputs

    def _forward(self) -> None:
        inp = self.x
        for W, h in zip(self.W, self.h):
            np.matmul(inp, W, out=h)
            inp = h

    def _backward(self) -> None:
        inputs = [self.x] + self.h[:-1]
        for i in reversed(range(len(self.W))):
            np.matmul(inputs[i].T, self.d[i], out=self.gW[i])
            if i > 0:
                np.matmul(self.d[i], self.W[i].T, out=self.gin[i])

    def train_steps(self, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            self._forward()
            self._backward()
        return time.perf_counter() - t0

    def forward_steps(self, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            self._forward()
        return time.perf_counter() - t0


def w1_floor(mlp: MLP, train_steps: int, val_steps: int, repeats: int = 1) -> dict:
    """Seconds for the GEMMs of one epoch: ``{"train": s, "val": s, "epoch": s}`` (best of ``repeats``)."""
    seq = GemmSequence(mlp)
    seq.train_steps(3)  # warm the BLAS thread pool and caches
    seq.forward_steps(3)
    train = min(seq.train_steps(train_steps) for _ in range(repeats))
    val = min(seq.forward_steps(val_steps) for _ in range(repeats))
    return {"train": train, "val": val, "epoch": train + val}


def sweep_floor(mlp: MLP, steps: int) -> float:
    seq = GemmSequence(mlp)
    seq.train_steps(1)
    return seq.train_steps(steps)
