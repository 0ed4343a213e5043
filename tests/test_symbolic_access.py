"""Symbolic access as classic Keras scripts use it: ``model.input``/``output``, a layer's
``input``/``output``/shapes, ``K.int_shape`` on symbolic tensors, ``K.function`` with the learning
phase, and the one error for math on a symbolic tensor outside a layer."""
from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import backend as K
from lamina import ops
from lamina.layers import Concatenate, Dense, Dropout, Input
from lamina.models import Model, Sequential, load_model


def data(n=32, features=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)).astype("float32")


def trained_mlp():
    """A small trained classifier: Dense(relu), Dropout, Dense(tanh), Dense(softmax)."""
    lamina.utils.set_random_seed(0)
    model = Sequential([Dense(8, activation="relu", input_shape=(6,)), Dropout(0.5), Dense(5, activation="tanh"),
                        Dense(3, activation="softmax")])
    x = data(64)
    y = lamina.utils.to_categorical(x[:, :3].argmax(1), 3)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    return model


def run_layers(layers, x):
    """The layers applied one by one in inference mode: the reference activations."""
    out, acts = ops.convert_to_tensor(x), []
    for layer in layers:
        out = layer(out, training=False)
        acts.append(out.numpy())
    return acts


# --- model.input / model.output ---------------------------------------------------------------

def test_sequential_feature_model_gives_the_trained_activations():
    model = trained_mlp()
    x = data(10, seed=3)
    assert model.input.shape == (None, 6) and model.output.shape == (None, 3)
    assert model.inputs == [model.input] and model.outputs == [model.output]
    assert model.layers[0].input is model.input and model.layers[-1].output is model.output
    feature = Model(inputs=model.input, outputs=model.layers[0].output)
    assert feature.layers[1] is model.layers[0]  # the same layer, so the same weights
    w, b = model.layers[0].get_weights()
    _same_as_host_product(feature.predict(x), np.maximum(x @ w + b, 0))
    deeper = Model(inputs=model.input, outputs=model.layers[2].output)
    np.testing.assert_array_equal(deeper.predict(x), run_layers(model.layers[:3], x)[-1])
    model.layers[0].set_weights([2 * w, b])  # shared weights: the feature model follows
    _same_as_host_product(feature.predict(x), np.maximum(x @ (2 * w) + b, 0))


def _same_as_host_product(got, want):
    """Bit for bit on NumPy; on a GPU within float32 rounding (its product adds in its own order: an
    H200 was 2 ulp off)."""
    if ops.backend_object().name == "numpy":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_model_of_every_layer_output_matches_running_the_layers():
    model = trained_mlp()
    x = data(9, seed=4)
    probe = Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    got = probe.predict(x)
    assert [g.shape for g in got] == [(9, 8), (9, 8), (9, 5), (9, 3)]
    for g, want in zip(got, run_layers(model.layers, x)):
        np.testing.assert_array_equal(g, want)
    np.testing.assert_array_equal(got[-1], model.predict(x))


def test_sequential_input_appears_once_the_input_shape_is_known():
    model = Sequential([Dense(4), Dense(2)])
    with pytest.raises(AttributeError, match="has no input yet"):
        model.input
    model.compile(optimizer="sgd", loss="mse")
    model.fit(data(8, features=7), np.zeros((8, 2), "float32"), verbose=0)
    assert model.input.shape == (None, 7) and model.output.shape == (None, 2)
    assert [layer.output_shape for layer in model.layers] == [(None, 4), (None, 2)]
    inp = Input(shape=(3,))
    started = Sequential([inp, Dense(2)])
    assert started.input is inp and started.layers[0].input is inp


def test_sequential_graph_follows_add_and_pop():
    model = Sequential([Dense(4, input_shape=(3,)), Dense(2)])
    first = model.layers[0]
    removed = model.pop()
    assert model.output is first.output and model.output.shape == (None, 4)
    model.add(Dense(6))
    assert model.output.shape == (None, 6) and len(first.inbound_nodes) == 1  # not called again
    assert removed.output.shape == (None, 2)


def test_sequential_with_a_model_first_takes_its_input_shape():
    a = Input(shape=(5,))
    base = Model(inputs=a, outputs=Dense(4)(a))
    top = Sequential([base, Dense(1)])
    assert top.input_shape == (None, 5) and top.output.shape == (None, 1)
    x = data(4, features=5)
    head = Model(inputs=top.input, outputs=top.layers[1].output)
    np.testing.assert_array_equal(head.predict(x), run_layers(top.layers, x)[-1])


def test_functional_input_and_output_are_as_given():
    a, b = Input(shape=(3,)), Input(shape=(2,))
    out = Dense(1)(Concatenate()([a, b]))
    single = Model(inputs=a, outputs=Dense(2)(a))
    assert single.input is a and single.output.shape == (None, 2)
    pair = Model(inputs=[a, b], outputs=[out])
    assert pair.input == [a, b] and pair.output == [out]


def test_feature_model_saves_and_loads(tmp_path):
    model = trained_mlp()
    assert len(model.get_config()["layers"]) == 4  # the graph's input adds no layer to the config
    feature = Model(inputs=model.input, outputs=model.layers[2].output)
    path = str(tmp_path / "feature.lamina")
    feature.save(path)
    x = data(5, seed=5)
    np.testing.assert_array_equal(load_model(path).predict(x), feature.predict(x))
    again = Sequential.from_config(model.get_config())
    assert again.output.shape == (None, 3)


# --- a layer's input / output -------------------------------------------------------------------

def test_layer_input_output_and_shapes_of_one_call():
    inp = Input(shape=(5, 3))
    dense = Dense(2)
    out = dense(inp)
    assert dense.input is inp and dense.output is out
    assert dense.input_shape == (None, 5, 3) and dense.output_shape == (None, 5, 2)
    input_layer = inp._keras_history[0]
    assert input_layer.input is inp and input_layer.output is inp and input_layer.output_shape == (None, 5, 3)
    concat = Concatenate()
    joined = concat([inp, inp])
    assert concat.input == [inp, inp] and concat.input_shape == [(None, 5, 3), (None, 5, 3)]
    assert joined.shape == (None, 5, 6) and concat.output_shape == (None, 5, 6)


def test_layer_called_never_or_several_times():
    with pytest.raises(AttributeError, match="has not been called"):
        Dense(3).output
    shared = Dense(4)
    a, b, c = Input(shape=(2,)), Input(shape=(2,)), Input(shape=(3, 2))
    first, second = shared(a), shared(b)
    with pytest.raises(AttributeError, match="called 2 times.*get_output_at"):
        shared.output
    with pytest.raises(AttributeError, match="get_input_at"):
        shared.input
    assert shared.get_output_at(0) is first and shared.get_output_at(1) is second
    assert shared.get_input_at(1) is b
    assert shared.input_shape == (None, 2)  # the same for both calls, as in Keras
    other = Dense(4)
    other(a), other(c)
    with pytest.raises(AttributeError, match="different shapes.*get_input_shape_at"):
        other.input_shape
    assert other.get_input_shape_at(1) == (None, 3, 2) and other.get_output_shape_at(1) == (None, 3, 4)
    with pytest.raises(ValueError, match="called 2 time"):
        shared.get_output_at(2)


# --- K on symbolic tensors --------------------------------------------------------------------

def test_k_shape_functions_read_symbolic_shapes():
    t = Dense(2)(Input(shape=(5, 3)))
    assert K.int_shape(t) == (None, 5, 2) and K.shape(t) == (None, 5, 2)
    assert K.ndim(t) == 3 and K.dtype(t) == "float32"
    assert K.is_keras_tensor(t) and not K.is_keras_tensor(np.zeros(2))
    assert K.int_shape(np.zeros((4, 3))) == (4, 3) and K.ndim(np.zeros((4, 3))) == 2


def test_k_function_returns_intermediate_arrays():
    model = trained_mlp()
    x = data(7, seed=6)
    get_out = K.function([model.layers[0].input], [model.layers[2].output])
    got = get_out([x])
    assert isinstance(got, list) and len(got) == 1 and got[0].shape == (7, 5)
    np.testing.assert_array_equal(got[0], run_layers(model.layers[:3], x)[-1])
    single = K.function(model.input, model.output)
    np.testing.assert_array_equal(single(x), model.predict(x))


def test_k_function_learning_phase_switches_dropout():
    model = trained_mlp()
    x = data(200, seed=7)
    f = K.function([model.input, K.learning_phase()], [model.layers[1].output])
    dense = run_layers(model.layers[:1], x)[0]
    np.testing.assert_array_equal(f([x, 0])[0], dense)  # inference: dropout is the identity
    train = f([x, 1])[0]
    live = dense > 0
    kept = train[live] != 0
    np.testing.assert_allclose(train[live][kept], 2 * dense[live][kept], rtol=1e-6)  # kept units scaled by 1/(1-0.5)
    assert 0.35 < 1 - kept.mean() < 0.65  # about half of the units dropped
    with pytest.raises(ValueError, match="0 \\(inference\\) or 1"):
        f([x, 2])


def test_k_function_refuses_intermediate_inputs():
    model = trained_mlp()
    with pytest.raises(ValueError, match="must be model inputs"):
        K.function([model.layers[2].input], [model.output])


# --- math on symbolic tensors -------------------------------------------------------------------

@pytest.mark.parametrize("name, call", [
    ("K.exp", lambda i, t: K.exp(t)),
    ("K.mean", lambda i, t: K.mean(t)),
    ("K.square", lambda i, t: K.square(t)),
    ("K.sum", lambda i, t: K.sum(t, axis=1)),
    ("lamina.ops.exp", lambda i, t: ops.exp(t)),
    ("lamina.losses.binary_crossentropy", lambda i, t: lamina.losses.binary_crossentropy(i, t)),
    ("The + operator", lambda i, t: 1 + t),
    ("The * operator", lambda i, t: t * 2),
    ("The >= operator", lambda i, t: t >= 0.5),
    ("The + operator", lambda i, t: ops.ones((4,)) + t),
])
def test_math_on_a_symbolic_tensor_names_the_op_and_the_fix(name, call):
    inp = Input(shape=(4,))
    out = Dense(4, activation="sigmoid")(inp)
    with pytest.raises(TypeError) as info:
        call(inp, out)
    message = str(info.value)
    assert message.startswith(f"{name} got a symbolic tensor")
    assert "Lambda(" in message and "Layer" in message


def test_k_function_in_the_training_phase_leaves_moving_statistics_alone():
    from lamina.layers import BatchNormalization
    x = data()
    model = Sequential([Dense(4, input_shape=(6,)), BatchNormalization()])
    bn = model.layers[1]
    before = [w.numpy() for w in bn.non_trainable_weights]
    f = K.function([model.input, K.learning_phase()], [model.output])
    out = f([x, 1])[0]
    h = x @ model.layers[0].get_weights()[0] + model.layers[0].get_weights()[1]
    expected = (h - h.mean(0)) / np.sqrt(h.var(0) + bn.epsilon)  # the batch's statistics (gamma 1, beta 0)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    for a, w in zip(before, bn.non_trainable_weights):
        np.testing.assert_array_equal(a, w.numpy())


def test_the_symbolic_graph_reuses_the_shapes_build_found():
    """Connecting a Sequential's graph must not run a layer's call again: a custom layer without
    compute_output_shape is probed once by build, and a second probe would draw its random numbers
    again (a seeded fit would change) or repeat its side effects."""
    from lamina.layers import Layer

    class Counting(Layer):
        calls = 0

        def call(self, x):
            Counting.calls += 1
            return ops.add(x, ops.random_normal(tuple(x.shape), stddev=0.1))

    model = Sequential([Dense(3, input_shape=(4,)), Counting(), Dense(1)])
    assert Counting.calls == 2  # build's probe after each of the last two add()s, nothing more
    assert model.output.shape == (None, 1) and model.layers[1].output.shape == (None, 3)
    assert Counting.calls == 2


def test_set_learning_phase_decides_calls_without_training_and_nothing_else():
    model = Sequential([Dense(50, input_shape=(20,)), Dropout(0.5)])
    x = np.random.default_rng(2).normal(size=(8, 20)).astype("float32")
    inference = model(x, training=False).numpy()
    assert (inference == 0).mean() < 0.05
    try:
        K.set_learning_phase(1)
        dropped = model(x).numpy()
        assert 0.3 < (dropped == 0).mean() < 0.7  # Dropout(0.5) active
        kept = dropped != 0
        np.testing.assert_allclose(dropped[kept], 2 * inference[kept], rtol=1e-6)
        np.testing.assert_array_equal(model(x, training=False).numpy(), inference)  # an explicit phase wins
        np.testing.assert_array_equal(model.predict(x, verbose=0), inference)  # predict passes its own
        f = K.function([model.input], [model.output])  # no phase input: the global one
        assert 0.3 < (f([x])[0] == 0).mean() < 0.7
        K.set_learning_phase(0)
        np.testing.assert_array_equal(model(x).numpy(), inference)
        np.testing.assert_array_equal(f([x])[0], inference)
        with pytest.raises(ValueError, match=r"0 \(inference\) or 1 \(training\), got 2"):
            K.set_learning_phase(2)
        K.set_learning_phase(1)
        K.clear_session()  # clears it, as in Keras 2
        np.testing.assert_array_equal(model(x).numpy(), inference)
    finally:
        K.set_learning_phase(None)
