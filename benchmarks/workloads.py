"""Workload definitions shared by every implementation and by the GEMM floor.

W1 is the classic Keras MNIST MLP: 784-500-500-10, tanh, Dropout(0.5), softmax, categorical
cross-entropy, SGD(lr 0.01, momentum 0.9, Nesterov, Keras-2 decay 1e-6: lr/(1 + decay*t)),
batch 200, float32. One epoch = 42,000 training samples (210 steps) + a validation pass over
18,000 samples (90 steps), as ``fit(validation_split=0.3)`` on the 60,000 MNIST training images.
W1-infer = that validation pass alone (``evaluate`` on 18,000 samples, batch 200).
The sweep varies the batch size (width 500) and the hidden width (batch 200) for a few steps.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

INPUT, CLASSES = 784, 10


@dataclass(frozen=True)
class MLP:
    hidden: tuple[int, ...] = (500, 500)
    batch: int = 200
    dropout: float = 0.5
    lr: float = 0.01
    momentum: float = 0.9
    decay: float = 1e-6

    @property
    def sizes(self) -> tuple[int, ...]:
        return (INPUT,) + tuple(self.hidden) + (CLASSES,)

    def forward_flops(self, batch: int | None = None) -> float:
        b = batch or self.batch
        s = self.sizes
        return float(sum(2 * b * s[i] * s[i + 1] for i in range(len(s) - 1)))

    def train_flops(self, batch: int | None = None) -> float:
        """Forward + weight gradients (all layers) + input gradients (all but the first layer)."""
        b = batch or self.batch
        s = self.sizes
        fwd = self.forward_flops(b)
        igrad = sum(2 * b * s[i] * s[i + 1] for i in range(1, len(s) - 1))
        return 2 * fwd + igrad


W1 = MLP()
TRAIN_N, VAL_N = 42000, 18000
QUICK_FRACTION = 5  # --quick runs 1/5 of an epoch and extrapolates

# Sweep: batch sizes at width 500, widths at batch 200. Steps per point are chosen so that each
# point costs about SWEEP_FLOPS of matrix products (min 3, max 40 steps).
SWEEP_BATCHES = (32, 64, 128, 256, 512, 1024)
SWEEP_WIDTHS = (256, 512, 1024, 2048, 4096)
SWEEP_FLOPS = 12e9
SWEEP_QUICK_FLOPS = 3e9


@dataclass(frozen=True)
class SweepPoint:
    batch: int
    width: int
    steps: int

    @property
    def name(self) -> str:
        return f"sweep b={self.batch} h={self.width}"

    @property
    def mlp(self) -> MLP:
        return MLP(hidden=(self.width, self.width), batch=self.batch)


def sweep_points(quick: bool = False) -> list[SweepPoint]:
    budget = SWEEP_QUICK_FLOPS if quick else SWEEP_FLOPS
    pts = [(b, 500) for b in SWEEP_BATCHES] + [(200, w) for w in SWEEP_WIDTHS]
    out = []
    for b, w in pts:
        per_step = MLP(hidden=(w, w), batch=b).train_flops()
        steps = int(max(3, min(40, budget // per_step)))
        steps = min(steps, 60000 // b)
        out.append(SweepPoint(b, w, steps))
    return out


@dataclass
class EpochShape:
    """How much of an epoch a run does (all of it, or 1/QUICK_FRACTION with --quick)."""
    train_n: int = TRAIN_N
    val_n: int = VAL_N
    scale: float = 1.0  # multiply measured seconds by this to get seconds per full epoch

    @classmethod
    def for_run(cls, quick: bool) -> "EpochShape":
        if quick:
            return cls(TRAIN_N // QUICK_FRACTION, VAL_N // QUICK_FRACTION, float(QUICK_FRACTION))
        return cls()

    def as_dict(self) -> dict:
        return asdict(self)
