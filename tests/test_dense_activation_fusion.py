"""Dense(n) followed by Activation(a): Sequential and functional models run the pair as one
``ops.dense`` (and a Sequential model, in training, a Dropout after the pair too). The results must
be the separate layers' bit for bit, and every case the fusion must not touch (subclasses, instance
overrides, activity regularizers, masks, shared outputs, noise shapes) must still take the
layer-by-layer path."""
from __future__ import annotations

import numpy as np
import pytest

from lamina import layers, ops, optimizers, regularizers
from lamina.layers import Activation, Dense, Dropout, Input, Layer
from lamina.layers.core.dense import activation_to_fuse, dropout_to_fuse
from lamina.models import Model, Sequential

RNG = np.random.default_rng(7)


def _same(got, want, dtype: str = "float32") -> None:
    """Bit for bit on NumPy (no NaN counted equal, no broadcasting). On a GPU the layer-by-layer
    path's bias gradient is CuPy's sum, which reduces in its own tree order, while the fused kernel
    adds the rows in NumPy's order: trained weights, losses and predictions then differ by an ulp or
    two of the model's ``dtype`` (seen on an H200), so there each element is compared within 32 ulp
    of ``dtype`` relative to itself, plus 32 ulp of the largest element."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if ops.backend_object().name == "numpy":
        assert np.array_equal(got, want), (got, want)
    else:
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(got, want, rtol=32 * eps,
                                   atol=32 * eps * max(float(np.abs(want).max(initial=0)), 1e-30))


def _same_history(got: dict, want: dict, dtype: str = "float32") -> None:
    if ops.backend_object().name == "numpy":
        assert got == want
    else:
        assert got.keys() == want.keys()
        for key in want:
            _same(got[key], want[key], dtype)


class PlainDense(Dense):
    """A subclass: never fused, so it gives the two-layer reference."""


@pytest.fixture
def dense_calls(monkeypatch):
    """The activation argument of every ops.dense call."""
    seen: list[str] = []
    real = ops.dense

    def spy(x, kernel, bias=None, activation="linear", dropout=None):
        seen.append(activation if dropout is None else f"{activation}+dropout")
        return real(x, kernel, bias, activation, dropout)
    monkeypatch.setattr(ops, "dense", spy)
    return seen


def _mlp(dense_cls, act: str, dtype: str = "float32") -> Sequential:
    model = Sequential([dense_cls(7, input_shape=(5,), dtype=dtype), Activation(act),
                        dense_cls(3, dtype=dtype), Activation("softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.3, momentum=0.9, nesterov=True),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n: int = 12, dtype: str = "float32"):
    x = RNG.normal(size=(n, 5)).astype(dtype)
    y = np.eye(3, dtype=dtype)[RNG.integers(0, 3, n)]
    return x, y


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu", "softmax", "linear"])
def test_sequential_pair_is_one_op_and_bit_identical(act, dense_calls):
    x, y = _data()
    fused, plain = _mlp(Dense, act), _mlp(PlainDense, act)
    fused.build((None, 5))
    plain.build((None, 5))
    plain.set_weights(fused.get_weights())
    dense_calls.clear()
    np.testing.assert_array_equal(fused.predict(x, verbose=0), plain.predict(x, verbose=0))
    # The fused model made one ops.dense per pair with the activation inside; the reference made
    # linear ones (its layers are a subclass, so they apply the activation separately).
    assert dense_calls == [act, "softmax", "linear", "linear"]
    for _ in range(3):
        lf = fused.train_on_batch(x, y)
        lp = plain.train_on_batch(x, y)
        _same(lf, lp)
    for wf, wp in zip(fused.get_weights(), plain.get_weights()):
        _same(wf, wp)
    assert all(layer.built for layer in fused.layers)


def test_sequential_fit_float64_matches_the_two_layer_path():
    x, y = _data(40, "float64")
    fused, plain = _mlp(Dense, "tanh", "float64"), _mlp(PlainDense, "tanh", "float64")
    fused.build((None, 5))
    plain.build((None, 5))
    plain.set_weights(fused.get_weights())
    hf = fused.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False).history
    hp = plain.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False).history
    _same_history(hf, hp, "float64")
    for wf, wp in zip(fused.get_weights(), plain.get_weights()):
        _same(wf, wp, "float64")


def test_gradient_through_the_fused_pair_matches_finite_differences():
    layer, act = Dense(4, dtype="float64"), Activation("tanh")
    model = Sequential([layer, act])
    x = ops.convert_to_tensor(RNG.normal(size=(3, 5)))
    model(x)
    w0 = layer.kernel.numpy()
    with ops.GradientTape() as tape:
        loss = ops.sum(ops.square(model(x)))
    (gk,) = tape.gradient(loss, [layer.kernel])

    def f(w):
        return float(np.sum(np.tanh(x.numpy() @ w + layer.bias.numpy()) ** 2))
    np.testing.assert_allclose(gk.numpy(), _central_differences(f, w0), rtol=1e-6, atol=1e-9)


def _central_differences(f, w0, h=1e-6):
    """d f / d w at w0, each entry by a central difference of step h."""
    num = np.zeros_like(w0)
    for i in np.ndindex(w0.shape):
        e = np.zeros_like(w0)
        e[i] = h
        num[i] = (f(w0 + e) - f(w0 - e)) / (2 * h)
    return num


def test_cases_that_keep_two_layers(dense_calls):
    x = np.ones((2, 5), "float32")
    dense, act = Dense(3), Activation("tanh")
    dense(x)
    assert activation_to_fuse(dense, act, x) == "tanh"
    assert activation_to_fuse(PlainDense(3), act, x) is None
    assert activation_to_fuse(dense, Activation(lambda t: ops.tanh(t)), x) is None  # not a known function
    assert activation_to_fuse(Dense(3, activation="relu"), act, x) is None  # the Dense is not linear
    assert activation_to_fuse(Dense(3, activity_regularizer="l2"), act, x) is None
    regularized = Activation("tanh")
    regularized.activity_regularizer = regularizers.get("l1")
    assert activation_to_fuse(dense, regularized, x) is None
    assert activation_to_fuse(dense, act, np.ones((2, 4, 5), "float32")) is None  # rank 3
    assert activation_to_fuse(dense, act, [x]) is None
    masked = ops.convert_to_tensor(x)
    masked._keras_mask = ops.convert_to_tensor(np.array([True, False]))
    assert activation_to_fuse(dense, act, masked) is None
    assert activation_to_fuse(dense, act, Input(shape=(5,))) is None  # symbolic
    replaced = Dense(3)
    replaced.call = lambda inputs: ops.multiply(inputs, 2.0)
    assert activation_to_fuse(replaced, act, x) is None
    act2 = Activation("tanh")
    act2.call = lambda inputs: ops.negative(inputs)
    assert activation_to_fuse(dense, act2, x) is None


def test_activity_regularizer_and_instance_override_still_apply():
    x = RNG.normal(size=(4, 5)).astype("float32")
    model = Sequential([Dense(3, input_shape=(5,), activity_regularizer="l2"), Activation("tanh")])
    out = model(x)
    pre = x @ model.layers[0].kernel.numpy() + model.layers[0].bias.numpy()
    np.testing.assert_allclose(out.numpy(), np.tanh(pre), rtol=1e-6, atol=1e-6)  # a GPU's product: not NumPy's bits
    assert len(model.losses) == 1  # the activity penalty of this call
    np.testing.assert_allclose(float(model.losses[0]), 0.01 * np.sum(pre ** 2) / 4, rtol=1e-5)

    act = Activation("tanh")
    model2 = Sequential([Dense(3, input_shape=(5,)), act])
    act.call = lambda inputs: ops.negative(inputs)  # the user's replacement must run
    d = model2.layers[0]
    np.testing.assert_allclose(model2(x).numpy(), -(x @ d.kernel.numpy() + d.bias.numpy()), rtol=1e-6, atol=1e-6)


def _functional(dense_cls, extra_output: bool = False, second_consumer: bool = False) -> Model:
    inp = Input(shape=(5,))
    h = dense_cls(6)(inp)
    a = Activation("tanh")(h)
    out = dense_cls(3)(a)
    p = Activation("softmax")(out)
    outputs = [p]
    if extra_output:
        outputs.append(h)
    if second_consumer:
        outputs.append(layers.Activation("relu")(h))
    return Model(inp, outputs if len(outputs) > 1 else p)


def test_functional_pairs_fused_and_bit_identical(dense_calls):
    x, y = _data()
    fused, plain = _functional(Dense), _functional(PlainDense)
    plain.set_weights(fused.get_weights())
    fused.compile(optimizer="sgd", loss="categorical_crossentropy")
    plain.compile(optimizer="sgd", loss="categorical_crossentropy")
    dense_calls.clear()
    np.testing.assert_array_equal(fused.predict(x, verbose=0), plain.predict(x, verbose=0))
    assert dense_calls == ["tanh", "softmax", "linear", "linear"]
    for _ in range(2):
        _same(fused.train_on_batch(x, y), plain.train_on_batch(x, y))
    for wf, wp in zip(fused.get_weights(), plain.get_weights()):
        _same(wf, wp)


@pytest.mark.parametrize("kind", ["extra_output", "second_consumer"])
def test_functional_dense_output_read_elsewhere_is_not_fused(kind, dense_calls):
    x = RNG.normal(size=(4, 5)).astype("float32")
    model = _functional(Dense, **{kind: True})
    dense_calls.clear()
    outs = model(x)
    assert dense_calls[0] == "linear"  # the first pair's Dense output is needed as it is
    d = model.layers[1]
    h = x @ d.kernel.numpy() + d.bias.numpy()
    # the host product and the backend's add in their own orders (an H200: 2.4e-8 off at 0.0236)
    np.testing.assert_allclose(outs[1].numpy(), h if kind == "extra_output" else np.maximum(h, 0), rtol=1e-6, atol=1e-6)


def test_unhashable_activation_callable_works():
    """A callable object without a hash (a dataclass with __call__) is simply not fused."""
    import dataclasses

    @dataclasses.dataclass
    class Scaled:
        k: float

        def __call__(self, x):
            return ops.multiply(x, self.k)

    x = RNG.normal(size=(2, 5)).astype("float32")
    model = Sequential([Dense(3, input_shape=(5,)), Activation(Scaled(2.0))])
    d = model.layers[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), 2 * (x @ d.kernel.numpy() + d.bias.numpy()), rtol=1e-6)
    assert Dense(3, activation=Scaled(2.0))(x).shape == (2, 3)


def test_activation_state_of_a_previous_call_is_reset():
    """A penalty an Activation recorded in an earlier (unfused) call must not linger once the pair
    runs fused."""
    x = RNG.normal(size=(4, 5)).astype("float32")
    act = Activation("tanh")
    act.activity_regularizer = regularizers.get("l2")
    model = Sequential([Dense(3, input_shape=(5,)), act])
    model(x)
    assert len(model.losses) == 1
    act.activity_regularizer = None
    model(x)  # now fused
    assert model.losses == []


def test_class_level_patches_see_both_layers(monkeypatch):
    x = RNG.normal(size=(2, 5)).astype("float32")
    model = Sequential([Dense(3, input_shape=(5,)), Activation("tanh")])
    seen = []
    real = layers.Layer.__call__

    def traced(self, *args, **kwargs):
        seen.append(type(self).__name__)
        return real(self, *args, **kwargs)
    monkeypatch.setattr(layers.Layer, "__call__", traced)
    model(x)
    assert seen == ["Sequential", "Dense", "Activation"]
    monkeypatch.undo()
    monkeypatch.setattr(Activation, "call", lambda self, inputs: ops.multiply(inputs, 0.0))
    np.testing.assert_array_equal(model(x).numpy(), np.zeros((2, 3), "float32"))


# --- Dense + Activation + Dropout in a Sequential model's training step -----------------------------

class PlainDropout(Dropout):
    """A subclass: never folded into the Dense op, so it gives the layer-by-layer reference."""


def _dropout_mlp(dropout_cls, act: str, dtype: str = "float32", seed: int = 11) -> Sequential:
    lamina_seed(seed)  # the Dropout layers draw their seeds from the global generator
    model = Sequential([Dense(16, input_shape=(5,), dtype=dtype), Activation(act), dropout_cls(0.5),
                        Dense(16, dtype=dtype), Activation(act), dropout_cls(0.2),
                        Dense(3, dtype=dtype), Activation("softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.2, momentum=0.9, nesterov=True),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def lamina_seed(seed: int) -> None:
    from lamina.utils import set_random_seed
    set_random_seed(seed)


@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid", "linear"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sequential_triple_in_training_is_one_op_and_bit_identical(act, dtype, dense_calls):
    x, y = _data(60, dtype)
    fused, plain = _dropout_mlp(Dropout, act, dtype), _dropout_mlp(PlainDropout, act, dtype)
    fused.build((None, 5))
    plain.build((None, 5))
    plain.set_weights(fused.get_weights())
    dense_calls.clear()
    lamina_seed(3)  # fit shuffles with a seed from the global generator
    hf = fused.fit(x, y, batch_size=20, epochs=2, verbose=0).history
    # Per training step: both hidden triples as one op each, the output pair as one op.
    assert dense_calls[:3] == [f"{act}+dropout", f"{act}+dropout", "softmax"]
    lamina_seed(3)
    hp = plain.fit(x, y, batch_size=20, epochs=2, verbose=0).history
    _same_history(hf, hp, dtype)
    for wf, wp in zip(fused.get_weights(), plain.get_weights()):
        _same(wf, wp, dtype)
    # Each Dropout drew one (seed, counter) per step either way, and is built as if called.
    drops_f = [lay for lay in fused.layers if isinstance(lay, Dropout)]
    drops_p = [lay for lay in plain.layers if isinstance(lay, Dropout)]
    assert [d.seed_generator.counter for d in drops_f] == [d.seed_generator.counter for d in drops_p] == [6, 6]
    assert all(lay.built for lay in fused.layers)
    dense_calls.clear()
    _same(fused.predict(x, verbose=0), plain.predict(x, verbose=0), dtype)
    assert "+dropout" not in "".join(dense_calls)  # inference: the Dropout is the identity


def test_fused_dropout_gradient_matches_finite_differences():
    """The gradient through Dense + tanh + Dropout (one op) against central differences with the
    same mask: the mask is a constant of the step, drawn once by the layer's own generator."""
    model = Sequential([Dense(4, input_shape=(5,), dtype="float64"), Activation("tanh"),
                        Dropout(0.5, seed=5)])
    dense, drop = model.layers[0], model.layers[2]
    x = ops.convert_to_tensor(RNG.normal(size=(3, 5)))
    model(x)
    w0 = dense.kernel.numpy()
    drop.seed_generator.counter = 0
    with ops.GradientTape() as tape:
        loss = ops.sum(ops.square(model(x, training=True)))
    (gk,) = tape.gradient(loss, [dense.kernel])
    mask = ops.backend_object().to_numpy(ops.backend_object().dropout_mask((3, 4), 0.5, drop.seed_generator.seed, 0,
                                                                            "float64"))
    assert 0 < np.count_nonzero(mask) < mask.size  # some kept, some dropped

    def f(w):
        return float(np.sum((np.tanh(x.numpy() @ w + dense.bias.numpy()) * mask) ** 2))
    np.testing.assert_allclose(gk.numpy(), _central_differences(f, w0), rtol=1e-6, atol=1e-9)


def test_cases_that_keep_the_dropout_layer(dense_calls):
    assert dropout_to_fuse(Dropout(0.5), True) == "mask"  # the op applies its mask
    # Where its call returns its input (inference, rate 0; noise_shape then plays no part) it is
    # folded too, as nothing but the layer's own bookkeeping.
    assert dropout_to_fuse(Dropout(0.5), False) == dropout_to_fuse(Dropout(0.5), None) == "identity"
    assert dropout_to_fuse(Dropout(0.0), True) == dropout_to_fuse(Dropout(0.5, noise_shape=(None, 1)), False) \
        == "identity"
    assert dropout_to_fuse(PlainDropout(0.5), True) is None and dropout_to_fuse(PlainDropout(0.5), False) is None
    assert dropout_to_fuse(Dropout(0.5, noise_shape=(None, 1)), True) is None
    assert not dropout_to_fuse(Activation("tanh"), True)
    regularized = Dropout(0.5)
    regularized.activity_regularizer = regularizers.get("l2")
    assert not dropout_to_fuse(regularized, True) and not dropout_to_fuse(regularized, False)
    replaced = Dropout(0.5)
    replaced.call = lambda inputs, training=None: ops.multiply(inputs, 0.0)
    assert not dropout_to_fuse(replaced, True) and not dropout_to_fuse(replaced, False)
    # In a model: the replaced Dropout runs as written (zeros), the pair before it still fused.
    x = RNG.normal(size=(4, 5)).astype("float32")
    model = Sequential([Dense(3, input_shape=(5,)), Activation("tanh"), replaced])
    dense_calls.clear()
    np.testing.assert_array_equal(model(x, training=True).numpy(), np.zeros((4, 3), "float32"))
    assert dense_calls == ["tanh"]


def test_class_level_dropout_patch_disables_the_fusion(monkeypatch, dense_calls):
    x = RNG.normal(size=(4, 5)).astype("float32")
    model = Sequential([Dense(3, input_shape=(5,)), Activation("tanh"), Dropout(0.5)])
    monkeypatch.setattr(Dropout, "call", lambda self, inputs, training=None: ops.negative(inputs))
    dense_calls.clear()
    d = model.layers[0]
    np.testing.assert_allclose(model(x, training=True).numpy(), -np.tanh(x @ d.kernel.numpy() + d.bias.numpy()),
                               rtol=1e-6)
    assert dense_calls == ["tanh"]


def _functional_dropout(dropout_cls, dropout_output_read_twice: bool = False) -> Model:
    lamina_seed(21)
    inp = Input(shape=(5,))
    a = Activation("tanh")(Dense(8)(inp))
    dropped = dropout_cls(0.5)(a)
    out = Activation("softmax")(Dense(3)(dropped))
    if dropout_output_read_twice:  # the Dropout's output may have any number of readers
        return Model(inp, [out, dropped])
    return Model(inp, out)


@pytest.mark.parametrize("read_twice", [False, True])
def test_functional_triple_in_training_is_one_op_and_bit_identical(read_twice, dense_calls):
    x, y = _data(30)
    fused, plain = _functional_dropout(Dropout, read_twice), _functional_dropout(PlainDropout, read_twice)
    plain.set_weights(fused.get_weights())
    losses = ["categorical_crossentropy"] + (["mse"] if read_twice else [])
    ys = [y] + ([np.zeros((30, 8), "float32")] if read_twice else [])
    for model in (fused, plain):
        model.compile(optimizer=optimizers.SGD(learning_rate=0.3), loss=losses)
    dense_calls.clear()
    first = fused.train_on_batch(x, ys)
    assert dense_calls == ["tanh+dropout", "softmax"]
    assert first == plain.train_on_batch(x, ys)
    for _ in range(2):
        _same(fused.train_on_batch(x, ys), plain.train_on_batch(x, ys))
    for wf, wp in zip(fused.get_weights(), plain.get_weights()):
        _same(wf, wp)


def test_functional_activation_output_read_elsewhere_keeps_the_dropout(dense_calls):
    lamina_seed(22)
    inp = Input(shape=(5,))
    a = Activation("tanh")(Dense(8)(inp))
    model = Model(inp, [Dropout(0.5)(a), a])  # the Activation's output is also a model output
    x = RNG.normal(size=(4, 5)).astype("float32")
    dense_calls.clear()
    dropped, kept = model(x, training=True)
    assert dense_calls == ["tanh"]
    mask = dropped.numpy() / np.where(kept.numpy() == 0, 1, kept.numpy())
    assert set(np.round(np.unique(mask), 5)) <= {0.0, 2.0}


def test_a_failed_call_does_not_use_up_the_folded_dropouts_draw():
    """A call that fails in the Dense layer never reached the Dropout layer, so its counter stays
    where the layer-by-layer path leaves it (found by a reviewer)."""
    for dropout_cls in (Dropout, PlainDropout):
        model = Sequential([Dense(4, input_shape=(5,)), Activation("tanh"), dropout_cls(0.5)])
        with pytest.raises(ValueError, match="last axis"):
            model(np.zeros((2, 6), "float32"), training=True)
        assert model.layers[2].seed_generator.counter == 0, dropout_cls
        model(np.zeros((2, 5), "float32"), training=True)
        assert model.layers[2].seed_generator.counter == 1, dropout_cls


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_inference_dropout_is_folded_as_the_identity(kind, monkeypatch, dense_calls):
    """In inference (and at rate 0 in training) a Dropout after a fused pair returns its input, so
    it is folded without a call: the same outputs as the unfused reference, no draw from its
    generator, the layer built and its previous call's losses and metrics reset, as a call would."""
    def build(dropout_cls, rate):
        lamina_seed(23)
        if kind == "sequential":
            model = Sequential([Dense(6, input_shape=(5,)), Activation("tanh"), dropout_cls(rate),
                                Dense(3), Activation("softmax")])
        else:
            inp = Input(shape=(5,))
            dropped = dropout_cls(rate)(Activation("tanh")(Dense(6)(inp)))
            model = Model(inp, Activation("softmax")(Dense(3)(dropped)))
        model.build((None, 5))
        return model

    calls = []
    real_mask = Layer._incoming_mask  # every eager Layer.__call__ asks for it, and the fusion checks do not look

    def counting(self, *args, **kwargs):
        calls.append(type(self).__name__)
        return real_mask(self, *args, **kwargs)

    x = RNG.normal(size=(8, 5)).astype("float32")
    for rate, training in ((0.5, False), (0.5, None), (0.0, True)):
        fused, plain = build(Dropout, rate), build(PlainDropout, rate)
        plain.set_weights(fused.get_weights())
        drop = next(lay for lay in fused.layers if type(lay) is Dropout)
        drop._call_losses, drop._call_metrics = ["stale"], {"stale": 1}
        counter = drop.seed_generator.counter
        monkeypatch.setattr(Layer, "_incoming_mask", counting)
        dense_calls.clear()
        calls.clear()
        got = fused(x, training=training).numpy()
        assert "Dropout" not in calls and dense_calls == ["tanh", "softmax"], (rate, training, calls)
        calls.clear()
        plain(x, training=training)
        assert "PlainDropout" in calls  # the reference calls its layer
        monkeypatch.setattr(Layer, "_incoming_mask", real_mask)
        np.testing.assert_array_equal(got, plain(x, training=training).numpy())
        assert drop.seed_generator.counter == counter and drop.built
        assert drop._call_losses == [] and drop._call_metrics == {}


class _FlipOnce:
    """A ``training`` flag that is falsy the first time it is tested and truthy after (a contrived
    object: the fold must test it once, as ``Dropout.call`` does)."""

    def __init__(self):
        self.tests = 0

    def __bool__(self):
        self.tests += 1
        return self.tests > 1


def test_the_dropout_fold_tests_training_once():
    """``training`` is tested once for the folded Dropout, as its own call tests it once: a flag whose
    truth changes between tests gives the unfused reference's output and draws (here the identity,
    no draw), never a mask of the wrong shape for a ``noise_shape`` layer."""
    def build(dropout_cls):
        lamina_seed(29)
        model = Sequential([Dense(6, input_shape=(5,)), Activation("tanh"), dropout_cls(0.5, noise_shape=(None, 1))])
        model.build((None, 5))
        return model

    fused, plain = build(Dropout), build(PlainDropout)
    plain.set_weights(fused.get_weights())
    x = RNG.normal(size=(8, 5)).astype("float32")
    flag_f, flag_p = _FlipOnce(), _FlipOnce()
    got, want = fused(x, training=flag_f).numpy(), plain(x, training=flag_p).numpy()
    np.testing.assert_array_equal(got, want)
    assert fused.layers[2].seed_generator.counter == plain.layers[2].seed_generator.counter == 0
    assert flag_f.tests == flag_p.tests == 1
