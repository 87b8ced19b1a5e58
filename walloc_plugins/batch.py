"""Batched, picklable encoders and decoders for data engines (Ray Data, HF datasets, Dask).

One object plugs unchanged into each engine's batch-mapping call: it is built in the driver,
pickled to the workers, and loads its codec lazily, once per worker process, on the first
batch. A batch is what the engines hand over: a mapping of column name to a numpy array or a
list (Ray's ``"numpy"`` format, HF ``datasets`` with ``batched=True``), a pandas DataFrame
(Ray's ``"pandas"`` format, ``dask.dataframe.map_partitions``), or a list of row dicts
(``dask.bag.map_partitions``). The result has the same form, with the input's columns kept
and new ones added. A bad item never fails the batch: its row gets a message in the
``error`` column and empty outputs, and ``errors`` counts such rows in this process.

Every output column has one type in every row (an empty string, bytes or array where there
is nothing, 0 for "no sample rate"), because the engines store columns as Arrow arrays, which
cannot mix arrays with None, and HF ``datasets`` fixes a column's type from its first batch.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["BatchDecoder", "BatchEncoder", "count_errors"]

log = logging.getLogger("walloc")

IMAGE_COLUMNS = ("image", "bytes", "path")  # searched in this order when no column is named
AUDIO_COLUMNS = ("audio", "path")
OUTPUTS = ("wlc", "latent", "int8")


class _BatchMapper:
    """Batch plumbing shared by the encoder and decoder: formats in and out, errors, threads."""

    def __init__(self, column: str | None, threads: int | None) -> None:
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InputError(f"threads must be a positive int or None, not {threads!r}")
        self.column = column
        self.threads = threads
        self.errors = 0

    def __call__(self, batch: Any) -> Any:
        """Map one batch; returns the same kind of batch with the new columns."""
        if isinstance(batch, list):  # a dask.bag partition: row dicts, or bare items
            if not all(isinstance(row, Mapping) for row in batch):
                batch = [{self.column or self._default_columns()[0]: item} for item in batch]
            columns = {key: [row[key] for row in batch] for key in (batch[0] if batch else {})}
            out = self._map_columns(columns)
            return [dict(zip(out, values)) for values in zip(*out.values())]
        if hasattr(batch, "to_dict") and hasattr(batch, "columns"):  # a pandas DataFrame
            import pandas as pd

            out = self._map_columns({key: list(batch[key]) for key in batch.columns})
            added = {key: pd.Series(values, index=batch.index, dtype=object)  # arrays stay arrays
                     for key, values in out.items() if key not in batch.columns}
            return batch.assign(**added)
        if isinstance(batch, Mapping):
            out = self._map_columns({key: list(value) for key, value in batch.items()})
            return {key: _column(values) if key not in batch else batch[key] for key, values in out.items()}
        raise InputError(
            f"a batch must be a dict of columns, a pandas DataFrame or a list of rows, not {type(batch).__name__}"
        )

    def _map_columns(self, columns: dict[str, list]) -> dict[str, list]:
        self._set_threads()
        name = self._input_column(columns)
        rows = len(columns[name])
        results: dict[str, list] = {key: [] for key in self._output_columns()}
        for i in range(rows):
            row = {key: values[i] for key, values in columns.items()}
            produced = self._empty()
            try:
                produced.update(self._map_item(row[name], row))
            except Exception as exc:  # one bad item becomes an error record, never a failed batch
                produced = {**self._empty(), "error": f"{_where(row, row[name])}{type(exc).__name__}: {exc}"}
                self.errors += 1
                log.warning("walloc batch: %s", produced["error"])
            for key in results:
                results[key].append(produced[key])
        return {**columns, **results}

    def _set_threads(self) -> None:
        if self.threads is not None:
            import torch

            if torch.get_num_threads() != self.threads:
                torch.set_num_threads(self.threads)

    def _input_column(self, columns: Mapping[str, Any]) -> str:
        if self.column is not None:
            if self.column not in columns:
                raise InputError(f"the batch has no column {self.column!r}; it has {sorted(columns)}")
            return self.column
        for name in self._default_columns():
            if name in columns:
                return name
        raise InputError(
            f"none of the columns {self._default_columns()} is in the batch ({sorted(columns)}); "
            "name the input with column=..."
        )

    def _default_columns(self) -> Sequence[str]:
        raise NotImplementedError

    def _output_columns(self) -> Sequence[str]:
        raise NotImplementedError

    def _map_item(self, item: Any, row: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _empty(self) -> dict[str, Any]:
        """Every output column's empty value (see the module docstring)."""
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_codec", None)  # workers load their own copy
        state["errors"] = 0
        return state


class BatchEncoder(_BatchMapper):
    """Encode the images or audio clips of a batch to ``.wlc`` bytes and/or latents.

    Args:
        codec: a registered codec name, or None for the default of each item's modality and
            channel count (as ``walloc_plugins.compress``).
        column: the input column; by default the first of ``image``, ``bytes``, ``path`` (or,
            for an audio codec, ``audio``, ``path``) present. Items may be uint8 or float arrays
            ``[H, W(, C)]``, PIL images, encoded image bytes, ``{"bytes": ..., "path": ...}``
            dicts (HF ``Image(decode=False)``), file paths, or for audio float ``[T, C]`` arrays
            with a ``sample_rate`` column or HF ``{"array", "sampling_rate"}`` dicts.
        outputs: any of ``"wlc"`` (the file's bytes), ``"latent"`` (float latents before
            rounding, the input of compressed-domain learning) and ``"int8"`` (the quantised
            latents the file stores).
        coder: the entropy coder of the ``.wlc`` bytes.
        threads: torch threads per worker process; set 1 when an engine runs one worker per
            core, so that workers do not oversubscribe the CPU.

    Output columns: the requested outputs, ``shape`` (the item's array shape), ``sample_rate``
    (audio; 0 for images), ``codec`` and ``error`` (``""``, or ``"path: what went wrong"``).
    Latents are ``[D, h, w]`` (images) or ``[D, t]`` (audio) numpy arrays of each item's own
    size, so a batch may mix image sizes. An error row has ``b""``, zero-size latents, an
    empty shape and codec.
    """

    def __init__(
        self,
        codec: str | None = None,
        *,
        column: str | None = None,
        outputs: Sequence[str] = ("wlc",),
        coder: str = "webp",
        threads: int | None = None,
    ) -> None:
        super().__init__(column, threads)
        outputs = (outputs,) if isinstance(outputs, str) else tuple(outputs)
        unknown = [name for name in outputs if name not in OUTPUTS]
        if unknown or not outputs:
            raise InputError(f"outputs must be some of {OUTPUTS}, not {outputs!r}")
        if codec is not None:
            from .registry import get_entry

            get_entry(codec)  # an unknown name fails here, in the driver, not in every worker
        self.codec = codec
        self.outputs = outputs
        self.coder = coder

    def __repr__(self) -> str:
        return f"BatchEncoder(codec={self.codec!r}, outputs={self.outputs!r}, coder={self.coder!r})"

    def _default_columns(self) -> Sequence[str]:
        if self.codec is not None and self._modality() == "audio":
            return AUDIO_COLUMNS
        return IMAGE_COLUMNS

    def _output_columns(self) -> Sequence[str]:
        return (*self.outputs, "shape", "sample_rate", "codec", "error")

    def _empty(self) -> dict[str, Any]:
        ndim = 2 if self.codec is not None and self._modality() == "audio" else 3
        return {"wlc": b"", "latent": np.zeros((0,) * ndim, np.float32), "int8": np.zeros((0,) * ndim, np.int8),
                "shape": [], "sample_rate": 0, "codec": "", "error": ""}

    def _modality(self) -> str:
        from .registry import get_entry

        return get_entry(self.codec).config.modality  # type: ignore[arg-type]

    def _map_item(self, item: Any, row: Mapping[str, Any]) -> dict[str, Any]:
        from . import api

        array, sample_rate = _signal(item, row, audio=self.codec is not None and self._modality() == "audio")
        data = api.compress(array, self.codec, sample_rate=sample_rate, coder=self.coder)
        header_codec = None
        produced: dict[str, Any] = {"shape": list(array.shape), "sample_rate": sample_rate or 0}
        if "wlc" in self.outputs:
            produced["wlc"] = data
        if "int8" in self.outputs or "latent" in self.outputs:
            stored = api.read_latent(data)
            header_codec = stored.header.codec
            if "int8" in self.outputs:
                produced["int8"] = stored.q.numpy()
            if "latent" in self.outputs:
                produced["latent"] = _float_latent(header_codec, array, sample_rate)
        from .wlcinfo import read_header

        produced["codec"] = header_codec or read_header(data).codec
        return produced


class BatchDecoder(_BatchMapper):
    """Decode a column of ``.wlc`` bytes (or paths) to images or audio: ``BatchEncoder`` reversed.

    Output columns: ``image`` (uint8 ``[H, W, C]``, C = 1 for grey) and ``audio`` (float32
    ``[T, C]``), of which the one not decoded is zero-size, ``sample_rate`` (0 for images),
    ``codec`` and ``error`` as for the encoder; the input column defaults to ``wlc``.
    ``reduce`` decodes images at ``1 / 2**reduce`` size.
    """

    def __init__(self, *, column: str = "wlc", reduce: int = 0, threads: int | None = None) -> None:
        super().__init__(column, threads)
        self.reduce = reduce

    def __repr__(self) -> str:
        return f"BatchDecoder(column={self.column!r}, reduce={self.reduce})"

    def _default_columns(self) -> Sequence[str]:
        return ("wlc",)

    def _output_columns(self) -> Sequence[str]:
        return ("image", "audio", "sample_rate", "codec", "error")

    def _empty(self) -> dict[str, Any]:
        return {"image": np.zeros((0, 0, 0), np.uint8), "audio": np.zeros((0, 0), np.float32), "sample_rate": 0,
                "codec": "", "error": ""}

    def _map_item(self, item: Any, row: Mapping[str, Any]) -> dict[str, Any]:
        from . import api
        from .wlcinfo import read_header

        data = _payload(item)
        header = read_header(data)
        if header.modality == "image":
            image = api.decompress(data, reduce=self.reduce)
            return {"image": image.reshape(*image.shape[:2], -1), "codec": header.codec}
        return {"audio": api.decompress(data), "sample_rate": header.sample_rate, "codec": header.codec}


def count_errors(rows: Iterable[Any]) -> int:
    """Rows of a mapped data set (dicts, or anything with an ``error`` field) that failed."""
    return sum(1 for row in rows if row["error"])


# -- items ----------------------------------------------------------------------------------
def _signal(item: Any, row: Mapping[str, Any], audio: bool) -> tuple[np.ndarray, int | None]:
    """An item as the array ``compress`` takes, and its sample rate for audio."""
    if isinstance(item, Mapping) and "array" in item:  # {"array": [T] or [C, T], "sampling_rate"}
        samples = np.asarray(item["array"], np.float32)
        return (samples.T if samples.ndim == 2 else samples), int(item["sampling_rate"])
    if isinstance(item, (str, os.PathLike)) and audio:
        from .audiofile import read_audio

        return read_audio(item)
    if isinstance(item, np.ndarray) and (audio or "sample_rate" in row):
        return item, int(row["sample_rate"])
    return _image(item), None


def _image(item: Any) -> np.ndarray:
    """uint8 ``[H, W(, C)]`` from an array, a PIL image, encoded bytes or a path."""
    if isinstance(item, np.ndarray):
        return item
    from PIL import Image

    if isinstance(item, Image.Image):
        return _pil_array(item)
    if isinstance(item, Mapping):  # HF Image(decode=False): {"bytes": ..., "path": ...}
        item = item.get("bytes") or item.get("path")
    if isinstance(item, (bytes, bytearray, memoryview)):
        with Image.open(io.BytesIO(bytes(item))) as image:
            return _pil_array(image)
    if isinstance(item, (str, os.PathLike)):
        with Image.open(item) as image:
            return _pil_array(image)
    raise InputError(f"cannot read an image from a {type(item).__name__}")


def _pil_array(image: Any) -> np.ndarray:
    keep = {"L", "LA", "RGB", "RGBA"}
    mode = image.mode if image.mode in keep else ("RGBA" if "A" in image.getbands() else "RGB")
    return np.asarray(image.convert(mode))


def _float_latent(codec_name: str, array: np.ndarray, sample_rate: int | None) -> np.ndarray:
    """``analysis`` latents of the codec that wrote the file (colour channels only)."""
    import torch

    from .api import _audio_array, _image_tensor
    from .registry import load_codec

    codec = load_codec(codec_name)
    if sample_rate is None:
        x = _image_tensor(array)[: codec.config.channels]
    else:
        x = torch.from_numpy(_audio_array(array).T.copy())
    with torch.inference_mode():
        return codec.analysis(x).numpy()


def _payload(item: Any) -> bytes:
    if isinstance(item, Mapping):
        item = item.get("bytes") or item.get("path")
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, (str, os.PathLike)):
        with open(item, "rb") as fo:
            return fo.read()
    raise InputError(f"cannot read .wlc data from a {type(item).__name__}")


def _where(row: Mapping[str, Any], item: Any) -> str:
    """``"path: "`` for error messages: the item if it is a path, else the row's path, if any."""
    if isinstance(item, (str, os.PathLike)):
        return f"{item}: "
    for key in ("path", "key", "__key__"):
        if isinstance(row.get(key), (str, os.PathLike)):
            return f"{row[key]}: "
    for value in row.values():
        if isinstance(value, Mapping) and isinstance(value.get("path"), str):
            return f"{value['path']}: "
    return ""


def _column(values: list) -> Any:
    """Per-row results as one numpy array where they stack (same-shape arrays), else the list."""
    if values and all(isinstance(v, np.ndarray) for v in values) and len({v.shape for v in values}) == 1:
        return np.stack(values)
    return values
