"""Registering custom classes and functions so saved models can find them by name again."""
from __future__ import annotations

from typing import Any, Callable

_REGISTERED: dict[str, Any] = {}
_SCOPES: list[dict[str, Any]] = []


def register_lamina_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Class or function decorator: ``@register_lamina_serializable()`` makes the object loadable
    by ``load_model`` without ``custom_objects``. It is known as ``"package>name"`` and, when
    unambiguous, by its plain name (Keras' ``register_keras_serializable`` is the same thing)."""
    def decorate(obj: Any) -> Any:
        key = f"{package}>{name or obj.__name__}"
        _REGISTERED[key] = obj
        plain = name or obj.__name__
        if plain not in _REGISTERED or getattr(_REGISTERED[plain], "_lamina_registered_name", None) == key:
            _REGISTERED[plain] = obj  # a new name, or the same object registered again (a re-run cell)
        obj._lamina_registered_name = key
        return obj
    return decorate


register_keras_serializable = register_lamina_serializable


class custom_object_scope:
    """``with custom_object_scope({"MyLayer": MyLayer}): load_model(path)``."""

    def __init__(self, *objects: dict[str, Any]):
        self.objects: dict[str, Any] = {}
        for mapping in objects:
            self.objects.update(mapping)

    def __enter__(self) -> "custom_object_scope":
        _SCOPES.append(self.objects)
        return self

    def __exit__(self, *exc: Any) -> None:
        _SCOPES.remove(self.objects)


CustomObjectScope = custom_object_scope  # Keras 2's class name


def get_custom_objects() -> dict[str, Any]:
    """The global table of custom objects by name (Keras' ``get_custom_objects``): adding to it,
    e.g. ``get_custom_objects().update({"swish": swish})``, makes the name usable wherever a Keras
    name is (``Dense(activation="swish")``, ``load_model``)."""
    return _REGISTERED


def get_registered_object(name: str, custom_objects: dict[str, Any] | None = None) -> Any:
    """The custom object for ``name``: explicit ``custom_objects`` first, then open scopes, then
    the registry; ``None`` when unknown."""
    for table in [custom_objects or {}] + list(reversed(_SCOPES)) + [_REGISTERED]:
        if name in table:
            return table[name]
    return None


def registered_name(obj: Any) -> str:
    return getattr(obj, "_lamina_registered_name", None) or getattr(obj, "__name__", type(obj).__name__)
