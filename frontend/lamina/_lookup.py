"""Resolving Keras-style identifiers (strings, dicts, callables) with clear errors."""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping


def snake_case(name: str) -> str:
    """Keras' default-name rule: ``Conv2D`` → ``conv2d``, ``MaxPooling2D`` → ``max_pooling2d``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def resolve(kind: str, identifier: Any, table: Mapping[str, Any], *,
            allow_callable: bool = True, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """Look ``identifier`` up in ``table``; unknown strings list the valid names."""
    if isinstance(identifier, str):
        if custom_objects and identifier in custom_objects:
            return custom_objects[identifier]
        key = identifier if identifier in table else identifier.lower()
        if key not in table:
            from .saving.object_registration import get_registered_object  # scopes and the registry
            found = get_registered_object(identifier)
            if found is not None and callable(found) and not isinstance(found, type):
                return found  # a function (an activation, a loss); a class is not one of this kind
            valid = ", ".join(sorted(k for k in table if not k[:1].isupper() or kind == "optimizer"))
            raise ValueError(f"Unknown {kind} {identifier!r}; valid {kind} names are: {valid}.")
        return table[key]
    if isinstance(identifier, dict) and "class_name" in identifier:
        target = resolve(kind, identifier["class_name"], table, custom_objects=custom_objects)
        config = identifier.get("config", {})
        return target.from_config(config) if hasattr(target, "from_config") else target(**config)
    if allow_callable and callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret {kind} {identifier!r}: expected a name (str), a config dict "
                    f"or a callable.")


def check_kwargs(owner: str, kwargs: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(kwargs) - allowed
    if unknown:
        raise TypeError(f"{owner} got unexpected keyword argument(s) {', '.join(sorted(unknown))}; "
                        f"check the spelling against the Keras documentation.")


def get_callable_name(fn: Callable) -> str:
    return getattr(fn, "__name__", type(fn).__name__)
