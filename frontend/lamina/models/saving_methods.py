"""The bodies of ``Model.save``, ``save_weights``, ``load_weights`` and ``to_json``.

``Model`` delegates to these in one line each; the work happens in ``lamina.saving`` (a host-side
module that may use NumPy), imported on first use so that importing ``lamina.models`` stays light.
"""
from __future__ import annotations

import os
from typing import Any


def save(model: Any, filepath: str | os.PathLike, overwrite: bool = True, include_optimizer: bool = True,
         **kwargs: Any) -> None:
    """``model.save(path)``: architecture, weights, compile arguments and optimizer state in one
    ``.lamina`` (or ``.keras``) zip file, written atomically. See ``lamina.saving.save_model``."""
    from ..saving.saving_api import save_model
    save_model(model, filepath, overwrite=overwrite, include_optimizer=include_optimizer, **kwargs)


def save_weights(model: Any, filepath: str | os.PathLike, overwrite: bool = True, save_format: str | None = None,
                 **kwargs: Any) -> None:
    """``model.save_weights(path)``: ``.npz`` by default, Keras 2 HDF5 for ``.h5``/``.weights.h5``."""
    from ..saving.saving_api import save_weights as _save_weights
    kwargs.pop("options", None)
    if kwargs:
        raise TypeError(f"save_weights() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
    _save_weights(model, filepath, overwrite=overwrite, save_format=save_format)


def load_weights(model: Any, filepath: str | os.PathLike, by_name: bool = False, skip_mismatch: bool = False,
                 **kwargs: Any) -> None:
    """``model.load_weights(path, by_name=False, skip_mismatch=False)``."""
    from ..saving.saving_api import load_weights as _load_weights
    return _load_weights(model, filepath, by_name=by_name, skip_mismatch=skip_mismatch, **kwargs)


YAML_REMOVED = ("Models are not written to or read from YAML (Keras removed to_yaml/model_from_yaml in 2.6, since "
                "loading YAML could run arbitrary code); use model.to_json() and lamina.models.model_from_json().")


def model_from_yaml(yaml_string: str, custom_objects: dict | None = None) -> Any:
    """Removed, as in Keras 2.6+ (see ``YAML_REMOVED``)."""
    raise RuntimeError(YAML_REMOVED)


def to_json(model: Any, **kwargs: Any) -> str:
    """``model.to_json()``: the architecture as JSON (``json.dumps`` options pass through)."""
    from ..saving.saving_api import model_to_json
    return model_to_json(model, **kwargs)
