"""ConvLSTM2D: outputs against a float64 reference written here with plain loops (the definition of
a 2-D cross-correlation with strides, padding and dilation, and of the LSTM gates), both data
formats, gradients against central finite differences, masks, stateful, config, save/load and a
tiny model that trains."""
from __future__ import annotations

import numpy as np
import pytest

from lamina import ops
from lamina.layers import ConvLSTM2D

from _gradcheck import _np, check_layer_gradients, roundtrip

RNG = np.random.default_rng(11)


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def conv2d_ref(x, kernel, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """Cross-correlation, index by index: x (batch, H, W, C), kernel (kh, kw, C, F); TensorFlow's
    padding (for 'same', the odd extra zero goes after the data)."""
    batch, rows, cols, _ = x.shape
    kh, kw, _, filters = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if padding == "valid":
        oh, ow, top, left = (rows - eh) // sh + 1, (cols - ew) // sw + 1, 0, 0
    else:
        oh, ow = -(-rows // sh), -(-cols // sw)
        top = max((oh - 1) * sh + eh - rows, 0) // 2
        left = max((ow - 1) * sw + ew - cols, 0) // 2
    out = np.zeros((batch, oh, ow, filters))
    for n in range(batch):
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    for b in range(kw):
                        r, q = i * sh + a * dh - top, j * sw + b * dw - left
                        if 0 <= r < rows and 0 <= q < cols:
                            out[n, i, j] += x[n, r, q] @ kernel[a, b]
    return out


def ref_conv_lstm(x, kernel, recurrent, bias, strides=(1, 1), padding="valid", dilation=(1, 1), states=None,
                  backwards=False):
    """The ConvLSTM2D of channels-last ``x`` (batch, time, H, W, C), one step at a time."""
    steps = x.shape[1]
    f = recurrent.shape[2]
    h, c = states if states else (None, None)
    outs = []
    for t in (reversed(range(steps)) if backwards else range(steps)):
        z = conv2d_ref(x[:, t], kernel, strides, padding, dilation) + bias
        if h is None:
            h = c = np.zeros(z.shape[:-1] + (f,))
        z = z + conv2d_ref(h, recurrent, (1, 1), "same")
        i, fg, g, o = sigmoid(z[..., :f]), sigmoid(z[..., f:2 * f]), np.tanh(z[..., 2 * f:3 * f]), sigmoid(z[..., 3 * f:])
        c = fg * c + i * g
        h = o * np.tanh(c)
        outs.append(h)
    return np.stack(outs, axis=1), [h, c]


def make(filters, kernel_size, frame, **kwargs):
    """A built float64 ConvLSTM2D with random weights; ``frame`` is one input frame's shape."""
    layer = ConvLSTM2D(filters, kernel_size, dtype="float64", **kwargs)
    layer.build((None, None) + tuple(frame))
    layer.set_weights([RNG.normal(scale=0.4, size=w.shape) for w in layer.weights])
    return layer


GEOMETRY = [  # kernel, strides, padding, dilation
    ((3, 3), (1, 1), "same", (1, 1)),
    ((3, 2), (1, 1), "valid", (1, 1)),
    ((3, 3), (2, 1), "valid", (1, 1)),
    ((2, 2), (2, 2), "same", (1, 1)),
    ((2, 2), (1, 1), "valid", (2, 1)),
]


@pytest.mark.parametrize("kernel, strides, padding, dilation", GEOMETRY,
                         ids=["same", "valid", "valid-strided", "same-even-strided", "dilated"])
def test_matches_loop_reference(kernel, strides, padding, dilation):
    x = RNG.normal(size=(2, 3, 5, 4, 2))
    layer = make(2, kernel, (5, 4, 2), strides=strides, padding=padding, dilation_rate=dilation,
                 return_sequences=True, return_state=True)
    want_seq, want_states = ref_conv_lstm(x, *layer.get_weights(), strides, padding, dilation)
    got = layer(x)
    assert got[0].shape == want_seq.shape
    assert layer.compute_output_shape((None, 3, 5, 4, 2)) == [(None, 3) + want_seq.shape[2:]] + \
        [(None,) + want_seq.shape[2:]] * 2
    np.testing.assert_allclose(_np(got[0]), want_seq, rtol=1e-10, atol=1e-12)
    for g, w in zip(got[1:], want_states):
        np.testing.assert_allclose(_np(g), w, rtol=1e-10, atol=1e-12)


def test_go_backwards_initial_state_and_last_output():
    x = RNG.normal(size=(2, 3, 4, 4, 1))
    layer = make(2, 3, (4, 4, 1), padding="same", go_backwards=True)
    states = [RNG.normal(size=(2, 4, 4, 2)) for _ in range(2)]
    want, _ = ref_conv_lstm(x, *layer.get_weights(), padding="same", states=states, backwards=True)
    got = layer(x, initial_state=states)
    assert got.shape == (2, 4, 4, 2)
    np.testing.assert_allclose(_np(got), want[:, -1], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=r"initial state must have shape \(2, 4, 4, 2\)"):
        layer(x, initial_state=[s[:, :3] for s in states])


def test_channels_first_equals_channels_last():
    x = RNG.normal(size=(2, 3, 5, 4, 2))
    last = make(3, (2, 3), (5, 4, 2), strides=(2, 1), padding="same", return_sequences=True, return_state=True,
                data_format="channels_last")
    first = ConvLSTM2D(3, (2, 3), strides=(2, 1), padding="same", return_sequences=True, return_state=True,
                       data_format="channels_first", dtype="float64")
    first.build((None, 3, 2, 5, 4))
    first.set_weights(last.get_weights())  # the kernel layout does not depend on data_format
    got_last = last(x)
    got_first = first(np.transpose(x, (0, 1, 4, 2, 3)))
    np.testing.assert_allclose(np.transpose(_np(got_first[0]), (0, 1, 3, 4, 2)), _np(got_last[0]), rtol=1e-12,
                               atol=1e-13)
    for a, b in zip(got_first[1:], got_last[1:]):
        np.testing.assert_allclose(np.transpose(_np(a), (0, 2, 3, 1)), _np(b), rtol=1e-12, atol=1e-13)
    assert first.compute_output_shape((None, 3, 2, 5, 4)) == [(None, 3, 3, 3, 4), (None, 3, 3, 4), (None, 3, 3, 4)]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_gradients_match_finite_differences(data_format):
    frame = (3, 3, 1) if data_format == "channels_last" else (1, 3, 3)
    x = RNG.normal(size=(1, 2) + frame)
    # 'valid' 2x2 on 3x3 frames: the even 'same' recurrent kernel pads asymmetrically too
    check_layer_gradients(make(1, 2, frame, data_format=data_format, return_sequences=True), x, rng=RNG)


def test_mask_and_stateful():
    x = RNG.normal(size=(2, 4, 3, 3, 1))
    mask = np.array([[True, True, True, True], [True, True, False, False]])
    layer = make(2, 2, (3, 3, 1), padding="same", return_state=True)
    out, h, c = layer(x, mask=mask)
    for i, n in enumerate([4, 2]):
        want, (wh, wc) = ref_conv_lstm(x[i:i + 1, :n], *layer.get_weights(), padding="same")
        np.testing.assert_allclose(_np(out)[i], want[0, -1], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(_np(c)[i], wc[0], rtol=1e-10, atol=1e-12)
    assert layer.compute_mask(x, ops.convert_to_tensor(mask)) == [None, None, None]

    stateful = ConvLSTM2D(2, 2, padding="same", stateful=True, return_sequences=True, dtype="float64")
    stateful.build((2, None, 3, 3, 1))
    stateful.set_weights(layer.get_weights())
    assert [s.shape for s in stateful.states] == [(2, 3, 3, 2)] * 2
    want, _ = ref_conv_lstm(x, *layer.get_weights(), padding="same")
    stateful(x[:, :2])
    np.testing.assert_allclose(_np(stateful(x[:, 2:])), want[:, 2:], rtol=1e-10, atol=1e-12)
    stateful.reset_states()
    np.testing.assert_allclose(_np(stateful(x[:, :2])), want[:, :2], rtol=1e-10, atol=1e-12)


def test_dropout_masks_one_frame_shape_per_sequence():
    x = RNG.normal(size=(2, 3, 4, 4, 1))
    layer = make(2, 2, (4, 4, 1), padding="same", dropout=0.5, recurrent_dropout=0.5, seed=4)
    want, _ = ref_conv_lstm(x, *layer.get_weights(), padding="same")
    np.testing.assert_allclose(_np(layer(x, training=False)), want[:, -1], rtol=1e-10, atol=1e-12)
    assert not np.allclose(_np(layer(x, training=True)), want[:, -1])
    # 1x1 kernel, no recurrence, no bias: a dropped pixel has z = 0, so c = 0 and h = 0 at every
    # step; a kept pixel sees 2 * x (inverted dropout at rate 0.5) at every step
    single = make(1, 1, (4, 4, 1), dropout=0.5, seed=4, return_sequences=True)
    single.set_weights([RNG.normal(size=(1, 1, 1, 4)), np.zeros((1, 1, 1, 4)), np.zeros(4)])
    train = _np(single(x, training=True))
    dropped = np.all(train == 0.0, axis=1)  # (batch, rows, cols, channels), the same for all steps
    assert 0.2 < dropped.mean() < 0.8
    kept, _ = ref_conv_lstm(2.0 * x, *single.get_weights())
    np.testing.assert_allclose(train, kept * ~dropped[:, None], rtol=1e-10, atol=1e-12)


def test_config_keras_spellings_and_errors():
    layer = ConvLSTM2D(4, (3, 2), strides=2, padding="same", data_format="channels_first", recurrent_dropout=0.25,
                       kernel_regularizer="l2", unit_forget_bias=False, return_sequences=True)
    clone = roundtrip(layer)
    config = clone.get_config()
    assert "units" not in config
    assert (config["filters"], config["kernel_size"], config["strides"], config["padding"]) == (4, (3, 2), (2, 2),
                                                                                              "same")
    assert (config["data_format"], config["dilation_rate"], config["unit_forget_bias"]) == ("channels_first",
                                                                                           (1, 1), False)
    clone.build((None, 3, 2, 6, 6))
    assert [w.shape for w in clone.weights] == [(3, 2, 2, 16), (3, 2, 4, 16), (16,)]
    assert len(clone.losses) == 1
    np.testing.assert_array_equal(clone.get_weights()[2], 0.0)

    default = ConvLSTM2D(2, 3)
    default.build((None, 4, 5, 5, 3))
    np.testing.assert_array_equal(default.get_weights()[2], [0, 0, 1, 1, 0, 0, 0, 0])  # unit_forget_bias
    recurrent = default.get_weights()[1].reshape(-1, 8)
    np.testing.assert_allclose(recurrent.T @ recurrent, np.eye(8), atol=1e-5)  # orthogonal columns (18 x 8)
    assert (default.padding, default.strides, default.data_format) == ("valid", (1, 1), "channels_last")
    assert default.get_config()["recurrent_activation"] == "sigmoid"
    assert default.compute_output_shape((None, 4, 5, 5, 3)) == (None, 3, 3, 2)

    # Keras 1 names and positional kernel sizes, read as Conv2D reads them
    old = ConvLSTM2D(nb_filter=3, nb_row=2, nb_col=3, border_mode="same", subsample=(2, 1), dim_ordering="th",
                     inner_activation="hard_sigmoid", dropout_W=0.1)
    assert (old.filters, old.kernel_size, old.padding, old.strides, old.data_format) == (3, (2, 3), "same", (2, 1),
                                                                                         "channels_first")
    assert (old.get_config()["recurrent_activation"], old.dropout) == ("hard_sigmoid", 0.1)
    assert ConvLSTM2D(3, 2, 3).kernel_size == (2, 3)

    with pytest.raises(ValueError, match="filters"):
        ConvLSTM2D(0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        ConvLSTM2D(3)
    with pytest.raises(ValueError, match="padding"):
        ConvLSTM2D(3, 3, padding="causal")
    with pytest.raises(ValueError, match="strides > 1 and dilation_rate > 1"):
        ConvLSTM2D(3, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="rank 5"):
        ConvLSTM2D(3, 3).build((None, 4, 5, 5))
    with pytest.raises(ValueError, match="known rows, cols and channels"):
        ConvLSTM2D(3, 3).build((None, 4, None, 5, 1))
    with pytest.raises(ValueError, match="shorter than the window"):
        ConvLSTM2D(3, 3).build((None, 4, 2, 5, 1))
    built = make(2, 3, (4, 4, 1), padding="same")
    with pytest.raises(ValueError, match=r"built for frames of shape \(4, 4, 1\)"):
        built(np.zeros((1, 2, 4, 5, 1)))


def test_model_trains_saves_and_reloads(tmp_path):
    """Does a bright pixel move right or left over 3 frames? The loss must fall well below its start."""
    import lamina
    from lamina.layers import Bidirectional, Dense, Flatten, Input
    from lamina.models import Model, Sequential, load_model
    from lamina.optimizers import Adam
    rng = np.random.default_rng(0)
    n = 96
    x = np.zeros((n, 3, 4, 4, 1), "float32")
    y = rng.integers(0, 2, n).astype("float32")
    rows, starts = rng.integers(0, 4, n), rng.integers(1, 3, n)
    for k in range(n):
        step = 1 if y[k] else -1
        for t in range(3):
            x[k, t, rows[k], (starts[k] + step * t) % 4, 0] = 1.0
    x += rng.normal(scale=0.05, size=x.shape).astype("float32")
    lamina.utils.set_random_seed(3)
    model = Sequential([ConvLSTM2D(4, 3, padding="same", input_shape=(3, 4, 4, 1)), Flatten(),
                        Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=Adam(learning_rate=0.03))
    losses = model.fit(x, y[:, None], batch_size=16, epochs=10, verbose=0).history["loss"]
    assert losses[0] > 0.6 and losses[-1] < 0.05  # measured: 0.684 -> 0.0013
    assert np.mean((model.predict(x, verbose=0)[:, 0] > 0.5) == y) == 1.0
    path = tmp_path / "conv_lstm.lamina"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0))

    inp = Input((3, 4, 4, 1))
    out = Bidirectional(ConvLSTM2D(2, 3, padding="same", return_sequences=True))(inp)
    assert Model(inp, out).predict(x[:2], verbose=0).shape == (2, 3, 4, 4, 4)
