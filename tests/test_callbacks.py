"""Callbacks: Keras names, arguments and semantics, checked with real training and scripted logs."""
from __future__ import annotations

import csv
import math
import os

import numpy as np
import pytest

import lamina
from lamina import callbacks as cb_module
from lamina.callbacks import (CSVLogger, Callback, EarlyStopping, History, LambdaCallback, LearningRateScheduler,
                              ModelCheckpoint, ProgbarLogger, ReduceLROnPlateau, TerminateOnNaN)
from lamina.models import Model
from lamina.optimizers import SGD
from _models import blobs, mlp

HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
         "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end",
         "on_batch_begin", "on_batch_end"]


# --- helpers -------------------------------------------------------------------------------------
def data(n=64):
    x, y, _ = blobs(n=n, features=6, classes=3)
    return x, y


def compiled(lr=0.1, metrics=("accuracy",)):
    model = mlp(features=6, classes=3, hidden=8)
    model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=lr), metrics=list(metrics))
    return model


class Inject(Callback):
    """Puts scripted values into the epoch logs, for the callbacks after it in the list."""

    def __init__(self, **sequences):
        super().__init__()
        self.sequences = sequences

    def on_epoch_end(self, epoch, logs=None):
        for key, seq in self.sequences.items():
            logs[key] = seq[epoch]


class WeightsRecorder(Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


class FakeModel:
    """Enough of a model for driving a callback's hooks by hand."""

    def __init__(self, lr=0.1):
        self.stop_training = False
        self.optimizer = SGD(learning_rate=lr)
        self.weights = [np.zeros(2)]
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]


def drive(callback, values, key="val_loss", model=None, epochs=None):
    """Runs epoch-end hooks with scripted values until stop_training; returns (model, epochs run)."""
    model = model or FakeModel()
    callback.set_model(model)
    callback.set_params({"epochs": len(values), "verbose": 0})
    callback.on_train_begin({})
    run = 0
    for epoch, value in enumerate(values):
        model.weights = [np.full(2, float(epoch))]  # weights "after" epoch `epoch`
        callback.on_epoch_end(epoch, {key: value})
        run += 1
        if model.stop_training:
            break
    callback.on_train_end({})
    return model, run


# --- base class, History, LambdaCallback ---------------------------------------------------------------
def test_callback_base_has_every_keras_hook_and_they_accept_logs():
    cb = Callback()
    assert cb.model is None and cb.params == {}
    for hook in HOOKS:
        fn = getattr(cb, hook)
        if hook.endswith(("train_begin", "train_end", "test_begin", "test_end", "predict_begin", "predict_end")):
            fn(None)
        else:
            fn(0, None)
    cb.set_model("m")
    cb.set_params({"epochs": 3})
    assert cb.model == "m" and cb.params == {"epochs": 3}
    assert not cb.needs_batch_logs


def test_keras2_style_subclass_without_super_init_gets_model_params_and_hooks():
    x, y = data()
    seen = []

    class Keras2Style(Callback):
        def __init__(self):  # no super().__init__(), as many Keras 2 scripts
            self.losses = []

        def on_train_begin(self, logs={}):
            seen.append(("begin", self.params["epochs"], self.params["steps"], self.model.stop_training))

        def on_batch_end(self, batch, logs={}):
            self.losses.append(logs.get("loss"))

        def on_epoch_end(self, epoch, logs={}):
            seen.append(("epoch", epoch, sorted(logs)))

    model = compiled()
    cb = Keras2Style()
    assert cb.needs_batch_logs
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[cb])
    assert seen == [("begin", 2, 4, False), ("epoch", 0, ["accuracy", "loss"]), ("epoch", 1, ["accuracy", "loss"])]
    assert len(cb.losses) == 8 and all(isinstance(v, float) for v in cb.losses)
    assert cb.model is model


def test_lambda_callback_keras2_argument_names_are_called_the_right_number_of_times():
    x, y = data()
    counts = dict.fromkeys(["train_begin", "train_end", "epoch_begin", "epoch_end", "batch_begin", "batch_end",
                            "train_batch_end"], 0)

    def bump(name):
        def fn(*args):
            counts[name] += 1
        return fn

    cb = LambdaCallback(on_epoch_begin=bump("epoch_begin"), on_epoch_end=bump("epoch_end"),
                        on_batch_begin=bump("batch_begin"), on_batch_end=bump("batch_end"),
                        on_train_begin=bump("train_begin"), on_train_end=bump("train_end"),
                        on_train_batch_end=bump("train_batch_end"))
    compiled().fit(x, y, batch_size=20, epochs=3, verbose=0, callbacks=[cb])  # 4 steps per epoch
    assert counts == {"train_begin": 1, "train_end": 1, "epoch_begin": 3, "epoch_end": 3, "batch_begin": 12,
                      "batch_end": 12, "train_batch_end": 12}
    with pytest.raises(TypeError, match="unknown hook 'on_epoch_finish'"):
        LambdaCallback(on_epoch_finish=print)


def test_history_records_epochs_and_values():
    x, y = data()
    hist = compiled().fit(x, y, batch_size=32, epochs=3, verbose=0, validation_split=0.25)
    assert isinstance(hist, History)
    assert hist.epoch == [0, 1, 2]
    assert sorted(hist.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 3 for v in hist.history.values())


def test_non_callback_in_list_is_a_type_error():
    x, y = data()
    with pytest.raises(TypeError, match="Callback instances"):
        compiled().fit(x, y, epochs=1, verbose=0, callbacks=[lambda: None])


# --- EarlyStopping -----------------------------------------------------------------------------------
@pytest.mark.parametrize("values, patience, min_delta, stopped", [
    ([1.0, 0.9, 0.95, 0.91, 0.8, 0.7], 2, 0.0, 3),     # best at epoch 1; epochs 2 and 3 do not improve
    ([1.0, 0.9, 0.95, 0.91, 0.8, 0.7], 3, 0.0, 0),     # epoch 4 improves in time: never stops
    ([1.0, 0.99, 0.98, 0.97, 0.5, 0.4], 2, 0.05, 2),   # improvements smaller than min_delta do not count
    ([1.0, 1.0, 1.0, 1.0], 0, 0.0, 1),                 # patience 0: the first non-improving epoch after 0
])
def test_early_stopping_stops_at_the_keras_epoch(values, patience, min_delta, stopped):
    es = EarlyStopping(patience=patience, min_delta=min_delta)
    model, run = drive(es, values)
    assert es.stopped_epoch == stopped
    assert run == (stopped + 1 if stopped else len(values))
    assert model.stop_training == bool(stopped)


def test_early_stopping_auto_mode_maximises_accuracy_and_auc():
    assert EarlyStopping(monitor="val_accuracy").mode == "max"
    assert EarlyStopping(monitor="acc").mode == "max"
    assert EarlyStopping(monitor="val_auc").mode == "max"
    assert EarlyStopping(monitor="val_precision").mode == "max"
    assert EarlyStopping(monitor="val_loss").mode == "min"
    assert EarlyStopping(monitor="mae").mode == "min"
    es = EarlyStopping(monitor="val_accuracy", patience=1)
    _, run = drive(es, [0.5, 0.7, 0.6, 0.9], key="val_accuracy")
    assert es.stopped_epoch == 2 and run == 3 and es.best == 0.7 and es.best_epoch == 1


def test_early_stopping_baseline_and_start_from_epoch():
    # Improvements that do not beat the baseline do not reset the count (Keras >= 2.11 / 3).
    es = EarlyStopping(patience=2, baseline=0.5)
    _, run = drive(es, [0.9, 0.8, 0.85, 0.4])
    assert es.stopped_epoch == 2 and run == 3 and es.best == 0.8
    es = EarlyStopping(patience=2)  # the same values without a baseline go on
    _, run = drive(es, [0.9, 0.8, 0.85, 0.4])
    assert es.stopped_epoch == 0 and run == 4
    es = EarlyStopping(patience=2, baseline=0.5)
    _, run = drive(es, [0.4, 0.45, 0.3, 0.35, 0.36, 0.1])
    assert es.stopped_epoch == 4 and run == 5
    # Warm-up epochs are not watched.
    es = EarlyStopping(patience=1, start_from_epoch=3)
    _, run = drive(es, [0.1, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert es.stopped_epoch == 4 and es.best == 0.7 and es.best_epoch == 3


def test_early_stopping_restore_best_weights_with_a_fake_model():
    es = EarlyStopping(patience=2, restore_best_weights=True)
    model, _ = drive(es, [1.0, 0.5, 0.7, 0.8, 0.2])
    assert es.stopped_epoch == 3
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])  # epoch 1's weights
    # Not stopped early: Keras 3 still restores the best epoch at the end.
    es = EarlyStopping(patience=5, restore_best_weights=True)
    model, run = drive(es, [1.0, 0.5, 0.7])
    assert run == 3 and es.stopped_epoch == 0
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])


def test_early_stopping_in_fit_stops_and_restores_the_best_epochs_weights_exactly(capsys):
    x, y = data()
    model = compiled()
    scripted = [0.9, 0.6, 0.3, 0.5, 0.4, 0.45, 0.2, 0.1]
    recorder = WeightsRecorder()
    es = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True, verbose=1)
    hist = model.fit(x, y, batch_size=16, epochs=8, verbose=0, callbacks=[Inject(val_loss=scripted), recorder, es])
    assert hist.epoch == [0, 1, 2, 3, 4, 5]
    assert hist.history["val_loss"] == scripted[:6]
    assert es.stopped_epoch == 5 and es.best_epoch == 2 and model.stop_training
    for got, want in zip(model.get_weights(), recorder.weights[2]):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(recorder.weights[2][0], recorder.weights[5][0])  # training did move them
    out = capsys.readouterr().out
    assert "Epoch 6: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 3." in out


def test_early_stopping_on_a_real_metric_stops_before_the_last_epoch():
    x, y = data()
    model = compiled(lr=1e-9)  # nothing changes, so val_loss cannot improve by min_delta
    es = EarlyStopping(monitor="val_loss", patience=2, min_delta=1e-3)
    hist = model.fit(x, y, batch_size=32, epochs=10, verbose=0, validation_split=0.25, callbacks=[es])
    assert len(hist.epoch) == 3 and es.stopped_epoch == 2


def test_early_stopping_bad_mode_and_missing_monitor():
    with pytest.raises(ValueError, match=r"^EarlyStopping mode must be 'auto', 'min' or 'max', got 'maximum'\.$"):
        EarlyStopping(mode="maximum")
    x, y = data()
    es = EarlyStopping(monitor="val_loss", patience=0)
    with pytest.warns(RuntimeWarning, match="`val_loss` which is not available. Available metrics are: loss,accuracy"):
        hist = compiled().fit(x, y, epochs=3, verbose=0, callbacks=[es])  # no validation data
    assert len(hist.epoch) == 3


# --- ReduceLROnPlateau -------------------------------------------------------------------------------
def test_reduce_lr_on_plateau_patience_cooldown_and_min_lr_in_fit(capsys):
    x, y = data()
    model = compiled(lr=0.1)
    rl = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_lr=0.02, verbose=1)
    hist = model.fit(x, y, batch_size=32, epochs=10, verbose=0, callbacks=[Inject(val_loss=[1.0] * 10), rl])
    # Keras' algorithm by hand: reductions at epochs 2, 4 and 6 (the last one clipped to min_lr).
    assert hist.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02],
                                                          rel=1e-12)
    assert hist.history["lr"] == hist.history["learning_rate"]
    assert model.optimizer.learning_rate == pytest.approx(0.02) and model.optimizer.lr == pytest.approx(0.02)
    out = capsys.readouterr().out
    assert out.count("ReduceLROnPlateau reducing learning rate") == 3
    assert "Epoch 3: ReduceLROnPlateau reducing learning rate to 0.05." in out


def test_reduce_lr_on_plateau_improvement_resets_and_min_delta():
    rl = ReduceLROnPlateau(factor=0.1, patience=2, min_delta=0.01)
    model = FakeModel(lr=1.0)
    # 0.995 is not better than 1.0 by min_delta; 0.5 is and resets the count; epochs 3 and 4 do not
    # improve, so the rate drops after epoch 4; 0.499 is again within min_delta.
    _, run = drive(rl, [1.0, 0.995, 0.5, 0.5, 0.5, 0.499], model=model)
    assert run == 6
    assert model.optimizer.learning_rate == pytest.approx(0.1)
    assert rl.wait == 1 and rl.best == 0.5
    rl = ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)
    assert rl.mode == "max"
    model = FakeModel(lr=1.0)
    drive(rl, [0.5, 0.6, 0.55, 0.58, 0.7], key="val_accuracy", model=model)
    assert model.optimizer.learning_rate == pytest.approx(0.25)


def test_reduce_lr_on_plateau_arguments():
    with pytest.warns(DeprecationWarning, match="min_delta"):
        rl = ReduceLROnPlateau(epsilon=0.5)
    assert rl.min_delta == 0.5
    assert (rl.monitor, rl.factor, rl.patience, rl.cooldown, rl.min_lr) == ("val_loss", 0.1, 10, 0, 0.0)
    with pytest.raises(ValueError, match="factor must be between 0 and 1"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match=r"^ReduceLROnPlateau mode must be"):
        ReduceLROnPlateau(mode="up")
    rl = ReduceLROnPlateau(monitor="val_loss", patience=0)
    with pytest.warns(RuntimeWarning, match="`val_loss` which is not available"):
        drive(rl, [0.1, 0.2], key="loss")
    rl = ReduceLROnPlateau()
    rl.set_model(FakeModel())
    rl.model.optimizer.learning_rate = lamina.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    with pytest.raises(TypeError, match="pass a float learning rate"):
        rl.on_train_begin()


# --- LearningRateScheduler ---------------------------------------------------------------------------
def test_learning_rate_scheduler_sets_the_rate_each_epoch(capsys):
    x, y = data()
    model = compiled(lr=0.1)
    during = []
    probe = LambdaCallback(on_epoch_begin=lambda epoch, logs: during.append(model.optimizer.learning_rate))
    sched = LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1), verbose=1)
    hist = model.fit(x, y, batch_size=32, epochs=4, verbose=0, callbacks=[sched, probe])
    assert during == pytest.approx([0.1, 0.05, 0.1 / 3, 0.025], rel=1e-12)
    assert hist.history["learning_rate"] == pytest.approx(during, rel=1e-12)
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.05." in capsys.readouterr().out


def test_learning_rate_scheduler_two_argument_form_gets_the_current_rate():
    x, y = data()
    model = compiled(lr=0.2)
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return lr if epoch == 0 else lr * 0.5

    hist = model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[LearningRateScheduler(schedule)])
    assert seen == [(0, pytest.approx(0.2)), (1, pytest.approx(0.2)), (2, pytest.approx(0.1))]
    assert hist.history["learning_rate"] == pytest.approx([0.2, 0.1, 0.05])
    assert model.optimizer.learning_rate == pytest.approx(0.05)


def test_learning_rate_scheduler_rate_is_the_one_used_for_updates():
    x, y = data()
    a = compiled(lr=0.3)
    a.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False,
          callbacks=[LearningRateScheduler(lambda epoch: 0.05)])
    b = compiled(lr=0.05)
    b.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_learning_rate_scheduler_bad_return_values():
    sched = LearningRateScheduler(lambda epoch: "fast")
    sched.set_model(FakeModel())
    with pytest.raises(ValueError, match="must return a number, got 'fast' for epoch 0"):
        sched.on_epoch_begin(0)
    sched = LearningRateScheduler(lambda epoch, lr: np.float32(0.5))  # NumPy scalars are fine
    sched.set_model(FakeModel())
    sched.on_epoch_begin(0)
    assert sched.model.optimizer.learning_rate == 0.5
    with pytest.raises(TypeError, match="must be a function"):
        LearningRateScheduler(0.1)


# --- CSVLogger ------------------------------------------------------------------------------------
def read_csv(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_header_rows_and_values(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    hist = compiled().fit(x, y, batch_size=32, epochs=3, verbose=0, validation_split=0.25,
                          callbacks=[CSVLogger(path)])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    for i, row in enumerate(rows[1:]):
        assert [float(v) for v in row[1:]] == [hist.history[k][i] for k in rows[0][1:]]  # exact round trip
    assert path.read_text().count("\n") == 4 and "\r" not in path.read_text()


def test_csv_logger_append_writes_the_header_once_and_keeps_columns(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    model = compiled()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    # Resumed run: the learning rate now appears in the logs, but the file's columns are kept.
    model.fit(x, y, epochs=4, initial_epoch=2, verbose=0,
              callbacks=[LearningRateScheduler(lambda e: 0.1), CSVLogger(path, separator=";", append=True)])
    rows = read_csv(path, ";")
    assert rows[0] == ["epoch", "accuracy", "loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    assert all(len(r) == 3 for r in rows)
    # append=False starts over.
    model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(path)])
    assert read_csv(path) == [["epoch", "accuracy", "loss"], ["0", read_csv(path)[1][1], read_csv(path)[1][2]]]
    assert len(read_csv(path)) == 2


def test_csv_logger_append_to_a_new_file_writes_a_header_and_mends_a_cut_row(tmp_path):
    path = tmp_path / "new.csv"
    log = CSVLogger(path, append=True)
    log.on_train_begin()
    log.on_epoch_end(0, {"loss": 0.5, "b": [1, 2]})
    log.on_train_end()
    assert path.read_text() == 'epoch,b,loss\n0,"[1, 2]",0.5\n'
    with open(path, "a") as f:
        f.write("1,[3")  # a process killed in the middle of a row
    log = CSVLogger(path, append=True)
    log.on_train_begin()
    log.on_epoch_end(1, {"loss": 0.25})
    log.on_train_end()
    assert path.read_text().splitlines() == ["epoch,b,loss", '0,"[1, 2]",0.5', "1,[3", "1,NA,0.25"]


def test_csv_logger_rows_are_on_disk_after_each_epoch(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    lines_seen = []
    probe = LambdaCallback(on_epoch_end=lambda epoch, logs: lines_seen.append(path.read_text().count("\n")))
    compiled().fit(x, y, epochs=3, verbose=0, callbacks=[CSVLogger(path), probe])
    assert lines_seen == [2, 3, 4]  # header + one complete row per finished epoch, before train end


def test_csv_logger_learning_rate_column_from_an_earlier_callback(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    compiled(lr=0.1).fit(x, y, epochs=2, verbose=0,
                         callbacks=[ReduceLROnPlateau(monitor="loss", patience=100), CSVLogger(path)])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "learning_rate", "loss", "lr"]
    assert [float(r[2]) for r in rows[1:]] == [0.1, 0.1]


# --- ModelCheckpoint (with fake save methods) -------------------------------------------------------
def fake_saving(model, monkeypatch):
    """Replaces model.save/save_weights with functions that write a small file and record the call."""
    calls = []

    def make(kind):
        def save(path, *args, **kwargs):
            calls.append((kind, os.fspath(path)))
            with open(path, "w") as f:
                f.write(kind)
        return save

    monkeypatch.setattr(model, "save", make("model"), raising=False)
    monkeypatch.setattr(model, "save_weights", make("weights"), raising=False)
    return calls


def test_model_checkpoint_templates_and_missing_folders(tmp_path, monkeypatch):
    x, y = data()
    model = compiled()
    calls = fake_saving(model, monkeypatch)
    template = str(tmp_path / "a" / "b" / "ckpt-{epoch:02d}-{val_loss:.2f}-{accuracy:.3f}.lam")
    hist = model.fit(x, y, batch_size=32, epochs=3, verbose=0, validation_split=0.25,
                     callbacks=[ModelCheckpoint(template)])
    expected = [str(tmp_path / "a" / "b" / f"ckpt-{e + 1:02d}-{hist.history['val_loss'][e]:.2f}-"
                                           f"{hist.history['accuracy'][e]:.3f}.lam") for e in range(3)]
    assert calls == [("model", p) for p in expected]
    assert sorted(os.listdir(tmp_path / "a" / "b")) == sorted(os.path.basename(p) for p in expected)


def test_model_checkpoint_save_best_only_min_and_max(tmp_path, monkeypatch, capsys):
    x, y = data()
    model = compiled()
    calls = fake_saving(model, monkeypatch)
    ck = ModelCheckpoint(str(tmp_path / "m{epoch}.lam"), save_best_only=True, verbose=1)
    model.fit(x, y, epochs=5, verbose=0, callbacks=[Inject(val_loss=[1.0, 0.8, 0.9, 0.7, 0.7]), ck])
    assert [os.path.basename(p) for _, p in calls] == ["m1.lam", "m2.lam", "m4.lam"]
    assert ck.best == 0.7
    out = capsys.readouterr().out
    assert "Epoch 1: val_loss improved from inf to 1.00000, saving model to" in out
    assert "Epoch 3: val_loss did not improve from 0.80000" in out

    calls.clear()
    ck = ModelCheckpoint(str(tmp_path / "best.lam"), monitor="val_accuracy", save_best_only=True,
                         save_weights_only=True)
    assert ck.mode == "max"
    model.fit(x, y, epochs=4, verbose=0, callbacks=[Inject(val_accuracy=[0.5, 0.4, 0.6, 0.6]), ck])
    assert calls == [("weights", str(tmp_path / "best.lam"))] * 2


def test_model_checkpoint_keeps_best_across_fits_and_initial_value_threshold(tmp_path, monkeypatch):
    x, y = data()
    model = compiled()
    calls = fake_saving(model, monkeypatch)
    ck = ModelCheckpoint(str(tmp_path / "m{epoch}.lam"), save_best_only=True, initial_value_threshold=0.85)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[Inject(val_loss=[0.9, 0.8, 0.85]), ck])
    model.fit(x, y, epochs=5, initial_epoch=3, verbose=0, callbacks=[Inject(val_loss=[0, 0, 0, 0.81, 0.75]), ck])
    assert [os.path.basename(p) for _, p in calls] == ["m2.lam", "m5.lam"]


def test_model_checkpoint_period_and_batch_save_freq(tmp_path, monkeypatch):
    x, y = data()
    model = compiled()
    calls = fake_saving(model, monkeypatch)
    with pytest.warns(DeprecationWarning, match="period"):
        ck = ModelCheckpoint(str(tmp_path / "e{epoch}.lam"), period=2, save_weights_only=True)
    model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[ck])
    assert [os.path.basename(p) for _, p in calls] == ["e2.lam", "e4.lam"]

    calls.clear()
    ck = ModelCheckpoint(str(tmp_path / "e{epoch}b{batch}-{loss:.1f}.lam"), save_freq=3)
    assert ck.needs_batch_logs
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[ck])  # 4 batches per epoch, 8 in all
    names = [os.path.basename(p) for _, p in calls]
    assert [n.split("-")[0] for n in names] == ["e1b3", "e2b2"]
    assert not ModelCheckpoint("x.lam").needs_batch_logs  # epoch saving does not force batch reads


def test_model_checkpoint_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"^ModelCheckpoint mode must be 'auto', 'min' or 'max', got 'best'\.$"):
        ModelCheckpoint("x", mode="best")
    with pytest.raises(ValueError, match="save_freq must be 'epoch' or a positive number"):
        ModelCheckpoint("x", save_freq="batch")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        ModelCheckpoint("x", save_best=True)
    x, y = data()
    model = compiled()
    fake_saving(model, monkeypatch)
    with pytest.raises(KeyError, match=r"cannot fill \{val_loss\}") as info:
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "{val_loss:.2f}.lam"))])
    assert isinstance(info.value, ValueError)
    (tmp_path / "adir").mkdir()
    with pytest.raises(IsADirectoryError, match="is an existing directory"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "adir"))])
    calls = fake_saving(model, monkeypatch)
    with pytest.warns(RuntimeWarning, match="only with val_loss available"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "m"), save_best_only=True)])
    assert calls == []


# --- ModelCheckpoint with the real saving methods ------------------------------------------------------
needs_save = pytest.mark.skipif(not hasattr(Model, "save"), reason="Model.save is not implemented yet (issue 4, item 4)")
needs_save_weights = pytest.mark.skipif(not (hasattr(Model, "save_weights") and hasattr(Model, "load_weights")),
                                        reason="Model.save_weights/load_weights are not implemented yet (issue 4, item 4)")


@needs_save
def test_model_checkpoint_real_save_files_reload(tmp_path):
    from lamina.models import load_model
    x, y = data()
    model = compiled()
    template = str(tmp_path / "ckpt" / "model-{epoch:02d}.keras")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(template)])
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["model-01.keras", "model-02.keras"]
    restored = load_model(str(tmp_path / "ckpt" / "model-02.keras"))
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


@needs_save_weights
def test_model_checkpoint_real_save_weights_best_only(tmp_path):
    x, y = data()
    model = compiled()
    recorder = WeightsRecorder()
    path = str(tmp_path / "best.weights.npz")
    ck = ModelCheckpoint(path, save_best_only=True, save_weights_only=True)
    model.fit(x, y, epochs=4, verbose=0, callbacks=[Inject(val_loss=[0.9, 0.5, 0.7, 0.8]), recorder, ck])
    fresh = compiled()
    fresh.build((None, 6))
    fresh.load_weights(path)
    for got, want in zip(fresh.get_weights(), recorder.weights[1]):
        np.testing.assert_array_equal(got, want)


@needs_save
def test_checkpoint_and_csv_logger_resume_an_interrupted_run_losing_nothing(tmp_path):
    from lamina.models import load_model
    x, y = data()

    def fresh():
        model = mlp(features=6, classes=3, hidden=8)
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        return model

    straight = fresh()
    expected = straight.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0).history["loss"]

    class Crash(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt  # the process is killed after epoch 2's checkpoint

    ckpt, log = str(tmp_path / "run" / "last.lamina"), tmp_path / "log.csv"
    model, first_log = fresh(), CSVLogger(log, append=True)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0,
                  callbacks=[ModelCheckpoint(ckpt), first_log, Crash()])
    first_log.csv_file.close()  # what the dying process's exit does
    assert [r[0] for r in read_csv(log)] == ["epoch", "0", "1"]
    resumed = load_model(ckpt)
    resumed.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, shuffle=False, verbose=0,
                callbacks=[ModelCheckpoint(ckpt), CSVLogger(log, append=True)])
    for got, want in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    rows = read_csv(log)
    assert rows[0] == ["epoch", "accuracy", "loss"] and [r[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], expected, rtol=1e-6)


# --- TerminateOnNaN ------------------------------------------------------------------------------
def test_terminate_on_nan_unit(capsys):
    cb = TerminateOnNaN()
    model = FakeModel()
    cb.set_model(model)
    cb.on_train_batch_end(0, {"loss": 0.5})
    assert not model.stop_training
    cb.on_train_batch_end(1, {"loss": float("inf")})
    assert model.stop_training
    assert "Batch 1: invalid loss inf, terminating training." in capsys.readouterr().err
    assert cb.needs_batch_logs


def test_terminate_on_nan_stops_fit_after_the_bad_batch(capsys):
    x, y = data()
    batches = []

    class Poison(Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)
            if batch == 1:
                logs["loss"] = math.nan

    hist = compiled().fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[Poison(), TerminateOnNaN()])
    assert batches == [0, 1] and hist.epoch == [0]
    assert "Batch 1: invalid loss nan" in capsys.readouterr().err


def test_fit_stops_on_a_real_nan_loss_with_terminate_on_nan():
    x, y = data()
    x = x.copy()
    x[20] = np.nan
    hist = compiled().fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False, callbacks=[TerminateOnNaN()])
    assert hist.epoch == [0] and math.isnan(hist.history["loss"][0])


# --- ProgbarLogger -----------------------------------------------------------------------------------
def test_progbar_logger_prints_only_when_fit_is_silent(capsys):
    x, y = data()
    model = compiled()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[ProgbarLogger(count_mode="steps")])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2" and "Epoch 2/2" in lines
    finals = [line for line in lines if line.startswith("4/4 [")]
    assert len(finals) == 2 and all(" - loss: " in line and " - accuracy: " in line for line in finals)

    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[ProgbarLogger()])  # samples
    assert sum(line.startswith("64/64 [") for line in capsys.readouterr().out.splitlines()) == 2

    model.fit(x, y, batch_size=16, epochs=2, verbose=2)
    alone = capsys.readouterr().out
    model.fit(x, y, batch_size=16, epochs=2, verbose=2, callbacks=[ProgbarLogger()])
    with_logger = capsys.readouterr().out
    assert with_logger.count("loss:") == alone.count("loss:") == 2  # one line per epoch, not two


def test_progbar_logger_arguments_and_batch_logs():
    with pytest.raises(ValueError, match="count_mode must be 'samples' or 'steps'"):
        ProgbarLogger(count_mode="batches")
    pl = ProgbarLogger(stateful_metrics=["acc"])
    pl.set_params({"verbose": 1, "steps": 4, "epochs": 1, "samples": 64, "batch_size": 16})
    pl.on_epoch_begin(0)
    assert not pl.needs_batch_logs  # fit draws, so no extra device reads


def test_keras_names_are_exported():
    for name in ("Callback", "CallbackList", "History", "BaseLogger", "ProgbarLogger", "EarlyStopping",
                 "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger", "TerminateOnNaN",
                 "LambdaCallback"):
        assert getattr(lamina.callbacks, name) is getattr(cb_module, name)
        assert name in cb_module.__all__


@pytest.mark.parametrize("name, weights_only, hint", [
    ("weights.{epoch:02d}-{val_loss:.2f}.hdf5", False, "save_weights_only=True keeps an .h5 path"),
    ("model-{epoch}", False, "must end in .lamina"),
    ("w-{epoch}.lamina", True, "whole-model extension"),
])
def test_model_checkpoint_refuses_a_path_it_cannot_save_before_training(tmp_path, name, weights_only, hint):
    """A Keras 2 script's ``...hdf5`` checkpoint used to fail at the first save, after an epoch."""
    x, y = data()
    model = compiled()
    before = [w.copy() for w in model.get_weights()]
    seen = []
    with pytest.raises(ValueError, match=hint):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[
            LambdaCallback(on_train_batch_begin=lambda batch, logs: seen.append(batch)),
            ModelCheckpoint(str(tmp_path / name), save_weights_only=weights_only)])
    assert seen == [] and os.listdir(tmp_path) == []
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_accepts_weights_h5_and_whole_model_paths(tmp_path):
    pytest.importorskip("h5py")
    x, y = data()
    model = compiled()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "w.{epoch:02d}.hdf5"),
                                                                    save_weights_only=True),
                                                    ModelCheckpoint(str(tmp_path / "m.{epoch:02d}.keras"))])
    assert sorted(os.listdir(tmp_path)) == ["m.01.keras", "w.01.hdf5"]
