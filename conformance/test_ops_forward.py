"""lamina.ops forward values against the same float64 references, through Tensors: every
function returns a Tensor of the right dtype, on every layout, with weak-typed Python scalars."""
from __future__ import annotations

import numpy as np
import pytest

import lamina.ops as ops

from ._cases import (ACTIVATIONS, BINARY, COMPARISONS, MATMUL, REDUCTION_LAYOUTS, REDUCTIONS, UNARY,
                     matmul_bound, ref_log_softmax, ref_softmax)
from ._checks import Failures, assert_close, assert_exact, eps, sqrt_n
from ._inputs import BINARY_LAYOUTS, UNARY_LAYOUTS, Layout, real, rng_for, sample
from .test_elementwise import run_layouts


def _via_ops(fn):
    """Call a lamina.ops function on backend arrays / Python scalars; check it returns a Tensor."""
    def call(*args):
        out = fn(*[a if isinstance(a, float) else ops.convert_to_tensor(a) for a in args])
        assert isinstance(out, ops.Tensor), f"lamina.ops returned {type(out).__name__}, not a Tensor"
        return out.numpy()
    return call


_OPS_UNARY = tuple(c for c in UNARY if c.op is not None) + ACTIVATIONS


@pytest.mark.parametrize("case", _OPS_UNARY, ids=[c.name for c in _OPS_UNARY])
def test_ops_unary(backend, case, dtype, quiet_numpy):
    run_layouts(backend, case, _via_ops(case.op), dtype, UNARY_LAYOUTS, "ops-unary")


_OPS_BINARY = [c for c in BINARY + COMPARISONS if c.op is not None]  # tanh_grad is backend-only


@pytest.mark.parametrize("case", _OPS_BINARY, ids=[c.name for c in _OPS_BINARY])
def test_ops_binary(backend, case, dtype, quiet_numpy):
    run_layouts(backend, case, _via_ops(case.op), dtype, BINARY_LAYOUTS, "ops-binary")


def test_ops_logical(backend):
    a = np.array([[True, False, True], [False, False, True]])
    b = np.array([True, False, False])
    ta, tb = ops.convert_to_tensor(backend.asarray(a)), ops.convert_to_tensor(backend.asarray(b))
    assert_exact(ops.logical_and(ta, tb).numpy(), a & b, "ops.logical_and", dtype="bool")
    assert_exact(ops.logical_or(ta, tb).numpy(), a | b, "ops.logical_or", dtype="bool")
    assert_exact(ops.logical_not(ta).numpy(), ~a, "ops.logical_not", dtype="bool")
    assert_exact(ops.logical_and(ta, True).numpy(), a, "ops.logical_and with a Python bool", dtype="bool")


def _var_ref(x, axis, keepdims):
    return np.var(x, axis=axis, keepdims=keepdims)


def _var_bound(x, axis, keepdims, ref, dtype):
    """Two passes (mean, then mean of squared deviations): eps * sqrt(n) * mean((|x| + |mean|)^2)."""
    m = np.mean(x, axis=axis, keepdims=True) if x.size else 0.0
    t = (np.abs(x) + np.abs(m)) ** 2
    n = x.size // max(np.asarray(ref).size, 1) if np.asarray(ref).size else 1
    return 8 * eps(dtype) * (np.abs(ref) + sqrt_n(n) * np.mean(t, axis=axis, keepdims=keepdims))


def _std_bound(x, axis, keepdims, ref, dtype):
    var = np.asarray(ref) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        b = _var_bound(x, axis, keepdims, var, dtype) / (2 * np.maximum(np.asarray(ref), 1e-300))
    return np.minimum(b, np.sqrt(_var_bound(x, axis, keepdims, var, dtype))) + 4 * eps(dtype) * np.abs(ref)


_OPS_REDUCTIONS = [(r.name, getattr(ops, r.name), r.ref, r.bound, r.domain) for r in REDUCTIONS] + [
    ("var", ops.var, _var_ref, _var_bound, real(-3, 3)),
    ("std", ops.std, lambda x, axis, keepdims: np.std(x, axis=axis, keepdims=keepdims), _std_bound, real(-3, 3)),
]


@pytest.mark.parametrize("name,fn,ref,bound,domain", _OPS_REDUCTIONS, ids=[r[0] for r in _OPS_REDUCTIONS])
def test_ops_reduction(backend, dtype, name, fn, ref, bound, domain):
    rng = rng_for("ops-reduce", name, dtype)
    fails = Failures()
    for label, base, transpose, key, axis, keepdims in REDUCTION_LAYOUTS:
        if name in ("var", "std") and base == ():
            continue
        layout = Layout(label, base, transpose, key)

        def one(layout=layout, axis=axis, keepdims=keepdims):
            x, hx = layout.make(backend, domain, rng, dtype)
            out = fn(ops.convert_to_tensor(x), axis=axis, keepdims=keepdims)
            assert isinstance(out, ops.Tensor)
            got = out.numpy()
            x64 = hx.astype(np.float64)
            r = np.asarray(ref(x64, axis, keepdims))
            what = f"ops.{name} {dtype} [{layout.name}, axis={axis}, keepdims={keepdims}]"
            if bound is None:
                assert_exact(got, r.astype(dtype), what, dtype=dtype)
            else:
                assert_close(got, r, bound(x64, axis, keepdims, r, dtype), what, dtype=dtype)
        fails.check(layout.name, one)
    fails.finish()


def test_ops_axis_as_list(backend):
    x = np.arange(24.0).reshape(2, 3, 4)
    got = ops.sum(ops.convert_to_tensor(backend.asarray(x)), axis=[0, 2]).numpy()
    assert_exact(got, x.sum(axis=(0, 2)), "ops.sum axis given as a list")


def test_ops_argmax_argmin(backend, dtype):
    hx = np.asarray([[1.0, 3.0, 3.0], [2.0, -1.0, -1.0]], dtype)
    x = ops.convert_to_tensor(backend.asarray(hx))
    assert_exact(ops.argmax(x).numpy(), np.asarray([1, 0], np.int64), "ops.argmax (first of ties)", dtype="int64")
    assert_exact(ops.argmin(x, axis=0).numpy(), np.asarray([0, 1, 1], np.int64), "ops.argmin axis 0", dtype="int64")


@pytest.mark.parametrize("label,la,lb", MATMUL, ids=[m[0] for m in MATMUL])
def test_ops_matmul(backend, dtype, label, la, lb):
    rng = rng_for("ops-matmul", label, dtype)
    a, ha = la.make(backend, real(-2, 2), rng, dtype)
    b, hb = lb.make(backend, real(-2, 2), rng, dtype)
    a64, b64 = ha.astype(np.float64), hb.astype(np.float64)
    ref = np.matmul(a64, b64)
    for name, fn in (("matmul", ops.matmul), ("dot", ops.dot)):
        got = fn(ops.convert_to_tensor(a), ops.convert_to_tensor(b)).numpy()
        assert_close(got, ref, matmul_bound(a64, b64, ref, dtype), f"ops.{name} {dtype} [{label}]", dtype=dtype)


@pytest.mark.parametrize("activation", ops.DENSE_ACTIVATIONS)
@pytest.mark.parametrize("use_bias", [True, False])
def test_ops_dense_equals_composition(backend, dtype, activation, use_bias):
    """ops.dense is activation(x @ kernel + bias) to the bit, values and every gradient (so its
    accuracy is that of matmul and the activation, which are checked against float64 above)."""
    rng = rng_for("ops-dense", activation, use_bias, dtype)
    arrays = [backend.asarray(sample(real(-2, 2), rng, shape, dtype)) for shape in ((5, 7), (7, 3), (3,))]
    compose = {"linear": lambda y: y, "tanh": ops.tanh, "sigmoid": ops.sigmoid, "relu": ops.relu,
               "softmax": ops.softmax}[activation]
    results = []
    for fused in (True, False):
        x, k, b = (ops.Variable(a) for a in arrays)
        with ops.GradientTape() as tape:
            bias = b if use_bias else None
            if fused:
                y = ops.dense(x, k, bias, activation)
            else:
                y = ops.matmul(x, k)
                y = compose(ops.add(y, b) if use_bias else y)
            loss = ops.sum(ops.multiply(y, ops.cos(y)))  # a cotangent that differs per element
        grads = tape.gradient(loss, [x, k, b])
        results.append([y.numpy()] + [None if g is None else g.numpy() for g in grads])
    for name, got, want in zip(("value", "d/dx", "d/dkernel", "d/dbias"), *results):
        if want is None:
            assert got is None, name
        elif name == "d/dbias" and backend.name != "numpy":
            # The fused gradient adds the rows in order (NumPy's sum over the first axis, bit for bit
            # across backends); the composition's sum on a GPU reduces in its own tree order (an H200
            # differed by 1 ulp). Five rows: a few ulp of the largest sum.
            bound = 8 * eps(dtype) * np.abs(want).max()
            assert_close(got, want, bound, f"ops.dense {activation} {name} {dtype}", dtype=dtype)
        else:
            assert_exact(got, want, f"ops.dense {activation} {name} {dtype}", dtype=dtype)


@pytest.mark.parametrize("axis", [-1, 1])
def test_ops_lstm_cell_equals_composition(backend, dtype, axis):
    """ops.lstm_cell's values are the composition's to the bit (the same backend operations in the
    same order); its gradients, computed in one pass from both outputs, agree within a few ulp of
    the values involved (the chain rule's products are grouped differently)."""
    rng = rng_for("ops-lstm-cell", axis, dtype)
    zshape, cshape = ((4, 12), (4, 3)) if axis == -1 else ((2, 12, 5), (2, 3, 5))
    arrays = [backend.asarray(sample(real(-3, 3), rng, shape, dtype)) for shape in (zshape, cshape)]
    results = []
    for fused in (True, False):
        z, c = (ops.Variable(a) for a in arrays)
        with ops.GradientTape() as tape:
            if fused:
                h, c_new = ops.lstm_cell(z, c, axis=axis)
            else:
                blocks = [ops.getitem(z, (slice(None),) * (axis % 2) + (slice(3 * k, 3 * k + 3),)) for k in range(4)]
                i, f, o = ops.sigmoid(blocks[0]), ops.sigmoid(blocks[1]), ops.sigmoid(blocks[3])
                c_new = ops.add(ops.multiply(f, c), ops.multiply(i, ops.tanh(blocks[2])))
                h = ops.multiply(o, ops.tanh(c_new))
            # cotangents that differ per element, on both outputs
            loss = ops.add(ops.sum(ops.multiply(h, ops.cos(h))), ops.sum(ops.multiply(c_new, ops.sin(c_new))))
        grads = tape.gradient(loss, [z, c])
        results.append([h.numpy(), c_new.numpy()] + [g.numpy() for g in grads])
    for name, got, want in zip(("h", "c_new"), results[0][:2], results[1][:2]):
        assert_exact(got, want, f"ops.lstm_cell {name} {dtype}", dtype=dtype)
    for name, got, want in zip(("d/dz", "d/dc"), results[0][2:], results[1][2:]):
        want = np.asarray(want, np.float64)
        assert_close(got, want, 16 * eps(dtype) * (np.abs(want) + 1.0), f"ops.lstm_cell {name} {dtype}", dtype=dtype)


@pytest.mark.parametrize("tracked", ["all", "weights-only"])
def test_ops_lstm_sequence_equals_step_loop(backend, dtype, tracked):
    """ops.lstm_sequence's outputs are the step loop's (z = xk[t] + h @ R, then lstm_cell) to the
    bit; its gradients agree within a few ulp (the recurrent kernel's is one product over all steps
    instead of a sum of per-step products), with cotangents on every output."""
    rng = rng_for("ops-lstm-sequence", tracked, dtype)
    steps, batch, units = 5, 3, 4
    shapes = ((steps, batch, 4 * units), (batch, units), (batch, units), (units, 4 * units))
    arrays = [backend.asarray(sample(real(-1.5, 1.5), rng, shape, dtype)) for shape in shapes]
    results = []
    for fused in (True, False):
        xk, h0, c0, r = (ops.Variable(a) for a in arrays)
        if tracked == "weights-only":
            h0, c0 = ops.convert_to_tensor(arrays[1]), ops.convert_to_tensor(arrays[2])
        with ops.GradientTape() as tape:
            if fused:
                hs, h, c = ops.lstm_sequence(xk, h0, c0, r)
            else:
                h, c, seq = h0, c0, []
                for t in range(steps):
                    h, c = ops.lstm_cell(ops.add(ops.getitem(xk, t), ops.matmul(h, r)), c)
                    seq.append(h)
                hs = ops.stack(seq)
            loss = ops.add(ops.add(ops.sum(ops.multiply(hs, ops.cos(hs))), ops.sum(ops.multiply(c, ops.sin(c)))),
                           ops.sum(ops.square(h)))
        sources = [xk, h0, c0, r] if tracked == "all" else [xk, r]
        grads = tape.gradient(loss, sources)
        results.append([hs.numpy(), h.numpy(), c.numpy()] + [g.numpy() for g in grads])
    for name, got, want in zip(("hs", "h", "c"), results[0][:3], results[1][:3]):
        assert_exact(got, want, f"ops.lstm_sequence {name} {dtype}", dtype=dtype)
    names = ("d/dxk", "d/dh0", "d/dc0", "d/dR") if tracked == "all" else ("d/dxk", "d/dR")
    for name, got, want in zip(names, results[0][3:], results[1][3:]):
        want = np.asarray(want, np.float64)
        scale = np.abs(want) + (np.abs(want).max() if name == "d/dR" else 1.0)  # R: sums over all steps
        assert_close(got, want, 64 * eps(dtype) * scale, f"ops.lstm_sequence {name} {dtype}", dtype=dtype)


def _gru_loop(xk, h, r, rb, units):
    """The GRU layer's step (reset_after) op by op, over all of xk's steps: (hs, h)."""
    def block(a, k):
        return ops.getitem(a, (slice(None), slice(k * units, (k + 1) * units)))
    seq = []
    for t in range(xk.shape[0]):
        x_t = ops.getitem(xk, t)
        inner = ops.matmul(h, r)
        if rb is not None:
            inner = ops.add(inner, rb)
        z = ops.sigmoid(ops.add(block(x_t, 0), block(inner, 0)))
        rr = ops.sigmoid(ops.add(block(x_t, 1), block(inner, 1)))
        hh = ops.tanh(ops.add(block(x_t, 2), ops.multiply(rr, block(inner, 2))))
        h = ops.add(ops.multiply(z, h), ops.multiply(ops.subtract(1.0, z), hh))
        seq.append(h)
    return ops.stack(seq), h


@pytest.mark.parametrize("bias", [True, False])
def test_ops_gru_sequence_equals_step_loop(backend, dtype, bias):
    """ops.gru_sequence's outputs are the GRU step loop's to the bit; its gradients agree within a
    few ulp (the recurrent kernel's and bias' are one product and one sum over all steps)."""
    rng = rng_for("ops-gru-sequence", bias, dtype)
    steps, batch, units = 5, 3, 4
    shapes = ((steps, batch, 3 * units), (batch, units), (units, 3 * units), (3 * units,))
    arrays = [backend.asarray(sample(real(-1.5, 1.5), rng, shape, dtype)) for shape in shapes]
    results = []
    for fused in (True, False):
        xk, h0, r, rb = (ops.Variable(a) for a in arrays)
        rb = rb if bias else None
        with ops.GradientTape() as tape:
            hs, h = ops.gru_sequence(xk, h0, r, rb) if fused else _gru_loop(xk, h0, r, rb, units)
            loss = ops.add(ops.sum(ops.multiply(hs, ops.cos(hs))), ops.sum(ops.square(h)))
        sources = [xk, h0, r] + ([rb] if bias else [])
        results.append([hs.numpy(), h.numpy()] + [g.numpy() for g in tape.gradient(loss, sources)])
    for name, got, want in zip(("hs", "h"), results[0][:2], results[1][:2]):
        assert_exact(got, want, f"ops.gru_sequence {name} {dtype}", dtype=dtype)
    for name, got, want in zip(("d/dxk", "d/dh0", "d/dR", "d/dbias"), results[0][2:], results[1][2:]):
        want = np.asarray(want, np.float64)
        scale = np.abs(want) + (np.abs(want).max() if name in ("d/dR", "d/dbias") else 1.0)  # sums over steps
        assert_close(got, want, 64 * eps(dtype) * scale, f"ops.gru_sequence {name} {dtype}", dtype=dtype)


def test_ops_simple_rnn_sequence_equals_step_loop(backend, dtype):
    """ops.simple_rnn_sequence's outputs are the loop's tanh(xk[t] + h @ R) to the bit; gradients
    within a few ulp (the recurrent kernel's is one product over all steps)."""
    rng = rng_for("ops-simple-rnn-sequence", dtype)
    steps, batch, units = 6, 3, 4
    arrays = [backend.asarray(sample(real(-1.5, 1.5), rng, shape, dtype))
              for shape in ((steps, batch, units), (batch, units), (units, units))]
    results = []
    for fused in (True, False):
        xk, h0, r = (ops.Variable(a) for a in arrays)
        with ops.GradientTape() as tape:
            if fused:
                hs, h = ops.simple_rnn_sequence(xk, h0, r)
            else:
                h, seq = h0, []
                for t in range(steps):
                    h = ops.tanh(ops.add(ops.getitem(xk, t), ops.matmul(h, r)))
                    seq.append(h)
                hs = ops.stack(seq)
            loss = ops.add(ops.sum(ops.multiply(hs, ops.cos(hs))), ops.sum(ops.square(h)))
        results.append([hs.numpy(), h.numpy()] + [g.numpy() for g in tape.gradient(loss, [xk, h0, r])])
    for name, got, want in zip(("hs", "h"), results[0][:2], results[1][:2]):
        assert_exact(got, want, f"ops.simple_rnn_sequence {name} {dtype}", dtype=dtype)
    for name, got, want in zip(("d/dxk", "d/dh0", "d/dR"), results[0][2:], results[1][2:]):
        want = np.asarray(want, np.float64)
        scale = np.abs(want) + (np.abs(want).max() if name == "d/dR" else 1.0)
        assert_close(got, want, 64 * eps(dtype) * scale, f"ops.simple_rnn_sequence {name} {dtype}", dtype=dtype)


def _cce_composition(t, p, axis):
    """Keras' definition, op by op: renormalise, clip to [epsilon, 1 - epsilon], -sum(t log p)."""
    p = ops.divide(p, ops.sum(p, axis=axis, keepdims=True))
    return ops.negative(ops.sum(ops.multiply(t, ops.log(ops.clip(p, 1e-7, 1.0 - 1e-7))), axis=axis))


@pytest.mark.parametrize("shape, axis", [((6, 5), -1), ((6, 5), 0), ((2, 3, 4), -1)])
def test_ops_categorical_crossentropy(backend, dtype, shape, axis):
    """Probabilities (some far below epsilon, so the clip binds) and logits against float64
    references; the fused op equals the composition to the bit, values and both gradients."""
    rng = rng_for("ops-cce", shape, axis, dtype)
    hp = sample(real(0.0, 1.0), rng, shape, dtype) ** 4  # many tiny values
    hp.reshape(-1)[::7] = 0.0
    ht = sample(real(0.0, 1.0), rng, shape, dtype)
    p64, t64 = hp.astype(np.float64), ht.astype(np.float64)
    q = np.clip(p64 / p64.sum(axis=axis, keepdims=True), 1e-7, 1.0 - 1e-7)
    terms = t64 * -np.log(q)
    ref = terms.sum(axis=axis)
    got = ops.categorical_crossentropy(backend.asarray(ht), backend.asarray(hp), axis=axis)
    assert got.dtype == dtype
    bound = 16 * eps(dtype) * (np.abs(terms) + t64).sum(axis=axis) + 1e-30
    assert_close(got.numpy(), ref, bound, f"ops.categorical_crossentropy {dtype} axis={axis}", dtype=dtype)
    hz = sample(real(-5.0, 5.0), rng, shape, dtype)
    z64 = hz.astype(np.float64)
    lterms = -t64 * ref_log_softmax(z64, axis)
    got = ops.categorical_crossentropy(backend.asarray(ht), backend.asarray(hz), from_logits=True, axis=axis)
    bound = 16 * eps(dtype) * (np.abs(lterms) + t64 * (np.abs(z64).max(axis=axis, keepdims=True) + 1)).sum(axis=axis)
    assert_close(got.numpy(), lterms.sum(axis=axis), bound, f"cce from logits {dtype} axis={axis}", dtype=dtype)
    results = []
    for fused in (True, False):
        t, p = ops.Variable(backend.asarray(ht)), ops.Variable(backend.asarray(hp))
        with ops.GradientTape() as tape:
            per = ops.categorical_crossentropy(t, p, axis=axis) if fused else _cce_composition(t, p, axis)
            loss = ops.sum(ops.multiply(per, ops.cos(per)))  # a cotangent that differs per sample
        results.append([per.numpy()] + [g.numpy() for g in tape.gradient(loss, [t, p])])
    for name, got, want in zip(("value", "d/dtarget", "d/doutput"), *results):
        assert_exact(got, want, f"ops.categorical_crossentropy {name} {dtype} axis={axis}", dtype=dtype)


def test_ops_dense_rejects_bad_input():
    with pytest.raises(ValueError, match="activations"):
        ops.dense(np.ones((2, 3), "float32"), np.ones((3, 4), "float32"), None, "elu")
    with pytest.raises(ValueError, match="kernel"):
        ops.dense(np.ones((2, 3), "float32"), np.ones((4, 4), "float32"))


@pytest.mark.parametrize("axis", [-1, 0])
def test_ops_softmax_log_softmax(backend, dtype, axis):
    rng = rng_for("ops-softmax", axis, dtype)
    hx = sample(real(-10, 10), rng, (4, 6), dtype)
    x64 = hx.astype(np.float64)
    x = ops.convert_to_tensor(backend.asarray(hx))
    n = hx.shape[axis]
    big = np.max(np.abs(x64), axis=axis, keepdims=True)
    p = ref_softmax(x64, axis)
    assert_close(ops.softmax(x, axis=axis).numpy(), p, 4 * eps(dtype) * p * (np.abs(x64) + big + sqrt_n(n)),
                 f"ops.softmax axis={axis} {dtype}", dtype=dtype)
    lp = ref_log_softmax(x64, axis)
    assert_close(ops.log_softmax(x, axis=axis).numpy(), lp, 4 * eps(dtype) * (np.abs(x64) + big + np.abs(lp) + sqrt_n(n)),
                 f"ops.log_softmax axis={axis} {dtype}", dtype=dtype)


def test_ops_shapes(backend, dtype):
    rng = rng_for("ops-shapes", dtype)
    hx = sample(real(), rng, (2, 3, 4), dtype)
    x = ops.convert_to_tensor(backend.asarray(hx))
    checks = [
        ("reshape", ops.reshape(x, (6, 4)), hx.reshape(6, 4)),
        ("reshape None->-1", ops.reshape(x, (None, 4)), hx.reshape(-1, 4)),
        ("transpose", ops.transpose(x), hx.T),
        ("transpose negative axes", ops.transpose(x, (-1, 0, 1)), hx.transpose(2, 0, 1)),
        ("T", x.T, hx.T),
        ("expand_dims", ops.expand_dims(x, -1), hx[..., None]),
        ("squeeze", ops.squeeze(ops.expand_dims(x, 0), axis=0), hx),
        ("broadcast_to", ops.broadcast_to(x[:, :1], (5, 2, 1, 4)), np.broadcast_to(hx[:, :1], (5, 2, 1, 4))),
        ("concatenate", ops.concatenate([x, x[:, :1]], axis=1), np.concatenate([hx, hx[:, :1]], 1)),
        ("concatenate default axis", ops.concatenate([x, x]), np.concatenate([hx, hx], -1)),
        ("stack", ops.stack([x, x], axis=-1), np.stack([hx, hx], -1)),
        ("stack axis 1", ops.stack([x, x, x], axis=1), np.stack([hx, hx, hx], 1)),
        ("getitem", x[1, ::2, -1], hx[1, ::2, -1]),
        ("getitem list", ops.getitem(x, (slice(None), [2, 0])), hx[:, [2, 0]]),
        ("getitem Tensor index", x[ops.convert_to_tensor(np.array([1, 1, 0]))], hx[[1, 1, 0]]),
        ("getitem bool Tensor", x[ops.greater(x, 0.0)], hx[hx > 0]),
        ("take", ops.take(x, [3, -1], axis=2), np.take(hx, [3, -1], axis=2)),
        ("take Tensor indices", ops.take(x, ops.convert_to_tensor(np.array([1, 0])), axis=1), np.take(hx, [1, 0], axis=1)),
        ("pad", ops.pad(x, [(0, 1), (1, 1), (0, 0)], constant_values=-1.0),
         np.pad(hx, [(0, 1), (1, 1), (0, 0)], constant_values=-1.0)),
        ("where", ops.where(ops.greater(x, 0.0), x, 0.0), np.where(hx > 0, hx, np.asarray(0.0, dtype))),
        ("clip", ops.clip(x, -0.5, 0.5), np.clip(hx, np.asarray(-0.5, dtype), np.asarray(0.5, dtype))),
        ("stop_gradient", ops.stop_gradient(x), hx),
        ("zeros_like", ops.zeros_like(x), np.zeros_like(hx)),
        ("ones_like", ops.ones_like(x), np.ones_like(hx)),
        ("unbroadcast", ops.convert_to_tensor(ops.unbroadcast(backend.asarray(hx), (3, 1))), hx.sum(0).sum(-1, keepdims=True)),
    ]
    for what, got, ref in checks:
        assert isinstance(got, ops.Tensor), f"ops.{what} must return a Tensor"
        if what == "unbroadcast":
            assert_close(got.numpy(), ref.astype(np.float64), 8 * eps(dtype) * np.abs(hx).sum(), f"ops.{what} {dtype}")
        else:
            assert_exact(got.numpy(), np.asarray(ref), f"ops.{what} {dtype}", dtype=dtype)


def test_ops_creation_and_conversion(backend):
    assert_exact(ops.zeros((2, 3)).numpy(), np.zeros((2, 3), "float32"), "ops.zeros default floatx", dtype="float32")
    assert_exact(ops.ones((2,), "float64").numpy(), np.ones(2), "ops.ones", dtype="float64")
    assert_exact(ops.full((2, 2), 1.5, "float64").numpy(), np.full((2, 2), 1.5), "ops.full", dtype="float64")
    assert_exact(ops.zeros_like(ops.ones((3,), "int64")).numpy(), np.zeros(3, np.int64), "ops.zeros_like int", dtype="int64")
    assert_exact(ops.ones_like(ops.zeros((2,)), "float64").numpy(), np.ones(2), "ops.ones_like dtype", dtype="float64")
    t = ops.convert_to_tensor([1.0, 2.0], dtype="float64")
    assert isinstance(t, ops.Tensor) and t.dtype == "float64" and t.shape == (2,)
    assert ops.convert_to_tensor(t) is t, "a Tensor passes through convert_to_tensor"
    assert ops.convert_to_tensor(t, "float32").dtype == "float32"
    assert ops.convert_to_tensor(3).dtype == "int64" and ops.convert_to_tensor(True).dtype == "bool"
    arr = ops.convert_to_numpy(ops.convert_to_tensor(backend.asarray(np.arange(3.0))))
    assert isinstance(arr, np.ndarray)
    assert_exact(arr, np.arange(3.0), "ops.convert_to_numpy")
    assert_exact(ops.one_hot(np.array([0, 2, 5]), 3).numpy(),
                 np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0]], "float32"), "ops.one_hot default floatx", dtype="float32")
    assert_exact(ops.cast(ops.convert_to_tensor(np.array([1.7, -1.2])), "int64").numpy(),
                 np.array([1, -1], np.int64), "ops.cast float -> int64 truncates toward zero", dtype="int64")
    assert ops.backend_object() is backend, "ops.backend_object() is the active backend"


def test_ops_weak_typing(backend, dtype):
    """A Python scalar takes the tensor's dtype (Keras 3); an int tensor meeting a float gets floatx."""
    x = ops.convert_to_tensor(backend.asarray(np.asarray([1.0, 2.0], dtype)))
    for got in (ops.add(x, 1.5), ops.multiply(2, x), ops.subtract(1.0, x), ops.divide(x, 3.0), ops.power(x, 2.0),
                x + 1, 2.0 * x, x / 2, x ** 2, -x, ops.maximum(x, 0.5), ops.where(ops.greater(x, 1.5), x, 0.0)):
        assert got.dtype == dtype, f"scalar arithmetic changed {dtype} to {got.dtype}"
    i = ops.convert_to_tensor(np.array([1, 2], np.int64))
    assert ops.add(i, 1).dtype == "int64"
    assert ops.multiply(i, 0.5).dtype in ("float32", "float64")


def test_tensor_operators(backend, dtype):
    rng = rng_for("operators", dtype)
    ha, hb = sample(real(), rng, (3, 3), dtype), sample(real(0.5, 2), rng, (3, 3), dtype)
    a, b = ops.convert_to_tensor(backend.asarray(ha)), ops.convert_to_tensor(backend.asarray(hb))
    exact = [("a + b", a + b, ha + hb), ("a - b", a - b, ha - hb), ("a * b", a * b, ha * hb),
             ("a / b", a / b, ha / hb), ("-a", -a, -ha), ("abs(a)", abs(a), np.abs(ha)), ("+a", +a, ha),
             ("1 - a", 1 - a, 1 - ha), ("a[0]", a[0], ha[0]), ("a < b", a < b, ha < hb), ("a >= b", a >= b, ha >= hb),
             ("a > 0", a > 0, ha > 0), ("a <= 0", a <= 0, ha <= 0), ("host + a", hb + a, hb + ha)]
    for what, got, ref in exact:
        assert isinstance(got, ops.Tensor), f"{what} must be a Tensor, got {type(got).__name__}"
        assert_exact(got.numpy(), np.asarray(ref), f"Tensor {what} {dtype}")
    ref = np.matmul(ha.astype(np.float64), hb.astype(np.float64))
    assert_close((a @ b).numpy(), ref, matmul_bound(ha.astype(np.float64), hb.astype(np.float64), ref, dtype), "a @ b", dtype=dtype)
    p = (b ** 1.5).numpy()
    ref = hb.astype(np.float64) ** 1.5
    assert_close(p, ref, 16 * eps(dtype) * ref, "b ** 1.5", dtype=dtype)
    assert len(a) == 3 and a.ndim == 2 and a.shape == (3, 3) and a.dtype == dtype
    assert float(ops.sum(a)) == pytest.approx(float(np.sum(ha.astype(np.float64))), rel=1e-5, abs=1e-5)
    assert np.asarray(a).dtype == np.dtype(dtype)


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.75])
def test_ops_dropout(backend, dtype, rate):
    """ops.dropout(x) = x * dropout_mask(x.shape, rate, seed, counter, dtype)."""
    rng = rng_for("ops-dropout", rate, dtype)
    hx = sample(real(), rng, (20, 30), dtype)
    got = ops.dropout(ops.convert_to_tensor(backend.asarray(hx)), rate, seed=5, counter=2).numpy()
    mask = backend.to_numpy(backend.dropout_mask(hx.shape, rate, 5, 2, dtype))
    ref = hx.astype(np.float64) * mask.astype(np.float64)
    assert_close(got, ref, 2 * eps(dtype) * np.abs(ref), f"ops.dropout rate={rate} {dtype}", dtype=dtype)
    assert np.array_equal(got == 0, (mask == 0) | (hx == 0))


_ERRORS = [
    ("matmul of a scalar", lambda: ops.matmul(ops.ones((3,)), ops.ones(()))),
    ("matmul shape mismatch", lambda: ops.matmul(ops.ones((3, 4)), ops.ones((3, 4)))),
    ("reshape size mismatch", lambda: ops.reshape(ops.ones((3, 4)), (5, -1))),
    ("reduction axis out of range", lambda: ops.sum(ops.ones((3, 4)), axis=2)),
    ("concatenate mismatch", lambda: ops.concatenate([ops.ones((2, 3)), ops.ones((3, 2))], axis=0)),
    ("Variable.assign wrong shape", lambda: ops.Variable(ops.ones((2,)).value).assign(np.ones(3))),
]


@pytest.mark.parametrize("label,call", _ERRORS, ids=[e[0] for e in _ERRORS])
def test_ops_errors(backend, label, call):
    with pytest.raises((ValueError, TypeError)):
        call()
