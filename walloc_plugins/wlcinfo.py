"""Torch-free inspection of .wlc files: the header and metadata, as a reader sees them."""

from __future__ import annotations

from .container import WlcHeader, WlcReader
from .container import read_header as _read_header
from .files import Source, open_source

__all__ = ["read_header", "read_info"]


def read_header(source: Source) -> WlcHeader:
    """The validated header of a .wlc path, bytes or binary file (no decoding, no torch)."""
    with open_source(source) as fo:
        return _read_header(fo)


def read_info(source: Source) -> tuple[WlcHeader, dict]:
    """Header and metadata chunks of a .wlc source, reading no latent payload."""
    with open_source(source) as fo:
        reader = WlcReader(fo)
        return reader.header, reader.metadata
