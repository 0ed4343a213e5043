"""Recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional): outputs against direct float64 NumPy
loops written here (the obviously correct definitions), gradients against central finite
differences, merge modes, config round trips, dropout masks, masks (a padded batch equals each
sequence run alone), stateful layers (two halves equal the whole), and a tiny sequence task that trains."""
from __future__ import annotations

import numpy as np
import pytest

from lamina import ops
from lamina.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN

from _gradcheck import _np, _t, check_layer_gradients, roundtrip

RNG = np.random.default_rng(7)


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


# --- float64 references: one time step at a time, straight from the formulas -------------------

def ref_simple_rnn(x, kernel, recurrent, bias, h0=None, backwards=False):
    batch, steps, _ = x.shape
    h = np.zeros((batch, recurrent.shape[0])) if h0 is None else h0
    outs = []
    for t in (reversed(range(steps)) if backwards else range(steps)):
        h = np.tanh(x[:, t] @ kernel + h @ recurrent + bias)
        outs.append(h)
    return np.stack(outs, axis=1), [h]


def ref_lstm(x, kernel, recurrent, bias, h0=None, c0=None, backwards=False):
    batch, steps, _ = x.shape
    u = recurrent.shape[0]
    h = np.zeros((batch, u)) if h0 is None else h0
    c = np.zeros((batch, u)) if c0 is None else c0
    outs = []
    for t in (reversed(range(steps)) if backwards else range(steps)):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = sigmoid(z[:, :u]), sigmoid(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), sigmoid(z[:, 3 * u:])
        c = f * c + i * g
        h = o * np.tanh(c)
        outs.append(h)
    return np.stack(outs, axis=1), [h, c]


def ref_gru(x, kernel, recurrent, bias, reset_after, h0=None, backwards=False):
    batch, steps, _ = x.shape
    u = recurrent.shape[0]
    h = np.zeros((batch, u)) if h0 is None else h0
    b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, np.zeros(3 * u))
    outs = []
    for t in (reversed(range(steps)) if backwards else range(steps)):
        xz, xr, xh = np.split(x[:, t] @ kernel + b_in, 3, axis=1)
        if reset_after:
            uz, ur, uh = np.split(h @ recurrent + b_rec, 3, axis=1)
            z, r = sigmoid(xz + uz), sigmoid(xr + ur)
            hh = np.tanh(xh + r * uh)
        else:
            z = sigmoid(xz + h @ recurrent[:, :u])
            r = sigmoid(xr + h @ recurrent[:, u:2 * u])
            hh = np.tanh(xh + (r * h) @ recurrent[:, 2 * u:])
        h = z * h + (1 - z) * hh
        outs.append(h)
    return np.stack(outs, axis=1), [h]


def make(cls, units, features, **kwargs):
    """A float64 layer, built, with random (non-trivial) weights."""
    layer = cls(units, dtype="float64", **kwargs)
    layer.build((None, None, features))
    layer.set_weights([RNG.normal(scale=0.5, size=w.shape) for w in layer.weights])
    return layer


def reference(layer, x, states=None, backwards=False):
    w = layer.get_weights()
    states = states or []
    if isinstance(layer, SimpleRNN):
        return ref_simple_rnn(x, *w, *states, backwards=backwards)
    if isinstance(layer, LSTM):
        return ref_lstm(x, *w, *states, backwards=backwards)
    return ref_gru(x, *w, layer.reset_after, *states, backwards=backwards)


CASES = [(SimpleRNN, {}), (LSTM, {}), (GRU, {"reset_after": True}), (GRU, {"reset_after": False})]
IDS = ["SimpleRNN", "LSTM", "GRU-reset_after", "GRU-reset_before"]
N_STATES = {SimpleRNN: 1, LSTM: 2, GRU: 1}


@pytest.mark.parametrize("cls, extra", CASES, ids=IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_outputs_match_numpy_loop(cls, extra, go_backwards):
    x = RNG.normal(size=(3, 5, 4))
    seq = make(cls, 6, 4, return_sequences=True, return_state=True, go_backwards=go_backwards, **extra)
    want_seq, want_states = reference(seq, x, backwards=go_backwards)
    got = seq(x)
    assert len(got) == 1 + N_STATES[cls]
    np.testing.assert_allclose(_np(got[0]), want_seq, rtol=1e-10, atol=1e-12)
    for g, w in zip(got[1:], want_states):
        np.testing.assert_allclose(_np(g), w, rtol=1e-10, atol=1e-12)
    last = cls(6, dtype="float64", go_backwards=go_backwards, **extra)
    last.build((None, 5, 4))
    last.set_weights(seq.get_weights())
    out = last(x)
    assert out.shape == (3, 6)
    np.testing.assert_allclose(_np(out), want_seq[:, -1], rtol=1e-10, atol=1e-12)
    assert seq.compute_output_shape((None, 5, 4)) == [(None, 5, 6)] + [(None, 6)] * N_STATES[cls]
    assert last.compute_output_shape((None, 5, 4)) == (None, 6)


@pytest.mark.parametrize("cls, extra", CASES, ids=IDS)
def test_initial_state_matches_numpy_loop(cls, extra):
    x = RNG.normal(size=(2, 4, 3))
    states = [RNG.normal(size=(2, 5)) for _ in range(N_STATES[cls])]
    layer = make(cls, 5, 3, return_sequences=True, **extra)
    want, _ = reference(layer, x, states)
    np.testing.assert_allclose(_np(layer(x, initial_state=states)), want, rtol=1e-10, atol=1e-12)
    # the Keras list form [x, *states] is the same call
    np.testing.assert_allclose(_np(layer([x] + states)), want, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="state"):
        layer(x, initial_state=states + states)


def test_keras_weight_layout_and_defaults():
    lstm = LSTM(3)
    lstm.build((None, 7, 2))
    assert [w.shape for w in lstm.weights] == [(2, 12), (3, 12), (12,)]
    np.testing.assert_array_equal(lstm.get_weights()[2], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])  # unit_forget_bias
    recurrent = lstm.get_weights()[1]
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-5)  # orthogonal rows
    gru = GRU(3)
    gru.build((None, 7, 2))
    assert [w.shape for w in gru.weights] == [(2, 9), (3, 9), (2, 9)]
    gru2 = GRU(3, reset_after=False)
    gru2.build((None, 7, 2))
    assert gru2.weights[2].shape == (9,)
    assert SimpleRNN(4).activation(ops.convert_to_tensor(np.array([0.5]))).numpy()[0] == pytest.approx(np.tanh(0.5))
    assert LSTM(2).get_config()["recurrent_activation"] == "sigmoid"
    old = LSTM(output_dim=4, inner_activation="hard_sigmoid", dropout_W=0.1, dropout_U=0.2)  # Keras 1/2 names
    assert (old.units, old.dropout, old.recurrent_dropout) == (4, 0.1, 0.2)
    assert old.get_config()["recurrent_activation"] == "hard_sigmoid"
    with pytest.raises(ValueError, match="stateful, so it needs a fixed batch size"):
        LSTM(4, stateful=True).build((None, 7, 2))
    with pytest.raises(ValueError, match="units"):
        GRU(0)


@pytest.mark.parametrize("cls, extra", CASES, ids=IDS)
def test_gradients_match_finite_differences(cls, extra):
    x = RNG.normal(size=(2, 3, 2))
    layer = make(cls, 3, 2, return_sequences=True, **extra)
    h0 = _t(RNG.normal(size=(2, 3)))
    check_layer_gradients(layer, x, RNG.normal(size=(2, 3, 3)), initial_state=[h0] * N_STATES[cls])


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merge_modes(merge_mode):
    x = RNG.normal(size=(2, 4, 3))
    layer = Bidirectional(LSTM(5, return_sequences=True, dtype="float64"), merge_mode=merge_mode, dtype="float64")
    layer.build((None, 4, 3))
    layer.set_weights([RNG.normal(scale=0.5, size=w.shape) for w in layer.weights])
    w = layer.get_weights()
    fw, _ = ref_lstm(x, *w[:3])
    bw, _ = ref_lstm(x, *w[3:], backwards=True)
    bw = bw[:, ::-1]  # back to forward time order
    want = {"concat": np.concatenate([fw, bw], -1), "sum": fw + bw, "mul": fw * bw, "ave": (fw + bw) / 2,
            None: [fw, bw]}[merge_mode]
    got = layer(x)
    if merge_mode is None:
        for g, v in zip(got, want):
            np.testing.assert_allclose(_np(g), v, rtol=1e-10, atol=1e-12)
        assert layer.compute_output_shape((None, 4, 3)) == [(None, 4, 5), (None, 4, 5)]
    else:
        np.testing.assert_allclose(_np(got), want, rtol=1e-10, atol=1e-12)
        assert layer.compute_output_shape((None, 4, 3)) == (None, 4, 10 if merge_mode == "concat" else 5)


def test_bidirectional_states_last_output_and_roundtrip():
    x = RNG.normal(size=(2, 4, 3))
    layer = Bidirectional(GRU(4, return_state=True, dtype="float64"), dtype="float64")
    layer.build((None, 4, 3))
    layer.set_weights([RNG.normal(scale=0.5, size=w.shape) for w in layer.weights])
    w = layer.get_weights()
    h0 = [RNG.normal(size=(2, 4)), RNG.normal(size=(2, 4))]
    out, h_f, h_b = layer(x, initial_state=h0)
    _, [want_f] = ref_gru(x, *w[:3], True, h0[0])
    _, [want_b] = ref_gru(x, *w[3:], True, h0[1], backwards=True)
    np.testing.assert_allclose(_np(out), np.concatenate([want_f, want_b], -1), rtol=1e-10)
    np.testing.assert_allclose(_np(h_f), want_f, rtol=1e-10)
    np.testing.assert_allclose(_np(h_b), want_b, rtol=1e-10)
    assert layer.compute_output_shape((None, 4, 3)) == [(None, 8), (None, 4), (None, 4)]
    clone = roundtrip(layer)
    assert clone.backward_layer.go_backwards and not clone.forward_layer.go_backwards
    clone.build((None, 4, 3))
    clone.set_weights(w)
    np.testing.assert_allclose(_np(clone(x, initial_state=h0)[0]), _np(out), rtol=1e-12)


@pytest.mark.parametrize("cls, extra", CASES, ids=IDS)
def test_config_roundtrip(cls, extra):
    layer = cls(7, return_sequences=True, go_backwards=True, dropout=0.25, recurrent_dropout=0.5, seed=3,
                kernel_regularizer="l2", use_bias=False, **extra)
    clone = roundtrip(layer)
    config = clone.get_config()
    assert (config["units"], config["dropout"], config["recurrent_dropout"], config["go_backwards"]) == (7, 0.25, 0.5, True)
    if cls is GRU:
        assert config["reset_after"] == extra["reset_after"]
    if cls is LSTM:
        assert config["unit_forget_bias"] is True
    clone.build((None, 3, 2))
    assert len(clone.weights) == 2 and len(clone.losses) == 1


def test_dropout_masks_fixed_over_time_and_inference_identity():
    x = np.ones((4, 6, 5))
    layer = SimpleRNN(3, dropout=0.5, seed=11, dtype="float64", return_sequences=True)
    layer.build((None, 6, 5))
    layer.set_weights([np.eye(5, 3), np.zeros((3, 3)), np.zeros(3)])  # h_t = tanh(masked x_t[:, :3])
    out = _np(layer(x, training=True))
    assert np.allclose(out, out[:, :1])  # the same input mask at every step
    assert set(np.round(out.ravel(), 6)) <= {0.0, round(np.tanh(2.0), 6)}  # kept inputs scaled by 1/(1-0.5)
    assert 0 < np.mean(out == 0) < 1
    np.testing.assert_allclose(_np(layer(x, training=False)), np.tanh(np.ones((4, 6, 3))))
    again = SimpleRNN(3, dropout=0.5, seed=11, dtype="float64", return_sequences=True)
    again.build((None, 6, 5))
    again.set_weights(layer.get_weights())
    np.testing.assert_array_equal(_np(again(x, training=True)), out)  # Philox: same seed, same mask

    rec = LSTM(4, recurrent_dropout=0.5, seed=5, dtype="float64")
    rec.build((None, 6, 5))
    np.testing.assert_allclose(_np(rec(x, training=False)), ref_lstm(x, *rec.get_weights())[0][:, -1], rtol=1e-10)
    assert not np.allclose(_np(rec(x, training=True)), _np(rec(x, training=False)))


def test_functional_graph_with_initial_state():
    from lamina.layers import Dense, Input
    from lamina.models import Model
    seq, h_in, c_in = Input((5, 3)), Input((4,)), Input((4,))
    out, h, c = LSTM(4, return_state=True)(seq, initial_state=[h_in, c_in])
    model = Model([seq, h_in, c_in], [Dense(2)(out), h, c])
    xs = [RNG.normal(size=(2, 5, 3)).astype("float32"), np.zeros((2, 4), "float32"), np.zeros((2, 4), "float32")]
    y, h_out, c_out = model.predict(xs, verbose=0)
    assert y.shape == (2, 2) and h_out.shape == (2, 4) and c_out.shape == (2, 4)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_tiny_sequence_task_trains(cls):
    """Sign of the sum of a noisy sequence: loss must fall well below its start."""
    from lamina.layers import Dense
    from lamina.models import Sequential
    from lamina.optimizers import Adam
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 6, 2)).astype("float32")
    y = (x[:, :, 0].sum(axis=1) > 0).astype("float32")[:, None]
    model = Sequential([cls(8, input_shape=(6, 2)), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=Adam(learning_rate=0.02), metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert history.history["accuracy"][-1] > 0.9


# --- masks ---------------------------------------------------------------------------------------

LENGTHS = [5, 3, 1]


def padded_batch(features, garbage=True):
    """Three sequences of LENGTHS, right-padded to 5 steps with noise (which the mask must hide)."""
    x = RNG.normal(size=(len(LENGTHS), max(LENGTHS), features))
    mask = np.arange(max(LENGTHS))[None, :] < np.array(LENGTHS)[:, None]
    if not garbage:
        x[~mask] = 0.0
    return x, mask


@pytest.mark.parametrize("cls, extra", CASES, ids=IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_batch_equals_each_sequence_alone(cls, extra, go_backwards):
    x, mask = padded_batch(3)
    seq = make(cls, 4, 3, return_sequences=True, return_state=True, go_backwards=go_backwards, **extra)
    got = seq(x, mask=mask)
    last = cls(4, dtype="float64", return_state=True, go_backwards=go_backwards, **extra)
    last.build((None, None, 3))
    last.set_weights(seq.get_weights())
    got_last = last(x, mask=mask.astype("float64"))  # a 0/1 mask means the same
    steps = x.shape[1]
    for i, n in enumerate(LENGTHS):
        want_seq, want_states = reference(seq, x[i:i + 1, :n], backwards=go_backwards)
        out = _np(got[0])[i]
        if go_backwards:
            # processing order: the padded steps come first, before any output, so they give zeros
            np.testing.assert_array_equal(out[:steps - n], 0.0)
            np.testing.assert_allclose(out[steps - n:], want_seq[0], rtol=1e-10, atol=1e-12)
        else:
            np.testing.assert_allclose(out[:n], want_seq[0], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(out[n:], np.repeat(want_seq[0, -1:], steps - n, 0), rtol=1e-10, atol=1e-12)
        for g, w in zip(got[1:], want_states):
            np.testing.assert_allclose(_np(g)[i], w[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(_np(got_last[0])[i], want_seq[0, -1], rtol=1e-10, atol=1e-12)


def test_mask_zero_output_initial_state_and_gradient():
    x, mask = padded_batch(2)
    layer = make(LSTM, 3, 2, return_sequences=True, zero_output_for_mask=True)
    h0, c0 = RNG.normal(size=(3, 3)), RNG.normal(size=(3, 3))
    out = _np(layer(x, mask=mask, initial_state=[h0, c0]))
    np.testing.assert_array_equal(out[~mask], 0.0)
    for i, n in enumerate(LENGTHS):
        want, _ = reference(layer, x[i:i + 1, :n], [h0[i:i + 1], c0[i:i + 1]])
        np.testing.assert_allclose(out[i, :n], want[0], rtol=1e-10, atol=1e-12)
    # masked steps get no gradient: the inputs under the mask do not influence anything
    xt = _t(x)
    with ops.GradientTape() as tape:
        tape.watch(xt)
        loss = ops.sum(ops.square(layer(xt, mask=mask)))
    grad = _np(tape.gradient(loss, xt))
    np.testing.assert_array_equal(grad[~mask], 0.0)
    assert np.all(np.abs(grad[mask]).sum(axis=-1) > 0)
    with pytest.raises(ValueError, match=r"mask of shape \(batch, time\)"):
        layer(x, mask=mask[:, :4])


def test_compute_mask_keras_rules():
    mask = ops.convert_to_tensor(np.array([[True, False]]))
    assert LSTM(2, return_sequences=True).compute_mask(None, mask) is mask
    assert LSTM(2).compute_mask(None, mask) is None
    assert LSTM(2, return_sequences=True, return_state=True).compute_mask(None, mask) == [mask, None, None]
    assert GRU(2, return_state=True).compute_mask(None, [mask, None]) == [None, None]
    bi = Bidirectional(GRU(2, return_sequences=True), merge_mode=None)
    assert bi.compute_mask(None, mask) == [mask, mask]
    assert Bidirectional(LSTM(2, return_state=True)).compute_mask(None, mask) == [None] * 5


@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_with_mask(return_sequences):
    x, mask = padded_batch(3)
    layer = Bidirectional(GRU(4, return_sequences=return_sequences, dtype="float64"), dtype="float64")
    layer.build((None, 5, 3))
    layer.set_weights([RNG.normal(scale=0.5, size=w.shape) for w in layer.weights])
    w = layer.get_weights()
    got = _np(layer(x, mask=mask))
    for i, n in enumerate(LENGTHS):
        fw, _ = ref_gru(x[i:i + 1, :n], *w[:3], True)
        bw, _ = ref_gru(x[i:i + 1, :n], *w[3:], True, backwards=True)
        if return_sequences:
            want = np.concatenate([fw[0], bw[0, ::-1]], -1)
            np.testing.assert_allclose(got[i, :n], want, rtol=1e-10, atol=1e-12)
            np.testing.assert_array_equal(got[i, n:], 0.0)  # Keras: zero outputs at masked steps
        else:
            np.testing.assert_allclose(got[i], np.concatenate([fw[0, -1], bw[0, -1]]), rtol=1e-10, atol=1e-12)
    assert layer.forward_layer.zero_output_for_mask is return_sequences


def test_bidirectional_leaves_the_given_layer_alone():
    """Keras treats the wrapped layer as a template: both directions are new layers built from its
    config, so setting zero_output_for_mask on them does not change the user's object."""
    template = GRU(4, return_sequences=True, name="gru_t")
    layer = Bidirectional(template)
    assert layer.forward_layer is not template and layer.backward_layer is not template
    assert template.zero_output_for_mask is False
    assert layer.forward_layer.zero_output_for_mask is True and layer.backward_layer.zero_output_for_mask is True
    assert (layer.forward_layer.name, layer.backward_layer.name) == ("forward_gru_t", "backward_gru_t")
    assert not layer.forward_layer.go_backwards and layer.backward_layer.go_backwards
    assert Bidirectional.from_config(layer.get_config()).forward_layer.name == "forward_gru_t"


def test_embedding_mask_reaches_the_rnn():
    from lamina.layers import Embedding
    from lamina.models import Sequential
    tokens = np.array([[4, 2, 7, 0, 0], [3, 0, 0, 0, 0]])
    model = Sequential([Embedding(10, 3, mask_zero=True, dtype="float64"), LSTM(4, dtype="float64")])
    got = _np(model(tokens))
    for i, n in enumerate([3, 1]):
        np.testing.assert_allclose(got[i], _np(model(tokens[i:i + 1, :n]))[0], rtol=1e-10, atol=1e-12)


# --- stateful ------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls, extra", CASES, ids=IDS)
def test_stateful_halves_equal_the_whole_sequence(cls, extra):
    x = RNG.normal(size=(2, 6, 3))
    layer = cls(4, dtype="float64", stateful=True, return_sequences=True, return_state=True, **extra)
    layer.build((2, None, 3))
    layer.set_weights([RNG.normal(scale=0.5, size=w.shape) for w in layer.weights])
    assert len(layer.weights) == 3 and all(w.trainable for w in layer.weights)  # states are not weights
    want_seq, want_states = reference(layer, x)
    first = layer(x[:, :3])
    second = layer(x[:, 3:])
    np.testing.assert_allclose(_np(first[0]), want_seq[:, :3], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(second[0]), want_seq[:, 3:], rtol=1e-10, atol=1e-12)
    for got, want, kept in zip(second[1:], want_states, layer.states):
        np.testing.assert_allclose(_np(got), want, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(_np(kept), want, rtol=1e-10, atol=1e-12)
    layer.reset_states()
    np.testing.assert_array_equal(_np(layer.states[0]), 0.0)
    np.testing.assert_allclose(_np(layer(x[:, :3])[0]), want_seq[:, :3], rtol=1e-10, atol=1e-12)
    given = [RNG.normal(size=(2, 4)) for _ in range(N_STATES[cls])]
    layer.reset_states(given)
    want_given, _ = reference(layer, x, given)
    np.testing.assert_allclose(_np(layer(x)[0]), want_given, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="fixed batch size of 2, but got a batch of 3"):
        layer(RNG.normal(size=(3, 6, 3)))
    with pytest.raises(ValueError, match="states have shape"):
        layer.reset_states([np.zeros((3, 4))] * N_STATES[cls])


def test_stateful_states_hold_no_graph_and_config_roundtrip():
    layer = LSTM(3, stateful=True, batch_input_shape=(2, 4, 2), dtype="float64")
    layer.build((2, 4, 2))
    x = _t(RNG.normal(size=(2, 4, 2)))
    with ops.GradientTape() as tape:
        loss = ops.sum(layer(x))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(g is not None for g in grads)
    assert all(not s._tracked and not s._parents for s in layer.states)
    config = roundtrip(layer).get_config()
    assert config["stateful"] is True and config["batch_input_shape"] == [2, 4, 2]
    plain = LSTM(3)
    plain.reset_states()  # not stateful: nothing to reset (Keras 3)
    assert plain.states is None
    with pytest.raises(ValueError, match="not stateful"):
        plain.reset_states([np.zeros((1, 3))] * 2)


def test_stateful_models_reset_states_and_need_a_batch_size():
    from lamina.layers import Dense, Input
    from lamina.models import Model, Sequential
    x = RNG.normal(size=(4, 6, 3)).astype("float32")
    model = Sequential([GRU(5, stateful=True, batch_input_shape=(4, 3, 3)), Dense(2)])
    model.compile(loss="mse", optimizer="sgd")
    whole = Sequential([GRU(5, input_shape=(6, 3)), Dense(2)])
    whole.set_weights(model.get_weights())
    model.predict(x[:, :3], batch_size=4, verbose=0)
    np.testing.assert_allclose(model.predict(x[:, 3:], batch_size=4, verbose=0), whole.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    model.reset_states()
    np.testing.assert_array_equal(_np(model.layers[0].states[0]), 0.0)
    model.fit(x[:, :3], np.zeros((4, 2), "float32"), batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert not np.allclose(_np(model.layers[0].states[0]), 0.0)
    assert not model.layers[0].states[0]._tracked

    inp = Input((3, 3), batch_size=2)
    bi = Bidirectional(LSTM(2, stateful=True))
    functional = Model(inp, bi(inp))
    functional.predict(x[:2, :3], batch_size=2, verbose=0)
    assert len(bi.states) == 4 and not np.allclose(_np(bi.states[0]), 0.0)
    functional.reset_states()
    assert all(np.all(_np(s) == 0.0) for s in bi.states)

    with pytest.raises(ValueError, match="stateful, so it needs a fixed batch size"):
        Sequential([LSTM(2, stateful=True, input_shape=(3, 3))])  # built here, as the shape is known
    later = Sequential([LSTM(2, stateful=True)])
    with pytest.raises(ValueError, match="stateful, so it needs a fixed batch size"):
        later.predict(x[:, :3], verbose=0)


# --- the whole-sequence ops (ops.lstm_sequence, gru_sequence, simple_rnn_sequence) and the loop ----

_SEQUENCE_OPS = {LSTM: "lstm_sequence", GRU: "gru_sequence", SimpleRNN: "simple_rnn_sequence"}


@pytest.fixture
def sequence_calls(monkeypatch):
    """Counts calls of each whole-sequence op by name (the layers reach them through ``ops``)."""
    calls = {name: 0 for name in _SEQUENCE_OPS.values()}
    for name in calls:
        def spy(*args, _name=name, _op=getattr(ops, name), **kwargs):
            calls[_name] += 1
            return _op(*args, **kwargs)
        monkeypatch.setattr(ops, name, spy)
    return calls


def _loop(layer):
    """Switch the layer to its step loop."""
    layer._whole_sequence = lambda xk, states: None
    return layer


@pytest.mark.parametrize("layer_class", [LSTM, GRU, SimpleRNN])
@pytest.mark.parametrize("kwargs", [{}, {"return_sequences": True, "go_backwards": True},
                                    {"return_state": True}, {"use_bias": False}])
def test_whole_sequence_values_equal_the_step_loop_bit_for_bit(layer_class, kwargs, sequence_calls):
    x = RNG.standard_normal((4, 6, 3)).astype("float32")
    layer = layer_class(5, **kwargs)
    fused = layer(x)
    assert sequence_calls[_SEQUENCE_OPS[layer_class]] == 1
    loop = _loop(layer)(x)
    assert sequence_calls[_SEQUENCE_OPS[layer_class]] == 1
    for a, b in zip(fused if isinstance(fused, list) else [fused], loop if isinstance(loop, list) else [loop]):
        assert _np(a).tobytes() == _np(b).tobytes()


@pytest.mark.parametrize("layer_class", [GRU, SimpleRNN])
def test_whole_sequence_gradients_equal_the_step_loop(layer_class, sequence_calls):
    x = ops.Variable(RNG.standard_normal((3, 5, 4)))
    layer = layer_class(6, return_sequences=True, dtype="float64")
    grads = []
    for fused in (True, False):
        if not fused:
            _loop(layer)
        with ops.GradientTape() as tape:
            y = layer(x)
            loss = ops.sum(ops.multiply(y, ops.sin(y)))
        grads.append([_np(g) for g in tape.gradient(loss, [x] + layer.trainable_weights)])
    assert sequence_calls[_SEQUENCE_OPS[layer_class]] == 1
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("layer_class, kwargs", [
    (LSTM, {"activation": "relu"}), (LSTM, {"recurrent_activation": "hard_sigmoid"}),
    (GRU, {"activation": "relu"}), (GRU, {"recurrent_activation": "hard_sigmoid"}), (GRU, {"reset_after": False}),
    (SimpleRNN, {"activation": "relu"}),
    (LSTM, {"dtype": None}),  # float64 inputs into a float32 layer: the loop promotes, the op would not
    (GRU, {"dtype": None}), (SimpleRNN, {"dtype": None}),
])
def test_other_cells_and_mixed_dtypes_take_the_step_loop(layer_class, kwargs, sequence_calls):
    mixed = "dtype" in kwargs
    x = RNG.standard_normal((2, 3, 4))
    layer = layer_class(5, **{k: v for k, v in kwargs.items() if k != "dtype"})
    y = layer(x if mixed else x.astype("float32"))
    assert sequence_calls[_SEQUENCE_OPS[layer_class]] == 0
    assert y.dtype == ("float64" if mixed else "float32")
    assert _np(y).tobytes() == _np(_loop(layer)(x if mixed else x.astype("float32"))).tobytes()


def _scaled_recurrent(cls):
    class ScaledRecurrent(cls):
        def _recurrent(self, h):
            return ops.multiply(super()._recurrent(h), 0.5)
    return ScaledRecurrent


def _halved_step(cls):
    class HalvedStep(cls):
        def _step(self, xk_t, states, rec_mask):
            out, new = super()._step(xk_t, states, rec_mask)
            return ops.multiply(out, 0.5), [ops.multiply(s, 0.5) for s in new]
    return HalvedStep


def _doubled_bias_prepare(cls):
    class DoubledRecurrentBias(cls):
        def _prepare_step(self):
            super()._prepare_step()
            self._recurrent_bias = ops.multiply(self._recurrent_bias, 2.0)
    return DoubledRecurrentBias


@pytest.mark.parametrize("make", [
    lambda: _scaled_recurrent(LSTM)(6, return_sequences=True),
    lambda: _halved_step(LSTM)(6, return_sequences=True),
    lambda: _halved_step(GRU)(6, return_sequences=True),
    lambda: _doubled_bias_prepare(GRU)(6, return_sequences=True, bias_initializer="ones"),
    lambda: _halved_step(SimpleRNN)(6, return_sequences=True),
], ids=["LSTM-_recurrent", "LSTM-_step", "GRU-_step", "GRU-_prepare_step", "SimpleRNN-_step"])
def test_a_subclass_step_hook_runs_the_step_loop(make, sequence_calls):
    x = RNG.standard_normal((3, 5, 4)).astype("float32")
    layer = make()
    got = _np(layer(x))
    assert sum(sequence_calls.values()) == 0
    base = type(layer).__mro__[1](6, return_sequences=True)
    base.build(x.shape)
    base.set_weights(layer.get_weights())
    assert np.abs(got - _np(base(x))).max() > 1e-3  # the hook changed the result


def test_a_step_hook_replaced_on_the_instance_runs_the_step_loop(sequence_calls):
    x = RNG.standard_normal((3, 5, 4)).astype("float32")
    layer = GRU(6)
    plain = _np(layer(x))
    assert sequence_calls["gru_sequence"] == 1
    step = layer._step
    layer._step = lambda xk_t, states, rec_mask: (lambda out, new: (ops.multiply(out, 0.5), new))(
        *step(xk_t, states, rec_mask))
    halved = _np(layer(x))  # the states are untouched, so the last output is exactly half
    assert sequence_calls["gru_sequence"] == 1
    np.testing.assert_array_equal(halved, plain * np.float32(0.5))


def _f32(*shape):
    return np.zeros(shape, "float32")


@pytest.mark.parametrize("op, args, error", [
    ("lstm_sequence", (_f32(2, 3, 8), np.zeros((3, 2)), np.zeros((3, 2)), _f32(2, 8)), TypeError),  # float64 states
    ("gru_sequence", (_f32(2, 3, 6), np.zeros((3, 2)), _f32(2, 6)), TypeError),
    ("simple_rnn_sequence", (_f32(2, 3, 2), np.zeros((3, 2)), _f32(2, 2)), TypeError),
    ("gru_sequence", (_f32(2, 3, 5), _f32(3, 2), _f32(2, 6)), ValueError),            # 5 is not 3 * units
    ("lstm_sequence", (_f32(0, 3, 8), _f32(3, 2), _f32(3, 2), _f32(2, 8)), ValueError),  # no time step
    ("simple_rnn_sequence", (_f32(2, 3, 2), _f32(3, 2), _f32(2, 3)), ValueError),      # kernel not square
], ids=lambda v: v if isinstance(v, str) else None)
def test_whole_sequence_ops_reject_bad_inputs(op, args, error):
    """One clear error: mixed dtypes (TypeError, naming the cast to make) or shapes (ValueError)."""
    with pytest.raises(error, match="one dtype" if error is TypeError else "needs"):
        getattr(ops, op)(*args)
