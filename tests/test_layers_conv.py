"""Convolution, pooling and spatial reshaping layers (issue 5, item 2): values against float64
NumPy loop references (the definitions, index by index), channels_first against channels_last,
gradients against central finite differences, exact output shapes and their errors, config
round trips, Keras 1 argument names, and a small CNN that learns."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from lamina import backend, layers, regularizers
from lamina.layers.convolutional import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose,
                                         Convolution1D, Convolution2D, Convolution3D, Cropping1D, Cropping2D,
                                         Cropping3D, Deconvolution2D, DepthwiseConv2D, SeparableConv1D,
                                         SeparableConv2D, UpSampling1D, UpSampling2D, UpSampling3D, ZeroPadding1D,
                                         ZeroPadding2D, ZeroPadding3D)
from lamina.layers.pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool2D,
                                   GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
                                   GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPool2D,
                                   MaxPooling1D, MaxPooling2D, MaxPooling3D)

from _gradcheck import _np, _t, check_layer_gradients, roundtrip  # noqa: E402

RNG = np.random.default_rng(5)


# --- loop references (channels_last, float64) --------------------------------------------------

def _geometry(length, k, s, d, padding):
    eff = d * (k - 1) + 1
    if padding == "valid":
        return (length - eff) // s + 1, 0
    if padding == "causal":
        return (length - 1) // s + 1, eff - 1
    out = -(-length // s)
    return out, max((out - 1) * s + eff - length, 0) // 2


def conv_ref(x, k, strides, padding, dilation):
    """y[n, o, f] = sum_{t, c} xpad[n, o*s + t*d, g*Cg + c] * k[t, c, f], f in group g."""
    nd = x.ndim - 2
    strides, dilation = (strides,) * nd if isinstance(strides, int) else strides, \
        (dilation,) * nd if isinstance(dilation, int) else dilation
    cg, cout = k.shape[-2], k.shape[-1]
    groups = x.shape[-1] // cg
    fg = cout // groups
    geo = [_geometry(x.shape[1 + i], k.shape[i], strides[i], dilation[i], padding) for i in range(nd)]
    big = [x.shape[1 + i] + 2 * max(k.shape[i] * dilation[i], 1) + strides[i] * 2 for i in range(nd)]
    xp = np.zeros((x.shape[0], *big, x.shape[-1]))
    xp[(slice(None),) + tuple(slice(g[1], g[1] + x.shape[1 + i]) for i, g in enumerate(geo))] = x
    y = np.zeros((x.shape[0],) + tuple(g[0] for g in geo) + (cout,))
    for n in range(x.shape[0]):
        for o in itertools.product(*(range(g[0]) for g in geo)):
            for t in itertools.product(*(range(s) for s in k.shape[:nd])):
                pos = tuple(o[i] * strides[i] + t[i] * dilation[i] for i in range(nd))
                for f in range(cout):
                    g = f // fg
                    for c in range(cg):
                        y[(n,) + o + (f,)] += xp[(n,) + pos + (g * cg + c,)] * k[t + (c, f)]
    return y


def pool_ref(x, pool, strides, padding, mode):
    nd = x.ndim - 2
    geo = [_geometry(x.shape[1 + i], pool[i], strides[i], 1, padding) for i in range(nd)]
    y = np.zeros((x.shape[0],) + tuple(g[0] for g in geo) + (x.shape[-1],))
    for n in range(x.shape[0]):
        for o in itertools.product(*(range(g[0]) for g in geo)):
            for c in range(x.shape[-1]):
                vals = []
                for t in itertools.product(*(range(p) for p in pool)):
                    pos = tuple(o[i] * strides[i] + t[i] - geo[i][1] for i in range(nd))
                    if all(0 <= pos[i] < x.shape[1 + i] for i in range(nd)):
                        vals.append(x[(n,) + pos + (c,)])
                y[(n,) + o + (c,)] = max(vals) if mode == "max" else sum(vals) / len(vals)
    return y


def to_first(a):
    return np.moveaxis(a, -1, 1)


def run(layer, x, weights=None):
    layer.dtype = "float64"
    layer(_t(x[:1]))  # build
    if weights is not None:
        layer.set_weights(weights)
    return _np(layer(_t(x)))


# --- values against the loop definitions ---------------------------------------------------------

@pytest.mark.parametrize("kw", [
    dict(kernel_size=3),
    dict(kernel_size=(3, 2), strides=(2, 1), padding="same"),
    dict(kernel_size=2, padding="same", dilation_rate=2),
    dict(kernel_size=(2, 3), groups=2, strides=2),
])
def test_conv2d_matches_loop_reference(kw):
    x = RNG.normal(size=(2, 6, 7, 4))
    layer = Conv2D(6, dtype="float64", activation="tanh", **kw)
    ks = layer.kernel_size + (4 // layer.groups, 6)
    k, b = RNG.normal(size=ks), RNG.normal(size=(6,))
    got = run(layer, x, [k, b])
    want = np.tanh(conv_ref(x, k, layer.strides, layer.padding, layer.dilation_rate) + b)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert layer.compute_output_shape((None,) + x.shape[1:]) == (None,) + got.shape[1:]


@pytest.mark.parametrize("padding,strides,dilation", [("valid", 2, 1), ("same", 1, 2), ("causal", 1, 2),
                                                      ("causal", 2, 1)])
def test_conv1d_matches_loop_reference(padding, strides, dilation):
    x = RNG.normal(size=(2, 9, 3))
    layer = Conv1D(4, 3, strides=strides, padding=padding, dilation_rate=dilation, dtype="float64")
    k, b = RNG.normal(size=(3, 3, 4)), RNG.normal(size=(4,))
    got = run(layer, x, [k, b])
    np.testing.assert_allclose(got, conv_ref(x, k, (strides,), padding, (dilation,)) + b, rtol=1e-10, atol=1e-12)
    assert layer.compute_output_shape((None, 9, 3)) == (None,) + got.shape[1:]


def test_causal_conv1d_sees_only_the_past():
    layer = Conv1D(2, 3, padding="causal", dtype="float64")
    x = RNG.normal(size=(1, 8, 2))
    y0 = run(layer, x)
    x2 = x.copy()
    x2[0, 5:] += 10.0
    y1 = _np(layer(_t(x2)))
    np.testing.assert_array_equal(y0[0, :5], y1[0, :5])
    assert not np.allclose(y0[0, 5:], y1[0, 5:])


def test_conv3d_matches_loop_reference():
    x = RNG.normal(size=(1, 4, 5, 4, 2))
    layer = Conv3D(3, (2, 3, 2), strides=(1, 2, 1), padding="same", dtype="float64", use_bias=False)
    k = RNG.normal(size=(2, 3, 2, 2, 3))
    got = run(layer, x, [k])
    np.testing.assert_allclose(got, conv_ref(x, k, layer.strides, "same", 1), rtol=1e-10, atol=1e-12)
    assert layer.compute_output_shape((None, 4, 5, 4, 2)) == (None, 4, 3, 4, 3)


@pytest.mark.parametrize("kw", [dict(strides=2, padding="same"), dict(strides=2), dict(strides=3, output_padding=1),
                                dict(strides=1, padding="same"), dict(strides=2, padding="same", output_padding=0)])
def test_conv2d_transpose_is_the_adjoint_of_conv(kw):
    """<conv_transpose(x, k), y> == <x, conv(y, k)> for every y: the definition of the transpose."""
    x = RNG.normal(size=(2, 3, 4, 2))
    layer = Conv2DTranspose(3, 3, dtype="float64", use_bias=False, **kw)
    k = RNG.normal(size=(3, 3, 3, 2))  # (kh, kw, filters, in_channels)
    out = run(layer, x, [k])
    assert layer.compute_output_shape((None, 3, 4, 2)) == (None,) + out.shape[1:]
    y = RNG.normal(size=out.shape)
    back = conv_ref(y, k, layer.strides, layer.padding, 1)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(out * y), np.sum(x * back), rtol=1e-10)
    # bias and activation on top
    layer2 = Conv2DTranspose(3, 3, dtype="float64", activation="relu", **kw)
    b = RNG.normal(size=(3,))
    np.testing.assert_allclose(run(layer2, x, [k, b]), np.maximum(out + b, 0), rtol=1e-10, atol=1e-12)


def test_conv2d_transpose_keras_output_lengths():
    assert Conv2DTranspose(4, 3, strides=2, padding="same").compute_output_shape((None, 7, 5, 1)) == (None, 14, 10, 4)
    assert Conv2DTranspose(4, 3, strides=2).compute_output_shape((None, 7, 5, 1)) == (None, 15, 11, 4)
    assert Conv2DTranspose(4, 2, strides=3).compute_output_shape((None, 7, 5, 1)) == (None, 21, 15, 4)
    assert Conv1DTranspose(4, 3, strides=2).compute_output_shape((None, 7, 1)) == (None, 15, 4)
    assert Conv3DTranspose(2, 2, strides=2).compute_output_shape((None, 2, 3, 4, 1)) == (None, 4, 6, 8, 2)
    y = Conv3DTranspose(2, 2, strides=2)(np.ones((1, 2, 3, 4, 1), "float32"))
    assert y.shape == (1, 4, 6, 8, 2)


def test_depthwise_and_separable_match_loop_reference():
    x = RNG.normal(size=(2, 6, 5, 3))
    dk, b = RNG.normal(size=(3, 2, 3, 2)), RNG.normal(size=(6,))
    layer = DepthwiseConv2D((3, 2), depth_multiplier=2, padding="same", strides=(2, 1), dtype="float64")
    got = run(layer, x, [dk, b])
    want = np.concatenate([conv_ref(x[..., c:c + 1], dk[:, :, c:c + 1, m:m + 1], (2, 1), "same", 1)
                           for c in range(3) for m in range(2)], axis=-1) + b
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert layer.compute_output_shape((None, 6, 5, 3)) == (None, 3, 5, 6)

    pk, b2 = RNG.normal(size=(1, 1, 6, 4)), RNG.normal(size=(4,))
    sep = SeparableConv2D(4, (3, 2), depth_multiplier=2, padding="same", strides=(2, 1), dtype="float64")
    got = run(sep, x, [dk, pk, b2])
    np.testing.assert_allclose(got, np.einsum("nhwc,cf->nhwf", want - b, pk[0, 0]) + b2, rtol=1e-10, atol=1e-12)
    assert [w.shape for w in sep.weights] == [(3, 2, 3, 2), (1, 1, 6, 4), (4,)]
    sep1 = SeparableConv1D(4, 3, dtype="float64")
    assert run(sep1, x[:, :, 0, :]).shape == (2, 4, 4)


@pytest.mark.parametrize("cls,mode,kw", [
    (MaxPooling2D, "max", {}), (MaxPooling2D, "max", dict(pool_size=3, strides=2, padding="same")),
    (AveragePooling2D, "avg", dict(pool_size=(2, 3), padding="same")),
    (AveragePooling2D, "avg", dict(pool_size=3, strides=1)),
])
def test_pooling2d_matches_loop_reference(cls, mode, kw):
    x = RNG.normal(size=(2, 5, 7, 3))
    layer = cls(dtype="float64", **kw)
    got = run(layer, x)
    np.testing.assert_allclose(got, pool_ref(x, layer.pool_size, layer.strides, layer.padding, mode), rtol=1e-12)
    assert layer.compute_output_shape((None, 5, 7, 3)) == (None,) + got.shape[1:]


def test_pooling_1d_3d_and_defaults():
    x1 = RNG.normal(size=(2, 7, 3))
    for cls, mode in ((MaxPooling1D, "max"), (AveragePooling1D, "avg")):
        layer = cls(dtype="float64")
        assert layer.pool_size == (2,) and layer.strides == (2,) and layer.padding == "valid"
        np.testing.assert_allclose(run(layer, x1), pool_ref(x1, (2,), (2,), "valid", mode), rtol=1e-12)
        layer = cls(3, 1, "same", dtype="float64")
        np.testing.assert_allclose(run(layer, x1), pool_ref(x1, (3,), (1,), "same", mode), rtol=1e-12)
    x3 = RNG.normal(size=(1, 4, 5, 4, 2))
    for cls, mode in ((MaxPooling3D, "max"), (AveragePooling3D, "avg")):
        layer = cls(dtype="float64", padding="same")
        assert layer.pool_size == (2, 2, 2)
        np.testing.assert_allclose(run(layer, x3), pool_ref(x3, (2, 2, 2), (2, 2, 2), "same", mode), rtol=1e-12)
    assert MaxPooling2D().pool_size == (2, 2) and MaxPooling2D().strides == (2, 2)
    assert MaxPool2D is MaxPooling2D and AvgPool2D is AveragePooling2D


def test_global_pooling():
    for shape, (gmax, gavg), axes in (((2, 5, 3), (GlobalMaxPooling1D, GlobalAveragePooling1D), (1,)),
                                      ((2, 4, 5, 3), (GlobalMaxPooling2D, GlobalAveragePooling2D), (1, 2)),
                                      ((2, 3, 4, 2, 3), (GlobalMaxPooling3D, GlobalAveragePooling3D), (1, 2, 3))):
        x = RNG.normal(size=shape)
        np.testing.assert_allclose(run(gmax(), x), x.max(axis=axes), rtol=1e-12)
        np.testing.assert_allclose(run(gavg(), x), x.mean(axis=axes), rtol=1e-12)
        np.testing.assert_allclose(run(gavg(keepdims=True), x), x.mean(axis=axes, keepdims=True), rtol=1e-12)
        assert gmax().compute_output_shape((None,) + shape[1:]) == (None, 3)
        assert gavg(keepdims=True).compute_output_shape((None,) + shape[1:]) == (None,) + (1,) * len(axes) + (3,)
        xf = to_first(x)
        np.testing.assert_allclose(run(gmax(data_format="channels_first"), xf), x.max(axis=axes), rtol=1e-12)


def test_upsampling_zero_padding_cropping():
    x1, x2, x3 = RNG.normal(size=(2, 4, 3)), RNG.normal(size=(2, 4, 5, 3)), RNG.normal(size=(1, 3, 4, 5, 2))
    np.testing.assert_array_equal(run(UpSampling1D(3), x1), np.repeat(x1, 3, axis=1))
    np.testing.assert_array_equal(run(UpSampling2D((2, 3)), x2), np.repeat(np.repeat(x2, 2, 1), 3, 2))
    np.testing.assert_array_equal(run(UpSampling3D(), x3), np.repeat(np.repeat(np.repeat(x3, 2, 1), 2, 2), 2, 3))
    assert UpSampling2D((2, 3)).compute_output_shape((None, 4, None, 3)) == (None, 8, None, 3)
    np.testing.assert_array_equal(run(ZeroPadding1D((1, 2)), x1), np.pad(x1, ((0, 0), (1, 2), (0, 0))))
    np.testing.assert_array_equal(run(ZeroPadding2D(), x2), np.pad(x2, ((0, 0), (1, 1), (1, 1), (0, 0))))
    np.testing.assert_array_equal(run(ZeroPadding2D(((1, 0), (2, 3))), x2),
                                  np.pad(x2, ((0, 0), (1, 0), (2, 3), (0, 0))))
    np.testing.assert_array_equal(run(ZeroPadding3D((1, 0, 2)), x3),
                                  np.pad(x3, ((0, 0), (1, 1), (0, 0), (2, 2), (0, 0))))
    assert ZeroPadding2D(((1, 0), (2, 3))).compute_output_shape((None, 4, 5, 3)) == (None, 5, 10, 3)
    np.testing.assert_array_equal(run(Cropping1D(), x1), x1[:, 1:-1])
    np.testing.assert_array_equal(run(Cropping2D(((1, 0), (2, 1))), x2), x2[:, 1:, 2:-1])
    np.testing.assert_array_equal(run(Cropping2D(), x2), x2)
    np.testing.assert_array_equal(run(Cropping3D(((0, 1), (1, 1), (2, 0))), x3), x3[:, :-1, 1:-1, 2:])
    assert Cropping2D(((1, 0), (2, 1))).compute_output_shape((None, 4, 5, 3)) == (None, 3, 2, 3)


# --- channels_first == channels_last up to the layout --------------------------------------------

FORMAT_CASES = [
    (Conv2D, dict(filters=4, kernel_size=(3, 2), strides=(2, 1), padding="same")),
    (Conv2D, dict(filters=4, kernel_size=3, groups=2, dilation_rate=2)),
    (Conv1D, dict(filters=3, kernel_size=3, padding="causal")),
    (Conv3D, dict(filters=2, kernel_size=2)),
    (Conv2DTranspose, dict(filters=3, kernel_size=3, strides=2, padding="same")),
    (DepthwiseConv2D, dict(kernel_size=3, depth_multiplier=2)),
    (SeparableConv2D, dict(filters=3, kernel_size=2, depth_multiplier=2)),
    (MaxPooling2D, dict(pool_size=3, strides=2, padding="same")),
    (AveragePooling2D, dict(padding="same")),
    (MaxPooling1D, dict()), (AveragePooling3D, dict()),
    (UpSampling2D, dict(size=(2, 3))), (ZeroPadding2D, dict(padding=((1, 0), (0, 2)))),
    (Cropping2D, dict(cropping=((1, 0), (0, 2)))), (GlobalAveragePooling2D, dict()),
]


@pytest.mark.parametrize("cls,kw", FORMAT_CASES, ids=[c.__name__ for c, _ in FORMAT_CASES])
def test_channels_first_equals_channels_last(cls, kw):
    rank = {"1D": 1, "2D": 2, "3D": 3}[[s for s in ("1D", "2D", "3D") if s in cls.__name__][0]]
    x = RNG.normal(size=(2,) + (5, 6, 4)[:rank] + (4,))
    last = cls(data_format="channels_last", dtype="float64", **kw)
    first = cls(data_format="channels_first", dtype="float64", **kw)
    y_last = run(last, x)
    y_first = run(first, to_first(x), last.get_weights() or None)
    np.testing.assert_allclose(y_first, to_first(y_last) if y_last.ndim > 2 else y_last, rtol=1e-10, atol=1e-12)
    shape_last = last.compute_output_shape((None,) + x.shape[1:])
    shape_first = first.compute_output_shape((None,) + to_first(x).shape[1:])
    assert shape_last == (None,) + y_last.shape[1:] and shape_first == (None,) + y_first.shape[1:]


def test_cnn_same_in_both_formats():
    """Conv2D -> MaxPooling2D -> Flatten -> Dense: same weights, same predictions (Flatten undoes the layout)."""
    from lamina.models import Sequential

    def net(fmt, shape):
        return Sequential([Conv2D(3, 3, activation="relu", data_format=fmt, input_shape=shape, dtype="float64"),
                           MaxPooling2D(data_format=fmt, dtype="float64"),
                           layers.Flatten(data_format=fmt), layers.Dense(2, dtype="float64")])
    x = RNG.normal(size=(3, 8, 8, 2))
    a, b = net("channels_last", (8, 8, 2)), net("channels_first", (2, 8, 8))
    b.set_weights(a.get_weights())
    np.testing.assert_allclose(_np(b.predict(to_first(x), verbose=0)), _np(a.predict(x, verbose=0)), rtol=1e-10)


def test_default_data_format_is_global_setting():
    old = backend.image_data_format()
    try:
        backend.set_image_data_format("channels_first")
        assert Conv2D(2, 3).data_format == "channels_first" and MaxPooling2D().data_format == "channels_first"
        assert Conv2D(2, 3).compute_output_shape((None, 1, 28, 28)) == (None, 2, 26, 26)
    finally:
        backend.set_image_data_format(old)
    assert Conv2D(2, 3).data_format == old


# --- gradients -------------------------------------------------------------------------------------

def _layer_gradcheck(layer, x):
    check_layer_gradients(layer, x, rng=RNG)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_conv2d_gradients(fmt):
    x = RNG.normal(size=(2, 4, 5, 2))
    x = to_first(x) if fmt == "channels_first" else x
    _layer_gradcheck(Conv2D(2, (2, 3), strides=(2, 1), padding="same", activation="tanh", data_format=fmt,
                            dtype="float64"), x)


@pytest.mark.parametrize("layer", [Conv2DTranspose(2, 3, strides=2, padding="same", dtype="float64"),
                                   DepthwiseConv2D(2, depth_multiplier=2, dtype="float64"),
                                   SeparableConv2D(2, 2, dtype="float64"), Conv1D(2, 2, padding="causal",
                                                                                  dtype="float64")],
                         ids=["transpose", "depthwise", "separable", "conv1d"])
def test_other_conv_gradients(layer):
    _layer_gradcheck(layer, RNG.normal(size=(1, 3, 3) if isinstance(layer, Conv1D) else (1, 3, 3, 2)))


@pytest.mark.parametrize("layer", [MaxPooling2D(dtype="float64"), MaxPooling2D(3, 2, "same", dtype="float64"),
                                   AveragePooling2D(2, 1, dtype="float64"),
                                   AveragePooling2D(3, 2, "same", data_format="channels_first", dtype="float64"),
                                   GlobalMaxPooling2D(dtype="float64"), GlobalAveragePooling2D(dtype="float64"),
                                   UpSampling2D(dtype="float64"), Cropping2D(1, dtype="float64"),
                                   ZeroPadding2D(dtype="float64")],
                         ids=["max", "max_same", "avg_overlap", "avg_same_first", "gmax", "gavg", "up", "crop",
                              "pad"])
def test_pooling_and_reshaping_gradients(layer):
    _layer_gradcheck(layer, RNG.normal(size=(2, 5, 4, 3)))


# --- shapes and errors ------------------------------------------------------------------------------

def test_symbolic_shapes_and_errors():
    inp = layers.Input((28, 28, 1))
    y = MaxPooling2D()(Conv2D(64, 3)(Conv2D(32, 3)(inp)))
    assert tuple(y.shape) == (None, 12, 12, 64)
    with pytest.raises(ValueError, match="big_kernel"):
        Conv2D(2, 5, name="big_kernel").compute_output_shape((None, 3, 8, 1))
    with pytest.raises(ValueError, match="rank_conv"):
        Conv2D(2, 3, name="rank_conv").compute_output_shape((None, 8, 1))
    with pytest.raises(ValueError, match="bad_pool"):
        MaxPooling2D(4, name="bad_pool").compute_output_shape((None, 3, 8, 1))
    with pytest.raises(ValueError, match="bad_crop"):
        Cropping2D(2, name="bad_crop").compute_output_shape((None, 4, 8, 1))
    with pytest.raises(ValueError, match="symb_conv"):
        Conv2D(2, 7, name="symb_conv")(layers.Input((5, 5, 1)))
    built = Conv2D(2, 3, name="built_conv")
    built(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match="built_conv"):
        built.compute_output_shape((None, 5, 5, 4))
    assert Conv2D(2, 3).compute_output_shape((None, None, 7, 1)) == (None, None, 5, 2)
    with pytest.raises(ValueError, match="groups"):
        Conv2D(3, 3, groups=2)
    with pytest.raises(ValueError, match="padding"):
        Conv2D(3, 3, padding="causal")
    with pytest.raises(ValueError, match="output_padding"):
        Conv2DTranspose(3, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="data_format"):
        MaxPooling2D(data_format="nhwc")
    with pytest.raises(TypeError, match="kernel_sizes"):
        Conv2D(3, 3, kernel_sizes=3)


# --- configs and Keras 1 names -------------------------------------------------------------------

ALL = [Conv1D(3, 2, padding="causal", dilation_rate=2), Conv2D(4, (3, 2), strides=2, groups=2, activation="relu",
                                                                 kernel_regularizer=regularizers.l2(0.01)),
       Conv3D(2, 2, use_bias=False), Conv2DTranspose(3, 3, strides=2, output_padding=1),
       Conv1DTranspose(2, 3), Conv3DTranspose(2, 2), DepthwiseConv2D(3, depth_multiplier=2),
       SeparableConv2D(4, 3, depth_multiplier=2), SeparableConv1D(2, 3), MaxPooling1D(3),
       MaxPooling2D((2, 3), padding="same"), MaxPooling3D(), AveragePooling1D(), AveragePooling2D(strides=1),
       AveragePooling3D(), GlobalMaxPooling1D(), GlobalMaxPooling2D(keepdims=True), GlobalAveragePooling1D(),
       GlobalAveragePooling2D(data_format="channels_first"), UpSampling1D(3), UpSampling2D((1, 2)),
       ZeroPadding1D((1, 2)), ZeroPadding2D(((1, 0), (2, 3))), Cropping1D(2), Cropping2D(((1, 0), (2, 3))),
       ZeroPadding3D(), Cropping3D(), UpSampling3D()]


@pytest.mark.parametrize("layer", ALL, ids=[type(la).__name__ for la in ALL])
def test_config_round_trip(layer):
    clone = roundtrip(layer)
    assert type(clone) is type(layer)
    import json
    config = json.loads(json.dumps(layer.get_config()))
    config.pop("name")
    again = type(layer).from_config(config)
    rank = getattr(layer, "rank", 2)
    shape = (None,) + (9, 10, 8)[:rank] + (4,)
    assert again.compute_output_shape(shape) == layer.compute_output_shape(shape)


def test_keras1_argument_names():
    old = Convolution2D(8, 3, 3, border_mode="same", subsample=(2, 2), dim_ordering="th", init="he_normal",
                        W_regularizer=regularizers.l2(0.1), bias=False)
    assert Convolution2D is Conv2D
    assert (old.filters, old.kernel_size, old.padding, old.strides, old.data_format, old.use_bias) == \
        (8, (3, 3), "same", (2, 2), "channels_first", False)
    assert type(old.kernel_initializer).__name__ == "HeNormal" and old.kernel_regularizer is not None
    assert Conv2D(nb_filter=4, nb_row=2, nb_col=5).kernel_size == (2, 5)
    assert Conv2D(4, (3, 3), (2, 2)).strides == (2, 2)  # Keras 2 positional strides
    c1 = Convolution1D(nb_filter=4, filter_length=3, subsample_length=2, border_mode="valid")
    assert (c1.filters, c1.kernel_size, c1.strides) == (4, (3,), (2,))
    c3 = Convolution3D(2, 3, 4, 5, dim_ordering="tf")
    assert c3.kernel_size == (3, 4, 5) and c3.data_format == "channels_last"
    d = Deconvolution2D(4, 3, 3, (None, 14, 14, 4), subsample=(2, 2), border_mode="same")
    assert Deconvolution2D is Conv2DTranspose and (d.kernel_size, d.strides) == ((3, 3), (2, 2))
    assert d.compute_output_shape((None, 7, 7, 2)) == (None, 14, 14, 4)
    p = MaxPooling1D(pool_length=3, stride=1, border_mode="same")
    assert (p.pool_size, p.strides, p.padding) == ((3,), (1,), "same")
    assert MaxPooling2D((2, 2), dim_ordering="th").data_format == "channels_first"
    assert AveragePooling2D(border_mode="same").padding == "same"
    assert UpSampling1D(length=3).size == (3,)
    assert UpSampling2D(dim_ordering="th").data_format == "channels_first"
    assert ZeroPadding2D((1, 2), dim_ordering="tf").padding == ((1, 1), (2, 2))
    x = np.random.default_rng(0).normal(size=(2, 1, 6, 6)).astype("float32")
    assert old(x).shape == (2, 8, 3, 3)


# --- training ----------------------------------------------------------------------------------------

def test_small_cnn_learns():
    from lamina.models import Sequential
    from lamina.utils import set_random_seed
    set_random_seed(3)
    rng = np.random.default_rng(3)
    n = 256
    x = rng.normal(scale=0.3, size=(n, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 2, size=n)
    for i in range(n):  # class 1: a bright 2x2 blob in the right half, class 0: in the left half
        r, c = rng.integers(0, 6), rng.integers(0, 2) + (4 if y[i] else 0)
        x[i, r:r + 2, c:c + 2, 0] += 2.0
    labels = np.eye(2, dtype="float32")[y]
    model = Sequential([Conv2D(4, 3, activation="relu", padding="same", input_shape=(8, 8, 1)),
                        MaxPooling2D(), layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    before = model.evaluate(x, labels, verbose=0)
    hist = model.fit(x, labels, batch_size=32, epochs=15, verbose=0)
    after = model.evaluate(x, labels, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    assert after[0] < 0.5 * before[0] and after[1] > 0.9
