"""The backend protocol: every array operation Lamina performs, with its contract.

A backend is any object with these attributes and methods (usually a subclass of
:class:`lamina.backends.base.ArrayBackend`, which implements all of them over an array
namespace ``xp``). Common rules, stated once:

* Arrays are the backend's native arrays (``numpy.ndarray``, ``cupy.ndarray``). Methods accept
  native arrays and, where an argument is called a *scalar*, Python numbers.
* Dtypes are named by strings (``"float32"``, ``"float64"``, ``"int64"``, ``"uint8"``, ``"bool"``).
* Binary element-wise ops broadcast like NumPy; the result dtype is the inputs' common dtype,
  and a Python scalar takes the array's dtype (weak typing, as in Keras 3).
* ``axis`` is an int, a tuple of ints or ``None`` (all axes); negative axes count from the end.
  Reductions return 0-d arrays, never host scalars, so values stay on the device.
* ``out=``, where offered, must be an array of the result's shape and dtype, and is returned.
  Without ``out`` the result is a new array that never aliases an input, except for
  ``reshape``/``transpose``/``expand_dims``/``squeeze``/``broadcast_to``/``to_channels_last``/
  ``to_channels_first`` and ``getitem`` with basic (slice) indexing, which may return views, as
  NumPy does. Lamina never writes into an op's result in place, so views are safe and spare a
  copy per batch.
* Empty arrays are valid everywhere a reduction has an identity; ``max``/``min``/``argmax`` of an
  empty axis raise ``ValueError``.
* Errors are ``ValueError``/``TypeError`` with one sentence naming the op, the shapes and the fix.
* Random ops are pure functions of ``(seed, counter)`` following :mod:`lamina.backends.philox`,
  bit for bit: the same arguments give the same bits on every backend.
"""
from __future__ import annotations

from typing import Any, ContextManager, Protocol, Sequence, runtime_checkable

Array = Any
Axis = int | tuple[int, ...] | None
Shape = tuple[int, ...]


@runtime_checkable
class Backend(Protocol):
    name: str
    """Registry name (``"numpy"``, ``"cupy"``, …)."""
    host_sync_cheap: bool
    """True when reading a device value on the host costs nothing (CPU backends)."""
    flushed_subnormal_dtypes: tuple[str, ...]
    """Float dtypes whose subnormal inputs read as zero and subnormal results become (signed) zero,
    as on a GPU compiled with flush-to-zero; empty where subnormals are kept (NumPy)."""

    # --- devices, creation and transfer -------------------------------------------------
    def device_description(self) -> str:
        """One line naming the device, for the training log."""
    def synchronize(self) -> None:
        """Block until queued device work has finished (no-op on the CPU)."""
    def memory_scope(self, release: bool = False) -> ContextManager[None]:
        """A context in which the backend may serve array memory from its own cache (training
        and inference loops run inside one); ``release=True`` returns the cache to the system when
        the outermost such scope ends. Arrays made inside stay valid after it."""
    def release_memory(self) -> None:
        """Give the cached, unused array memory back to the system (live arrays are untouched)."""
    def graph_step(self, function: Any) -> Any:
        """A callable that runs ``function`` (a compiled replayed training step, lamina/ops/replay.py:
        ``function(inputs, draws=None)`` with ``function.next_draws()``) the backend's fastest way with
        the same results, or None to call ``function`` itself. CuPy launches it as one CUDA graph."""
    def can_hold(self, nbytes: int) -> bool:
        """True when a data set of ``nbytes`` fits comfortably in device memory (then ``fit``
        uploads it once; otherwise it uploads one batch at a time)."""
    def is_array(self, x: Any) -> bool:
        """True for this backend's native arrays."""
    def asarray(self, x: Any, dtype: str | None = None) -> Array:
        """Array from host data (numpy, lists, scalars) or a native array; copies only if needed."""
    def to_numpy(self, x: Array) -> Any:
        """A host ``numpy.ndarray`` with the same values (one synchronisation)."""
    def zeros(self, shape: Shape, dtype: str) -> Array: ...
    def ones(self, shape: Shape, dtype: str) -> Array: ...
    def full(self, shape: Shape, value: float, dtype: str) -> Array: ...
    def empty(self, shape: Shape, dtype: str) -> Array:
        """Uninitialised array, for outputs that are fully overwritten."""
    def arange(self, n: int, dtype: str) -> Array: ...
    def copy(self, x: Array) -> Array: ...
    def cast(self, x: Array, dtype: str) -> Array:
        """Values converted to ``dtype`` (a new array even when the dtype is unchanged)."""
    def dtype_name(self, x: Array) -> str: ...

    # --- element-wise ------------------------------------------------------------------
    def add(self, a: Array, b: Array, out: Array | None = None) -> Array: ...
    def subtract(self, a: Array, b: Array, out: Array | None = None) -> Array: ...
    def multiply(self, a: Array, b: Array, out: Array | None = None) -> Array: ...
    def divide(self, a: Array, b: Array, out: Array | None = None) -> Array:
        """True division; float inputs follow IEEE (x/0 = ±inf, 0/0 = nan)."""
    def power(self, a: Array, b: Array) -> Array: ...
    def maximum(self, a: Array, b: Array) -> Array:
        """Element-wise max; NaN propagates."""
    def minimum(self, a: Array, b: Array) -> Array: ...
    def negative(self, x: Array) -> Array: ...
    def abs(self, x: Array) -> Array: ...
    def sign(self, x: Array) -> Array: ...
    def exp(self, x: Array, out: Array | None = None) -> Array: ...
    def log(self, x: Array) -> Array:
        """Natural log; log(0) = -inf, negative input gives nan."""
    def log1p(self, x: Array) -> Array: ...
    def expm1(self, x: Array) -> Array: ...
    def sqrt(self, x: Array) -> Array: ...
    def square(self, x: Array) -> Array: ...
    def sin(self, x: Array) -> Array: ...
    def cos(self, x: Array) -> Array: ...
    def tanh(self, x: Array, out: Array | None = None) -> Array: ...
    def tanh_grad(self, y: Array, g: Array, out: Array | None = None) -> Array:
        """``g * (1 - y * y)``: tanh's gradient from its output ``y``, each step rounded on its own
        (a one-pass kernel then equals the three ops bit for bit); broadcasts like ``multiply``."""
    def relu_grad(self, y: Array, g: Array, out: Array | None = None) -> Array:
        """``g * (y > 0)``, the comparison cast to ``y``'s dtype: relu's gradient from its output (or
        its input: the mask is the same); broadcasts like ``multiply``."""
    def sigmoid(self, x: Array) -> Array:
        """1 / (1 + exp(-x)) without overflow for any finite x, a few ulp of the exact value."""
    def erf(self, x: Array) -> Array:
        """The error function, to within 1e-7 relative in float32 and 1e-12 in float64."""
    def clip(self, x: Array, lo: float, hi: float) -> Array: ...
    def where(self, cond: Array, a: Array, b: Array) -> Array: ...
    def equal(self, a: Array, b: Array) -> Array: ...
    def not_equal(self, a: Array, b: Array) -> Array: ...
    def greater(self, a: Array, b: Array) -> Array: ...
    def greater_equal(self, a: Array, b: Array) -> Array: ...
    def less(self, a: Array, b: Array) -> Array: ...
    def less_equal(self, a: Array, b: Array) -> Array: ...
    def logical_and(self, a: Array, b: Array) -> Array: ...
    def logical_or(self, a: Array, b: Array) -> Array: ...
    def logical_not(self, x: Array) -> Array: ...
    def isfinite(self, x: Array) -> Array: ...
    def floor(self, x: Array) -> Array: ...
    def round(self, x: Array) -> Array:
        """Round half to even, as NumPy does."""

    # --- reductions ----------------------------------------------------------------------
    def sum(self, x: Array, axis: Axis = None, keepdims: bool = False) -> Array:
        """Sum; float16 inputs accumulate in float32."""
    def mean(self, x: Array, axis: Axis = None, keepdims: bool = False) -> Array: ...
    def max(self, x: Array, axis: Axis = None, keepdims: bool = False) -> Array: ...
    def min(self, x: Array, axis: Axis = None, keepdims: bool = False) -> Array: ...
    def prod(self, x: Array, axis: Axis = None, keepdims: bool = False) -> Array: ...
    def argmax(self, x: Array, axis: int = -1) -> Array:
        """Index of the first maximum along ``axis`` (int64)."""
    def argmin(self, x: Array, axis: int = -1) -> Array: ...
    def all_finite(self, x: Array) -> Array:
        """0-d bool: no inf and no nan in ``x``."""
    def logsumexp(self, x: Array, axis: Axis = None, keepdims: bool = False) -> Array:
        """log(sum(exp(x))) computed with the maximum subtracted first (finite for large x)."""

    # --- linear algebra ------------------------------------------------------------------
    def matmul(self, a: Array, b: Array, out: Array | None = None) -> Array:
        """Matrix product with NumPy's ``matmul`` rules (batched, 1-d promotion)."""

    # --- shapes and indexing -------------------------------------------------------------
    def reshape(self, x: Array, shape: Shape) -> Array:
        """Same data, new shape (one -1 allowed); a view when possible."""
    def transpose(self, x: Array, axes: Sequence[int] | None = None) -> Array: ...
    def expand_dims(self, x: Array, axis: int) -> Array: ...
    def squeeze(self, x: Array, axis: Axis = None) -> Array: ...
    def broadcast_to(self, x: Array, shape: Shape) -> Array: ...
    def concatenate(self, xs: Sequence[Array], axis: int = -1) -> Array: ...
    def stack(self, xs: Sequence[Array], axis: int = 0) -> Array: ...
    def take(self, x: Array, indices: Array, axis: int = 0) -> Array:
        """Gather along ``axis`` (indices int, in range; negative counts from the end)."""
    def getitem(self, x: Array, key: Any) -> Array:
        """NumPy basic and advanced indexing."""
    def scatter_add(self, shape: Shape, key: Any, values: Array, dtype: str, out: Array | None = None) -> Array:
        """Zeros of ``shape`` with ``values`` added at ``key`` (repeated indices accumulate); with
        ``out`` (of ``shape`` and ``dtype``), ``values`` are added into it in place and it is returned."""
    def pad(self, x: Array, pad_width: Sequence[tuple[int, int]], value: float = 0.0) -> Array: ...
    def one_hot(self, indices: Array, depth: int, dtype: str) -> Array:
        """``indices`` (int) → ``indices.shape + (depth,)``; out-of-range indices give all zeros."""

    # --- neural-network primitives -------------------------------------------------------
    def softmax(self, x: Array, axis: int = -1) -> Array:
        """exp(x - max) / sum(exp(x - max)) along ``axis``; rows sum to 1 for any finite x."""
    def log_softmax(self, x: Array, axis: int = -1) -> Array:
        """x - logsumexp(x) along ``axis``, finite for any finite x."""
    def argmax_equal(self, a: Array, b: Array, dtype: str) -> Array:
        """``cast(equal(argmax(a, -1), argmax(b, -1)), dtype)``: 1 where the last-axis argmaxes of
        two arrays of one shape agree (Keras' categorical accuracy per sample), ``argmax``'s rules
        (the first maximum; a NaN counts as the maximum)."""
    def dense_activation(self, y: Array, bias: Array | None, activation: str, dropout: tuple | None = None) -> tuple:
        """A Dense layer's step after its product: ``(a, out, mask)``. ``y`` is ``x @ kernel`` (2-D),
        which the backend may overwrite; ``a = activation(y + bias)`` (no addition when ``bias`` is
        None), each step as ``add``, ``tanh``, ``sigmoid``, ``maximum(y, 0)`` or ``softmax`` (last
        axis) rounds it; with ``dropout = (rate, seed, counter)``, ``(out, mask) = dropout(a, rate,
        seed, counter)``, else ``out`` is ``a`` and ``mask`` None."""
    def dense_activation_grad(self, y: Array, g: Array, activation: str, mask: Array | None = None,
                              bias: bool = True) -> tuple:
        """The backward pass of ``dropout(activation(x @ kernel + bias))`` up to the products:
        ``(d, gb)``. ``y`` is the activation's output (2-D), ``g`` the gradient arriving at the
        dropout's output (or at ``y`` when ``mask`` is None), ``mask`` the dropout's mask.
        ``d = activation_grad(y, g * mask)`` (``tanh_grad``, ``relu_grad``, ``softmax_grad`` along the
        last axis, sigmoid's ``g * (y * (1 - y))``, or the identity for ``"linear"``), each element
        as those ops round it, and, when ``bias``, ``gb = sum(d, axis=0)`` in any order of the
        additions (the NumPy backend's row after row; the CuPy kernel adds in that order too, not
        in ``cupy.sum``'s), else None."""
    def softmax_grad(self, y: Array, g: Array, axis: int = -1) -> Array:
        """``g * y - y * sum(g * y, axis, keepdims=True)``: softmax's gradient from its output
        ``y`` (``g`` of ``y``'s shape), each step rounded on its own, the sum as ``sum`` forms it."""
    def categorical_crossentropy(self, target: Array, y: Array, epsilon: float, axis: int = -1) -> tuple:
        """Keras' cross-entropy of probabilities: ``(per_sample, saved)``.

        ``s = sum(y, axis, keepdims=True)``, ``p = y / s``, ``c = clip(p, epsilon, 1 - epsilon)``,
        ``logp = log(c)``, ``per_sample = -sum(target * logp, axis)``; ``saved = (s, p, c, logp)``
        for ``categorical_crossentropy_grad``. ``target`` has ``y``'s shape and dtype. The values are
        those of the backend's own ``sum``, ``divide``, ``clip``, ``log``, ``multiply`` and
        ``negative`` in that order."""
    def categorical_crossentropy_grad(self, g: Array, target: Array, saved: tuple, epsilon: float,
                                      axis: int = -1) -> Array:
        """The gradient with respect to ``y`` of ``categorical_crossentropy``'s ``per_sample``
        given its gradient ``g``: through the sum, the log, the clip (zero where ``p`` was clipped)
        and the renormalisation, each step as the backend's own ops round it:
        ``gp = where(inside, (-g * target) * (1 / c), 0)``, then
        ``gp / s + sum(-((gp * p) / s), axis, keepdims=True)``."""
    def gru_cell_forward(self, x: Array, inner: Array, h: Array, h_out: Array | None = None) -> tuple:
        """One step of Keras' GRU cell (``reset_after=True``, default activations): ``(z, r, hh,
        inner_h, h_new)``.

        ``x`` is the step's ``x_t @ kernel + input_bias`` and ``inner`` its ``h @ recurrent_kernel +
        recurrent_bias``, both ``(..., 3 * units)`` with blocks z, r, h; ``h`` is the previous state.
        ``z, r = sigmoid(x_z + inner_z), sigmoid(x_r + inner_r)``, ``hh = tanh(x_h + r * inner_h)``,
        ``h_new = z * h + (1 - z) * hh`` (written into ``h_out`` when given); ``inner_h`` is the h
        block of ``inner`` (a view). The values are those of the backend's own ``add``, ``sigmoid``,
        ``multiply``, ``tanh`` and ``subtract`` in that order; the first four results are what
        ``gru_cell_grad`` needs."""
    def gru_cell_grad(self, z: Array, r: Array, hh: Array, inner_h: Array, h_prev: Array, dh: Array, dx: Array,
                      du: Array) -> Array:
        """The backward pass of one step of Keras' GRU cell (``reset_after=True``): ``h = z * h_prev +
        (1 - z) * hh``, ``hh = tanh(x_h + r * inner_h)``, ``z, r = sigmoid(x_z + u_z), sigmoid(x_r + u_r)``.

        ``z, r, hh, h_prev`` and ``dh`` (the gradient of ``h``) are ``(..., units)``; ``inner_h`` is
        the h block of the recurrent product (with its bias). Writes the gradients at the input
        pre-activations into ``dx`` and at the recurrent product into ``du`` (both ``(..., 3 *
        units)``, blocks z, r, h) and returns ``dh * z``, the direct path to ``h_prev``. Each
        operation is rounded on its own, in the order of the base implementation."""
    def lstm_cell_forward(self, z: Array, c: Array, axis: int = -1, h_out: Array | None = None) -> tuple:
        """One step of Keras' LSTM cell with its default activations: ``(i, f, g, o, c_new, tc, h)``.

        ``z`` holds the summed pre-activations, four blocks of ``units`` along ``axis`` in the gate
        order i, f, c, o; ``c`` is the previous carry. ``i, f, o = sigmoid(...)``, ``g = tanh(...)``,
        ``c_new = f * c + i * g``, ``tc = tanh(c_new)``, ``h = o * tc`` (written into ``h_out`` when
        given); the gates and ``tc`` are what ``lstm_cell_grad`` needs. The values are those of the
        backend's own ``sigmoid``, ``tanh``, ``multiply`` and ``add`` in that order."""
    def lstm_cell_grad(self, i: Array, f: Array, g: Array, o: Array, tc: Array, c: Array, gh: Array | None,
                       gc: Array | None, dz: Array, axis: int = -1) -> Array:
        """The backward pass of one LSTM cell step (``h = o * tanh(c_new)``, ``c_new = f * c + i * g``).

        ``i, f, g, o`` are the gate activations, ``tc = tanh(c_new)``, ``c`` the carry the step
        read, ``gh``/``gc`` the gradients of ``h`` and ``c_new`` (either may be None, not both).
        Writes d/dz into the four gate blocks (i, f, c, o) of ``dz`` along ``axis`` and returns the
        gradient of ``c``: ``dc * f`` with ``dc = gh * o * (1 - tc^2) + gc``. Each operation is
        rounded on its own, in the order of the base implementation, so a one-pass kernel gives
        its bits."""

    # --- in-place parameter updates (optimizers) -----------------------------------------
    def assign(self, dst: Array, src: Array) -> None:
        """Copy ``src`` (broadcastable) into ``dst`` in place."""
    def sgd_update(self, param: Array, grad: Array, velocity: Array | None, lr: float,
                   momentum: float, nesterov: bool) -> None:
        """In place: v = m v - lr g; p += m v - lr g (Nesterov) or p += v; plain p -= lr g when
        ``velocity`` is None."""
    def adam_update(self, param: Array, grad: Array, m: Array, v: Array, vhat: Array | None,
                    alpha: float, beta_1: float, beta_2: float, epsilon: float) -> None:
        """In place: m += (g - m)(1 - b1); v += (g² - v)(1 - b2); with ``vhat`` (AMSGrad)
        vhat = max(vhat, v) is used for v; p -= alpha m / (sqrt(v) + eps)."""
    def rmsprop_update(self, param: Array, grad: Array, velocity: Array, lr: float, rho: float,
                       epsilon: float) -> None:
        """In place: v = rho v + (1 - rho) g²; p -= lr g / sqrt(v + eps)."""
    # The same updates for several parameters at once (one call, one launch on a GPU): element for
    # element the single update of each (param, grad, state) triple, in the order given. Each
    # sequence has one entry per parameter; ``velocities``/``vhats`` may be None for all.
    def sgd_update_many(self, params: Sequence[Array], grads: Sequence[Array],
                        velocities: Sequence[Array] | None, lr: float, momentum: float,
                        nesterov: bool) -> None: ...
    def adam_update_many(self, params: Sequence[Array], grads: Sequence[Array], ms: Sequence[Array],
                         vs: Sequence[Array], vhats: Sequence[Array] | None, alpha: float,
                         beta_1: float, beta_2: float, epsilon: float) -> None: ...
    def adadelta_update(self, param: Array, grad: Array, accumulated_grad: Array, accumulated_delta: Array,
                        lr: float, rho: float, epsilon: float) -> None:
        """In place, Keras' Adadelta: a = rho a + (1 - rho) g^2; d = sqrt(D + eps) g / sqrt(a + eps);
        D = rho D + (1 - rho) d^2; p -= lr d (a: accumulated_grad, D: accumulated_delta), each step
        rounded on its own in the base class's order, the scalars rounded to the parameter's dtype."""
    def rmsprop_update_many(self, params: Sequence[Array], grads: Sequence[Array],
                            velocities: Sequence[Array], lr: float, rho: float, epsilon: float) -> None: ...

    # --- randomness (see lamina.backends.philox) -----------------------------------------
    def random_bits(self, seed: int, counter: int, n: int) -> Array:
        """``n`` uint64 Philox4x64-10 words of draw ``counter``."""
    def random_uniform(self, shape: Shape, seed: int, counter: int, dtype: str,
                       minval: float = 0.0, maxval: float = 1.0) -> Array: ...
    def random_normal(self, shape: Shape, seed: int, counter: int, dtype: str,
                      mean: float = 0.0, stddev: float = 1.0) -> Array: ...
    def dropout_mask(self, shape: Shape, rate: float, seed: int, counter: int, dtype: str) -> Array:
        """0 where dropped, 1 / (1 - rate) where kept (inverted dropout)."""
    def dropout(self, x: Array, rate: float, seed: int, counter: int) -> tuple:
        """Inverted dropout of ``x``: ``(x * mask, mask)`` with ``mask = dropout_mask(x.shape, rate,
        seed, counter, x.dtype)``, the product as ``multiply`` rounds it."""

    # --- data formats ---------------------------------------------------------------------
    def to_channels_last(self, x: Array) -> Array:
        """(N, C, *spatial) → (N, *spatial, C)."""
    def to_channels_first(self, x: Array) -> Array:
        """(N, *spatial, C) → (N, C, *spatial)."""

    # --- convolution and pooling ------------------------------------------------------------
    # Layout: channels_last. ``x`` is (N, *spatial, C_in) with 1, 2 or 3 (any >= 1) spatial
    # dimensions; a convolution kernel is (*kernel_size, C_in / groups, C_out), Keras' layout.
    # ``strides``, ``dilation_rate`` and ``pool_size`` are an int (every spatial axis) or one int
    # per spatial axis. Padding follows TensorFlow, per spatial axis of length L, stride s and
    # dilated kernel k' = d (k - 1) + 1: 'valid' pads nothing and gives floor((L - k') / s) + 1
    # outputs; 'same' gives ceil(L / s) outputs with max((out - 1) s + k' - L, 0) zeros, half
    # (rounded down) before and the rest after; 'causal' (1-D only) pads k' - 1 zeros before and
    # none after. Results are new arrays of the inputs' common float dtype; the shape functions in
    # ``lamina.backends.conv`` (conv_output_shape, conv_transpose_output_shape) give the shapes.
    # A geometry that leaves no output (kernel longer than a 'valid' input), channel counts that
    # do not match, or 'causal' on more than one spatial axis raise ValueError naming the shapes.
    def conv(self, x: Array, kernel: Array, strides: Any = 1, padding: str = "valid",
             dilation_rate: Any = 1, groups: int = 1) -> Array:
        """Cross-correlation (no kernel flip, as every DL library): out[n, o, co] =
        sum over taps t and c of a group of xpad[n, o*s + t*d, c] * kernel[t, c, co], where output
        channel co uses input channels [g C_in/G, (g+1) C_in/G) of its group g = co // (C_out/G).
        ``groups = C_in`` with kernel (*k, 1, C_in * M) is a depthwise convolution with channel
        multiplier M (output channel c*M + m reads input channel c). Output (N, *out, C_out)."""
    def conv_input_grad(self, grad: Array, kernel: Array, input_shape: Shape, strides: Any = 1,
                        padding: str = "valid", dilation_rate: Any = 1, groups: int = 1) -> Array:
        """d(sum(conv(x, kernel) * grad)) / dx for an ``x`` of ``input_shape``: the adjoint of
        ``conv`` in its input (``grad`` has conv's output shape). Input rows and columns that no
        window reaches (trailing ones under 'valid' with strides) get zero."""
    def conv_kernel_grad(self, x: Array, grad: Array, kernel_shape: Shape, strides: Any = 1,
                         padding: str = "valid", dilation_rate: Any = 1, groups: int = 1) -> Array:
        """d(sum(conv(x, kernel) * grad)) / dkernel, of ``kernel_shape``."""
    def conv_transpose(self, x: Array, kernel: Array, strides: Any = 1, padding: str = "valid",
                       output_padding: Any = None, dilation_rate: Any = 1) -> Array:
        """Transposed convolution as Keras' Conv2DTranspose: ``kernel`` is (*k, C_out, C_in), the
        output length per axis is Keras' ``deconv_output_length`` (``valid``: L s + max(k' - s, 0),
        ``same``: L s; with ``output_padding`` p: (L - 1) s + k' - 2 pad + p, pad = k' // 2 for
        'same', 0 for 'valid'; 0 <= p < stride) and the result equals
        ``conv_input_grad(x, kernel, output_shape, strides, padding, dilation_rate)``: the
        convolution of an output-shaped array with ``padding`` maps back to x's shape. Its
        gradients are therefore ``conv(grad, kernel, …)`` (input) and
        ``conv_kernel_grad(grad, x, kernel.shape, …)`` (kernel). Padding 'causal' is refused."""
    def max_pool(self, x: Array, pool_size: Any, strides: Any = None, padding: str = "valid") -> Array:
        """Maximum over each window; ``strides=None`` means ``pool_size``. 'same' padding never
        enters the maximum (it acts as -inf); NaN in a window gives NaN."""
    def max_pool_grad(self, x: Array, pooled: Array, grad: Array, pool_size: Any, strides: Any = None,
                      padding: str = "valid") -> Array:
        """Gradient of ``max_pool`` w.r.t. ``x`` (``pooled = max_pool(x, …)``, ``grad`` of its
        shape): each window's gradient goes entirely to the FIRST element equal to the window's
        maximum in row-major window order (TensorFlow's CPU rule); overlapping windows add. A
        window whose maximum is NaN passes no gradient."""
    def avg_pool(self, x: Array, pool_size: Any, strides: Any = None, padding: str = "valid") -> Array:
        """Mean over each window; 'same' padding is excluded from the count (Keras/TensorFlow)."""
    def avg_pool_grad(self, grad: Array, input_shape: Shape, pool_size: Any, strides: Any = None,
                      padding: str = "valid") -> Array:
        """Gradient of ``avg_pool`` w.r.t. an input of ``input_shape``: grad / count spread over
        each window's real elements; overlapping windows add."""
