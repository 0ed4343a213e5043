"""Each mistake stops with one sentence naming what was given, what was expected and the fix."""
from __future__ import annotations

import io
from contextlib import redirect_stderr

import numpy as np
import pytest

import lamina
from lamina.layers import Dense, Dropout
from lamina.models import NotCompiledError, Sequential
from lamina.optimizers import SGD
from _models import blobs, mlp


def one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg, msg
    return msg


def test_fit_and_evaluate_before_compile():
    x, y, _ = blobs(n=10)
    model = mlp()
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                 lambda: model.train_on_batch(x, y)):
        with pytest.raises(NotCompiledError) as err:
            call()
        assert isinstance(err.value, ValueError) and isinstance(err.value, RuntimeError)
        assert "model.compile(" in one_line(err.value)


def test_x_and_y_of_different_lengths():
    x, y, _ = blobs(n=10)
    model = mlp()
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    with pytest.raises(ValueError) as err:
        model.fit(x, y[:7], verbose=0)
    assert "x has 10" in one_line(err.value) and "y has 7" in str(err.value)


def test_input_width_mismatch_names_layer_and_both_shapes():
    x, y, _ = blobs(n=10, features=100)
    model = mlp(features=20)
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    with pytest.raises(ValueError) as err:
        model.fit(x, y, verbose=0)
    msg = one_line(err.value)
    first = model.layers[0].name
    assert f"'{first}' (Dense)" in msg and "(20,)" in msg and "(100,)" in msg


def test_direct_call_with_wrong_width_names_dense_layer():
    layer = Dense(3)
    layer(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError) as err:
        layer(np.zeros((2, 5), "float32"))
    assert layer.name in one_line(err.value) and "4" in str(err.value) and "(2, 5)" in str(err.value)


def test_one_hot_targets_to_sparse_loss_suggests_categorical():
    x, y, _ = blobs(n=10)
    model = mlp()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    with pytest.raises(ValueError) as err:
        model.fit(x, y, verbose=0)
    assert "loss='categorical_crossentropy'" in one_line(err.value)


def test_integer_labels_to_categorical_loss_suggests_sparse():
    x, _, labels = blobs(n=10)
    model = mlp()
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    for y in (labels, labels.reshape(-1, 1)):
        with pytest.raises(ValueError) as err:
            model.fit(x, y, verbose=0)
        msg = one_line(err.value)
        assert "sparse_categorical_crossentropy" in msg and "to_categorical" in msg


@pytest.mark.parametrize("kind,call", [
    ("activation", lambda: Dense(3, activation="relux")),
    ("loss", lambda: mlp().compile(loss="categorical_crossentropyy", optimizer="sgd")),
    ("optimizer", lambda: mlp().compile(loss="mse", optimizer="sgdd")),
    ("metric", lambda: mlp().compile(loss="mse", optimizer="sgd", metrics=["acuracy"])),
])
def test_unknown_strings_list_the_valid_names(kind, call):
    with pytest.raises(ValueError) as err:
        call()
    msg = one_line(err.value)
    assert f"Unknown {kind}" in msg
    expected = {"activation": "relu", "loss": "categorical_crossentropy", "optimizer": "adam", "metric": "accuracy"}
    assert expected[kind] in msg


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "half", None])
def test_dropout_rate_outside_unit_interval(rate):
    with pytest.raises(ValueError) as err:
        Dropout(rate)
    assert "[0, 1)" in one_line(err.value)


@pytest.mark.parametrize("kw", [{"batch_size": 0}, {"batch_size": -5}, {"epochs": 0}, {"epochs": -1},
                                {"batch_size": 2.5}])
def test_non_positive_batch_size_or_epochs(kw):
    x, y, _ = blobs(n=10)
    model = mlp()
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    with pytest.raises(ValueError) as err:
        model.fit(x, y, verbose=0, **kw)
    assert "must be a positive integer" in one_line(err.value)


def test_non_finite_loss_stops_the_epoch_and_names_the_batch():
    x, y, _ = blobs(n=100)
    x[35] = np.nan  # batch 3 with batch_size 10, no shuffling
    model = mlp()
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.01))
    err = io.StringIO()
    with redirect_stderr(err):
        hist = model.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0)
    msg = err.getvalue()
    assert "Batch 3 of epoch 1" in msg and "not finite" in msg
    assert hist.epoch == [0]  # training stopped in the first epoch


def test_unexpected_keyword_arguments():
    with pytest.raises(TypeError, match="unexpected keyword"):
        Dense(3, unitz=4)
    with pytest.raises(TypeError, match="unexpected keyword"):
        SGD(lr=0.1, momentumm=0.9)
    model = mlp()
    model.compile(loss="mse", optimizer="sgd")
    with pytest.raises(TypeError, match="unexpected keyword"):
        model.fit(np.zeros((2, 20)), np.zeros((2, 3)), epochz=2)


def test_class_mode_is_accepted_with_a_warning():
    model = mlp()
    with pytest.warns(DeprecationWarning, match="class_mode"):
        model.compile(loss="categorical_crossentropy", optimizer="sgd", class_mode="categorical")
    assert model.compiled


def test_validation_split_out_of_range():
    x, y, _ = blobs(n=10)
    model = mlp()
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    with pytest.raises(ValueError, match=r"validation_split must be a number in \[0, 1\)"):
        model.fit(x, y, validation_split=1.2, verbose=0)


def test_ragged_input_is_a_type_error():
    model = mlp()
    model.compile(loss="mse", optimizer="sgd")
    with pytest.raises(TypeError, match="NumPy array"):
        model.fit([[1, 2], [3]], np.zeros((2, 3)), verbose=0)
