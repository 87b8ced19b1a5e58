"""File helpers shared by the API, the CLI and the doors: atomic writes and flexible sources."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Union

__all__ = ["Source", "atomic_write", "open_source"]

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes]]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[IO[bytes]]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    On any exception the temporary file is removed, so ``path`` is either untouched or
    complete: a failed save never leaves a partial file.
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(f"{target} exists; pass overwrite=True (CLI: --force) to replace it")
    handle, temp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as fo:
            yield fo
            fo.flush()
            os.fsync(fo.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def open_source(source: Source) -> Iterator[IO[bytes]]:
    """A readable binary stream over a path, a bytes-like object or an open binary file."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fo:
            yield fo
    elif hasattr(source, "read"):
        yield source
    else:
        raise TypeError(f"expected a path, bytes or a binary file, got {type(source).__name__}")
