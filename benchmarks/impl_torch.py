"""W1 on PyTorch with a hand-written loop (eager): nn.Linear/Tanh/Dropout, cross-entropy on the
logits (softmax + categorical cross-entropy fused, as PyTorch users write it), torch.optim.SGD
(Nesterov momentum 0.9) with the learning rate set to ``lr / (1 + decay * t)`` each step,
glorot-uniform kernels and zero biases. The data set lives on the device; batches are gathered
there with a random permutation. ``backend`` is ``cpu`` or ``cuda``."""
from __future__ import annotations

import time

from .workloads import MLP

NAME = "torch"


def torch_gemm_kernel() -> str:
    """Which GEMM library this torch build uses on the CPU (its own; OPENBLAS_* do not reach it)."""
    import re

    import torch
    cfg = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", cfg)
    cap = re.search(r"CPU capability usage: (\w+)", cfg)
    return f"torch {blas.group(1) if blas else '?'}" + (f" {cap.group(1)}" if cap else "")


def library_info() -> dict:
    import torch
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads(), "gemm": torch_gemm_kernel()}


class Trainer:
    label = "torch"

    def __init__(self, backend: str, mlp: MLP, seed: int):
        import torch
        from torch import nn

        if backend == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("PyTorch sees no CUDA device (torch.cuda.is_available() is False)")
        if backend not in ("cpu", "cuda"):
            raise RuntimeError(f"unknown torch device {backend!r} (use cpu or cuda)")
        self.torch = torch
        self.dev = torch.device(backend)
        torch.manual_seed(seed)
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.mlp = mlp
        layers: list = []
        s = mlp.sizes
        for i in range(len(s) - 1):
            lin = nn.Linear(s[i], s[i + 1])
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
            layers.append(lin)
            if i < len(s) - 2:
                layers += [nn.Tanh(), nn.Dropout(mlp.dropout)]
        self.model = nn.Sequential(*layers).to(self.dev)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=mlp.lr, momentum=mlp.momentum, nesterov=True)
        self.loss_fn = nn.CrossEntropyLoss()
        self.t = 0

    def device(self) -> str:
        if self.dev.type == "cuda":
            return f"CUDA {self.torch.cuda.get_device_name(self.dev)}"
        return f"CPU, {self.torch.get_num_threads()} threads"

    def _sync(self) -> None:
        if self.dev.type == "cuda":
            self.torch.cuda.synchronize()

    def prepare(self, x_train, y_train, x_val, y_val) -> None:
        t = self.torch
        self.data = tuple(t.from_numpy(a).to(self.dev) for a in (x_train, y_train, x_val, y_val))

    def _train_epoch(self, x, y) -> tuple[float, float]:
        t = self.torch
        b = self.mlp.batch
        self.model.train()
        order = t.randperm(len(x), generator=self.gen).to(self.dev)
        steps = len(x) // b
        loss_sum = t.zeros((), device=self.dev)
        correct = t.zeros((), device=self.dev, dtype=t.int64)
        for s in range(steps):
            idx = order[s * b:(s + 1) * b]
            xb, yb = x[idx], y[idx]
            for g in self.opt.param_groups:
                g["lr"] = self.mlp.lr / (1.0 + self.mlp.decay * self.t)
            self.opt.zero_grad(set_to_none=True)
            logits = self.model(xb)
            loss = self.loss_fn(logits, yb)
            loss.backward()
            self.opt.step()
            self.t += 1
            with t.no_grad():  # metrics stay on the device, read once per epoch
                loss_sum += loss.detach()
                correct += (logits.argmax(1) == yb).sum()
        return float(loss_sum) / max(steps, 1), int(correct) / max(steps * b, 1)

    def _evaluate(self, x, y) -> tuple[float, float]:
        t = self.torch
        b = self.mlp.batch
        self.model.eval()
        loss_sum = t.zeros((), device=self.dev)
        correct = t.zeros((), device=self.dev, dtype=t.int64)
        with t.inference_mode():
            for s in range(0, len(x), b):
                xb, yb = x[s:s + b], y[s:s + b]
                logits = self.model(xb)
                loss_sum += self.loss_fn(logits, yb) * len(xb)
                correct += (logits.argmax(1) == yb).sum()
        return float(loss_sum) / len(x), int(correct) / len(x)

    def fit_epochs(self, epochs: int, train_n: int | None = None, val_n: int | None = None) -> tuple[list[float], dict]:
        x, y, xv, yv = self.data
        x, y, xv, yv = x[:train_n], y[:train_n], xv[:val_n], yv[:val_n]
        times, logs = [], {}
        for _ in range(epochs):
            self._sync()
            t0 = time.perf_counter()
            loss, acc = self._train_epoch(x, y)
            vl, va = self._evaluate(xv, yv)
            self._sync()
            times.append(time.perf_counter() - t0)
            logs = {"loss": loss, "accuracy": acc, "val_loss": vl, "val_accuracy": va}
        return times, logs

    def evaluate(self, val_n: int | None = None) -> tuple[float, float]:
        _, _, xv, yv = self.data
        self._sync()
        t0 = time.perf_counter()
        _, acc = self._evaluate(xv[:val_n], yv[:val_n])
        self._sync()
        return time.perf_counter() - t0, acc

    def train_steps(self, x, y, steps: int) -> float:
        t = self.torch
        b = self.mlp.batch
        xs = t.from_numpy(x[: steps * b]).to(self.dev)
        ys = t.from_numpy(y[: steps * b]).to(self.dev)
        self._sync()
        t0 = time.perf_counter()
        self._train_epoch(xs, ys)
        self._sync()
        return time.perf_counter() - t0
