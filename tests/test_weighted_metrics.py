"""``compile(metrics=...)`` against ``compile(weighted_metrics=...)``: only the second kind is
weighted by ``sample_weight``/``class_weight`` (both skip masked steps), the Keras 3 log names
(``weighted_<name>`` when taken), saving, and the range check on sparse integer labels."""
from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina.layers import Dense, Input, Masking
from lamina.models import Model, Sequential

# Ten samples whose predicted class is fixed by construction (identity kernel, inputs 4·one-hot),
# and labels that make exactly samples 0, 1, 2, 5 and 8 correct.
PRED = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
LABELS = np.array([0, 1, 2, 1, 2, 2, 1, 0, 2, 2])
CORRECT = (PRED == LABELS).astype("float64")
SW = np.array([1.0, 1.0, 1.0, 4.0, 4.0, 1.0, 2.0, 2.0, 1.0, 3.0])
X = (4.0 * np.eye(3)[PRED]).astype("float32")
Y = np.eye(3, dtype="float32")[LABELS]
# Per-sample cross-entropy: the true class has probability e^4/(e^4+2) when right, 1/(e^4+2) when not.
CE = np.where(CORRECT == 1, np.log(np.exp(4.0) + 2) - 4.0, np.log(np.exp(4.0) + 2))


def _fixed_model(metrics=None, weighted_metrics=None) -> Sequential:
    model = Sequential([Dense(3, activation="softmax", use_bias=False, input_shape=(3,))])
    model.set_weights([np.eye(3, dtype="float32")])
    model.compile(lamina.optimizers.SGD(learning_rate=1e-30), "categorical_crossentropy",
                  metrics=metrics, weighted_metrics=weighted_metrics)
    return model


def _weighted_mean(values, weights):
    return float((values * weights).sum() / weights.sum())


def test_evaluate_weights_only_weighted_metrics():
    model = _fixed_model(metrics=["accuracy"], weighted_metrics=["accuracy"])
    assert model.metrics_names == ["loss", "accuracy", "weighted_accuracy"]
    loss, acc, wacc = model.evaluate(X, Y, sample_weight=SW, batch_size=4, verbose=0)
    assert acc == pytest.approx(CORRECT.mean(), abs=1e-6) == pytest.approx(0.5)
    assert wacc == pytest.approx(_weighted_mean(CORRECT, SW), abs=1e-6) == pytest.approx(5 / 20)
    assert loss == pytest.approx(float((SW * CE).sum() / len(SW)), rel=1e-5)  # Keras' sum_over_batch_size

    logs = model.evaluate(X, Y, sample_weight=SW, batch_size=4, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "accuracy", "weighted_accuracy"]
    assert logs["accuracy"] == pytest.approx(0.5) and logs["weighted_accuracy"] == pytest.approx(0.25)
    # Without sample weights both kinds agree.
    _, acc, wacc = model.evaluate(X, Y, batch_size=4, verbose=0)
    assert acc == pytest.approx(0.5) and wacc == pytest.approx(0.5)


def test_plain_metrics_ignore_sample_weight_and_weighted_ones_keep_their_name():
    plain = _fixed_model(metrics=["accuracy", "mse"])
    logs = plain.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    mse = ((np.exp(4.0 * np.eye(3)[PRED]) / (np.exp(4.0) + 2) - Y) ** 2).mean(axis=1)
    assert logs["accuracy"] == pytest.approx(0.5)
    assert logs["mse"] == pytest.approx(float(mse.mean()), rel=1e-5)

    weighted = _fixed_model(weighted_metrics=["accuracy", "mse"])
    assert weighted.metrics_names == ["loss", "accuracy", "mse"]
    logs = weighted.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    assert logs["accuracy"] == pytest.approx(0.25)
    assert logs["mse"] == pytest.approx(_weighted_mean(mse, SW), rel=1e-5)


def test_fit_logs_with_sample_weight_and_class_weight():
    model = _fixed_model(metrics=["accuracy"], weighted_metrics=["accuracy"])
    history = model.fit(X, Y, sample_weight=SW, batch_size=3, epochs=1, shuffle=False, verbose=0)
    assert list(history.history) == ["loss", "accuracy", "weighted_accuracy"]
    assert history.history["accuracy"][0] == pytest.approx(0.5)
    assert history.history["weighted_accuracy"][0] == pytest.approx(0.25)

    class_weight = {0: 1.0, 1: 5.0, 2: 2.0}
    cw = np.array([class_weight[c] for c in LABELS])
    history = model.fit(X, Y, class_weight=class_weight, batch_size=3, epochs=1, shuffle=False, verbose=0)
    logs = {k: v[0] for k, v in history.history.items()}
    assert logs["accuracy"] == pytest.approx(0.5)  # class_weight leaves plain metrics alone
    assert logs["weighted_accuracy"] == pytest.approx(_weighted_mean(CORRECT, cw))  # 12/27
    # The loss is the batch-size-weighted mean of the batches' class-weighted losses.
    batches = [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    loss = sum((cw[b] * CE[b]).sum() for b in batches) / len(CE)
    assert logs["loss"] == pytest.approx(loss, rel=1e-5)


def test_validation_sample_weights_reach_only_weighted_metrics():
    model = _fixed_model(metrics=["accuracy"], weighted_metrics=["accuracy"])
    history = model.fit(X, Y, validation_data=(X, Y, SW), batch_size=5, epochs=1, verbose=0)
    assert list(history.history) == ["loss", "accuracy", "weighted_accuracy", "val_loss", "val_accuracy",
                                     "val_weighted_accuracy"]
    assert history.history["weighted_accuracy"][0] == pytest.approx(0.5)  # no training weights
    assert history.history["val_accuracy"][0] == pytest.approx(0.5)
    assert history.history["val_weighted_accuracy"][0] == pytest.approx(0.25)


def test_test_on_batch_and_train_on_batch_follow_the_same_rule():
    model = _fixed_model(metrics=["accuracy"], weighted_metrics=["accuracy"])
    assert model.test_on_batch(X, Y, sample_weight=SW)[1:] == pytest.approx([0.5, 0.25])
    logs = model.train_on_batch(X, Y, sample_weight=SW, return_dict=True)
    assert logs["accuracy"] == pytest.approx(0.5) and logs["weighted_accuracy"] == pytest.approx(0.25)


def test_masked_sequence_output_masks_both_kinds():
    # Two sequences of four steps; all-zero steps are padding (masked). Predicted class per step
    # is the one-hot input's; a padded step would predict class 0 (uniform softmax, argmax 0).
    pred = np.array([[0, 1, 2, 0], [2, 2, 0, 0]])
    keep = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=bool)
    labels = np.array([[0, 2, 2, 0], [2, 1, 0, 0]])  # padded steps labelled 0: "right" if unmasked
    x = (4.0 * np.eye(3)[pred] * keep[..., None]).astype("float32")
    y = np.eye(3, dtype="float32")[labels]
    sw = np.array([1.0, 3.0])
    inp = Input((4, 3))
    out = Dense(3, activation="softmax", use_bias=False)(Masking(0.0)(inp))
    model = Model(inp, out)
    model.set_weights([np.eye(3, dtype="float32")])
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"], weighted_metrics=["accuracy"])

    right = (pred == labels) & keep  # steps (0,0), (0,2), (1,0): 3 of the 5 kept steps
    logs = model.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    assert logs["accuracy"] == pytest.approx(right.sum() / keep.sum()) == pytest.approx(0.6)
    step_w = sw[:, None] * keep
    assert logs["weighted_accuracy"] == pytest.approx((step_w * right).sum() / step_w.sum())  # 5/9
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["accuracy"] == pytest.approx(0.6) and logs["weighted_accuracy"] == pytest.approx(0.6)


def test_log_names_follow_keras3_for_several_outputs():
    inp = Input((3,))
    a = Dense(3, activation="softmax", name="a")(inp)
    b = Dense(3, activation="softmax", name="b")(inp)
    model = Model(inp, [a, b])
    model.compile("sgd", ["categorical_crossentropy"] * 2, metrics=[["accuracy"], ["mse"]],
                  weighted_metrics=[["accuracy", "accuracy"], ["accuracy"]])
    # Keras 3 logs the same names for this compile call (its History sorts them).
    expected = ["loss", "a_loss", "b_loss", "a_accuracy", "a_weighted_accuracy", "a_weighted_accuracy_1",
                "b_mse", "b_accuracy"]
    assert model.metrics_names == expected
    history = model.fit(X, [Y, Y], sample_weight=SW, epochs=1, verbose=0)
    assert list(history.history) == expected
    values = model.evaluate(X, [Y, Y], sample_weight=SW, verbose=0)
    assert len(values) == len(expected)
    assert list(model.evaluate(X, [Y, Y], verbose=0, return_dict=True)) == expected


def test_unweighted_duplicates_get_an_index_as_in_keras3():
    model = _fixed_model(metrics=["accuracy", "accuracy"], weighted_metrics=["mse", "accuracy"])
    assert model.metrics_names == ["loss", "accuracy", "accuracy_1", "mse", "weighted_accuracy"]
    logs = model.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    assert list(logs) == model.metrics_names
    assert logs["accuracy_1"] == pytest.approx(0.5) and logs["weighted_accuracy"] == pytest.approx(0.25)


def test_weighted_metrics_survive_save_and_load(tmp_path):
    model = _fixed_model(metrics=["accuracy"], weighted_metrics=["accuracy", "mse"])
    path = tmp_path / "weighted.lamina"
    model.save(path)
    loaded = lamina.models.load_model(path)
    assert loaded.metrics_names == ["loss", "accuracy", "weighted_accuracy", "mse"]
    assert loaded._compile_args["weighted_metrics"] == ["accuracy", "mse"]
    logs = loaded.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    assert logs["accuracy"] == pytest.approx(0.5) and logs["weighted_accuracy"] == pytest.approx(0.25)


# --- sparse labels out of range ---------------------------------------------------------------------
def _sparse_model(loss="sparse_categorical_crossentropy") -> Sequential:
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile("sgd", loss)
    return model


def test_sparse_labels_outside_the_classes_are_rejected():
    x = np.zeros((20, 4), "float32")
    model = _sparse_model()
    with pytest.raises(ValueError, match=r"expects integer class labels in \[0, 3\) for an output of 3 classes, "
                                         r"but the targets contain 5.*loss of 0\.0.*0\.\.2"):
        model.fit(x, np.full(20, 5), verbose=0)
    with pytest.raises(ValueError, match=r"in \[0, 3\) .* contain -1"):
        model.evaluate(x, np.r_[np.zeros(19), -1.0].reshape(20, 1), verbose=0)
    with pytest.raises(ValueError, match=r"contain 3"):
        model.train_on_batch(x, np.arange(20) % 4)
    # In range, as (n,) or (n, 1): accepted.
    assert np.isfinite(model.evaluate(x, np.arange(20) % 3, verbose=0))
    assert np.isfinite(model.evaluate(x, (np.arange(20) % 3).reshape(20, 1), verbose=0))


def test_sparse_label_check_names_the_output_and_respects_ignore_class():
    x = np.zeros((20, 4), "float32")
    model = _sparse_model(lamina.losses.SparseCategoricalCrossentropy(ignore_class=-1))
    labels = np.r_[np.full(10, -1), np.full(10, 2)]
    assert np.isfinite(model.evaluate(x, labels, verbose=0))
    with pytest.raises(ValueError, match=r"contain 7 \(besides ignore_class=-1\)"):
        model.evaluate(x, np.r_[labels[:-1], 7], verbose=0)

    inp = Input((4,))
    model = Model(inp, [Dense(2, activation="softmax", name="a")(inp), Dense(4, activation="softmax", name="b")(inp)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"for output 'a' expects integer class labels in \[0, 2\)"):
        model.evaluate(x, [np.full(20, 3), np.full(20, 3)], verbose=0)
