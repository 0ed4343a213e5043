"""Neural-network primitives with their own VJP rules (cheaper and stabler than compositions)."""
from __future__ import annotations

import math
from typing import Any

from .. import _config
from . import core
from .core import _unary, convert_to_tensor, make
from .tape import B, Tensor, make_outputs

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def relu(x: Any) -> Tensor:
    be = B()
    x = convert_to_tensor(x)
    y = be.maximum(x.value, be.zeros((), x.value.dtype))
    # the mask from the output: y > 0 exactly where x > 0 (a NaN input gives a NaN output, masked out)
    return make(y, (x,), lambda g: (be.relu_grad(y, g),))


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Tensor:
    be = B()

    def fwd(v):
        return be.where(be.greater(v, 0), v, be.multiply(v, negative_slope))
    return _unary(x, fwd, lambda v, y: be.where(be.greater(v, 0), be.ones((), v.dtype),
                                                  be.full((), negative_slope, v.dtype)))


def tanh(x: Any) -> Tensor:
    be = B()
    x = convert_to_tensor(x)
    y = be.tanh(x.value)
    return make(y, (x,), lambda g: (be.tanh_grad(y, g),))


def sigmoid(x: Any) -> Tensor:
    be = B()
    return _unary(x, be.sigmoid, lambda v, y: be.multiply(y, be.subtract(1.0, y)))


def hard_sigmoid(x: Any) -> Tensor:
    """Keras' piecewise-linear sigmoid: clip(x / 6 + 0.5, 0, 1) (Keras 3's definition)."""
    be = B()
    fwd = lambda v: be.clip(be.add(be.divide(v, 6.0), 0.5), 0.0, 1.0)  # noqa: E731

    def deriv(v, y):
        inside = be.logical_and(be.greater(v, -3.0), be.less(v, 3.0))
        return be.where(inside, be.full((), 1.0 / 6.0, v.dtype), be.zeros((), v.dtype))
    return _unary(x, fwd, deriv)


def softplus(x: Any) -> Tensor:
    be = B()

    def fwd(v):  # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow
        return be.add(be.maximum(v, be.zeros((), v.dtype)), be.log1p(be.exp(be.negative(be.abs(v)))))
    return _unary(x, fwd, lambda v, y: be.sigmoid(v))


def softsign(x: Any) -> Tensor:
    be = B()
    return _unary(x, lambda v: be.divide(v, be.add(be.abs(v), 1.0)),
                  lambda v, y: be.divide(1.0, be.square(be.add(be.abs(v), 1.0))))


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    be = B()

    def fwd(v):
        return be.where(be.greater(v, 0), v, be.multiply(be.expm1(be.minimum(v, be.zeros((), v.dtype))), alpha))

    def deriv(v, y):
        return be.where(be.greater(v, 0), be.ones((), v.dtype), be.add(y, alpha))
    return _unary(x, fwd, deriv)


def selu(x: Any) -> Tensor:
    be = B()

    def fwd(v):
        neg = be.multiply(be.expm1(be.minimum(v, be.zeros((), v.dtype))), _SELU_ALPHA)
        return be.multiply(be.where(be.greater(v, 0), v, neg), _SELU_SCALE)

    def deriv(v, y):
        return be.where(be.greater(v, 0), be.full((), _SELU_SCALE, v.dtype),
                        be.add(y, _SELU_SCALE * _SELU_ALPHA))
    return _unary(x, fwd, deriv)


def gelu(x: Any, approximate: bool = True) -> Tensor:
    """Gaussian error linear unit; ``approximate=True`` (the ``keras.ops.gelu`` default) uses the tanh
    form, ``False`` the exact erf form (the default of the ``"gelu"`` activation)."""
    be = B()
    if approximate:
        c = math.sqrt(2.0 / math.pi)

        def fwd(v):
            inner = be.multiply(be.add(v, be.multiply(be.power(v, be.full((), 3.0, v.dtype)), 0.044715)), c)
            return be.multiply(be.multiply(v, 0.5), be.add(be.tanh(inner), 1.0))

        def deriv(v, y):
            inner = be.multiply(be.add(v, be.multiply(be.power(v, be.full((), 3.0, v.dtype)), 0.044715)), c)
            t = be.tanh(inner)
            dinner = be.multiply(be.add(be.multiply(be.square(v), 3 * 0.044715), 1.0), c)
            return be.add(be.multiply(be.add(t, 1.0), 0.5),
                          be.multiply(be.multiply(be.multiply(v, 0.5), be.subtract(1.0, be.square(t))), dinner))
        return _unary(x, fwd, deriv)
    inv_sqrt2 = 1.0 / math.sqrt(2.0)
    inv_sqrt2pi = 1.0 / math.sqrt(2.0 * math.pi)

    def fwd_exact(v):
        return be.multiply(be.multiply(v, 0.5), be.add(be.erf(be.multiply(v, inv_sqrt2)), 1.0))

    def deriv_exact(v, y):
        cdf = be.multiply(be.add(be.erf(be.multiply(v, inv_sqrt2)), 1.0), 0.5)
        pdf = be.multiply(be.exp(be.multiply(be.square(v), -0.5)), inv_sqrt2pi)
        return be.add(cdf, be.multiply(v, pdf))
    return _unary(x, fwd_exact, deriv_exact)


def silu(x: Any) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    be = B()

    def deriv(v, y):
        s = be.sigmoid(v)
        return be.multiply(s, be.add(be.multiply(v, be.subtract(1.0, s)), 1.0))
    return _unary(x, lambda v: be.multiply(v, be.sigmoid(v)), deriv)


swish = silu


def softmax(x: Any, axis: int = -1) -> Tensor:
    x = convert_to_tensor(x)
    be = B()
    out = be.softmax(x.value, axis=axis)
    return make(out, (x,), lambda g: (be.softmax_grad(out, g, axis=axis),))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    x = convert_to_tensor(x)
    be = B()
    out = be.log_softmax(x.value, axis=axis)

    def vjp(g):
        return (be.subtract(g, be.multiply(be.exp(out), be.sum(g, axis=axis, keepdims=True))),)
    return make(out, (x,), vjp)


def categorical_crossentropy(target: Any, output: Any, from_logits: bool = False, axis: int = -1) -> Tensor:
    """Per-sample cross-entropy ``-sum(target * log(p), axis)`` (``keras.ops.categorical_crossentropy``).

    Probabilities (``from_logits=False``) are renormalised over ``axis`` and clipped to
    ``[epsilon, 1 - epsilon]``, as Keras does; logits go through ``log_softmax``. For probabilities
    of the target's shape and dtype this is one recorded op instead of seven, computed by the
    backend's ``categorical_crossentropy`` and ``categorical_crossentropy_grad``: the composition's
    operations in the same order, so the values are the composition's bit for bit (the gradient
    too, when ``output`` feeds nothing else on the tape). It is the loss of nearly every Keras
    classifier, where those small ops were about a third of the framework's time per step
    (``docs/performance.md``).
    """
    target, output = convert_to_tensor(target), convert_to_tensor(output)
    eps = _config.epsilon()
    if from_logits or target.shape != output.shape or target.dtype != output.dtype:  # the composition
        if from_logits:
            logp = log_softmax(output, axis=axis)
        else:
            logp = core.log(core.clip(core.divide(output, core.sum(output, axis=axis, keepdims=True)), eps, 1.0 - eps))
        return core.negative(core.sum(core.multiply(target, logp), axis=axis))
    be = B()
    per, saved = be.categorical_crossentropy(target.value, output.value, eps, axis=axis)

    def vjp(g):
        gt = be.multiply(be.reshape(be.negative(g), saved[0].shape), saved[3]) if target._tracked else None
        if not output._tracked:
            return gt, None
        return gt, be.categorical_crossentropy_grad(g, target.value, saved, eps, axis=axis)
    return make(per, (target, output), vjp)


def dropout(x: Any, rate: float, seed: int, counter: int) -> Tensor:
    """Inverted dropout with the Philox mask of ``(seed, counter)``: kept values scaled by 1/(1-rate)."""
    x = convert_to_tensor(x)
    be = B()
    y, mask = be.dropout(x.value, rate, seed, counter)
    return make(y, (x,), lambda g: (be.multiply(g, mask),))


# Activations whose derivative can be computed from the output alone, so ``dense`` may apply them
# in place and keep no pre-activation buffer.
DENSE_ACTIVATIONS = ("linear", "tanh", "sigmoid", "relu", "softmax")


def dense(x: Any, kernel: Any, bias: Any = None, activation: str = "linear",
          dropout: tuple | None = None) -> Tensor:
    """``activation(x @ kernel + bias)`` for a 2-D ``x`` as one recorded op: the Dense layer's step.

    Args:
        x: ``(batch, input_dim)``. kernel: ``(input_dim, units)``. bias: ``(units,)`` or ``None``.
        activation: one of ``DENSE_ACTIVATIONS``.
        dropout: ``(rate, seed, counter)`` to apply ``ops.dropout`` to the result in the same op
            (a model's Dense + Activation + Dropout in training), or None.

    One tape entry instead of three (or four); the bias, the activation and the dropout are one
    backend call after the product (``dense_activation``, in place in the product's fresh buffer),
    and the backward pass makes one temporary for the pre-activation gradient, with the bias
    gradient summed by the same backend call (``dense_activation_grad``).
    The values are bit for bit those of ``dropout(activation(add(matmul(x, kernel), bias)))``: the
    same operations in the same order.
    """
    x, kernel = convert_to_tensor(x), convert_to_tensor(kernel)
    bias = None if bias is None else convert_to_tensor(bias)
    if activation not in DENSE_ACTIVATIONS:
        raise ValueError(f"dense supports the activations {DENSE_ACTIVATIONS}, got {activation!r}; "
                         "apply other activations after ops.dense(..., activation='linear').")
    if x.ndim != 2 or kernel.ndim != 2 or x.shape[1] != kernel.shape[0]:
        raise ValueError(f"dense needs x (batch, n) and kernel (n, units), got shapes {x.shape} and {kernel.shape}.")
    be = B()
    y, out, mask = be.dense_activation(be.matmul(x.value, kernel.value), None if bias is None else bias.value,
                                       activation, dropout)

    def vjp(g):
        d, gb = be.dense_activation_grad(y, g, activation, mask, bias is not None and bias._tracked)
        gx = be.matmul(d, be.transpose(kernel.value)) if x._tracked else None
        gk = be.matmul(be.transpose(x.value), d) if kernel._tracked else None
        return (gx, gk) if bias is None else (gx, gk, gb)
    return make(out, (x, kernel) if bias is None else (x, kernel, bias), vjp)


def lstm_cell(z: Any, c: Any, axis: int = -1) -> tuple[Tensor, Tensor]:
    """One step of Keras' LSTM cell with its default activations, as one recorded op.

    Args:
        z: the summed pre-activations ``x_t @ kernel + h @ recurrent_kernel + bias``, four blocks
            of ``units`` along ``axis`` in Keras' gate order i, f, c, o.
        c: the previous carry, ``z``'s shape with ``units`` entries along ``axis``.
        axis: the gate axis (the last for ``LSTM``; the channel axis for ``ConvLSTM2D``).

    Returns ``(h, c_new)``: ``i, f, o = sigmoid(z_i, z_f, z_o)``, ``g = tanh(z_c)``,
    ``c_new = f * c + i * g``, ``h = o * tanh(c_new)``. The values are bit for bit those of the
    composition of ``ops`` (the same backend operations in the same order); the backward pass
    takes both outputs' gradients at once, so a training step records three nodes per time step
    instead of about fifteen. ``h`` and ``c_new`` are siblings on the tape: a gradient taken with
    respect to ``c_new`` does not include the path through ``h``.
    """
    z, c = convert_to_tensor(z), convert_to_tensor(c)
    ax = axis % z.ndim if z.ndim else 0
    units = c.shape[ax] if c.ndim == z.ndim else -1
    want = c.shape[:ax] + (4 * units,) + c.shape[ax + 1:] if units >= 0 else None
    if z.shape != want:
        raise ValueError(f"lstm_cell needs z with four blocks of c's size along axis {axis}: got z of shape "
                         f"{z.shape} and c of shape {c.shape}.")
    be = B()
    i, f, g, o, c_new, tc, h = be.lstm_cell_forward(z.value, c.value, axis=ax)

    def vjp(grads):
        gh, gc = grads  # either may be None (that output was not used)
        dz = be.empty(z.shape, z.dtype)
        d_carry = be.lstm_cell_grad(i, f, g, o, tc, c.value, gh, gc, dz, axis=ax)
        return dz, (d_carry if c._tracked else None)
    return make_outputs((h, c_new), (z, c), vjp)


def lstm_sequence(xk: Any, h0: Any, c0: Any, recurrent_kernel: Any) -> tuple[Tensor, Tensor, Tensor]:
    """Keras' LSTM layer over a whole sequence (default activations, no mask, no recurrent
    dropout) as one recorded op.

    Args:
        xk: ``(time, batch, 4 * units)``, each step's ``x_t @ kernel + bias``, time-major, in the
            order the steps run (reverse it first for ``go_backwards``).
        h0, c0: the initial states, ``(batch, units)``.
        recurrent_kernel: ``(units, 4 * units)``.

    Returns ``(hs, h, c)``: every step's ``h`` as ``(time, batch, units)``, and the final states.
    Each step computes ``z = xk[t] + h @ recurrent_kernel`` and then ``lstm_cell``'s operations,
    so the values are bit for bit those of the step-by-step loop. The backward pass runs the steps
    in reverse with one product per step for the state's gradient, and forms the recurrent
    kernel's gradient at the end as one product over all steps (the loop made one per step; the
    sum's rounding differs by a few ulp). The tape holds one node for the sequence instead of
    about five per step, and gradients with respect to any output are exact.
    """
    xk, h0, c0, rk = (convert_to_tensor(a) for a in (xk, h0, c0, recurrent_kernel))
    buf = _sequence_buffer("lstm_sequence", 4, xk, h0, rk, c0=c0)
    be = B()
    steps = xk.shape[0]
    carries, saved = [c0.value], []
    for t in range(steps):
        z = be.matmul(be.getitem(buf, t), rk.value)
        be.add(be.getitem(xk.value, t), z, out=z)  # in the product's fresh buffer (a + b is b + a, bit for bit)
        i, f, g, o, c_new, tc, _ = be.lstm_cell_forward(z, carries[-1], axis=1, h_out=be.getitem(buf, t + 1))
        saved.append((i, f, g, o, tc))
        carries.append(c_new)
    hs = be.getitem(buf, slice(1, None))

    def vjp(grads):
        g_hs, g_h, g_c = grads  # any may be None
        dz_all = be.empty(xk.shape, xk.dtype)
        rk_t = be.transpose(rk.value)
        dh, dc = g_h, g_c
        for t in range(steps - 1, -1, -1):
            dh = _with_output_grad(dh, g_hs, t)
            dz = be.getitem(dz_all, t)
            dc = be.lstm_cell_grad(*saved[t], carries[t], dh, dc, dz, axis=1)  # to the carry step t read
            dh = be.matmul(dz, rk_t) if (t or h0._tracked) else None
        d_rk = _all_steps_product(buf, dz_all) if rk._tracked else None
        return dz_all, (dh if h0._tracked else None), (dc if c0._tracked else None), d_rk
    return make_outputs((hs, be.getitem(buf, steps), carries[-1]), (xk, h0, c0, rk), vjp)


def simple_rnn_sequence(xk: Any, h0: Any, recurrent_kernel: Any) -> tuple[Tensor, Tensor]:
    """Keras' SimpleRNN layer (tanh, no mask, no recurrent dropout) over a whole sequence as one
    recorded op.

    Args:
        xk: ``(time, batch, units)``, each step's ``x_t @ kernel + bias``, time-major, in the order
            the steps run (reverse it first for ``go_backwards``).
        h0: the initial state, ``(batch, units)``. recurrent_kernel: ``(units, units)``.

    Returns ``(hs, h)``: every step's ``h = tanh(xk[t] + h @ recurrent_kernel)`` as
    ``(time, batch, units)`` (bit for bit the step loop's), and the final state. The backward pass
    runs the steps in reverse with one product per step for the state's gradient; the recurrent
    kernel's gradient is one product over all steps at the end.
    """
    xk, h0, rk = (convert_to_tensor(a) for a in (xk, h0, recurrent_kernel))
    buf = _sequence_buffer("simple_rnn_sequence", 1, xk, h0, rk)
    be = B()
    steps = xk.shape[0]
    for t in range(steps):
        pre = be.matmul(be.getitem(buf, t), rk.value)
        be.tanh(be.add(be.getitem(xk.value, t), pre, out=pre), out=be.getitem(buf, t + 1))

    def vjp(grads):
        g_hs, g_h = grads  # either may be None
        d_x = be.empty(xk.shape, xk.dtype)
        rk_t = be.transpose(rk.value)
        dh = g_h
        for t in range(steps - 1, -1, -1):
            dh = _with_output_grad(dh, g_hs, t)
            d_pre = be.tanh_grad(be.getitem(buf, t + 1), dh, out=be.getitem(d_x, t))
            dh = be.matmul(d_pre, rk_t) if (t or h0._tracked) else None
        d_rk = _all_steps_product(buf, d_x) if rk._tracked else None
        return d_x, (dh if h0._tracked else None), d_rk
    return make_outputs((be.getitem(buf, slice(1, None)), be.getitem(buf, steps)), (xk, h0, rk), vjp)


def _sequence_buffer(op: str, gates: int, xk: Tensor, h0: Tensor, rk: Tensor, c0: Tensor | None = None,
                     bias: Tensor | None = None, takes_bias: bool = False) -> Any:
    """The ``(time + 1, batch, units)`` state buffer of a whole-sequence op with ``gates`` blocks per
    step, ``h0`` in row 0: row ``t`` is the state step ``t`` reads, row ``t + 1`` the one it writes
    (the outputs are views of it). Raises ValueError for inconsistent shapes and TypeError unless
    every input has one dtype."""
    units = rk.shape[0] if rk.ndim == 2 else -1
    width, state = gates * units, (xk.shape[1] if xk.ndim == 3 else -1, units)
    if (xk.ndim != 3 or rk.shape != (units, width) or xk.shape[2] != width or xk.shape[0] < 1 or h0.shape != state
            or (c0 is not None and c0.shape != state) or (bias is not None and bias.shape != (width,))):
        g = f"{gates} * " if gates > 1 else ""
        parts = [f"xk (time >= 1, batch, {g}units)", "h0 and c0 (batch, units)" if c0 is not None else "h0 (batch, units)",
                 f"recurrent_kernel (units, {g}units)"]
        got = [f"xk {xk.shape}", f"h0 {h0.shape}"] + ([f"c0 {c0.shape}"] if c0 is not None else []) \
            + [f"recurrent_kernel {rk.shape}"] + ([f"recurrent_bias {bias.shape}"] if bias is not None else [])
        if takes_bias:
            parts.append(f"recurrent_bias ({g}units,) or None")
        raise ValueError(f"{op} needs {', '.join(parts)}; got {', '.join(got)}.")
    dtypes = {o.dtype for o in (xk, h0, rk, c0, bias) if o is not None}
    if len(dtypes) != 1:
        raise TypeError(f"{op} needs one dtype for all its inputs; got {sorted(dtypes)}: cast them to one "
                        "(e.g. ops.cast(h0, xk.dtype)).")
    be = B()
    buf = be.empty((xk.shape[0] + 1,) + tuple(h0.shape), xk.dtype)
    be.assign(be.getitem(buf, 0), h0.value)
    return buf


def _with_output_grad(dh: Any, g_hs: Any, t: int) -> Any:
    """The state gradient at step ``t`` of a whole-sequence op's backward pass: ``dh`` (what came
    back from step ``t + 1`` and the final state's gradient; None if nothing did) plus step ``t``'s
    output gradient from ``g_hs`` (None when the sequence output got none)."""
    if g_hs is None:
        return dh
    step_grad = B().getitem(g_hs, t)
    return step_grad if dh is None else B().add(dh, step_grad)


def _all_steps_product(buf: Any, d_pre: Any) -> Any:
    """The recurrent kernel's gradient over all steps: ``states^T @ d_pre`` with the states each
    step read (``buf[:-1]``) and the pre-activation gradients of all steps as rows."""
    be = B()
    steps, batch, units = buf.shape[0] - 1, buf.shape[1], buf.shape[2]
    states = be.reshape(be.getitem(buf, slice(0, steps)), (steps * batch, units))
    return be.matmul(be.transpose(states), be.reshape(d_pre, (steps * batch, d_pre.shape[-1])))


def gru_sequence(xk: Any, h0: Any, recurrent_kernel: Any, recurrent_bias: Any = None) -> tuple[Tensor, Tensor]:
    """Keras' GRU layer (``reset_after=True``, default activations, no mask, no recurrent dropout)
    over a whole sequence as one recorded op.

    Args:
        xk: ``(time, batch, 3 * units)``, each step's ``x_t @ kernel + input_bias``, time-major, in
            the order the steps run (reverse it first for ``go_backwards``).
        h0: the initial state, ``(batch, units)``.
        recurrent_kernel: ``(units, 3 * units)``; recurrent_bias: ``(3 * units,)`` or None.

    Returns ``(hs, h)``: every step's ``h`` as ``(time, batch, units)``, and the final state. Each
    step computes, with ``u = h @ recurrent_kernel + recurrent_bias`` split into blocks z, r, h:
    ``z = sigmoid(x_z + u_z)``, ``r = sigmoid(x_r + u_r)``, ``hh = tanh(x_h + r * u_h)``,
    ``h = z * h + (1 - z) * hh``: the layer's step operations in their order, so the values are
    bit for bit the step loop's. The backward pass runs the steps in reverse with one product per
    step for the state's gradient; the recurrent kernel's and bias' gradients are one product and
    one sum over all steps at the end (rounding within a few ulp of the loop's).
    """
    xk, h0, rk = (convert_to_tensor(a) for a in (xk, h0, recurrent_kernel))
    rb = None if recurrent_bias is None else convert_to_tensor(recurrent_bias)
    buf = _sequence_buffer("gru_sequence", 3, xk, h0, rk, bias=rb, takes_bias=True)
    be = B()
    steps, batch, units = xk.shape[0], xk.shape[1], rk.shape[0]
    saved = []
    for t in range(steps):
        h = be.getitem(buf, t)
        inner = be.matmul(h, rk.value)
        if rb is not None:
            be.add(inner, rb.value, out=inner)
        z, r, hh, inner_h, _ = be.gru_cell_forward(be.getitem(xk.value, t), inner, h, h_out=be.getitem(buf, t + 1))
        saved.append((z, r, hh, inner_h))

    def vjp(grads):
        g_hs, g_h = grads  # either may be None
        d_x = be.empty(xk.shape, xk.dtype)
        d_inner = be.empty(xk.shape, xk.dtype)  # gradient at u = h @ recurrent_kernel + recurrent_bias
        rk_t = be.transpose(rk.value)
        dh = g_h
        for t in range(steps - 1, -1, -1):
            dh = _with_output_grad(dh, g_hs, t)
            z, r, hh, inner_h = saved[t]
            h_prev, dx, du = be.getitem(buf, t), be.getitem(d_x, t), be.getitem(d_inner, t)
            direct = be.gru_cell_grad(z, r, hh, inner_h, h_prev, dh, dx, du)  # dh * z: through h = z * h_prev + ...
            dh = be.add(direct, be.matmul(du, rk_t)) if (t or h0._tracked) else None
        d_rk = _all_steps_product(buf, d_inner) if rk._tracked else None
        grads_in = (d_x, (dh if h0._tracked else None), d_rk)
        if rb is None:
            return grads_in
        return grads_in + ((be.sum(be.reshape(d_inner, (steps * batch, 3 * units)), axis=0) if rb._tracked else None),)
    hs, h = make_outputs((be.getitem(buf, slice(1, None)), be.getitem(buf, steps)),
                         (xk, h0, rk) if rb is None else (xk, h0, rk, rb), vjp)
    return hs, h
