"""The metric catalog (Accuracy, top-k, Precision, Recall, AUC, the confusion counts, RMSE, Sum…)
against NumPy references written here, plus sample weights, names, configs, device residency and
use from ``model.compile``; and the loss catalog's completeness (every Keras 2 loss and alias,
focal losses, class constructors, serialization)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lamina import losses, metrics, ops

EPS = 1e-7
RNG = np.random.default_rng(2024)


def _f(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def _binary_batches(n_batches=3, shape=(20, 3), seed=5):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        y = (rng.uniform(size=shape) < 0.4).astype(np.float64)
        p = np.clip(0.35 * y + rng.uniform(size=shape) * 0.65, 0, 1)  # informative but imperfect scores
        w = rng.uniform(0.2, 2.0, size=shape[0])
        out.append((y, p, w))
    return out


# --- NumPy references ----------------------------------------------------------------------------

def confusion_ref(y, p, w, thresholds):
    """Weighted tp, fp, tn, fn per threshold; positive means p > threshold; w per entry."""
    y, p, w = y.ravel() != 0, p.ravel(), w.ravel()
    out = []
    for t in thresholds:
        pos = p > t
        out.append([w[pos & y].sum(), w[pos & ~y].sum(), w[~pos & ~y].sum(), w[~pos & y].sum()])
    return np.array(out).T  # (4, T)


def auc_thresholds(n):
    return np.array([-EPS] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + EPS])


def _safe_div(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    out = np.zeros_like(a)
    nz = b != 0
    out[nz] = a[nz] / b[nz]
    return out


def roc_auc_trapezoid(tp, fp, tn, fn):
    """Trapezoids under (FPR, TPR) over the thresholds, computed with np.trapz-style sums."""
    tpr, fpr = _safe_div(tp, tp + fn), _safe_div(fp, fp + tn)
    return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))


def pr_auc_interpolated(tp, fp, fn):
    """Davis & Goadrich: between two thresholds precision follows tp / (tp + slope-interpolated p)."""
    total = 0.0
    for i in range(len(tp) - 1):
        dtp, p0, p1 = tp[i] - tp[i + 1], tp[i] + fp[i], tp[i + 1] + fp[i + 1]
        dp = p0 - p1
        if dp <= 0 or dtp == 0:
            continue
        slope = dtp / dp
        intercept = tp[i + 1] - slope * p1
        ratio = p0 / p1 if p0 > 0 and p1 > 0 else 1.0
        denom = tp[i + 1] + fn[i + 1]
        if denom > 0:
            total += slope * (dtp + intercept * np.log(ratio)) / denom
    return total


def rank_auc(y, p, w=None):
    """Exact weighted ROC AUC (probability a positive outranks a negative, ties count half)."""
    y, p = y.ravel() != 0, p.ravel()
    w = np.ones_like(p) if w is None else w.ravel()
    pos, neg = np.where(y)[0], np.where(~y)[0]
    num = sum(w[i] * w[j] * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0) for i in pos for j in neg)
    return num / (w[pos].sum() * w[neg].sum())


# --- accuracy family ---------------------------------------------------------------------------------

def test_accuracy_counts_exact_matches_with_weights():
    m = metrics.Accuracy()
    assert m.name == "accuracy"
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert float(m.result()) == pytest.approx(0.75)
    m.update_state(np.array([1.0, 2.0]), np.array([1.0, 0.0]), sample_weight=np.array([3.0, 1.0]))
    assert float(m.result()) == pytest.approx((3 + 3) / (4 + 4))
    m.reset_state()
    assert float(m.result()) == 0.0


def test_top_k_metrics_with_sample_weight_over_batches():
    rng = np.random.default_rng(3)
    m, s = metrics.TopKCategoricalAccuracy(k=2), metrics.SparseTopKCategoricalAccuracy(k=2)
    assert (m.name, s.name) == ("top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy")
    num = den = 0.0
    for n in (7, 5):
        scores = rng.normal(size=(n, 5))
        labels = rng.integers(0, 5, size=n)
        w = rng.uniform(0.5, 1.5, size=n)
        m.update_state(np.eye(5)[labels], scores, sample_weight=w)
        s.update_state(labels, scores, sample_weight=w)
        hit = np.array([labels[i] in np.argsort(-scores[i])[:2] for i in range(n)], float)
        num, den = num + (hit * w).sum(), den + w.sum()
    assert float(m.result()) == pytest.approx(num / den, rel=1e-12)
    assert float(s.result()) == pytest.approx(num / den, rel=1e-12)
    assert metrics.TopKCategoricalAccuracy().get_config()["k"] == 5


# --- precision, recall, confusion counts ---------------------------------------------------------------

def test_precision_recall_default_threshold_over_weighted_batches():
    prec, rec = metrics.Precision(), metrics.Recall()
    assert (prec.name, rec.name) == ("precision", "recall")
    counts = np.zeros(4)
    for y, p, w in _binary_batches():
        prec.update_state(y, p, sample_weight=w)
        rec.update_state(y, p, sample_weight=w)
        counts += confusion_ref(y, p, np.broadcast_to(w[:, None], y.shape), [0.5])[:, 0]
    tp, fp, tn, fn = counts
    assert float(prec.result()) == pytest.approx(tp / (tp + fp), rel=1e-12)
    assert float(rec.result()) == pytest.approx(tp / (tp + fn), rel=1e-12)
    assert 0.2 < tp / (tp + fp) < 0.99  # the data make a non-trivial case


def test_precision_recall_hand_counts():
    y = np.array([0, 1, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.5])  # 0.5 is not > 0.5
    prec, rec = metrics.Precision(), metrics.Recall()
    prec.update_state(y, p)
    rec.update_state(y, p)
    assert float(prec.result()) == pytest.approx(2 / 3)  # tp 2 (0.8, 0.6), fp 1 (0.9)
    assert float(rec.result()) == pytest.approx(2 / 3)  # fn 1 (0.3)


def test_precision_recall_several_thresholds_give_vectors():
    thresholds = [0.1, 0.4, 0.7]
    prec, rec = metrics.Precision(thresholds=thresholds), metrics.Recall(thresholds=thresholds)
    counts = 0
    for y, p, _ in _binary_batches():
        prec.update_state(y, p)
        rec.update_state(y, p)
        counts = counts + confusion_ref(y, p, np.ones_like(p), thresholds)
    tp, fp, tn, fn = counts
    np.testing.assert_allclose(_f(prec.result()), tp / (tp + fp), rtol=1e-12)
    np.testing.assert_allclose(_f(rec.result()), tp / (tp + fn), rtol=1e-12)
    assert _f(prec.result()).shape == (3,)


def test_precision_top_k_and_class_id():
    y = np.array([[0, 0, 1, 1], [1, 0, 0, 0], [0, 1, 0, 1]], float)
    p = np.array([[0.1, 0.2, 0.9, 0.3], [0.8, 0.7, 0.1, 0.6], [0.4, 0.3, 0.2, 0.35]])
    # top_k=2 (no threshold): predicted positives are each row's two largest scores
    top2 = np.zeros_like(p, bool)
    for i, row in enumerate(p):
        top2[i, np.argsort(-row)[:2]] = True
    tp, fp, fn = (top2 & (y == 1)).sum(), (top2 & (y == 0)).sum(), (~top2 & (y == 1)).sum()
    prec, rec = metrics.Precision(top_k=2), metrics.Recall(top_k=2)
    prec.update_state(y, p)
    rec.update_state(y, p)
    assert float(prec.result()) == pytest.approx(tp / (tp + fp))
    assert float(rec.result()) == pytest.approx(tp / (tp + fn))
    # class_id=3 with threshold 0.5: column 3 only -> preds [0.3, 0.6, 0.35] vs labels [1, 0, 1]
    prec3, rec3 = metrics.Precision(class_id=3), metrics.Recall(class_id=3)
    prec3.update_state(y, p)
    rec3.update_state(y, p)
    assert float(prec3.result()) == 0.0  # the one positive prediction (0.6) is wrong
    assert float(rec3.result()) == 0.0
    # class_id with top_k (Keras filters the top k first, then takes the column): column 3 is in the
    # top 2 of rows 0 and 2 (both labelled 1); column 0 of rows 1 (label 1) and 2 (label 0)
    prec_k3, prec_k0 = metrics.Precision(top_k=2, class_id=3), metrics.Precision(top_k=2, class_id=0)
    prec_k3.update_state(y, p)
    prec_k0.update_state(y, p)
    assert float(prec_k3.result()) == pytest.approx(1.0)
    assert float(prec_k0.result()) == pytest.approx(0.5)


def test_precision_with_nothing_predicted_is_zero_not_nan():
    prec = metrics.Precision()
    assert float(prec.result()) == 0.0
    prec.update_state([1, 0], [0.1, 0.2])
    assert float(prec.result()) == 0.0


def test_confusion_count_metrics():
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.7, 0.2, 0.6, 0.1, 0.9])
    w = np.array([1.0, 2.0, 3.0, 4.0, 0.5])
    got = {}
    for cls in (metrics.TruePositives, metrics.FalsePositives, metrics.TrueNegatives, metrics.FalseNegatives):
        m = cls()
        m.update_state(y, p, sample_weight=w)
        got[m.name] = float(m.result())
    assert got == {"true_positives": 1.5, "false_positives": 3.0, "true_negatives": 4.0, "false_negatives": 2.0}
    m = metrics.TruePositives(thresholds=[0.15, 0.65])
    m.update_state(y, p)
    np.testing.assert_allclose(_f(m.result()), [3.0, 2.0])


def test_bad_thresholds_raise():
    with pytest.raises(ValueError, match="thresholds"):
        metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="top_k"):
        metrics.Recall(top_k=0)


# --- AUC -------------------------------------------------------------------------------------------------

def _auc_counts(batches, n_thr, weighted=True):
    counts = 0
    for y, p, w in batches:
        ww = np.broadcast_to(w[:, None], y.shape) if weighted else np.ones_like(p)
        counts = counts + confusion_ref(y, p, ww, auc_thresholds(n_thr))
    return counts


def test_auc_roc_matches_numpy_trapezoid_over_the_same_thresholds():
    auc = metrics.AUC()
    assert (auc.name, auc.num_thresholds, auc.curve, auc.summation_method) == ("auc", 200, "ROC", "interpolation")
    batches = _binary_batches()
    for y, p, w in batches:
        auc.update_state(y, p, sample_weight=w)
    tp, fp, tn, fn = _auc_counts(batches, 200)
    np.testing.assert_allclose(_f(auc.true_positives), tp, rtol=1e-12)
    np.testing.assert_allclose(_f(auc.true_negatives), tn, rtol=1e-12)
    want = roc_auc_trapezoid(tp, fp, tn, fn)
    assert float(auc.result()) == pytest.approx(want, rel=1e-12)
    # with 200 thresholds the Riemann sum is close to the exact rank statistic
    ys, ps, ws = (np.concatenate(a) for a in zip(*batches))
    exact = rank_auc(ys, ps, np.broadcast_to(ws[:, None], ys.shape))
    assert float(auc.result()) == pytest.approx(exact, abs=5e-3)


@pytest.mark.parametrize("method", ["minoring", "majoring"])
def test_auc_roc_riemann_variants(method):
    batches = _binary_batches(seed=11)
    auc = metrics.AUC(num_thresholds=50, summation_method=method)
    for y, p, _ in batches:
        auc.update_state(y, p)
    tp, fp, tn, fn = _auc_counts(batches, 50, weighted=False)
    tpr, fpr = _safe_div(tp, tp + fn), _safe_div(fp, fp + tn)
    pick = np.minimum if method == "minoring" else np.maximum
    want = np.sum((fpr[:-1] - fpr[1:]) * pick(tpr[:-1], tpr[1:]))
    assert float(auc.result()) == pytest.approx(want, rel=1e-12)


def test_auc_pr_interpolation_and_riemann():
    batches = _binary_batches(seed=8)
    pr = metrics.AUC(curve="PR", num_thresholds=100)
    pr_min = metrics.AUC(curve="pr", num_thresholds=100, summation_method="minoring")
    for y, p, w in batches:
        pr.update_state(y, p, sample_weight=w)
        pr_min.update_state(y, p, sample_weight=w)
    tp, fp, tn, fn = _auc_counts(batches, 100)
    assert float(pr.result()) == pytest.approx(pr_auc_interpolated(tp, fp, fn), rel=1e-10)
    rec, prec = _safe_div(tp, tp + fn), _safe_div(tp, tp + fp)
    want_min = np.sum((rec[:-1] - rec[1:]) * np.minimum(prec[:-1], prec[1:]))
    assert float(pr_min.result()) == pytest.approx(want_min, rel=1e-12)
    assert 0.3 < float(pr.result()) < 1.0


def test_auc_perfect_and_reversed_scores():
    y = np.array([0, 0, 1, 1])
    good, bad = metrics.AUC(), metrics.AUC()
    good.update_state(y, np.array([0.1, 0.2, 0.8, 0.9]))
    bad.update_state(y, np.array([0.9, 0.8, 0.2, 0.1]))
    assert float(good.result()) == pytest.approx(1.0)
    assert float(bad.result()) == pytest.approx(0.0, abs=1e-12)


def test_auc_multi_label_averages_per_label_curves():
    batches = _binary_batches(seed=4)
    auc = metrics.AUC(num_thresholds=30, multi_label=True)
    weighted = metrics.AUC(num_thresholds=30, multi_label=True, label_weights=[1.0, 0.0, 3.0])
    for y, p, _ in batches:
        auc.update_state(y, p)
        weighted.update_state(y, p)
    ys, ps = (np.concatenate(a) for a in list(zip(*batches))[:2])
    per_label = []
    for j in range(3):
        c = confusion_ref(ys[:, j], ps[:, j], np.ones(len(ys)), auc_thresholds(30))
        per_label.append(roc_auc_trapezoid(*c))
    assert float(auc.result()) == pytest.approx(np.mean(per_label), rel=1e-12)
    assert float(weighted.result()) == pytest.approx((per_label[0] + 3 * per_label[2]) / 4, rel=1e-12)
    assert len(set(np.round(per_label, 6))) == 3  # the labels really differ


def test_auc_from_logits_and_explicit_thresholds():
    y = np.array([0, 1, 1, 0, 1])
    z = np.array([-2.0, 1.5, 0.2, 0.4, 3.0])
    a = metrics.AUC(from_logits=True, thresholds=[0.25, 0.5, 0.75])
    assert a.num_thresholds == 5
    a.update_state(y, z)
    p = 1 / (1 + np.exp(-z))
    c = confusion_ref(y, p, np.ones(5), [-EPS, 0.25, 0.5, 0.75, 1 + EPS])
    assert float(a.result()) == pytest.approx(roc_auc_trapezoid(*c), rel=1e-12)


def test_auc_argument_errors():
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="DET")
    with pytest.raises(ValueError, match="summation_method"):
        metrics.AUC(summation_method="trapezoid")
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)


# --- regression metrics, Mean, Sum ---------------------------------------------------------------------

def test_regression_metrics_with_weights():
    t = RNG.normal(size=(6, 3))
    p = RNG.normal(size=(6, 3))
    w = RNG.uniform(0.5, 2.0, size=6)
    err = p - t
    wide = np.broadcast_to(w[:, None], t.shape)
    mse, mae, rmse = metrics.MeanSquaredError(), metrics.MeanAbsoluteError(), metrics.RootMeanSquaredError()
    assert (mse.name, mae.name, rmse.name) == ("mean_squared_error", "mean_absolute_error", "root_mean_squared_error")
    for lo, hi in ((0, 4), (4, 6)):
        mse.update_state(t[lo:hi], p[lo:hi], sample_weight=w[lo:hi])
        mae.update_state(t[lo:hi], p[lo:hi], sample_weight=w[lo:hi])
        rmse.update_state(t[lo:hi], p[lo:hi], sample_weight=w[lo:hi])
    per_mse, per_mae = (err ** 2).mean(-1), np.abs(err).mean(-1)
    assert float(mse.result()) == pytest.approx((per_mse * w).sum() / w.sum(), rel=1e-12)
    assert float(mae.result()) == pytest.approx((per_mae * w).sum() / w.sum(), rel=1e-12)
    assert float(rmse.result()) == pytest.approx(np.sqrt((err ** 2 * wide).sum() / wide.sum()), rel=1e-12)
    rmse.reset_state()
    rmse.update_state([1.0, 2.0, 3.0], [1.0, 4.0, 3.0])
    assert float(rmse.result()) == pytest.approx(np.sqrt(4 / 3))


def test_mean_and_sum():
    s = metrics.Sum()
    s.update_state([1.0, 2.0, 3.0])
    s.update_state([4.0], sample_weight=[0.5])
    assert float(s.result()) == pytest.approx(8.0)
    assert float(metrics.Sum().result()) == 0.0
    m = metrics.Mean(name="avg")
    m.update_state([1.0, 2.0, 3.0], sample_weight=[0.0, 0.0, 0.0])
    assert float(m.result()) == 0.0  # divide_no_nan, as Keras
    m = metrics.Mean()
    m.update_state(2.0, sample_weight=[1.0, 1.0, 1.0])  # a scalar value weighs the sum of its weights
    m.update_state(5.0, sample_weight=[1.0])
    assert float(m.result()) == pytest.approx(2.75)


def test_other_wrapped_metrics_match_their_functions():
    t = np.abs(RNG.normal(size=(4, 3))) + 0.1
    p = np.abs(RNG.normal(size=(4, 3))) + 0.1
    for cls, fn in [(metrics.MeanAbsolutePercentageError, losses.mean_absolute_percentage_error),
                    (metrics.MeanSquaredLogarithmicError, losses.mean_squared_logarithmic_error),
                    (metrics.LogCoshError, losses.log_cosh), (metrics.Poisson, losses.poisson),
                    (metrics.KLDivergence, losses.kl_divergence), (metrics.Hinge, losses.hinge)]:
        m = cls()
        m.update_state(t, p)
        assert float(m.result()) == pytest.approx(_f(fn(t, p)).mean(), rel=1e-12), cls.__name__
    c = metrics.CosineSimilarity()
    c.update_state(t, p)
    cos = (t * p).sum(-1) / np.linalg.norm(t, axis=-1) / np.linalg.norm(p, axis=-1)
    assert float(c.result()) == pytest.approx(cos.mean(), rel=1e-12)  # positive, unlike the loss


# --- names, configs, device residency --------------------------------------------------------------

@pytest.mark.parametrize("name,cls,expected_name", [
    ("precision", metrics.Precision, "precision"), ("recall", metrics.Recall, "recall"),
    ("auc", metrics.AUC, "auc"), ("AUC", metrics.AUC, "auc"), ("Precision", metrics.Precision, "precision"),
    ("root_mean_squared_error", metrics.RootMeanSquaredError, "root_mean_squared_error"),
    ("true_positives", metrics.TruePositives, "true_positives"),
    ("TopKCategoricalAccuracy", metrics.TopKCategoricalAccuracy, "top_k_categorical_accuracy"),
])
def test_get_class_names_and_snake_case(name, cls, expected_name):
    m = metrics.get(name)
    assert type(m) is cls and m.name == expected_name


@pytest.mark.parametrize("name,fn", [
    ("top_k_categorical_accuracy", metrics.top_k_categorical_accuracy),
    ("sparse_top_k_categorical_accuracy", metrics.sparse_top_k_categorical_accuracy),
    ("mse", losses.mean_squared_error), ("mae", losses.mean_absolute_error), ("msle", losses.mean_squared_logarithmic_error),
    ("kld", losses.kl_divergence), ("cosine_proximity", losses.cosine_similarity),
    ("cosine_similarity", metrics.cosine_similarity), ("logcosh", losses.log_cosh),
])
def test_get_function_names(name, fn):
    m = metrics.get(name)
    assert m.fn is fn and m.name == name


def test_unknown_metric_lists_valid_names():
    with pytest.raises(ValueError) as exc:
        metrics.get("precission")
    msg = str(exc.value)
    for name in ("precision", "recall", "auc", "top_k_categorical_accuracy", "accuracy", "mse"):
        assert name in msg
    with pytest.raises(ValueError, match="AUC"):
        metrics.deserialize({"class_name": "AreaUnderCurve", "config": {}})


CONFIGURED = [
    metrics.Accuracy(name="exact"), metrics.BinaryAccuracy(threshold=0.3), metrics.TopKCategoricalAccuracy(k=3),
    metrics.SparseTopKCategoricalAccuracy(k=2, name="top2"), metrics.Precision(thresholds=[0.2, 0.6], name="p"),
    metrics.Recall(top_k=2, class_id=1), metrics.AUC(num_thresholds=17, curve="PR", summation_method="majoring"),
    metrics.AUC(thresholds=[0.3, 0.6], multi_label=True, label_weights=[1.0, 2.0]), metrics.RootMeanSquaredError(),
    metrics.Mean(name="m"), metrics.Sum(), metrics.TruePositives(thresholds=0.4), metrics.BinaryCrossentropy(from_logits=True),
    metrics.MeanMetricWrapper(metrics.categorical_accuracy, name="cat"),
]


@pytest.mark.parametrize("metric", CONFIGURED, ids=lambda m: type(m).__name__)
def test_metric_config_round_trip(metric):
    cfg = metric.get_config()
    assert type(metric).from_config(cfg).get_config() == cfg
    ser = json.loads(json.dumps(metrics.serialize(metric)))
    clone = metrics.deserialize(ser)
    assert type(clone) is type(metric) and clone.get_config() == cfg
    assert metrics.get(ser).get_config() == cfg


def test_update_state_never_reads_values_back(monkeypatch):
    """update_state keeps totals on the device: no backend.to_numpy until result() is read."""
    y2 = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]], float)
    p2 = np.array([[0.2, 0.7, 0.1], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    w = np.array([1.0, 0.5, 2.0, 1.0])
    be = ops.backend_object()
    made = [metrics.get(n) for n in ("precision", "recall", "auc", "accuracy", "top_k_categorical_accuracy",
                                     "root_mean_squared_error", "mse", "true_negatives")]
    made += [metrics.AUC(multi_label=True, curve="PR"), metrics.Precision(top_k=1), metrics.Hinge(),
             metrics.CategoricalAccuracy(), metrics.Accuracy()]

    def no_sync(x):
        raise AssertionError("update_state read a device value back to the host")
    monkeypatch.setattr(be, "to_numpy", no_sync)
    for m in made:
        m.update_state(y2, p2, sample_weight=w)
        m.update_state(y2, p2)
    monkeypatch.undo()
    for m in made:
        assert np.all(np.isfinite(_f(m.result()))), m.name


def test_compile_and_fit_with_metric_names():
    from tests._models import blobs, mlp
    x, y, _ = blobs(n=240, classes=3)
    model = mlp(classes=3)
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=["accuracy", "precision", "recall", "auc", "top_k_categorical_accuracy",
                           metrics.AUC(curve="PR", name="pr_auc")])
    hist = model.fit(x, y, epochs=2, batch_size=60, verbose=0)
    for key in ("accuracy", "precision", "recall", "auc", "top_k_categorical_accuracy", "pr_auc"):
        assert key in hist.history
        assert 0.0 <= hist.history[key][-1] <= 1.0
    assert hist.history["top_k_categorical_accuracy"][-1] == 1.0  # 3 classes, k = 5
    # the epoch's AUC equals the AUC of the same predictions recomputed from scratch
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["auc"])
    result = model.evaluate(x, y, batch_size=60, verbose=0)
    ref = metrics.AUC()
    ref.update_state(y, model.predict(x, batch_size=60, verbose=0))
    assert result[-1] == pytest.approx(float(ref.result()), rel=1e-5)


def test_compile_with_adadelta_string_uses_keras2_rate():
    """optimizer='adadelta' (as the Keras 2 examples write it) learns; Keras 3's 0.001 would not."""
    from lamina import optimizers
    from tests._models import blobs, mlp
    x, y, _ = blobs(n=300, classes=3)
    final = {}
    for opt in ("adadelta", optimizers.Adadelta(learning_rate=0.001)):
        model = mlp(classes=3)
        model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
        hist = model.fit(x, y, epochs=10, batch_size=16, verbose=0)
        final[model.optimizer.learning_rate] = hist.history["accuracy"][-1]
    assert final[1.0] > 0.85
    assert final[0.001] < 0.5


# --- the loss catalog -------------------------------------------------------------------------------

KERAS2_LOSS_NAMES = [
    "mean_squared_error", "mse", "MSE", "mean_absolute_error", "mae", "MAE", "mean_absolute_percentage_error", "mape",
    "MAPE", "mean_squared_logarithmic_error", "msle", "MSLE", "squared_hinge", "hinge", "categorical_hinge", "logcosh",
    "log_cosh", "huber_loss", "huber", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "binary_crossentropy", "kullback_leibler_divergence", "kl_divergence", "kld", "KLD", "poisson",
    "cosine_proximity", "cosine_similarity", "binary_focal_crossentropy", "categorical_focal_crossentropy",
]


@pytest.mark.parametrize("name", KERAS2_LOSS_NAMES)
def test_every_keras2_loss_name_resolves_and_is_a_module_attribute(name):
    fn = losses.get(name)
    assert callable(fn)
    assert getattr(losses, name) is fn  # `from lamina.losses import <name>` works too
    t, p = np.array([[0.0, 1.0, 0.0]]), np.array([[0.2, 0.7, 0.1]])
    assert np.isfinite(_f(fn(t, p))).all()


def test_losses_mse_is_the_module_attribute_keras2_imports():
    from lamina.losses import mse, mae, logcosh, cosine_proximity  # noqa: F401  (Keras 2 import style)
    assert mse is losses.mean_squared_error and logcosh is losses.log_cosh


def _bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def test_binary_focal_crossentropy_matches_keras_formula():
    t = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    p = np.array([[0.9, 0.2, 0.4], [0.3, 0.6, 0.05]])
    p_t = t * p + (1 - t) * (1 - p)
    want = ((1 - p_t) ** 2 * _bce(t, p)).mean(-1)
    np.testing.assert_allclose(_f(losses.binary_focal_crossentropy(t, p)), want, rtol=1e-12)
    bal = (t * 0.25 + (1 - t) * 0.75) * (1 - p_t) ** 3 * _bce(t, p)
    got = losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=3.0, reduction="none")(t, p)
    np.testing.assert_allclose(_f(got), bal.mean(-1), rtol=1e-12)
    z = np.log(p / (1 - p))
    np.testing.assert_allclose(_f(losses.binary_focal_crossentropy(t, z, from_logits=True)), want, rtol=1e-9)
    ts = t * 0.9 + 0.05
    pts = ts * p + (1 - ts) * (1 - p)
    np.testing.assert_allclose(_f(losses.binary_focal_crossentropy(t, p, label_smoothing=0.1)),
                               ((1 - pts) ** 2 * _bce(ts, p)).mean(-1), rtol=1e-12)


def test_categorical_focal_crossentropy_matches_keras_formula():
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    p = np.array([[0.2, 0.5, 0.3], [0.1, 0.6, 0.3]])
    want = (0.25 * (1 - p) ** 2 * -t * np.log(p)).sum(-1)
    np.testing.assert_allclose(_f(losses.categorical_focal_crossentropy(t, p)), want, rtol=1e-12)
    z = np.log(p)
    np.testing.assert_allclose(_f(losses.CategoricalFocalCrossentropy(from_logits=True, reduction="none")(t, z)),
                               want, rtol=1e-12)


def test_loss_classes_take_keras_positional_arguments_and_names():
    assert losses.Huber(2.0).kwargs["delta"] == 2.0
    assert losses.Huber().name == "huber_loss"
    assert losses.CategoricalCrossentropy(True, 0.1).kwargs == {"from_logits": True, "label_smoothing": 0.1, "axis": -1}
    assert losses.MeanSquaredError("sum").reduction == "sum"
    assert losses.KLDivergence().name == "kl_divergence" and losses.LogCosh().name == "log_cosh"
    with pytest.raises(TypeError, match="delt"):
        losses.Huber(delt=2.0)
    assert losses.Reduction.SUM_OVER_BATCH_SIZE == "sum_over_batch_size"
    assert losses.MeanSquaredError(reduction=losses.Reduction.AUTO).reduction == "sum_over_batch_size"


ALL_LOSS_CLASSES = [losses.MeanSquaredError(), losses.MeanAbsoluteError(reduction="sum"),
                    losses.MeanAbsolutePercentageError(), losses.MeanSquaredLogarithmicError(),
                    losses.CategoricalCrossentropy(label_smoothing=0.2), losses.SparseCategoricalCrossentropy(True),
                    losses.BinaryCrossentropy(from_logits=True, name="bce"), losses.BinaryFocalCrossentropy(gamma=1.0),
                    losses.CategoricalFocalCrossentropy(alpha=0.5), losses.Hinge(), losses.SquaredHinge(),
                    losses.CategoricalHinge(), losses.LogCosh(), losses.KLDivergence(), losses.Poisson(),
                    losses.CosineSimilarity(axis=-1), losses.Huber(delta=0.5),
                    losses.LossFunctionWrapper(losses.mean_squared_error, reduction="sum")]


@pytest.mark.parametrize("loss", ALL_LOSS_CLASSES, ids=lambda l: type(l).__name__)
def test_loss_serialize_round_trip(loss):
    ser = json.loads(json.dumps(losses.serialize(loss)))
    clone = losses.deserialize(ser)
    assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
    t, p = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), np.array([[0.2, 0.7, 0.1], [0.5, 0.3, 0.2]])
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        t = np.array([1, 0])
    assert float(clone(t, p)) == pytest.approx(float(loss(t, p)), rel=1e-12)


def test_loss_serialize_functions_and_custom_objects():
    assert losses.serialize(losses.mse) == "mean_squared_error"
    assert losses.deserialize("mean_squared_error") is losses.mean_squared_error
    assert losses.deserialize({"class_name": "function", "config": "huber_loss"}) is losses.huber

    def contrastive(y, p):
        return p
    assert losses.deserialize("contrastive", custom_objects={"contrastive": contrastive}) is contrastive
    with pytest.raises(ValueError, match="contrastive"):
        losses.deserialize("contrastive")
    assert losses.get(None) is None


def test_hinge_label_conversion_needs_no_host_sync(monkeypatch):
    be = ops.backend_object()
    t01, p = np.array([[1.0, 0.0, 1.0]]), np.array([[0.3, -0.4, 1.2]])
    tpm = 2 * t01 - 1

    def no_sync(x):
        raise AssertionError("hinge read a device value back to the host")
    monkeypatch.setattr(be, "to_numpy", no_sync)
    a, b = losses.hinge(t01, p), losses.squared_hinge(np.array([[0.5, 1.0, 0.0]]), p)
    monkeypatch.undo()
    np.testing.assert_allclose(_f(a), np.maximum(1 - tpm * p, 0).mean(-1), rtol=1e-12)
    np.testing.assert_allclose(_f(b), (np.maximum(1 - np.array([[0.5, 1.0, 0.0]]) * p, 0) ** 2).mean(-1), rtol=1e-12)
