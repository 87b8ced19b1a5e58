"""The .wlc container on its own: framing, checksums, validation of hostile headers."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zlib

import pytest

from walloc_plugins import (
    ContainerError,
    TruncatedError,
    UnsupportedVersionError,
    WlcHeader,
    is_wlc,
)
from walloc_plugins import container as wlc

IMAGE_FIELDS = dict(
    modality="image", codec="rgb-16x", weights="ab" * 32, coder="zlib", channels=3, levels=3,
    latent_channels=12, latent_bits=8, size=(45, 61), padding=((0, 3), (0, 3)), tile=(256, 256), mode="RGB",
)
AUDIO_FIELDS = dict(
    modality="audio", codec="stereo-20x", weights="cd" * 32, coder="webp", channels=2, levels=8,
    latent_channels=27, latent_bits=8, sample_rate=44100, frame_length=1 << 17,
)


def write(header: WlcHeader, chunks=((wlc.LATENT, b"latent"),)) -> bytes:
    out = io.BytesIO()
    writer = wlc.WlcWriter(out, header)
    for kind, payload in chunks:
        writer.write_chunk(kind, payload)
    writer.close()
    return out.getvalue()


def raw_file(fields: dict, version: int = 1, modality: bytes = b"I") -> bytes:
    """A file whose header JSON is written as given, bypassing WlcHeader's validation."""
    text = json.dumps(fields).encode()
    prefix = wlc.PREFIX.pack(wlc.MAGIC, version, modality, 0, len(text))
    return prefix + text + struct.pack("<I", zlib.crc32(text))


def read_all(data: bytes):
    reader = wlc.WlcReader(io.BytesIO(data))
    return reader, list(reader.data_chunks())


def test_round_trip_with_metadata():
    header = WlcHeader(**IMAGE_FIELDS)
    data = write(header, [(wlc.EXIF, b"Exif\x00\x00MM"), (wlc.ICC, b"icc"), (wlc.LATENT, b"q" * 100)])
    assert is_wlc(data[:16]) and len(wlc.MAGIC) == 8
    reader, chunks = read_all(data)
    assert reader.header == header
    assert reader.metadata == {"exif": b"Exif\x00\x00MM", "icc_profile": b"icc"}
    assert chunks == [(wlc.LATENT, b"q" * 100)]
    assert header.latent_grid == (6, 8) and header.tile_grid == (1, 1)


def test_audio_frames_and_end_counts():
    out = io.BytesIO()
    writer = wlc.WlcWriter(out, WlcHeader(**AUDIO_FIELDS))
    writer.write_chunk(wlc.TAGS, wlc.encode_tags({"title": "Blues", "artist": "Ünïcode"}))
    writer.write_frame(131072, [0.5], b"frame-1")
    writer.write_frame(1000, [0.25], b"frame-2")
    writer.close()
    reader, chunks = read_all(out.getvalue())
    assert reader.metadata["tags"]["artist"] == "Ünïcode"
    assert [wlc.unpack_frame(p) for _, p in chunks] == [(131072, (0.5,), b"frame-1"), (1000, (0.25,), b"frame-2")]
    assert reader.num_samples == 132072 and reader.source_samples is None


def test_channel_groups_and_source_rate():
    header = WlcHeader(**{**AUDIO_FIELDS, "channels": 6, "source_rate": 48000})
    out = io.BytesIO()
    writer = wlc.WlcWriter(out, header)
    writer.write_frame(1000, [0.5, 0.25, 0.125], b"frame")
    with pytest.raises(ContainerError, match="source_rate"):
        writer.close()
    writer.close(source_samples=1089)
    reader, chunks = read_all(out.getvalue())
    assert reader.header == header and reader.source_samples == 1089
    assert wlc.unpack_frame(chunks[0][1], groups=3) == (1000, (0.5, 0.25, 0.125), b"frame")
    plain = write(WlcHeader(**AUDIO_FIELDS), [(wlc.FRAME, wlc.pack_frame(5, [1.0], b""))])
    chunks_start = wlc.PREFIX_SIZE + wlc.PREFIX.unpack_from(plain)[4] + 4
    fields = {**json.loads(plain[wlc.PREFIX_SIZE : chunks_start - 4]), "source_rate": 48000}
    with pytest.raises(ContainerError, match="END chunk"):  # END without the source samples
        read_all(raw_file(fields, modality=b"A") + plain[chunks_start:])
    with pytest.raises(ContainerError, match="source_rate"):
        WlcHeader(**{**IMAGE_FIELDS, "source_rate": 48000})
    for overlap in (0, 1 << 17, -5, "512"):
        with pytest.raises(ContainerError, match="overlap"):
            WlcHeader(**{**AUDIO_FIELDS, "overlap": overlap})


def test_every_truncation_is_detected():
    data = write(WlcHeader(**IMAGE_FIELDS), [(wlc.XMP, b"<x/>"), (wlc.LATENT, b"payload")])
    for cut in range(len(data)):
        with pytest.raises(ContainerError):
            read_all(data[:cut])
    with pytest.raises(TruncatedError):
        read_all(data[:-3])


def test_every_flipped_byte_is_detected():
    data = write(WlcHeader(**IMAGE_FIELDS), [(wlc.LATENT, b"payload")])
    for position in range(len(data)):
        corrupt = bytearray(data)
        corrupt[position] ^= 0xFF
        with pytest.raises(ContainerError):
            read_all(bytes(corrupt))


def test_lost_chunk_is_detected_by_the_end_counts():
    header = WlcHeader(**IMAGE_FIELDS)
    one, two = write(header, [(wlc.LATENT, b"a")]), write(header, [(wlc.LATENT, b"a"), (wlc.LATENT, b"b")])
    chunk = len(two) - len(one)
    end = two[-(4 + 4 + wlc.END_PAYLOAD.size + 4) :]
    without_second = two[: len(two) - len(end) - chunk] + end
    with pytest.raises(ContainerError, match="END chunk counts"):
        read_all(without_second)


def test_wrong_magic_and_newer_version():
    data = write(WlcHeader(**IMAGE_FIELDS))
    assert not is_wlc(b"\x89PNG\r\n\x1a\n" + data[8:16]) and not is_wlc(data[:15])
    with pytest.raises(ContainerError, match="bad magic"):
        read_all(b"GIF89a" + data[6:])
    newer = bytearray(data)
    newer[8] = wlc.FORMAT_VERSION + 1
    with pytest.raises(UnsupportedVersionError, match="upgrade"):
        read_all(bytes(newer))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": [1 << 20, 1 << 20]}, "size"),
        ({"size": [0, 10]}, "size"),
        ({"size": [-5, 10]}, "size"),
        ({"size": ["a", 10]}, "size"),
        ({"padding": [[0, 2], [0, 3]]}, "padding"),
        ({"padding": [[0, 300], [0, 3]]}, "padding"),
        ({"tile": [0, 256]}, "tile"),
        ({"latent_channels": 10**9}, "latent_channels"),
        ({"levels": 40}, "levels"),
        ({"latent_bits": 16}, "latent_bits"),
        ({"weights": "xyz"}, "weights"),
        ({"codec": ""}, "codec"),
        ({"sample_rate": 44100}, "sample_rate"),
        ({"surprise": 1}, "unknown keys"),
    ],
)
def test_hostile_image_headers_are_rejected(change, message):
    fields = {k: v for k, v in IMAGE_FIELDS.items() if k != "modality"}
    fields.update(change)
    with pytest.raises(ContainerError, match=message):
        read_all(raw_file(fields))


def test_hostile_audio_headers_are_rejected():
    fields = {k: v for k, v in AUDIO_FIELDS.items() if k != "modality"}
    for change in ({"frame_length": 1000}, {"channels": 5000}, {"num_samples": -1}, {"size": [4, 4]}):
        with pytest.raises(ContainerError):
            read_all(raw_file({**fields, **change}, modality=b"A"))


def test_header_that_is_not_json_or_too_long():
    with pytest.raises(ContainerError, match="JSON"):
        text = b"\xff\xfe not json"
        prefix = wlc.PREFIX.pack(wlc.MAGIC, 1, b"I", 0, len(text))
        read_all(prefix + text + struct.pack("<I", zlib.crc32(text)))
    with pytest.raises(ContainerError, match="header length"):
        read_all(wlc.PREFIX.pack(wlc.MAGIC, 1, b"I", 0, 1 << 30) + b"{}")


def test_lying_chunk_length_allocates_nothing():
    fields = {k: v for k, v in IMAGE_FIELDS.items() if k != "modality"}
    hostile = raw_file(fields) + wlc.CHUNK_HEAD.pack(wlc.LATENT, wlc.MAX_CHUNK_BYTES) + b"tiny"
    tracemalloc.start()
    try:
        with pytest.raises(TruncatedError):
            read_all(hostile)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    with pytest.raises(ContainerError, match="chunk header"):
        read_all(raw_file(fields) + wlc.CHUNK_HEAD.pack(wlc.LATENT, wlc.MAX_CHUNK_BYTES + 1))


def test_unknown_chunks_are_skipped():
    data = write(WlcHeader(**IMAGE_FIELDS), [(b"zzzz", b"future"), (wlc.LATENT, b"x")])
    assert read_all(data)[1] == [(wlc.LATENT, b"x")]
