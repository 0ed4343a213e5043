"""Shared machinery for the built-in data sets: find, verify, download and parse files.

Where files are looked for, in order (the first file whose sha256 is known wins):

1. ``$LAMINA_DATASETS/<dataset>/`` when ``LAMINA_DATASETS`` is set (CI points it at a
   read-only shared copy so nothing is downloaded there);
2. the cache, ``lamina_home() / "datasets" / <dataset>/`` (``$LAMINA_HOME`` or ``~/.lamina``);
3. ``lamina_home() / "datasets"/`` itself (where a copied Keras cache would put ``mnist.npz``).

If no valid copy is found the files are downloaded into folder 2. The actual network access
goes through the module-level :func:`fetch_url`, which tests replace (``monkeypatch.setattr``)
so that they never touch the network.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import sys
import tempfile
import time
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lamina._config import lamina_home

__all__ = [
    "DatasetNotFoundError",
    "RemoteFile",
    "datasets_dir",
    "file_sha256",
    "fetch_url",
    "read_idx",
    "resolve",
]

DATASETS_ENV = "LAMINA_DATASETS"
_CHUNK = 1 << 20


class DatasetNotFoundError(OSError):
    """No verified copy of a data set was found locally and downloading it failed.

    A subclass of :class:`OSError` (like :class:`FileNotFoundError`), so code that already
    handles I/O failures catches it. The message says which files are needed and where to
    put them.
    """


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: its local name, the sha256 digests accepted, and where to get it."""

    name: str
    sha256: tuple[str, ...]
    urls: tuple[str, ...]
    # An extra folder searched first and used as the download target (for an explicit
    # ``path=`` with a directory part, as Keras allows).
    folder: Path | None = None


# --- Known files ------------------------------------------------------------------------

_KERAS_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_FASHION_MIRRORS = (
    _KERAS_BASE,  # what keras.datasets.fashion_mnist downloads
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

# Keras pins this digest for its mnist.npz (keys x_train, y_train, x_test, y_test).
MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_NPZ_URL = _KERAS_BASE + "mnist.npz"

# The original LeCun files (also what torchvision's mirrors serve, byte for byte).
MNIST_GZ_SHA256: dict[str, tuple[str, ...]] = {
    "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",),
    "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",),
    "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",),
    "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",),
}

# Two byte-level variants of the same Fashion-MNIST data are accepted: Zalando's own
# downloads (first digest, what the mirrors serve), and Debian's package
# ``dataset-fashion-mnist``, which recompressed them (second digest; the shared CI copy).
# Both decompress to the identical IDX content.
FASHION_GZ_SHA256: dict[str, tuple[str, ...]] = {
    "train-images-idx3-ubyte.gz": (
        "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    ),
    "train-labels-idx1-ubyte.gz": (
        "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    ),
    "t10k-images-idx3-ubyte.gz": (
        "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    ),
}

IDX_FILES = tuple(MNIST_GZ_SHA256)  # train images, train labels, test images, test labels

# Every digest of every data set: in the shared top-level cache folder a file with a known
# digest of *another* data set (same file names!) is skipped without a warning.
_ALL_KNOWN: frozenset[str] = frozenset(
    [MNIST_NPZ_SHA256]
    + [d for ds in (MNIST_GZ_SHA256, FASHION_GZ_SHA256) for v in ds.values() for d in v]
)


# --- Locations --------------------------------------------------------------------------


def datasets_dir() -> Path:
    """The cache folder for all data sets: ``lamina_home() / "datasets"``."""
    return lamina_home() / "datasets"


def _search_dirs(dataset: str) -> list[Path]:
    dirs: list[Path] = []
    env = os.environ.get(DATASETS_ENV)
    if env:
        dirs.append(Path(env).expanduser() / dataset)
    dirs += [datasets_dir() / dataset, datasets_dir()]
    return dirs


# --- Verification -----------------------------------------------------------------------

# (resolved path, size, mtime_ns) -> sha256 hex. Hashing is cheap once but adds up over many
# load_data() calls in one process (notebooks, test suites); a changed file gets a new key.
_digest_cache: dict[tuple[str, int, int], str] = {}


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of a file, remembered per process by (path, size, mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    digest = _digest_cache.get(key)
    if digest is None:
        digest = _digest_cache[key] = _hash_file(p)
    return digest


def _find_local(spec: RemoteFile, dirs: Sequence[Path]) -> Path | None:
    """First file named ``spec.name`` in ``dirs`` with an accepted digest; warn about the rest."""
    candidates = ([spec.folder] if spec.folder is not None else []) + list(dirs)
    for i, folder in enumerate(candidates):
        path = folder / spec.name
        if not path.is_file():
            continue
        actual = file_sha256(path)
        if actual in spec.sha256:
            return path
        # The shared top-level folder may legitimately hold another data set's file of the
        # same name; that is not a broken file, so stay quiet about it.
        if folder == datasets_dir() and actual in _ALL_KNOWN:
            continue
        warnings.warn(
            f"Ignoring {path}: its sha256 is {actual} but {spec.name} should have "
            f"{' or '.join(spec.sha256)}; delete or replace the file.",
            stacklevel=4,  # _find_local <- resolve <- load_data <- the caller
        )
    return None


# --- Download ---------------------------------------------------------------------------


def fetch_url(url: str, dest: Path) -> None:
    """Download ``url`` into the (already created) file ``dest``, with progress on stderr.

    This is the only function that touches the network; replace it (for instance with
    ``monkeypatch.setattr(lamina.datasets._cache, "fetch_url", fake)``) to test or to plug
    in another transport. It must raise ``OSError`` (``urllib.error.URLError`` is one) on
    failure; the caller verifies the digest and cleans up.
    """
    req = urllib.request.Request(url, headers={"User-Agent": "lamina-datasets"})
    with urllib.request.urlopen(req, timeout=60) as resp, open(dest, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0)
        done, last = 0, 0.0
        while chunk := resp.read(_CHUNK):
            out.write(chunk)
            done += len(chunk)
            now = time.monotonic()
            if now - last > 0.2:  # redraw at most 5 times a second
                last = now
                _progress(url, done, total)
        _progress(url, done, total)
        sys.stderr.write("\n")
        sys.stderr.flush()


def _progress(url: str, done: int, total: int) -> None:
    name = url.rsplit("/", 1)[-1]
    if total:
        msg = f"\rDownloading {name}: {100 * done // total:3d}% ({done / 1e6:.1f}/{total / 1e6:.1f} MB)"
    else:
        msg = f"\rDownloading {name}: {done / 1e6:.1f} MB"
    sys.stderr.write(msg)
    sys.stderr.flush()


def _download(spec: RemoteFile, folder: Path, errors: list[str]) -> Path | None:
    """Try each mirror; a file only appears under its final name once its digest is verified."""
    final = (spec.folder if spec.folder is not None else folder) / spec.name
    folder = final.parent  # spec.name may hold a subfolder ("sub/mnist.npz")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        errors.append(f"cannot create {folder} ({exc})")
        return None
    for url in spec.urls:
        # The temporary file lives in the target folder so os.replace() is an atomic rename:
        # an interrupted download can never leave a truncated file under the final name.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=folder)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            fetch_url(url, tmp)
            actual = _hash_file(tmp)
            if actual not in spec.sha256:
                errors.append(f"{url} gave a file with sha256 {actual}, expected {' or '.join(spec.sha256)}")
                continue
            os.replace(tmp, final)
            return final
        except OSError as exc:
            errors.append(f"{url}: {exc}")
        finally:
            # Runs on success too (then tmp is already gone) and on KeyboardInterrupt.
            tmp.unlink(missing_ok=True)
    return None


def resolve(
    dataset: str,
    title: str,
    alternatives: Sequence[Sequence[RemoteFile]],
) -> tuple[int, list[Path]]:
    """Find or download one complete set of files for ``dataset``.

    ``alternatives`` lists interchangeable file sets in order of preference (for MNIST:
    ``mnist.npz`` alone, or the four IDX files). Every set is first looked for locally;
    only if none is complete is anything downloaded. Returns (index of the set used, paths).
    Raises DatasetNotFoundError when nothing works.
    """
    dirs = _search_dirs(dataset)
    # Look everywhere before downloading anything: a complete local set of the second
    # kind (say the four IDX files) beats downloading the first (mnist.npz).
    # Plain loops, not comprehensions: warnings' stacklevel in _find_local counts frames,
    # and a comprehension is an extra frame on Python 3.11.
    found: list[list[Path | None]] = []
    for files in alternatives:
        row: list[Path | None] = []
        for f in files:
            row.append(_find_local(f, dirs))
        found.append(row)
    for i, paths in enumerate(found):
        if all(p is not None for p in paths):
            return i, [p for p in paths if p is not None]

    cache = datasets_dir() / dataset
    errors: list[str] = []
    for i, files in enumerate(alternatives):
        got: list[Path] = []
        for f, local in zip(files, found[i]):
            p = local or _download(f, cache, errors)
            if p is None:
                break
            got.append(p)
        else:
            return i, got

    options = " or ".join(
        files[0].name if len(files) == 1 else "all of " + ", ".join(f.name for f in files)
        for files in alternatives
    )
    env_hint = f"{DATASETS_ENV} (now {os.environ[DATASETS_ENV]!r})" if os.environ.get(DATASETS_ENV) else DATASETS_ENV
    raise DatasetNotFoundError(
        f"{title} is not available offline and could not be downloaded "
        f"({'; '.join(errors) or 'no mirror'}): put {options} into {cache} "
        f"(or set {env_hint} to a folder holding a {dataset}/ subfolder with them)."
    )


# --- Parsing ----------------------------------------------------------------------------


def read_idx(path: str | os.PathLike[str], ndim: int | None = None) -> np.ndarray:
    """Parse a gzip-compressed (``.gz``) or plain IDX file holding unsigned bytes.

    IDX layout: two zero bytes, a type byte (0x08 = uint8), a byte with the number of
    dimensions, then each dimension as a big-endian uint32, then the data. Returns a
    writable uint8 array of that shape. Raises ValueError on anything malformed.
    """
    p = Path(path)
    try:
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{p} is not a valid gzip file ({exc}).") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{p} is not an IDX file of unsigned bytes (bad magic number {raw[:4].hex() or 'empty'}).")
    nd = raw[3]
    if ndim is not None and nd != ndim:
        raise ValueError(f"{p} holds an IDX array with {nd} dimensions where {ndim} were expected.")
    header = 4 + 4 * nd
    if len(raw) < header:
        raise ValueError(f"{p} is truncated inside its IDX header.")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=nd, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise ValueError(
            f"{p} holds {len(raw) - header} data bytes but its IDX header {shape} promises {expected - header}."
        )
    # frombuffer is zero-copy over an immutable bytes object; wrapping a bytearray would copy
    # anyway, so copy once here to hand back a writable array like Keras does.
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def load_idx_set(paths: Sequence[Path], title: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Read the four IDX files (order of IDX_FILES) and check that their shapes fit together."""
    x_train, y_train, x_test, y_test = (read_idx(p, nd) for p, nd in zip(paths, (3, 1, 3, 1)))
    for x, y, px, py in ((x_train, y_train, paths[0], paths[1]), (x_test, y_test, paths[2], paths[3])):
        if x.shape[1:] != (28, 28) or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"{title}: images {px} have shape {x.shape} but labels {py} have shape {y.shape}; "
                "expected (n, 28, 28) and (n,)."
            )
    return (x_train, y_train), (x_test, y_test)
