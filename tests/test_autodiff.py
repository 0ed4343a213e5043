"""The tape's backward walk (``lamina.ops.tape.backward``): nodes in decreasing creation order."""
from __future__ import annotations

import copy

import numpy as np

import lamina.ops as ops


def test_gradient_walk_survives_copied_tensors():
    """A copy.copy of a recorded tensor shares its creation number; the tape must not compare the
    tensors themselves when both wait to be processed."""
    w = ops.Variable(np.array([1.0, 2.0, 3.0], np.float32))
    with ops.GradientTape() as tape:
        y = ops.multiply(w, w)
        twin = copy.copy(y)
        loss = ops.sum(ops.add(ops.multiply(y, 2.0), ops.multiply(twin, 3.0)))
    (g,) = tape.gradient(loss, [w])
    np.testing.assert_allclose(g.numpy(), 10.0 * np.array([1.0, 2.0, 3.0]), rtol=1e-6)


def test_gradient_of_a_node_used_by_later_and_earlier_consumers():
    """x feeds ops made long after it and right after it; its gradient is complete before its own
    VJP runs (d/dw of w*w*3 + tanh(w*w) + (w*w)^2 summed)."""
    w = ops.Variable(np.array([0.5, -1.5], np.float64))
    with ops.GradientTape() as tape:
        x = ops.multiply(w, w)
        a = ops.multiply(x, 3.0)
        b = ops.tanh(x)
        c = ops.multiply(x, x)
        loss = ops.sum(ops.add(ops.add(a, b), c))
    (g,) = tape.gradient(loss, [w])
    wv = np.array([0.5, -1.5])
    xv = wv * wv
    want = (3.0 + (1 - np.tanh(xv) ** 2) + 2 * xv) * 2 * wv
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-12)


def _split_op(x):
    """A two-output op for the tape: (2 x, x^2), with its VJP written once for both outputs."""
    from lamina.ops.tape import make_outputs
    be = ops.backend_object()
    x = ops.convert_to_tensor(x)

    def vjp(grads):
        g2, gsq = grads
        total = None
        if g2 is not None:
            total = be.multiply(g2, 2.0)
        if gsq is not None:
            part = be.multiply(gsq, be.multiply(x.value, 2.0))
            total = part if total is None else be.add(total, part)
        return (total,)
    return make_outputs((be.multiply(x.value, 2.0), be.multiply(x.value, x.value)), (x,), vjp)


def test_several_output_op_gets_each_outputs_gradient_once():
    w = ops.Variable(np.array([0.5, -2.0], np.float64))
    with ops.GradientTape() as tape:
        double, square = _split_op(w)
        # double is read twice (its gradients add up before the op's VJP), square once
        loss = ops.sum(ops.add(ops.add(ops.multiply(double, 3.0), ops.sin(double)), square))
    (g,) = tape.gradient(loss, [w])
    wv = np.array([0.5, -2.0])
    np.testing.assert_allclose(g.numpy(), 2 * (3.0 + np.cos(2 * wv)) + 2 * wv, rtol=1e-12)


def test_several_output_op_with_an_unused_output():
    w = ops.Variable(np.array([0.5, -2.0], np.float64))
    with ops.GradientTape() as tape:
        _, square = _split_op(w)
        loss = ops.sum(square)
    (g,) = tape.gradient(loss, [w])
    np.testing.assert_allclose(g.numpy(), [1.0, -4.0], rtol=1e-12)
    with ops.GradientTape() as tape:  # and the other way round, through the other output
        double, _ = _split_op(w)
        loss = ops.sum(double)
    (g,) = tape.gradient(loss, [w])
    np.testing.assert_allclose(g.numpy(), [2.0, 2.0], rtol=1e-12)
    outside = _split_op(w)  # no tape: plain tensors that remember nothing
    assert all(t._vjp is None and t._parents == () for t in outside)


def test_copied_output_of_a_several_output_op_adds_its_gradient():
    """A copy.copy of an output reports the same output index again: both reports count."""
    w = ops.Variable(np.array([0.5, -2.0], np.float64))
    with ops.GradientTape() as tape:
        double, square = _split_op(w)
        loss = ops.sum(ops.add(ops.add(square, copy.copy(square)), ops.multiply(copy.copy(double), 3.0)))
    (g,) = tape.gradient(loss, [w])
    np.testing.assert_allclose(g.numpy(), 2 * 2 * np.array([0.5, -2.0]) + 6.0, rtol=1e-12)


def test_the_seed_is_shared_but_never_handed_out():
    """The gradient of a 0-d loss with respect to itself is one array per backend and dtype, reused
    by every backward pass; a source that receives it unchanged (the loss itself, or a term of a
    sum) gets a copy, so writing to a returned gradient cannot change the next step's seed."""
    from lamina.ops import tape as tape_module

    w = ops.Variable(np.asarray(2.0, np.float32))
    be = ops.backend_object()
    for step in range(3):
        with ops.GradientTape() as tape:
            loss = ops.add(w, 5.0)  # add's VJP passes the seed itself on to w
        (g,) = tape.gradient(loss, [w])
        seed = be.__dict__["_tape_seeds"]["float32"]
        assert g.value is not seed and float(g.numpy()) == 1.0, step
        g.value[...] = 100.0  # a caller writing into its gradient
        with ops.GradientTape() as tape:
            same = ops.multiply(w, 1.0)
        (g_self,) = tape.gradient(same, [same])  # d same / d same: the seed's value, as a copy
        assert g_self.value is not seed and float(g_self.numpy()) == 1.0, step
        g_self.value[...] = -7.0
        assert float(seed) == 1.0 and seed.shape == ()
    assert tape_module._ones_seed(be, (), "float32") is seed
    assert tape_module._ones_seed(be, (2,), "float32") is not tape_module._ones_seed(be, (2,), "float32")


def test_views_of_the_seed_are_not_handed_out_either():
    """reshape's, squeeze's and expand_dims' VJPs pass a view of the seed on; a caller that scales
    its gradients in place must not change the seed the next backward pass starts from."""
    w = ops.Variable(np.asarray([1.0, 2.0], np.float32))
    v = ops.Variable(np.asarray([0.5], np.float32))
    u = ops.Variable(np.asarray([[0.25]], np.float32))
    for step in range(4):
        with ops.GradientTape() as tape:
            loss = ops.add(ops.add(ops.sum(ops.square(w)), ops.squeeze(v)), ops.reshape(u, ()))
        grads = tape.gradient(loss, [w, v, u])
        assert [g.numpy().tolist() for g in grads] == [[2.0, 4.0], [1.0], [[1.0]]], step
        for g in grads:
            g.value *= 0.5  # in place into the caller's own arrays
