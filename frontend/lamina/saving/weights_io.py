"""Model weights as host NumPy arrays: collected in ``model.weights`` order with their variable names
and owning layers, written to and read from ``.npz`` (the default) or Keras 2's HDF5 weights layout
(``.weights.h5``/``.h5``, when h5py is installed), and assigned back to a model.

Nothing here unpickles: ``.npz`` files are read with ``allow_pickle=False`` and HDF5 files hold only
numeric datasets and string attributes.

The ``.npz`` layout (``lamina.weights/1``)::

    w00000, w00001, ...   the arrays, in model.weights order
    __names__             the variable names ("dense/kernel"), a unicode array
    __owners__            the name of the top-level layer that owns each array (by_name loading)
    __format__            "lamina.weights/1"

A plain ``numpy.savez(path, *model.get_weights())`` file (``arr_0``, ``arr_1``...) also loads,
by position.
"""
from __future__ import annotations

import io
import os
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

FORMAT_TAG = "lamina.weights/1"
ARCHIVE_WEIGHTS_MEMBER = "model.weights.npz"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_HDF5_ATTR_LIMIT = 64512  # bytes; Keras 2 splits longer attributes into name0, name1, ...
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError, IndexError, TypeError)


@dataclass
class WeightRecord:
    """One saved weight: its variable name, the top-level layer that owns it, and its value."""
    name: str
    owner: str
    array: np.ndarray


# --- collecting ---------------------------------------------------------------------------------
def top_level_layers(model: Any) -> list:
    """The layers whose names ``by_name`` loading matches (nested models count as one layer)."""
    layers = model._all_layers() if hasattr(model, "_all_layers") else list(model.layers)
    return list(layers)


def weight_owners(model: Any) -> list[str]:
    """For each of ``model.weights``, the name of the top-level layer holding it (the model's own
    name for weights made with ``model.add_weight``)."""
    owner_of: dict[int, str] = {}
    for layer in top_level_layers(model):
        for var in layer.weights:
            owner_of.setdefault(id(var), layer.name)
    return [owner_of.get(id(var), model.name) for var in model.weights]


def collect(model: Any) -> list[WeightRecord]:
    """Every weight of ``model`` as a host array (a copy), in ``model.weights`` order."""
    variables = model.weights
    owners = weight_owners(model)
    return [WeightRecord(var.name, owner, np.asarray(var.numpy())) for var, owner in zip(variables, owners)]


# --- .npz -----------------------------------------------------------------------------------------
def write_npz(handle: BinaryIO, records: list[WeightRecord]) -> None:
    arrays: dict[str, np.ndarray] = {f"w{i:05d}": r.array for i, r in enumerate(records)}
    arrays["__names__"] = np.array([r.name for r in records], dtype=np.str_)
    arrays["__owners__"] = np.array([r.owner for r in records], dtype=np.str_)
    arrays["__format__"] = np.array(FORMAT_TAG)
    np.savez(handle, **arrays)


def npz_bytes(records: list[WeightRecord]) -> bytes:
    buffer = io.BytesIO()
    write_npz(buffer, records)
    return buffer.getvalue()


def read_npz(source: Any, label: str) -> list[WeightRecord]:
    """Weights from an ``.npz`` (a path or a binary file object); ``label`` names it in errors."""
    try:
        with np.load(source, allow_pickle=False) as data:
            files = list(data.files)
            if "__format__" in files:
                tag = str(data["__format__"])
                if tag != FORMAT_TAG:
                    raise _FormatError(f"it is in weights format {tag!r}, and this Lamina reads {FORMAT_TAG!r}; "
                                       "upgrade Lamina to read it")
                names = [str(n) for n in data["__names__"].tolist()]
                owners = [str(n) for n in data["__owners__"].tolist()]
                if len(names) != len(owners):
                    raise _FormatError("its name and owner lists differ in length")
                records = []
                for i, (name, owner) in enumerate(zip(names, owners)):
                    key = f"w{i:05d}"
                    if key not in files:
                        raise _FormatError(f"the array {key!r} for weight {name!r} is missing")
                    records.append(WeightRecord(name, owner, data[key]))
                return _check_numeric(records, label)
            if files and all(f.startswith("arr_") and f[4:].isdigit() for f in files):  # numpy.savez(*arrays)
                keys = sorted(files, key=lambda f: int(f[4:]))
                return _check_numeric([WeightRecord(k, "", data[k]) for k in keys], label)
            return _check_numeric([WeightRecord(k, k.split("/")[0], data[k]) for k in files], label)
    except _FormatError as exc:
        raise ValueError(f"Cannot read weights from {label}: {exc}.") from None
    except _READ_ERRORS as exc:
        raise ValueError(f"Cannot read weights from {label}: it is not a readable .npz weights file "
                         f"({type(exc).__name__}: {exc}); it may be truncated or corrupt.") from None


class _FormatError(Exception):
    pass


def _check_numeric(records: list[WeightRecord], label: str) -> list[WeightRecord]:
    for r in records:
        if r.array.dtype.kind not in "biufc":
            raise _FormatError(f"the entry {r.name!r} holds {r.array.dtype} data, not numbers")
    return records


# --- HDF5 (Keras 2 layout) ----------------------------------------------------------------------
def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise ImportError("Reading or writing HDF5 weights (.h5, .weights.h5) needs h5py, which is not installed; "
                          "pip install h5py, or use the NumPy format (a path ending in .npz).") from None
    return h5py


def _save_attr(group: Any, name: str, values: list[str]) -> None:
    data = np.array([v.encode("utf8") for v in values], dtype="S" if values else "S1")
    if data.nbytes <= _HDF5_ATTR_LIMIT:
        group.attrs[name] = data
        return
    chunks = int(np.ceil(data.nbytes / _HDF5_ATTR_LIMIT))
    for i, part in enumerate(np.array_split(data, chunks)):
        group.attrs[f"{name}{i}"] = part


def _load_attr(group: Any, name: str) -> list[str]:
    def text(v: Any) -> str:
        return v.decode("utf8") if hasattr(v, "decode") else str(v)
    if name in group.attrs:
        return [text(v) for v in group.attrs[name]]
    out: list[str] = []
    i = 0
    while f"{name}{i}" in group.attrs:
        out.extend(text(v) for v in group.attrs[f"{name}{i}"])
        i += 1
    return out


def write_h5(handle: BinaryIO, model: Any, records: list[WeightRecord], version: str) -> None:
    """Keras 2's layout: root attribute ``layer_names``; one group per layer with attribute
    ``weight_names`` and one dataset per weight, named after the weight."""
    h5py = _h5py()
    by_owner: dict[str, list[WeightRecord]] = {}
    for r in records:
        by_owner.setdefault(r.owner, []).append(r)
    layer_names = [layer.name for layer in top_level_layers(model)]
    layer_names += [o for o in by_owner if o not in layer_names]
    with h5py.File(handle, "w") as f:
        _save_attr(f, "layer_names", layer_names)
        f.attrs["backend"] = b"lamina"
        f.attrs["keras_version"] = f"lamina {version}".encode("utf8")
        for layer_name in layer_names:
            group = f.create_group(layer_name)
            names: list[str] = []
            for r in by_owner.get(layer_name, []):
                name = r.name
                k = 1
                while name in names:  # two weights with one name (add_weight without a name)
                    name = f"{r.name}_{k}"
                    k += 1
                names.append(name)
                group.create_dataset(name, data=r.array)
            _save_attr(group, "weight_names", names)


def read_h5(path: str, label: str) -> list[WeightRecord]:
    """Weights from a Keras 2 style HDF5 file (``save_weights`` output, or a whole-model ``.h5``'s
    ``model_weights`` group)."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            layer_names = _load_attr(root, "layer_names")
            if not layer_names and "layer_names" not in root.attrs and "layer_names0" not in root.attrs:
                raise _FormatError("it has no 'layer_names' attribute, so it is not a Keras 2 / Lamina weights "
                                   "file (Keras 3's .weights.h5 layout is not supported; save the weights from "
                                   "Keras 2 with model.save_weights('x.h5'))")
            records = []
            for layer_name in layer_names:
                group = root[layer_name]
                for name in _load_attr(group, "weight_names"):
                    records.append(WeightRecord(name, layer_name, np.asarray(group[name][()])))
            return _check_numeric(records, label)
    except _FormatError as exc:
        raise ValueError(f"Cannot read weights from {label}: {exc}.") from None
    except _READ_ERRORS as exc:
        raise ValueError(f"Cannot read weights from {label}: it is not a readable HDF5 weights file "
                         f"({type(exc).__name__}: {exc}); it may be truncated or corrupt.") from None


# --- format detection -----------------------------------------------------------------------------
def sniff(path: str) -> str:
    """``"zip"`` (an .npz or a model archive), ``"hdf5"`` or ``"unknown"``, from the first bytes."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:2] == b"PK":
        return "zip"
    if head == _HDF5_MAGIC:
        return "hdf5"
    return "unknown"


def is_hdf5_path(path: str) -> bool:
    return path.lower().endswith((".h5", ".hdf5", ".keras.h5", ".weights.h5"))


def read_weights_file(path: str | os.PathLike) -> list[WeightRecord]:
    """Weights from a ``save_weights`` file (``.npz`` or HDF5) or from a whole-model archive."""
    path = os.fspath(path)
    label = repr(path)
    if not os.path.isfile(path):
        raise _missing(f"No weights file at {label}.")
    kind = sniff(path)
    if kind == "hdf5":
        return read_h5(path, label)
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as zf:
                if ARCHIVE_WEIGHTS_MEMBER in zf.namelist():  # a model.save() archive: use its weights
                    return read_npz(io.BytesIO(zf.read(ARCHIVE_WEIGHTS_MEMBER)), label)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise ValueError(f"Cannot read weights from {label}: it is not a readable zip/.npz file "
                             f"({type(exc).__name__}: {exc}); it may be truncated or corrupt.") from None
        return read_npz(path, label)
    if is_hdf5_path(path):
        raise ValueError(f"Cannot read weights from {label}: it does not start with the HDF5 signature; it may be "
                         "truncated or corrupt.")
    raise ValueError(f"Cannot read weights from {label}: it is neither an .npz (zip) nor an HDF5 file; it may be "
                     "truncated or corrupt.")


class MissingFileError(FileNotFoundError, ValueError):
    """A file that is not there (a ``FileNotFoundError``, and a ``ValueError`` as Keras raises)."""


def _missing(message: str) -> MissingFileError:
    return MissingFileError(message)


# --- assigning -----------------------------------------------------------------------------------
def assign(model: Any, records: list[WeightRecord], label: str, by_name: bool = False,
           skip_mismatch: bool = False) -> list[str]:
    """Put ``records`` into ``model``'s weights; all checks run before any weight changes.

    Positional (default): the file's arrays in order onto ``model.weights``; the counts must match.
    ``by_name``: per top-level layer with the same name as in the file, that layer's arrays in
    order; layers absent from the file keep their values (Keras 2). ``skip_mismatch``: skip (with a
    warning) layers or weights whose count or shape differs instead of raising.

    Returns the names of the weights that were skipped.
    """
    variables = model.weights
    if not variables and records:
        raise ValueError(f"Cannot load weights from {label} into model {model.name!r}: the model has no weights yet "
                         "(it is not built); give its first layer an input_shape, or call model.build(input_shape) "
                         "or the model on a batch, before loading weights.")
    pairs: list[tuple[Any, WeightRecord]] = []
    skipped: list[str] = []
    if not by_name:
        if len(records) != len(variables):
            raise ValueError(f"Cannot load weights from {label} into model {model.name!r}: the file holds "
                             f"{len(records)} weight arrays but the model has {len(variables)}; is it the same "
                             "architecture? To load the layers that match by name, pass by_name=True.")
        pairs = list(zip(variables, records))
    else:
        saved: dict[str, list[WeightRecord]] = {}
        for r in records:
            saved.setdefault(r.owner, []).append(r)
        mine: dict[str, list[Any]] = {}
        for var, owner in zip(variables, weight_owners(model)):
            mine.setdefault(owner, []).append(var)
        for owner, owned in mine.items():
            found = saved.get(owner)
            if found is None:
                continue
            if len(found) != len(owned):
                message = f"layer {owner!r} has {len(owned)} weights in the model but {len(found)} in {label}"
                if skip_mismatch:
                    warnings.warn(f"load_weights: skipping layer {owner!r}: it has {len(owned)} weights in the model "
                                  f"but {len(found)} in {label}.", stacklevel=5)
                    skipped.extend(v.name for v in owned)
                    continue
                raise ValueError(f"Cannot load weights by name: {message}; pass skip_mismatch=True to skip it.")
            pairs.extend(zip(owned, found))
    checked = []
    for var, rec in pairs:
        shape = tuple(rec.array.shape)
        if shape != tuple(var.shape):
            if skip_mismatch:
                warnings.warn(f"load_weights: skipping weight {var.name!r}: its shape is {tuple(var.shape)} in the "
                              f"model but {shape} in {label}.", stacklevel=5)
                skipped.append(var.name)
                continue
            raise ValueError(f"Cannot load weights from {label} into model {model.name!r}: weight {var.name!r} has "
                             f"shape {tuple(var.shape)} in the model but the file's {rec.name!r} has shape {shape}; "
                             "is it the same architecture?")
        checked.append((var, rec))
    for var, rec in checked:
        var.assign(rec.array)
    return skipped
