"""Pillow's save handler for .wlc: the mode rule, the options, and an all-or-nothing write."""

from __future__ import annotations

from typing import IO, Any

from PIL import Image

__all__ = ["CONVERSIONS", "METADATA_KEYS", "save"]

# Modes stored as they are: L, LA, RGB, RGBA. These convert first (P keeps its transparency);
# any other mode (I, I;16, F, ...) holds more than 8 bits a channel and is refused.
CONVERSIONS = {
    "1": "L",
    "La": "LA",
    "P": "RGB",
    "PA": "RGBA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
}
METADATA_KEYS = ("exif", "icc_profile", "xmp")


def save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    """Encode ``im`` completely in memory, then write the .wlc bytes to ``fp`` in one call.

    Options of ``im.save``: ``codec`` (a registered name; by default ``DEFAULT_CODECS`` for
    the image's channels), ``entropy_coder`` (default ``webp``), and ``exif``,
    ``icc_profile`` and ``xmp`` (bytes; ``exif`` may be an ``Image.Exif``, ``xmp`` a str),
    which default to the image's ``info``; an empty value stores none.

    Raises:
        OSError: a mode that cannot be stored.
        ValueError: an unknown codec or entropy coder, or bad metadata (``walloc_plugins``
            errors). Nothing has been written when either is raised.
    """
    import numpy as np

    from walloc_plugins.api import DEFAULT_CODER, compress

    options = im.encoderinfo
    metadata = {key: _metadata_bytes(options.get(key, im.info.get(key))) for key in METADATA_KEYS}
    data = compress(
        np.asarray(_storable(im)),
        options.get("codec"),
        coder=options.get("entropy_coder", DEFAULT_CODER),
        metadata={key: value for key, value in metadata.items() if value},
    )
    fp.write(data)


def _storable(im: Image.Image) -> Image.Image:
    """``im`` in a mode the codec stores (see CONVERSIONS)."""
    if im.mode in ("L", "LA", "RGB", "RGBA"):
        return im
    if im.mode not in CONVERSIONS:
        raise OSError(
            f"cannot write mode {im.mode} as WLC (8 bits a channel); convert it to L, LA, RGB "
            "or RGBA"
        )
    target = CONVERSIONS[im.mode]
    if im.mode == "P" and "transparency" in im.info:
        target = "RGBA"
    return im.convert(target)


def _metadata_bytes(value: Any) -> Any:
    """Pillow's metadata forms as bytes: an ``Image.Exif`` serialised, a str XMP as UTF-8."""
    if isinstance(value, Image.Exif):
        return value.tobytes()
    if isinstance(value, str):
        return value.encode("utf-8")
    return value
