"""Callbacks with Keras' hook names: ``on_{train,epoch,batch,test,predict}_{begin,end}``.

``fit`` calls, in this order: ``on_train_begin``; per epoch ``on_epoch_begin``, per batch
``on_train_batch_begin``/``on_batch_begin`` and ``on_train_batch_end``/``on_batch_end``, then
``on_epoch_end(epoch, logs)`` with the epoch's ``loss``, metrics and ``val_*`` values; finally
``on_train_end``. Epochs are 0-based in hooks (as in Keras); messages and file names count from 1.

Every callback in a ``fit`` call receives the *same* epoch ``logs`` dict, in list order, so a
callback may add keys for the ones after it (``ReduceLROnPlateau`` and ``LearningRateScheduler``
add ``learning_rate``; ``History``, which ``fit`` appends last, records them).

Batch logs (running means of the epoch so far) cost a device-to-host transfer, so ``fit`` only
computes them when some callback's ``needs_batch_logs`` is true; by default that is when its
class overrides a batch-end hook. A callback that only sometimes needs them overrides
``needs_batch_logs``; ``fit`` asks before each batch.

This module is part of the model ring: standard library only (no NumPy).
"""
from __future__ import annotations

import csv
import inspect
import math
import numbers
import os
import sys
import warnings
from typing import Any, Callable, Iterable

__all__ = ["Callback", "CallbackList", "History", "BaseLogger", "ProgbarLogger", "TerminateOnNaN",
           "LambdaCallback", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler",
           "CSVLogger"]


class Callback:
    """Base class. ``self.model`` and ``self.params`` are set before training starts.

    Subclass it and override any of the hooks below (Keras names and signatures); each takes
    ``logs=None`` last, and the batch and epoch hooks take the 0-based index first. Keras 2's
    ``on_batch_begin``/``on_batch_end`` are called alongside ``on_train_batch_begin``/``_end``.
    ``params`` holds ``batch_size``, ``epochs``, ``steps`` (per epoch), ``samples`` and
    ``verbose`` during ``fit``.
    """

    # Class-level defaults, so subclasses whose __init__ forgets super().__init__() still work.
    model: Any = None
    params: dict = {}

    def __init__(self) -> None:
        self.model = None
        self.params = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    # Keras 2 names, called by the trainer alongside the train_batch hooks.
    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    @property
    def needs_batch_logs(self) -> bool:
        """Whether this callback overrides a batch hook (so batch logs must be computed)."""
        base = Callback
        return any(getattr(type(self), h) is not getattr(base, h) for h in
                   ("on_train_batch_end", "on_batch_end", "on_test_batch_end", "on_predict_batch_end"))


class CallbackList:
    """Calls every callback's hook in order."""

    def __init__(self, callbacks: Iterable[Callback] | None, model: Any, params: dict):
        self.callbacks = list(callbacks or [])
        self.model, self.params = model, params
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}.")
            cb.set_model(model)
            cb.set_params(params)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    @property
    def needs_batch_logs(self) -> bool:
        return any(cb.needs_batch_logs for cb in self.callbacks)

    def call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)
            if hook == "on_train_batch_end":
                cb.on_batch_end(*args)
            elif hook == "on_train_batch_begin":
                cb.on_batch_begin(*args)


# --- helpers ---------------------------------------------------------------------------------
# Names that are better when larger; every other monitored quantity is minimised (Keras 2's rule,
# widened to the metrics Keras 3 knows to maximise).
_MAX_SUFFIXES = ("acc", "accuracy", "auc", "precision", "recall", "f1_score", "fbeta_score", "r2_score",
                 "iou", "fmeasure")


def _resolve_mode(mode: str, monitor: str, who: str) -> str:
    """``"min"`` or ``"max"``; ``"auto"`` means max for accuracy/AUC/precision/recall-like names."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who} mode must be 'auto', 'min' or 'max', got {mode!r}.")
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if "acc" in name or name.endswith(_MAX_SUFFIXES) or name.startswith("fmeasure"):
        return "max"
    return "min"


def _monitor_value(logs: dict | None, monitor: str, what: str) -> float | None:
    """The monitored value, or None with a warning naming the available keys (as Keras)."""
    logs = logs or {}
    value = logs.get(monitor)
    if value is None:
        warnings.warn(f"{what} is conditioned on metric `{monitor}` which is not available. "
                      f"Available metrics are: {','.join(logs.keys())}.", RuntimeWarning, stacklevel=3)
        return None
    return float(value)


def _optimizer(model: Any, who: str) -> Any:
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "learning_rate"):
        raise ValueError(f"{who} needs a compiled model whose optimizer has a learning_rate.")
    return opt


def _float_learning_rate(model: Any, who: str) -> float:
    """The optimizer's learning rate as a float; a schedule cannot be changed by a callback."""
    lr = _optimizer(model, who).learning_rate
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"{who} sets the optimizer's learning rate each epoch, but this optimizer was given "
                        f"{type(lr).__name__} as learning_rate; pass a float learning rate instead.")
    return float(lr)


def _logged_learning_rate(model: Any) -> float | None:
    """The rate for the log: the float, or a schedule's current value."""
    opt = getattr(model, "optimizer", None)
    if opt is None:
        return None
    lr = getattr(opt, "learning_rate", None)
    if isinstance(lr, numbers.Real) and not isinstance(lr, bool):
        return float(lr)
    current = getattr(opt, "current_learning_rate", None)
    return float(current()) if callable(current) else None


def _add_learning_rate(logs: dict | None, model: Any) -> None:
    """Keras 3 logs ``learning_rate``, Keras 2 logged ``lr``; both are added so either script works."""
    if logs is None:
        return
    lr = _logged_learning_rate(model)
    if lr is not None:
        logs["learning_rate"] = lr
        logs["lr"] = lr


# --- History and logging -------------------------------------------------------------------------
class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` is the list of epoch losses."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class BaseLogger(Callback):
    """Keras 2 compatibility: accepted and does nothing.

    Keras 2 added it to every ``fit`` to average batch metrics into the epoch logs; Lamina's
    ``fit`` computes the epoch values itself (batch-size weighted, as Keras 3).
    """

    def __init__(self, stateful_metrics: Iterable[str] | None = None) -> None:
        super().__init__()
        self.stateful_metrics = set(stateful_metrics or ())


class ProgbarLogger(Callback):
    """A progress bar for ``fit(verbose=0)`` runs; never a second bar.

    ``fit`` draws its own progress bar when ``verbose`` is 1 or 2, so a ``ProgbarLogger`` passed
    explicitly then does nothing (Keras likewise shows one bar). With ``fit(verbose=0)`` it draws
    the bar itself (``lamina.utils.progbar.Progbar``, ``verbose=1`` style: redrawn in place on a
    terminal, a few plain lines to a file or pipe), headed ``Epoch i/n`` when there is more than
    one epoch. This differs from Keras, whose ``ProgbarLogger`` is silent at ``verbose=0``: in
    Lamina, passing one is how to get progress output from a run that is otherwise quiet.

    Args:
        count_mode: ``"samples"`` (Keras 2 default: count samples seen, e.g. ``600/600``) or
            ``"steps"`` (count batches, as ``fit``'s own bar and Keras 3 do).
        stateful_metrics: accepted for Keras 2 compatibility. ``fit``'s batch logs are already
            running means of the epoch, so every value is shown as reported, never re-averaged.
    """

    def __init__(self, count_mode: str = "samples", stateful_metrics: Iterable[str] | None = None) -> None:
        super().__init__()
        if count_mode not in ("samples", "steps"):
            raise ValueError(f"ProgbarLogger count_mode must be 'samples' or 'steps', got {count_mode!r}.")
        self.count_mode = count_mode
        self.stateful_metrics = set(stateful_metrics or ())
        self.verbose = 0
        self.epochs = 1
        self._bar: Any = None
        self._batch = 0

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        self.verbose = params.get("verbose", 0)
        self.epochs = params.get("epochs", 1)

    @property
    def _active(self) -> bool:
        """Only when fit is silent (so its own bar is not shown) and this is a fit call."""
        return self.verbose == 0 and "steps" in self.params

    def _target(self) -> int | None:
        steps = self.params.get("steps")
        if self.count_mode == "steps" or steps is None:
            return steps
        samples = self.params.get("samples")
        batch_size = self.params.get("batch_size")
        if samples is None or batch_size is None:
            return None
        return min(samples, steps * batch_size)

    def _current(self, batch: int) -> int:
        if self.count_mode == "steps":
            return batch + 1
        target = self._target()
        seen = (batch + 1) * self.params.get("batch_size", 1)
        return seen if target is None else min(seen, target)

    @property
    def needs_batch_logs(self) -> bool:
        # Ask fit for batch logs only when the bar is about to draw (each read is a device sync),
        # and not on the last batch, where on_epoch_end finalizes the bar with the epoch logs.
        if not self._active or self._bar is None:
            return False
        current, target = self._current(self._batch), self._bar.target
        if target is not None and current >= target:
            return False
        return self._bar.wants_update(current)

    def on_epoch_begin(self, epoch, logs=None):
        if not self._active:
            return
        from .utils.progbar import Progbar  # standard library only, like this module
        if self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}")
        unit = "step" if self.count_mode == "steps" else "sample"
        self._bar = Progbar(self._target(), verbose=1, stateful_metrics=self.stateful_metrics, unit_name=unit)
        self._batch = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._batch = batch

    def on_train_batch_end(self, batch, logs=None):
        if not self._active or self._bar is None:
            return
        current, target = self._current(batch), self._bar.target
        if target is not None and current >= target:
            return
        values = None
        if logs:
            self._bar.stateful_metrics.update(logs)
            values = list(logs.items())
        self._bar.update(current, values)

    def on_epoch_end(self, epoch, logs=None):
        if not self._active or self._bar is None:
            return
        logs = logs or {}
        self._bar.stateful_metrics.update(logs)
        target = self._bar.target
        final = target if target is not None else self._current(self._batch)
        self._bar.update(final, list(logs.items()), finalize=True)
        self._bar = None


class CSVLogger(Callback):
    """Writes one row per epoch to a CSV file: ``epoch`` (0-based, as Keras) then the sorted log keys.

    Args:
        filename: path of the CSV file.
        separator: the field separator, default ``","``.
        append: add rows to an existing file instead of overwriting it. The header is written
            only when the file is new or empty; when it already has one, its columns are used, so
            a resumed run (``initial_epoch``) lines its rows up with the earlier ones.

    The columns are fixed at the first epoch (a key missing later is written ``NA``). The file is
    flushed after every row, so a killed process leaves only complete rows. Lines end with
    ``"\\n"``.
    """

    def __init__(self, filename: Any, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys: list[str] | None = None
        self.writer: Any = None
        self.csv_file: Any = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        self.keys, self.writer = None, None
        self.append_header = True
        needs_newline = False
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="") as f:
                text = f.read()
            if text.strip():
                self.append_header = False
                header = next(csv.reader([text.splitlines()[0]], delimiter=self.sep))
                if header and header[0] == "epoch":
                    self.keys = header[1:]
                needs_newline = not text.endswith(("\n", "\r"))
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        if needs_newline:  # a row cut short by a killed process: start on a fresh line
            self.csv_file.write("\n")

    @staticmethod
    def _value(v: Any) -> Any:
        if isinstance(v, str):
            return v
        if isinstance(v, Iterable):
            return "[" + ", ".join(map(str, v)) + "]"
        return v

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            # With validation_freq > 1 the first epoch has no val_* keys; reserve their columns
            # when fit says there will be validation (Keras 3 does the same).
            if self.params.get("do_validation") and not any(k.startswith("val_") for k in self.keys):
                self.keys += ["val_" + k for k in self.keys]
        if self.writer is None:
            if self.csv_file is None:  # used outside fit, without on_train_begin
                self.on_train_begin()
            self.writer = csv.writer(self.csv_file, delimiter=self.sep, lineterminator="\n")
            if self.append_header:
                self.writer.writerow(["epoch"] + self.keys)
        self.writer.writerow([epoch] + [self._value(logs.get(k, "NA")) for k in self.keys])
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


# --- stopping ---------------------------------------------------------------------------------
class TerminateOnNaN(Callback):
    """Stops training when a batch loss is NaN or infinite.

    ``fit`` already stops on a non-finite loss by itself; this callback also catches one that
    another callback or a custom ``train_step`` reports in the batch logs.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: invalid loss {float(loss)}, terminating training.", file=sys.stderr)
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Keras 2's arguments: ``on_epoch_begin``/``on_epoch_end`` take ``(epoch, logs)``,
    ``on_batch_begin``/``on_batch_end`` take ``(batch, logs)``, ``on_train_begin``/``on_train_end``
    take ``(logs)``. Any other hook name (``on_train_batch_end``, ``on_test_begin``, … — Keras 3's
    spellings) can be given as a keyword; an unknown name raises ``TypeError``.
    """

    def __init__(self, on_epoch_begin: Callable | None = None, on_epoch_end: Callable | None = None,
                 on_batch_begin: Callable | None = None, on_batch_end: Callable | None = None,
                 on_train_begin: Callable | None = None, on_train_end: Callable | None = None, **kwargs: Any):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_batch_begin=on_batch_begin,
                     on_batch_end=on_batch_end, on_train_begin=on_train_begin, on_train_end=on_train_end, **kwargs)
        for name, fn in hooks.items():
            if fn is not None:
                if not name.startswith("on_") or not hasattr(Callback, name):
                    raise TypeError(f"LambdaCallback got unknown hook {name!r}.")
                setattr(self, name, fn)

    @property
    def needs_batch_logs(self) -> bool:
        return any(h in vars(self) for h in ("on_batch_end", "on_train_batch_end"))


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has stopped improving (Keras 3 semantics).

    Args:
        monitor: the log key to watch, default ``"val_loss"``.
        min_delta: a change smaller than this (in absolute value) is not an improvement.
        patience: epochs without improvement after which training stops (checked from the
            second epoch on, as Keras).
        verbose: 1 prints ``Epoch N: early stopping`` (and the restored epoch) at the end.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for names with ``acc``/``auc``/
            ``precision``/``recall``…, else min).
        baseline: a value to reach; an epoch that improves on the best so far but not on the
            baseline does not reset the patience count.
        restore_best_weights: at the end of training (stopped early or not) put back the weights
            of the epoch with the best monitored value; if no epoch ever had the value, nothing
            is restored.
        start_from_epoch: epochs (0-based index) before this are not watched (warm-up).

    After training, ``stopped_epoch`` (0-based, 0 if not stopped), ``best``, ``best_epoch`` and
    ``wait`` are available. A missing ``monitor`` key gives a warning and that epoch is skipped.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__()
        self.mode = _resolve_mode(mode, monitor, "EarlyStopping")
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline, self.restore_best_weights, self.start_from_epoch = baseline, restore_best_weights, start_from_epoch
        self.min_delta = abs(min_delta)
        self.on_train_begin()

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def get_monitor_value(self, logs: dict | None) -> float | None:
        return _monitor_value(logs, self.monitor, "Early stopping")

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0
        self.best: float | None = None

    def on_epoch_end(self, epoch, logs=None):
        value = self.get_monitor_value(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


# --- checkpoints -----------------------------------------------------------------------------
class _FilepathFormatError(KeyError, ValueError):
    """A ``ModelCheckpoint`` template names a key the logs lack (a KeyError as in Keras, and a ValueError)."""

    def __str__(self) -> str:
        return str(self.args[0])


def _check_checkpoint_path(model: Any, path: str, weights_only: bool) -> None:
    """The path's format, checked before training rather than at the first save, after an epoch
    (Keras 2 scripts often name whole-model checkpoints ``...hdf5``); only where the model saves
    with Lamina's own ``save``/``save_weights`` (a subclass may write other formats)."""
    from .models.model import Model
    from .saving.saving_api import _check_model_path, _weights_format
    method = "save_weights" if weights_only else "save"
    if getattr(getattr(model, method, None), "__func__", None) is not getattr(Model, method):
        return
    try:
        _weights_format(path, None) if weights_only else _check_model_path(path)
    except ValueError as exc:
        raise ValueError(f"ModelCheckpoint({path!r}) could not save: {exc}"
                         + (" (save_weights_only=True keeps an .h5 path for the weights.)"
                            if not weights_only and path.lower().endswith((".h5", ".hdf5")) else "")
                         ) from None


class ModelCheckpoint(Callback):
    """Saves the model (``model.save``) or its weights (``model.save_weights``) during training.

    Args:
        filepath: where to save; may hold ``str.format`` fields filled from ``epoch`` (1-based,
            as Keras), ``batch`` (1-based, when saving every ``save_freq`` batches) and any log
            key, e.g. ``"ckpt/weights.{epoch:02d}-{val_loss:.2f}.npz"``. Missing parent folders
            are created.
        monitor: the log key ``save_best_only`` compares, default ``"val_loss"``.
        verbose: 1 prints a line per save decision.
        save_best_only: save only when ``monitor`` improves on the best value seen so far by this
            callback (kept across ``fit`` calls, as Keras). Without a ``{...}`` field in
            ``filepath`` the single file always holds the best model.
        save_weights_only: call ``model.save_weights`` instead of ``model.save``.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (auto: max for accuracy-like names).
        save_freq: ``"epoch"`` (after every epoch) or an integer number of batches.
        initial_value_threshold: the starting "best" value for ``save_best_only``.
        options: accepted for Keras 2 compatibility (TensorFlow save options) and ignored.
        period: Keras 2's "every N epochs" (deprecated there for ``save_freq``), still honoured.
    """

    def __init__(self, filepath: Any, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", save_freq: Any = "epoch",
                 options: Any = None, initial_value_threshold: float | None = None, **kwargs: Any):
        super().__init__()
        self.period = 1
        if "period" in kwargs:
            warnings.warn("ModelCheckpoint(period=...) is a Keras 2 argument; it still saves every `period` "
                          "epochs, and save_freq is the current spelling.", DeprecationWarning, stacklevel=2)
            self.period = kwargs.pop("period")
            if isinstance(self.period, bool) or not isinstance(self.period, int) or self.period < 1:
                raise ValueError(f"ModelCheckpoint period must be a positive integer, got {self.period!r}.")
        kwargs.pop("load_weights_on_restart", None)
        if kwargs:
            raise TypeError(f"ModelCheckpoint got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"ModelCheckpoint save_freq must be 'epoch' or a positive number of batches, "
                             f"got {save_freq!r}.")
        self.filepath = os.fspath(filepath)
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.save_freq = save_freq
        self.mode = _resolve_mode(mode, monitor, "ModelCheckpoint")
        self.initial_value_threshold = initial_value_threshold
        if initial_value_threshold is not None:
            self.best = float(initial_value_threshold)
        else:
            self.best = math.inf if self.mode == "min" else -math.inf
        self.epochs_since_last_save = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0

    @property
    def needs_batch_logs(self) -> bool:
        return self.save_freq != "epoch"

    def _is_improvement(self, value: float, reference: float) -> bool:
        return value < reference if self.mode == "min" else value > reference

    def on_train_begin(self, logs=None):
        _check_checkpoint_path(self.model, self.filepath, self.save_weights_only)
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = -1

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def _should_save_on_batch(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        add = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen  # new epoch
        self._batches_seen_since_last_saving += add
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_since_last_save += 1
        if self.save_freq == "epoch" and self.epochs_since_last_save >= self.period:
            self.epochs_since_last_save = 0
            self._save_model(epoch, None, logs)

    def _get_file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise _FilepathFormatError(
                f"ModelCheckpoint cannot fill {{{e.args[0]}}} in filepath {self.filepath!r}: the available "
                f"values are {', '.join(sorted(fields))}.") from None

    def _save_model(self, epoch: int, batch: int | None, logs: dict | None) -> None:
        logs = dict(logs or {})
        filepath = self._get_file_path(epoch, batch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint can save the best model only with {self.monitor} available "
                              f"(the logs have {', '.join(logs) or 'nothing'}); skipping.", RuntimeWarning,
                              stacklevel=3)
                return
            current = float(current)
            if self._is_improvement(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                          f"saving model to {filepath}")
                self.best = current
                self._write(filepath)
            elif self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
            return
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
        self._write(filepath)

    def _write(self, filepath: str) -> None:
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"ModelCheckpoint filepath {filepath!r} is an existing directory; give a "
                                    "file name, e.g. os.path.join(folder, 'model-{epoch:02d}.keras').")
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        method = "save_weights" if self.save_weights_only else "save"
        save = getattr(self.model, method, None)
        if save is None:
            raise NotImplementedError(f"ModelCheckpoint needs model.{method}(), which "
                                      f"{type(self.model).__name__} does not have in this version.")
        save(filepath)


# --- learning rate -------------------------------------------------------------------------------
class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: the log key to watch, default ``"val_loss"``.
        factor: the multiplier, ``0 < factor < 1``; default 0.1.
        patience: epochs without improvement before a reduction, default 10.
        verbose: 1 prints each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (auto: max for accuracy-like names).
        min_delta: a change smaller than this is not an improvement, default 1e-4 (Keras 2's
            ``epsilon`` is accepted as an alias).
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the learning rate never goes below this.

    Each epoch's logs get ``learning_rate`` (Keras 3's key) and ``lr`` (Keras 2's), the rate used
    in that epoch. The optimizer needs a float learning rate (not a schedule).
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0,
                 **kwargs: Any):
        super().__init__()
        if "epsilon" in kwargs:
            warnings.warn("ReduceLROnPlateau(epsilon=...) is Keras 2's name; use min_delta.", DeprecationWarning,
                          stacklevel=2)
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
        if not 0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau factor must be between 0 and 1 (exclusive), got {factor!r}.")
        if min_lr < 0:
            raise ValueError(f"ReduceLROnPlateau min_lr must be >= 0, got {min_lr!r}.")
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), patience, verbose
        self.mode = _resolve_mode(mode, monitor, "ReduceLROnPlateau")
        self.min_delta, self.cooldown, self.min_lr = abs(min_delta), cooldown, float(min_lr)
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def _is_improvement(self, value: float, reference: float) -> bool:
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()
        _float_learning_rate(self.model, "ReduceLROnPlateau")  # fail before training, not after N epochs

    def on_epoch_end(self, epoch, logs=None):
        _add_learning_rate(logs, self.model)
        current = _monitor_value(logs, self.monitor, "Learning rate reduction")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _float_learning_rate(self.model, "ReduceLROnPlateau")
                # A relative margin, so a rate that is min_lr up to rounding is not "reduced" again.
                if old_lr > self.min_lr * (1.0 + 1e-6):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch from ``schedule``.

    Args:
        schedule: ``schedule(epoch)`` (Keras 2) or ``schedule(epoch, lr)`` (the current rate; Keras
            2.2+ and 3) returning the new rate as a number; ``epoch`` is 0-based. Which form is
            used is read from the function's signature (two positional parameters, or
            ``*args``, means ``(epoch, lr)``).
        verbose: 1 prints the rate set each epoch.

    Each epoch's logs get ``learning_rate`` and ``lr``. The optimizer needs a float learning rate.
    """

    def __init__(self, schedule: Callable, verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler schedule must be a function, got {type(schedule).__name__}.")
        self.schedule, self.verbose = schedule, verbose
        self._two_args = self._takes_lr(schedule)

    @staticmethod
    def _takes_lr(fn: Callable) -> bool | None:
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            return None  # decide on the first call, as Keras does
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            return True
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return len(positional) >= 2

    def on_epoch_begin(self, epoch, logs=None):
        lr = _float_learning_rate(self.model, "LearningRateScheduler")
        if self._two_args is None:
            try:
                new_lr = self.schedule(epoch, lr)
            except TypeError:
                new_lr = self.schedule(epoch)
        else:
            new_lr = self.schedule(epoch, lr) if self._two_args else self.schedule(epoch)
        if hasattr(new_lr, "numpy") and not isinstance(new_lr, numbers.Real):
            new_lr = new_lr.numpy()
        if isinstance(new_lr, bool) or not isinstance(new_lr, numbers.Real):
            raise ValueError(f"The LearningRateScheduler schedule must return a number, got {new_lr!r} "
                             f"for epoch {epoch}.")
        new_lr = float(new_lr)
        if not new_lr > 0:
            raise ValueError(f"The LearningRateScheduler schedule returned {new_lr} for epoch {epoch}; "
                             "learning rates must be positive.")
        self.model.optimizer.learning_rate = new_lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {new_lr}.")

    def on_epoch_end(self, epoch, logs=None):
        _add_learning_rate(logs, self.model)
