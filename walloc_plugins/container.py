"""The .wlc container: fixed prefix, JSON header, CRC-checked chunks (see docs/format.md)."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Literal

from .errors import ContainerError, TruncatedError, UnsupportedVersionError

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "WlcHeader",
    "WlcReader",
    "WlcWriter",
    "image_mode",
    "is_wlc",
    "pack_frame",
    "read_header",
    "unpack_frame",
]

MAGIC = b"\x89WLC\r\n\x1a\n"
FORMAT_VERSION = 1
PREFIX = struct.Struct("<8sBcHI")  # magic, version, modality, reserved, header length
PREFIX_SIZE = PREFIX.size  # 16
MODALITY_CODES = {"image": b"I", "audio": b"A"}
CHUNK_HEAD = struct.Struct("<4sI")
CRC = struct.Struct("<I")
END_PAYLOAD = struct.Struct("<QI")  # total samples (audio) or 0, data chunk count
SOURCE_SAMPLES = struct.Struct("<Q")  # END's extra field when the header has a source_rate
FRAME_HEAD = struct.Struct("<If")  # samples in the frame, gain of its first channel group
GAIN = struct.Struct("<f")  # gains of further channel groups follow the frame head

MAX_HEADER_BYTES = 1 << 20
MAX_CHUNK_BYTES = 1 << 28
MAX_SIDE = 1 << 20
MAX_PIXELS = 1 << 30
MAX_AUDIO_CHANNELS = 1024
MAX_FRAME_LENGTH = 1 << 24
_READ_PIECE = 1 << 20

# Chunk types. Metadata chunks come before data chunks; readers skip types they do not know.
EXIF, ICC, XMP, TAGS = b"EXIF", b"ICCP", b"XMP ", b"TAGS"
LATENT, ALPHA, FRAME, END = b"LATN", b"ALPH", b"FRAM", b"END "
METADATA_CHUNKS = {EXIF: "exif", ICC: "icc_profile", XMP: "xmp", TAGS: "tags"}
DATA_CHUNKS = (LATENT, ALPHA, FRAME)
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # Pillow's names; other counts are "<n>ch"


def image_mode(channels: int) -> str:
    """The ``mode`` a writer records for an image of ``channels`` (alpha included)."""
    return _MODES.get(channels, f"{channels}ch")


def is_wlc(prefix: bytes) -> bool:
    """True when ``prefix`` (the first 16 bytes or more of a stream) starts a .wlc file."""
    if len(prefix) < PREFIX_SIZE:
        return False
    magic, _version, modality, reserved, _length = PREFIX.unpack_from(prefix)
    return magic == MAGIC and modality in MODALITY_CODES.values() and reserved == 0


@dataclass(frozen=True, kw_only=True)
class WlcHeader:
    """Everything a reader needs before the first data chunk.

    Image fields: ``size`` (H, W), ``padding`` ((top, bottom), (left, right)) added before
    coding, ``tile`` (latent rows, latent columns per LATN chunk), ``mode`` (a Pillow mode
    name), ``alpha`` (an ALPH chunk follows). Audio fields: ``sample_rate``, ``frame_length``,
    ``num_samples`` (None while streaming; the END chunk carries the total), ``source_rate``
    (the rate the signal had before it was resampled to ``sample_rate``, or None) and
    ``overlap`` (samples each frame also codes past its own, shared with the next; None is 0).
    """

    modality: Literal["image", "audio"]
    codec: str
    weights: str
    coder: str
    channels: int
    levels: int
    latent_channels: int
    latent_bits: int
    size: tuple[int, int] | None = None
    padding: tuple[tuple[int, int], tuple[int, int]] | None = None
    tile: tuple[int, int] | None = None
    mode: str | None = None
    alpha: bool = False
    sample_rate: int | None = None
    frame_length: int | None = None
    num_samples: int | None = None
    source_rate: int | None = None
    overlap: int | None = None
    version: int = field(default=FORMAT_VERSION, compare=False)

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def stride(self) -> int:
        return 1 << self.levels

    @property
    def latent_grid(self) -> tuple[int, int]:
        """Latent rows and columns of a whole image (padding included)."""
        (top, bottom), (left, right) = self.padding  # type: ignore[misc]
        height, width = self.size  # type: ignore[misc]
        return (height + top + bottom) // self.stride, (width + left + right) // self.stride

    def reduced_size(self, reduce: int = 0) -> tuple[int, int]:
        """``(H, W)`` of the image decoded at ``1 / 2**reduce`` size (rounded up)."""
        return tuple(-(-n >> reduce) for n in self.size)  # type: ignore[return-value, union-attr]

    @property
    def tile_grid(self) -> tuple[int, int]:
        """Number of tile rows and columns; LATN chunks come in row-major order."""
        rows, cols = self.latent_grid
        tile_rows, tile_cols = self.tile  # type: ignore[misc]
        return -(-rows // tile_rows), -(-cols // tile_cols)

    def to_json(self) -> dict[str, Any]:
        skip = {"modality", "version"}
        return {k: v for k, v in asdict(self).items() if k not in skip and v is not None}

    @classmethod
    def from_json(cls, modality: str, data: Any, version: int) -> WlcHeader:
        if not isinstance(data, Mapping):
            raise ContainerError("corrupt .wlc header: not a JSON object")
        known = set(cls.__dataclass_fields__) - {"modality", "version"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ContainerError(f"corrupt .wlc header: unknown keys {unknown}")
        values = dict(data)
        for key in ("size", "tile"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        if isinstance(values.get("padding"), list):
            values["padding"] = tuple(
                tuple(p) if isinstance(p, list) else p for p in values["padding"]
            )
        try:
            return cls(modality=modality, version=version, **values)  # type: ignore[arg-type]
        except TypeError as exc:
            raise ContainerError(f"corrupt .wlc header: {exc}") from None


def read_header(fo: IO[bytes]) -> WlcHeader:
    """Read and validate the prefix and JSON header; the stream is left at the first chunk."""
    prefix = read_exactly(fo, PREFIX_SIZE, "the 16-byte prefix")
    if not is_wlc(prefix):
        raise ContainerError("not a .wlc stream (bad magic bytes)")
    _, version, modality_code, _, length = PREFIX.unpack(prefix)
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(version, FORMAT_VERSION)
    if version < 1:
        raise ContainerError(f"corrupt .wlc prefix: format version {version}")
    if not 2 <= length <= MAX_HEADER_BYTES:
        raise ContainerError(f"corrupt .wlc prefix: header length {length}")
    text = read_exactly(fo, length, "the header")
    (crc,) = CRC.unpack(read_exactly(fo, CRC.size, "the header checksum"))
    if zlib.crc32(text) != crc:
        raise ContainerError("corrupt .wlc header: checksum mismatch")
    try:
        data = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: "[[[[..."
        raise ContainerError("corrupt .wlc header: not valid UTF-8 JSON") from None
    modality = "image" if modality_code == MODALITY_CODES["image"] else "audio"
    return WlcHeader.from_json(modality, data, version)


class WlcWriter:
    """Writes a header, then chunks, then the END chunk on ``close()``.

    Data chunks are counted (and audio samples summed) so that the END chunk lets a reader
    detect a stream that lost chunks.
    """

    def __init__(self, fo: IO[bytes], header: WlcHeader) -> None:
        self._fo = fo
        self._source_rate = header.source_rate
        self._data_chunks = 0
        self._samples = 0
        text = json.dumps(header.to_json(), separators=(",", ":"), sort_keys=True).encode()
        code = MODALITY_CODES[header.modality]
        fo.write(PREFIX.pack(MAGIC, FORMAT_VERSION, code, 0, len(text)))
        fo.write(text + CRC.pack(zlib.crc32(text)))

    def write_chunk(self, kind: bytes, payload: bytes) -> None:
        if len(payload) > MAX_CHUNK_BYTES:
            raise ContainerError(f"chunk {kind!r} of {len(payload)} bytes exceeds the format limit")
        self._data_chunks += kind in DATA_CHUNKS
        self._fo.write(CHUNK_HEAD.pack(kind, len(payload)))
        self._fo.write(payload)
        self._fo.write(CRC.pack(zlib.crc32(payload, zlib.crc32(kind))))

    def write_frame(self, num_samples: int, gains: Sequence[float], coded: bytes) -> None:
        """Write one audio frame: its valid sample count, a gain per channel group, the latent."""
        self._samples += num_samples
        self.write_chunk(FRAME, pack_frame(num_samples, gains, coded))

    def close(self, source_samples: int | None = None) -> None:
        """Write the END chunk; a header with a ``source_rate`` needs the samples at that rate."""
        if (source_samples is None) != (self._source_rate is None):
            raise ContainerError("END carries source samples exactly when the header has a source_rate")
        payload = END_PAYLOAD.pack(self._samples, self._data_chunks)
        if source_samples is not None:
            payload += SOURCE_SAMPLES.pack(source_samples)
        self.write_chunk(END, payload)
        self._fo.flush()


class WlcReader:
    """Reads a .wlc stream progressively: header, then metadata, then data chunks.

    ``metadata`` holds the metadata chunks found before the first data chunk (all of them in
    files we write); no data payload is read until ``data_chunks()``, which yields
    ``(kind, payload)`` and checks the END chunk. After them, ``source_samples`` holds END's
    samples per channel at the header's ``source_rate`` (None without one).
    """

    def __init__(self, fo: IO[bytes]) -> None:
        self._fo = fo
        self.header = read_header(fo)
        self.metadata: dict[str, Any] = {}
        self.num_samples = self.header.num_samples
        self.source_samples: int | None = None
        self._consumed = False
        self._pending = self._next_head()  # head of the first data chunk (END included)
        while self._pending is not None and self._pending[0] in METADATA_CHUNKS:
            self._add_metadata(self._pending[0], self._payload(*self._pending))
            self._pending = self._next_head()

    def data_chunks(self) -> Iterator[tuple[bytes, bytes]]:
        """Yield ``(kind, payload)`` of each data chunk (once), then check the END totals."""
        if self._consumed:
            raise ContainerError("data chunks can be read only once")
        self._consumed = True
        count, samples, head = 0, 0, self._pending
        while True:
            if head is None:
                raise TruncatedError("truncated .wlc stream: no END chunk")
            kind, payload = head[0], self._payload(*head)
            if kind == END:
                break
            if kind in DATA_CHUNKS:
                count += 1
                if kind == FRAME:
                    samples += unpack_frame(payload)[0]
                yield kind, payload
            elif kind in METADATA_CHUNKS:
                self._add_metadata(kind, payload)
            head = self._next_head()
        resampled = self.header.source_rate is not None
        if len(payload) != END_PAYLOAD.size + resampled * SOURCE_SAMPLES.size:
            raise ContainerError("corrupt .wlc END chunk")
        total, expected = END_PAYLOAD.unpack_from(payload)
        if expected != count or (self.header.modality == "audio" and total != samples):
            raise ContainerError(
                f"corrupt .wlc stream: END chunk counts {expected} chunks / {total} samples, "
                f"read {count} / {samples}"
            )
        if self.num_samples is not None and self.num_samples != samples:
            raise ContainerError("corrupt .wlc stream: sample count differs from the header")
        self.num_samples = samples
        if resampled:
            (self.source_samples,) = SOURCE_SAMPLES.unpack_from(payload, END_PAYLOAD.size)

    def _next_head(self) -> tuple[bytes, int] | None:
        """The next chunk's type and length, or None at the end of the stream."""
        head = self._fo.read(CHUNK_HEAD.size)
        if not head:
            return None
        if len(head) < CHUNK_HEAD.size:
            raise TruncatedError("truncated .wlc stream inside a chunk header")
        kind, length = CHUNK_HEAD.unpack(head)
        if length > MAX_CHUNK_BYTES or not all(32 <= b < 127 for b in kind):
            raise ContainerError(f"corrupt .wlc chunk header (type {kind!r}, {length} bytes)")
        return kind, length

    def _payload(self, kind: bytes, length: int) -> bytes:
        """Read a chunk's payload and checksum; the stream is left at the next chunk."""
        payload = read_exactly(self._fo, length, f"chunk {kind.decode()!r}")
        (crc,) = CRC.unpack(read_exactly(self._fo, CRC.size, "a chunk checksum"))
        if zlib.crc32(payload, zlib.crc32(kind)) != crc:
            raise ContainerError(f"corrupt .wlc chunk {kind.decode()!r}: checksum mismatch")
        return payload

    def _add_metadata(self, kind: bytes, payload: bytes) -> None:
        if kind == TAGS:
            try:
                tags = json.loads(payload.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise ContainerError("corrupt .wlc TAGS chunk: not UTF-8 JSON") from None
            if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
                raise ContainerError("corrupt .wlc TAGS chunk: not an object of strings")
            self.metadata["tags"] = tags
        else:
            self.metadata[METADATA_CHUNKS[kind]] = payload


def encode_tags(tags: Mapping[str, str]) -> bytes:
    return json.dumps(dict(tags), ensure_ascii=False, sort_keys=True).encode("utf-8")


def pack_frame(num_samples: int, gains: Sequence[float], coded: bytes) -> bytes:
    """An audio FRAM payload: samples, one gain per channel group, then the coded latent."""
    return FRAME_HEAD.pack(num_samples, gains[0]) + b"".join(GAIN.pack(g) for g in gains[1:]) + coded


def unpack_frame(payload: bytes, groups: int = 1) -> tuple[int, tuple[float, ...], bytes]:
    """Split an audio FRAM payload into (samples, gains of ``groups`` groups, coded latent)."""
    head = FRAME_HEAD.size + (groups - 1) * GAIN.size
    if len(payload) < head:
        raise ContainerError("corrupt .wlc audio frame: too short")
    num_samples, gain = FRAME_HEAD.unpack_from(payload)
    gains = (gain, *(g for (g,) in GAIN.iter_unpack(payload[FRAME_HEAD.size : head])))
    if num_samples == 0 or not all(0.0 < g < float("inf") for g in gains):
        raise ContainerError(f"corrupt .wlc audio frame: {num_samples} samples, gains {gains}")
    return num_samples, gains, payload[head:]


def read_exactly(fo: IO[bytes], size: int, what: str) -> bytes:
    """Read ``size`` bytes in pieces, so a lying length allocates only what the stream holds."""
    pieces, left = [], size
    while left:
        piece = fo.read(min(left, _READ_PIECE))
        if not piece:
            raise TruncatedError(f"truncated .wlc stream: it ends inside {what}")
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)


def _validate(h: WlcHeader) -> None:
    _need(h.modality in MODALITY_CODES, "modality", h.modality)
    for name in ("codec", "coder"):
        value = getattr(h, name)
        _need(isinstance(value, str) and 0 < len(value) <= 200, name, value)
    _need(
        isinstance(h.weights, str)
        and len(h.weights) == 64
        and all(c in "0123456789abcdef" for c in h.weights),
        "weights",
        h.weights,
    )
    _need(_is_int(h.levels, 1, 12), "levels", h.levels)
    _need(_is_int(h.latent_bits, 2, 8), "latent_bits", h.latent_bits)
    _need(_is_int(h.latent_channels, 1, 1 << 16), "latent_channels", h.latent_channels)
    _need(isinstance(h.alpha, bool), "alpha", h.alpha)
    if h.modality == "image":
        _validate_image(h)
    else:
        _validate_audio(h)


def _validate_image(h: WlcHeader) -> None:
    _need(_is_int(h.channels, 1, 1 << 16), "channels", h.channels)
    _need(_pair(h.size, 1, MAX_SIDE), "size", h.size)
    _need(h.size[0] * h.size[1] <= MAX_PIXELS, "size", h.size)  # type: ignore[index]
    pad = h.padding
    _need(
        isinstance(pad, tuple) and len(pad) == 2 and all(_pair(p, 0, h.stride - 1) for p in pad),
        "padding",
        pad,
    )
    for axis in range(2):
        _need((h.size[axis] + sum(pad[axis])) % h.stride == 0, "padding", pad)  # type: ignore[index]
    _need(_pair(h.tile, 1, MAX_SIDE), "tile", h.tile)
    _need(h.mode == image_mode(h.channels + h.alpha), "mode", h.mode)
    for name in ("sample_rate", "frame_length", "num_samples", "source_rate", "overlap"):
        _need(getattr(h, name) is None, name, getattr(h, name))


def _validate_audio(h: WlcHeader) -> None:
    _need(_is_int(h.channels, 1, MAX_AUDIO_CHANNELS), "channels", h.channels)
    _need(_is_int(h.sample_rate, 1, 1_000_000), "sample_rate", h.sample_rate)
    _need(
        _is_int(h.frame_length, 1, MAX_FRAME_LENGTH) and h.frame_length % h.stride == 0,  # type: ignore[operator]
        "frame_length",
        h.frame_length,
    )
    _need(h.num_samples is None or _is_int(h.num_samples, 0, 1 << 48), "num_samples", h.num_samples)
    _need(h.source_rate is None or _is_int(h.source_rate, 1, 1_000_000), "source_rate", h.source_rate)
    _need(h.overlap is None or _is_int(h.overlap, 1, h.frame_length - 1), "overlap", h.overlap)  # type: ignore[operator]
    for name in ("size", "padding", "tile", "mode"):
        _need(getattr(h, name) is None, name, getattr(h, name))
    _need(not h.alpha, "alpha", h.alpha)


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _pair(value: object, low: int, high: int) -> bool:
    return (
        isinstance(value, tuple) and len(value) == 2 and all(_is_int(v, low, high) for v in value)
    )


def _need(ok: bool, name: str, value: object) -> None:
    if not ok:
        raise ContainerError(f"corrupt .wlc header: invalid {name} {value!r}")
