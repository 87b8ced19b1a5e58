"""WaLLoC's door into Pillow: ``.wlc`` files open, load, save and thumbnail like any format.

Importing this package registers the format with Pillow (``register()`` does it again,
idempotently). Installed with walloc-plugins, it also registers itself in a fresh
interpreter as soon as ``PIL.Image`` is imported (see ``pillow_codec_autoload`` and
docs/pillow.md). Only Pillow is imported here: the codec core loads when a file is opened
and torch when pixels are decoded or encoded.
"""

from __future__ import annotations

from typing import Any

from .registration import EXTENSIONS, FORMAT, MIME_TYPE, register

__all__ = ["EXTENSIONS", "FORMAT", "MIME_TYPE", "WlcImageFile", "register"]

register()


def __getattr__(name: str) -> Any:
    # Lazy: PIL.ImageFile may still be importing when the autoload hook imports this package.
    if name == "WlcImageFile":
        from .image_file import WlcImageFile

        return WlcImageFile
    raise AttributeError(f"module 'pillow_codec' has no attribute {name!r}")
