"""``Lambda``: wraps a Python function of tensors as a layer."""
from __future__ import annotations

import inspect
import sys
from typing import Any, Callable

from ..layer import Layer


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _serialize_callable(fn: Any) -> Any:
    """A callable as ``{"function_type": "function", "name", "module"}``; others unchanged.

    Only the name is saved, never code: loading a file must not execute code from it.
    """
    if fn is None or not callable(fn):
        return fn
    name = getattr(fn, "__name__", type(fn).__name__)
    kind = "lambda" if name == "<lambda>" else "function"
    return {"function_type": kind, "name": name, "module": getattr(fn, "__module__", None)}


def _restore_callable(spec: Any, what: str, layer_name: str, custom_objects: dict | None) -> Any:
    if not isinstance(spec, dict) or "function_type" not in spec:
        return spec
    custom_objects = custom_objects or {}
    name = spec.get("name")
    for key in (name, layer_name):
        if key in custom_objects:
            return custom_objects[key]
    if spec["function_type"] == "function":
        module = sys.modules.get(spec.get("module") or "")  # only already-imported modules: no code runs
        found = getattr(module, name, None) if module is not None else None
        if callable(found):
            return found
    hint = ("it wraps an anonymous lambda, whose code is not saved; define a named function instead or"
            if spec["function_type"] == "lambda" else f"the function {name!r} of module {spec.get('module')!r} "
            "is not imported;")
    raise ValueError(f"Cannot restore the {what} of Lambda layer {layer_name!r}: {hint} pass it as "
                     f"custom_objects={{{(name if spec['function_type'] == 'function' else layer_name)!r}: fn}}.")


class Lambda(Layer):
    """Applies ``function(inputs, **arguments)``, a function written with ``lamina.ops`` or
    ``lamina.backend`` (``K.*``) calls, so its gradients come automatically.

    Args:
        function: the function; it receives the input tensor (or list of tensors), plus
            ``training`` and ``mask`` when its signature takes them.
        output_shape: the output shape without the batch axis (a tuple), or a function of the
            full input shape; ``None`` (default) infers the shape by running the function once on
            a small batch of zeros.
        mask: a mask, or a function ``(inputs, mask) -> mask``.
        arguments: extra keyword arguments for ``function``.

    ``get_config`` stores the function by name (never its code); ``from_config`` finds it in
    ``custom_objects`` or in its already-imported module. Anonymous lambdas need ``custom_objects``.

    Example:
        >>> model.add(Lambda(lambda x: x ** 2))
        >>> diff = Lambda(lambda t: K.abs(t[0] - t[1]), output_shape=(128,))([a, b])
    """

    def __init__(self, function: Callable, output_shape: Any = None, mask: Any = None,
                 arguments: dict | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda needs a callable function, got {function!r}.")
        if output_shape is not None and not callable(output_shape):
            if isinstance(output_shape, int):
                output_shape = (output_shape,)
            output_shape = tuple(None if s is None else int(s) for s in output_shape)
        self.function = function
        self.output_shape_spec = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})
        self.supports_masking = mask is not None

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        kwargs = dict(self.arguments)
        if _accepts(self.function, "mask") and "mask" not in kwargs:
            kwargs["mask"] = mask
        if _accepts(self.function, "training") and "training" not in kwargs:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_shape(self, input_shape: Any) -> tuple | None:
        """``(batch,) + output_shape`` for a tuple, ``output_shape(input_shape)`` for a function;
        without ``output_shape``, inferred by running the function once on zeros (``Layer``'s
        default)."""
        spec = self.output_shape_spec
        if spec is None:
            return super().compute_output_shape(input_shape)
        if callable(spec):
            out = spec(input_shape)
            if out is None:
                return None
            if len(out) and all(isinstance(s, (list, tuple)) for s in out):
                return [tuple(s) for s in out]  # several outputs
            return tuple(out)
        is_list = isinstance(input_shape, (list, tuple)) and len(input_shape) > 0 and \
            isinstance(input_shape[0], (list, tuple))
        first = input_shape[0] if is_list else input_shape
        batch = first[0] if first else None
        return (batch,) + spec

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def get_config(self) -> dict:
        config = super().get_config()
        spec = self.output_shape_spec
        config.update({
            "function": _serialize_callable(self.function),
            "output_shape": _serialize_callable(spec) if callable(spec) else (None if spec is None else list(spec)),
            "mask": _serialize_callable(self.mask) if callable(self.mask) else None,
            "arguments": dict(self.arguments),
        })
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Lambda":
        config = dict(config)
        name = config.get("name", "lambda")
        for key in ("function", "output_shape", "mask"):
            config[key] = _restore_callable(config.get(key), key, name, custom_objects)
        return cls(**config)
