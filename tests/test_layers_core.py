"""Tests for the core layers (Dense, Activation, Dropout, Flatten, Reshape), activations,
initializers, regularizers and constraints, against NumPy/float64 references."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lamina import activations, constraints, initializers, layers, ops, optimizers, regularizers
from lamina import backend as K
from lamina.layers import Activation, Dense, Dropout, Flatten, Reshape

RNG = np.random.default_rng(99)


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _sgd_step(var, grad, lr=1.0):
    optimizers.SGD(learning_rate=lr).apply_gradients([(ops.convert_to_tensor(np.asarray(grad, dtype=var.dtype)), var)])


# --- Dense --------------------------------------------------------------------------------------

def test_dense_output_matches_numpy_with_known_weights():
    layer = Dense(3, activation="relu", dtype="float64")
    x = RNG.normal(size=(5, 4))
    layer(x)  # build
    assert [w.shape for w in layer.weights] == [(4, 3), (3,)]
    w = RNG.normal(size=(4, 3))
    b = np.array([0.5, -0.25, 0.0])
    layer.set_weights([w, b])
    np.testing.assert_allclose(_np(layer(x)), np.maximum(x @ w + b, 0), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(layer.get_weights()[0], w)
    assert layer.count_params() == 4 * 3 + 3


def test_dense_floatx_default_and_linear_activation():
    layer = Dense(2)
    assert layer.dtype == K.floatx()
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    y = layer(x)
    assert y.shape == (3, 2)
    w, b = layer.get_weights()
    np.testing.assert_allclose(_np(y), x.astype(np.float64) @ w + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(b, np.zeros(2))  # bias_initializer defaults to zeros


def test_dense_on_rank3_input_acts_on_last_axis():
    layer = Dense(2, dtype="float64", use_bias=False)
    x = RNG.normal(size=(2, 3, 4))
    y = _np(layer(x))
    assert y.shape == (2, 3, 2)
    np.testing.assert_allclose(y, x @ layer.get_weights()[0], rtol=1e-12)
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 2)


def test_dense_use_bias_false():
    layer = Dense(4, use_bias=False)
    layer(np.zeros((1, 3), dtype=np.float32))
    assert len(layer.weights) == 1 and layer.bias is None
    assert layer.count_params() == 12


def test_dense_input_shape_forms():
    assert Dense(3, input_dim=7).batch_input_shape == (None, 7)
    assert Dense(3, input_shape=7).batch_input_shape == (None, 7)
    assert Dense(3, input_shape=(7,)).batch_input_shape == (None, 7)
    assert Dense(3, batch_input_shape=(16, 7)).batch_input_shape == (16, 7)


def test_dense_keras1_argument_names():
    layer = Dense(output_dim=3, init="ones", W_regularizer=regularizers.l2(0.1), b_regularizer=regularizers.l1(0.2),
                  W_constraint="non_neg", b_constraint="max_norm", input_dim=2, dtype="float64")
    assert layer.units == 3
    assert isinstance(layer.kernel_initializer, initializers.Ones)
    assert isinstance(layer.kernel_regularizer, regularizers.L2) and layer.kernel_regularizer.l2 == pytest.approx(0.1)
    assert isinstance(layer.bias_regularizer, regularizers.L1) and layer.bias_regularizer.l1 == pytest.approx(0.2)
    assert isinstance(layer.kernel_constraint, constraints.NonNeg)
    assert isinstance(layer.bias_constraint, constraints.MaxNorm)
    layer(np.zeros((1, 2)))
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones((2, 3)))
    assert len(Dense(output_dim=2, bias=False).weights) == 0  # not built yet
    nb = Dense(output_dim=2, bias=False)
    nb(np.zeros((1, 3), dtype=np.float32))
    assert len(nb.weights) == 1


def test_dense_initializers_by_name_and_object():
    layer = Dense(3, kernel_initializer="zeros", bias_initializer=initializers.Constant(0.5), dtype="float64")
    y = _np(layer(np.ones((2, 4))))
    np.testing.assert_array_equal(y, np.full((2, 3), 0.5))


def test_dense_default_kernel_is_glorot_uniform():
    layer = Dense(200, dtype="float64")
    layer(np.zeros((1, 300)))
    w = layer.get_weights()[0]
    limit = math.sqrt(6.0 / 500)
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.95 * limit
    assert w.var() == pytest.approx(limit ** 2 / 3, rel=0.05)


def test_dense_regularizer_losses_values():
    layer = Dense(3, kernel_regularizer=regularizers.L2(0.01), bias_regularizer=regularizers.L1(0.1),
                  dtype="float64")
    layer(np.zeros((1, 2)))
    w = RNG.normal(size=(2, 3))
    b = np.array([1.0, -2.0, 0.5])
    layer.set_weights([w, b])
    vals = [float(v) for v in layer.losses]
    assert vals == pytest.approx([0.01 * (w ** 2).sum(), 0.1 * np.abs(b).sum()], rel=1e-12)
    l1l2 = Dense(3, kernel_regularizer=regularizers.L1L2(l1=0.5, l2=0.25), dtype="float64")
    l1l2(np.zeros((1, 2)))
    l1l2.set_weights([w, b])
    assert float(l1l2.losses[0]) == pytest.approx(0.5 * np.abs(w).sum() + 0.25 * (w ** 2).sum(), rel=1e-12)


def test_dense_regularizer_loss_is_differentiable():
    layer = Dense(2, kernel_regularizer="l2", use_bias=False, dtype="float64")
    layer(np.zeros((1, 2)))
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    layer.set_weights([w])
    with ops.GradientTape() as tape:
        loss = layer.losses[0]
    g = _np(tape.gradient(loss, [layer.kernel])[0])
    np.testing.assert_allclose(g, 2 * 0.01 * w, rtol=1e-12)


def test_dense_activity_regularizer_divides_by_batch():
    layer = Dense(2, activity_regularizer=regularizers.L1(0.1), use_bias=False, dtype="float64")
    x = RNG.normal(size=(4, 3))
    y = _np(layer(x))
    assert len(layer.losses) == 1
    assert float(layer.losses[0]) == pytest.approx(0.1 * np.abs(y).sum() / 4, rel=1e-12)


def test_dense_constraints_applied_by_optimizer():
    layer = Dense(2, kernel_constraint="non_neg", bias_constraint=constraints.MaxNorm(1.0), dtype="float64")
    layer(np.zeros((1, 2)))
    layer.set_weights([np.array([[0.5, 0.1], [0.2, 0.3]]), np.array([0.0, 0.0])])
    _sgd_step(layer.kernel, [[1.0, -1.0], [0.1, 0.5]])
    np.testing.assert_allclose(layer.get_weights()[0], [[0.0, 1.1], [0.1, 0.0]], atol=1e-14)
    _sgd_step(layer.bias, [-3.0, -4.0])  # raw bias [3, 4]: norm 5 -> scaled to norm 1
    np.testing.assert_allclose(layer.get_weights()[1], [0.6, 0.8], rtol=1e-6)


def test_dense_config_round_trip():
    layer = Dense(4, activation="tanh", use_bias=True, kernel_initializer=initializers.HeNormal(seed=3),
                  bias_initializer=initializers.Constant(0.1), kernel_regularizer=regularizers.L1L2(0.01, 0.02),
                  bias_regularizer="l2", kernel_constraint="non_neg", bias_constraint=constraints.MaxNorm(2.0, axis=0),
                  input_shape=(3,), dtype="float64", name="dense_rt")
    cfg = layer.get_config()
    assert cfg["units"] == 4 and cfg["activation"] == "tanh" and cfg["name"] == "dense_rt"
    assert cfg["batch_input_shape"] == [None, 3]
    clone = Dense.from_config(cfg)
    assert clone.get_config() == cfg
    x = RNG.normal(size=(2, 3))
    y1 = _np(layer(x))
    y2 = _np(clone(x))
    np.testing.assert_allclose(y2, y1, rtol=1e-12)  # same seeded initializer -> same weights
    clone.set_weights(layer.get_weights())
    assert [float(v) for v in clone.losses] == pytest.approx([float(v) for v in layer.losses])
    assert isinstance(clone.kernel_constraint, constraints.NonNeg)
    assert clone.bias_constraint.max_value == 2.0
    # also through the layer registry, as a model loader would
    again = layers.get(layers.serialize(layer)["class_name"]).from_config(layers.serialize(layer)["config"])
    assert again.get_config() == cfg


@pytest.mark.parametrize("units", [0, -2, 2.5, None, True, "3"])
def test_dense_invalid_units(units):
    with pytest.raises(ValueError, match="units"):
        Dense(units)


def test_dense_wrong_input_width_after_build():
    layer = Dense(2)
    layer(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="last axis is 3"):
        layer(np.zeros((1, 4), dtype=np.float32))


@pytest.mark.parametrize("make", [lambda: Dense(3, kernal_initializer="zeros"), lambda: Activation("relu", foo=1),
                                  lambda: Dropout(0.5, rat=0.1), lambda: Flatten(data_fromat="channels_last"),
                                  lambda: Reshape((2, 2), target=(4,))])
def test_unknown_kwargs_raise_type_error(make):
    with pytest.raises(TypeError, match="unexpected keyword"):
        make()


# --- Activation -----------------------------------------------------------------------------------

_SELU_A = 1.6732632423543772848170429916717
_SELU_S = 1.0507009873554804934193349852946
_erf = np.vectorize(math.erf)


def _np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


ACTIVATION_REFS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
    "softmax": _np_softmax,
    "log_softmax": lambda x: np.log(_np_softmax(x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "selu": lambda x: _SELU_S * np.where(x > 0, x, _SELU_A * (np.exp(x) - 1)),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "exponential": np.exp,
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
}
X_ACT = np.linspace(-4.0, 4.0, 24).reshape(4, 6)


def test_every_activation_in_the_table_has_a_reference():
    assert set(activations._TABLE) == set(ACTIVATION_REFS)


@pytest.mark.parametrize("name", sorted(ACTIVATION_REFS))
def test_activation_layer_values(name):
    got = _np(Activation(name)(X_ACT))
    np.testing.assert_allclose(got, ACTIVATION_REFS[name](X_ACT), rtol=1e-12, atol=1e-15)
    got32 = _np(Activation(name)(X_ACT.astype(np.float32)))
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, ACTIVATION_REFS[name](X_ACT), rtol=2e-6, atol=2e-6)


def test_activation_extreme_inputs_stay_finite():
    x = np.array([[-1000.0, 0.0, 1000.0]])
    for name in ("sigmoid", "softplus", "softmax", "tanh", "elu", "selu", "softsign", "hard_sigmoid", "gelu"):
        assert np.all(np.isfinite(_np(Activation(name)(x)))), name
    np.testing.assert_allclose(_np(Activation("softplus")(x)), [[0.0, math.log(2), 1000.0]], atol=1e-12)
    np.testing.assert_allclose(_np(Activation("sigmoid")(x)), [[0.0, 0.5, 1.0]], atol=1e-12)


def test_activation_relu_options_and_callables():
    x = np.array([-2.0, -0.5, 0.5, 3.0, 8.0])
    np.testing.assert_allclose(_np(activations.relu(x, negative_slope=0.1, max_value=6.0, threshold=1.0)),
                               [-0.3, -0.15, -0.05, 3.0, 6.0], atol=1e-12)
    np.testing.assert_allclose(_np(activations.elu(x, alpha=2.0)), np.where(x > 0, x, 2 * (np.exp(x) - 1)), rtol=1e-12)
    np.testing.assert_allclose(_np(activations.leaky_relu(x, negative_slope=0.01)), np.where(x > 0, x, 0.01 * x))
    np.testing.assert_allclose(_np(Activation(lambda t: ops.multiply(t, 2.0))(x)), 2 * x)
    assert activations.get(None) is activations.linear
    np.testing.assert_allclose(_np(activations.gelu(x, approximate=True)),
                               0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), rtol=1e-12)


def test_activation_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError) as exc:
        Activation("rleu")
    assert "rleu" in str(exc.value) and "relu" in str(exc.value) and "softmax" in str(exc.value)


def test_activation_config_round_trip():
    layer = Activation("selu", name="act_rt")
    clone = Activation.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config() and clone.get_config()["activation"] == "selu"
    np.testing.assert_allclose(_np(clone(X_ACT)), ACTIVATION_REFS["selu"](X_ACT), rtol=1e-12)


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "softplus", "elu", "selu", "gelu", "silu",
                                  "softsign", "leaky_relu", "hard_sigmoid"])
def test_activation_gradients_match_finite_differences(name):
    x = np.array([-2.3, -0.7, 0.4, 1.9, 2.9])
    t = ops.Variable(ops.convert_to_tensor(x).value)
    with ops.GradientTape() as tape:
        y = ops.sum(activations.get(name)(t))
    g = _np(tape.gradient(y, t))
    f = ACTIVATION_REFS[name]
    h = 1e-6
    np.testing.assert_allclose(g, (f(x + h) - f(x - h)) / (2 * h), rtol=1e-6, atol=1e-8)


# --- Dropout ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "a", None, True])
def test_dropout_rate_validation(rate):
    with pytest.raises(ValueError, match="rate"):
        Dropout(rate)


def test_dropout_keras1_p_alias_and_zero_rate():
    assert Dropout(p=0.3).rate == pytest.approx(0.3)
    x = np.ones((3, 4))
    np.testing.assert_array_equal(_np(Dropout(0.0)(x, training=True)), x)


def test_dropout_identity_at_inference():
    x = RNG.normal(size=(10, 7))
    layer = Dropout(0.5, seed=1)
    np.testing.assert_array_equal(_np(layer(x)), x)
    np.testing.assert_array_equal(_np(layer(x, training=False)), x)


def test_dropout_training_zeros_and_scales():
    rate = 0.3
    x = RNG.uniform(1.0, 2.0, size=(200, 500))  # 100k non-zero elements
    y = _np(Dropout(rate, seed=42)(x, training=True))
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=1e-12)
    assert abs(kept.mean() - (1 - rate)) < 0.01
    assert 0 < (~kept).sum()


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_dropout_keep_fraction(rate):
    y = _np(Dropout(rate, seed=7)(np.ones((100, 1000), dtype=np.float32), training=True))
    assert abs((y != 0).mean() - (1 - rate)) < 0.01
    assert np.allclose(y[y != 0], 1 / (1 - rate), rtol=1e-6)


def test_dropout_seed_reproducibility():
    x = np.ones((20, 30))
    a = _np(Dropout(0.5, seed=123)(x, training=True))
    b = _np(Dropout(0.5, seed=123)(x, training=True))
    np.testing.assert_array_equal(a, b)
    c = _np(Dropout(0.5, seed=124)(x, training=True))
    assert not np.array_equal(a, c)
    layer = Dropout(0.5, seed=123)
    first, second = _np(layer(x, training=True)), _np(layer(x, training=True))
    np.testing.assert_array_equal(first, a)
    assert not np.array_equal(first, second)  # each call draws a new mask


def test_dropout_noise_shape_broadcasts():
    x = RNG.uniform(1.0, 2.0, size=(50, 20))
    y = _np(Dropout(0.5, noise_shape=(None, 1), seed=5)(x, training=True))
    rows_zero = (y == 0).all(axis=1)
    rows_kept = (y != 0).all(axis=1)
    assert np.all(rows_zero | rows_kept)  # whole rows share one mask entry
    assert rows_zero.any() and rows_kept.any()
    np.testing.assert_allclose(y[rows_kept], 2 * x[rows_kept], rtol=1e-12)
    z = _np(Dropout(0.5, noise_shape=(1, 20), seed=5)(x, training=True))
    cols_zero = (z == 0).all(axis=0)
    assert np.all(cols_zero | (z != 0).all(axis=0))
    assert cols_zero.any() and not cols_zero.all()


def test_dropout_gradient_is_the_mask():
    x = ops.Variable(ops.convert_to_tensor(np.ones((10, 10))).value)
    layer = Dropout(0.4, seed=3)
    with ops.GradientTape() as tape:
        y = layer(x, training=True)
        s = ops.sum(y)
    g = _np(tape.gradient(s, x))
    np.testing.assert_allclose(g, _np(y), rtol=1e-12)  # input of ones: output equals the mask


# --- Flatten / Reshape -------------------------------------------------------------------------------

def test_flatten_channels_last():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    y = _np(Flatten(data_format="channels_last")(x))
    np.testing.assert_array_equal(y, x.reshape(2, -1))
    assert Flatten().compute_output_shape((None, 3, 4, 5)) == (None, 60)


def test_flatten_channels_first_moves_channels_last():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)  # (batch, C, H, W)
    y = _np(Flatten(data_format="channels_first")(x))
    np.testing.assert_array_equal(y, np.transpose(x, (0, 2, 3, 1)).reshape(2, -1))
    assert not np.array_equal(y, x.reshape(2, -1))
    x2 = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(_np(Flatten(data_format="channels_first")(x2)), x2)


def test_flatten_bad_format_and_gradient():
    with pytest.raises(ValueError, match="data_format"):
        Flatten(data_format="channels_middle")
    x = ops.Variable(ops.convert_to_tensor(RNG.normal(size=(2, 3, 2))).value)
    with ops.GradientTape() as tape:
        y = ops.sum(ops.multiply(Flatten(data_format="channels_first")(x), np.arange(6.0)))
    g = _np(tape.gradient(y, x))
    want = np.transpose(np.arange(6.0).reshape(1, 2, 3), (0, 2, 1)).repeat(2, axis=0)
    np.testing.assert_array_equal(g, want)


def test_reshape_with_minus_one():
    x = np.arange(24.0).reshape(2, 12)
    layer = Reshape((3, -1))
    y = _np(layer(x))
    np.testing.assert_array_equal(y, x.reshape(2, 3, 4))
    assert layer.compute_output_shape((None, 12)) == (None, 3, 4)
    assert Reshape((3, 4)).compute_output_shape((None, 12)) == (None, 3, 4)
    np.testing.assert_array_equal(_np(Reshape(12)(x.reshape(2, 3, 4))), x)


def test_reshape_size_mismatch_and_bad_target():
    with pytest.raises(ValueError, match="sizes differ"):
        Reshape((5,))(np.zeros((2, 12)))
    with pytest.raises(ValueError):
        Reshape((5, -1))(np.zeros((2, 12)))
    with pytest.raises(ValueError, match="-1"):
        Reshape((-1, -1))


def test_reshape_config_round_trip():
    layer = Reshape((4, -1), name="rs")
    cfg = layer.get_config()
    assert cfg["target_shape"] == [4, -1]
    assert Reshape.from_config(cfg).target_shape == (4, -1)


# --- initializers ---------------------------------------------------------------------------------

def test_glorot_uniform_limit_and_variance():
    w = initializers.GlorotUniform(seed=1)((400, 600), "float64")
    limit = math.sqrt(6.0 / (400 + 600))
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit
    assert w.var() == pytest.approx(limit ** 2 / 3, rel=0.02)
    assert abs(w.mean()) < 0.01 * limit


def test_glorot_uniform_conv_kernel_fans():
    w = initializers.get("glorot_uniform")((3, 3, 16, 32), "float64")
    limit = math.sqrt(6.0 / (9 * 16 + 9 * 32))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.98 * limit


def test_seeded_initializer_is_reproducible():
    a = initializers.GlorotUniform(seed=5)((20, 30))
    b = initializers.GlorotUniform(seed=5)((20, 30))
    c = initializers.GlorotUniform(seed=6)((20, 30))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.dtype(K.floatx())
    init = initializers.RandomNormal(seed=9)
    np.testing.assert_array_equal(init((5,)), init((5,)))  # Keras 3: same values on every call


@pytest.mark.parametrize("cls,scale,fan", [(initializers.HeNormal, 2.0, "in"), (initializers.LecunNormal, 1.0, "in"),
                                           (initializers.GlorotNormal, 1.0, "avg")])
def test_truncated_normal_presets_std(cls, scale, fan):
    fan_in, fan_out = 500, 300
    w = cls(seed=2)((fan_in, fan_out), "float64")
    n = fan_in if fan == "in" else (fan_in + fan_out) / 2
    std = math.sqrt(scale / n)
    assert w.std() == pytest.approx(std, rel=0.02)
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 + 1e-12


@pytest.mark.parametrize("cls,scale", [(initializers.HeUniform, 2.0), (initializers.LecunUniform, 1.0)])
def test_uniform_presets_limit(cls, scale):
    w = cls(seed=4)((250, 100), "float64")
    limit = math.sqrt(3 * scale / 250)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.98 * limit


def test_random_normal_uniform_truncated():
    w = initializers.RandomNormal(mean=1.0, stddev=0.5, seed=3)((200, 200), "float64")
    assert w.mean() == pytest.approx(1.0, abs=0.01) and w.std() == pytest.approx(0.5, rel=0.02)
    u = initializers.RandomUniform(minval=-2.0, maxval=3.0, seed=3)((200, 200), "float64")
    assert u.min() >= -2.0 and u.max() < 3.0 and u.mean() == pytest.approx(0.5, abs=0.03)
    t = initializers.TruncatedNormal(mean=0.0, stddev=1.0, seed=3)((200, 200), "float64")
    assert np.abs(t).max() <= 2.0 and t.std() == pytest.approx(0.87962566103423978, rel=0.02)


def test_deterministic_initializers():
    np.testing.assert_array_equal(initializers.Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(initializers.get("ones")((2,)), np.ones(2))
    np.testing.assert_array_equal(initializers.Constant(3.5)((2, 2)), np.full((2, 2), 3.5))
    np.testing.assert_array_equal(initializers.Identity(gain=2.0)((3, 3)), 2 * np.eye(3))
    q = initializers.Orthogonal(seed=1)((6, 4), "float64")
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)
    q2 = initializers.Orthogonal(gain=3.0, seed=1)((4, 6), "float64")
    np.testing.assert_allclose(q2 @ q2.T, 9 * np.eye(4), atol=1e-10)


def test_initializer_lookup_and_errors():
    assert isinstance(initializers.get("he_normal"), initializers.HeNormal)
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("normal"), initializers.RandomNormal)
    with pytest.raises(ValueError, match="glorot_uniform"):
        initializers.get("glorot_unifrom")
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0)
    ser = initializers.serialize(initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=7))
    again = initializers.get(ser)
    assert isinstance(again, initializers.VarianceScaling) and again.get_config() == ser["config"]
    fresh = initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=7)
    np.testing.assert_array_equal(again((4, 5)), fresh((4, 5)))


# --- regularizers and constraints on their own ------------------------------------------------------

def test_regularizer_values_and_lookup():
    x = np.array([[1.0, -2.0], [3.0, -0.5]])
    assert float(regularizers.L1(0.3)(x)) == pytest.approx(0.3 * 6.5)
    assert float(regularizers.L2(0.1)(x)) == pytest.approx(0.1 * 14.25)
    assert float(regularizers.l1_l2(0.1, 0.2)(x)) == pytest.approx(0.1 * 6.5 + 0.2 * 14.25)
    assert float(regularizers.L1L2()(x)) == 0.0
    assert regularizers.get("l2").l2 == pytest.approx(0.01)
    assert regularizers.get("l1").l1 == pytest.approx(0.01)
    with pytest.raises(ValueError, match="l2"):
        regularizers.get("l3")


def test_constraint_values():
    w = np.array([[3.0, 0.3], [4.0, 0.4]])
    np.testing.assert_allclose(_np(constraints.MaxNorm(2.0)(w)), [[1.2, 0.3], [1.6, 0.4]], rtol=1e-6)
    np.testing.assert_allclose(_np(constraints.UnitNorm()(w)), [[0.6, 0.6], [0.8, 0.8]], rtol=1e-6)
    np.testing.assert_allclose(_np(constraints.NonNeg()(np.array([-1.0, 2.0]))), [0.0, 2.0])
    mm = _np(constraints.MinMaxNorm(min_value=1.0, max_value=2.0)(w))
    np.testing.assert_allclose(np.sqrt((mm ** 2).sum(0)), [2.0, 1.0], rtol=1e-6)
    with pytest.raises(ValueError, match="non_neg"):
        constraints.get("non_negative")
