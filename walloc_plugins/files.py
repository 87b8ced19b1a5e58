"""File helpers shared by the API, the CLI and the doors: atomic writes and flexible sources."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
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
    # Not mkstemp: its mode 0600 would stay on the renamed file; 0666 gets the user's umask.
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
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
