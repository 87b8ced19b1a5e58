"""High-level API on numpy arrays and bytes: compress, decompress, save, load, read_image."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import torch

from . import container as wlc
from .codec import DECODE_TILE, Latent, WallocCodec
from .config import CodecConfig
from .errors import ContainerError, InputError
from .files import Source, atomic_write, open_source
from .registry import find_entry, get_coder, load_codec

__all__ = [
    "DEFAULT_CODECS",
    "CodedImage",
    "StoredLatent",
    "audio_header",
    "audio_overlap",
    "channel_groups",
    "codec_for",
    "compress",
    "compress_to_file",
    "decode_audio_frames",
    "decompress",
    "decompress_from_file",
    "encode_audio_frames",
    "encode_audio_stream",
    "load",
    "read_image",
    "read_latent",
    "save",
]

# Codec chosen by modality and channel count when the caller names none.
DEFAULT_CODECS = {("image", 1): "gray-16x-linear", ("image", 3): "rgb-16x-linear", ("audio", 2): "stereo-20x-linear"}
DEFAULT_CODER = "webp"
TILE = 256  # latent positions per side of one LATN chunk
_METADATA_KEYS = ("exif", "icc_profile", "xmp", "tags")


def compress(
    array: Any,
    codec: str | WallocCodec | None = None,
    *,
    sample_rate: int | None = None,
    coder: str = DEFAULT_CODER,
    metadata: Mapping[str, Any] | None = None,
) -> bytes:
    """Compress an image or an audio signal to .wlc bytes.

    Args:
        array: an image ``[H, W]`` or ``[H, W, C]`` (uint8, or float in [0, 1]); with
            ``sample_rate``, audio ``[T]`` or ``[T, C]`` (float in [-1, 1] or int16).
            For an image, one channel more than the codec's is an alpha channel, stored
            losslessly; audio may have any channel count, coded in groups of the codec's
            channels (``channel_groups``).
        codec: a registered name, a loaded ``WallocCodec``, or None for the default of the
            modality and channel count (``DEFAULT_CODECS``; audio: the stereo default).
        sample_rate: audio only, in Hz; must equal the codec's rate.
        coder: the entropy coder's registered name.
        metadata: optional ``exif``, ``icc_profile``, ``xmp`` (bytes) and, for audio,
            ``tags`` (a str-to-str mapping); kept byte for byte.

    Raises:
        InputError: bad shape, dtype, values or sample rate.
        UnknownCodecError, UnknownCoderError: no such codec or coder.
    """
    out = io.BytesIO()
    compress_to_file(out, array, codec, sample_rate=sample_rate, coder=coder, metadata=metadata)
    return out.getvalue()


def decompress(data: Source, codec: WallocCodec | None = None, *, reduce: int = 0) -> np.ndarray:
    """Decode .wlc bytes (or a path or file) to an array shaped like ``compress``'s input.

    Images come back as uint8 ``[H, W]`` or ``[H, W, C]``, audio as float32 ``[T, C]`` at
    the header's ``sample_rate`` (see ``walloc_plugins.read_header``). Images decode tile by
    tile (``CodedImage.tiles``); ``reduce`` > 0 decodes them at ``1 / 2**reduce`` size.
    """
    with open_source(data) as fo:
        return decompress_from_file(fo, codec, reduce=reduce)


def save(path: str | os.PathLike, array: Any, codec: str | WallocCodec | None = None, **options: Any) -> None:
    """``compress`` to ``path`` atomically (a failed save leaves no file behind)."""
    data = compress(array, codec, **options)
    with atomic_write(path) as fo:
        fo.write(data)


def load(path: str | os.PathLike, codec: WallocCodec | None = None) -> np.ndarray:
    """``decompress`` the .wlc file at ``path``."""
    return decompress(path, codec)


def compress_to_file(
    fo: IO[bytes],
    array: Any,
    codec: str | WallocCodec | None = None,
    *,
    sample_rate: int | None = None,
    coder: str = DEFAULT_CODER,
    metadata: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> None:
    """``compress`` into an open binary file (which may be a non-seekable pipe).

    ``progress`` shows a bar on stderr while audio frames are coded.
    """
    modality = "image" if sample_rate is None else "audio"
    signal = _image_tensor(array) if modality == "image" else _audio_array(array)
    model = _resolve_codec(codec, modality, signal.shape[0] if modality == "image" else signal.shape[1])
    entropy = get_coder(coder)
    metadata = _check_metadata(metadata or {}, modality)
    if model.config.modality != modality:
        raise InputError(f"codec {model.name!r} codes {model.config.modality}, not {modality}")
    if modality == "image":
        _compress_image(fo, model, entropy, signal, metadata)
    else:
        if sample_rate != model.config.sample_rate:
            raise InputError(
                f"codec {model.name!r} codes {model.config.sample_rate} Hz audio, got "
                f"{sample_rate} Hz; resample first"
            )
        writer = wlc.WlcWriter(fo, _header(model, entropy.name, signal.shape[1], num_samples=len(signal)))
        _write_metadata(writer, metadata)
        frames = encode_audio_frames(model, signal)
        for num_samples, gains, q in _bar(frames, len(signal), "encoding", progress):
            writer.write_frame(num_samples, gains, entropy.encode(q))
        writer.close()


def decompress_from_file(
    fo: IO[bytes], codec: WallocCodec | None = None, progress: bool = False, *, reduce: int = 0
) -> np.ndarray:
    """``decompress`` from an open binary file; ``progress`` shows a bar for audio."""
    reader = wlc.WlcReader(fo)
    header = reader.header
    if header.modality == "image":
        return _read_image(reader, codec, partial=False).decode(reduce)
    if reduce:
        raise InputError("only images decode at a reduced size")
    model = codec if codec is not None else codec_for(header)
    entropy = get_coder(header.coder)
    decoded = decode_audio_frames(model, entropy, header, reader.data_chunks())
    frames = list(_bar(decoded, header.num_samples, "decoding", progress))
    audio = np.concatenate(frames, axis=1) if frames else np.zeros((header.channels, 0), np.float32)
    return np.ascontiguousarray(audio.T)


def codec_for(header: wlc.WlcHeader) -> WallocCodec:
    """The installed codec that wrote a file (same weights), or a clear error."""
    return load_codec(find_entry(header.codec, header.weights).name)


@dataclass(frozen=True)
class CodedImage:
    """A .wlc image as read from its file: everything but the decoded pixels.

    Attributes:
        header: the validated header (``size``, ``mode`` ...).
        metadata: the ``exif``, ``icc_profile`` and ``xmp`` bytes found in the file.
        codec: the codec that decodes it.
        latent: the int8 latent ``[D, h, w]`` and the image size.
        alpha: the lossless alpha plane, uint8 ``[H, W]``, or None.
        damage: None for a whole file. Read with ``partial=True`` from a damaged stream: what
            was wrong; latent tiles that were not read are zeros (they decode to a uniform
            grey texture) and a missing alpha plane is opaque.
    """

    header: wlc.WlcHeader
    metadata: dict[str, bytes]
    codec: WallocCodec
    latent: Latent
    alpha: np.ndarray | None
    damage: str | None = None

    def tiles(
        self, reduce: int = 0, tile: int = DECODE_TILE
    ) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
        """Decode window by window, with bounded memory and no seams.

        Args:
            reduce: decode at ``1 / 2**reduce`` of the size, up to ``header.levels`` (see
                ``WallocCodec.decode_tiles``; the alpha plane is averaged over blocks centred
                on the same pixels).
            tile: latent positions per side of a window.

        Yields:
            ``((top, left), pixels)``: uint8 ``[h, w]`` (one channel) or ``[h, w, C]`` with
            the alpha channel last, at that offset of the ``header.reduced_size(reduce)``
            image, in row-major order.
        """
        alpha = None if self.alpha is None else _reduce_plane(self.alpha, reduce)
        for (top, left), pixels in self.codec.decode_tiles(self.latent, reduce=reduce, tile=tile):
            with torch.inference_mode():  # scale the codec's inference tensor in place
                image = pixels.mul_(255).round_().to(torch.uint8).permute(1, 2, 0).contiguous()
            image = image.cpu().numpy()
            if alpha is not None:
                height, width = image.shape[:2]
                plane = alpha[top : top + height, left : left + width, None]
                image = np.concatenate([image, plane], axis=2)
            yield (top, left), image[..., 0] if image.shape[2] == 1 else image

    def decode(self, reduce: int = 0) -> np.ndarray:
        """The whole image from ``tiles``: uint8 ``[H, W]`` or ``[H, W, C]``."""
        image: np.ndarray | None = None
        for (top, left), pixels in self.tiles(reduce):
            if image is None:
                image = np.empty(self.header.reduced_size(reduce) + pixels.shape[2:], np.uint8)
            image[top : top + pixels.shape[0], left : left + pixels.shape[1]] = pixels
        return image  # type: ignore[return-value]


def read_image(
    source: Source, codec: WallocCodec | None = None, *, partial: bool = False
) -> CodedImage:
    """Read a .wlc image up to its pixels: header, metadata, latent and alpha plane.

    Args:
        source: a path, bytes or a binary file.
        codec: the codec to decode with; by default the installed one that wrote the file.
        partial: keep what a damaged or truncated stream holds after its metadata instead
            of raising (``CodedImage.damage`` says what was wrong): the behaviour of Pillow's
            ``LOAD_TRUNCATED_IMAGES``.

    Raises:
        ContainerError: a bad or damaged file (``TruncatedError`` when it ends early), or
            one that holds audio.
        UnknownCodecError, CodecMismatchError, UnknownCoderError: what wrote it is not
            installed.
    """
    with open_source(source) as fo:
        return _read_image(wlc.WlcReader(fo), codec, partial)


@dataclass(frozen=True)
class StoredLatent:
    """The latent a .wlc file stores, entropy-decoded only: no codec model is built or run.

    Attributes:
        header: the validated header.
        q: int8 ``[D, h, w]`` for an image (the padded grid, ``header.latent_grid``) or
            ``[D, t]`` for audio: the frames' latents in order, each of
            ``config.latent_size((samples + overlap,))`` positions (``ceil(samples / stride)``
            + 2 for our codecs, so frame ``k`` starts at position ``k * frame_length / stride``
            and covers the samples from ``k * (frame_length - overlap)``, see ``audio_overlap``);
            ``[G * D, t]`` for audio coded in G > 1 channel groups (``channel_groups``).
        gains: audio only, float32 ``[frames]``: the peak each frame was divided by before
            coding (each frame's latent is loudness-normalised); ``[frames, G]`` for G > 1
            channel groups.
    """

    header: wlc.WlcHeader
    q: torch.Tensor
    gains: torch.Tensor | None = None


def read_latent(source: Source) -> StoredLatent:
    """The latent of a .wlc image or audio file, as ``encode`` produced it.

    Only the entropy coder runs (the fast path for learning in the compressed domain). The
    codec that wrote the file must be installed, so that a header cannot make the reader
    allocate a latent of a shape no installed codec has; its weights are not loaded.

    Raises:
        ContainerError: a bad or damaged file.
        UnknownCodecError, CodecMismatchError, UnknownCoderError: what wrote it is not
            installed.
    """
    with open_source(source) as fo:
        reader = wlc.WlcReader(fo)
        header = reader.header
        entry = find_entry(header.codec, header.weights)
        _check_fits(entry.config, entry.name, header)
        entropy = get_coder(header.coder)
        if header.modality == "image":
            q, _, _ = _read_image_chunks(reader, entropy, partial=False)
            return StoredLatent(header, torch.from_numpy(q))
        groups = len(channel_groups(header.channels, entry.config.channels))
        frames = list(_audio_latents(entropy, header, entry.config, reader.data_chunks(), groups))
        q = np.zeros((groups * header.latent_channels, 0), np.int8)
        if frames:
            q = np.concatenate([frame for _, _, frame in frames], axis=1)
        gains = torch.tensor([gains for _, gains, _ in frames], dtype=torch.float32).reshape(-1, groups)
        return StoredLatent(header, torch.from_numpy(q), gains[:, 0] if groups == 1 else gains)


# -- images --------------------------------------------------------------------------------
def _compress_image(
    fo: IO[bytes], model: WallocCodec, entropy: Any, signal: torch.Tensor, metadata: dict
) -> None:
    alpha = signal[model.config.channels :] if signal.shape[0] > model.config.channels else None
    latent = model.encode(signal[: model.config.channels])
    height, width = latent.size
    header = _header(
        model,
        entropy.name,
        model.config.channels,
        size=(height, width),
        padding=model.config.padding((height, width)),
        tile=(TILE, TILE),
        mode=wlc.image_mode(signal.shape[0]),
        alpha=alpha is not None,
    )
    writer = wlc.WlcWriter(fo, header)
    _write_metadata(writer, metadata)
    q = latent.q.cpu().numpy()
    for row in range(0, q.shape[1], TILE):
        for col in range(0, q.shape[2], TILE):
            writer.write_chunk(wlc.LATENT, entropy.encode(q[:, row : row + TILE, col : col + TILE]))
    if alpha is not None:
        writer.write_chunk(wlc.ALPHA, _encode_alpha(alpha))
    writer.close()


def _read_image(reader: wlc.WlcReader, codec: WallocCodec | None, partial: bool) -> CodedImage:
    """``read_image`` on a reader positioned at the first data chunk."""
    header = reader.header
    if header.modality != "image":
        raise ContainerError("this .wlc file holds audio, not an image")
    model = codec if codec is not None else codec_for(header)
    _check_fits(model.config, model.name, header)
    q, alpha, damage = _read_image_chunks(reader, get_coder(header.coder), partial)
    if header.alpha and alpha is None:
        alpha = np.full(header.size, 255, np.uint8)  # type: ignore[arg-type]
    latent = Latent(q=torch.from_numpy(q), size=header.size)  # type: ignore[arg-type]
    return CodedImage(header, dict(reader.metadata), model, latent, alpha, damage)


def _read_image_chunks(
    reader: wlc.WlcReader, entropy: Any, partial: bool
) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """The int8 latent, the alpha plane (or None) and what was damaged (``read_image``).

    The caller has checked that the header fits a codec, so the latent is allocated only
    for a codec's shape.
    """
    header = reader.header
    (tile_height, tile_width), (tile_rows, tile_cols) = header.tile, header.tile_grid
    q = np.zeros((header.latent_channels, *header.latent_grid), np.int8)
    alpha, damage, tiles = None, None, 0
    try:
        for kind, payload in reader.data_chunks():
            if kind == wlc.LATENT and tiles < tile_rows * tile_cols:
                top, left = (tiles // tile_cols) * tile_height, (tiles % tile_cols) * tile_width
                window = q[:, top : top + tile_height, left : left + tile_width]
                window[...] = entropy.decode(payload, window.shape)
                tiles += 1
            elif kind == wlc.ALPHA and header.alpha and alpha is None:
                alpha = _decode_alpha(payload, header.size)  # type: ignore[arg-type]
            else:
                raise ContainerError(f"unexpected {kind.decode()!r} chunk in a .wlc image")
        if tiles != tile_rows * tile_cols or header.alpha != (alpha is not None):
            raise ContainerError("corrupt .wlc image: chunks missing")
    except ContainerError as exc:
        if not partial:
            raise
        damage = str(exc)
    return q, alpha, damage


def _reduce_plane(plane: np.ndarray, reduce: int) -> np.ndarray:
    """Average ``2**reduce``-pixel blocks centred on pixels ``i * 2**reduce``, like the colour."""
    if not reduce:
        return plane
    step = 1 << reduce
    height, width = (-(-n >> reduce) for n in plane.shape)
    half = step // 2
    after = [max(0, n * step - half - size) for n, size in zip((height, width), plane.shape)]
    padded = np.pad(plane, ((half, after[0]), (half, after[1])), mode="edge")
    padded = padded[: height * step, : width * step]
    sums = padded.reshape(height, step, width, step).sum(axis=(1, 3), dtype=np.uint32)
    return ((sums + step * step // 2) // (step * step)).astype(np.uint8)


def _encode_alpha(alpha: torch.Tensor) -> bytes:
    from PIL import Image

    plane = (alpha[0] * 255).round().to(torch.uint8).cpu().numpy()
    out = io.BytesIO()
    Image.fromarray(plane, "L").save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _decode_alpha(payload: bytes, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(payload), formats=["PNG"]) as image:
            if image.mode != "L" or image.size != size[::-1]:
                raise ContainerError(f"corrupt .wlc alpha plane: {image.mode} {image.size}")
            return np.asarray(image)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        if isinstance(exc, ContainerError):
            raise
        raise ContainerError(f"corrupt .wlc alpha plane: {exc}") from None


def _image_tensor(array: Any) -> torch.Tensor:
    """``[H, W]`` or ``[H, W, C]`` uint8/float array to a float ``[C, H, W]`` tensor in [0, 1]."""
    x = np.asarray(array)
    if x.ndim not in (2, 3) or 0 in x.shape:
        raise InputError(f"an image must be [H, W] or [H, W, C], got shape {x.shape}")
    if x.dtype == np.uint8:
        t = torch.from_numpy(x.astype(np.float32) / 255)
    elif x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise InputError("image contains NaN or infinite values")
        t = torch.from_numpy(np.clip(x, 0, 1).astype(np.float32))
    else:
        raise InputError(f"an image must be uint8 or float in [0, 1], got {x.dtype}")
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1)


# -- audio ---------------------------------------------------------------------------------
FRAME_BATCH = 16  # full frames per codec call when encoding
OVERLAP_POSITIONS = 2  # latent positions each audio frame also codes of the next one's samples


def channel_groups(channels: int, width: int) -> np.ndarray:
    """Which signal channels a codec of ``width`` channels codes together: int ``[G, width]``.

    Channels fill the groups in order and the last group repeats its last channel where it
    runs short: mono on a stereo codec is ``[[0, 0]]``, 5.1 is ``[[0, 1], [2, 3], [4, 5]]``.
    Decoding averages the copies of a repeated channel.
    """
    slots = np.arange(-(-channels // width) * width)
    return np.minimum(slots, channels - 1).reshape(-1, width)


def audio_header(model: WallocCodec, channels: int, coder: str = DEFAULT_CODER, **fields: Any) -> wlc.WlcHeader:
    """The header of a .wlc stream of ``channels`` coded by the audio codec ``model``.

    ``fields`` are the optional ones: ``num_samples`` (when known in advance) and
    ``source_rate`` (when the signal was resampled to the codec's rate).
    """
    return _header(model, coder, channels, **fields)


def audio_overlap(config: CodecConfig) -> int:
    """Samples past its end that each full frame of the streams we write also codes (the
    header's ``overlap``): two latent positions, 512 samples at J = 8. Decoding cross-fades
    them with the next frame's first samples, which hides the error a frame has at its ends
    (each frame is transformed alone, as if periodic)."""
    return min(OVERLAP_POSITIONS * config.stride, config.frame_length - config.stride)


def encode_audio_frames(model: WallocCodec, audio: np.ndarray) -> Iterator[tuple[int, list[float], np.ndarray]]:
    """Split float32 ``[T, C]`` audio into frames and encode each alone.

    A frame takes ``frame_length - overlap`` new samples and codes them with the ``overlap``
    samples after them (``audio_overlap``; past the end, the last sample repeated); a last,
    shorter frame codes just its own. Any channel count is coded in the groups of ``channel_groups``. Yields
    ``(samples, gains, q)``: the new samples, a gain per group and ``q`` int8 ``[G * D, t]``,
    the groups' latents stacked. Full frames are encoded in batches for speed.
    """
    return _encode_run(model, audio, len(audio))


def encode_audio_stream(model: WallocCodec, blocks: Iterable[np.ndarray]) -> Iterator[tuple[int, list[float], np.ndarray]]:
    """``encode_audio_frames`` on a stream of float32 ``[n, C]`` blocks of any sizes.

    A frame is encoded as soon as the blocks bring its samples and its overlap, so memory
    holds about one frame (or one batch of frames) however long the stream is.
    """
    overlap = audio_overlap(model.config)
    hop = model.config.frame_length - overlap
    pending: list[np.ndarray] = []
    count = 0
    for block in blocks:
        pending.append(block)
        count += len(block)
        if count >= model.config.frame_length:
            run = np.concatenate(pending)
            ready = (count - overlap) // hop * hop  # new samples of the frames whose overlap has come
            yield from _encode_run(model, run, ready)
            pending, count = [run[ready:]], count - ready
    if count:
        yield from _encode_run(model, np.concatenate(pending), count)


def decode_audio_frames(
    model: WallocCodec, entropy: Any, header: wlc.WlcHeader, chunks: Iterator[tuple[bytes, bytes]]
) -> Iterator[np.ndarray]:
    """Decode FRAM chunks one by one to float32 ``[C, samples]`` arrays (progressive).

    Each frame's first ``overlap`` samples are cross-faded from the previous frame's decoding
    of them (see docs/format.md).
    """
    _check_fits(model.config, model.name, header)
    groups = len(channel_groups(header.channels, model.config.channels))
    overlap = header.overlap or 0
    fade = np.sin(np.pi * (np.arange(overlap) + 0.5) / (2 * overlap)) ** 2
    tail = None
    for num_samples, gains, q in _audio_latents(entropy, header, model.config, chunks, groups):
        q_groups = torch.from_numpy(q.reshape(groups, header.latent_channels, -1).copy())
        gain = torch.tensor(gains, dtype=torch.float32)
        latent = Latent(q=q_groups, size=(_coded_samples(header, num_samples),), gain=gain)
        decoded = _ungroup(model.decode(latent).cpu().numpy(), header.channels)
        frame = decoded[:, :num_samples]
        if tail is not None:
            shared = min(overlap, num_samples)
            frame[:, :shared] = tail[:, :shared] + (frame[:, :shared] - tail[:, :shared]) * fade[:shared]
        tail = decoded[:, num_samples:]
        yield frame


def _encode_run(model: WallocCodec, audio: np.ndarray, samples: int) -> Iterator[tuple[int, list[float], np.ndarray]]:
    """Encode the frames that take the first ``samples`` samples of ``audio`` (a whole number
    of frames, unless they end the stream); later samples are the last frame's overlap."""
    cfg = model.config
    overlap = audio_overlap(cfg)
    hop, frame = cfg.frame_length - overlap, cfg.frame_length
    groups = torch.from_numpy(channel_groups(audio.shape[1], cfg.channels).ravel())
    signal = torch.from_numpy(np.ascontiguousarray(audio)).T  # [C, T], a view
    full = samples // hop
    inside = min(full, max(0, (len(audio) - frame) // hop + 1))  # full frames whose overlap is in `audio`
    for first in range(0, inside, FRAME_BATCH):
        count = min(inside - first, FRAME_BATCH)
        frames = signal[:, first * hop : (first + count - 1) * hop + frame].unfold(1, frame, hop)  # [C, B, n] view
        yield from _encode_frames(model, frames.transpose(0, 1), groups, hop)
    for start in range(inside * hop, full * hop, hop):  # a last full frame, its overlap past the end
        yield from _encode_frames(model, torch.from_numpy(_segment(audio, start, frame)).T[None], groups, hop)
    if samples > full * hop:
        yield from _encode_frames(model, signal[None, :, full * hop : samples], groups, samples - full * hop)


def _segment(audio: np.ndarray, start: int, length: int) -> np.ndarray:
    """``audio[start : start + length]``, the last sample repeated where the audio runs out."""
    piece = audio[start : start + length]
    return np.concatenate([piece, np.repeat(piece[-1:], length - len(piece), axis=0)])


def _encode_frames(
    model: WallocCodec, frames: torch.Tensor, groups: torch.Tensor, samples: int
) -> Iterator[tuple[int, list[float], np.ndarray]]:
    """Encode ``[B, C, n]`` frames (any strides) in the channel ``groups`` (flat indices); each
    frame adds ``samples`` to the stream."""
    signal = frames.index_select(1, groups)  # one copy, [B, G * k, n]
    latent = model.encode(signal.reshape(len(signal), -1, model.config.channels, signal.shape[-1]))
    for q, gains in zip(latent.q.cpu().numpy(), latent.gain.tolist()):  # type: ignore[union-attr]
        yield samples, gains, q.reshape(-1, q.shape[-1])


def _ungroup(decoded: np.ndarray, channels: int) -> np.ndarray:
    """``[G, k, samples]`` decoded groups to ``[channels, samples]``, copies averaged."""
    flat = decoded.reshape(-1, decoded.shape[-1])
    if len(flat) == channels:
        return flat
    signal = flat[:channels].copy()
    signal[-1] = flat[channels - 1 :].mean(axis=0)
    return signal


def _audio_latents(
    entropy: Any,
    header: wlc.WlcHeader,
    config: CodecConfig,
    chunks: Iterator[tuple[bytes, bytes]],
    groups: int,
) -> Iterator[tuple[int, tuple[float, ...], np.ndarray]]:
    """Entropy-decode FRAM chunks to ``(samples, gains, q)``, ``q`` int8 ``[groups * D, t]``."""
    hop = header.frame_length - (header.overlap or 0)  # type: ignore[operator]
    short = False
    for kind, payload in chunks:
        if kind != wlc.FRAME:
            raise ContainerError(f"unexpected {kind.decode()!r} chunk in a .wlc audio stream")
        num_samples, gains, coded = wlc.unpack_frame(payload, groups)
        if num_samples > hop or short:
            raise ContainerError(f"corrupt .wlc audio stream: a frame of {num_samples} samples where "
                                 f"{'none' if short else f'at most {hop}'} may follow")
        short = num_samples < hop  # only the last frame may be short
        shape = (groups * header.latent_channels, *config.latent_size((_coded_samples(header, num_samples),)))
        yield num_samples, gains, entropy.decode(coded, shape)


def _coded_samples(header: wlc.WlcHeader, samples: int) -> int:
    """Samples a frame codes: its own, and the overlap after them unless it is a short last one."""
    overlap = header.overlap or 0
    return samples + overlap if samples == header.frame_length - overlap else samples  # type: ignore[operator]


def _audio_array(array: Any) -> np.ndarray:
    """``[T]`` or ``[T, C]`` float/int16 audio as float32 ``[T, C]`` in [-1, 1]."""
    x = np.asarray(array)
    if x.ndim not in (1, 2) or 0 in x.shape:
        raise InputError(f"audio must be [T] or [T, C], got shape {x.shape}")
    if x.dtype == np.int16:
        return (x.astype(np.float32) / 32768).reshape(len(x), -1)
    if x.dtype.kind != "f":
        raise InputError(f"audio must be float in [-1, 1] or int16, got {x.dtype}")
    return np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), -1)


# -- shared --------------------------------------------------------------------------------
def _bar(frames: Iterator[Any], samples: int | None, action: str, enabled: bool) -> Iterator[Any]:
    """Pass audio frames through, counting samples on a tqdm bar on stderr when enabled."""
    if not enabled:
        yield from frames
        return
    from tqdm import tqdm

    with tqdm(total=samples, desc=action, unit="sample", unit_scale=True, leave=False) as bar:
        for frame in frames:
            bar.update(frame[0] if isinstance(frame, tuple) else frame.shape[1])
            yield frame


def _resolve_codec(codec: str | WallocCodec | None, modality: str, channels: int) -> WallocCodec:
    if isinstance(codec, torch.nn.Module):  # a loaded codec: ours or the authors' (reference)
        return codec
    if codec is None:
        if modality == "audio":
            key = ("audio", 2)  # any channel count is coded in groups of the stereo codec's two
        else:
            key = ("image", channels - 1 if channels in (2, 4) else channels)
        if key not in DEFAULT_CODECS:
            raise InputError(
                f"no default codec for {modality} with {channels} channels; pass codec=..."
            )
        codec = DEFAULT_CODECS[key]
    model = load_codec(codec)
    if modality == "image" and channels - model.config.channels not in (0, 1):
        raise InputError(
            f"codec {model.name!r} codes {model.config.channels} channels, got {channels}"
        )
    return model


def _header(model: WallocCodec, coder: str, channels: int, **fields: Any) -> wlc.WlcHeader:
    cfg = model.config
    if cfg.modality == "audio":
        fields.update(sample_rate=cfg.sample_rate, frame_length=cfg.frame_length, overlap=audio_overlap(cfg) or None)
    return wlc.WlcHeader(
        modality=cfg.modality,
        codec=model.name,
        weights=model.weights_sha256(),
        coder=coder,
        channels=channels,
        levels=cfg.levels,
        latent_channels=cfg.latent_dim,
        latent_bits=cfg.latent_bits,
        **fields,
    )


def _check_fits(cfg: CodecConfig, name: str, header: wlc.WlcHeader) -> None:
    channels = header.channels if header.modality == "image" else cfg.channels  # audio: any, in groups
    if (cfg.modality, cfg.channels, cfg.levels, cfg.latent_dim) != (
        header.modality,
        channels,
        header.levels,
        header.latent_channels,
    ):
        raise ContainerError(f"this .wlc file does not fit codec {name!r} ({cfg})")


def _check_metadata(metadata: Mapping[str, Any], modality: str) -> dict[str, Any]:
    unknown = sorted(set(metadata) - set(_METADATA_KEYS))
    if unknown:
        raise InputError(f"unknown metadata keys {unknown}; allowed: {list(_METADATA_KEYS)}")
    checked = {}
    for key, value in metadata.items():
        if value is None:
            continue
        if key == "tags":
            if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise InputError("metadata 'tags' must map str to str")
        elif not isinstance(value, (bytes, bytearray)):
            raise InputError(f"metadata {key!r} must be bytes, got {type(value).__name__}")
        checked[key] = value
    return checked


def _write_metadata(writer: wlc.WlcWriter, metadata: dict[str, Any]) -> None:
    kinds = {name: kind for kind, name in wlc.METADATA_CHUNKS.items()}
    for key, value in metadata.items():
        payload = wlc.encode_tags(value) if key == "tags" else bytes(value)
        writer.write_chunk(kinds[key], payload)
