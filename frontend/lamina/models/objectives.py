"""What ``compile`` sets up per model output: the loss, its weight and the metrics, plus the
running totals that ``fit``/``evaluate`` keep on the device."""
from __future__ import annotations

from typing import Any

from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import ops


def _per_output(value: Any, names: list[str], what: str, default: Any) -> list:
    """Spread a compile argument over the outputs: one value for all, a list, or a dict by name."""
    if isinstance(value, dict):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"compile() got {what} for unknown output(s) {sorted(unknown)}; the model's "
                             f"outputs are {names}.")
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)) and what != "metrics":
        if len(value) != len(names):
            raise ValueError(f"compile() got {len(value)} {what} for a model with {len(names)} outputs "
                             f"({names}); give one per output, or a dict by output name.")
        return list(value)
    return [value for _ in names]


class Objectives:
    """Per-output losses, loss weights and metrics, resolved from ``compile``'s arguments."""

    def __init__(self, loss: Any, loss_weights: Any, metrics: Any, output_names: list[str],
                 weighted_metrics: Any = None):
        self.output_names = list(output_names)
        losses = _per_output(loss, self.output_names, "losses", None)
        # No loss at all is allowed (Keras): the model's add_loss terms are then the whole loss.
        self.loss_fns = [None if spec is None else losses_module.get(spec) for spec in losses]
        weights = _per_output(1.0 if loss_weights is None else loss_weights, self.output_names, "loss_weights", 1.0)
        self.loss_weights = [float(w) for w in weights]
        # ``metrics`` see only the output's mask; ``weighted_metrics`` also the sample weights
        # (and class_weight), as in every Keras since 2.0.7.
        self.metric_specs = self._metric_specs(metrics)
        self.weighted_metric_specs = self._metric_specs(weighted_metrics)
        for fn, specs, weighted in zip(self.loss_fns, self.metric_specs, self.weighted_metric_specs):
            for m in specs + weighted:  # resolve now, so an unknown name fails in compile, not mid-training
                metrics_module.get(m, fn, None)

    def _metric_specs(self, metrics: Any) -> list[list]:
        n = len(self.output_names)
        if metrics is None:
            return [[] for _ in range(n)]
        if isinstance(metrics, dict):
            per = _per_output(metrics, self.output_names, "metrics", [])
            return [list(m) if isinstance(m, (list, tuple)) else ([] if m is None else [m]) for m in per]
        if not isinstance(metrics, (list, tuple)):
            metrics = [metrics]
        if n > 1 and len(metrics) == n and all(isinstance(m, (list, tuple)) for m in metrics):
            return [list(m) for m in metrics]
        return [list(metrics) for _ in range(n)]

    @property
    def needs_targets(self) -> bool:
        """Whether training or evaluation reads targets: some output has a loss or a metric."""
        return any(fn is not None for fn in self.loss_fns) or any(self.metric_specs) or any(self.weighted_metric_specs)

    @property
    def multi(self) -> bool:
        return len(self.output_names) > 1

    def _metric_entries(self) -> list[tuple[int, Any, bool]]:
        """(output, spec, weighted) in log order: per output, its metrics, then its weighted metrics."""
        return [(i, spec, weighted)
                for i, (plain, wspecs) in enumerate(zip(self.metric_specs, self.weighted_metric_specs))
                for specs, weighted in ((plain, False), (wspecs, True)) for spec in specs]

    def metrics_are_builtin(self) -> bool:
        """True when every metric is given by name or is one of Lamina's own: none of them can keep a
        step's predictions past the step (a CUDA graph overwrites them at the next launch)."""
        return all(_lamina_own(spec) for _, spec, _ in self._metric_entries())

    def _metric_name(self, base: str, output: int) -> str:
        return f"{self.output_names[output]}_{base}" if self.multi else base

    def names(self) -> list[str]:
        """Log keys in order: loss, per-output losses (several outputs), then metrics. Metric names
        follow Keras 3: a weighted metric whose name is taken gets the prefix ``weighted_``, and a
        name still taken gets ``_1``, ``_2``... ('acc' stays 'acc'; a class-name string like 'AUC'
        becomes 'auc', as Keras)."""
        names = ["loss"]
        if self.multi:
            names += [f"{n}_loss" for n, fn in zip(self.output_names, self.loss_fns) if fn is not None]
        taken: dict[str, int] = {}
        for i, spec, weighted in self._metric_entries():
            base = metrics_module.get(spec, self.loss_fns[i], None).name
            name = self._metric_name(base, i)
            if name in taken and weighted:
                name = self._metric_name(f"weighted_{base}", i)
            if name in taken:
                taken[name] += 1
                name = f"{name}_{taken[name] - 1}"
            taken.setdefault(name, 1)
            names.append(name)
        return names

    def loss_for(self, i: int, y: Any, y_pred: ops.Tensor, sw: Any) -> ops.Tensor:
        """Output ``i``'s loss: the mean over samples (over the unmasked steps when the prediction
        carries a mask), weighted by ``sw``."""
        fn = self.loss_fns[i]
        if isinstance(fn, losses_module.Loss):
            return fn(y, y_pred, sample_weight=sw)
        per = fn(y, y_pred)
        return losses_module.reduce_weighted_values(per, sw, losses_module.loss_mask(per, y_pred))

    def total_loss(self, ys: list, preds: list, sw: Any, extra: list) -> tuple[ops.Tensor, list]:
        """Weighted sum of the output losses plus ``extra`` penalties, and each output's loss."""
        total = None
        parts = []
        for i, fn in enumerate(self.loss_fns):
            if fn is None:
                parts.append(None)
                continue
            loss = self.loss_for(i, ys[i], preds[i], sw)
            parts.append(loss)
            term = loss if self.loss_weights[i] == 1.0 else ops.multiply(loss, self.loss_weights[i])
            total = term if total is None else ops.add(total, term)
        for penalty in extra:
            total = penalty if total is None else ops.add(total, penalty)
        if total is None:
            raise ValueError("The model has no loss to minimise: compile() was given no loss and no layer adds "
                             "one with add_loss(); pass compile(loss=...), e.g. loss='mse'.")
        return total, parts

    def totals(self, output_shapes: list) -> "Totals":
        metrics = []
        for i, spec, weighted in self._metric_entries():
            shape = output_shapes[i] if output_shapes else None
            metric = metrics_module.get(spec, self.loss_fns[i], shape)
            metric.reset_state()
            metrics.append((i, metric, weighted))
        return Totals(self, metrics)

    def check_targets(self, ys: list, output_shapes: list | None) -> list:
        """The targets, checked against the outputs; 1-D targets for an output of width 1 get their
        trailing axis, as Keras 2 did (else (n,) against (n, 1) would broadcast to (n, n))."""
        if ys is None or not output_shapes:
            return ys
        out = []
        for i, (y, shape, fn) in enumerate(zip(ys, output_shapes, self.loss_fns)):
            if y is not None and shape is not None and y.ndim == len(shape) - 1 and shape[-1] == 1:
                y = y.reshape(y.shape + (1,))
            if fn is not None and y is not None and shape is not None:
                _check_target(y, tuple(shape), fn, self.output_names[i] if self.multi else None)
            out.append(y)
        return out


class Totals:
    """Loss sums (weighted by batch size) and metric states for one pass, kept on the device."""

    def __init__(self, objectives: Objectives, metrics: list):
        self.objectives = objectives
        self.metrics = metrics
        self.added: dict[str, Any] = {}  # add_metric values: name -> Mean, batch-size weighted
        self.sums: list[Any] = []
        self.count = 0

    def update(self, total: ops.Tensor, parts: list, n: int, ys: list, preds: list, sw: Any,
               added: dict | None = None) -> None:
        values = [total] + ([p for p in parts if p is not None] if self.objectives.multi else [])
        values = [ops.multiply(ops.stop_gradient(v), float(n)) for v in values]
        self.sums = values if not self.sums else [ops.add(a, b) for a, b in zip(self.sums, values)]
        self.count += n
        for i, metric, weighted in self.metrics:
            metric.update_state(ys[i], preds[i], sample_weight=_with_mask(sw if weighted else None, preds[i]))
        for name, value in (added or {}).items():
            if name not in self.added:
                self.added[name] = metrics_module.Mean(name=name)
            self.added[name].update_state(value, sample_weight=float(n))

    def read(self, prefix: str = "") -> dict[str, float]:
        """Every value in one device-to-host transfer."""
        return self.read_with([], prefix)[0]

    def read_with(self, extra: list, prefix: str = "") -> tuple[dict[str, float], list[float]]:
        """The logs and the 0-d device values ``extra`` (e.g. batch losses still to be checked for
        NaN) in one device-to-host transfer: on a GPU every transfer waits for the queued work."""
        parts = []
        if self.sums:
            parts = [ops.divide(s, float(self.count)) for s in self.sums] + [m.result() for _, m, _ in self.metrics]
            parts += [m.result() for m in self.added.values()]
        parts += [ops.reshape(e, ()) for e in extra]
        if not parts:
            return {}, []
        values = ops.stack([ops.cast(p, "float64") for p in parts]).numpy().tolist()
        logs = values[:len(values) - len(extra)]
        names = self.objectives.names() + list(self.added)
        return {prefix + k: float(v) for k, v in zip(names, logs)}, values[len(logs):]


def _lamina_own(spec: Any) -> bool:
    """A metric of Lamina's: named by one of its names, or a function, class or metric object of
    Lamina's (a wrapped function included). A name that finds a registered custom object (a
    ``custom_object_scope``, ``register_keras_serializable``) is judged by that object."""
    if isinstance(spec, str):
        if metrics_module.is_builtin_name(spec):
            return True
        from ..saving.object_registration import get_registered_object
        found = get_registered_object(spec)
        return found is None or _lamina_own(found)  # None: an unknown name, which compile rejects
    wrapped = getattr(spec, "fn", None)
    if wrapped is not None and not _lamina_own(wrapped):
        return False
    owner = spec if isinstance(spec, type) or not hasattr(spec, "update_state") else type(spec)
    return getattr(owner, "__module__", "").startswith("lamina.")


def _with_mask(sw: Any, y_pred: Any) -> Any:
    """Sample weights times the prediction's per-step mask, so metrics skip padded steps as the
    loss does."""
    mask = getattr(y_pred, "_keras_mask", None)
    if mask is None or mask.ndim != y_pred.ndim - 1:
        return sw
    keep = ops.cast(mask, y_pred.dtype)
    if sw is None:
        return keep
    return ops.multiply(keep, losses_module._match_weight_rank(ops.cast(sw, keep.dtype), keep))


def _check_target(y: Any, output_shape: tuple, fn: Any, output: str | None) -> None:
    """The two classic mix-ups between one-hot and integer targets, caught before training."""
    where = f" for output {output!r}" if output else ""
    core = getattr(fn, "fn", fn)
    classes = output_shape[-1] if output_shape else None
    if core is losses_module.sparse_categorical_crossentropy:
        if y.ndim == len(output_shape) and y.shape[-1] == classes and classes not in (None, 1):
            raise ValueError(f"sparse_categorical_crossentropy{where} expects integer class labels of shape "
                             f"({len(y)},) but got targets of shape {tuple(y.shape)}, which look one-hot; use "
                             "loss='categorical_crossentropy', or pass y.argmax(axis=-1).")
        _check_sparse_labels(y, output_shape, fn, where)
        return
    if core is losses_module.categorical_crossentropy and classes not in (None, 1):
        if y.ndim < len(output_shape) or (y.ndim == len(output_shape) and y.shape[-1] == 1):
            raise ValueError(f"categorical_crossentropy{where} expects one-hot targets of shape ({len(y)}, "
                             f"{classes}) but got targets of shape {tuple(y.shape)} (integer labels?); use "
                             "loss='sparse_categorical_crossentropy', or one-hot encode them with "
                             "lamina.utils.to_categorical(y, num_classes).")
    if y.ndim == len(output_shape) and classes is not None and y.shape[-1] not in (classes, 1):
        raise ValueError(f"The model's output{where} has shape {tuple(output_shape)} but the targets have "
                         f"shape {tuple(y.shape)}; the last axes must match.")


def _check_sparse_labels(y: Any, output_shape: tuple, fn: Any, where: str) -> None:
    """Labels outside [0, classes) one-hot encode to all zeros, so the loss would be a silent 0.0;
    one min/max over the targets (``ignore_class`` excepted) catches them."""
    options = getattr(fn, "kwargs", None) or {}
    try:
        classes = output_shape[options.get("axis", -1)]
    except (IndexError, TypeError):
        return
    if classes is None or y.size == 0 or y.dtype.kind not in "biuf":
        return
    ignore = options.get("ignore_class")
    if ignore is not None:
        y = y[y != ignore]
        if y.size == 0:
            return
    low, high = y.min(), y.max()
    if low >= 0 and high < classes:  # NaN labels fail this too, and are reported
        return
    bad = high if not high < classes else low
    bad = int(bad) if float(bad).is_integer() else float(bad)
    skip = f" (besides ignore_class={ignore})" if ignore is not None else ""
    raise ValueError(f"sparse_categorical_crossentropy{where} expects integer class labels in [0, {classes}) for "
                     f"an output of {classes} classes, but the targets contain {bad}{skip}, which would silently "
                     f"count as a loss of 0.0; remap the labels to 0..{classes - 1} (e.g. "
                     "np.unique(y, return_inverse=True)[1]) or give the output layer one unit per class.")
