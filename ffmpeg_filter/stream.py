"""The three streaming pipelines: encode (PCM -> .wlc), decode (.wlc -> PCM), filter (both).

PCM on either side may have any rate and channel count. It is resampled to the codec's rate
on the way in and back on the way out (``resample``), and its channels are coded in the
codec's channel groups (``walloc_plugins.api.channel_groups``): mono is duplicated onto a
stereo codec and averaged back, 5.1 is coded as three stereo pairs. A .wlc stream records
the source rate, channels and length, so ``decode`` restores all three.

Memory does not grow with the stream: blocks of ``pcm.BLOCK`` samples are read, one codec
frame is buffered, and each frame is written (and flushed) as soon as it is coded. The
latency is therefore one frame (``frame_length`` samples at the codec's rate: 2.97 s for the
shipped stereo codecs) plus the resampler's delay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np

from walloc_plugins import container as wlc
from walloc_plugins.api import (
    DEFAULT_CODECS,
    DEFAULT_CODER,
    audio_header,
    channel_groups,
    codec_for,
    decode_audio_frames,
    encode_audio_stream,
)
from walloc_plugins.codec import WallocCodec
from walloc_plugins.errors import ContainerError, InputError
from walloc_plugins.registry import get_coder, load_codec
from walloc_plugins.wav import WavFormat

from .pcm import PcmWriter, RawFormat, read_pcm, wav_bits
from .resample import resample_stream, resampled_length

__all__ = ["DEFAULT_CODEC", "StreamReport", "decode_stream", "encode_stream", "filter_stream"]

DEFAULT_CODEC = DEFAULT_CODECS[("audio", 2)]
log = logging.getLogger("walloc-ffmpeg")


@dataclass(frozen=True)
class StreamReport:
    """What a pipeline did: the PCM side's format and length, the bytes of coded latents (the
    .wlc stream less its header and 20 to 30 bytes a frame) and the seconds it took."""

    codec: str
    sample_rate: int
    channels: int
    samples: int
    coded_bytes: int
    seconds: float

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return self.samples / self.sample_rate

    def summary(self, action: str) -> str:
        """One line for the log."""
        kbit = self.coded_bytes * 8 / max(self.duration, 1e-9) / 1000
        speed = self.duration / max(self.seconds, 1e-9)
        return (
            f"{action} {self.duration:.1f} s of {self.sample_rate} Hz {self.channels}-channel audio "
            f"with {self.codec}: {kbit:.1f} kbit/s, {speed:.0f}x real time"
        )


def encode_stream(
    src: IO[bytes],
    dst: IO[bytes],
    codec: str | None = None,
    *,
    coder: str = DEFAULT_CODER,
    raw: RawFormat | None = None,
    progress: bool = False,
) -> StreamReport:
    """Encode a WAV stream (or ``raw`` PCM) from ``src`` into a .wlc stream on ``dst``.

    ``dst`` may be a pipe: nothing is sought, and each frame is flushed once coded.

    Raises:
        InputError: not a WAV stream, an unsupported sample format, or a stream that ends
            before its stated size.
        UnknownCodecError, UnknownCoderError: no such codec or entropy coder.
    """
    clock = time.perf_counter()
    model, entropy = _audio_codec(codec), get_coder(coder)
    fmt, blocks = read_pcm(src, raw)
    rate = model.config.sample_rate
    source_rate = None if fmt.sample_rate == rate else fmt.sample_rate
    known = None if fmt.frames is None else resampled_length(fmt.frames, fmt.sample_rate, rate)
    header = audio_header(
        model, fmt.channels, entropy.name, num_samples=known, source_rate=source_rate
    )
    _log_plan("encode", fmt, model)
    writer = wlc.WlcWriter(dst, header)
    source = _Samples(blocks, fmt.frames, progress, "encoding")
    coded = 0
    for samples, gains, latent in _coded_frames(model, entropy, fmt, source):
        writer.write_frame(samples, gains, latent)
        dst.flush()
        coded += len(latent)
    writer.close(source.samples if source_rate else None)
    return StreamReport(
        model.name,
        fmt.sample_rate,
        fmt.channels,
        source.samples,
        coded,
        time.perf_counter() - clock,
    )


def decode_stream(
    src: IO[bytes], dst: IO[bytes], *, output_format: str = "wav", progress: bool = False
) -> StreamReport:
    """Decode a .wlc audio stream from ``src`` to 16-bit WAV (or raw s16le / f32le) on ``dst``.

    The output has the rate, channels and length the encoder was given. The WAV header has
    exact sizes when the .wlc header announces the length (or ``dst`` can seek back);
    otherwise they are marked unknown, as ffmpeg does on pipes.

    Raises:
        ContainerError: not a .wlc audio stream, or a damaged one (``TruncatedError`` when it
            ends early); what was decoded before the damage has been written.
        UnknownCodecError, CodecMismatchError: the codec that wrote it is not installed.
    """
    clock = time.perf_counter()
    reader = wlc.WlcReader(src)
    header = reader.header
    if header.modality != "audio":
        raise ContainerError(
            "this .wlc stream holds an image; decode it with `walloc decode` or Pillow"
        )
    model, entropy = codec_for(header), get_coder(header.coder)
    rate: int = header.source_rate or header.sample_rate  # type: ignore[assignment]
    raw = None if output_format == "wav" else RawFormat(output_format, rate, header.channels)
    known = header.num_samples if header.source_rate is None else None
    log.debug(
        "input: .wlc stream of %s, %d channels at %d Hz (coded at %d Hz)",
        model.name,
        header.channels,
        rate,
        header.sample_rate,
    )
    bits = 16 if raw is None else raw.bits
    writer = PcmWriter(dst, rate, header.channels, bits, known, raw=raw is not None)
    coded = 0

    def chunks() -> Iterator[tuple[bytes, bytes]]:
        nonlocal coded
        for kind, payload in reader.data_chunks():
            coded += len(payload)
            yield kind, payload

    decoded = decode_audio_frames(model, entropy, header, chunks())
    blocks = _pcm_blocks(
        decoded,
        header.sample_rate,
        rate,
        header.channels,
        lambda: _source_length(reader),  # type: ignore[arg-type]
    )
    for block in _Samples(blocks, known, progress, "decoding"):
        writer.write(block)
        dst.flush()
    writer.close()
    return StreamReport(
        model.name, rate, header.channels, writer.written, coded, time.perf_counter() - clock
    )


def filter_stream(
    src: IO[bytes],
    dst: IO[bytes],
    codec: str | None = None,
    *,
    coder: str = DEFAULT_CODER,
    raw: RawFormat | None = None,
    progress: bool = False,
) -> StreamReport:
    """Encode and decode in one pass: what a listener of the .wlc stream would hear.

    The output has the input's rate, channels, length and sample format (8-bit PCM comes
    back as 16-bit, float64 as float32); raw input gives raw output in the same format.
    The report's ``coded_bytes`` are those of the latents ``encode`` would write.
    """
    clock = time.perf_counter()
    model, entropy = _audio_codec(codec), get_coder(coder)
    fmt, blocks = read_pcm(src, raw)
    _log_plan("filter", fmt, model)
    bits = raw.bits if raw is not None else wav_bits(fmt)
    writer = PcmWriter(dst, fmt.sample_rate, fmt.channels, bits, fmt.frames, raw=raw is not None)
    source = _Samples(blocks, fmt.frames, progress, "filtering")
    coded = 0

    def chunks() -> Iterator[tuple[bytes, bytes]]:  # what `encode` would write, read back
        nonlocal coded
        for samples, gains, latent in _coded_frames(model, entropy, fmt, source):
            coded += len(latent)
            yield wlc.FRAME, wlc.pack_frame(samples, gains, latent)

    decoded = decode_audio_frames(
        model, entropy, audio_header(model, fmt.channels, entropy.name), chunks()
    )
    rate = model.config.sample_rate
    for block in _pcm_blocks(decoded, rate, fmt.sample_rate, fmt.channels, lambda: source.samples):
        writer.write(block)
        dst.flush()
    writer.close()
    return StreamReport(
        model.name,
        fmt.sample_rate,
        fmt.channels,
        source.samples,
        coded,
        time.perf_counter() - clock,
    )


def _audio_codec(name: str | None) -> WallocCodec:
    model = load_codec(name or DEFAULT_CODEC)
    if model.config.modality != "audio":
        raise InputError(
            f"codec {model.name!r} codes images; pick an audio codec (see `walloc codecs`)"
        )
    return model


def _coded_frames(
    model: WallocCodec, entropy: object, fmt: WavFormat, source: _Samples
) -> Iterator[tuple[int, list[float], bytes]]:
    """``(samples, gains, coded latent)`` of each frame of the PCM stream, at the codec's rate."""
    rate = model.config.sample_rate
    blocks = resample_stream(
        source,
        fmt.sample_rate,
        rate,
        fmt.channels,
        lambda: resampled_length(source.samples, fmt.sample_rate, rate),
    )
    for samples, gains, q in encode_audio_stream(model, blocks):
        yield samples, gains, entropy.encode(q)  # type: ignore[attr-defined]


def _pcm_blocks(
    decoded: Iterable[np.ndarray], rate: int, rate_out: int, channels: int, total: Callable[[], int]
) -> Iterator[np.ndarray]:
    """Decoded ``[C, n]`` frames as ``[n, C]`` blocks at ``rate_out``, ``total()`` samples in all.

    The resampler holds back enough samples that the stream can end where the source length
    says, up to one codec-rate sample before the decoded frames would.
    """
    reserve = -(-rate_out // rate) + 1
    return resample_stream((frame.T for frame in decoded), rate, rate_out, channels, total, reserve)


def _source_length(reader: wlc.WlcReader) -> int:
    """The stream's length at its source rate, checked against the coded length."""
    header, samples = reader.header, reader.source_samples
    rates = (header.source_rate, header.sample_rate)
    if samples is None or resampled_length(samples, *rates) != reader.num_samples:  # type: ignore[arg-type]
        raise ContainerError(
            f"corrupt .wlc stream: {samples} samples at {header.source_rate} Hz do not give the "
            f"{reader.num_samples} coded at {header.sample_rate} Hz"
        )
    return samples


def _log_plan(action: str, fmt: WavFormat, model: WallocCodec) -> None:
    groups = channel_groups(fmt.channels, model.config.channels)
    length = "length unknown" if fmt.frames is None else f"{fmt.frames / fmt.sample_rate:.2f} s"
    log.debug(
        "%s: %d Hz, %d channels, %s; %s at %d Hz in %d channel group(s) %s; latency one frame, %.2f s",
        action,
        fmt.sample_rate,
        fmt.channels,
        length,
        model.name,
        model.config.sample_rate,
        len(groups),
        groups.tolist(),
        model.config.frame_length / model.config.sample_rate,  # type: ignore[operator]
    )


class _Samples:
    """Passes PCM blocks through, counting their samples, on a progress bar when asked (and
    stderr is a terminal)."""

    def __init__(
        self, blocks: Iterable[np.ndarray], total: int | None, progress: bool, action: str
    ) -> None:
        self._blocks, self._total, self._progress, self._action = blocks, total, progress, action
        self.samples = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        from tqdm import tqdm

        with tqdm(
            total=self._total,
            desc=self._action,
            unit="sample",
            unit_scale=True,
            leave=False,
            disable=None if self._progress else True,
        ) as bar:
            for block in self._blocks:
                self.samples += len(block)
                bar.update(len(block))
                yield block
