"""Tests for lamina.datasets (MNIST, Fashion-MNIST). They never touch the network:
``_cache.fetch_url`` is replaced in every test, and the real files come from the shared
offline copy (``$LAMINA_DATASETS``, ``$LAMINA_TEST_DATA`` or ``<repo>/../shared/data``).
"""
from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_data_dir
from lamina.datasets import DatasetNotFoundError, _cache, fashion_mnist, mnist

IDX = _cache.IDX_FILES
REAL_FETCH = _cache.fetch_url  # saved before the autouse fixture replaces it
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


SHARED = shared_data_dir() or Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(
    not all((SHARED / ds / f).is_file() for ds in ("mnist", "fashion-mnist") for f in IDX),
    reason=f"the offline MNIST/Fashion-MNIST .gz files are not in {SHARED} (set LAMINA_DATASETS or LAMINA_TEST_DATA)",
)


def _no_network(url: str, dest: Path) -> None:
    raise OSError(f"network disabled in tests ({url})")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Empty LAMINA_HOME, no LAMINA_DATASETS, and a downloader that always fails."""
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LAMINA_DATASETS", raising=False)
    monkeypatch.setattr(_cache, "fetch_url", _no_network)
    return tmp_path / "home" / "datasets"


@pytest.fixture
def shared_env(monkeypatch):
    monkeypatch.setenv("LAMINA_DATASETS", str(SHARED))


@pytest.fixture(scope="module")
def mnist_arrays():
    if not all((SHARED / "mnist" / f).is_file() for f in IDX):
        pytest.skip(f"the offline MNIST .gz files are not in {SHARED} (set LAMINA_DATASETS or LAMINA_TEST_DATA)")
    old = os.environ.get("LAMINA_DATASETS")
    os.environ["LAMINA_DATASETS"] = str(SHARED)
    try:
        return mnist.load_data()
    finally:
        if old is None:
            del os.environ["LAMINA_DATASETS"]
        else:
            os.environ["LAMINA_DATASETS"] = old


# --- Real data through LAMINA_DATASETS ------------------------------------------------


@needs_data
def test_mnist_values(mnist_arrays):
    (x_train, y_train), (x_test, y_test) = mnist_arrays
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert all(a.dtype == np.uint8 for a in (x_train, y_train, x_test, y_test))
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    assert np.bincount(y_train)[1] == 6742
    assert int(x_train[0].sum(dtype=np.int64)) == 27525
    assert x_train.min() == 0 and x_train.max() == 255
    assert x_train.mean() == pytest.approx(33.318421, abs=1e-5)
    assert x_test.mean() == pytest.approx(33.791224, abs=1e-5)
    assert x_train.flags.writeable  # like Keras: callers may modify the arrays in place


@needs_data
def test_fashion_mnist_values(shared_env):
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert all(a.dtype == np.uint8 for a in (x_train, y_train, x_test, y_test))
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert int(x_train[0].sum(dtype=np.int64)) == 76247
    assert int(x_train.sum(dtype=np.int64)) == 3431114169
    assert int(x_test.sum(dtype=np.int64)) == 573469082


@needs_data
def test_repeated_loads_hash_each_file_once(shared_env, monkeypatch):
    calls: list[Path] = []
    real = _cache._hash_file
    monkeypatch.setattr(_cache, "_digest_cache", {})
    monkeypatch.setattr(_cache, "_hash_file", lambda p: calls.append(Path(p)) or real(p))
    fashion_mnist.load_data()
    fashion_mnist.load_data()
    assert sorted(p.name for p in calls) == sorted(IDX)


# --- The cache under LAMINA_HOME ------------------------------------------------------


@needs_data
def test_gz_files_in_lamina_home_cache(_isolated, mnist_arrays):
    (_isolated / "mnist").mkdir(parents=True)
    for f in IDX:
        shutil.copy(SHARED / "mnist" / f, _isolated / "mnist" / f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
    (ex, ey), (tx, ty) = mnist_arrays
    assert np.array_equal(x_train, ex) and np.array_equal(y_train, ey)
    assert np.array_equal(x_test, tx) and np.array_equal(y_test, ty)


@needs_data
def test_files_directly_in_datasets_folder(_isolated):
    # MNIST files at the top of the cache, Fashion-MNIST in its subfolder: neither load may
    # complain about the other data set's files of the same names.
    (_isolated / "fashion-mnist").mkdir(parents=True)
    for f in IDX:
        shutil.copy(SHARED / "mnist" / f, _isolated / f)
        shutil.copy(SHARED / "fashion-mnist" / f, _isolated / "fashion-mnist" / f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (_, y_train), _ = mnist.load_data()
        (_, f_train), _ = fashion_mnist.load_data()
    assert y_train[:4].tolist() == [5, 0, 4, 1]
    assert f_train[:4].tolist() == [9, 0, 0, 3]


@needs_data
def test_own_npz_rejected_then_offline_error(_isolated, mnist_arrays):
    (x_train, y_train), (x_test, y_test) = mnist_arrays
    folder = _isolated / "mnist"
    folder.mkdir(parents=True)
    npz = folder / "mnist.npz"
    np.savez_compressed(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    actual = _cache.file_sha256(npz)
    assert actual != _cache.MNIST_NPZ_SHA256
    with pytest.warns(UserWarning) as record, pytest.raises(DatasetNotFoundError) as exc:
        mnist.load_data()
    msgs = [str(w.message) for w in record]
    assert any(str(npz) in m and actual in m and _cache.MNIST_NPZ_SHA256 in m for m in msgs)
    assert str(folder) in str(exc.value)
    assert "LAMINA_DATASETS" in str(exc.value)
    assert npz.exists()  # a user's file is never deleted


def test_offline_not_cached_error(_isolated):
    with pytest.raises(DatasetNotFoundError) as exc:
        fashion_mnist.load_data()
    msg = str(exc.value)
    assert isinstance(exc.value, OSError)
    assert str(_isolated / "fashion-mnist") in msg
    assert "train-images-idx3-ubyte.gz" in msg and "LAMINA_DATASETS" in msg
    assert "network disabled" in msg  # the underlying reason is kept


def test_offline_error_mentions_npz_and_gz(_isolated):
    with pytest.raises(DatasetNotFoundError) as exc:
        mnist.load_data()
    msg = str(exc.value)
    assert "mnist.npz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert str(_isolated / "mnist") in msg


def test_wrong_hash_warns_and_is_ignored(_isolated, monkeypatch):
    monkeypatch.setenv("LAMINA_DATASETS", str(_isolated.parent / "shared"))
    bad = _isolated.parent / "shared" / "fashion-mnist" / "train-labels-idx1-ubyte.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the real file")
    with pytest.warns(UserWarning, match="train-labels-idx1-ubyte.gz") as record:
        with pytest.raises(DatasetNotFoundError):
            fashion_mnist.load_data()
    msg = str(record[0].message)
    assert str(bad) in msg
    assert _cache.FASHION_GZ_SHA256["train-labels-idx1-ubyte.gz"][0] in msg
    assert _cache._hash_file(bad) in msg


# --- IDX parsing ------------------------------------------------------------------------


def _idx(shape: tuple[int, ...], data: bytes, magic: bytes | None = None) -> bytes:
    head = magic if magic is not None else bytes([0, 0, 8, len(shape)])
    return head + b"".join(d.to_bytes(4, "big") for d in shape) + data


def test_read_idx_valid(tmp_path):
    import gzip

    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(_idx((2, 3), bytes(range(6)))))
    a = _cache.read_idx(p, ndim=2)
    assert a.dtype == np.uint8 and a.tolist() == [[0, 1, 2], [3, 4, 5]]
    plain = tmp_path / "x"
    plain.write_bytes(_idx((3,), b"\x07\x08\x09"))
    assert _cache.read_idx(plain).tolist() == [7, 8, 9]


@pytest.mark.parametrize(
    "payload, words",
    [
        (_idx((2,), b"\x01\x02", magic=b"\x00\x00\x0d\x01"), "magic"),  # float32, not uint8
        (_idx((2, 2), b"\x01\x02\x03"), "promises"),  # truncated data
        (_idx((2,), b"\x01\x02\x03"), "promises"),  # trailing garbage
        (b"\x00\x00\x08\x03\x00\x00", "header"),  # truncated header
        (b"", "magic"),
        (_idx((2, 2), b"\x01\x02\x03\x04"), "dimensions"),  # wrong ndim for labels
    ],
)
def test_read_idx_corrupt(tmp_path, payload, words):
    p = tmp_path / "bad-idx1-ubyte"
    p.write_bytes(payload)
    with pytest.raises(ValueError, match=words):
        _cache.read_idx(p, ndim=1 if words == "dimensions" else None)


def test_read_idx_bad_gzip(tmp_path):
    p = tmp_path / "bad.gz"
    p.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ValueError, match="gzip"):
        _cache.read_idx(p)


def test_corrupt_idx_with_trusted_digest(_isolated, monkeypatch):
    # A file that passes the digest check but does not parse must still give a ValueError.
    import gzip

    folder = _isolated / "fashion-mnist"
    folder.mkdir(parents=True)
    digests = {}
    for f in IDX:
        (folder / f).write_bytes(gzip.compress(b"\x00\x00\x08\x03junk"))
        digests[f] = (_cache._hash_file(folder / f),)
    monkeypatch.setattr(
        fashion_mnist, "_GZ_FILES", tuple(_cache.RemoteFile(f, digests[f], ()) for f in IDX)
    )
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        fashion_mnist.load_data()


# --- Download ---------------------------------------------------------------------------


@needs_data
def test_download_writes_temp_then_renames(_isolated, monkeypatch, mnist_arrays):
    seen: list[tuple[str, Path]] = []

    def fake_fetch(url: str, dest: Path) -> None:
        seen.append((url, dest))
        assert dest.exists() and dest.parent == _isolated / "mnist"
        assert dest.name.endswith(".part")
        name = url.rsplit("/", 1)[-1]
        if name == "mnist.npz":
            raise OSError("no npz mirror in this test")
        assert not (_isolated / "mnist" / name).exists()  # final name appears only after checks
        dest.write_bytes((SHARED / "mnist" / name).read_bytes())

    monkeypatch.setattr(_cache, "fetch_url", fake_fetch)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert seen[0][0] == _cache.MNIST_NPZ_URL  # Keras' file is tried first
    assert sorted(p.name for p in (_isolated / "mnist").iterdir()) == sorted(IDX)  # no .part left
    assert np.array_equal(y_train, mnist_arrays[0][1]) and np.array_equal(x_test, mnist_arrays[1][0])

    # Now cached: a second load downloads nothing.
    monkeypatch.setattr(_cache, "fetch_url", _no_network)
    (_, y2), _ = mnist.load_data()
    assert np.array_equal(y2, y_train)


def test_download_with_wrong_hash_leaves_nothing(_isolated, monkeypatch):
    urls: list[str] = []

    def fake_fetch(url: str, dest: Path) -> None:
        urls.append(url)
        dest.write_bytes(b"an error page, not the data set")

    monkeypatch.setattr(_cache, "fetch_url", fake_fetch)
    with pytest.raises(DatasetNotFoundError, match="sha256") as exc:
        fashion_mnist.load_data()
    folder = _isolated / "fashion-mnist"
    assert list(folder.iterdir()) == []  # neither the temp file nor a final file
    assert len(urls) == len(_cache._FASHION_MIRRORS)  # every mirror tried for the first file
    assert str(folder) in str(exc.value)


def test_interrupted_download_leaves_nothing(_isolated, monkeypatch):
    def fake_fetch(url: str, dest: Path) -> None:
        dest.write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(_cache, "fetch_url", fake_fetch)
    with pytest.raises(KeyboardInterrupt):
        fashion_mnist.load_data()
    assert list((_isolated / "fashion-mnist").iterdir()) == []


def test_absolute_npz_path_is_download_target(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere" / "my-mnist.npz"
    dests: list[Path] = []

    def fake_fetch(url: str, dest: Path) -> None:
        dests.append(dest)
        raise OSError("offline")

    monkeypatch.setattr(_cache, "fetch_url", fake_fetch)
    with pytest.raises(DatasetNotFoundError):
        mnist.load_data(path=target)
    assert dests[0].parent == target.parent
    assert list(target.parent.iterdir()) == []


def test_real_fetch_url_with_file_url(tmp_path, capsys):
    # urllib also serves file:// URLs, so the real downloader runs without any network.
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 1000)
    dest = tmp_path / "dest.part"
    REAL_FETCH(src.as_uri(), dest)
    assert dest.read_bytes() == src.read_bytes()
    assert "src.bin" in capsys.readouterr().err  # progress goes to stderr
