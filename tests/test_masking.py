"""Tests for masks: the Masking layer, masks carried between layers (``_keras_mask``), which layers
pass, combine or drop them, and the loss and metrics that skip padded time steps. Values are
checked against NumPy float64 references."""
from __future__ import annotations

import numpy as np
import pytest

from lamina import backend as K
from lamina import layers, losses, ops, optimizers
from lamina.layers import (Add, Average, BatchNormalization, Concatenate, Dense, Dropout, Embedding, Flatten,
                           GlobalAveragePooling1D, Input, Lambda, Layer, Masking, Multiply, Permute, Reshape,
                           Softmax, TimeDistributed)
from lamina.models import Model, Sequential

from _gradcheck import _np, roundtrip

RNG = np.random.default_rng(77)
TOKENS = np.array([[1, 2, 0, 0], [3, 4, 5, 0]])
TOKEN_MASK = TOKENS != 0


@pytest.fixture
def float64():
    previous = K.floatx()
    K.set_floatx("float64")
    yield
    K.set_floatx(previous)


class MaskRecorder(Layer):
    """Keeps the mask each call receives; passes the inputs (and the mask) on."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.seen = []

    def call(self, inputs, mask=None):
        self.seen.append(None if mask is None else _np(mask))
        return ops.multiply(inputs, 1.0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def padded_sequences(pad_value=-1.0):
    """Three sequences of lengths 4, 2 and 1 (2 features), padded with ``pad_value``; the mask."""
    x = RNG.normal(size=(3, 4, 2))
    valid = np.arange(4)[None, :] < np.array([4, 2, 1])[:, None]
    x[~valid] = pad_value
    return x, valid


# --- the Masking layer ------------------------------------------------------------------------------
def test_masking_zeroes_padded_steps_and_marks_them():
    x = np.array([[[1.0, 2.0], [-1.0, -1.0], [-1.0, 3.0]],
                  [[-1.0, -1.0], [0.0, 0.0], [5.0, -1.0]]])
    out = Masking(mask_value=-1.0)(x)
    expected = x.copy()
    expected[0, 1] = expected[1, 0] = 0.0
    np.testing.assert_array_equal(_np(out), expected)
    np.testing.assert_array_equal(_np(out._keras_mask), [[True, False, True], [False, True, True]])
    np.testing.assert_array_equal(_np(Masking().compute_mask(x)), [[True, True, True], [True, False, True]])
    assert Masking().compute_output_shape((None, 3, 2)) == (None, 3, 2)


def test_masking_config_round_trip_and_module_paths():
    layer = Masking(mask_value=-1.0, name="pad")
    clone = roundtrip(layer)
    assert clone.mask_value == -1.0 and clone.name == "pad"
    assert Masking().get_config()["mask_value"] == 0.0
    assert layers.deserialize(layers.serialize(layer)).mask_value == -1.0
    assert layers.core.Masking is Masking
    assert "Args:" in Masking.__doc__ and "Input shape" in Masking.__doc__


@pytest.mark.parametrize("bad", ["x", None, [0.0], True])
def test_masking_rejects_a_mask_value_that_is_not_a_number(bad):
    with pytest.raises(ValueError, match=r"Masking mask_value must be a number, got"):
        Masking(mask_value=bad)


# --- masks flowing between layers -------------------------------------------------------------------
def test_embedding_mask_reaches_a_layer_whose_call_takes_mask_in_sequential():
    recorder = MaskRecorder()
    model = Sequential([Embedding(6, 3, mask_zero=True, input_length=4), recorder])
    recorder.seen.clear()
    model.predict(TOKENS)
    np.testing.assert_array_equal(recorder.seen[-1], TOKEN_MASK)
    out = model(TOKENS)
    np.testing.assert_array_equal(_np(out._keras_mask), TOKEN_MASK)


def test_masks_pass_through_dense_dropout_and_time_distributed_in_a_functional_model():
    inp = Input(shape=(4,))
    h = Embedding(6, 3, mask_zero=True)(inp)
    h = Dense(5)(h)
    h = Dropout(0.5, seed=1)(h)
    h = TimeDistributed(Dense(2))(h)
    recorder = MaskRecorder()
    model = Model(inp, recorder(h))
    recorder.seen.clear()
    for training in (True, False):
        out = model(TOKENS, training=training)
        np.testing.assert_array_equal(recorder.seen[-1], TOKEN_MASK)
        np.testing.assert_array_equal(_np(out._keras_mask), TOKEN_MASK)
    assert len(recorder.seen) == 2


def test_a_model_used_as_a_layer_passes_its_output_mask_on():
    inner_inp = Input(shape=(None, 3))
    inner = Model(inner_inp, Dense(2)(inner_inp))
    stack = Sequential([Dense(2, input_shape=(None, 3))])
    for nested in (inner, stack):
        inp = Input(shape=(4,))
        recorder = MaskRecorder()
        model = Model(inp, recorder(nested(Embedding(6, 3, mask_zero=True)(inp))))
        recorder.seen.clear()
        model.predict(TOKENS)
        np.testing.assert_array_equal(recorder.seen[-1], TOKEN_MASK)


def test_an_explicit_mask_wins_over_the_inputs_mask():
    x = np.array([[[1.0], [0.0], [2.0]]])
    given = np.array([[False, True, True]])
    recorder = MaskRecorder()
    out = recorder(Masking()(x), mask=given)
    np.testing.assert_array_equal(recorder.seen[-1], given)
    np.testing.assert_array_equal(_np(out._keras_mask), given)
    # A layer whose call has no mask argument still reports the mask it was given.
    np.testing.assert_array_equal(_np(Dense(2)(x, mask=given)._keras_mask), given)


def test_layers_that_do_not_support_masking_drop_the_mask():
    masked = Masking()(np.array([[[1.0, 2.0], [0.0, 0.0], [3.0, 4.0]]]))
    for layer in (Flatten(), Reshape((2, 3)), Permute((2, 1))):
        assert layer(masked)._keras_mask is None
    np.testing.assert_array_equal(_np(masked._keras_mask), [[True, False, True]])


def test_an_identity_layer_dropping_the_mask_leaves_the_shared_input_untouched():
    masked = Masking()(np.array([[[1.0], [0.0]]]))
    out = Layer()(masked)  # the base Layer is the identity and does not support masking
    assert out._keras_mask is None
    np.testing.assert_array_equal(_np(masked._keras_mask), [[True, False]])
    np.testing.assert_array_equal(_np(out), _np(masked))


def test_input_layer_and_plain_arrays_carry_no_mask():
    inp = Input(shape=(2,))
    model = Model(inp, MaskRecorder()(inp))
    assert model(np.ones((1, 2)))._keras_mask is None


def test_merge_layers_combine_masks():
    a = Masking()(np.array([[[1.0], [0.0], [2.0]]]))
    b = Masking()(np.array([[[1.0], [3.0], [0.0]]]))
    plain = ops.convert_to_tensor(np.ones((1, 3, 1)))
    for merge in (Add(), Multiply(), Average()):
        np.testing.assert_array_equal(_np(merge([a, b])._keras_mask), [[True, False, False]])
        np.testing.assert_array_equal(_np(merge([a, plain])._keras_mask), [[True, False, True]])
    assert Add()([plain, plain])._keras_mask is None
    np.testing.assert_array_equal(_np(Concatenate()([a, b])._keras_mask), [[True, False, False]])
    np.testing.assert_array_equal(_np(Concatenate()([a, plain])._keras_mask), [[True, False, True]])
    np.testing.assert_array_equal(_np(Concatenate(axis=1)([a, b])._keras_mask),
                                  [[True, False, True, True, True, False]])


def test_lambda_mask_argument_and_default():
    masked = Masking()(np.array([[[1.0], [0.0]]]))
    assert Lambda(lambda t: t * 2.0)(masked)._keras_mask is None
    kept = Lambda(lambda t: t * 2.0, mask=lambda inputs, mask: mask)(masked)
    np.testing.assert_array_equal(_np(kept._keras_mask), [[True, False]])
    fixed = Lambda(lambda t: t * 2.0, mask=np.array([[False, True]]))(masked)
    np.testing.assert_array_equal(_np(fixed._keras_mask), [[False, True]])


def test_symbolic_tensors_as_keyword_arguments_are_refused():
    inp = Input(shape=(3, 2))
    with pytest.raises(TypeError, match=r"symbolic tensors as keyword arguments \(mask\)"):
        MaskRecorder()(inp, mask=inp)


# --- layers that use the mask -----------------------------------------------------------------------
def test_softmax_with_a_per_step_mask(float64):
    x = RNG.normal(size=(2, 3, 4))
    x[0, 2] = 0.0
    masked = Masking()(x)
    np.testing.assert_array_equal(_np(Softmax()(masked)), _np(ops.softmax(masked, axis=-1)))
    over_time = _np(Softmax(axis=1)(masked))
    e = np.exp(x[0, :2] - x[0, :2].max(axis=0))
    np.testing.assert_allclose(over_time[0, :2], e / e.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(over_time[0, 2], 0.0, atol=1e-300)


def test_batch_normalization_statistics_skip_masked_steps(float64):
    x, valid = padded_sequences(pad_value=0.0)
    bn = BatchNormalization(momentum=0.0)
    bn(Masking()(x), training=True)
    kept = x[valid]
    np.testing.assert_allclose(bn.moving_mean.numpy(), kept.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.moving_variance.numpy(), kept.var(axis=0), rtol=1e-12)


def test_global_average_pooling_1d_averages_the_kept_steps(float64):
    embed = Embedding(6, 3, mask_zero=True)
    out = _np(GlobalAveragePooling1D()(embed(TOKENS)))
    table = embed.embeddings.numpy()
    np.testing.assert_allclose(out, [table[[1, 2]].mean(axis=0), table[[3, 4, 5]].mean(axis=0)], rtol=1e-12)


# --- losses and metrics -----------------------------------------------------------------------------
def per_step_model(units=1):
    return Sequential([Masking(mask_value=-1.0, input_shape=(None, 2)), Dense(3, activation="tanh"), Dense(units)])


@pytest.mark.parametrize("loss", ["mse", "MeanSquaredError"])
def test_loss_and_metrics_average_over_the_unpadded_steps(float64, loss):
    x, valid = padded_sequences()
    y = RNG.normal(size=(3, 4, 1))
    y[~valid] = 100.0  # targets at padded steps must not count
    model = per_step_model()
    model.compile(optimizers.SGD(learning_rate=0.1), loss=loss, metrics=["mae"], weighted_metrics=["mae"])
    err = (model.predict(x) - y)[..., 0]
    sq, ab = err ** 2, np.abs(err)
    loss_value, mae, _ = model.evaluate(x, y, batch_size=3, verbose=0)
    assert loss_value == pytest.approx(sq[valid].mean(), rel=1e-12)
    assert mae == pytest.approx(ab[valid].mean(), rel=1e-12)
    assert model.test_on_batch(x, y)[0] == pytest.approx(sq[valid].mean(), rel=1e-12)
    # With sample weights: sum(loss * weight) over kept steps / number of kept steps (Keras 3);
    # a weighted metric is the weighted mean over kept steps, a plain one ignores the weights (Keras).
    sw = np.array([1.0, 2.0, 0.5])
    w = sw[:, None] * valid
    loss_value, mae, weighted_mae = model.evaluate(x, y, sample_weight=sw, batch_size=3, verbose=0)
    assert loss_value == pytest.approx((sq * w).sum() / valid.sum(), rel=1e-12)
    assert mae == pytest.approx(ab[valid].mean(), rel=1e-12)
    assert weighted_mae == pytest.approx((ab * w).sum() / w.sum(), rel=1e-12)
    # fit reports the loss of the forward pass, before its one update.
    history = model.fit(x, y, batch_size=3, epochs=1, verbose=0, shuffle=False)
    assert history.history["loss"][0] == pytest.approx(sq[valid].mean(), rel=1e-12)


def test_a_loss_object_reads_the_mask_of_the_prediction(float64):
    x, valid = padded_sequences(pad_value=0.0)
    pred = Masking()(x)
    y = RNG.normal(size=x.shape)
    per = ((x - y) ** 2).mean(axis=-1)
    assert float(losses.MeanSquaredError()(y, pred)) == pytest.approx(per[valid].mean(), rel=1e-12)
    assert float(losses.MeanSquaredError(reduction="sum")(y, pred)) == pytest.approx(per[valid].sum(), rel=1e-12)
    np.testing.assert_allclose(_np(losses.MeanSquaredError(reduction="none")(y, pred)), per * valid, rtol=1e-12)


def test_training_on_padded_sequences_matches_training_on_the_valid_steps_alone(float64):
    x, valid = padded_sequences()
    y = RNG.normal(size=(3, 4, 1))
    y[~valid] = 100.0
    padded, unpadded = per_step_model(), per_step_model()
    unpadded.set_weights(padded.get_weights())
    for model in (padded, unpadded):
        model.compile(optimizers.SGD(learning_rate=0.1), loss="mse")
    # The model works step by step, so the 7 valid steps as 7 sequences of length 1 are the same
    # problem: the same loss, so the same gradients and the same updated weights.
    padded.train_on_batch(x, y)
    unpadded.train_on_batch(x[valid][:, None, :], y[valid][:, None, :])
    for a, b in zip(padded.get_weights(), unpadded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_embedding_mask_zero_with_pooling_trains_as_on_the_unpadded_sequence(float64):
    def build():
        inp = Input(shape=(None,))
        h = GlobalAveragePooling1D()(Embedding(6, 3, mask_zero=True)(inp))
        model = Model(inp, Dense(1)(h))
        model.compile(optimizers.SGD(learning_rate=0.5), loss="mse")
        return model
    padded, unpadded = build(), build()
    unpadded.set_weights(padded.get_weights())
    padded.train_on_batch(np.array([[3, 1, 0, 0]]), np.array([[0.7]]))
    unpadded.train_on_batch(np.array([[3, 1]]), np.array([[0.7]]))
    for a, b in zip(padded.get_weights(), unpadded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("return_sequences", [True, False])
def test_a_recurrent_layer_receives_the_embedding_mask(float64, return_sequences):
    """End to end: the mask reaches the LSTM through ``call(mask=...)`` and the loss skips padding,
    so a padded sequence trains exactly as the unpadded one."""
    def build():
        model = Sequential([Embedding(6, 3, mask_zero=True, input_shape=(None,)),
                            layers.LSTM(4, return_sequences=return_sequences), Dense(1)])
        model.compile(optimizers.SGD(learning_rate=0.5), loss="mse")
        return model
    padded, unpadded = build(), build()
    unpadded.set_weights(padded.get_weights())
    y = np.array([[[0.1], [0.2], [0.3]]]) if return_sequences else np.array([[0.5]])
    y_padded = np.concatenate([y, np.full((1, 2, 1), 9.0)], axis=1) if return_sequences else y
    padded.train_on_batch(np.array([[3, 1, 2, 0, 0]]), y_padded)
    unpadded.train_on_batch(np.array([[3, 1, 2]]), y)
    for a, b in zip(padded.get_weights(), unpadded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)



def test_a_per_sample_metric_on_a_masked_sequence_weights_samples_by_their_kept_steps(float64):
    """The (batch, time) mask cannot weight a metric that is one value per sample; each sample then
    counts by the share of its steps that are kept (before: a NumPy broadcasting error)."""
    def per_sample(y_true, y_pred):
        return ops.mean(ops.square(ops.subtract(y_true, y_pred)), axis=(1, 2))

    model = Sequential([Embedding(10, 4, mask_zero=True, input_shape=(5,)), layers.LSTM(3, return_sequences=True),
                        Dense(2, activation="softmax")])
    model.compile("sgd", loss="categorical_crossentropy", metrics=[per_sample])
    x = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0], [6, 7, 8, 9, 1]])
    y = np.eye(2)[np.array([[0, 1, 0, 1, 1], [1, 1, 0, 0, 0], [0, 0, 1, 1, 0]])]
    values = ((y - model.predict(x, verbose=0)) ** 2).mean(axis=(1, 2))
    kept = np.array([3, 2, 5]) / 5
    got = model.evaluate(x, y, verbose=0, return_dict=True)["per_sample"]
    np.testing.assert_allclose(got, (values * kept).sum() / kept.sum(), rtol=1e-12)


def test_model_compute_mask_returns_what_its_layers_make():
    tokens = np.array([[4, 2, 7, 0, 0], [3, 0, 0, 0, 0]])
    seq = Sequential([Embedding(10, 3, mask_zero=True, input_shape=(5,)), layers.LSTM(2, return_sequences=True)])
    np.testing.assert_array_equal(_np(seq.compute_mask(tokens)), tokens != 0)
    inp = Input((5,))
    emb = Embedding(10, 3, mask_zero=True)(inp)
    func = Model(inp, [layers.LSTM(2, return_sequences=True)(emb), layers.LSTM(2)(emb)])
    seq_mask, last_mask = func.compute_mask(tokens)
    np.testing.assert_array_equal(_np(seq_mask), tokens != 0)
    assert last_mask is None  # the last step only: no time axis left to mask
    dense = Sequential([Dense(3, input_shape=(4,))])  # passes a given mask on
    np.testing.assert_array_equal(_np(dense.compute_mask(np.ones((2, 4)), np.array([True, False]))), [True, False])
    assert Sequential([Dense(3, input_shape=(4,))]).compute_mask(np.ones((2, 4))) is None


def test_model_subclasses_keep_their_own_mask_rules():
    class OwnMask(Model):
        def call(self, x):  # no training argument
            return ops.multiply(x, 2.0)

        def compute_mask(self, inputs, mask=None):
            return ops.convert_to_tensor(np.array([[True, False, True]]))

    class PassesMask(Model):
        def __init__(self):
            super().__init__()
            self.supports_masking = True

        def call(self, x):
            return ops.multiply(x, 2.0)

    x = np.ones((1, 3, 2))
    np.testing.assert_array_equal(_np(OwnMask()(x)._keras_mask), [[True, False, True]])
    tokens = np.array([[4, 0, 2]])
    out = PassesMask()(Embedding(6, 2, mask_zero=True)(tokens))
    np.testing.assert_array_equal(_np(out._keras_mask), tokens != 0)
    plain = PassesMask()
    assert plain.compute_mask(x) is None  # runs call without a training argument
