"""Lossless entropy coders for int8 latents: the WebP tile mosaic and zlib."""

from __future__ import annotations

import io
import math
import zlib
from abc import ABC, abstractmethod

import numpy as np

from .errors import ContainerError, InputError

__all__ = ["EntropyCoder", "WebPCoder", "ZlibCoder", "mosaic_layout"]

WEBP_MAX_SIDE = 16383
AUDIO_ROW = 256  # 1D latents are folded into rows of this many positions before tiling


class EntropyCoder(ABC):
    """Turns an int8 latent ``[D, *grid]`` into bytes and back, losslessly.

    Subclasses set ``name`` (the id written into .wlc headers) and ``description``.
    ``decode`` must validate its input against ``shape`` and raise ``ContainerError`` for
    anything it cannot decode to exactly that shape; it must never allocate more than the
    shape asks for.
    """

    name: str = ""
    description: str = ""

    @abstractmethod
    def encode(self, q: np.ndarray) -> bytes:
        """Code an int8 array ``[D, *grid]`` (grid of one or two axes)."""

    @abstractmethod
    def decode(self, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
        """Decode bytes written by ``encode`` for a latent of ``shape``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _check_latent(q: np.ndarray) -> None:
    if not isinstance(q, np.ndarray) or q.dtype != np.int8 or q.ndim not in (2, 3):
        raise InputError(
            "an entropy coder takes an int8 numpy array [D, T] or [D, H, W], got "
            f"{type(q).__name__} {getattr(q, 'dtype', '')} {getattr(q, 'shape', '')}"
        )


class ZlibCoder(EntropyCoder):
    """DEFLATE (zlib) on the raw channel planes: general purpose, any shape, stdlib only."""

    name = "zlib"
    description = "zlib (DEFLATE) on raw int8 planes"

    def __init__(self, name: str = "zlib", level: int = 6) -> None:
        self.name, self.level = name, level

    def encode(self, q: np.ndarray) -> bytes:
        _check_latent(q)
        return zlib.compress(np.ascontiguousarray(q).tobytes(), self.level)

    def decode(self, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
        size = math.prod(shape)
        inflater = zlib.decompressobj()
        try:
            raw = inflater.decompress(data, size + 1)  # max_length stops a zip bomb
        except zlib.error as exc:
            raise ContainerError(f"corrupt zlib latent: {exc}") from None
        if len(raw) != size or not inflater.eof or inflater.unused_data:
            raise ContainerError(f"corrupt zlib latent: expected {size} bytes for shape {shape}")
        return np.frombuffer(raw, np.int8).reshape(shape)


def mosaic_layout(channels: int) -> tuple[int, int, int]:
    """Tiles per colour plane, tile rows and tile columns for ``channels`` latent planes.

    Channel ``k`` goes to colour plane ``k // per_plane``, tile ``k % per_plane`` in row-major
    order; for ``channels = 3 n^2`` this is the reference's layout.
    """
    per_plane = -(-channels // 3)
    cols = math.ceil(math.sqrt(per_plane))
    return per_plane, -(-per_plane // cols), cols


class WebPCoder(EntropyCoder):
    """The paper's coder: latent planes tiled into an RGB mosaic, saved as lossless WebP.

    ``method`` and ``quality`` are libwebp's lossless effort settings; the defaults trade 5 %
    of size against libwebp's defaults (method 4, quality 80) for six times the speed.
    """

    name = "webp"
    description = "lossless WebP of a 3-plane tile mosaic (the paper's coder), fast effort"

    def __init__(self, name: str = "webp", method: int = 2, quality: int = 0) -> None:
        self.name, self.method, self.quality = name, method, quality

    def encode(self, q: np.ndarray) -> bytes:
        _check_latent(q)
        from PIL import Image

        planes = self._to_mosaic(_as_2d(q))
        if max(planes.shape[:2]) > WEBP_MAX_SIDE:
            raise InputError(
                f"latent mosaic {planes.shape[1]}x{planes.shape[0]} exceeds WebP's limit of "
                f"{WEBP_MAX_SIDE} pixels; code the image in smaller tiles"
            )
        out = io.BytesIO()
        Image.fromarray(planes, "RGB").save(
            out, "WEBP", lossless=True, method=self.method, quality=self.quality, exact=True
        )
        return out.getvalue()

    def decode(self, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        grid_shape = _grid_2d(shape)
        expected = self._mosaic_size(shape[0], grid_shape)
        try:
            with Image.open(io.BytesIO(data), formats=["WEBP"]) as image:
                if image.size != expected[::-1] or image.mode not in ("RGB", "RGBA"):
                    raise ContainerError(
                        f"corrupt WebP latent: {image.mode} {image.size}, expected RGB "
                        f"{expected[::-1]}"
                    )
                planes = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            if isinstance(exc, ContainerError):
                raise
            raise ContainerError(f"corrupt WebP latent: {exc}") from None
        return self._from_mosaic(planes, shape[0], grid_shape).reshape(
            shape[0], -1
        )[:, : math.prod(shape[1:])].reshape(shape)

    @staticmethod
    def _mosaic_size(channels: int, grid: tuple[int, int]) -> tuple[int, int]:
        _, rows, cols = mosaic_layout(channels)
        return rows * grid[0], cols * grid[1]

    @staticmethod
    def _to_mosaic(q: np.ndarray) -> np.ndarray:
        channels, h, w = q.shape
        per_plane, rows, cols = mosaic_layout(channels)
        full = np.full((3, rows * cols, h, w), 128, np.uint8)
        used = np.full((3 * per_plane, h, w), 128, np.uint8)
        used[:channels] = q.view(np.uint8) ^ 0x80  # q + 128 without a wider type
        full[:, :per_plane] = used.reshape(3, per_plane, h, w)
        return np.ascontiguousarray(
            full.reshape(3, rows, cols, h, w).transpose(1, 3, 2, 4, 0).reshape(rows * h, cols * w, 3)
        )

    @staticmethod
    def _from_mosaic(planes: np.ndarray, channels: int, grid: tuple[int, int]) -> np.ndarray:
        per_plane, rows, cols = mosaic_layout(channels)
        h, w = grid
        tiles = planes.reshape(rows, h, cols, w, 3).transpose(4, 0, 2, 1, 3)
        tiles = tiles.reshape(3, rows * cols, h, w)[:, :per_plane].reshape(-1, h, w)[:channels]
        return (tiles ^ 0x80).view(np.int8)


def _grid_2d(shape: tuple[int, ...]) -> tuple[int, int]:
    """The 2D grid a latent of ``shape`` is tiled on (1D latents fold into rows)."""
    if len(shape) == 3:
        return shape[1], shape[2]
    length = shape[1]
    width = min(length, AUDIO_ROW)
    return -(-length // width), width


def _as_2d(q: np.ndarray) -> np.ndarray:
    if q.ndim == 3:
        return q
    rows, width = _grid_2d(q.shape)
    padded = np.zeros((q.shape[0], rows * width), np.int8)
    padded[:, : q.shape[1]] = q
    return padded.reshape(q.shape[0], rows, width)
