"""Replayed steps: a step's Python runs on recorded steps only; the others run its backend calls.

For a fixed batch shape, a training or inference step makes the same backend calls every time:
the layers, the loss and the tape only decide, in Python, which calls with which arguments. A
``StepReplay`` runs a step normally while recording every backend call (method, arguments,
result). When two consecutive recordings agree, it compiles the calls into one Python function
and runs that for later steps of the same shapes, skipping the Python that chose them.

The recordings agree when they make the same calls with equal constants, and every array argument
is an input of the step, the result of an earlier call in the step, or the same object both times
(a weight updated in place, a cached constant). The one value allowed to differ is a dropout
counter (and its seed): a ``SeedGenerator`` draw made while recording is marked, and the replay
draws again from the same generator, so masks follow the same Philox stream as unreplayed steps.

A step runs normally, and is not replayed, when the recordings cannot vouch for it: a host read
inside the step (``to_numpy``), a constant that differs between the recordings, an array argument
that is a new object each step yet not made by a recorded call (computed outside the backend), or
an output that is not one of the recorded arrays; or when a layer says so (``refuse``).

As in Keras' compiled ``fit`` (``run_eagerly=False``), Python side effects inside a layer's
``call`` happen on recorded steps only; ``compile(run_eagerly=True)`` runs every step normally.
"""
from __future__ import annotations

import inspect
import itertools
import math
import numbers
import struct
import weakref
from typing import Any, Callable, Sequence

from ..backends import philox
from . import random as _random
from .tape import B, Tensor, Variable

# Backend methods whose result is a Python fact (compared between the recordings, not replayed).
_QUERIES = frozenset({"is_array", "dtype_name", "can_hold", "device_description"})
# Methods that read or wait on the device: a step that calls one is not replayed (its Python may
# branch on what it read).
_HOST_READS = frozenset({"to_numpy", "synchronize", "memory_scope", "release_memory"})
# Disagreeing pairs of consecutive recordings after which a loop stops recording (per batch shape).
_ATTEMPTS = 3
# Batch signatures one loop records and replays (a loop whose shapes keep changing stops there).
_SHAPES = 8
_PLAIN = (type(None), bool, int, float, complex, str, bytes, type(Ellipsis))


# A draw made while recording hands out philox.Draw ints tagged with the recording's token. A value
# tagged by another recording (a layer that keeps a counter from an earlier step) is a plain constant
# of this one. The token is a number, not the recording: a reference from the recording's own
# arguments back to it would make a cycle that keeps a whole step's arrays alive until the garbage
# collector runs.


_generation = 0  # advanced by invalidate(); part of every batch signature


def invalidate() -> None:
    """Let no recording made so far be replayed: for Python state that a step's calls branch on
    and no recording can see (a layer's ``trainable`` flag)."""
    global _generation
    _generation += 1


def refuse(why: str) -> None:
    """Mark the step being recorded, if any, as one that must not be replayed: for a layer whose
    ``call`` keeps something in Python that later steps or the user read (a stateful RNN's state,
    a loss or metric added in ``call``)."""
    if _Recording.active is not None and _Recording.active.refused is None:
        _Recording.active.refused = why


def check(fn: Callable[..., None], *arrays: Any) -> None:
    """Run ``fn(*arrays)``: a check of a step's data that raises on bad values and returns nothing
    (Embedding's index range). It may read the arrays on the host, which would otherwise stop a
    step from being replayed; instead a replayed step runs ``fn`` again on its own arrays, so bad
    data still raises at the step that has it. ``fn`` must be the same function on every step (a
    bound method of the layer compares equal)."""
    recording = _Recording.active
    if recording is None:
        fn(*arrays)
    else:
        recording.check(fn, arrays)


class _Recording:
    """One step's outermost backend calls, encoded as they happen: each argument becomes a constant,
    an input slot, an earlier call's result, a marked draw or an outside object (kept, and compared
    by identity). Results are held weakly, so recording a step keeps no more memory alive than the
    step itself does; an argument is encoded before its call, so a list the step changes later is
    recorded as it was passed."""

    active: "_Recording | None" = None  # the recording in progress (one at a time)

    def __init__(self, be: Any, inputs: Sequence[Any]):
        self.be = be
        self.inputs = len(inputs)
        self.calls: list[tuple[str, tuple | None, tuple | None, Any]] = []
        self.draws: list[Any] = []  # per draw: its generator, or None for the global one
        self.outside: list[Any] = []
        self.refused: str | None = None
        self.token = next(_TOKENS)
        self._is_array = be.is_array  # taken before the wrappers go in: checks are not calls
        # id -> (encoding, holder): the holder is the object, or a weak reference to a result, so a
        # new object that reuses a dead result's id is not mistaken for it.
        self._where: dict[int, tuple[tuple, Any]] = {id(a): (("in", k), a) for k, a in enumerate(inputs)
                                                     if a is not None}
        self._outside_at: dict[int, int] = {}
        self._depth = 0

    def __enter__(self) -> "_Recording":
        attrs = self.be.__dict__
        self._shadowed = {n: attrs[n] for n in _method_names(type(self.be)) if n in attrs}
        for name in _method_names(type(self.be)):
            attrs[name] = self._wrap(name, getattr(self.be, name))
        _random._draw_hook = self._draw
        _Recording.active = self
        return self

    def __exit__(self, *exc: Any) -> None:
        _Recording.active = None
        _random._draw_hook = None
        attrs = self.be.__dict__
        for name in _method_names(type(self.be)):
            attrs.pop(name, None)
        attrs.update(self._shadowed)

    def _wrap(self, name: str, method: Callable) -> Callable:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self._depth:  # a backend method calling another: only the outer call is the step's
                return method(*args, **kwargs)
            encoded = None
            if name not in _QUERIES:
                encoded = (tuple(self.value(a) for a in args), tuple((k, self.value(v)) for k, v in kwargs.items()))
            self._depth += 1
            try:
                result = method(*args, **kwargs)
            finally:
                self._depth -= 1
            if name in _HOST_READS and self.refused is None:
                self.refused = f"the step calls the backend's {name}"
            if encoded is None:  # a query: its answer is a constant of the recording
                self.calls.append((name, None, None, self.value(result)))
            else:
                self.calls.append((name, encoded[0], encoded[1], None))
                self._produced(len(self.calls) - 1, result, ())
            return result
        return call

    def check(self, fn: Callable[..., None], arrays: tuple) -> None:
        if self._depth:  # inside a backend call: nothing of it is the step's
            fn(*arrays)
            return
        encoded = tuple(self.value(a) for a in arrays)
        self._depth += 1  # the check's own backend calls and host reads are not the step's
        try:
            fn(*arrays)
        finally:
            self._depth -= 1
        self.calls.append((("check", fn), encoded, (), None))

    def _draw(self, generator: Any, seed: int, counter: int) -> tuple[int, int]:
        event = len(self.draws)
        self.draws.append(None if generator is _random._GLOBAL else generator)
        return philox.Draw.tag(seed, event, 0, self.token), philox.Draw.tag(counter, event, 1, self.token)

    def _produced(self, i: int, result: Any, path: tuple) -> None:
        if type(result) in (tuple, list):
            for j, r in enumerate(result):
                self._produced(i, r, path + (j,))
        elif type(result) not in _PLAIN:  # exact: NumPy's float64 and complex128 scalars subclass float and complex
            try:
                holder: Any = weakref.ref(result)
            except TypeError:  # e.g. a NumPy scalar: small, kept
                holder = result
            self._where[id(result)] = (("r", i, path), holder)

    def value(self, x: Any) -> tuple:
        t = type(x)
        if t is philox.Draw:
            if x.token == self.token:
                return ("draw", x.index, x.part)
            x, t = int(x), int
        if t in _PLAIN:
            return ("c", _Constant(x))
        if t is tuple or t is list:
            return (t, tuple(self.value(e) for e in x))
        if t is dict:
            return (dict, tuple((self.value(k), self.value(v)) for k, v in x.items()))
        if t is slice:
            return (slice, self.value(x.start), self.value(x.stop), self.value(x.step))
        if t is Tensor:  # only in outputs
            mask = x._keras_mask
            return (Tensor, self.value(x.value), None if mask is None else self.value(mask))
        known = self._where.get(id(x))
        if known is not None:
            enc, holder = known
            if (holder() if type(holder) is weakref.ref else holder) is x:
                return enc
        if _is_constant(x, self._is_array):
            return ("c", _Constant(x))
        k = self._outside_at.get(id(x))
        if k is None:
            k = self._outside_at[id(x)] = len(self.outside)
            self.outside.append(x)
        return ("out", k)


class _Constant:
    """A constant argument, equal to another only when a replay could not tell them apart: the
    same type and the same bits (0.0 is not -0.0, a NaN equals the same NaN)."""

    __slots__ = ("value", "key")

    def __init__(self, value: Any):
        self.value = value
        t = type(value)
        if t is float:
            self.key = (t, struct.pack("<d", value))
        elif t is complex:
            self.key = (t, struct.pack("<dd", value.real, value.imag))
        elif hasattr(value, "tobytes") and getattr(value, "shape", None) == ():  # a NumPy scalar
            self.key = (t, value.tobytes())
        else:
            self.key = (t, value)

    def __eq__(self, other: Any) -> bool:
        return type(other) is _Constant and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


_TOKENS = itertools.count(1)
_METHODS: dict[type, tuple[str, ...]] = {}


def _method_names(cls: type) -> tuple[str, ...]:
    names = _METHODS.get(cls)
    if names is None:
        names = _METHODS[cls] = tuple(
            n for n in dir(cls) if not n.startswith("_")
            and (inspect.isfunction(inspect.getattr_static(cls, n))
                 or isinstance(inspect.getattr_static(cls, n), (staticmethod, classmethod))))
    return names


def _is_constant(x: Any, is_array: Callable) -> bool:
    """A NumPy scalar or dtype (compared by value); arrays and other objects go by identity."""
    if isinstance(x, Variable) or is_array(x):
        return False
    if isinstance(x, numbers.Number):
        return getattr(x, "shape", ()) == ()
    return type(x).__name__.endswith("DType") or type(x).__name__ == "dtype"


def _agree(one: _Recording, two: _Recording, out1: tuple, out2: tuple) -> str | None:
    """Why two recordings of a step cannot be replayed, or None when they agree."""
    if len(one.calls) != len(two.calls):
        return f"the recordings made {len(one.calls)} and {len(two.calls)} backend calls"
    for i, (a, b) in enumerate(zip(one.calls, two.calls)):
        if a != b:
            return f"backend call {i} ({a[0]}) differs between the recordings"
    if out1 != out2:
        return "the step's outputs differ between the recordings"
    if len(one.outside) != len(two.outside) or any(x is not y for x, y in zip(one.outside, two.outside)):
        return "an array argument is a new object each step but not made by a recorded backend call"
    if len(one.draws) != len(two.draws) or any(x is not y for x, y in zip(one.draws, two.draws)):
        return "the step draws from different seed generators"
    return None


class _Compiler:
    """Python source for one recorded step: a function of (inputs) returning the outputs. Each
    result is dropped after its last use, as the step's own Python drops its temporaries, so the
    memory they held is reused while it is still in cache (keeping every result to the end made a
    W1 step at batch 1024 slower than the normal one)."""

    def __init__(self, recording: _Recording):
        self.recording = recording
        self.names: dict[str, Any] = {"Tensor": Tensor, "_masked": _masked, "_global": _random._global}
        self.constants = 0

    def build(self, outputs: tuple) -> Callable:
        calls = [(i, name, args, kwargs) for i, (name, args, kwargs, _) in enumerate(self.recording.calls)
                 if args is not None]  # a query's answer is a constant of the recording
        last_use: dict[int, int] = {}
        for i, _, args, kwargs in calls:
            for j in _results_used((args, tuple(v for _, v in kwargs))):
                last_use[j] = i
        kept = _results_used(outputs)
        drop_after: dict[int, list[int]] = {}
        for j, i in last_use.items():
            if j not in kept:
                drop_after.setdefault(i, []).append(j)
        # next_draws(): each draw's generator's current seed and next counter, in the recorded order;
        # replayed_step takes them as its draws (a CUDA graph's step draws before it launches).
        sources = []
        for k, gen in enumerate(self.recording.draws):
            if gen is None:
                sources.append("_global().next()")
            else:
                self.names[f"g{k}"] = gen
                sources.append(f"g{k}.next()")
        lines = [f"def next_draws():\n    return [{', '.join(sources)}]\n",
                 "def replayed_step(inputs, draws=None, next_draws=next_draws):"]
        lines += [f"    i{k} = inputs[{k}]" for k in range(self.recording.inputs)]
        if sources:
            lines.append("    if draws is None:")
            lines.append("        draws = next_draws()")
            lines += [f"    s{k}, d{k} = draws[{k}]" for k in range(len(sources))]
        for k, obj in enumerate(self.recording.outside):
            self.names[f"o{k}"] = obj
        # Arrays the step writes in place that outlive it (assign's target: BatchNormalization's
        # moving statistics; an out= from outside the step): a CUDA graph's warm-up that fails
        # part-way puts them back before the step runs again.
        writes: dict[int, Any] = {}
        for i, name, args, kwargs in calls:
            for enc in ([args[0]] if name == "assign" and args else []) + [v for k, v in kwargs if k == "out"]:
                if type(enc) is tuple and len(enc) == 2 and enc[0] == "out":
                    writes.setdefault(enc[1], self.recording.outside[enc[1]])
            self.names[f"m{i}"] = name[1] if type(name) is tuple else getattr(self.recording.be, name)  # a check: its function
            parts = [self.expr(a) for a in args] + [f"{k}={self.expr(v)}" for k, v in kwargs]
            used = i in last_use or i in kept
            lines.append(f"    {f'r{i} = ' if used else ''}m{i}({', '.join(parts)})")
            if drop_after.get(i):
                lines.append("    del " + ", ".join(f"r{j}" for j in sorted(drop_after[i])))
        lines.append(f"    return {self.expr(outputs)}")
        source = "\n".join(lines) + "\n"
        namespace = dict(self.names)
        exec(compile(source, "<lamina replayed step>", "exec"), namespace)
        function = namespace.pop("replayed_step")  # left in its own globals it would make a cycle
        function.source = source
        function.next_draws = namespace.pop("next_draws")  # a default of replayed_step, not a global: no cycle
        function.checks = any(type(name) is tuple for _, name, _, _ in calls)  # host reads of the batch
        function.writes = list(writes.values())
        return function

    def expr(self, enc: tuple) -> str:
        kind = enc[0]
        if kind == "c":
            x = enc[1].value
            t = type(x)
            if (t in (type(None), bool, str) or (t is int and abs(x) < 2 ** 63)
                    or (t is float and math.isfinite(x))):  # a literal (a float's repr is exact)
                return repr(x)
            return self.constant(x)
        if kind == "in":
            return f"i{enc[1]}"
        if kind == "r":
            return f"r{enc[1]}" + "".join(f"[{j}]" for j in enc[2])
        if kind == "draw":
            return f"{'sd'[enc[2]]}{enc[1]}"
        if kind == "out":
            return f"o{enc[1]}"
        if kind is tuple:
            items = [self.expr(e) for e in enc[1]]
            return "(" + "".join(s + ", " for s in items) + ")"
        if kind is list:
            return "[" + ", ".join(self.expr(e) for e in enc[1]) + "]"
        if kind is dict:
            return "{" + ", ".join(f"{self.expr(k)}: {self.expr(v)}" for k, v in enc[1]) + "}"
        if kind is slice:
            return f"slice({self.expr(enc[1])}, {self.expr(enc[2])}, {self.expr(enc[3])})"
        if kind is Tensor:
            if enc[2] is None:
                return f"Tensor({self.expr(enc[1])})"
            return f"_masked({self.expr(enc[1])}, {self.expr(enc[2])})"
        raise AssertionError(f"unknown encoding {enc!r}")

    def constant(self, x: Any) -> str:
        name = f"k{self.constants}"
        self.constants += 1
        self.names[name] = x
        return name


def _results_used(enc: Any) -> set[int]:
    """The calls whose results an encoding refers to."""
    found: set[int] = set()
    stack = [enc]
    while stack:
        item = stack.pop()
        if type(item) is tuple and item:
            if item[0] == "r" and len(item) == 3 and type(item[1]) is int:
                found.add(item[1])
            else:
                stack.extend(item)
    return found


def _masked(value: Any, mask: Tensor) -> Tensor:
    out = Tensor(value)
    out._keras_mask = mask
    return out


class _Shape:
    """What a loop knows about the steps of one batch signature."""

    __slots__ = ("function", "first", "disagreements", "gave_up")

    def __init__(self) -> None:
        self.function: Callable | None = None  # the compiled recording, once two agreed
        self.first: tuple | None = None  # (recording, outputs) awaiting the next one
        self.disagreements = 0
        self.gave_up = False


class StepReplay:
    """Runs ``step()`` normally until two recordings agree, then replays its backend calls.

    ``inputs`` are the backend arrays that change from step to step (the batch); the step's other
    arrays (weights, buffers) must be the same objects on every step. One ``StepReplay`` serves a
    loop over batches: ``fit`` makes a new one each epoch, ``evaluate`` and ``predict`` one per call.
    Each batch signature (shapes, dtypes, ``key``) is recorded and replayed on its own, for up to
    ``_SHAPES`` signatures. When two consecutive recordings disagree, the later one is compared
    with the next (a first step may set something up once); after ``_ATTEMPTS`` disagreements, or
    a recording that cannot be replayed at all (a host read), that signature's steps run normally.
    With ``graphs=True`` the backend may run a compiled step its own way (``graph_step``: CuPy
    launches it as one CUDA graph, whose outputs the next launch overwrites): ``fit`` and
    ``evaluate`` ask for that, as they read each step's outputs before the next; ``predict``, which
    keeps every batch's outputs, does not.
    """

    def __init__(self, graphs: bool = False) -> None:
        self.graphs = graphs  # let the backend run compiled steps as graphs (graph_step): fit's training step
        self.replayed = 0  # steps run from a compiled recording
        self.refused: str | None = None  # why the last attempt could not replay
        self._shapes: dict[Any, _Shape] = {}

    def __call__(self, inputs: Sequence[Any], step: Callable[[], Any], key: Any = ()) -> Any:
        """The result of ``step()``; ``inputs`` lists the arrays it reads that change per step,
        ``key`` anything else that must match for a recording to be reused."""
        if _Recording.active is not None:
            # Inside another step's recording nothing is replayed or recorded: the outer recording
            # must see every backend call, through its own wrappers.
            return step()
        present = [id(a) for a in inputs if a is not None]
        if len(set(present)) != len(present):  # one array in two input slots: the slots must not merge
            return step()
        signature = (key, _generation, B()) + tuple(None if a is None else (tuple(a.shape), a.dtype) for a in inputs)
        shape = self._shapes.get(signature)
        if shape is None:
            if len(self._shapes) >= _SHAPES:
                return step()
            shape = self._shapes[signature] = _Shape()
        if shape.function is not None:
            self.replayed += 1
            return shape.function(inputs)
        if shape.gave_up:
            return step()
        return self._record(shape, inputs, step)

    def _record(self, shape: _Shape, inputs: Sequence[Any], step: Callable[[], Any]) -> Any:
        with _Recording(B(), inputs) as recording:
            result = step()
        try:
            why = recording.refused
            if why is None:
                outputs = recording.value(result)
                if shape.first is None:
                    shape.first = (recording, outputs)
                    return result
                first, first_outputs = shape.first
                why = _agree(first, recording, first_outputs, outputs)
                if why is not None and shape.disagreements + 1 < _ATTEMPTS:
                    # A step may do something once (a layer's lazy set-up, the tape's cached seed),
                    # so the next recording is compared with this one; repeated disagreement means
                    # the step really changes from batch to batch.
                    shape.disagreements += 1
                    shape.first, self.refused = (recording, outputs), why
                    return result
            if why is None:
                shape.function = _Compiler(recording).build(outputs)
                graph_step = getattr(recording.be, "graph_step", None)  # a plugin may lack it
                if self.graphs and graph_step is not None and not shape.function.checks:
                    shape.function = graph_step(shape.function) or shape.function
                shape.first, self.refused = None, None
                return result
        except Exception as exc:  # a recording the generator cannot write out: run normally
            why = f"the recording could not be compiled ({type(exc).__name__}: {exc})"
        self.refused, shape.gave_up, shape.first = why, True, None
        return result
