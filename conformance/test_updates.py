"""In-place ops: assign and the optimizer updates, against the protocol's documented formulas
evaluated in float64.

Error budget for the updates: each step rounds a handful of times on values no larger than
|param|, |state| and |step|, and errors in the state (velocity, m, v) feed later steps. After
``k`` steps the float64 reference and the backend may differ by
16 eps (k |param| + (k + 1) sum_steps |step|) on the parameter and 16 eps k (|state| + max|g|-scale)
on the state — far below what a wrong formula (epsilon inside vs outside the sqrt, a missing
(1 - beta), the Nesterov term) produces, which the tests are built to expose (epsilon = 0.1).
"""
from __future__ import annotations

import numpy as np
import pytest

from ._checks import assert_close, assert_exact, eps
from ._inputs import Layout, real, rng_for, sample
from ._updates import RULES, apply_update

STEPS = 3


def _arrays(be, rng, dtype, shape=(4, 5)):
    p = sample(real(-2, 2), rng, shape, dtype)
    grads = [sample(real(-1, 1), rng, shape, dtype) * (2.0 - k) for k in range(STEPS)]  # shrinking: AMSGrad's max matters
    return p, [g.astype(dtype) for g in grads]


def test_assign(backend, dtype):
    rng = rng_for("assign", dtype)
    dst_h = sample(real(), rng, (3, 4), dtype)
    dst = backend.asarray(dst_h.copy())
    alias = dst  # another reference to the same array must see the change
    src = sample(real(), rng, (3, 4), dtype)
    backend.assign(dst, backend.asarray(src))
    assert_exact(backend.to_numpy(alias), src, "assign same shape", dtype=dtype)
    row = sample(real(), rng, (4,), dtype)
    backend.assign(dst, backend.asarray(row))
    assert_exact(backend.to_numpy(dst), np.broadcast_to(row, (3, 4)), "assign broadcast (4,) into (3,4)", dtype=dtype)
    backend.assign(dst, backend.asarray(np.asarray(2.5, dtype)))
    assert_exact(backend.to_numpy(dst), np.full((3, 4), 2.5, dtype), "assign 0-d", dtype=dtype)
    t, ht = Layout("t", (4, 3), transpose=True).make(backend, real(), rng, dtype)
    backend.assign(dst, t)
    assert_exact(backend.to_numpy(dst), ht, "assign from a transposed view", dtype=dtype)
    wide = sample(real(), rng, (3, 4), "float64")
    backend.assign(dst, backend.asarray(wide))
    assert_exact(backend.to_numpy(dst), wide.astype(dtype), "assign float64 into the dtype (cast)", dtype=dtype)
    # Into a view: the base array changes where the view looks.
    base = backend.asarray(np.zeros((4, 3), dtype))
    backend.assign(backend.transpose(base), backend.asarray(src))
    assert_exact(backend.to_numpy(base), src.T, "assign into a transposed view writes through", dtype=dtype)


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True), (None, False)],
                         ids=["momentum0", "momentum", "nesterov", "no-velocity"])
def test_sgd_update(backend, dtype, momentum, nesterov):
    """v = m v - lr g; p += m v - lr g (Nesterov) or p += v; plain p -= lr g without velocity."""
    rng = rng_for("sgd", momentum, nesterov, dtype)
    lr = 0.1
    p_h, grads = _arrays(backend, rng, dtype)
    param = backend.asarray(p_h.copy())
    velocity = None if momentum is None else backend.asarray(np.zeros_like(p_h))
    p, v = p_h.astype(np.float64), np.zeros(p_h.shape)
    steps = 0.0
    for g in grads:
        backend.sgd_update(param, backend.asarray(g), velocity, lr, momentum or 0.0, nesterov)
        g64 = g.astype(np.float64)
        if momentum is None:
            step = -lr * g64
        else:
            v = momentum * v - lr * g64
            step = momentum * v - lr * g64 if nesterov else v
        p = p + step
        steps = steps + np.abs(step) + np.abs(v)
    k = len(grads)
    assert_close(backend.to_numpy(param), p, 16 * eps(dtype) * (k * np.abs(p) + (k + 1) * steps),
                 f"sgd_update param (momentum={momentum}, nesterov={nesterov}) {dtype}", dtype=dtype)
    if velocity is not None:
        assert_close(backend.to_numpy(velocity), v, 16 * eps(dtype) * k * (np.abs(v) + lr * 2.0),
                     f"sgd_update velocity {dtype}", dtype=dtype)


@pytest.mark.parametrize("amsgrad,epsilon", [(False, 0.1), (True, 0.1), (False, 1e-7)],
                         ids=["adam", "amsgrad", "adam-eps1e-7"])
def test_adam_update(backend, dtype, amsgrad, epsilon):
    """m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); vhat = max(vhat, v); p -= a m / (sqrt(v or vhat) + eps)."""
    rng = rng_for("adam", amsgrad, epsilon, dtype)
    alpha, b1, b2 = 0.01, 0.9, 0.999
    p_h, grads = _arrays(backend, rng, dtype)
    param = backend.asarray(p_h.copy())
    m_d, v_d = backend.asarray(np.zeros_like(p_h)), backend.asarray(np.zeros_like(p_h))
    vh_d = backend.asarray(np.zeros_like(p_h)) if amsgrad else None
    p, m, v, vh = p_h.astype(np.float64), np.zeros(p_h.shape), np.zeros(p_h.shape), np.zeros(p_h.shape)
    steps = 0.0
    for g in grads:
        backend.adam_update(param, backend.asarray(g), m_d, v_d, vh_d, alpha, b1, b2, epsilon)
        g64 = g.astype(np.float64)
        m = m + (g64 - m) * (1 - b1)
        v = v + (g64 ** 2 - v) * (1 - b2)
        vh = np.maximum(vh, v)
        step = alpha * m / (np.sqrt(vh if amsgrad else v) + epsilon)
        p = p - step
        steps = steps + np.abs(step)
    k = len(grads)
    what = f"adam_update (amsgrad={amsgrad}, epsilon={epsilon}) {dtype}"
    assert_close(backend.to_numpy(param), p, 16 * eps(dtype) * (k * np.abs(p) + (k + 1) * steps), what + " param", dtype=dtype)
    assert_close(backend.to_numpy(m_d), m, 16 * eps(dtype) * k * (np.abs(m) + 2.0), what + " m", dtype=dtype)
    assert_close(backend.to_numpy(v_d), v, 16 * eps(dtype) * k * (np.abs(v) + 4.0), what + " v", dtype=dtype)
    if amsgrad:
        assert_close(backend.to_numpy(vh_d), vh, 16 * eps(dtype) * k * (np.abs(vh) + 4.0), what + " vhat", dtype=dtype)


@pytest.mark.parametrize("epsilon", [0.1, 1e-7])
def test_rmsprop_update(backend, dtype, epsilon):
    """v = rho v + (1 - rho) g^2; p -= lr g / sqrt(v + eps)."""
    rng = rng_for("rmsprop", epsilon, dtype)
    lr, rho = 0.01, 0.9
    p_h, grads = _arrays(backend, rng, dtype)
    param = backend.asarray(p_h.copy())
    v_d = backend.asarray(np.zeros_like(p_h))
    p, v = p_h.astype(np.float64), np.zeros(p_h.shape)
    steps = 0.0
    for g in grads:
        backend.rmsprop_update(param, backend.asarray(g), v_d, lr, rho, epsilon)
        g64 = g.astype(np.float64)
        v = rho * v + (1 - rho) * g64 ** 2
        step = lr * g64 / np.sqrt(v + epsilon)
        p = p - step
        steps = steps + np.abs(step)
    k = len(grads)
    assert_close(backend.to_numpy(param), p, 16 * eps(dtype) * (k * np.abs(p) + (k + 1) * steps),
                 f"rmsprop_update param (epsilon={epsilon}) {dtype}", dtype=dtype)
    assert_close(backend.to_numpy(v_d), v, 16 * eps(dtype) * k * (np.abs(v) + 4.0), f"rmsprop_update velocity {dtype}",
                 dtype=dtype)


@pytest.mark.parametrize("epsilon", [0.1, 1e-7])
def test_adadelta_update(backend, dtype, epsilon):
    """a = rho a + (1 - rho) g^2; d = sqrt(D + eps) g / sqrt(a + eps); D = rho D + (1 - rho) d^2;
    p -= lr d (Keras' Adadelta; learning rate 1.0, its Keras 2 default)."""
    rng = rng_for("adadelta", epsilon, dtype)
    lr, rho = 1.0, 0.95
    p_h, grads = _arrays(backend, rng, dtype)
    param = backend.asarray(p_h.copy())
    a_d, d_d = backend.asarray(np.zeros_like(p_h)), backend.asarray(np.zeros_like(p_h))
    p, a, dd = p_h.astype(np.float64), np.zeros(p_h.shape), np.zeros(p_h.shape)
    steps = 0.0
    for g in grads:
        backend.adadelta_update(param, backend.asarray(g), a_d, d_d, lr, rho, epsilon)
        g64 = g.astype(np.float64)
        a = rho * a + (1 - rho) * g64 ** 2
        step = np.sqrt(dd + epsilon) * g64 / np.sqrt(a + epsilon)
        dd = rho * dd + (1 - rho) * step ** 2
        p = p - lr * step
        steps = steps + np.abs(step)
    k = len(grads)
    what = f"adadelta_update (epsilon={epsilon}) {dtype}"
    assert_close(backend.to_numpy(param), p, 16 * eps(dtype) * (k * np.abs(p) + (k + 1) * steps), what + " param",
                 dtype=dtype)
    assert_close(backend.to_numpy(a_d), a, 16 * eps(dtype) * k * (np.abs(a) + 4.0), what + " accumulated_grad",
                 dtype=dtype)
    assert_close(backend.to_numpy(d_d), dd, 32 * eps(dtype) * k * (np.abs(dd) + 4.0 * epsilon),
                 what + " accumulated_delta", dtype=dtype)


@pytest.mark.parametrize("rule", RULES)
def test_update_many(backend, dtype, rule):
    """``*_update_many`` over parameters of several shapes (nine of them: more than one GPU launch
    holds, one transposed gradient, one empty parameter) gives what one ``*_update`` per parameter
    gives on the same backend, bit for bit: the fused form may only change how many calls run."""
    rng = rng_for("update_many", rule, dtype)
    shapes = [(4, 5), (3,), (0,), (2, 3, 2), (7,), (5, 4), (1,), (6, 1), (2, 2)]
    hosts = []
    for shape in shapes:
        p, grads = _arrays(backend, rng, dtype, shape)
        states = [np.abs(sample(real(-1, 1), rng, shape, dtype)) for _ in range(3)]
        hosts.append((p, grads, states))
    results = []
    for many in (True, False):
        params = [backend.asarray(p.copy()) for p, _, _ in hosts]
        states = [[backend.asarray(s.copy()) for s in st] for _, _, st in hosts]
        a, b, c = ([st[j] for st in states] for j in range(3))
        for k in range(STEPS):
            grads = [backend.asarray(g[k]) for _, g, _ in hosts]
            grads[0] = backend.transpose(backend.asarray(np.ascontiguousarray(hosts[0][1][k].T)))
            if many:
                apply_update(backend, rule, params, grads, a, b, c, many=True, lr=0.1, epsilon=0.1)
            for i in range(len(params) * (not many)):
                apply_update(backend, rule, params[i], grads[i], a[i], b[i], c[i], lr=0.1, epsilon=0.1)
        results.append([backend.to_numpy(x) for x in params + a + b + c])
    for got, want in zip(*results):
        assert_exact(got, want, f"{rule} update_many against one update per parameter", dtype=dtype)
