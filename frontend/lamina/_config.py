"""Global settings: where Lamina keeps its files, and the Keras-style numeric settings.

Order of precedence for every key: environment variable (where one exists), then
``$LAMINA_HOME/lamina.json`` (default ``~/.lamina``), then the built-in default.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_DEFAULTS: dict[str, Any] = {
    "backend": "numpy",
    "floatx": "float32",
    "epsilon": 1e-7,
    "image_data_format": "channels_last",
}
_VALID_FLOATX = ("float16", "bfloat16", "float32", "float64")
_VALID_FORMATS = ("channels_last", "channels_first")

_settings: dict[str, Any] | None = None


def lamina_home() -> Path:
    """The folder holding ``lamina.json`` and the ``datasets`` cache (``$LAMINA_HOME`` or ``~/.lamina``)."""
    env = os.environ.get("LAMINA_HOME")
    return Path(env).expanduser() if env else Path.home() / ".lamina"


def config_path() -> Path:
    return lamina_home() / "lamina.json"


def _load() -> dict[str, Any]:
    settings = dict(_DEFAULTS)
    path = config_path()
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"The Lamina config file {path} could not be read as JSON ({exc}); "
                "fix or delete it to use the defaults."
            ) from None
        if not isinstance(data, dict):
            raise ValueError(f"The Lamina config file {path} must hold a JSON object, got {type(data).__name__}.")
        settings.update({k: v for k, v in data.items() if k in _DEFAULTS or k == "device"})
    _check_floatx(settings["floatx"])
    _check_format(settings["image_data_format"])
    return settings


def settings() -> dict[str, Any]:
    global _settings
    if _settings is None:
        _settings = _load()
    return _settings


def reset() -> None:
    """Forget cached settings so the next read sees the environment and file again (tests use this)."""
    global _settings
    _settings = None


def _check_floatx(value: Any) -> str:
    if value not in _VALID_FLOATX:
        raise ValueError(f"floatx must be one of {', '.join(_VALID_FLOATX)}; got {value!r}.")
    return value


def _check_format(value: Any) -> str:
    if value not in _VALID_FORMATS:
        raise ValueError(
            f"image_data_format must be 'channels_last' or 'channels_first'; got {value!r}."
        )
    return value


def requested_backend() -> str:
    return os.environ.get("LAMINA_BACKEND") or str(settings()["backend"])


def floatx() -> str:
    return settings()["floatx"]


def set_floatx(value: str) -> None:
    settings()["floatx"] = _check_floatx(str(value))


def epsilon() -> float:
    return float(settings()["epsilon"])


def set_epsilon(value: float) -> None:
    settings()["epsilon"] = float(value)


def image_data_format() -> str:
    return settings()["image_data_format"]


def set_image_data_format(value: str) -> None:
    settings()["image_data_format"] = _check_format(value)


# Keras 2's global learning phase (K.set_learning_phase): None until set; then the ``training``
# value of layer calls made without one (fit, evaluate and predict always pass theirs).
_learning_phase: bool | None = None


def learning_phase_value() -> bool | None:
    return _learning_phase


def check_learning_phase(value: Any, who: str) -> bool:
    """``value`` (0 or 1) as a training flag; else one sentence naming ``who`` was given it."""
    if value not in (0, 1):  # True and False are 1 and 0, as in Keras
        raise ValueError(f"{who} takes the learning phase 0 (inference) or 1 (training), got {value!r}; "
                         "pass training= to a model call to choose per call instead.")
    return bool(value)


def set_learning_phase(value: Any) -> None:
    """Set the global learning phase: 0 (inference) or 1 (training), or None to clear it."""
    global _learning_phase
    _learning_phase = None if value is None else check_learning_phase(value, "set_learning_phase")
