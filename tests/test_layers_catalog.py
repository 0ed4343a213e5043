"""Tests for the layer catalog of issue 4 (merge layers, Lambda, RepeatVector, Permute,
ActivityRegularization, noise layers, activation layers, TimeDistributed), the Keras 2 module
paths and the scikit-learn wrappers: values against NumPy references, shapes, config round trips,
float64 gradients against central finite differences, and training-versus-inference behaviour."""
from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from lamina import initializers, layers, ops, optimizers
from lamina.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU
from lamina.layers.core import Dense, Dropout
from lamina.layers.core.activity_regularization import ActivityRegularization
from lamina.layers.core.lambda_layer import Lambda
from lamina.layers.core.permute import Permute
from lamina.layers.core.repeat_vector import RepeatVector
from lamina.layers.merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add,
                                   average, concatenate, dot, maximum, minimum, multiply, subtract)
from lamina.layers.regularization import (AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout1D,
                                          SpatialDropout2D, SpatialDropout3D)
from lamina.layers.wrappers import TimeDistributed

RNG = np.random.default_rng(2024)


from _gradcheck import _np, _t, numeric_grad, roundtrip  # noqa: E402


def check_gradients(fn, arrays, rtol=1e-6, atol=1e-8):
    """Compare tape gradients of ``sum(fn(*tensors) * weights)`` with finite differences."""
    out_shape = _np(fn(*[_t(a) for a in arrays])).shape
    weights = RNG.normal(size=out_shape)

    def scalar(*arrs):
        return float(np.sum(_np(fn(*[_t(a) for a in arrs])) * weights))

    tensors = [_t(a) for a in arrays]
    with ops.GradientTape() as tape:
        for t in tensors:
            tape.watch(t)
        loss = ops.sum(ops.multiply(fn(*tensors), weights))
    analytic = tape.gradient(loss, tensors)
    for got, want in zip(analytic, numeric_grad(scalar, arrays)):
        assert got is not None
        np.testing.assert_allclose(_np(got), want, rtol=rtol, atol=atol)




# --- merge layers ---------------------------------------------------------------------------------

MERGES = [
    (Add, add, lambda xs: xs[0] + xs[1] + xs[2], 3),
    (Subtract, subtract, lambda xs: xs[0] - xs[1], 2),
    (Multiply, multiply, lambda xs: xs[0] * xs[1] * xs[2], 3),
    (Average, average, lambda xs: (xs[0] + xs[1] + xs[2]) / 3, 3),
    (Maximum, maximum, lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2]), 3),
    (Minimum, minimum, lambda xs: np.minimum(np.minimum(xs[0], xs[1]), xs[2]), 3),
]


@pytest.mark.parametrize("cls, fn, ref, n", MERGES, ids=[m[0].__name__ for m in MERGES])
def test_merge_layer_and_function_match_numpy(cls, fn, ref, n):
    xs = [RNG.normal(size=(4, 5)) for _ in range(n)]
    want = ref(xs)
    np.testing.assert_allclose(_np(cls()(xs)), want, rtol=1e-12)
    np.testing.assert_allclose(_np(fn(xs)), want, rtol=1e-12)
    assert cls().compute_output_shape([(None, 5)] * n) == (None, 5)
    assert fn([_t(x) for x in xs]).shape == (4, 5)


@pytest.mark.parametrize("cls, fn, ref, n", MERGES, ids=[m[0].__name__ for m in MERGES])
def test_merge_gradients_match_finite_differences(cls, fn, ref, n):
    xs = [RNG.normal(size=(3, 4)) for _ in range(n)]
    check_gradients(lambda *ts: cls()(list(ts)), xs)


def test_merge_broadcasts_like_keras():
    a = RNG.normal(size=(2, 3))
    b = RNG.normal(size=(2, 4, 3))
    c = RNG.normal(size=(2, 4, 1))
    # A lower-rank input gets new axes right after the batch axis.
    np.testing.assert_allclose(_np(Add()([a, b])), a[:, None, :] + b, rtol=1e-12)
    np.testing.assert_allclose(_np(Multiply()([b, c])), b * c, rtol=1e-12)
    layer = Add()
    assert layer.compute_output_shape([(None, 3), (None, 4, 3)]) == (None, 4, 3)
    assert layer.compute_output_shape([(None, 4, 1), (None, 4, 3)]) == (None, 4, 3)
    assert layer.compute_output_shape([(None, None, 3), (None, 4, 3)]) == (None, None, 3)
    assert layer.compute_output_shape([(8, 3), (None, 3)]) == (8, 3)
    check_gradients(lambda x, y, z: Add()([x, y, z]), [a, b, c])


def test_merge_incompatible_shapes_raise_naming_layer_and_shapes():
    layer = Add(name="my_add")
    with pytest.raises(ValueError, match=r"my_add.*Add.*\(None, 3\).*\(None, 4\)"):
        layer.compute_output_shape([(None, 3), (None, 4)])
    with pytest.raises(ValueError, match=r"my_add"):
        layer([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="batch"):
        Maximum().compute_output_shape([(2, 3), (5, 3)])
    with pytest.raises(ValueError, match="exactly 2"):
        Subtract()([np.zeros((2, 3))] * 3)
    with pytest.raises(ValueError, match="list of inputs"):
        Average()(np.zeros((2, 3)))


def test_concatenate_values_shapes_and_errors():
    a, b = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 4))
    np.testing.assert_allclose(_np(Concatenate(axis=1)([a, b])), np.concatenate([a, b], axis=1))
    np.testing.assert_allclose(_np(concatenate([a, a], axis=-1)), np.concatenate([a, a], axis=-1))
    layer = Concatenate(axis=1, name="cat")
    assert layer.compute_output_shape([(None, 3, 4), (None, 5, 4)]) == (None, 8, 4)
    assert layer.compute_output_shape([(None, 3, 4), (None, None, 4)]) == (None, None, 4)
    assert Concatenate().compute_output_shape([(None, 3), (None, 2), (None, 1)]) == (None, 6)
    with pytest.raises(ValueError, match=r"cat.*Concatenate.*\(None, 3, 4\).*\(None, 5, 6\)"):
        layer.compute_output_shape([(None, 3, 4), (None, 5, 6)])
    with pytest.raises(ValueError, match="rank"):
        Concatenate()([np.zeros((2, 3)), np.zeros((2, 3, 1))])
    check_gradients(lambda x, y: Concatenate(axis=1)([x, y]), [a[:, :2, :2], b[:, :3, :2]])
    assert roundtrip(Concatenate(axis=1)).axis == 1


def test_dot_matches_batch_dot_reference():
    a, b = RNG.normal(size=(4, 5)), RNG.normal(size=(4, 5))
    np.testing.assert_allclose(_np(Dot(axes=1)([a, b])), np.sum(a * b, axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(_np(dot([a, b], axes=-1)), np.sum(a * b, axis=1, keepdims=True), rtol=1e-12)
    cos = np.sum(a * b, 1, keepdims=True) / np.linalg.norm(a, axis=1, keepdims=True) / np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(_np(Dot(axes=1, normalize=True)([a, b])), cos, rtol=1e-12)
    x, y = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 4, 5))
    np.testing.assert_allclose(_np(Dot(axes=(2, 1))([x, y])), np.einsum("bmn,bnk->bmk", x, y), rtol=1e-12)
    z = RNG.normal(size=(2, 3, 6))
    np.testing.assert_allclose(_np(Dot(axes=1)([x, z])), np.einsum("bmn,bmk->bnk", x, z), rtol=1e-12)
    assert Dot(axes=1).compute_output_shape([(None, 5), (None, 5)]) == (None, 1)
    assert Dot(axes=(2, 1)).compute_output_shape([(None, 3, 4), (None, 4, 5)]) == (None, 3, 5)
    assert Dot(axes=1).compute_output_shape([(None, 3, 4), (None, 3, 6)]) == (None, 4, 6)


def test_dot_errors_and_gradients():
    with pytest.raises(ValueError, match=r"d1.*Dot.*\(None, 3\).*\(None, 4\)"):
        Dot(axes=1, name="d1").compute_output_shape([(None, 3), (None, 4)])
    with pytest.raises(ValueError, match="batch axis|non-batch"):
        Dot(axes=0)([np.zeros((2, 3)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match="exactly 2"):
        Dot(axes=1)([np.zeros((2, 3))] * 3)
    with pytest.raises(ValueError, match="axes"):
        Dot(axes="last")
    a, b = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
    check_gradients(lambda x, y: Dot(axes=1)([x, y]), [a, b])
    check_gradients(lambda x, y: Dot(axes=1, normalize=True)([x, y]), [a, b])
    x, y = RNG.normal(size=(2, 3, 2)), RNG.normal(size=(2, 2, 3))
    check_gradients(lambda p, q: Dot(axes=(2, 1))([p, q]), [x, y])
    clone = roundtrip(Dot(axes=(2, 1), normalize=True))
    assert clone.axes == (2, 1) and clone.normalize


# --- core additions -------------------------------------------------------------------------------

def squared_plus(x, offset=0.0):
    return ops.add(ops.square(x), offset)


def test_lambda_values_arguments_and_output_shape():
    x = RNG.normal(size=(3, 4))
    layer = Lambda(squared_plus, arguments={"offset": 1.5})
    np.testing.assert_allclose(_np(layer(x)), x ** 2 + 1.5, rtol=1e-12)
    assert layer.compute_output_shape((None, 4)) == (None, 4)  # inferred by running the function
    assert Lambda(lambda t: ops.sum(t, axis=-1, keepdims=True)).compute_output_shape((None, 5, 4)) == (None, 5, 1)
    assert Lambda(squared_plus, output_shape=(4,)).compute_output_shape((None, 4)) == (None, 4)
    assert Lambda(squared_plus, output_shape=lambda s: (s[0], 2 * s[1])).compute_output_shape((None, 4)) == (None, 8)
    diff = Lambda(lambda t: ops.abs(ops.subtract(t[0], t[1])), output_shape=(4,))
    y = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(_np(diff([x, y])), np.abs(x - y), rtol=1e-12)
    assert diff.compute_output_shape([(7, 4), (7, 4)]) == (7, 4)
    check_gradients(lambda t: layer(t), [x])


def test_lambda_passes_training_when_the_function_takes_it():
    seen = []
    layer = Lambda(lambda x, training=None: seen.append(training) or x)
    layer(np.ones((1, 2)), training=True)
    layer(np.ones((1, 2)))
    assert seen == [True, None]


def test_lambda_config_stores_names_never_code():
    layer = Lambda(squared_plus, output_shape=(4,), arguments={"offset": 2.0}, name="sq")
    config = layer.get_config()
    assert config["function"] == {"function_type": "function", "name": "squared_plus", "module": __name__}
    clone = Lambda.from_config(config)
    assert clone.function is squared_plus and clone.get_config() == config
    anonymous = Lambda(lambda x: x * 2, name="anon")
    with pytest.raises(ValueError, match="anon.*lambda.*custom_objects"):
        Lambda.from_config(anonymous.get_config())
    restored = Lambda.from_config(anonymous.get_config(), custom_objects={"anon": lambda x: x * 3})
    np.testing.assert_allclose(_np(restored(np.ones((1, 2)))), 3.0)


def test_repeat_vector():
    x = RNG.normal(size=(2, 3))
    layer = RepeatVector(4)
    out = _np(layer(x))
    assert out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out, np.repeat(x[:, None, :], 4, axis=1))
    assert layer.compute_output_shape((None, 3)) == (None, 4, 3)
    with pytest.raises(ValueError, match="RepeatVector"):
        layer(np.zeros((2, 3, 1)))
    with pytest.raises(ValueError):
        RepeatVector(0)
    check_gradients(lambda t: RepeatVector(3)(t), [x])
    assert roundtrip(layer).n == 4


def test_permute():
    x = RNG.normal(size=(2, 3, 4, 5))
    layer = Permute((3, 1, 2))
    np.testing.assert_array_equal(_np(layer(x)), np.transpose(x, (0, 3, 1, 2)))
    assert layer.compute_output_shape((None, 3, 4, 5)) == (None, 5, 3, 4)
    with pytest.raises(ValueError, match="permutation"):
        Permute((0, 1))
    with pytest.raises(ValueError, match="rank"):
        layer(np.zeros((2, 3)))
    check_gradients(lambda t: Permute((2, 1))(t), [x[:, :, :, 0]])
    assert roundtrip(layer).dims == (3, 1, 2)


def test_activity_regularization_is_identity_plus_penalty():
    x = RNG.normal(size=(4, 3))
    layer = ActivityRegularization(l1=0.1, l2=0.01)
    np.testing.assert_array_equal(_np(layer(x)), x)
    (penalty,) = layer.losses
    want = (0.1 * np.abs(x).sum() + 0.01 * (x ** 2).sum()) / 4  # divided by the batch size, as Keras
    assert float(penalty) == pytest.approx(want, rel=1e-6)
    assert roundtrip(layer).l1 == pytest.approx(0.1)
    with pytest.raises(ValueError):
        ActivityRegularization(l1=-1.0)


# --- noise layers ---------------------------------------------------------------------------------

def test_gaussian_noise_statistics_inference_and_seed():
    x = np.zeros((200, 100))
    layer = GaussianNoise(0.5, seed=7)
    np.testing.assert_array_equal(_np(layer(x)), x)
    np.testing.assert_array_equal(_np(layer(x, training=False)), x)
    noisy = _np(layer(x, training=True))
    assert abs(noisy.mean()) < 0.02 and noisy.std() == pytest.approx(0.5, rel=0.03)
    again = _np(GaussianNoise(0.5, seed=7)(x, training=True))
    np.testing.assert_array_equal(again, noisy)  # same seed, same noise
    assert not np.array_equal(_np(layer(x, training=True)), noisy)  # the counter moves on
    check_gradients(lambda t: GaussianNoise(0.3, seed=1)(t, training=True), [RNG.normal(size=(2, 3))])
    assert roundtrip(GaussianNoise(0.5, seed=7)).seed == 7


def test_gaussian_dropout_statistics_inference_and_seed():
    x = np.ones((200, 100))
    layer = GaussianDropout(0.2, seed=3)
    np.testing.assert_array_equal(_np(layer(x)), x)
    noisy = _np(layer(x, training=True))
    assert noisy.mean() == pytest.approx(1.0, abs=0.01)
    assert noisy.std() == pytest.approx(math.sqrt(0.2 / 0.8), rel=0.03)
    np.testing.assert_array_equal(_np(GaussianDropout(0.2, seed=3)(x, training=True)), noisy)
    xs = RNG.normal(size=(2, 3))
    # The gradient is the noise itself: d(x * n)/dx = n.
    check_gradients(lambda t: GaussianDropout(0.4, seed=5)(t, training=True), [xs])
    with pytest.raises(ValueError):
        GaussianDropout(1.0)


def test_alpha_dropout_formula_and_self_normalisation():
    rate = 0.2
    x = RNG.normal(size=(400, 100))
    layer = AlphaDropout(rate, seed=11)
    np.testing.assert_array_equal(_np(layer(x)), x)
    y = _np(layer(x, training=True))
    alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    dropped_value = a * alpha_p + b
    dropped = np.isclose(y, dropped_value, rtol=0, atol=1e-12)
    assert dropped.mean() == pytest.approx(rate, abs=0.01)
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-12)
    assert abs(y.mean()) < 0.02 and y.var() == pytest.approx(1.0, abs=0.03)  # mean 0, variance 1 kept
    # The keep mask uses Dropout's bits: kept exactly where Dropout(rate, seed) keeps.
    kept_by_dropout = _np(Dropout(rate, seed=11)(np.ones_like(x), training=True)) > 0
    np.testing.assert_array_equal(~dropped, kept_by_dropout)
    shared = _np(AlphaDropout(0.5, noise_shape=(None, 1), seed=2)(np.zeros((50, 6)), training=True))
    assert all(len(set(row)) == 1 for row in shared.tolist())  # one decision per sample
    check_gradients(lambda t: AlphaDropout(0.3, seed=4)(t, training=True), [RNG.normal(size=(3, 4))])
    assert roundtrip(AlphaDropout(0.1, noise_shape=(None, 1), seed=3)).noise_shape == (None, 1)


def test_spatial_dropout_drops_whole_channels():
    rate = 0.5
    x = np.ones((40, 6, 8))
    layer = SpatialDropout1D(rate, seed=5)
    np.testing.assert_array_equal(_np(layer(x)), x)
    y = _np(layer(x, training=True))
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert (y == y[:, :1, :]).all()  # constant along the steps
    assert (y[:, 0, :] == 0).mean() == pytest.approx(rate, abs=0.08)
    # Same bits as Dropout with the channel noise shape.
    same = _np(Dropout(rate, noise_shape=(None, 1, None), seed=5)(x, training=True))
    np.testing.assert_array_equal(y, same)
    img = np.ones((20, 4, 4, 5))
    y2 = _np(SpatialDropout2D(0.3, seed=1)(img, training=True))
    assert (y2 == y2[:, :1, :1, :]).all()
    y3 = _np(SpatialDropout2D(0.3, data_format="channels_first", seed=1)(img, training=True))
    assert (y3 == y3[:, :, :1, :1]).all()
    y4 = _np(SpatialDropout3D(0.3, seed=1)(np.ones((3, 2, 2, 2, 4)), training=True))
    assert (y4 == y4[:, :1, :1, :1, :]).all()
    with pytest.raises(ValueError, match="SpatialDropout2D.*rank 4"):
        SpatialDropout2D(0.3)(np.ones((2, 3, 4)), training=True)
    assert roundtrip(SpatialDropout2D(0.3, data_format="channels_first", seed=2)).data_format == "channels_first"
    assert "noise_shape" not in SpatialDropout1D(0.2).get_config()
    roundtrip(SpatialDropout1D(0.2, seed=1))


# --- activation layers ----------------------------------------------------------------------------

X_ACT = np.array([[-2.5, -1.3, -0.4, 0.3, 0.8, 1.7, 2.6, 7.2]])


def test_leaky_relu_defaults_and_spellings():
    assert LeakyReLU().negative_slope == 0.3  # the Keras 2 and Keras 3 layer default
    assert LeakyReLU(alpha=0.1).negative_slope == 0.1 and LeakyReLU(negative_slope=0.2).alpha == 0.2
    with pytest.raises(ValueError, match="alpha"):
        LeakyReLU(negative_slope=0.1, alpha=0.2)
    with pytest.raises(ValueError):
        LeakyReLU(alpha=-1.0)
    np.testing.assert_allclose(_np(LeakyReLU()(X_ACT)), np.where(X_ACT > 0, X_ACT, 0.3 * X_ACT), rtol=1e-12)
    assert roundtrip(LeakyReLU(alpha=0.05)).negative_slope == 0.05


@pytest.mark.parametrize("layer, ref", [
    (LeakyReLU(alpha=0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (ELU(alpha=0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x))),
    (ThresholdedReLU(theta=1.0), lambda x: np.where(x > 1.0, x, 0.0)),
    (ReLU(), lambda x: np.maximum(x, 0)),
    (ReLU(max_value=2.0), lambda x: np.clip(x, 0, 2.0)),
    (ReLU(negative_slope=0.1, threshold=0.5), lambda x: np.where(x >= 0.5, x, 0.1 * (x - 0.5))),
    (ReLU(max_value=6.0, negative_slope=0.2, threshold=-1.0), lambda x: np.minimum(np.where(x >= -1, x, 0.2 * (x + 1)), 6)),
    (Softmax(), lambda x: np.exp(x - x.max(-1, keepdims=True)) / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)),
], ids=["leaky", "elu", "thresholded", "relu", "relu6", "relu_slope_threshold", "relu_all", "softmax"])
def test_activation_layers_values_gradients_and_config(layer, ref):
    np.testing.assert_allclose(_np(layer(X_ACT)), ref(X_ACT), rtol=1e-12, atol=1e-15)
    assert layer.compute_output_shape((None, 8)) == (None, 8)
    check_gradients(lambda t: layer(t), [X_ACT])  # the inputs avoid the kinks
    clone = roundtrip(layer)
    np.testing.assert_allclose(_np(clone(X_ACT)), ref(X_ACT), rtol=1e-12, atol=1e-15)


def test_activation_layer_argument_checks():
    with pytest.raises(ValueError):
        ThresholdedReLU(theta=-1.0)
    with pytest.raises(ValueError):
        ReLU(max_value=-1.0)
    with pytest.raises(ValueError):
        ReLU(negative_slope=-0.1)


def test_softmax_axis_and_mask():
    x = RNG.normal(size=(2, 3, 4))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(_np(Softmax(axis=1)(x)), e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    joint = np.exp(x) / np.exp(x).sum(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(_np(Softmax(axis=[1, 2])(x)), joint, rtol=1e-12)
    mask = np.array([[True, True, False, True]])
    out = _np(Softmax()(x[:, 0, :], mask=mask))
    assert np.all(out[:, 2] < 1e-100)
    kept = np.exp(x[:, 0, [0, 1, 3]])
    np.testing.assert_allclose(out[:, [0, 1, 3]], kept / kept.sum(-1, keepdims=True), rtol=1e-9)
    check_gradients(lambda t: Softmax(axis=1)(t), [x[:, :, :2]])
    assert roundtrip(Softmax(axis=[1, 2])).axis == [1, 2]


def test_prelu_weights_values_and_gradients():
    layer = PReLU(dtype="float64")
    x = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(_np(layer(x)), np.maximum(x, 0))  # alpha starts at zero: a ReLU
    assert [w.shape for w in layer.weights] == [(4,)] and layer.trainable_weights == layer.weights
    alpha = np.array([0.1, 0.2, 0.3, 0.4])
    layer.set_weights([alpha])
    np.testing.assert_allclose(_np(layer(x)), np.where(x >= 0, x, alpha * x), rtol=1e-12)
    shared = PReLU(shared_axes=[1, 2], alpha_initializer=initializers.Constant(0.25), dtype="float64")
    img = RNG.normal(size=(2, 3, 3, 5))
    np.testing.assert_allclose(_np(shared(img)), np.where(img >= 0, img, 0.25 * img), rtol=1e-12)
    assert shared.weights[0].shape == (1, 1, 5) and shared.count_params() == 5
    # Gradient with respect to the input and to alpha.
    check_gradients(lambda t: layer(t), [x])
    with ops.GradientTape() as tape:
        loss = ops.sum(layer(x))
    (g_alpha,) = tape.gradient(loss, [layer.weights[0]])
    np.testing.assert_allclose(_np(g_alpha), np.minimum(x, 0).sum(axis=0), rtol=1e-12)
    clone = roundtrip(PReLU(shared_axes=[1], alpha_initializer="ones"))
    assert clone.shared_axes == [1]
    with pytest.raises(ValueError, match="PReLU"):
        PReLU(shared_axes=[3])(np.zeros((2, 3)))


# --- TimeDistributed ------------------------------------------------------------------------------

def test_time_distributed_dense_matches_per_step_application():
    x = RNG.normal(size=(2, 5, 4))
    inner = Dense(3, dtype="float64")
    layer = TimeDistributed(inner)
    y = _np(layer(x))
    assert y.shape == (2, 5, 3)
    w, b = inner.get_weights()
    for t in range(5):
        np.testing.assert_allclose(y[:, t], x[:, t] @ w + b, rtol=1e-12)
    assert layer.weights == inner.weights and layer.count_params() == 4 * 3 + 3
    assert len(layer.trainable_weights) == 2
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    assert layer.compute_output_shape((None, 5, 4)) == (None, 5, 3)
    assert layer.compute_output_shape((None, None, 4)) == (None, None, 3)
    with pytest.raises(ValueError, match="TimeDistributed"):
        TimeDistributed(Dense(2))(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        TimeDistributed(Dense)


def test_time_distributed_builds_inner_and_gradients_reach_its_weights():
    layer = TimeDistributed(Dense(2, dtype="float64"))
    layer.build((None, 3, 4))
    assert layer.layer.built and [w.shape for w in layer.weights] == [(4, 2), (2,)]
    x = RNG.normal(size=(2, 3, 4))
    kernel = layer.weights[0]
    with ops.GradientTape() as tape:
        loss = ops.sum(ops.square(layer(x)))
    (g,) = tape.gradient(loss, [kernel])
    w, b = layer.layer.get_weights()
    y = x @ w + b
    np.testing.assert_allclose(_np(g), np.einsum("bti,btj->ij", x, 2 * y), rtol=1e-10)
    check_gradients(lambda t: layer(t), [x])


def test_time_distributed_passes_training_and_round_trips():
    x = np.ones((4, 3, 10))
    layer = TimeDistributed(Dropout(0.5, seed=1))
    np.testing.assert_array_equal(_np(layer(x)), x)
    dropped = _np(layer(x, training=True))
    assert (dropped == 0).any() and set(np.unique(dropped)) <= {0.0, 2.0}
    clone = roundtrip(TimeDistributed(Dense(3, activation="relu")))
    assert isinstance(clone.layer, Dense) and clone.layer.units == 3


def test_time_distributed_inside_sequential_counts_and_trains():
    from lamina.models import Sequential
    from lamina.layers.core import Flatten
    model = Sequential([TimeDistributed(Dense(4), input_shape=(3, 2)), Flatten(), Dense(1)])
    model.compile("sgd", "mse")
    x = RNG.normal(size=(16, 3, 2)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None]
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert model.count_params() == (2 * 4 + 4) + (12 * 1 + 1)
    assert model.evaluate(x, y, verbose=0) < before


# --- symbolic graphs ------------------------------------------------------------------------------

def test_catalog_layers_in_a_functional_graph():
    import lamina
    from lamina.layers import Input
    a, b = Input((3,)), Input((3,))
    tower = Dense(4, dtype="float64")
    merged = concatenate([add([tower(a), tower(b)]), Dot(axes=1)([a, b])])
    assert merged.shape == (None, 5)
    out = Lambda(lambda t: ops.multiply(t, 2.0))(PReLU()(merged))
    assert out.shape == (None, 5)
    seq = RepeatVector(2)(out)
    assert seq.shape == (None, 2, 5)
    assert TimeDistributed(Dense(3))(seq).shape == (None, 2, 3)
    assert Permute((2, 1))(seq).shape == (None, 5, 2)
    model = lamina.Model([a, b], out)
    xa, xb = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    w, bias = tower.get_weights()
    h = np.concatenate([(xa @ w + bias) + (xb @ w + bias), np.sum(xa * xb, 1, keepdims=True)], axis=1)
    np.testing.assert_allclose(model.predict([xa, xb]), 2 * np.maximum(h, 0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"Layer 'bad_add' \(Add\).*\(None, 3\).*\(None, 4\)"):
        Add(name="bad_add")([Input((3,)), Input((4,))])
    with pytest.raises(ValueError, match="Concatenate"):
        concatenate([Input((3, 2)), Input((4, 3))], axis=1)


# --- configs, module paths and exports ------------------------------------------------------------

CATALOG = [
    lambda: Add(), lambda: Subtract(), lambda: Multiply(), lambda: Average(), lambda: Maximum(),
    lambda: Minimum(), lambda: Concatenate(axis=2), lambda: Dot(axes=1, normalize=True),
    lambda: RepeatVector(2), lambda: Permute((2, 1)), lambda: ActivityRegularization(0.1, 0.2),
    lambda: Lambda(squared_plus, output_shape=(3,)), lambda: GaussianNoise(0.1, seed=1),
    lambda: GaussianDropout(0.2), lambda: AlphaDropout(0.1, seed=2), lambda: SpatialDropout1D(0.1),
    lambda: SpatialDropout2D(0.1, data_format="channels_last"), lambda: SpatialDropout3D(0.1),
    lambda: LeakyReLU(0.2), lambda: PReLU(shared_axes=[1]), lambda: ELU(0.5), lambda: ThresholdedReLU(0.5),
    lambda: ReLU(6.0, 0.1, 0.5), lambda: Softmax(axis=1), lambda: TimeDistributed(Dense(2)),
]


@pytest.mark.parametrize("make", CATALOG)
def test_every_catalog_layer_config_round_trips(make):
    layer = make()
    config = layer.get_config()
    assert config["name"] == layer.name and "dtype" in config
    clone = roundtrip(layer)
    assert type(clone) is type(layer)


def test_keras2_module_paths():
    merge = importlib.import_module("lamina.layers.merge")
    for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
                 "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"):
        assert hasattr(merge, name), name
    advanced = importlib.import_module("lamina.layers.advanced_activations")
    assert {"LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "ReLU", "Softmax"} <= set(dir(advanced))
    noise = importlib.import_module("lamina.layers.noise")
    assert {"GaussianNoise", "GaussianDropout", "AlphaDropout"} <= set(dir(noise))
    wrappers = importlib.import_module("lamina.layers.wrappers")
    assert wrappers.TimeDistributed is TimeDistributed
    sk = importlib.import_module("lamina.wrappers.scikit_learn")
    assert sk.KerasClassifier and sk.KerasRegressor


CATALOG_NAMES = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
                 "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
                 "Lambda", "RepeatVector", "Permute", "ActivityRegularization", "GaussianNoise",
                 "GaussianDropout", "AlphaDropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                 "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "ReLU", "Softmax", "TimeDistributed", "Wrapper"]


def test_catalog_is_exported_from_lamina_layers():
    missing = [n for n in CATALOG_NAMES if not hasattr(layers, n)]
    assert not missing, f"lamina.layers lacks {missing}"
    for name in CATALOG_NAMES:
        if name[0].isupper() and name != "Wrapper":
            assert layers.get(name) is getattr(layers, name)
    core = importlib.import_module("lamina.layers.core")
    assert {"Lambda", "RepeatVector", "Permute", "ActivityRegularization"} <= set(dir(core))


# --- scikit-learn wrappers ------------------------------------------------------------------------

def _blobs(n_per_class=30, labels=("cat", "dog", "eel")):
    centres = np.array([[3.0, 0.0], [-3.0, 3.0], [0.0, -3.0]])
    x = np.concatenate([c + RNG.normal(scale=0.5, size=(n_per_class, 2)) for c in centres]).astype("float32")
    y = np.repeat(np.array(labels), n_per_class)
    return x, y


def build_classifier(hidden=8, loss="sparse_categorical_crossentropy", outputs=3, activation="softmax"):
    from lamina.models import Sequential
    model = Sequential([Dense(hidden, activation="relu", input_shape=(2,)), Dense(outputs, activation=activation)])
    model.compile("adam", loss, metrics=["accuracy"])
    return model


def test_keras_classifier_fit_predict_score_with_string_labels():
    from lamina.wrappers.scikit_learn import KerasClassifier
    ops.set_random_seed(5)
    x, y = _blobs()
    clf = KerasClassifier(build_fn=build_classifier, hidden=16, epochs=40, batch_size=16, verbose=0)
    clf.fit(x, y)
    assert list(clf.classes_) == ["cat", "dog", "eel"] and clf.n_classes_ == 3
    pred = clf.predict(x)
    assert pred.shape == (90,) and set(pred.tolist()) <= {"cat", "dog", "eel"}
    assert (pred == y).mean() >= 0.9
    proba = clf.predict_proba(x)
    assert proba.shape == (90, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], pred)
    assert clf.score(x, y) == pytest.approx((pred == y).mean(), abs=1e-6)


def test_keras_classifier_categorical_loss_gets_one_hot_and_binary_proba_has_two_columns():
    from lamina.wrappers.scikit_learn import KerasClassifier
    ops.set_random_seed(6)
    x, y = _blobs()
    clf = KerasClassifier(build_classifier, loss="categorical_crossentropy", epochs=30, batch_size=16, verbose=0)
    clf.fit(x, y)
    assert clf.model.loss == "categorical_crossentropy"
    assert clf.score(x, y) >= 0.85
    binary = y != "cat"
    clf2 = KerasClassifier(build_classifier, loss="binary_crossentropy", outputs=1, activation="sigmoid",
                           epochs=30, batch_size=16, verbose=0)
    clf2.fit(x, binary)
    proba = clf2.predict_proba(x)
    assert proba.shape == (90, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert clf2.predict(x).dtype == bool and (clf2.predict(x) == binary).mean() >= 0.9


def test_keras_wrapper_params_follow_the_estimator_protocol():
    from lamina.wrappers.scikit_learn import KerasClassifier, KerasRegressor
    clf = KerasClassifier(build_fn=build_classifier, hidden=4, epochs=2, batch_size=8)
    params = clf.get_params(deep=False)
    assert params == {"build_fn": build_classifier, "hidden": 4, "epochs": 2, "batch_size": 8}
    clone = type(clf)(**params)  # what sklearn.base.clone does
    assert all(clone.get_params()[k] is v for k, v in params.items())
    assert clf.set_params(hidden=6, verbose=0) is clf and clf.sk_params["hidden"] == 6
    with pytest.raises(ValueError, match="not_a_param"):
        KerasClassifier(build_fn=build_classifier, not_a_param=1)
    with pytest.raises(ValueError, match="not_a_param"):
        clf.set_params(not_a_param=2)
    assert clf._estimator_type == "classifier" and KerasRegressor._estimator_type == "regressor"
    assert clf.filter_sk_params(build_classifier) == {"hidden": 6}
    with pytest.raises(ValueError, match="fit"):
        KerasClassifier(build_classifier).predict(np.zeros((1, 2)))


def test_keras_regressor_with_subclass_call():
    from lamina.models import Sequential
    from lamina.wrappers.scikit_learn import KerasRegressor

    class Linear(KerasRegressor):
        def __call__(self, units=1):
            model = Sequential([Dense(units, input_shape=(3,))])
            model.compile(optimizers.SGD(learning_rate=0.1), "mse")
            return model

    ops.set_random_seed(7)
    x = RNG.normal(size=(64, 3)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5], dtype="float32") + 0.3
    reg = Linear(epochs=30, batch_size=16, verbose=0)
    reg.fit(x, y)
    pred = reg.predict(x)
    assert pred.shape == (64,)
    mse = float(np.mean((pred - y) ** 2))
    assert mse < 0.05
    assert reg.score(x, y) == pytest.approx(-mse, rel=1e-3, abs=1e-6)
