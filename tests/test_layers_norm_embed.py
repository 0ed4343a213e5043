"""Tests for Embedding, BatchNormalization and LayerNormalization: values against NumPy float64
references, moving statistics, float64 gradients against central finite differences, config round
trips, the Keras 2 module paths, training inside models and the error messages."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from lamina import initializers, ops, optimizers, regularizers, utils
from lamina.layers import Input
from lamina.layers.core import Activation, Dense, Flatten
from lamina.layers.embedding import Embedding
from lamina.layers.normalization import BatchNormalization, LayerNormalization
from lamina.models import Model, Sequential
from lamina.saving import load_model

RNG = np.random.default_rng(515)


from _gradcheck import _np, _t, numeric_grad, roundtrip  # noqa: E402


def check_layer_gradients(layer, x, training=None, wrt_input=True, rtol=1e-6, atol=1e-8):
    """Tape gradients of ``sum(layer(x) * w)`` w.r.t. the input (optionally) and the trainable weights
    versus central differences, all in float64."""
    weights = RNG.normal(size=_np(layer(x, training=training)).shape)  # builds the layer
    variables = layer.trainable_weights
    start = [v.numpy() for v in variables]

    def scalar(x_arr, *values):
        for var, value in zip(variables, values):
            var.assign(value)
        inputs = _t(x_arr) if wrt_input else x_arr
        return float(np.sum(_np(layer(inputs, training=training)) * weights))

    inputs = _t(x) if wrt_input else x
    for var, value in zip(variables, start):
        var.assign(value)
    with ops.GradientTape() as tape:
        if wrt_input:
            tape.watch(inputs)
        loss = ops.sum(ops.multiply(layer(inputs, training=training), weights))
    sources = ([inputs] if wrt_input else []) + variables
    analytic = tape.gradient(loss, sources)
    arrays = ([np.asarray(x, dtype=np.float64)] if wrt_input else []) + [s.copy() for s in start]
    if wrt_input:
        numeric = numeric_grad(scalar, arrays)
    else:
        numeric = numeric_grad(lambda *vals: scalar(x, *vals), arrays)
    for var, value in zip(variables, start):
        var.assign(value)
    assert len(analytic) == len(numeric) > 0
    for got, want in zip(analytic, numeric):
        assert got is not None
        np.testing.assert_allclose(_np(got), want, rtol=rtol, atol=atol)




def bn_reference(x, mean, var, gamma, beta, eps):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


# --- Embedding -------------------------------------------------------------------------------------

def test_embedding_looks_up_rows_and_shapes():
    layer = Embedding(10, 3, dtype="float64")
    idx = np.array([[0, 3, 9], [3, 3, 1]])
    out = _np(layer(idx))
    table = layer.get_weights()[0]
    assert table.shape == (10, 3) and out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out, table[idx])
    assert layer.compute_output_shape((None, 7)) == (None, 7, 3)
    assert layer.compute_output_shape((None, 4, 5)) == (None, 4, 5, 3)
    # The Keras default initializer: RandomUniform(-0.05, 0.05).
    assert isinstance(layer.embeddings_initializer, initializers.RandomUniform)
    assert layer.embeddings_initializer.minval == -0.05 and layer.embeddings_initializer.maxval == 0.05
    assert 0 < np.abs(table).max() <= 0.05


def test_embedding_casts_float_inputs_to_integers():
    layer = Embedding(5, 2, embeddings_initializer="glorot_uniform", dtype="float64")
    out = _np(layer(np.array([[1.0, 4.0], [2.9, 0.0]], dtype=np.float32)))
    table = layer.get_weights()[0]
    np.testing.assert_array_equal(out, table[np.array([[1, 4], [2, 0]])])  # truncation, as a cast to int


def test_embedding_rank1_and_int32_inputs():
    layer = Embedding(4, 2, dtype="float64")
    out = _np(layer(np.array([3, 0, 2], dtype=np.int32)))
    np.testing.assert_array_equal(out, layer.get_weights()[0][[3, 0, 2]])
    table = np.arange(8.0).reshape(4, 2)
    pretrained = Embedding(4, 2, weights=[table], dtype="float64")  # the Keras 2 way to load vectors
    np.testing.assert_array_equal(_np(pretrained(np.array([[2, 1]]))), table[[[2, 1]]])


def test_embedding_gradient_accumulates_repeated_indices():
    layer = Embedding(6, 3, embeddings_initializer="glorot_uniform", dtype="float64")
    idx = np.array([[1, 4, 1], [5, 1, 0]])
    check_layer_gradients(layer, idx, wrt_input=False)
    w = RNG.normal(size=(2, 3, 3))
    with ops.GradientTape() as tape:
        loss = ops.sum(ops.multiply(layer(idx), w))
    (grad,) = tape.gradient(loss, [layer.embeddings])
    expected = np.zeros((6, 3))
    np.add.at(expected, idx, w)
    np.testing.assert_allclose(_np(grad), expected, rtol=1e-12)
    assert np.all(_np(grad)[[2, 3]] == 0)


def test_embedding_mask_zero():
    layer = Embedding(5, 2, mask_zero=True)
    idx = np.array([[0, 2, 0], [1, 0, 4]])
    np.testing.assert_array_equal(_np(layer.compute_mask(idx)), idx != 0)
    assert _np(layer.compute_mask(idx)).dtype == np.bool_
    assert Embedding(5, 2).compute_mask(idx) is None
    assert layer.supports_masking


def test_embedding_out_of_range_index_is_a_clear_error():
    if not ops.backend_object().host_sync_cheap:
        pytest.skip("the index check runs only where host synchronisation is cheap (documented)")
    layer = Embedding(5, 2, name="words")
    with pytest.raises(ValueError, match=r"'words'.*index 5, outside \[0, 5\).*input_dim"):
        layer(np.array([[1, 5]]))
    with pytest.raises(ValueError, match=r"index -1"):
        layer(np.array([[-1, 2]]))
    assert _np(layer(np.zeros((0, 3), dtype=np.int64))).shape == (0, 3, 2)  # empty batches are fine


def test_embedding_bad_arguments():
    with pytest.raises(ValueError, match="positive integer input_dim"):
        Embedding(0, 3)
    with pytest.raises(ValueError, match="positive integer output_dim"):
        Embedding(10, None)
    with pytest.raises(TypeError, match="unexpected keyword"):
        Embedding(10, 3, embedding_initializer="ones")


def test_embedding_keras1_names_input_length_and_config_round_trip():
    layer = Embedding(input_dim=20, output_dim=4, init="ones", W_regularizer=regularizers.l2(0.01),
                      W_constraint="non_neg", input_length=7, mask_zero=True)
    assert isinstance(layer.embeddings_initializer, initializers.Ones)
    assert isinstance(layer.embeddings_regularizer, regularizers.L2)
    assert layer.batch_input_shape == (None, 7) and layer.input_length == 7
    clone = roundtrip(layer)
    assert clone.batch_input_shape == (None, 7) and clone.mask_zero and clone.input_dim == 20
    layer(np.array([[1, 2, 3, 4, 5, 6, 7]]))
    assert float(layer.losses[0]) == pytest.approx(0.01 * 20 * 4)
    assert Embedding(9, 2, input_length=(3, 4)).batch_input_shape == (None, 3, 4)


def test_embedding_keras2_module_path():
    assert importlib.import_module("lamina.layers.embeddings").Embedding is Embedding


def test_embedding_flatten_dense_learns():
    utils.set_random_seed(5)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, size=(256, 6))
    y = (x == 3).any(axis=1).astype("float32")[:, None]
    model = Sequential([Embedding(10, 4, input_length=6), Flatten(), Dense(1, activation="sigmoid")])
    model.compile(optimizers.Adam(0.05), "binary_crossentropy")
    assert model.output_shape == (None, 1)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.6 * before
    assert model.count_params() == 10 * 4 + 24 + 1


# --- BatchNormalization ----------------------------------------------------------------------------

def _bn_with_weights(shape=(5,), axis=-1, momentum=0.9, epsilon=1e-3):
    layer = BatchNormalization(axis=axis, momentum=momentum, epsilon=epsilon, dtype="float64")
    x = RNG.normal(size=(6,) + shape) * 3 + 1.5
    layer.build((None,) + shape)
    gamma, beta = RNG.normal(size=layer.gamma.shape), RNG.normal(size=layer.beta.shape)
    mm, mv = RNG.normal(size=layer.gamma.shape), RNG.uniform(0.5, 2.0, size=layer.gamma.shape)
    layer.set_weights([gamma, beta, mm, mv])
    return layer, x, gamma, beta, mm, mv


def test_batch_norm_weights_and_defaults():
    layer = BatchNormalization()
    assert (layer.axis, layer.momentum, layer.epsilon, layer.center, layer.scale) == (-1, 0.99, 1e-3, True, True)
    layer.build((None, 4))
    assert [w.name.split("/")[-1] for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.trainable for w in layer.weights] == [True, True, False, False]
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones(4))
    np.testing.assert_array_equal(layer.get_weights()[1], np.zeros(4))
    np.testing.assert_array_equal(layer.get_weights()[2], np.zeros(4))
    np.testing.assert_array_equal(layer.get_weights()[3], np.ones(4))
    no_affine = BatchNormalization(center=False, scale=False)
    no_affine.build((None, 4))
    assert len(no_affine.weights) == 2 and not no_affine.trainable_weights


def test_batch_norm_training_output_uses_biased_batch_statistics():
    layer, x, gamma, beta, _, _ = _bn_with_weights()
    out = _np(layer(x, training=True))
    np.testing.assert_allclose(out, bn_reference(x, x.mean(0), x.var(0), gamma, beta, 1e-3), rtol=1e-12, atol=1e-12)


def test_batch_norm_inference_uses_moving_statistics_and_does_not_update():
    layer, x, gamma, beta, mm, mv = _bn_with_weights()
    for training in (None, False):
        out = _np(layer(x, training=training))
        np.testing.assert_allclose(out, bn_reference(x, mm, mv, gamma, beta, 1e-3), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(layer.get_weights()[2], mm)
    np.testing.assert_array_equal(layer.get_weights()[3], mv)


def test_batch_norm_moving_statistics_after_three_calls_follow_the_formula_exactly():
    layer, _, _, _, mm, mv = _bn_with_weights(momentum=0.9)
    for _ in range(3):
        x = RNG.normal(size=(8, 5)) * 2 - 1
        layer(x, training=True)
        mean = x.mean(axis=0, keepdims=True)
        var = np.square(x - mean).mean(axis=0, keepdims=True)  # biased, as Keras 3
        mm = mm * 0.9 + mean.reshape(5) * (1.0 - 0.9)
        mv = mv * 0.9 + var.reshape(5) * (1.0 - 0.9)
        np.testing.assert_allclose(layer.get_weights()[2], mm, rtol=1e-15, atol=0)
        np.testing.assert_allclose(layer.get_weights()[3], mv, rtol=1e-15, atol=0)


def test_batch_norm_frozen_layer_runs_in_inference_mode():
    layer, x, gamma, beta, mm, mv = _bn_with_weights()
    layer.trainable = False
    out = _np(layer(x, training=True))
    np.testing.assert_allclose(out, bn_reference(x, mm, mv, gamma, beta, 1e-3), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(layer.get_weights()[2], mm)
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4


def test_batch_norm_channels_first_axis_and_rank4():
    layer = BatchNormalization(axis=1, dtype="float64", epsilon=1e-5)
    x = RNG.normal(size=(4, 3, 2, 5))
    layer.build((None, 3, 2, 5))
    assert layer.gamma.shape == (3,)
    gamma, beta = RNG.normal(size=3), RNG.normal(size=3)
    layer.set_weights([gamma, beta, np.zeros(3), np.ones(3)])
    out = _np(layer(x, training=True))
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    ref = bn_reference(x, mean, var, gamma.reshape(1, 3, 1, 1), beta.reshape(1, 3, 1, 1), 1e-5)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.get_weights()[2], 0.01 * mean.reshape(3), rtol=1e-12)


def test_batch_norm_list_axis_keras2_weight_shape():
    layer = BatchNormalization(axis=[1, 2], dtype="float64")
    x = RNG.normal(size=(5, 3, 4, 2))
    out = _np(layer(x, training=True))
    assert layer.gamma.shape == (1, 3, 4, 1)
    mean, var = x.mean(axis=(0, 3), keepdims=True), x.var(axis=(0, 3), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-12, atol=1e-12)


def test_batch_norm_gradients_in_training_mode_match_finite_differences():
    layer, x, *_ = _bn_with_weights(shape=(3,))
    check_layer_gradients(layer, x[:4], training=True)
    layer4, x4, *_ = _bn_with_weights(shape=(2, 3), axis=1)
    check_layer_gradients(layer4, x4[:3], training=True)


def test_batch_norm_gradients_in_inference_mode_match_finite_differences():
    layer, x, *_ = _bn_with_weights(shape=(3,))
    check_layer_gradients(layer, x[:4], training=False)


def test_batch_norm_update_is_not_recorded_by_the_tape():
    layer, x, *_ = _bn_with_weights(shape=(3,))
    xt = _t(x)
    with ops.GradientTape() as tape:
        tape.watch(xt)
        loss = ops.sum(ops.square(layer(xt, training=True)))
    grads = tape.gradient(loss, [layer.moving_mean, layer.moving_variance, xt, layer.gamma])
    assert grads[0] is None and grads[1] is None
    assert grads[2] is not None and grads[3] is not None


def test_batch_norm_config_round_trip_and_keras1_names():
    layer = BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False,
                               gamma_regularizer=regularizers.l2(0.1), gamma_constraint="non_neg",
                               moving_variance_initializer=initializers.Constant(2.0), name="bn_rt")
    clone = roundtrip(layer)
    assert (clone.axis, clone.momentum, clone.epsilon, clone.center) == (1, 0.9, 1e-5, False)
    clone.build((None, 3, 2))
    np.testing.assert_array_equal(clone.get_weights()[-1], np.full(3, 2.0))
    old = BatchNormalization(mode=0, beta_init="one", gamma_init="zero", fused=True)
    assert isinstance(old.beta_initializer, initializers.Ones)
    assert isinstance(old.gamma_initializer, initializers.Zeros)
    assert roundtrip(BatchNormalization(axis=[1, 2])).axis == [1, 2]


def test_batch_norm_errors():
    with pytest.raises(ValueError, match=r"'bn_bad'.*axis=3.*rank 2"):
        BatchNormalization(axis=3, name="bn_bad")(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="int or a non-empty list"):
        BatchNormalization(axis="channels")
    with pytest.raises(ValueError, match="duplicate"):
        BatchNormalization(axis=[2, -1]).build((None, 3, 2))
    with pytest.raises(ValueError, match="size is unknown"):
        BatchNormalization(axis=1).build((None, None, 4))
    with pytest.raises(ValueError, match="momentum"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="mode=2"):
        BatchNormalization(mode=2)
    with pytest.raises(ValueError, match="renorm"):
        BatchNormalization(renorm=True)
    layer = BatchNormalization()
    layer(np.zeros((2, 4), dtype="float32"))
    with pytest.raises(ValueError, match="built for 4 features"):
        layer(np.zeros((2, 5), dtype="float32"))


def test_batch_norm_in_mlp_trains_and_evaluate_uses_moving_statistics(tmp_path):
    utils.set_random_seed(6)
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(200, 4)) * [1.0, 5.0, 0.2, 2.0] + [3.0, -2.0, 0.0, 10.0]).astype("float32")
    y = (x @ np.array([0.5, -0.1, 2.0, 0.05]) + 1.0)[:, None].astype("float32")
    bn = BatchNormalization(momentum=0.8)
    model = Sequential([Dense(8, input_shape=(4,)), bn, Activation("relu"), Dense(1)])
    model.compile(optimizers.Adam(0.01), "mse")
    before = model.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(bn.get_weights()[2], np.zeros(8))  # evaluate does not update
    model.fit(x, y, epochs=8, batch_size=20, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.5 * before
    w1, b1, gamma, beta, mm, mv, w2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    assert np.abs(mm).max() > 0.1 and not np.allclose(mv, 1.0)  # the moving statistics moved
    h = x.astype(np.float64) @ w1 + b1
    pred = np.maximum(bn_reference(h, mm, mv, gamma, beta, 1e-3), 0) @ w2 + b2
    assert after == pytest.approx(float(np.mean((pred - y) ** 2)), rel=1e-4)
    np.testing.assert_allclose(model.predict(x, verbose=0), pred, rtol=1e-4, atol=1e-4)
    # The batch statistics of the full data set would give another loss: evaluate really used the moving ones.
    batch_pred = np.maximum(bn_reference(h, h.mean(0), h.var(0), gamma, beta, 1e-3), 0) @ w2 + b2
    assert abs(float(np.mean((batch_pred - y) ** 2)) - after) > 1e-4 * after
    # Save/load keeps the moving statistics.
    model.save(tmp_path / "bn.lamina")
    loaded = load_model(tmp_path / "bn.lamina", custom_objects={"BatchNormalization": BatchNormalization})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_batch_norm_and_embedding_in_functional_models():
    utils.set_random_seed(7)
    tokens = Input(shape=(5,))
    h = Embedding(12, 3)(tokens)
    assert tuple(h.shape) == (None, 5, 3)
    h = LayerNormalization()(h)
    h = BatchNormalization(axis=-1)(Flatten()(h))
    out = Dense(1)(h)
    model = Model(tokens, out)
    model.compile("sgd", "mse")
    x = np.random.default_rng(3).integers(0, 12, size=(32, 5))
    model.fit(x, np.ones((32, 1), dtype="float32"), epochs=1, batch_size=16, verbose=0)
    bn = [layer for layer in model.layers if isinstance(layer, BatchNormalization)][0]
    assert not np.allclose(bn.get_weights()[2], 0.0)  # fit passed training=True through the graph


# --- LayerNormalization ----------------------------------------------------------------------------

def test_layer_norm_values_last_axis():
    layer = LayerNormalization(dtype="float64")
    x = RNG.normal(size=(3, 4, 6)) * 4 + 2
    layer.build((None, 4, 6))
    gamma, beta = RNG.normal(size=6), RNG.normal(size=6)
    layer.set_weights([gamma, beta])
    out = _np(layer(x))
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(_np(layer(x, training=True)), out)  # no batch dependence
    np.testing.assert_allclose(_np(layer(x[:1])), out[:1], rtol=1e-12, atol=1e-14)


def test_layer_norm_several_axes_weight_shape_and_values():
    layer = LayerNormalization(axis=[-1, 1], epsilon=1e-6, dtype="float64")
    x = RNG.normal(size=(2, 3, 4))
    layer.build((None, 3, 4))
    assert layer.gamma.shape == (3, 4) and layer.beta.shape == (3, 4)
    gamma, beta = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
    layer.set_weights([gamma, beta])
    mean, var = x.mean((1, 2), keepdims=True), x.var((1, 2), keepdims=True)
    np.testing.assert_allclose(_np(layer(x)), (x - mean) / np.sqrt(var + 1e-6) * gamma + beta, rtol=1e-12,
                               atol=1e-12)


def test_layer_norm_without_center_and_scale():
    layer = LayerNormalization(center=False, scale=False, dtype="float64")
    x = RNG.normal(size=(4, 5))
    assert _np(layer(x)).shape == (4, 5) and layer.weights == []
    np.testing.assert_allclose(_np(layer(x)), (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-3),
                               rtol=1e-12)


def test_layer_norm_gradients_match_finite_differences():
    layer = LayerNormalization(dtype="float64")
    layer.build((None, 2, 4))
    layer.set_weights([RNG.normal(size=4), RNG.normal(size=4)])
    check_layer_gradients(layer, RNG.normal(size=(2, 2, 4)))
    multi = LayerNormalization(axis=[1, 2], dtype="float64")
    multi.build((None, 2, 3))
    multi.set_weights([RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))])
    check_layer_gradients(multi, RNG.normal(size=(2, 2, 3)))


def test_layer_norm_float32_default_dtype():
    layer = LayerNormalization()
    y = layer(RNG.normal(size=(2, 3)).astype("float32"))
    assert y.dtype == "float32"


def test_layer_norm_config_round_trip_and_errors():
    layer = LayerNormalization(axis=[1, 2], epsilon=1e-5, scale=False, beta_regularizer="l2", name="ln_rt")
    clone = roundtrip(layer)
    assert clone.axis == [1, 2] and clone.epsilon == 1e-5 and not clone.scale
    with pytest.raises(ValueError, match=r"'ln_bad'.*axis=2.*rank 2"):
        LayerNormalization(axis=2, name="ln_bad")(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="duplicate"):
        LayerNormalization(axis=[2, -1]).build((None, 3, 4))
    with pytest.raises(ValueError, match="int or a non-empty list"):
        LayerNormalization(axis=[])
    with pytest.raises(ValueError, match="epsilon"):
        LayerNormalization(epsilon=-1.0)
    built = LayerNormalization()
    built(np.zeros((2, 3), dtype="float32"))
    with pytest.raises(ValueError, match="was built for inputs of shape"):
        built(np.zeros((2, 4), dtype="float32"))


def test_normalization_keras2_module_paths():
    module = importlib.import_module("lamina.layers.normalization")
    assert module.BatchNormalization is BatchNormalization and module.LayerNormalization is LayerNormalization
    assert importlib.import_module("lamina.layers.normalization.batch_normalization").BatchNormalization \
        is BatchNormalization
