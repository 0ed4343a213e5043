"""Model config and compile arguments to JSON and back, resolving custom objects by name.

Only names and plain data are written: a custom loss, metric, activation, layer or model class is
stored by its registered name (``"package>name"`` for ``@register_lamina_serializable``) or its
``__name__``, and found again at load time in ``custom_objects``, an open ``custom_object_scope`` or
the registry. Nothing read from a file is ever executed.
"""
from __future__ import annotations

import inspect
import json
import math
from typing import Any

from .object_registration import get_registered_object, registered_name


class SerializationError(ValueError):
    """Something in the model cannot be written as JSON (an anonymous function, an object without
    ``get_config``...)."""


# --- looking names up --------------------------------------------------------------------------
def lookup_custom(name: Any, custom_objects: dict | None) -> Any:
    """The custom object called ``name`` (or, for ``"package>name"``, plain ``name``); ``None``."""
    if not isinstance(name, str):
        return None
    found = get_registered_object(name, custom_objects)
    if found is None and ">" in name:
        found = get_registered_object(name.split(">", 1)[1], custom_objects)
    return found


# --- JSON ----------------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    """Numbers and arrays from NumPy-like libraries become plain JSON; anything else is an error."""
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise SerializationError(f"{value!r} (a {type(value).__name__}) cannot be written to JSON")


def dumps(obj: Any, what: str, **kwargs: Any) -> str:
    try:
        return json.dumps(obj, default=_json_default, allow_nan=True, **kwargs)
    except (SerializationError, TypeError, ValueError) as exc:
        raise SerializationError(f"Cannot save the {what}: {exc}; give that object a get_config() that returns "
                                 "only numbers, strings, lists and dicts, or register it with "
                                 "@lamina.saving.register_lamina_serializable().") from None


# --- model config --------------------------------------------------------------------------------
def _is_builtin_model(model: Any) -> bool:
    from ..models import Functional, Sequential
    return type(model) in (Sequential, Functional)


def check_subclassed_model(model: Any) -> None:
    """A subclassed model is saved through its ``get_config``; fail early (at save time) when its
    class cannot be rebuilt from that config."""
    if _is_builtin_model(model):
        return
    from ..layers.layer import Layer
    from ..models import Functional, Model
    cls = type(model)
    if isinstance(model, Functional):
        return
    has_config = cls.get_config not in (Layer.get_config, Model.get_config)
    has_from_config = cls.from_config.__func__ not in (Layer.from_config.__func__, Model.from_config.__func__)
    if has_config or has_from_config:
        return
    try:  # the base config (name, trainable, dtype) must be enough to call the constructor
        inspect.signature(cls.__init__).bind(model, **model.get_config())
    except (TypeError, ValueError):
        raise SerializationError(
            f"Cannot save subclassed model {cls.__name__!r} with model.save(): the class does not implement "
            "get_config(), so its constructor arguments cannot be stored; implement get_config() (returning the "
            "__init__ arguments) and, if needed, from_config(), or save only the weights with "
            "model.save_weights(path) and rebuild the model in code before load_weights(path).") from None


def build_config(model: Any) -> dict | None:
    """What ``load_model`` needs to create the weights of a model whose config alone does not."""
    from ..models import Functional, Sequential
    if isinstance(model, Functional):
        return None
    getter = getattr(model, "get_build_config", None)
    if callable(getter):
        return getter()
    if isinstance(model, Sequential):
        shape = getattr(model, "_input_shape", None)
        return None if shape is None else {"input_shape": list(shape)}
    shape = getattr(model, "_build_input_shape", None)
    if shape is None:
        return None
    return {"input_shape": _shape_to_json(shape)}


def _shape_to_json(shape: Any) -> Any:
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [list(s) for s in shape]
    return list(shape)


def serialize_model(model: Any) -> dict:
    from ..layers import serialize
    check_subclassed_model(model)
    spec = serialize(model)
    return {"class_name": spec["class_name"], "config": spec["config"], "build_config": build_config(model)}


def _resolve_activations(config: Any, custom_objects: dict | None) -> Any:
    """Layer configs name custom activations as strings; swap in the function so the layer's
    constructor (which knows only the built-in names) gets a callable."""
    from .. import activations
    if isinstance(config, list):
        return [_resolve_activations(c, custom_objects) for c in config]
    if not isinstance(config, dict):
        return config
    out = {}
    for key, value in config.items():
        if key in ("activation", "recurrent_activation") and isinstance(value, str) \
                and value not in activations._TABLE:
            found = lookup_custom(value, custom_objects)
            out[key] = found if callable(found) else value
        else:
            out[key] = _resolve_activations(value, custom_objects)
    return out


def deserialize_model(spec: dict, custom_objects: dict | None, label: str) -> Any:
    """A new model from ``{"class_name", "config"}`` (building its weights from ``build_config``)."""
    from ..layers import deserialize
    from .object_registration import custom_object_scope
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) or \
            not isinstance(spec.get("config"), dict):
        raise ValueError(f"Cannot load {label}: its model config has no class_name/config entries; the file may be "
                         "corrupt.")
    config = _resolve_activations(spec["config"], custom_objects)
    class_name = spec["class_name"]
    with custom_object_scope(custom_objects or {}):
        try:
            model = deserialize({"class_name": class_name, "config": config}, custom_objects=custom_objects)
        except TypeError as exc:
            raise ValueError(f"Cannot load {label}: rebuilding {class_name!r} from its config failed ({exc}); a "
                             "subclassed model or layer must implement get_config() and from_config() so its "
                             "constructor arguments round-trip, or save only the weights with save_weights().") \
                from None
        except (KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"Cannot load {label}: the config of {class_name!r} is malformed "
                             f"({type(exc).__name__}: {exc}); the file may be corrupt.") from None
        except ValueError as exc:
            message = str(exc).rstrip(".")
            if "custom_objects" not in message:
                message += ("; a custom object is found through load_model(..., custom_objects={name: object}), "
                            "custom_object_scope, or @lamina.saving.register_lamina_serializable()")
            raise ValueError(f"Cannot load {label}: {message}.") from None
    build = spec.get("build_config")
    if build:
        build_from_config(model, build, label)
    return model


def build_from_config(model: Any, build: dict, label: str) -> None:
    from ..models import Functional
    if isinstance(model, Functional) or (model.built and model.weights):
        return
    builder = getattr(model, "build_from_config", None)
    if callable(builder):
        builder(build)
        return
    shape = build.get("input_shape")
    if shape is None:
        return
    multi = bool(shape) and isinstance(shape[0], (list, tuple))
    shapes = [tuple(s) for s in shape] if multi else [tuple(shape)]
    try:
        model.build(shapes if multi else shapes[0])
    except (NotImplementedError, TypeError):
        pass
    if not model.weights:  # subclassed models make their weights on the first call
        from .. import ops
        probe = [ops.zeros(tuple(1 if d is None else int(d) for d in s), model.dtype) for s in shapes]
        model(probe if multi else probe[0], training=False)
    model.built = True


# --- compile arguments ---------------------------------------------------------------------------
def _builtin_loss_name(fn: Any) -> str | None:
    """The name ``losses.get`` knows a built-in loss function by (its own name when it is a key)."""
    from .. import losses
    own = getattr(fn, "__name__", None)
    if own in losses._TABLE and losses._TABLE[own] is fn:
        return own
    return next((name for name, f in losses._TABLE.items() if f is fn), None)


def _serialize_callable(obj: Any, what: str) -> Any:
    name = registered_name(obj)
    if name == "<lambda>" or not isinstance(name, str):
        raise SerializationError(f"Cannot save the {what} {obj!r}: an anonymous lambda is saved by name only and "
                                 "has none; define it with def and pass it in custom_objects when loading")
    return name


def serialize_loss(value: Any) -> Any:
    from .. import losses
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {k: serialize_loss(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [serialize_loss(v) for v in value]
    if isinstance(value, losses.Loss):
        return {"class_name": registered_name(type(value)), "config": value.get_config()}
    if isinstance(value, type):
        return {"class_name": registered_name(value), "config": {}}
    if callable(value):
        return _builtin_loss_name(value) or _serialize_callable(value, "loss")
    raise SerializationError(f"Cannot save the loss {value!r}: expected a name, a function or a Loss")


def serialize_metric(value: Any) -> Any:
    from .. import metrics
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {k: serialize_metric(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [serialize_metric(v) for v in value]
    if isinstance(value, type):
        return {"class_name": registered_name(value), "config": {}}
    if isinstance(value, metrics.Metric):
        if type(value) is metrics.MeanMetricWrapper:  # its function is the identity that matters
            fn = value.fn
            builtin = next((k for k, f in metrics._FUNCTIONS.items() if f is fn), None)
            return builtin or _serialize_callable(fn, "metric")
        return {"class_name": registered_name(type(value)), "config": value.get_config()}
    if callable(value):
        builtin = next((k for k, f in metrics._FUNCTIONS.items() if f is value), None)
        return builtin or _serialize_callable(value, "metric")
    raise SerializationError(f"Cannot save the metric {value!r}: expected a name, a function or a Metric")


def serialize_compile_args(model: Any) -> dict | None:
    """``compile``'s loss, loss_weights, metrics and the optimizer's config, or ``None``."""
    if not getattr(model, "compiled", False) or getattr(model, "_compile_args", None) is None:
        return None
    from .. import optimizers
    args = model._compile_args
    optimizer = model.optimizer
    opt = optimizers.serialize(optimizer) if optimizer is not None else None
    if opt is not None:
        opt["class_name"] = registered_name(type(optimizer))
    config = {"optimizer": opt, "loss": serialize_loss(args.get("loss")),
              "loss_weights": args.get("loss_weights"), "metrics": serialize_metric(args.get("metrics"))}
    if args.get("weighted_metrics"):
        config["weighted_metrics"] = serialize_metric(args["weighted_metrics"])
    return config


def _is_object_spec(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("class_name"), str) and "config" in value \
        and isinstance(value.get("config"), dict)


def _from_spec(cls: Any, config: dict) -> Any:
    if hasattr(cls, "from_config"):
        return cls.from_config(dict(config))
    return cls(**config)


def _missing_object(kind: str, name: str, label: str) -> ValueError:
    short = name.split(">", 1)[-1]
    return ValueError(f"Cannot load {label}: the saved {kind} {name!r} is not a Lamina {kind}; pass "
                      f"custom_objects={{{short!r}: {short}}} to load_model, decorate it with "
                      "@lamina.saving.register_lamina_serializable(), or load with compile=False.")


def deserialize_loss(value: Any, custom_objects: dict | None, label: str) -> Any:
    from .. import losses
    if value is None:
        return None
    if isinstance(value, list):
        return [deserialize_loss(v, custom_objects, label) for v in value]
    if _is_object_spec(value):
        cls = lookup_custom(value["class_name"], custom_objects)
        if cls is not None:
            return _from_spec(cls, value["config"])
        builtin = losses._CLASS_TABLE.get(value["class_name"])
        if builtin is not None:
            config = dict(value["config"])
            fn = lookup_custom(config.get("fn"), custom_objects)
            if fn is not None:  # a LossFunctionWrapper around a custom function
                config.pop("fn")
                return builtin(fn, **config)
            return value
        raise _missing_object("loss", value["class_name"], label)
    if isinstance(value, dict):
        return {k: deserialize_loss(v, custom_objects, label) for k, v in value.items()}
    if isinstance(value, str):
        found = lookup_custom(value, custom_objects)
        if found is not None:
            return found
        try:
            losses.get(value)
        except (ValueError, TypeError):
            raise _missing_object("loss", value, label) from None
        return value
    raise ValueError(f"Cannot load {label}: its compile config has a loss entry {value!r} that is neither a name "
                     "nor a serialized Loss; the file may be corrupt.")


def deserialize_metric(value: Any, custom_objects: dict | None, label: str) -> Any:
    from .. import metrics
    if value is None:
        return None
    if isinstance(value, list):
        return [deserialize_metric(v, custom_objects, label) for v in value]
    if _is_object_spec(value):
        name = value["class_name"]
        cls = lookup_custom(name, custom_objects)
        if cls is None:
            candidate = getattr(metrics, name, None)  # a class defined by lamina.metrics itself
            cls = candidate if isinstance(candidate, type) and issubclass(candidate, metrics.Metric) else None
        if cls is None:
            raise _missing_object("metric", name, label)
        return _from_spec(cls, value["config"])
    if isinstance(value, dict):
        return {k: deserialize_metric(v, custom_objects, label) for k, v in value.items()}
    if isinstance(value, str):
        found = lookup_custom(value, custom_objects)
        if found is not None:
            return found
        try:
            metrics.get(value)
        except (ValueError, TypeError):
            raise _missing_object("metric", value, label) from None
        return value
    raise ValueError(f"Cannot load {label}: its compile config has a metric entry {value!r} that is neither a "
                     "name nor a serialized Metric; the file may be corrupt.")


def deserialize_optimizer(value: Any, custom_objects: dict | None, label: str) -> Any:
    from .. import optimizers
    if value is None:
        return "rmsprop"
    if not _is_object_spec(value):
        raise ValueError(f"Cannot load {label}: its optimizer config is not a {{class_name, config}} dict; the file "
                         "may be corrupt.")
    name = value["class_name"]
    cls = lookup_custom(name, custom_objects)
    try:
        if cls is not None:
            return optimizers.deserialize({"class_name": name, "config": value["config"]}, custom_objects={name: cls})
        return optimizers.deserialize(value)
    except ValueError as exc:
        raise ValueError(f"Cannot load {label}: {exc}") from None


def deserialize_compile_args(config: dict, custom_objects: dict | None, label: str) -> dict:
    if not isinstance(config, dict) or "loss" not in config:
        raise ValueError(f"Cannot load {label}: its compile config has no loss entry; the file may be corrupt.")
    loss_weights = config.get("loss_weights")
    _check_finite_numbers(loss_weights, label)
    return {"optimizer": deserialize_optimizer(config.get("optimizer"), custom_objects, label),
            "loss": deserialize_loss(config.get("loss"), custom_objects, label),
            "metrics": deserialize_metric(config.get("metrics"), custom_objects, label),
            "weighted_metrics": deserialize_metric(config.get("weighted_metrics"), custom_objects, label),
            "loss_weights": loss_weights}


def _check_finite_numbers(value: Any, label: str) -> None:
    items = value.values() if isinstance(value, dict) else (value if isinstance(value, list) else [value])
    for v in items:
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v)):
            raise ValueError(f"Cannot load {label}: its loss_weights entry {v!r} is not a number; the file may be "
                             "corrupt.")
