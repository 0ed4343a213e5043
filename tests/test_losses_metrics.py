"""Numerical tests for lamina.losses and lamina.metrics against float64 NumPy formulas (Keras'
definitions), plus name resolution, reductions, sample weights and gradients through the tape."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lamina import backend as K
from lamina import losses, metrics, ops

RNG = np.random.default_rng(1234)


def _np(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(z):
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def _onehot(labels, k):
    return np.eye(k)[np.asarray(labels).reshape(-1)]


EPS = K.epsilon()  # 1e-7 unless the user configured otherwise


def test_default_epsilon_is_keras_value():
    assert EPS == pytest.approx(1e-7)


# --- cross-entropies ---------------------------------------------------------------------

def cce_ref(t, p, label_smoothing=0.0):
    t = t * (1 - label_smoothing) + label_smoothing / t.shape[-1]
    p = p / p.sum(axis=-1, keepdims=True)
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p)).sum(axis=-1)


def test_categorical_crossentropy_renormalises_and_clips():
    y = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=np.float64)
    p = np.array([[0.2, 0.6, 0.6],    # sums to 1.4 -> renormalised
                  [0.0, 1.0, 0.0],    # true class has p = 0 -> clipped at eps
                  [0.1, 0.1, 0.8]])
    got = _np(losses.categorical_crossentropy(y, p))
    np.testing.assert_allclose(got, cce_ref(y, p), rtol=1e-12)
    # hand values: -log(0.6/1.4), -log(eps), -log(0.8)
    np.testing.assert_allclose(got, [-math.log(0.6 / 1.4), -math.log(EPS), -math.log(0.8)], rtol=1e-9)


def test_categorical_crossentropy_from_logits_is_finite_for_huge_logits():
    y = np.array([[0, 1, 0], [1, 0, 0]], dtype=np.float64)
    z = np.array([[1.0, 2.0, 3.0], [1000.0, -1000.0, 0.0]])
    got = _np(losses.categorical_crossentropy(y, z, from_logits=True))
    np.testing.assert_allclose(got, -(y * _log_softmax(z)).sum(-1), rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(got))
    assert got[1] == pytest.approx(0.0, abs=1e-12)


def test_categorical_crossentropy_label_smoothing():
    y = np.array([[0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
    p = _softmax(RNG.normal(size=(2, 4)))
    got = _np(losses.categorical_crossentropy(y, p, label_smoothing=0.2))
    np.testing.assert_allclose(got, cce_ref(y, p, 0.2), rtol=1e-12)
    assert not np.allclose(got, cce_ref(y, p))
    got_l = _np(losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2, reduction="none")(y, np.log(p)))
    np.testing.assert_allclose(got_l, cce_ref(y, p, 0.2), rtol=1e-10)


@pytest.mark.parametrize("label_shape", ["flat", "column"])
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_crossentropy(label_shape, from_logits):
    labels = np.array([2, 0, 1, 2])
    z = RNG.normal(size=(4, 3)) * 3
    pred = z if from_logits else _softmax(z)
    y = labels if label_shape == "flat" else labels.reshape(-1, 1)
    got = _np(losses.sparse_categorical_crossentropy(y, pred, from_logits=from_logits))
    assert got.shape == (4,)
    want = -_log_softmax(z)[np.arange(4), labels]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    # float labels (as Keras data often has) mean the same
    got_f = _np(losses.sparse_categorical_crossentropy(y.astype(np.float64), pred, from_logits=from_logits))
    np.testing.assert_allclose(got_f, want, rtol=1e-9)


def test_sparse_categorical_crossentropy_ignore_class():
    labels = np.array([2, 0, 1])
    p = _softmax(RNG.normal(size=(3, 3)))
    got = _np(losses.sparse_categorical_crossentropy(labels, p, ignore_class=0))
    want = -np.log(p[np.arange(3), labels])
    want[1] = 0.0
    np.testing.assert_allclose(got, want, rtol=1e-12)


def bce_ref(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(axis=-1)


def test_binary_crossentropy_probabilities():
    t = np.array([[1, 0, 1], [0, 0, 1]], dtype=np.float64)
    p = np.array([[0.9, 0.2, 0.0], [0.5, 1.0, 0.7]])  # 0 and 1 get clipped
    got = _np(losses.binary_crossentropy(t, p))
    np.testing.assert_allclose(got, bce_ref(t, p), rtol=1e-12)
    assert np.all(np.isfinite(got))


def test_binary_crossentropy_from_logits_huge_values_finite():
    t = np.array([[1.0, 0.0, 1.0, 0.0]])
    z = np.array([[1e4, -1e4, -1e4, 2.5]])
    got = _np(losses.binary_crossentropy(t, z, from_logits=True))
    want = (np.logaddexp(0.0, z) - z * t).mean(axis=-1)  # softplus(z) - z*t
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[0] == pytest.approx((1e4 + np.logaddexp(0, 2.5)) / 4)


def test_binary_crossentropy_label_smoothing():
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.8, 0.3], [0.4, 0.6]])
    got = _np(losses.binary_crossentropy(t, p, label_smoothing=0.1))
    np.testing.assert_allclose(got, bce_ref(t * 0.9 + 0.05, p), rtol=1e-12)
    got_l = _np(losses.binary_crossentropy(t, np.log(p / (1 - p)), from_logits=True, label_smoothing=0.1))
    np.testing.assert_allclose(got_l, bce_ref(t * 0.9 + 0.05, p), rtol=1e-9)


# --- regression and other losses ------------------------------------------------------------

YT = np.array([[0.5, -1.0, 2.0], [3.0, 0.25, -0.75]])
YP = np.array([[0.0, -0.5, 4.0], [2.0, 0.5, -0.8]])
YT_POS = np.array([[0.2, 1.5, 3.0], [0.0, 2.0, 0.7]])
YP_POS = np.array([[0.1, 1.0, 2.5], [0.3, 0.0, 1.2]])
LABELS01 = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
PROB_T = np.array([[0.2, 0.3, 0.5], [0.0, 0.9, 0.1]])
PROB_P = np.array([[0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])


def _hinge_labels(t):
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


def _huber(t, p, d=1.0):
    e = np.abs(p - t)
    return np.where(e <= d, 0.5 * e ** 2, d * e - 0.5 * d ** 2).mean(-1)


def _cos(t, p):
    tn = t / np.sqrt(np.maximum((t ** 2).sum(-1, keepdims=True), 1e-12))
    pn = p / np.sqrt(np.maximum((p ** 2).sum(-1, keepdims=True), 1e-12))
    return -(tn * pn).sum(-1)


CASES = [
    ("mean_squared_error", YT, YP, lambda t, p: ((p - t) ** 2).mean(-1)),
    ("mean_absolute_error", YT, YP, lambda t, p: np.abs(p - t).mean(-1)),
    ("mean_absolute_percentage_error", YT, YP,
     lambda t, p: 100 * np.abs((t - p) / np.maximum(np.abs(t), EPS)).mean(-1)),
    ("mean_squared_logarithmic_error", YT_POS, YP_POS,
     lambda t, p: ((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2).mean(-1)),
    ("hinge", LABELS01, YP, lambda t, p: np.maximum(1 - _hinge_labels(t) * p, 0).mean(-1)),
    ("hinge", 2 * LABELS01 - 1, YP, lambda t, p: np.maximum(1 - t * p, 0).mean(-1)),
    ("squared_hinge", LABELS01, YP, lambda t, p: np.maximum(1 - _hinge_labels(t) * p, 0).__pow__(2).mean(-1)),
    ("categorical_hinge", np.array([[0., 1, 0], [1, 0, 0]]), YP,
     lambda t, p: np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0)),
    ("log_cosh", YT, YP, lambda t, p: np.log(np.cosh(p - t)).mean(-1)),
    ("kl_divergence", PROB_T, PROB_P,
     lambda t, p: (np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1))).sum(-1)),
    ("poisson", YT_POS, YP_POS, lambda t, p: (p - t * np.log(p + EPS)).mean(-1)),
    ("cosine_similarity", YT, YP, _cos),
    ("huber", YT, YP, _huber),
]


@pytest.mark.parametrize("name,t,p,ref", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_loss_function_matches_numpy(name, t, p, ref):
    got = _np(getattr(losses, name)(t, p))
    want = ref(t, p)
    assert got.shape == want.shape == (2,)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_hinge_keeps_non_binary_labels_in_unit_interval():
    # Keras converts labels only when every label is 0 or 1; 0.5 is not a binary label.
    t = np.array([[0.5, 1.0, 0.0]])
    p = np.array([[0.3, -0.2, 0.8]])
    got = _np(losses.hinge(t, p))
    np.testing.assert_allclose(got, np.maximum(1 - t * p, 0).mean(-1), rtol=1e-12)


def test_huber_delta():
    got = _np(losses.Huber(delta=2.0, reduction="none")(YT, YP))
    np.testing.assert_allclose(got, _huber(YT, YP, 2.0), rtol=1e-12)
    assert not np.allclose(got, _huber(YT, YP, 1.0))


def test_log_cosh_large_difference_is_finite():
    got = _np(losses.log_cosh(np.array([[0.0]]), np.array([[1000.0]])))
    assert got[0] == pytest.approx(1000.0 - math.log(2.0), rel=1e-12)


def test_float32_inputs_give_float32_losses_close_to_reference():
    t = YT.astype(np.float32)
    p = YP.astype(np.float32)
    out = losses.mean_squared_error(t, p)
    assert out.dtype == "float32"
    np.testing.assert_allclose(_np(out), ((YP - YT) ** 2).mean(-1), rtol=1e-6)


# --- names ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,fn", [
    ("mse", losses.mean_squared_error), ("MSE", losses.mean_squared_error),
    ("mean_squared_error", losses.mean_squared_error), ("mae", losses.mean_absolute_error),
    ("MAE", losses.mean_absolute_error), ("mape", losses.mean_absolute_percentage_error),
    ("MAPE", losses.mean_absolute_percentage_error), ("msle", losses.mean_squared_logarithmic_error),
    ("categorical_crossentropy", losses.categorical_crossentropy),
    ("sparse_categorical_crossentropy", losses.sparse_categorical_crossentropy),
    ("binary_crossentropy", losses.binary_crossentropy), ("kld", losses.kl_divergence),
    ("KLD", losses.kl_divergence), ("kullback_leibler_divergence", losses.kl_divergence),
    ("logcosh", losses.log_cosh), ("cosine_proximity", losses.cosine_similarity),
    ("huber_loss", losses.huber), ("hinge", losses.hinge), ("poisson", losses.poisson),
])
def test_get_by_name(name, fn):
    assert losses.get(name) is fn


def test_get_class_name_gives_instance_and_callable_passes_through():
    obj = losses.get("CategoricalCrossentropy")
    assert isinstance(obj, losses.CategoricalCrossentropy)
    assert obj.name == "categorical_crossentropy"

    def my_loss(y, p):
        return p
    assert losses.get(my_loss) is my_loss


def test_get_config_dict():
    obj = losses.get({"class_name": "Huber", "config": {"delta": 2.0, "reduction": "none"}})
    assert isinstance(obj, losses.Huber)
    np.testing.assert_allclose(_np(obj(YT, YP)), _huber(YT, YP, 2.0), rtol=1e-12)


def test_get_unknown_lists_names():
    with pytest.raises(ValueError) as exc:
        losses.get("mean_sqared_error")
    msg = str(exc.value)
    assert "mean_sqared_error" in msg
    for name in ("mean_squared_error", "categorical_crossentropy", "mse"):
        assert name in msg
    with pytest.raises(TypeError):
        losses.get(3.5)


# --- Loss classes: reductions and sample weights ------------------------------------------------

def test_loss_reductions_and_sample_weight():
    per = ((YP - YT) ** 2).mean(-1)
    w = np.array([0.25, 2.0])
    assert float(losses.MeanSquaredError()(YT, YP)) == pytest.approx(per.mean(), rel=1e-12)
    assert float(losses.MeanSquaredError(reduction="sum")(YT, YP)) == pytest.approx(per.sum(), rel=1e-12)
    np.testing.assert_allclose(_np(losses.MeanSquaredError(reduction="none")(YT, YP)), per, rtol=1e-12)
    # Keras: weighted per-sample losses, then sum / number of elements for the default reduction
    assert float(losses.MeanSquaredError()(YT, YP, sample_weight=w)) == pytest.approx((per * w).sum() / 2, rel=1e-12)
    assert float(losses.MeanSquaredError(reduction="sum")(YT, YP, sample_weight=w)) == pytest.approx((per * w).sum())
    np.testing.assert_allclose(_np(losses.MeanSquaredError(reduction="none")(YT, YP, sample_weight=w)), per * w)
    assert float(losses.MeanSquaredError(reduction="auto")(YT, YP)) == pytest.approx(per.mean(), rel=1e-12)


def test_loss_sample_weight_column_and_scalar_shapes():
    per = ((YP - YT) ** 2).mean(-1)
    w = np.array([0.25, 2.0])
    # (batch, 1) weights weight samples, exactly like (batch,) weights
    np.testing.assert_allclose(_np(losses.MeanSquaredError(reduction="none")(YT, YP, sample_weight=w.reshape(-1, 1))),
                               per * w, rtol=1e-12)
    assert float(losses.MeanSquaredError()(YT, YP, sample_weight=w.reshape(-1, 1))) == pytest.approx((per * w).mean())
    assert float(losses.MeanSquaredError()(YT, YP, sample_weight=3.0)) == pytest.approx(3 * per.mean())


def test_loss_class_kwargs_and_scalar_value():
    y = np.array([[0, 1, 0], [0, 0, 1]], dtype=np.float64)
    z = np.array([[0.5, 2.0, -1.0], [1.0, 1.0, 3.0]])
    loss = losses.CategoricalCrossentropy(from_logits=True)
    assert float(loss(y, z)) == pytest.approx(-(y * _log_softmax(z)).sum(-1).mean(), rel=1e-12)
    sparse = losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    assert float(sparse(np.array([1, 2]), z)) == pytest.approx(-(y * _log_softmax(z)).sum(), rel=1e-12)
    bce = losses.BinaryCrossentropy()
    t, p = np.array([[1.0], [0.0]]), np.array([[0.8], [0.3]])
    assert float(bce(t, p)) == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2, rel=1e-12)


def test_invalid_reduction():
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")


def test_loss_config_round_trip():
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, reduction="sum", name="cce")
    cfg = loss.get_config()
    clone = losses.CategoricalCrossentropy.from_config(cfg)
    assert clone.get_config() == cfg
    y = np.array([[0, 1, 0.0]])
    z = np.array([[0.2, 0.1, 3.0]])
    assert float(clone(y, z)) == pytest.approx(float(loss(y, z)))
    assert float(clone(y, z)) == pytest.approx(cce_ref(y, _softmax(z), 0.1)[0], rel=1e-10)


# --- gradients through the tape ----------------------------------------------------------------

def _grad(loss_fn, z):
    v = ops.Variable(ops.convert_to_tensor(z).value, name="logits")
    with ops.GradientTape() as tape:
        loss = loss_fn(v)
    return _np(tape.gradient(loss, [v])[0])


def test_cce_from_logits_gradient_is_softmax_minus_onehot_over_batch():
    z = RNG.normal(size=(5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    y = _onehot(labels, 4)
    want = (_softmax(z) - y) / 5
    g = _grad(lambda v: losses.CategoricalCrossentropy(from_logits=True)(y, v), z)
    np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-14)
    g = _grad(lambda v: losses.SparseCategoricalCrossentropy(from_logits=True)(labels, v), z)
    np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-14)
    g = _grad(lambda v: ops.sum(losses.categorical_crossentropy(y, v, from_logits=True)), z)
    np.testing.assert_allclose(g, want * 5, rtol=1e-10, atol=1e-14)


def test_cce_on_softmax_probabilities_gradient():
    z = RNG.normal(size=(3, 4))
    y = _onehot([1, 0, 3], 4)
    g = _grad(lambda v: losses.CategoricalCrossentropy()(y, ops.softmax(v)), z)
    np.testing.assert_allclose(g, (_softmax(z) - y) / 3, rtol=1e-8, atol=1e-12)


def test_bce_from_logits_gradient():
    z = RNG.normal(size=(4, 2)) * 2
    t = np.array([[1, 0], [0, 0], [1, 1], [0, 1]], dtype=np.float64)
    g = _grad(lambda v: losses.BinaryCrossentropy(from_logits=True)(t, v), z)
    np.testing.assert_allclose(g, (1 / (1 + np.exp(-z)) - t) / 8, rtol=1e-10, atol=1e-14)


def test_mse_gradient():
    g = _grad(lambda v: losses.MeanSquaredError()(YT, v), YP)
    np.testing.assert_allclose(g, 2 * (YP - YT) / YP.size, rtol=1e-12)


# --- metric functions --------------------------------------------------------------------------

def test_binary_accuracy_function():
    t = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    p = np.array([[0.9, 0.6, 0.5, 0.1], [0.2, 0.4, 0.7, 0.51]])
    got = _np(metrics.binary_accuracy(t, p))
    np.testing.assert_allclose(got, ((p > 0.5) == t).mean(-1))
    np.testing.assert_allclose(got, [0.5, 1.0])
    np.testing.assert_allclose(_np(metrics.binary_accuracy(t, p, threshold=0.05)), [0.5, 0.5])


def test_categorical_and_sparse_accuracy_functions():
    p = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
    labels = np.array([1, 2, 2, 0])
    want = (p.argmax(-1) == labels).astype(float)
    np.testing.assert_allclose(_np(metrics.categorical_accuracy(_onehot(labels, 3), p)), want)
    np.testing.assert_allclose(_np(metrics.sparse_categorical_accuracy(labels, p)), want)
    np.testing.assert_allclose(_np(metrics.sparse_categorical_accuracy(labels.reshape(-1, 1), p)), want)
    np.testing.assert_allclose(_np(metrics.sparse_categorical_accuracy(labels.astype(float), p)), want)
    np.testing.assert_allclose(want, [1, 0, 1, 0])


def test_top_k_accuracy_functions():
    p = np.array([[0.1, 0.5, 0.3, 0.1], [0.4, 0.3, 0.2, 0.1], [0.05, 0.05, 0.1, 0.8]])
    labels = np.array([2, 3, 0])
    want = np.array([1.0, 0.0, 0.0])  # rank of the label: 2nd, 4th, 3rd
    np.testing.assert_allclose(_np(metrics.sparse_top_k_categorical_accuracy(labels, p, k=2)), want)
    np.testing.assert_allclose(_np(metrics.top_k_categorical_accuracy(_onehot(labels, 4), p, k=2)), want)
    np.testing.assert_allclose(_np(metrics.sparse_top_k_categorical_accuracy(labels, p, k=3)), [1, 0, 1])


# --- stateful metrics -------------------------------------------------------------------------

def _batches():
    rng = np.random.default_rng(7)
    out = []
    for n in (5, 3, 8):
        labels = rng.integers(0, 3, size=n)
        p = _softmax(rng.normal(size=(n, 3)))
        w = rng.uniform(0.1, 2.0, size=n)
        out.append((labels, p, w))
    return out


def test_stateful_categorical_accuracy_over_batches():
    m = metrics.CategoricalAccuracy()
    assert m.name == "categorical_accuracy"
    correct, weights, wcorrect = [], [], []
    for labels, p, w in _batches():
        m.update_state(_onehot(labels, 3), p)
        c = (p.argmax(-1) == labels).astype(float)
        correct.append(c)
    assert float(m.result()) == pytest.approx(np.concatenate(correct).mean(), rel=1e-12)
    m.reset_state()
    assert float(m.result()) == 0.0
    for labels, p, w in _batches():
        m.update_state(_onehot(labels, 3), p, sample_weight=w)
        c = (p.argmax(-1) == labels).astype(float)
        wcorrect.append(c * w)
        weights.append(w)
    assert float(m.result()) == pytest.approx(np.concatenate(wcorrect).sum() / np.concatenate(weights).sum(),
                                              rel=1e-12)


def test_stateful_sparse_accuracy_mixed_weighted_and_unweighted():
    m = metrics.SparseCategoricalAccuracy()
    num = den = 0.0
    for i, (labels, p, w) in enumerate(_batches()):
        c = (p.argmax(-1) == labels).astype(float)
        if i == 1:
            m.update_state(labels.reshape(-1, 1), p, sample_weight=w)
            num, den = num + (c * w).sum(), den + w.sum()
        else:
            m.update_state(labels, p)
            num, den = num + c.sum(), den + len(c)
    assert float(m.result()) == pytest.approx(num / den, rel=1e-12)


def test_mean_metric_and_reset():
    m = metrics.Mean()
    m.update_state(np.array([1.0, 2.0, 3.0]))
    m.update_state(np.array([10.0]))
    assert float(m.result()) == pytest.approx(4.0)
    m.reset_states()  # Keras 2 spelling
    m.update_state(np.array([1.0, 3.0]), sample_weight=np.array([3.0, 1.0]))
    assert float(m.result()) == pytest.approx(1.5)
    assert float(metrics.Mean()(np.array([2.0, 4.0]))) == pytest.approx(3.0)


def test_mean_metric_sample_weight_shapes():
    m = metrics.Mean()
    m.update_state(np.array([1.0, 2.0, 3.0]), sample_weight=np.array([[1.0], [0.0], [2.0]]))
    assert float(m.result()) == pytest.approx(7.0 / 3.0)
    m.reset_state()
    # (batch,) weights on (batch, d) values weight rows (samples), not columns
    m.update_state(np.array([[1.0, 2.0], [3.0, 4.0]]), sample_weight=np.array([1.0, 0.0]))
    assert float(m.result()) == pytest.approx(1.5)
    acc = metrics.SparseCategoricalAccuracy()
    acc.update_state(np.array([[0], [1], [2]]), np.eye(3)[[0, 2, 2]], sample_weight=np.array([[1.0], [3.0], [1.0]]))
    assert float(acc.result()) == pytest.approx(2.0 / 5.0)


def test_stateful_mse_and_binary_accuracy_threshold():
    m = metrics.MeanSquaredError()
    m.update_state(YT[:1], YP[:1])
    m.update_state(YT[1:], YP[1:])
    assert float(m.result()) == pytest.approx(((YP - YT) ** 2).mean(), rel=1e-12)
    b = metrics.BinaryAccuracy(threshold=0.7)
    b.update_state(np.array([[1.0], [0.0], [1.0]]), np.array([[0.8], [0.6], [0.65]]))
    assert float(b.result()) == pytest.approx(2 / 3)


# --- metrics.get resolution -----------------------------------------------------------------

@pytest.mark.parametrize("loss,shape,expected", [
    (losses.categorical_crossentropy, (None, 10), metrics.categorical_accuracy),
    (losses.CategoricalCrossentropy(), (None, 10), metrics.categorical_accuracy),
    (losses.sparse_categorical_crossentropy, (None, 10), metrics.sparse_categorical_accuracy),
    (losses.SparseCategoricalCrossentropy(from_logits=True), (None, 10), metrics.sparse_categorical_accuracy),
    (losses.binary_crossentropy, (None, 3), metrics.binary_accuracy),
    (losses.BinaryCrossentropy(), None, metrics.binary_accuracy),
    (losses.mean_squared_error, (None, 1), metrics.binary_accuracy),
    (losses.mean_squared_error, (None, 4), metrics.categorical_accuracy),
    ("sparse_categorical_crossentropy", (None, 10), metrics.sparse_categorical_accuracy),
    ("binary_crossentropy", (None, 4), metrics.binary_accuracy),
])
def test_accuracy_resolution(loss, shape, expected):
    for name in ("accuracy", "acc"):
        m = metrics.get(name, loss, shape)
        assert m.fn is expected
        assert m.name == name


def test_resolved_accuracy_computes_values():
    m = metrics.get("acc", losses.sparse_categorical_crossentropy, (None, 3))
    m.update_state(np.array([0, 1, 2, 2]), np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1],
                                                     [0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
    assert float(m.result()) == pytest.approx(0.75)


def test_metrics_get_other_identifiers():
    m = metrics.get("mse")
    assert m.name == "mse"
    m.update_state(YT, YP)
    assert float(m.result()) == pytest.approx(((YP - YT) ** 2).mean(), rel=1e-12)
    assert isinstance(metrics.get("CategoricalAccuracy"), metrics.CategoricalAccuracy)
    assert isinstance(metrics.get(metrics.BinaryAccuracy), metrics.BinaryAccuracy)
    inst = metrics.Mean(name="avg")
    assert metrics.get(inst) is inst
    assert metrics.get(metrics.top_k_categorical_accuracy).name == "top_k_categorical_accuracy"
    with pytest.raises(ValueError, match="binary_accuracy"):
        metrics.get("acuracy")


def test_ignore_class_averages_over_the_kept_labels_like_keras():
    """Keras 3 masks the ignored labels, so the mean (and a sample-weighted mean) is over the kept
    ones; Lamina once divided by every label."""
    y = np.array([0, 1, 2, -1, -1, 1, -1, 0])
    p = np.array([[0.7, 0.2, 0.1]] * 8, dtype="float64")
    per = -np.log(p[np.arange(8), np.maximum(y, 0)])
    kept = y != -1
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)
    assert float(loss(y, p)) == pytest.approx(per[kept].mean(), rel=1e-12)
    sw = np.arange(1.0, 9.0)
    assert float(loss(y, p, sample_weight=sw)) == pytest.approx((per * sw)[kept].sum() / kept.sum(), rel=1e-12)
    values = losses.sparse_categorical_crossentropy(y, p, ignore_class=-1)
    np.testing.assert_array_equal(values._keras_mask.numpy(), kept)
