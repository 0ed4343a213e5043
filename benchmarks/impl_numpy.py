"""W1 written directly in NumPy, the way a careful person would: every activation, mask, gradient
and optimizer temporary is preallocated once and written in place (``out=``); the only
allocations per step are a few (batch, 1)/(classes,) reductions. The reference for "how close to
the floor can plain NumPy get".

Same math as Lamina's W1: glorot-uniform kernels, zero biases, tanh, inverted dropout
(keep-probability 0.5, kept units scaled by 2), softmax + categorical cross-entropy (probabilities
clipped to [1e-7, 1 - 1e-7] for the reported loss; the gradient is the fused ``(p - y) / batch``),
SGD with Nesterov momentum ``v = m v - lr g; p += m v - lr g`` and ``lr / (1 + decay * t)``.
Dropout bits come from NumPy's Philox generator (uniform float32, keep if u >= rate).
"""
from __future__ import annotations

import time

import numpy as np

from .workloads import MLP

EPS = 1e-7
NAME = "numpy-hand"


def library_info() -> dict:
    return {"numpy": np.__version__}


class HandMLP:
    def __init__(self, mlp: MLP, seed: int = 0):
        self.mlp = mlp
        self.rng = np.random.Generator(np.random.Philox(seed))
        s = mlp.sizes
        f32 = np.float32
        self.W, self.b = [], []
        for i in range(len(s) - 1):
            limit = np.sqrt(6.0 / (s[i] + s[i + 1]))
            self.W.append(self.rng.uniform(-limit, limit, (s[i], s[i + 1])).astype(f32))
            self.b.append(np.zeros(s[i + 1], f32))
        self.vW = [np.zeros_like(w) for w in self.W]
        self.vb = [np.zeros_like(b) for b in self.b]
        self.tW = [np.empty_like(w) for w in self.W]   # optimizer temporaries
        self.tb = [np.empty_like(b) for b in self.b]
        self.gW = [np.empty_like(w) for w in self.W]
        self.gb = [np.empty_like(b) for b in self.b]
        self.t = 0
        self._alloc(mlp.batch)

    def _alloc(self, b: int) -> None:
        s, f32 = self.mlp.sizes, np.float32
        nl = len(s) - 1
        self.B = b
        self.xb = np.empty((b, s[0]), f32)
        self.yb = np.empty((b, s[-1]), f32)
        self.h = [np.empty((b, s[i + 1]), f32) for i in range(nl)]       # post-activation
        self.dh = [np.empty((b, s[i + 1]), f32) for i in range(nl)]      # post-dropout (inputs of next layer)
        self.u = [np.empty((b, s[i + 1]), f32) for i in range(nl - 1)]   # uniforms -> masks
        self.keep = [np.empty((b, s[i + 1]), bool) for i in range(nl - 1)]
        self.delta = [np.empty((b, s[i + 1]), f32) for i in range(nl)]   # dL/d(pre-activation)
        self.tmp = [np.empty((b, s[i + 1]), f32) for i in range(nl)]
        self.logp = np.empty((b, s[-1]), f32)

    # --- forward -------------------------------------------------------------------------
    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        nl = len(self.W)
        inp = x
        for i in range(nl):
            h = self.h[i][: len(x)]
            np.matmul(inp, self.W[i], out=h)
            h += self.b[i]
            if i < nl - 1:
                np.tanh(h, out=h)
                if training:
                    self.rng.random(out=self.u[i], dtype=np.float32)
                    np.greater_equal(self.u[i], np.float32(self.mlp.dropout), out=self.keep[i])
                    np.multiply(h, self.keep[i], out=self.dh[i])
                    self.dh[i] *= np.float32(1.0 / (1.0 - self.mlp.dropout))
                    inp = self.dh[i]
                else:
                    inp = h
            else:  # softmax, in place
                h -= h.max(axis=1, keepdims=True)
                np.exp(h, out=h)
                h /= h.sum(axis=1, keepdims=True)
        return self.h[-1][: len(x)]

    def _loss_acc(self, p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        logp = self.logp[: len(p)]
        np.clip(p, EPS, 1.0 - EPS, out=logp)
        np.log(logp, out=logp)
        logp *= y
        loss = -float(logp.sum()) / len(p)
        acc = float(np.count_nonzero(p.argmax(1) == y.argmax(1))) / len(p)
        return loss, acc

    # --- one step ------------------------------------------------------------------------
    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        m = self.mlp
        nl = len(self.W)
        p = self._forward(x, True)
        loss, acc = self._loss_acc(p, y)
        d = self.delta[-1]
        np.subtract(p, y, out=d)
        d *= np.float32(1.0 / len(x))
        for i in reversed(range(nl)):
            inp = x if i == 0 else self.dh[i - 1]
            np.matmul(inp.T, self.delta[i], out=self.gW[i])
            np.sum(self.delta[i], axis=0, out=self.gb[i])
            if i > 0:
                dprev = self.delta[i - 1]
                np.matmul(self.delta[i], self.W[i].T, out=dprev)     # d loss / d dropout output
                np.multiply(dprev, self.keep[i - 1], out=dprev)          # through the mask ...
                dprev *= np.float32(1.0 / (1.0 - m.dropout))
                t = self.tmp[i - 1]
                np.multiply(self.h[i - 1], self.h[i - 1], out=t)         # ... and tanh' = 1 - h^2
                np.subtract(np.float32(1.0), t, out=t)
                dprev *= t
        lr = np.float32(m.lr / (1.0 + m.decay * self.t))
        mom = np.float32(m.momentum)
        for p_, g, v, t in zip(self.W + self.b, self.gW + self.gb, self.vW + self.vb, self.tW + self.tb):
            np.multiply(g, lr, out=t)       # t = lr g
            v *= mom
            v -= t                          # v = m v - lr g
            p_ -= t
            np.multiply(v, mom, out=t)
            p_ += t                         # p += m v - lr g
        self.t += 1
        return loss, acc

    # --- loops ----------------------------------------------------------------------------
    def epoch(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> dict:
        b = self.B
        order = self.rng.permutation(len(x))
        tl = ta = 0.0
        steps = len(x) // b
        for s in range(steps):
            idx = order[s * b:(s + 1) * b]
            np.take(x, idx, axis=0, out=self.xb)
            np.take(y, idx, axis=0, out=self.yb)
            loss, acc = self.train_step(self.xb, self.yb)
            tl += loss
            ta += acc
        out = {"loss": tl / max(steps, 1), "accuracy": ta / max(steps, 1)}
        if x_val is not None and len(x_val):
            vl, va = self.evaluate(x_val, y_val)
            out.update(val_loss=vl, val_accuracy=va)
        return out

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        b = self.B
        tl = ta = 0.0
        n = 0
        for s in range(0, len(x), b):
            xb, yb = x[s:s + b], y[s:s + b]
            p = self._forward(xb, False)
            loss, acc = self._loss_acc(p, yb)
            tl += loss * len(xb)
            ta += acc * len(xb)
            n += len(xb)
        return tl / n, ta / n


class Trainer:
    """The uniform interface the child process drives (see benchmarks.child)."""

    label = "numpy-hand"

    def __init__(self, backend: str, mlp: MLP, seed: int):
        if backend not in ("numpy", "cpu"):
            raise RuntimeError(f"the hand-written NumPy loop runs on the CPU only, not {backend!r}")
        self.net = HandMLP(mlp, seed)

    def device(self) -> str:
        return "CPU"

    def prepare(self, x_train, y_train, x_val, y_val) -> None:
        from .data import one_hot
        self.data = (np.ascontiguousarray(x_train), one_hot(y_train),
                     np.ascontiguousarray(x_val), one_hot(y_val))

    def fit_epochs(self, epochs: int, train_n: int | None = None, val_n: int | None = None) -> tuple[list[float], dict]:
        x, y, xv, yv = self.data
        x, y = x[:train_n], y[:train_n]
        xv, yv = xv[:val_n], yv[:val_n]
        times, logs = [], {}
        for _ in range(epochs):
            t0 = time.perf_counter()
            logs = self.net.epoch(x, y, xv, yv)
            times.append(time.perf_counter() - t0)
        return times, logs

    def evaluate(self, val_n: int | None = None) -> tuple[float, float]:
        _, _, xv, yv = self.data
        t0 = time.perf_counter()
        _, acc = self.net.evaluate(xv[:val_n], yv[:val_n])
        return time.perf_counter() - t0, acc

    def train_steps(self, x, y, steps: int) -> float:
        from .data import one_hot
        b = self.net.B
        x, y = np.ascontiguousarray(x[: steps * b]), one_hot(y[: steps * b])
        t0 = time.perf_counter()
        self.net.epoch(x, y, None, None)
        return time.perf_counter() - t0
