"""The optimizer catalog: Adagrad, Adadelta, Adamax, Nadam, AdamW against float64 reference loops
written here from the formulas Keras documents, plus defaults, Keras 2 arguments, lookup,
serialization and saving/restoring optimizer state."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lamina import ops, optimizers
from lamina.optimizers import schedules

P0 = np.array([0.5, -1.25, 2.0, 0.0])
GRADS = [np.array([0.1, -0.4, 1.5, -2.0]),
         np.array([-0.3, 0.2, 0.7, 0.05]),
         np.array([0.25, 0.6, -1.1, 0.9])]


def _var(values, dtype="float64", name="w"):
    return ops.Variable(ops.convert_to_tensor(np.array(values, dtype=dtype)).value, name=name)


def _run(opt, p0=P0, grads=GRADS, dtype="float64"):
    v = _var(p0, dtype)
    for g in grads:
        opt.apply_gradients([(ops.convert_to_tensor(np.array(g, dtype=dtype)), v)])
    return v.numpy()


def _rates(lr, n, decay=0.0):
    """Keras 2 time decay: the t-th update (t from 0) uses lr / (1 + decay * t)."""
    return [lr / (1.0 + decay * t) for t in range(n)]


# --- float64 references (Keras 3 formulas; Keras 2 where noted) ------------------------------------

def adagrad_ref(p, grads, lr=0.001, init=0.1, eps=1e-7, decay=0.0):
    p, acc = np.array(p, float), np.full(len(p), init, float)
    for g, lr_t in zip(grads, _rates(lr, len(grads), decay)):
        acc = acc + g * g
        p = p - lr_t * g / np.sqrt(acc + eps)
    return p


def adadelta_ref(p, grads, lr=1.0, rho=0.95, eps=1e-7, decay=0.0):
    p = np.array(p, float)
    eg2, edx2 = np.zeros_like(p), np.zeros_like(p)
    for g, lr_t in zip(grads, _rates(lr, len(grads), decay)):
        eg2 = rho * eg2 + (1 - rho) * g * g
        dx = -np.sqrt(edx2 + eps) / np.sqrt(eg2 + eps) * g
        edx2 = rho * edx2 + (1 - rho) * dx * dx
        p = p + lr_t * dx
    return p


def adamax_ref(p, grads, lr=0.001, b1=0.9, b2=0.999, eps=1e-7, decay=0.0):
    p = np.array(p, float)
    m, u = np.zeros_like(p), np.zeros_like(p)
    for i, (g, lr_t) in enumerate(zip(grads, _rates(lr, len(grads), decay))):
        t = i + 1
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g))
        p = p - lr_t / (1 - b1 ** t) * m / (u + eps)
    return p


def nadam_ref(p, grads, lr=0.001, b1=0.9, b2=0.999, eps=1e-7, schedule_decay=1.0, decay=0.0):
    """Dozat's Nadam as Keras writes it: momentum cache mu_t = b1 (1 - 0.5 * 0.96^(t * sd))."""
    p = np.array(p, float)
    m, v = np.zeros_like(p), np.zeros_like(p)
    m_schedule = 1.0
    for i, (g, lr_t) in enumerate(zip(grads, _rates(lr, len(grads), decay))):
        t = i + 1
        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * schedule_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * schedule_decay))
        m_schedule_new = m_schedule * mu_t
        m_schedule_next = m_schedule_new * mu_next
        m_schedule = m_schedule_new
        g_prime = g / (1 - m_schedule_new)
        m = b1 * m + (1 - b1) * g
        m_prime = m / (1 - m_schedule_next)
        v = b2 * v + (1 - b2) * g * g
        v_prime = v / (1 - b2 ** t)
        m_bar = (1 - mu_t) * g_prime + mu_next * m_prime
        p = p - lr_t * m_bar / (np.sqrt(v_prime) + eps)
    return p


def adam_ref(p, grads, lr=0.001, b1=0.9, b2=0.999, eps=1e-7, weight_decay=0.0, amsgrad=False):
    p = np.array(p, float)
    m, v, vhat = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for i, g in enumerate(grads):
        t = i + 1
        p = p - p * weight_decay * lr  # AdamW: decoupled decay before the Adam step
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        vhat = np.maximum(vhat, v)
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        p = p - alpha * m / (np.sqrt(vhat if amsgrad else v) + eps)
    return p


# --- first three steps of each optimizer --------------------------------------------------------

def test_adagrad_defaults_and_three_steps():
    opt = optimizers.Adagrad()
    assert (opt.learning_rate, opt.initial_accumulator_value, opt.epsilon) == (0.001, 0.1, 1e-7)
    np.testing.assert_allclose(_run(opt), adagrad_ref(P0, GRADS), rtol=1e-13, atol=1e-15)
    got = _run(optimizers.Adagrad(learning_rate=0.1, initial_accumulator_value=0.5))
    np.testing.assert_allclose(got, adagrad_ref(P0, GRADS, lr=0.1, init=0.5), rtol=1e-13, atol=1e-15)


def test_adagrad_first_step_by_hand():
    v = _var([1.0])
    optimizers.Adagrad(learning_rate=0.5).apply_gradients([(ops.convert_to_tensor(np.array([2.0])), v)])
    # accumulator 0.1 + 4 = 4.1; p = 1 - 0.5 * 2 / sqrt(4.1 + 1e-7)
    assert float(v.numpy()[0]) == pytest.approx(1.0 - 1.0 / math.sqrt(4.1 + 1e-7), abs=1e-15)


def test_adadelta_default_learning_rate_is_keras2_value():
    opt = optimizers.Adadelta()
    assert opt.learning_rate == 1.0  # Keras 2's default; Keras 3 uses 0.001 (docs/keras-defaults.md)
    assert (opt.rho, opt.epsilon) == (0.95, 1e-7)
    assert optimizers.get("adadelta").learning_rate == 1.0
    np.testing.assert_allclose(_run(opt), adadelta_ref(P0, GRADS), rtol=1e-12, atol=1e-15)


def test_adadelta_keras3_rate_and_custom_rho():
    got = _run(optimizers.Adadelta(learning_rate=0.001, rho=0.9, epsilon=1e-6))
    np.testing.assert_allclose(got, adadelta_ref(P0, GRADS, lr=0.001, rho=0.9, eps=1e-6), rtol=1e-13, atol=1e-15)


def test_adadelta_first_step_by_hand():
    v = _var([0.0])
    optimizers.Adadelta().apply_gradients([(ops.convert_to_tensor(np.array([2.0])), v)])
    # E[g²] = 0.05 * 4 = 0.2; dx = -sqrt(eps) / sqrt(0.2 + eps) * 2
    assert float(v.numpy()[0]) == pytest.approx(-2.0 * math.sqrt(1e-7) / math.sqrt(0.2 + 1e-7), rel=1e-12)


def test_adamax_defaults_and_three_steps():
    opt = optimizers.Adamax()
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    np.testing.assert_allclose(_run(opt), adamax_ref(P0, GRADS), rtol=1e-12, atol=1e-15)
    got = _run(optimizers.Adamax(learning_rate=0.05, beta_1=0.8, beta_2=0.5))
    np.testing.assert_allclose(got, adamax_ref(P0, GRADS, lr=0.05, b1=0.8, b2=0.5), rtol=1e-12, atol=1e-15)


def test_adamax_first_step_is_lr_times_sign():
    v = _var([0.0, 0.0])
    optimizers.Adamax(learning_rate=0.1).apply_gradients([(ops.convert_to_tensor(np.array([3.0, -0.5])), v)])
    # m = 0.1 g, u = |g|, 1 - b1 = 0.1 -> step = lr * g / (|g| + eps)
    np.testing.assert_allclose(v.numpy(), [-0.1 * 3 / (3 + 1e-7), 0.1 * 0.5 / (0.5 + 1e-7)], rtol=1e-13)


def test_nadam_defaults_and_three_steps():
    opt = optimizers.Nadam()
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    np.testing.assert_allclose(_run(opt), nadam_ref(P0, GRADS), rtol=1e-12, atol=1e-15)
    assert opt.u_product == pytest.approx(math.prod(0.9 * (1 - 0.5 * 0.96 ** t) for t in (1, 2, 3)), rel=1e-15)
    got = _run(optimizers.Nadam(learning_rate=0.02, beta_1=0.8))
    np.testing.assert_allclose(got, nadam_ref(P0, GRADS, lr=0.02, b1=0.8), rtol=1e-12, atol=1e-15)


def test_nadam_keras2_schedule_decay():
    got = _run(optimizers.Nadam(lr=0.002, schedule_decay=0.004))
    np.testing.assert_allclose(got, nadam_ref(P0, GRADS, lr=0.002, schedule_decay=0.004), rtol=1e-12, atol=1e-15)
    assert not np.allclose(got, nadam_ref(P0, GRADS, lr=0.002), rtol=1e-6, atol=0)


def test_nadam_u_product_advances_once_per_step_with_two_variables():
    opt = optimizers.Nadam(learning_rate=0.01)
    a, b = _var(P0), _var(-P0)
    for g in GRADS:
        opt.apply_gradients([(ops.convert_to_tensor(g), a), (ops.convert_to_tensor(3 * g), b)])
    np.testing.assert_allclose(a.numpy(), nadam_ref(P0, GRADS, lr=0.01), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b.numpy(), nadam_ref(-P0, [3 * g for g in GRADS], lr=0.01), rtol=1e-12, atol=1e-15)


def test_adamw_defaults_and_three_steps():
    opt = optimizers.AdamW()
    assert (opt.learning_rate, opt.weight_decay, opt.beta_1, opt.beta_2, opt.epsilon, opt.amsgrad) == \
        (0.001, 0.004, 0.9, 0.999, 1e-7, False)
    np.testing.assert_allclose(_run(opt), adam_ref(P0, GRADS, weight_decay=0.004), rtol=1e-12, atol=1e-15)
    got = _run(optimizers.AdamW(learning_rate=0.1, weight_decay=0.5))
    want = adam_ref(P0, GRADS, lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert not np.allclose(got, adam_ref(P0, GRADS, lr=0.1))  # the decay mattered


def test_adamw_decay_is_decoupled_from_the_moments():
    # A zero gradient leaves Adam's step at zero, so only the decay moves the weights: p (1 - lr wd)^n.
    opt = optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    got = _run(opt, grads=[np.zeros(4)] * 3)
    np.testing.assert_allclose(got, P0 * (1 - 0.05) ** 3, rtol=1e-14)


def test_adamw_amsgrad_and_exclusion():
    got = _run(optimizers.AdamW(learning_rate=0.05, weight_decay=0.1, amsgrad=True, beta_2=0.9))
    np.testing.assert_allclose(got, adam_ref(P0, GRADS, lr=0.05, b2=0.9, weight_decay=0.1, amsgrad=True),
                               rtol=1e-12, atol=1e-15)
    opt = optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    kernel, bias = _var(P0, name="dense/kernel"), _var(P0, name="dense/bias")
    opt.exclude_from_weight_decay(var_names=["bias"])
    for g in GRADS:
        opt.apply_gradients([(ops.convert_to_tensor(g), kernel), (ops.convert_to_tensor(g), bias)])
    np.testing.assert_allclose(kernel.numpy(), adam_ref(P0, GRADS, lr=0.1, weight_decay=0.5), rtol=1e-12)
    np.testing.assert_allclose(bias.numpy(), adam_ref(P0, GRADS, lr=0.1), rtol=1e-12)


@pytest.mark.parametrize("make,ref", [
    (lambda: optimizers.Adagrad(lr=0.1, decay=0.5), lambda: adagrad_ref(P0, GRADS, lr=0.1, decay=0.5)),
    (lambda: optimizers.Adadelta(lr=2.0, decay=0.5), lambda: adadelta_ref(P0, GRADS, lr=2.0, decay=0.5)),
    (lambda: optimizers.Adamax(lr=0.1, decay=0.5), lambda: adamax_ref(P0, GRADS, lr=0.1, decay=0.5)),
    (lambda: optimizers.Nadam(lr=0.1, decay=0.5), lambda: nadam_ref(P0, GRADS, lr=0.1, decay=0.5)),
])
def test_keras2_lr_and_decay_arguments(make, ref):
    opt = make()
    assert opt.lr == opt.learning_rate and opt.decay == 0.5
    np.testing.assert_allclose(_run(opt), ref(), rtol=1e-12, atol=1e-15)


def test_keras2_epsilon_none_means_backend_epsilon():
    for cls in (optimizers.Adagrad, optimizers.Adadelta, optimizers.Adamax, optimizers.Nadam, optimizers.Adam,
                optimizers.RMSprop):
        assert cls(epsilon=None).epsilon == 1e-7


def test_schedule_drives_new_optimizers():
    sched = schedules.PiecewiseConstantDecay([0], [0.1, 0.01])
    got = _run(optimizers.Adagrad(learning_rate=sched))
    p, acc = P0.copy(), np.full(4, 0.1)
    for i, g in enumerate(GRADS):
        acc = acc + g * g
        p = p - sched(i) * g / np.sqrt(acc + 1e-7)
    np.testing.assert_allclose(got, p, rtol=1e-13)


@pytest.mark.parametrize("cls", [optimizers.Adagrad, optimizers.Adadelta, optimizers.Adamax, optimizers.Nadam,
                                 optimizers.AdamW])
def test_float32_variables_stay_float32_and_match_reference(cls):
    refs = {optimizers.Adagrad: adagrad_ref, optimizers.Adadelta: adadelta_ref, optimizers.Adamax: adamax_ref,
            optimizers.Nadam: nadam_ref,
            optimizers.AdamW: lambda p, g, lr: adam_ref(p, g, lr=lr, weight_decay=0.004)}
    got = _run(cls(learning_rate=0.05), dtype="float32")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, refs[cls](P0, GRADS, lr=0.05), rtol=2e-6, atol=2e-6)


def test_invalid_hyperparameters():
    with pytest.raises(ValueError, match="rho"):
        optimizers.Adadelta(rho=1.5)
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        optimizers.Adagrad(initial_accumulator_value=-1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=-0.1)
    with pytest.raises(TypeError, match="rhoo"):
        optimizers.Adadelta(rhoo=0.9)


# --- names, lookup, serialization -----------------------------------------------------------------

ALL = ["SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "Nadam", "AdamW"]


@pytest.mark.parametrize("name", ALL)
def test_get_by_lowercase_and_class_name(name):
    cls = getattr(optimizers, name)
    for spelling in (name, name.lower(), name.upper()):
        assert type(optimizers.get(spelling)) is cls
    assert optimizers.get(name).name == name.lower()  # Keras' default optimizer names
    assert type(optimizers.get(cls)) is cls


def test_unknown_name_lists_every_valid_name():
    with pytest.raises(ValueError) as exc:
        optimizers.get("adamax2")
    msg = str(exc.value)
    assert "'adamax2'" in msg
    for name in ALL:
        assert name.lower() in msg
    with pytest.raises(ValueError, match="adadelta"):
        optimizers.deserialize({"class_name": "Adelta", "config": {}})
    with pytest.raises(TypeError, match="optimizer"):
        optimizers.get(3.0)


CONFIGURED = [
    optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True, decay=0.01),
    optimizers.RMSprop(learning_rate=0.01, rho=0.8, epsilon=1e-6, clipnorm=1.0),
    optimizers.Adagrad(learning_rate=0.05, initial_accumulator_value=0.2, epsilon=1e-6, clipvalue=0.5),
    optimizers.Adadelta(learning_rate=0.5, rho=0.9, epsilon=1e-6, decay=0.1),
    optimizers.Adam(learning_rate=0.01, beta_1=0.8, amsgrad=True, global_clipnorm=2.0),
    optimizers.Adamax(learning_rate=0.02, beta_1=0.85, beta_2=0.99),
    optimizers.Nadam(learning_rate=0.002, beta_2=0.99, schedule_decay=0.004),
    optimizers.AdamW(learning_rate=0.003, weight_decay=0.0, name="my_adamw"),
    optimizers.AdamW(learning_rate=schedules.ExponentialDecay(0.01, 10, 0.5), weight_decay=0.01),
]


@pytest.mark.parametrize("opt", CONFIGURED, ids=lambda o: type(o).__name__)
def test_config_round_trip_gives_same_config_and_updates(opt):
    cfg = opt.get_config()
    clone = type(opt).from_config(cfg)
    assert clone.get_config() == cfg
    ser = optimizers.serialize(opt)
    assert ser["class_name"] == type(opt).__name__
    import json
    again = optimizers.deserialize(json.loads(json.dumps(ser)))
    assert type(again) is type(opt) and again.get_config() == cfg
    assert optimizers.get(ser).get_config() == cfg
    fresh = type(opt).from_config(cfg)
    np.testing.assert_array_equal(_run(fresh), _run(type(opt).from_config(cfg)))


def test_adamw_zero_weight_decay_survives_round_trip():
    opt = optimizers.AdamW(weight_decay=0.0)
    assert optimizers.deserialize(optimizers.serialize(opt)).weight_decay == 0.0


def test_deserialize_custom_optimizer():
    class Halving(optimizers.SGD):
        pass
    ser = optimizers.serialize(Halving(learning_rate=0.5))
    with pytest.raises(ValueError, match="Halving"):
        optimizers.deserialize(ser)
    assert type(optimizers.deserialize(ser, custom_objects={"Halving": Halving})) is Halving


# --- saving and restoring optimizer state -----------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9),
    lambda: optimizers.RMSprop(learning_rate=0.01),
    lambda: optimizers.Adagrad(learning_rate=0.1),
    lambda: optimizers.Adadelta(),
    lambda: optimizers.Adam(learning_rate=0.01, amsgrad=True),
    lambda: optimizers.Adamax(learning_rate=0.01),
    lambda: optimizers.Nadam(learning_rate=0.01),
    lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.1, decay=0.2),
], ids=lambda f: type(f()).__name__)
def test_slot_state_restores_an_interrupted_run(make):
    grads_a = GRADS + [np.array([0.3, -0.2, 0.1, 0.4])]
    grads_b = [np.array([[1.0, -2.0], [0.5, 0.0]]) * (i + 1) for i in range(4)]

    def step(opt, vs, i):
        opt.apply_gradients([(ops.convert_to_tensor(grads_a[i]), vs[0]),
                             (ops.convert_to_tensor(grads_b[i]), vs[1])])

    whole = make()
    ref_vars = [_var(P0), _var(np.ones((2, 2)))]
    for i in range(4):
        step(whole, ref_vars, i)

    first = make()
    vs = [_var(P0), _var(np.ones((2, 2)))]
    for i in range(2):
        step(first, vs, i)
    state = first.get_slot_state(vs)
    assert state["iterations"] == 2
    keys = list(state)
    assert keys[0] == "iterations"
    slot_keys = [k for k in keys if k.startswith("slot/")]
    assert slot_keys == sorted(slot_keys, key=lambda k: (int(k.split("/")[1]), k))  # index order
    assert all(isinstance(state[k], np.ndarray) for k in slot_keys)
    # what a saver would do: host arrays through an .npz round trip, new weights, new optimizer
    import io
    buf = io.BytesIO()
    np.savez(buf, **{k.replace("/", "|"): np.asarray(v) for k, v in state.items()})
    buf.seek(0)
    loaded = {k.replace("|", "/"): v for k, v in np.load(buf).items()}
    weights = [v.numpy() for v in vs]
    resumed = make()
    new_vars = [_var(weights[0]), _var(weights[1])]
    resumed.set_slot_state(new_vars, loaded)
    assert resumed.iterations == 2
    for i in range(2, 4):
        step(resumed, new_vars, i)
    for got, want in zip(new_vars, ref_vars):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_slot_state_is_a_copy_and_keyed_by_index():
    opt = optimizers.Adam(learning_rate=0.1)
    a, b = _var([1.0, 2.0]), _var([3.0])
    opt.apply_gradients([(ops.convert_to_tensor(np.array([1.0, 1.0])), a), (ops.convert_to_tensor(np.array([2.0])), b)])
    state = opt.get_slot_state([a, b])
    assert set(state) == {"iterations", "slot/0/m", "slot/0/v", "slot/1/m", "slot/1/v"}
    np.testing.assert_allclose(state["slot/1/m"], [0.2])
    before = state["slot/0/m"].copy()
    opt.apply_gradients([(ops.convert_to_tensor(np.array([1.0, 1.0])), a)])
    np.testing.assert_array_equal(state["slot/0/m"], before)  # a snapshot, not a live view
    assert "slot/0/m" in opt.get_slot_state([b, a]) and opt.get_slot_state([b, a])["slot/0/m"].shape == (1,)


def test_set_slot_state_errors_name_the_problem():
    opt = optimizers.Adam()
    a = _var([1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        opt.set_slot_state([a], {"iterations": 1, "slot/0/m": np.zeros(3)})
    with pytest.raises(ValueError, match="variable 1"):
        opt.set_slot_state([a], {"iterations": 1, "slot/1/m": np.zeros(2)})
    with pytest.raises(ValueError, match="iterations"):
        opt.set_slot_state([a], {})


def test_adadelta_default_trains_where_keras3_rate_barely_moves():
    """Why the default is 1.0: on a least-squares problem, 1000 Adadelta steps at lr=1.0 cut the loss
    by orders of magnitude, while Keras 3's 0.001 leaves it within 1 % of where it started."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5))
    w_true = rng.normal(size=5)
    y = x @ w_true

    def fit(opt):
        w = _var(np.zeros(5))
        for _ in range(1000):
            grad = 2 * x.T @ (x @ w.numpy() - y) / len(x)
            opt.apply_gradients([(ops.convert_to_tensor(grad), w)])
        return float(np.mean((x @ w.numpy() - y) ** 2))

    start = float(np.mean(y ** 2))
    assert fit(optimizers.Adadelta()) < 1e-3 * start
    assert fit(optimizers.Adadelta(learning_rate=0.001)) > 0.99 * start


def test_keras2_and_keras3_saved_configs_load():
    # standalone Keras 2.2 (an .h5 training_config) and Keras 3 (.keras) optimizer configs
    k2 = optimizers.deserialize({"class_name": "Nadam", "config": {"lr": 0.002, "beta_1": 0.9, "beta_2": 0.999,
                                                                   "epsilon": None, "schedule_decay": 0.004}})
    assert (k2.learning_rate, k2.epsilon, k2.schedule_decay) == (0.002, 1e-7, 0.004)
    k2a = optimizers.deserialize({"class_name": "Adadelta", "config": {"lr": 1.0, "rho": 0.95, "decay": 0.0,
                                                                       "epsilon": 1e-07}})
    assert k2a.learning_rate == 1.0
    k3 = optimizers.deserialize({
        "module": "keras.optimizers", "class_name": "AdamW", "registered_name": None,
        "config": {"name": "adamw", "learning_rate": {
            "module": "keras.optimizers.schedules", "class_name": "ExponentialDecay", "registered_name": None,
            "config": {"initial_learning_rate": 0.01, "decay_steps": 10, "decay_rate": 0.5, "staircase": False,
                       "name": "ExponentialDecay"}},
            "weight_decay": 0.01, "clipnorm": None, "global_clipnorm": None, "clipvalue": None, "use_ema": False,
            "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
            "gradient_accumulation_steps": None, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
            "amsgrad": False}})
    assert isinstance(k3, optimizers.AdamW) and k3.weight_decay == 0.01
    assert isinstance(k3.learning_rate, schedules.ExponentialDecay)
