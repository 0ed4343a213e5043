"""Atomic file writes: a temporary file beside the target, flushed and fsynced, then ``os.replace``.

A reader (or a crash) therefore sees either the old file or the complete new one, never half of
one: if anything fails while writing, the temporary file is removed and the old file is untouched.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import BinaryIO, Iterator

TEMP_SUFFIX = ".tmp"


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, overwrite: bool = True, what: str = "file") -> Iterator[BinaryIO]:
    """Open a temporary binary file next to ``path``; on a clean exit it replaces ``path``.

    Args:
        path: the final file. Missing parent folders are created.
        overwrite: when False and ``path`` exists, raise ``FileExistsError`` (Keras would ask on
            the terminal; a library must not block on input).
        what: how error messages name the file ("model file", "weights file").

    The temporary file is called ``.<name>.<random>.tmp`` in the same folder, so the final
    ``os.replace`` is a rename within one file system.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot write the {what} {path!r}: it is an existing directory; give a file name.")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"The {what} {path!r} already exists and overwrite=False; remove it, choose another "
                              "name, or pass overwrite=True.")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:  # mkstemp makes 0600 files; give the result the mode a plain open() would (or the old file's)
            mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else _default_mode()
            os.chmod(tmp, mode)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)
