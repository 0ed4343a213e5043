"""Numerical tests for lamina.optimizers against float64 reference loops written here.

Each reference follows the update rule Keras documents (Keras 2 ``decay``; Keras 3 Adam/RMSprop).
Gradients are fixed arrays fed through ``apply_gradients``, so no model or tape is involved.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from lamina import constraints, ops, optimizers
from lamina.optimizers import schedules

P0 = np.array([0.5, -1.25, 2.0, 0.0])
GRADS = [np.array([0.1, -0.4, 1.5, -2.0]),
         np.array([-0.3, 0.2, 0.7, 0.05]),
         np.array([0.25, 0.6, -1.1, 0.9])]


def _var(values, dtype="float64", constraint=None):
    return ops.Variable(ops.convert_to_tensor(np.array(values, dtype=dtype)).value, name="w",
                        constraint=constraint)


def _run(opt, p0=P0, grads=GRADS, dtype="float64"):
    v = _var(p0, dtype)
    for g in grads:
        opt.apply_gradients([(ops.convert_to_tensor(np.array(g, dtype=dtype)), v)])
    return v.numpy()


# --- float64 reference loops ---------------------------------------------------------------

def sgd_ref(p, grads, lr, momentum=0.0, nesterov=False, decay=0.0, schedule=None):
    p = np.array(p, dtype=np.float64)
    vel = np.zeros_like(p)
    for t, g in enumerate(grads):  # t = iterations before this update
        lr_t = schedule(t) if schedule is not None else lr
        lr_t = lr_t / (1.0 + decay * t)
        if momentum == 0.0:
            p = p - lr_t * g
            continue
        vel = momentum * vel - lr_t * g
        p = p + (momentum * vel - lr_t * g if nesterov else vel)
    return p


def rmsprop_ref(p, grads, lr, rho=0.9, eps=1e-7):
    p = np.array(p, dtype=np.float64)
    v = np.zeros_like(p)
    for g in grads:
        v = rho * v + (1 - rho) * g ** 2
        p = p - lr * g / np.sqrt(v + eps)
    return p


def adam_ref(p, grads, lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False):
    p = np.array(p, dtype=np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vhat = np.zeros_like(p)
    for i, g in enumerate(grads):
        t = i + 1
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = m + (g - m) * (1 - b1)
        v = v + (g ** 2 - v) * (1 - b2)
        if amsgrad:
            vhat = np.maximum(vhat, v)
            p = p - alpha * m / (np.sqrt(vhat) + eps)
        else:
            p = p - alpha * m / (np.sqrt(v) + eps)
    return p


# --- SGD -------------------------------------------------------------------------------------

def test_sgd_plain_three_steps():
    got = _run(optimizers.SGD(learning_rate=0.1))
    np.testing.assert_allclose(got, sgd_ref(P0, GRADS, 0.1), rtol=0, atol=1e-14)
    # hand check of the first coordinate: 0.5 - 0.1 * (0.1 - 0.3 + 0.25)
    assert got[0] == pytest.approx(0.495, abs=1e-14)


def test_sgd_default_learning_rate_is_0_01():
    opt = optimizers.SGD()
    assert opt.learning_rate == pytest.approx(0.01)
    np.testing.assert_allclose(_run(opt), sgd_ref(P0, GRADS, 0.01), atol=1e-14)


def test_sgd_momentum_three_steps():
    got = _run(optimizers.SGD(learning_rate=0.1, momentum=0.9))
    np.testing.assert_allclose(got, sgd_ref(P0, GRADS, 0.1, momentum=0.9), atol=1e-14)
    assert not np.allclose(got, sgd_ref(P0, GRADS, 0.1))  # momentum made a difference


def test_sgd_nesterov_with_keras2_decay():
    opt = optimizers.SGD(lr=0.1, decay=0.5, momentum=0.9, nesterov=True)
    got = _run(opt)
    want = sgd_ref(P0, GRADS, 0.1, momentum=0.9, nesterov=True, decay=0.5)
    np.testing.assert_allclose(got, want, atol=1e-14)
    # decay and nesterov both change the result
    assert not np.allclose(got, sgd_ref(P0, GRADS, 0.1, momentum=0.9, nesterov=True))
    assert not np.allclose(got, sgd_ref(P0, GRADS, 0.1, momentum=0.9, decay=0.5))
    assert opt.iterations == 3
    # the rate for the next (4th) update is lr / (1 + decay * 3)
    assert opt.current_learning_rate() == pytest.approx(0.1 / 2.5)


def test_sgd_nesterov_first_step_by_hand():
    v = _var([1.0, 2.0])
    optimizers.SGD(learning_rate=0.2, momentum=0.9, nesterov=True).apply_gradients(
        [(ops.convert_to_tensor(np.array([0.1, 0.2])), v)])
    # velocity = -0.2*g; p += 0.9*velocity - 0.2*g = -0.38*g
    np.testing.assert_allclose(v.numpy(), [1.0 - 0.038, 2.0 - 0.076], atol=1e-14)


def test_sgd_float32_variable_matches_reference():
    got = _run(optimizers.SGD(learning_rate=0.1, momentum=0.5), dtype="float32")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, sgd_ref(P0, GRADS, 0.1, momentum=0.5), rtol=1e-6, atol=1e-6)


def test_lr_alias_and_attribute():
    opt = optimizers.SGD(lr=0.05)
    assert opt.learning_rate == pytest.approx(0.05)
    assert opt.lr == pytest.approx(0.05)
    opt.lr = 0.5  # Keras 2 attribute assignment changes the rate used
    assert opt.learning_rate == pytest.approx(0.5)
    np.testing.assert_allclose(_run(opt), sgd_ref(P0, GRADS, 0.5), atol=1e-14)
    opt.learning_rate = 0.25
    assert opt.lr == pytest.approx(0.25)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.lr = -1.0


def test_lr_alias_on_adam_and_rmsprop():
    assert optimizers.Adam(lr=0.02).learning_rate == pytest.approx(0.02)
    assert optimizers.RMSprop(lr=0.03).lr == pytest.approx(0.03)


# --- RMSprop / Adam ----------------------------------------------------------------------------

def test_rmsprop_three_steps():
    opt = optimizers.RMSprop(learning_rate=0.01)
    assert (opt.rho, opt.epsilon) == (0.9, 1e-7)
    np.testing.assert_allclose(_run(opt), rmsprop_ref(P0, GRADS, 0.01), rtol=1e-12, atol=1e-14)


def test_rmsprop_custom_rho_first_step_by_hand():
    opt = optimizers.RMSprop(learning_rate=0.1, rho=0.5, epsilon=0.0)
    v = _var([1.0])
    opt.apply_gradients([(ops.convert_to_tensor(np.array([2.0])), v)])
    # v = 0.5 * 4 = 2; p = 1 - 0.1 * 2 / sqrt(2)
    assert float(v.numpy()[0]) == pytest.approx(1.0 - 0.1 * 2.0 / math.sqrt(2.0), abs=1e-14)


def test_adam_defaults_and_three_steps():
    opt = optimizers.Adam()
    assert opt.learning_rate == pytest.approx(0.001)
    assert (opt.beta_1, opt.beta_2, opt.epsilon, opt.amsgrad) == (0.9, 0.999, 1e-7, False)
    opt = optimizers.Adam(learning_rate=0.01)
    np.testing.assert_allclose(_run(opt), adam_ref(P0, GRADS, 0.01), rtol=1e-12, atol=1e-14)


def test_adam_first_step_moves_by_lr_times_sign():
    # With bias correction the first Adam step is ~lr * sign(g) (eps aside).
    v = _var([0.0, 0.0])
    optimizers.Adam(learning_rate=0.1).apply_gradients([(ops.convert_to_tensor(np.array([3.0, -0.01])), v)])
    a = math.sqrt(1e-3) * np.array([3.0, 0.01])  # sqrt(v_hat-corrected) before eps
    np.testing.assert_allclose(v.numpy(), -0.1 * np.sign([3.0, -0.01]) * a / (a + 1e-7), rtol=1e-12)
    np.testing.assert_allclose(v.numpy(), [-0.1, 0.1], rtol=1e-3)


def test_adam_amsgrad():
    grads = [np.array([2.0, -3.0, 0.5]), np.array([0.1, 0.2, 0.1]), np.array([0.05, -0.1, 0.3])]
    p0 = np.array([1.0, 1.0, 1.0])
    got = _run(optimizers.Adam(learning_rate=0.05, beta_2=0.9, amsgrad=True), p0, grads)
    np.testing.assert_allclose(got, adam_ref(p0, grads, 0.05, b2=0.9, amsgrad=True), rtol=1e-12, atol=1e-14)
    plain = adam_ref(p0, grads, 0.05, b2=0.9)
    assert not np.allclose(got, plain)  # the max of v mattered for these gradients


def test_adam_two_variables_keep_separate_slots():
    opt = optimizers.Adam(learning_rate=0.01)
    a, b = _var(P0), _var(-P0)
    for g in GRADS:
        opt.apply_gradients([(ops.convert_to_tensor(g), a), (ops.convert_to_tensor(2 * g), b)])
    np.testing.assert_allclose(a.numpy(), adam_ref(P0, GRADS, 0.01), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b.numpy(), adam_ref(-P0, [2 * g for g in GRADS], 0.01), rtol=1e-12, atol=1e-14)
    assert opt.iterations == 3  # one iteration per apply_gradients call, not per variable


# --- gradient clipping ---------------------------------------------------------------------

def test_clipnorm_is_per_gradient():
    a, b = _var([0.0, 0.0]), _var([0.0, 0.0])
    opt = optimizers.SGD(learning_rate=1.0, clipnorm=1.0)
    opt.apply_gradients([(ops.convert_to_tensor(np.array([3.0, 4.0])), a),   # norm 5 -> scaled to 1
                         (ops.convert_to_tensor(np.array([0.3, 0.4])), b)])   # norm 0.5 -> unchanged
    np.testing.assert_allclose(a.numpy(), [-0.6, -0.8], atol=1e-14)
    np.testing.assert_allclose(b.numpy(), [-0.3, -0.4], atol=1e-14)


def test_clipvalue():
    v = _var([0.0, 0.0, 0.0, 0.0])
    optimizers.SGD(learning_rate=1.0, clipvalue=0.5).apply_gradients(
        [(ops.convert_to_tensor(np.array([-3.0, 0.2, 5.0, -0.5])), v)])
    np.testing.assert_allclose(v.numpy(), [0.5, -0.2, -0.5, 0.5], atol=1e-14)


def test_global_clipnorm_scales_all_gradients_together():
    a, b = _var([0.0, 0.0]), _var([0.0])
    opt = optimizers.SGD(learning_rate=1.0, global_clipnorm=1.3)
    # global norm = sqrt(9 + 16 + 144) = 13 -> every gradient scaled by 0.1
    opt.apply_gradients([(ops.convert_to_tensor(np.array([3.0, 4.0])), a),
                         (ops.convert_to_tensor(np.array([12.0])), b)])
    np.testing.assert_allclose(a.numpy(), [-0.3, -0.4], atol=1e-14)
    np.testing.assert_allclose(b.numpy(), [-1.2], atol=1e-14)
    # below the threshold nothing changes
    c = _var([0.0])
    optimizers.SGD(learning_rate=1.0, global_clipnorm=10.0).apply_gradients(
        [(ops.convert_to_tensor(np.array([2.0])), c)])
    np.testing.assert_allclose(c.numpy(), [-2.0], atol=1e-14)


def test_clipnorm_with_adam_matches_reference_on_clipped_grads():
    clipped = [g * min(1.0, 0.5 / np.linalg.norm(g)) for g in GRADS]
    got = _run(optimizers.Adam(learning_rate=0.01, clipnorm=0.5))
    np.testing.assert_allclose(got, adam_ref(P0, clipped, 0.01), rtol=1e-12, atol=1e-14)
    assert not np.allclose(got, adam_ref(P0, GRADS, 0.01, eps=1e-3))


def test_gradients_none_are_skipped():
    a, b = _var([1.0]), _var([2.0])
    opt = optimizers.SGD(learning_rate=0.1)
    opt.apply_gradients([(None, a), (ops.convert_to_tensor(np.array([1.0])), b)])
    np.testing.assert_allclose(a.numpy(), [1.0])
    np.testing.assert_allclose(b.numpy(), [1.9], atol=1e-14)


def test_weight_decay_is_decoupled():
    opt = optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    v = _var([2.0])
    opt.apply_gradients([(ops.convert_to_tensor(np.array([1.0])), v)])
    # p = p * (1 - lr * wd) then p -= lr * g: 2 * 0.95 - 0.1
    assert float(v.numpy()[0]) == pytest.approx(1.8, abs=1e-14)


# --- learning-rate schedules ------------------------------------------------------------------

def test_exponential_decay_values():
    s = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    for step in range(6):
        assert s(step) == pytest.approx(0.1 * 0.5 ** (step / 2))
    st = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True)
    assert [st(i) for i in range(5)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_inverse_time_decay_values():
    s = schedules.InverseTimeDecay(1.0, decay_steps=4, decay_rate=0.5)
    for step in range(6):
        assert s(step) == pytest.approx(1.0 / (1 + 0.5 * step / 4))
    st = schedules.InverseTimeDecay(1.0, decay_steps=4, decay_rate=0.5, staircase=True)
    assert [st(i) for i in (0, 3, 4, 7, 8)] == pytest.approx([1.0, 1.0, 1 / 1.5, 1 / 1.5, 0.5])


def test_piecewise_constant_decay():
    s = schedules.PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.1])
    assert [s(i) for i in range(7)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    with pytest.raises(ValueError, match="one more value"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.5])


def test_sgd_with_schedule_uses_rate_of_current_iteration():
    sched = schedules.ExponentialDecay(0.2, decay_steps=1, decay_rate=0.5)
    opt = optimizers.SGD(learning_rate=sched, momentum=0.9)
    got = _run(opt)
    np.testing.assert_allclose(got, sgd_ref(P0, GRADS, None, momentum=0.9, schedule=sched), atol=1e-14)
    assert not np.allclose(got, sgd_ref(P0, GRADS, 0.2, momentum=0.9))


def test_adam_with_schedule():
    sched = schedules.PiecewiseConstantDecay([0], [0.1, 0.01])
    got = _run(optimizers.Adam(learning_rate=sched))
    # step 1 at 0.1, steps 2 and 3 at 0.01: replay the reference with per-step rates
    p = P0.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for i, g in enumerate(GRADS):
        t = i + 1
        lr = sched(i)
        alpha = lr * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        m += (g - m) * 0.1
        v += (g ** 2 - v) * 0.001
        p = p - alpha * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(got, p, rtol=1e-12, atol=1e-14)


def test_zero_argument_callable_learning_rate():
    # Keras 3: "a callable that takes no arguments and returns the actual value to use".
    opt = optimizers.SGD(learning_rate=lambda: 0.3)
    np.testing.assert_allclose(_run(opt), sgd_ref(P0, GRADS, 0.3), atol=1e-14)


# --- constraints -----------------------------------------------------------------------------

def test_nonneg_constraint_applied_after_update():
    v = _var([0.5, 0.5, -0.2], constraint=constraints.NonNeg())
    optimizers.SGD(learning_rate=1.0).apply_gradients([(ops.convert_to_tensor(np.array([1.0, -1.0, -0.1])), v)])
    # raw update [-0.5, 1.5, -0.1] then relu
    np.testing.assert_allclose(v.numpy(), [0.0, 1.5, 0.0], atol=1e-14)


def test_maxnorm_constraint_applied_after_adam_update():
    c = constraints.MaxNorm(max_value=1.0, axis=0)
    v = _var(np.array([[3.0, 0.1], [4.0, 0.2]]), constraint=c)
    optimizers.Adam(learning_rate=0.1).apply_gradients([(ops.convert_to_tensor(np.array([[1.0, 1.0], [1.0, 1.0]])), v)])
    raw = np.array([[3.0, 0.1], [4.0, 0.2]]) - 0.1 * math.sqrt(1e-3) / (math.sqrt(1e-3) + 1e-7)  # 1st Adam step
    norms = np.sqrt((raw ** 2).sum(axis=0, keepdims=True))
    want = raw * np.clip(norms, 0, 1.0) / (norms + 1e-7)
    np.testing.assert_allclose(v.numpy(), want, rtol=1e-6)
    assert np.sqrt((v.numpy() ** 2).sum(axis=0))[0] == pytest.approx(1.0, abs=1e-6)


# --- argument checking and lookup --------------------------------------------------------------

def test_unknown_kwarg_raises_type_error_naming_it():
    with pytest.raises(TypeError, match="momentun"):
        optimizers.SGD(momentun=0.9)
    with pytest.raises(TypeError, match="beta1"):
        optimizers.Adam(beta1=0.9)


@pytest.mark.parametrize("bad", [-0.1, 0, "fast", True, None])
def test_invalid_learning_rate_raises(bad):
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD(learning_rate=bad)


@pytest.mark.parametrize("kwargs", [{"clipnorm": -1.0}, {"clipvalue": 0}, {"global_clipnorm": "x"},
                                    {"decay": -0.1}, {"momentum": 1.5}, {"momentum": -0.1}])
def test_invalid_hyperparameters_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        optimizers.SGD(**kwargs)


def test_get_by_name_is_case_insensitive():
    assert type(optimizers.get("sgd")) is optimizers.SGD
    assert type(optimizers.get("SGD")) is optimizers.SGD
    assert type(optimizers.get("Adam")) is optimizers.Adam
    assert type(optimizers.get("rmsprop")) is optimizers.RMSprop
    opt = optimizers.Adam()
    assert optimizers.get(opt) is opt


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as exc:
        optimizers.get("adamw_typo")
    msg = str(exc.value)
    assert "adamw_typo" in msg
    for name in ("adam", "rmsprop", "sgd"):
        assert name in msg


def test_get_from_config_dict_and_bad_type():
    opt = optimizers.get({"class_name": "SGD", "config": {"learning_rate": 0.5, "momentum": 0.25}})
    assert isinstance(opt, optimizers.SGD)
    assert (opt.learning_rate, opt.momentum) == (0.5, 0.25)
    with pytest.raises(TypeError):
        optimizers.get(42)


def test_config_round_trip_gives_same_updates():
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True, decay=0.01, clipnorm=1.0)
    cfg = opt.get_config()
    assert cfg["momentum"] == 0.9 and cfg["nesterov"] is True and cfg["decay"] == 0.01
    clone = optimizers.SGD.from_config(cfg)
    assert clone.get_config() == cfg
    np.testing.assert_allclose(_run(clone), _run(opt), atol=0)
    a = optimizers.Adam(learning_rate=0.01, beta_1=0.8, amsgrad=True)
    assert optimizers.Adam.from_config(a.get_config()).get_config() == a.get_config()


def test_config_round_trip_with_schedule():
    sched = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True)
    opt = optimizers.SGD(learning_rate=sched)
    clone = optimizers.SGD.from_config(opt.get_config())
    assert isinstance(clone.learning_rate, schedules.ExponentialDecay)
    np.testing.assert_allclose(_run(clone), _run(optimizers.SGD(learning_rate=sched)), atol=0)


# --- one fused update for all variables (Optimizer.update_steps) --------------------------------

_FUSED_CASES = [
    lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda: optimizers.Adam(0.01, amsgrad=True, clipnorm=1.0),
    lambda: optimizers.AdamW(0.01, weight_decay=0.05),
    lambda: optimizers.RMSprop(0.01),
]


def _fused_run(make, dtype, per_variable):
    """Four steps on four variables (one empty, one 0-d, one with a constraint); with
    ``per_variable`` the fused path is switched off by replacing update_steps on the instance."""
    rng = np.random.default_rng(5)
    shapes = [(4, 3), (0,), (), (5,)]
    variables = [ops.Variable(np.array(rng.standard_normal(s), dtype=dtype),
                              constraint=constraints.NonNeg() if i == 3 else None) for i, s in enumerate(shapes)]
    opt = make()
    if per_variable:
        opt.update_steps = lambda grads, vs, lr: [opt.update_step(g, v, lr) for g, v in zip(grads, vs)]
    for _ in range(4):
        grads = [ops.convert_to_tensor(np.array(rng.standard_normal(s), dtype=dtype)) for s in shapes]
        opt.apply_gradients(zip(grads, variables))
    state = opt.get_slot_state(variables)
    return [v.numpy() for v in variables], state


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", range(len(_FUSED_CASES)))
def test_fused_update_equals_one_update_per_variable(case, dtype):
    (fused, fused_state), (single, single_state) = (_fused_run(_FUSED_CASES[case], dtype, per_variable)
                                                    for per_variable in (False, True))
    for a, b in zip(fused, single):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert fused_state.keys() == single_state.keys()
    for key in fused_state:
        np.testing.assert_array_equal(fused_state[key], single_state[key], err_msg=key)


def test_an_overridden_update_step_is_called_for_each_variable():
    calls = []

    class Logged(optimizers.SGD):
        def update_step(self, grad, var, lr):
            calls.append(var.shape)
            super().update_step(grad, var, lr)

    a, b = _var([1.0, 2.0]), _var([[3.0]])
    Logged(0.5).apply_gradients([(np.array([1.0, 1.0]), a), (np.array([[2.0]]), b)])
    assert calls == [(2,), (1, 1)]
    np.testing.assert_array_equal(a.numpy(), [0.5, 1.5])
    np.testing.assert_array_equal(b.numpy(), [[2.0]])
    opt = optimizers.Adam()  # replaced on the instance: also honoured
    opt.update_step = lambda grad, var, lr: calls.append("instance")
    opt.apply_gradients([(np.array([1.0, 1.0]), a)])
    assert calls[-1] == "instance" and a.numpy().tolist() == [0.5, 1.5]


def test_a_variable_listed_twice_is_decayed_updated_and_constrained_in_turn():
    """Per entry: decay, update, constraint, as the per-variable loop always did."""
    v = _var([1.0], constraint=lambda w: ops.multiply(w, 0.5))  # order-sensitive on purpose
    optimizers.SGD(0.1, weight_decay=0.5).apply_gradients([(np.array([0.25]), v), (np.array([-0.5]), v)])
    p = 1.0
    for g in (0.25, -0.5):
        p -= p * 0.1 * 0.5
        p -= 0.1 * g
        p *= 0.5
    np.testing.assert_allclose(v.numpy(), [p], rtol=1e-15)  # 0.2446875; stage by stage gives 0.231875


def test_keras2_set_value_on_the_learning_rate_sets_the_rate():
    """Keras 2 scripts lower the rate with ``K.set_value(model.optimizer.lr, x)`` (a variable
    there); the updates that follow use the new rate, as with an optimizer made with it."""
    from lamina import backend as K
    opt = optimizers.SGD(lr=0.5, momentum=0.9)
    first = _run(opt)  # some steps at 0.5 (builds the momentum)
    assert K.get_value(opt.lr) == 0.5
    K.set_value(opt.lr, 0.125)
    assert opt.learning_rate == 0.125 and type(opt.get_config()["learning_rate"]) is float
    reference = optimizers.SGD(lr=0.5, momentum=0.9)
    _run(reference)
    reference.learning_rate = 0.125
    np.testing.assert_array_equal(_run(opt, p0=first), _run(reference, p0=first))
    with pytest.raises(ValueError, match="positive number"):
        K.set_value(opt.lr, -1.0)
