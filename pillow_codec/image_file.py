"""WlcImageFile: Pillow's reader for .wlc images (header at open, tiled decoding at load)."""

from __future__ import annotations

from PIL import Image, ImageFile, UnidentifiedImageError

from .registration import FORMAT

__all__ = ["WlcImageFile"]

PIL_MODES = ("L", "LA", "RGB", "RGBA")  # the header modes Pillow can hold


class WlcImageFile(ImageFile.ImageFile):
    """A .wlc image: ``_open`` reads the header and metadata only (no torch), ``load`` decodes.

    ``info`` holds ``codec`` and, where the file has them, ``exif``, ``icc_profile`` and
    ``xmp``, bytes as stored. ``draft`` picks a 1/2, 1/4 or 1/8 size decode (up to the
    codec's levels), so ``thumbnail`` runs only the inverse levels it needs. Errors follow
    Pillow: a damaged header is not identified (``UnidentifiedImageError``); a damaged or
    truncated body, or a codec that is not installed, raises ``OSError`` at load, and
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` decodes what a damaged body holds instead.
    """

    format = FORMAT
    format_description = "WaLLoC learned lossy image"

    def _open(self) -> None:
        from walloc_plugins import ContainerError
        from walloc_plugins.wlcinfo import read_info

        try:
            header, metadata = read_info(self.fp)
        except ContainerError as exc:
            raise UnidentifiedImageError(f"cannot identify {self._name} as .wlc: {exc}") from None
        if header.modality != "image" or header.mode not in PIL_MODES:
            what = "audio" if header.modality != "image" else f"a {header.mode} image"
            raise UnidentifiedImageError(
                f"{self._name} holds WaLLoC {what}, which Pillow cannot hold; decode it with "
                "walloc_plugins.decompress"
            )
        self._header = header
        self._mode = header.mode
        self.info.update(metadata)
        self.info["codec"] = header.codec
        self._set_reduce(0)

    def draft(
        self, mode: str | None, size: tuple[int, int] | None
    ) -> tuple[str, tuple[float, float, float, float]] | None:
        """Decode at the smallest 1 / 2**k size (k <= levels) still at least ``size``.

        ``mode`` is ignored. Returns the mode and the box of the full image in the reduced
        one (pixel i of a reduced image is centred on pixel ``i * 2**k``), or None at full
        size or once loaded.
        """
        if not self.tile or size is None:
            return None
        width, height = self._header.size[::-1]
        scale = min(width // max(size[0], 1), height // max(size[1], 1))
        reduce = min(max(scale.bit_length() - 1, 0), self._header.levels)
        self._set_reduce(reduce)
        if not reduce:
            return None
        step = 1 << reduce
        offset = 0.5 - 0.5 / step  # Pillow's boxes put pixel i's centre at i + 0.5
        right = min(width / step + offset, self.width)  # Pillow refuses boxes past the edge
        bottom = min(height / step + offset, self.height)
        return self.mode, (offset, offset, right, bottom)

    def load(self) -> Image.core.PixelAccess | None:
        if self.tile:
            self._decode()
        return super().load()

    def load_seek(self, pos: int) -> None:
        """Defined as in Pillow's WebP and ICO plugins: ``ImageFile.Parser`` decodes at close."""

    def verify(self) -> None:
        """Check every chunk's checksum and the END totals without decoding (no torch)."""
        from walloc_plugins import ContainerError
        from walloc_plugins.container import WlcReader

        if self.fp is None:
            raise OSError("cannot verify a closed image")
        self.fp.seek(0)
        try:
            for _ in WlcReader(self.fp).data_chunks():
                pass
        except ContainerError as exc:
            raise OSError(f"broken .wlc file {self._name}: {exc}") from exc
        super().verify()

    @property
    def _name(self) -> str:
        return repr(self.filename) if self.filename else "the stream"

    def _set_reduce(self, reduce: int) -> None:
        """Decode at ``1 / 2**reduce`` size; the tile's args carry ``reduce`` to ``load``."""
        self._size = self._header.reduced_size(reduce)[::-1]
        self.tile = [ImageFile._Tile("wlc", (0, 0, *self.size), 0, (reduce,))]

    def _decode(self) -> None:
        from walloc_plugins import WallocError

        if self.fp is None:
            raise OSError("cannot load a closed image")
        (reduce,) = self.tile[0].args
        self.fp.seek(0)
        try:
            from walloc_plugins.api import read_image  # torch: a missing one is an OSError too

            coded = read_image(self.fp, partial=ImageFile.LOAD_TRUNCATED_IMAGES)
            for (top, left), pixels in coded.tiles(reduce):
                height, width = pixels.shape[:2]
                tile = Image.frombytes(self.mode, (width, height), pixels)
                if (width, height) == self.size:  # a single window is the whole image
                    self.im = tile.im
                else:
                    self.load_prepare()  # allocates the image once
                    self.im.paste(tile.im, (left, top, left + width, top + height))
        except (
            WallocError,
            ValueError,
            EOFError,
            ImportError,
            Image.DecompressionBombError,
        ) as exc:
            raise OSError(f"cannot decode {self._name}: {exc}") from exc  # Pillow's load error
        self.tile = []
        self.readonly = 0
        if self._exclusive_fp and self._close_exclusive_fp_after_loading:
            self.fp.close()
        self.fp = None
