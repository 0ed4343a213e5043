"""Whole-model saving (``save_model``/``load_model``), weights files (``save_weights``/
``load_weights``) and JSON architectures (``model_to_json``/``model_from_json``).

A saved model is ONE zip file (``.lamina``; ``.keras`` is accepted too) holding::

    metadata.json        {"format_version": 1, "lamina_version", "backend", "floatx", "date_saved"}
    config.json          {"class_name", "config", "build_config", "compile_config"}
    model.weights.npz    every weight, in model.weights order, with its variable name and owning
                         layer (see weights_io)
    optimizer.npz        the optimizer's state: iterations, optimizer-wide scalars, slot arrays
                         (only when include_optimizer=True and the model is compiled)
    state.json           random-stream positions of layers that draw random numbers (Dropout...)

Weights are host NumPy arrays, so a file written on one backend loads on any other. Files are
written atomically (temporary file in the same folder, fsync, ``os.replace``), and reading one
never unpickles or executes anything: JSON, and ``.npz`` arrays read with ``allow_pickle=False``.
"""
from __future__ import annotations

import datetime
import io
import json
import os
import warnings
import zipfile
import zlib
from typing import Any

import numpy as np

from . import serialization, weights_io
from .atomic import atomic_write

FORMAT_VERSION = 1
MODEL_EXTENSIONS = (".lamina", ".keras")
_METADATA, _CONFIG, _WEIGHTS, _OPTIMIZER, _STATE = (
    "metadata.json", "config.json", weights_io.ARCHIVE_WEIGHTS_MEMBER, "optimizer.npz", "state.json")


# --- helpers ----------------------------------------------------------------------------------------
def _version() -> str:
    from .. import __version__
    return __version__


def _backend_name() -> str:
    from .. import ops
    return str(getattr(ops.backend_object(), "name", "unknown"))


def _check_model(model: Any, what: str) -> None:
    from ..models import Model
    if not isinstance(model, Model):
        raise TypeError(f"{what} expects a lamina Model, got {type(model).__name__}.")


def _check_model_path(path: str) -> None:
    lower = path.lower()
    if lower.endswith((".h5", ".hdf5")):
        raise ValueError(f"Cannot save the model to {path!r}: Lamina saves whole models as one zip file, not "
                         "Keras' legacy HDF5 format; use a path ending in .lamina (or .keras), or save only the "
                         "weights with model.save_weights('....weights.h5').")
    if lower.endswith(".npz"):
        raise ValueError(f"Cannot save the model to {path!r}: .npz is the weights format; use "
                         "model.save_weights(path) for weights, or a path ending in .lamina for the whole model.")
    if not lower.endswith(MODEL_EXTENSIONS):
        raise ValueError(f"Cannot save the model to {path!r}: the file name must end in .lamina (or .keras); "
                         f"e.g. {os.path.splitext(path)[0] + '.lamina'!r}.")


# --- random streams of layers (Dropout & co.) -------------------------------------------------------
def _seed_generators(model: Any) -> dict[str, Any]:
    """Every ``SeedGenerator`` held by the model's layers, keyed by the layer path and attribute."""
    from .. import ops
    from ..layers.layer import Layer
    found: dict[str, Any] = {}
    seen: set[int] = set()

    def walk(layer: Any, prefix: str) -> None:
        if id(layer) in seen:
            return
        seen.add(id(layer))
        for attr in sorted(vars(layer)):
            value = getattr(layer, attr, None)
            if isinstance(value, ops.SeedGenerator):
                found.setdefault(f"{prefix}{attr}", value)
            items = value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if isinstance(item, Layer) and item is not layer:
                    walk(item, f"{prefix}{item.name}/")

    walk(model, "")
    return found


def _rng_state(model: Any) -> dict:
    return {key: [int(g.seed), int(g.counter)] for key, g in _seed_generators(model).items()}


def _restore_rng_state(model: Any, state: dict) -> None:
    generators = _seed_generators(model)
    for key, value in (state or {}).items():
        g = generators.get(key)
        if g is not None and isinstance(value, list) and len(value) == 2:
            g.seed, g.counter = int(value[0]), int(value[1])


# --- optimizer state -------------------------------------------------------------------------------
def _optimizer_state(model: Any) -> dict[str, Any] | None:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    variables = model.trainable_weights
    if hasattr(optimizer, "get_slot_state"):
        return optimizer.get_slot_state(variables)
    # An optimizer without get_slot_state (a user class on an old base): iterations and raw slots.
    from .. import ops
    be = ops.backend_object()
    state: dict[str, Any] = {"iterations": int(getattr(optimizer, "iterations", 0))}
    slots = getattr(optimizer, "_slots", {})
    for i, var in enumerate(variables):
        for name in sorted(slots.get(id(var), {})):
            state[f"slot/{i}/{name}"] = be.to_numpy(be.copy(slots[id(var)][name]))
    return state


def _optimizer_npz(state: dict[str, Any]) -> bytes:
    arrays: dict[str, np.ndarray] = {"iterations": np.array(int(state["iterations"]), dtype=np.int64)}
    scalars = [(k, v) for k, v in state.items() if k != "iterations" and not k.startswith("slot/")]
    slots = [(k, v) for k, v in state.items() if k.startswith("slot/")]
    arrays["scalar_names"] = np.array([k for k, _ in scalars], dtype=np.str_)
    arrays["scalar_values"] = np.array([float(v) for _, v in scalars], dtype=np.float64)
    arrays["slot_keys"] = np.array([k for k, _ in slots], dtype=np.str_)
    for i, (_, value) in enumerate(slots):
        arrays[f"s{i:05d}"] = np.asarray(value)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _read_optimizer_npz(data: bytes, label: str) -> dict[str, Any]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            state: dict[str, Any] = {"iterations": int(npz["iterations"])}
            for name, value in zip(npz["scalar_names"].tolist(), npz["scalar_values"].tolist()):
                state[str(name)] = float(value)
            for i, key in enumerate(npz["slot_keys"].tolist()):
                state[str(key)] = npz[f"s{i:05d}"]
            return state
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"Cannot load {label}: its optimizer state ({_OPTIMIZER}) is unreadable "
                         f"({type(exc).__name__}: {exc}); the file may be corrupt. Load with compile=False "
                         "to skip it.") from None


def _set_optimizer_state(model: Any, state: dict[str, Any], label: str) -> None:
    optimizer = model.optimizer
    variables = model.trainable_weights
    if hasattr(optimizer, "set_slot_state"):
        try:
            optimizer.set_slot_state(variables, state)
        except ValueError as exc:
            raise ValueError(f"Cannot load {label}: {exc}") from None
        return
    from .. import ops
    be = ops.backend_object()
    optimizer.iterations = int(state["iterations"])
    for key, value in state.items():
        if key.startswith("slot/"):
            _, index, name = key.split("/", 2)
            var = variables[int(index)]
            optimizer._slots.setdefault(id(var), {})[name] = be.copy(be.asarray(value, dtype=var.dtype))
            if hasattr(optimizer, "_slot_owners"):
                optimizer._slot_owners[id(var)] = var


# --- save_model -----------------------------------------------------------------------------------
def _write_archive(handle: Any, model: Any, include_optimizer: bool) -> None:
    """The zip, member by member (metadata first, so a reader can check the version first)."""
    from .. import _config
    model_spec = serialization.serialize_model(model)
    model_spec["compile_config"] = _compile_config(model)
    config_json = serialization.dumps(model_spec, f"config of model {model.name!r}", indent=1)
    metadata = {"format_version": FORMAT_VERSION, "lamina_version": _version(), "backend": _backend_name(),
                "floatx": _config.floatx(),
                "date_saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    records = weights_io.collect(model)
    opt_state = _optimizer_state(model) if include_optimizer and model_spec["compile_config"] else None
    rng = _rng_state(model)
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(_METADATA, json.dumps(metadata, indent=1), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(_CONFIG, config_json, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(_WEIGHTS, weights_io.npz_bytes(records))
        if opt_state is not None:
            zf.writestr(_OPTIMIZER, _optimizer_npz(opt_state))
        zf.writestr(_STATE, json.dumps({"seed_generators": rng}, indent=1), compress_type=zipfile.ZIP_DEFLATED)


def _compile_config(model: Any) -> dict | None:
    """The compile arguments as JSON-ready data; when one of them cannot be stored by name (an
    anonymous lambda as loss...), warn and save the model uncompiled rather than fail a checkpoint."""
    try:
        config = serialization.serialize_compile_args(model)
        if config is not None:
            serialization.dumps(config, "compile arguments (optimizer, loss, metrics)")
        return config
    except serialization.SerializationError as exc:
        warnings.warn(f"{str(exc).rstrip('.')}; the model is saved without its compile arguments and optimizer "
                      "state (compile it again after load_model()).", RuntimeWarning, stacklevel=5)
        return None


def save_model(model: Any, filepath: str | os.PathLike, overwrite: bool = True, include_optimizer: bool = True,
               **kwargs: Any) -> None:
    """Save architecture, weights, compile arguments and optimizer state to one ``.lamina`` zip file.

    Args:
        model: a ``Sequential``, functional or subclassed ``Model`` (subclassed models and custom
            layers need ``get_config``; custom classes are found again through ``custom_objects`` or
            ``@register_lamina_serializable``).
        filepath: a path ending in ``.lamina`` (or ``.keras``); missing folders are created.
        overwrite: replace an existing file (default); ``False`` raises ``FileExistsError``.
        include_optimizer: also store the optimizer's state (iterations and slot arrays), so that
            training resumes exactly where it stopped.

    Keras' ``save_format`` and ``options`` are accepted and ignored (there is one format).
    """
    _check_model(model, "save_model")
    kwargs.pop("save_format", None)
    kwargs.pop("options", None)
    kwargs.pop("signatures", None)
    if kwargs:
        raise TypeError(f"save_model() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
    path = os.fspath(filepath)
    _check_model_path(path)
    with atomic_write(path, overwrite=overwrite, what="model file") as handle:
        _write_archive(handle, model, include_optimizer)


# --- load_model -----------------------------------------------------------------------------------
class _Archive:
    """Read access to a model zip whose every failure is one ValueError naming the file."""

    def __init__(self, path: str):
        self.path = path
        self.label = repr(path)
        try:
            self.zip = zipfile.ZipFile(path)
            self.names = set(self.zip.namelist())
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
            raise ValueError(f"Cannot load {self.label}: it is not a readable Lamina model file ({exc}); it may be "
                             "truncated or corrupt.") from None

    def close(self) -> None:
        self.zip.close()

    def read(self, member: str) -> bytes:
        if member not in self.names:
            raise ValueError(f"Cannot load {self.label}: the file has no {member!r} entry; it is incomplete or not a "
                             "Lamina model file.")
        try:
            return self.zip.read(member)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise ValueError(f"Cannot load {self.label}: its {member!r} entry is unreadable ({exc}); the file may be "
                             "truncated or corrupt.") from None

    def read_json(self, member: str) -> Any:
        data = self.read(member)
        try:
            return json.loads(data.decode("utf8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"Cannot load {self.label}: its {member!r} entry is not valid JSON ({exc}); the file "
                             "may be corrupt.") from None


def _open_model_file(path: str) -> _Archive:
    if os.path.isdir(path):
        raise ValueError(f"Cannot load {path!r}: it is a directory (a TensorFlow SavedModel?); Lamina loads the "
                         "single .lamina/.keras file written by model.save().")
    if not os.path.isfile(path):
        raise weights_io.MissingFileError(f"Cannot load {path!r}: no such file.")
    kind = weights_io.sniff(path)
    if kind == "hdf5":
        raise ValueError(f"Cannot load {path!r}: it is an HDF5 file; Lamina does not read Keras' legacy HDF5 model "
                         "format. Rebuild the model in code and call model.load_weights(path) to load its weights.")
    archive = _Archive(path)
    if _METADATA not in archive.names and archive.names and all(n.endswith(".npy") for n in archive.names):
        archive.close()
        raise ValueError(f"Cannot load {path!r} as a model: it is a weights file (.npz); build the model in code and "
                         "call model.load_weights(path).")
    return archive


def _check_metadata(meta: Any, label: str) -> None:
    if not isinstance(meta, dict) or "format_version" not in meta:
        raise ValueError(f"Cannot load {label}: its metadata has no format_version; it is not a Lamina model file.")
    version = meta["format_version"]
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        hint = "upgrade Lamina to read it" if newer else "it was not written by a compatible Lamina"
        raise ValueError(f"Cannot load {label}: it has format version {version!r} and this Lamina "
                         f"({_version()}) reads version {FORMAT_VERSION}; {hint}.")


def load_model(filepath: str | os.PathLike, custom_objects: dict | None = None, compile: bool = True,
               safe_mode: bool = True, **kwargs: Any) -> Any:
    """Rebuild a model saved by ``save_model``/``model.save``.

    Args:
        filepath: the ``.lamina``/``.keras`` file.
        custom_objects: ``{"name": object}`` for custom layers, models, losses, metrics,
            activations and optimizers (registered objects and an open ``custom_object_scope``
            are found without it).
        compile: recompile with the saved loss, metrics, loss weights and optimizer, and restore
            the optimizer's state, so ``fit`` continues exactly where it stopped. With
            ``compile=False`` (or a file saved from an uncompiled model) the model is returned
            uncompiled.
        safe_mode: accepted for Keras 3 compatibility; loading never executes code from the file.

    Raises:
        ValueError: one sentence naming the file and the problem (truncated or corrupt file,
            missing entry, unknown format version, unknown custom object, shape mismatch).
    """
    kwargs.pop("options", None)
    if kwargs:
        raise TypeError(f"load_model() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
    path = os.fspath(filepath)
    archive = _open_model_file(path)
    label = archive.label
    try:
        _check_metadata(archive.read_json(_METADATA), label)
        spec = archive.read_json(_CONFIG)
        weights_bytes = archive.read(_WEIGHTS)
        records = weights_io.read_npz(io.BytesIO(weights_bytes), label)
        state = archive.read_json(_STATE) if _STATE in archive.names else {}
        opt_bytes = archive.read(_OPTIMIZER) if (compile and _OPTIMIZER in archive.names) else None
    finally:
        archive.close()
    if not isinstance(spec, dict):
        raise ValueError(f"Cannot load {label}: its config.json is not a JSON object; the file may be corrupt.")
    model = serialization.deserialize_model(spec, custom_objects, label)
    if len(model.weights) < len(records):
        raise ValueError(
            f"Cannot load {label}: the rebuilt model {model.name!r} ({type(model).__name__}) has {len(model.weights)} "
            f"weights but the file holds {len(records)}; a subclassed model that makes its weights on its first call "
            "needs get_build_config()/build_from_config() (or to be built by fit/predict before saving, so its input "
            "shape is recorded); otherwise rebuild it in code, call it on a batch, and use load_weights(path).")
    weights_io.assign(model, records, label)
    _restore_rng_state(model, state.get("seed_generators", {}) if isinstance(state, dict) else {})
    compile_config = spec.get("compile_config")
    if compile and compile_config:
        args = serialization.deserialize_compile_args(compile_config, custom_objects, label)
        from .object_registration import custom_object_scope
        with custom_object_scope(custom_objects or {}):
            try:
                model.compile(optimizer=args["optimizer"], loss=args["loss"], metrics=args["metrics"],
                              loss_weights=args["loss_weights"], weighted_metrics=args["weighted_metrics"])
            except (ValueError, TypeError) as exc:
                raise ValueError(f"Cannot load {label}: recompiling the model failed ({exc}); pass the missing "
                                 "objects in custom_objects, or load with compile=False.") from None
        if opt_bytes is not None:
            _set_optimizer_state(model, _read_optimizer_npz(opt_bytes, label), label)
    return model


# --- weights only ---------------------------------------------------------------------------------
def _weights_format(path: str, save_format: str | None) -> str:
    if save_format is not None:
        fmt = str(save_format).lower().lstrip(".")
        if fmt in ("h5", "hdf5", "keras"):
            return "h5"
        if fmt in ("npz", "numpy"):
            return "npz"
        raise ValueError(f"save_weights: unknown save_format {save_format!r}; use 'npz' (default) or 'h5'.")
    if weights_io.is_hdf5_path(path):
        return "h5"
    if path.lower().endswith(MODEL_EXTENSIONS):
        raise ValueError(f"save_weights: {path!r} ends in a whole-model extension; use model.save(path) for the "
                         "whole model, or a weights path such as 'model.weights.npz' or 'model.weights.h5'.")
    return "npz"


def save_weights(model: Any, filepath: str | os.PathLike, overwrite: bool = True,
                 save_format: str | None = None) -> None:
    """Write the model's weights: ``.npz`` (NumPy, the default for any name) or Keras 2's HDF5
    weights layout for paths ending in ``.h5``/``.hdf5``/``.weights.h5`` (needs h5py).

    The file is written to exactly ``filepath`` (no extension is appended), atomically.
    """
    _check_model(model, "save_weights")
    path = os.fspath(filepath)
    fmt = _weights_format(path, save_format)
    if fmt == "h5":
        weights_io._h5py()  # fail before touching the file when h5py is missing
    records = weights_io.collect(model)
    with atomic_write(path, overwrite=overwrite, what="weights file") as handle:
        if fmt == "h5":
            weights_io.write_h5(handle, model, records, _version())
        else:
            weights_io.write_npz(handle, records)


def load_weights(model: Any, filepath: str | os.PathLike, by_name: bool = False, skip_mismatch: bool = False,
                 **kwargs: Any) -> Any:
    """Load weights written by ``save_weights`` (``.npz`` or HDF5, told apart by content), or the
    weights of a whole-model ``.lamina`` file, into an already built ``model``.

    Args:
        by_name: match top-level layers by name instead of by position (layers missing from the
            file keep their values), as Keras 2.
        skip_mismatch: skip, with a warning, weights whose shape (or layers whose weight count)
            differs instead of raising.

    Raises ``ValueError`` naming the file for unreadable files and count or shape mismatches
    (before any weight is changed).
    """
    _check_model(model, "load_weights")
    kwargs.pop("options", None)
    if kwargs:
        raise TypeError(f"load_weights() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
    path = os.fspath(filepath)
    records = weights_io.read_weights_file(path)
    weights_io.assign(model, records, repr(path), by_name=by_name, skip_mismatch=skip_mismatch)
    return None


# --- JSON architecture ----------------------------------------------------------------------------
def model_to_json(model: Any, **kwargs: Any) -> str:
    """The architecture as a JSON string: ``{"class_name", "config", "build_config",
    "lamina_version", "backend"}``; ``json.dumps`` keyword arguments (``indent``...) pass through."""
    _check_model(model, "to_json")
    spec = serialization.serialize_model(model)
    spec.update({"lamina_version": _version(), "backend": _backend_name()})
    return serialization.dumps(spec, f"config of model {model.name!r}", **kwargs)


def model_from_json(json_string: str, custom_objects: dict | None = None) -> Any:
    """A new, uncompiled model with fresh weights from ``model.to_json()`` output."""
    try:
        spec = json.loads(json_string)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model_from_json: the string is not valid JSON ({exc}).") from None
    return serialization.deserialize_model(spec, custom_objects, "the JSON model config")
