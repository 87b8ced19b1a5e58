"""Registers the WLC format with Pillow, importing nothing beyond PIL.Image until a file is used."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from PIL import ImageFile

__all__ = ["EXTENSIONS", "FORMAT", "MAGIC", "MIME_TYPE", "register"]

FORMAT = "WLC"
EXTENSIONS = (".wlc",)
MIME_TYPE = "image/x-wlc"
# walloc_plugins.container.MAGIC, repeated so that probing other formats never imports the core
# (``_open`` then checks the whole prefix with the core's is_wlc).
MAGIC = b"\x89WLC\r\n\x1a\n"


def register() -> None:
    """Register open, save, the ``.wlc`` extension and the MIME type with Pillow (idempotent)."""
    Image.register_open(FORMAT, _open, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extensions(FORMAT, list(EXTENSIONS))
    Image.register_mime(FORMAT, MIME_TYPE)


def _accept(prefix: bytes) -> bool:
    return prefix[: len(MAGIC)] == MAGIC


# The factory and the save handler import their modules on first use: the autoload hook runs
# this module while PIL.ImageFile may still be half imported, and the core costs ~80 ms.
def _open(fp: IO[bytes], filename: str | bytes) -> ImageFile.ImageFile:
    from .image_file import WlcImageFile

    return WlcImageFile(fp, filename)


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    from .writer import save

    save(im, fp, filename)
