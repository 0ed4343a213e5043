"""Learning-rate schedules: callables from the update count to a rate."""
from __future__ import annotations

import math


class LearningRateSchedule:
    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


class ExponentialDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float, staircase: bool = False):
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase = decay_rate, staircase

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)

    def get_config(self):
        return dict(vars(self))


class InverseTimeDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float, staircase: bool = False):
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase = decay_rate, staircase

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate / (1 + self.decay_rate * (math.floor(p) if self.staircase else p))

    def get_config(self):
        return dict(vars(self))


class PiecewiseConstantDecay(LearningRateSchedule):
    def __init__(self, boundaries: list, values: list):
        if len(values) != len(boundaries) + 1:
            raise ValueError("PiecewiseConstantDecay needs one more value than boundaries, got "
                             f"{len(boundaries)} boundaries and {len(values)} values.")
        self.boundaries, self.values = list(boundaries), list(values)

    def __call__(self, step):
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]

    def get_config(self):
        return dict(vars(self))
