"""Reverse-mode autodiff: ``Tensor``, ``Variable`` and ``GradientTape``.

The graph lives in the tensors, as in micrograd: while a tape records, an op whose inputs
include a tracked tensor returns a tensor that remembers its inputs and a vector-Jacobian
product (``vjp(g) -> one gradient per input``). Each such tensor also gets a sequence number in
the order it was made; ``tape.gradient`` walks the graph from the target in decreasing sequence
numbers, so a node's gradient is complete before its VJP runs (every op that consumed it was made
after it) and no sort of the graph is needed. An op with several outputs (``make_outputs``) records
one hidden node whose VJP gets all the outputs' gradients at once. Outside a tape nothing is
remembered, so inference keeps no graph alive.
"""
from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable, Iterable, Sequence

from .. import backends

_recording = 0  # number of open tapes; >0 means ops record
_SEQUENCE = itertools.count(1)  # creation order of recorded tensors (0: not recorded)


def B() -> Any:
    """The active backend."""
    return backends.current()


_DTYPE_NAMES: dict[Any, str] = {}


class Tensor:
    """A backend array plus, while recording, the node that produced it."""

    # ``_keras_mask``: the boolean mask a layer attached to its output (Keras' name), or None.
    __slots__ = ("value", "_parents", "_vjp", "_tracked", "_keras_mask", "_seq", "__weakref__")
    __array_priority__ = 1000  # so numpy_array + tensor defers to Tensor.__radd__

    def __init__(self, value: Any, parents: tuple = (), vjp: Callable | None = None,
                 tracked: bool = False):
        self.value = value
        self._parents = parents
        self._vjp = vjp
        self._tracked = tracked
        self._keras_mask = None
        self._seq = next(_SEQUENCE) if vjp is not None else 0

    # --- array-like facts --------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def dtype(self) -> str:
        d = self.value.dtype
        name = _DTYPE_NAMES.get(d)
        if name is None:  # str(dtype) runs Python code in NumPy: once per dtype, not per call
            name = _DTYPE_NAMES[d] = str(d)
        return name

    @property
    def ndim(self) -> int:
        return self.value.ndim

    def __len__(self) -> int:
        return len(self.value)

    def numpy(self) -> Any:
        """The value as a host NumPy array."""
        return B().to_numpy(self.value)

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr.astype(dtype) if dtype is not None else arr

    def __float__(self) -> float:
        return float(self.numpy())

    def __int__(self) -> int:
        return int(self.numpy())

    def __bool__(self) -> bool:
        return bool(self.numpy())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} shape={self.shape} dtype={self.dtype}\n{self.numpy()!r}>"

    # --- operators route through lamina.ops so custom code gets gradients ----------------
    def __add__(self, other): return _ops().add(self, other)
    def __radd__(self, other): return _ops().add(other, self)
    def __sub__(self, other): return _ops().subtract(self, other)
    def __rsub__(self, other): return _ops().subtract(other, self)
    def __mul__(self, other): return _ops().multiply(self, other)
    def __rmul__(self, other): return _ops().multiply(other, self)
    def __truediv__(self, other): return _ops().divide(self, other)
    def __rtruediv__(self, other): return _ops().divide(other, self)
    def __pow__(self, other): return _ops().power(self, other)
    def __rpow__(self, other): return _ops().power(other, self)
    def __matmul__(self, other): return _ops().matmul(self, other)
    def __rmatmul__(self, other): return _ops().matmul(other, self)
    def __neg__(self): return _ops().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _ops().abs(self)
    def __getitem__(self, key): return _ops().getitem(self, key)
    def __lt__(self, other): return _ops().less(self, other)
    def __le__(self, other): return _ops().less_equal(self, other)
    def __gt__(self, other): return _ops().greater(self, other)
    def __ge__(self, other): return _ops().greater_equal(self, other)
    __hash__ = object.__hash__

    @property
    def T(self) -> "Tensor":
        return _ops().transpose(self)


def _ops():
    from . import core
    return core


class Variable(Tensor):
    """A named, mutable tensor (a weight). Trainable variables are watched by every tape."""

    __slots__ = ("name", "trainable", "constraint", "regularizer")

    def __init__(self, value: Any, name: str = "variable", trainable: bool = True,
                 constraint: Callable | None = None):
        be = B()
        if isinstance(value, Tensor) or not be.is_array(value):
            # Host data (a NumPy array on a GPU, a list, a number) or another tensor's array, with
            # convert_to_tensor's dtypes, as a copy: a variable is written in place, and the backend
            # may hand out one shared array for a repeated scalar.
            value = be.copy(_ops().convert_to_tensor(value).value)
        super().__init__(value)
        self.name = name
        self.trainable = trainable
        self.constraint = constraint
        self.regularizer = None

    @property
    def _tracked(self) -> bool:  # type: ignore[override]
        return self.trainable

    @_tracked.setter
    def _tracked(self, value: bool) -> None:
        pass

    def assign(self, value: Any) -> None:
        """Overwrite the value in place (shape must match)."""
        v = value.value if isinstance(value, Tensor) else value
        v = B().asarray(v, dtype=self.dtype)
        if tuple(v.shape) != self.shape:
            raise ValueError(f"Cannot assign a value of shape {tuple(v.shape)} to variable "
                             f"{self.name!r} of shape {self.shape}.")
        B().assign(self.value, v)

    def numpy(self) -> Any:
        """A host copy of the value (later updates do not change it)."""
        be = B()
        return be.to_numpy(be.copy(self.value))

    def __repr__(self) -> str:
        return f"<Variable {self.name!r} shape={self.shape} dtype={self.dtype}>"


def recording() -> bool:
    return _recording > 0


def make(value: Any, inputs: Sequence[Any], vjp: Callable) -> Tensor:
    """Wrap an op's output; remember inputs and ``vjp`` when a tape records a tracked input."""
    if _recording and any(isinstance(t, Tensor) and t._tracked for t in inputs):
        return Tensor(value, tuple(inputs), vjp, True)
    return Tensor(value)


def make_outputs(values: Sequence[Any], inputs: Sequence[Any], vjp: Callable) -> tuple[Tensor, ...]:
    """Wrap an op with several outputs. While a tape records a tracked input, a hidden node holds the
    inputs and ``vjp(grads)``, which gets one gradient per output (None for an output that received
    none) and returns one per input; each output's own VJP hands its gradient to that node."""
    if not (_recording and any(isinstance(t, Tensor) and t._tracked for t in inputs)):
        return tuple(Tensor(v) for v in values)
    count = len(values)
    owner = Tensor(None, tuple(inputs), vjp, True)  # made first: processed after every output
    return tuple(Tensor(v, (owner,), lambda g, k=k: (OutputGradient(k, count, g),), True)
                 for k, v in enumerate(values))


class GradientTape:
    """Records differentiable ops inside a ``with`` block.

    Example:
        >>> with GradientTape() as tape:
        ...     loss = ops.sum(ops.square(w))
        >>> (dw,) = tape.gradient(loss, [w])
    """

    def __init__(self, persistent: bool = False):
        self.persistent = persistent
        self._open = False
        self._watched: list[Tensor] = []

    def __enter__(self) -> "GradientTape":
        global _recording
        _recording += 1
        self._open = True
        return self

    def __exit__(self, *exc) -> None:
        global _recording
        if self._open:
            _recording -= 1
            self._open = False
        # Watched tensors stay tracked: tape.gradient is usually called after the block ends.

    def watch(self, tensor: Tensor) -> None:
        """Track a non-variable tensor so gradients with respect to it can be taken."""
        if not isinstance(tensor, Tensor):
            raise TypeError(f"GradientTape.watch expects a lamina Tensor, got {type(tensor).__name__}.")
        if not isinstance(tensor, Variable):
            tensor._tracked = True
            self._watched.append(tensor)

    def gradient(self, target: Tensor, sources: Iterable[Tensor] | Tensor,
                 output_gradients: Any = None) -> Any:
        """d(sum of target * output_gradients)/d(source) for each source (None if unconnected)."""
        single = isinstance(sources, Tensor)
        srcs = [sources] if single else list(sources)
        grads = backward(target, srcs, output_gradients)
        return grads[0] if single else grads


class SliceGradient:
    """A VJP result that is zero except at ``key``: ``values`` belong at ``x[key]`` of an ``x`` of
    ``shape``. The tape adds it into the one gradient buffer of ``x`` in place, instead of making
    a zero array per contribution: an RNN reads its input one time step at a time, and T dense
    gradients of the whole sequence would cost O(T^2) (measured: 80% of an LSTM training step)."""

    __slots__ = ("shape", "key", "values", "dtype")

    def __init__(self, shape: tuple, key: Any, values: Any, dtype: str):
        self.shape, self.key, self.values, self.dtype = shape, key, values, dtype


class OutputGradient:
    """A VJP result for output ``index`` of a ``count``-output op (``make_outputs``): the tape keeps
    that op's gradient as a list with one entry per output."""

    __slots__ = ("index", "count", "g")

    def __init__(self, index: int, count: int, g: Any):
        self.index, self.count, self.g = index, count, g


def backward(target: Tensor, sources: list[Tensor], output_gradients: Any = None) -> list[Any]:
    """Gradients (as Tensors) of ``target`` with respect to ``sources``."""
    be = B()
    if not isinstance(target, Tensor):
        raise TypeError(f"gradient() target must be a Tensor computed inside the tape, got {type(target).__name__}.")
    if output_gradients is None:
        seed = _ones_seed(be, target.shape, target.dtype)
    else:
        og = output_gradients.value if isinstance(output_gradients, Tensor) else output_gradients
        seed = be.asarray(og, dtype=target.dtype)
    grads: dict[int, Any] = {id(target): seed}
    # Gradient buffers the tape allocated itself: only these may be added into in place (a VJP may
    # hand the same array to several parents, e.g. add's g, so its arrays are never written).
    owned: set[int] = set()
    # Nodes whose gradient has begun, newest first: when one is popped, every node made after it
    # that leads to the target has been processed, so its gradient is complete.
    # id() breaks ties (a copy.copy of a tensor shares its number): Tensors themselves never compare.
    pending: list[tuple[int, int, Tensor]] = [(-target._seq, id(target), target)] if target._vjp is not None else []
    while pending:
        node = heapq.heappop(pending)[2]
        for parent, pg in zip(node._parents, node._vjp(grads[id(node)])):
            if pg is None or not (isinstance(parent, Tensor) and parent._tracked):
                continue
            key = id(parent)
            have = grads.get(key)
            if have is None and parent._vjp is not None:
                heapq.heappush(pending, (-parent._seq, key, parent))
            if isinstance(pg, OutputGradient):  # one slot per output of a several-output op
                parts = have if have is not None else [None] * pg.count
                prev = parts[pg.index]  # a copy.copy of an output reports the same index again
                parts[pg.index] = pg.g if prev is None else be.add(prev, pg.g)  # new array: prev may be shared
                grads[key] = parts
            elif isinstance(pg, SliceGradient):  # into the one buffer of x (scatter_add makes it when None)
                if have is not None and key not in owned:
                    have = be.copy(have)
                grads[key] = be.scatter_add(pg.shape, pg.key, pg.values, pg.dtype, out=have)
                owned.add(key)
            elif have is None:
                grads[key] = pg
            elif key in owned and have.shape == pg.shape and have.dtype == pg.dtype:
                be.add(have, pg, out=have)  # same rounding as a new array, one allocation fewer
            else:
                grads[key] = be.add(have, pg)
                owned.add(key)
    # The shared seed, or a view of it (reshape's, squeeze's, a 0-d transpose's VJP), is never handed
    # out: the caller may write into its gradients. Without a way to tell, every gradient is copied.
    shared = output_gradients is None and target.shape == ()
    overlaps = getattr(getattr(be, "xp", None), "may_share_memory", None) if shared else None
    out = []
    for s in sources:
        g = grads.get(id(s))
        if g is not None and shared and (g is seed or overlaps is None or overlaps(g, seed)):
            g = be.copy(g)
        out.append(None if g is None else Tensor(g))
    return out


def _ones_seed(be: Any, shape: tuple, dtype: str) -> Any:
    """The gradient of a loss with respect to itself: a 0-d one, made once per backend and dtype (a
    new array each step cost a backend call, on a GPU a launch). The tape never writes to it (it
    adds in place only into buffers it made) and hands it out only as a copy."""
    if shape != ():
        return be.ones(shape, dtype)
    cache = be.__dict__.setdefault("_tape_seeds", {})
    seed = cache.get(dtype)
    if seed is None:
        seed = cache[dtype] = be.ones((), dtype)
    return seed
