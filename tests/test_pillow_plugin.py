"""The Pillow door on real photos: open, load, save, modes, metadata, draft, errors, threads."""

from __future__ import annotations

import io
import json
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import DEV_IMAGES
from helpers import psnr
from PIL import Image, ImageFile, UnidentifiedImageError

import pillow_codec
import walloc_plugins as wp
from walloc_plugins import container as wlc

PHOTO = DEV_IMAGES / "jxl-flower.png"  # 768x512 RGB with an ICC profile


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with Image.open(PHOTO) as image:
        image.load()
        return image


@pytest.fixture(scope="module")
def photo_wlc(photo, tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("wlc") / "flower.wlc"
    photo.save(path)
    return path.read_bytes()


def open_bytes(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def with_header(data: bytes, **changes) -> bytes:
    """``data`` with header fields replaced and the header checksum recomputed."""
    length = wlc.PREFIX.unpack_from(data)[4]
    fields = json.loads(data[16 : 16 + length])
    fields.update(changes)
    text = json.dumps(fields).encode()
    prefix = data[:12] + struct.pack("<I", len(text))
    return prefix + text + struct.pack("<I", zlib.crc32(text)) + data[16 + length + 4 :]


def test_registered_with_pillow():
    assert Image.registered_extensions()[".wlc"] == "WLC"
    assert Image.MIME["WLC"] == pillow_codec.MIME_TYPE == "image/x-wlc"
    assert "WLC" in Image.SAVE and Image.ID.count("WLC") == 1
    pillow_codec.register()  # idempotent
    assert Image.ID.count("WLC") == 1
    assert pillow_codec.registration.MAGIC == wlc.MAGIC


def test_walloc_registry_lists_the_door():
    """Needs the installed metadata (pip install -e .) to carry the walloc entry point."""
    found = {plugin.name: plugin for plugin in wp.plugins()}
    assert "pillow" in found and found["pillow"].error is None


def test_open_reads_the_header_and_metadata_only(photo, photo_wlc):
    class CountingReader(io.BytesIO):
        read_bytes = 0

        def read(self, size=-1):
            data = super().read(size)
            self.read_bytes += len(data)
            return data

    stream = CountingReader(photo_wlc)
    image = Image.open(stream)
    assert isinstance(image, pillow_codec.WlcImageFile)
    assert (image.format, image.mode, image.size) == ("WLC", "RGB", (768, 512))
    assert image.info["codec"] == "rgb-16x-linear"
    assert image.info["icc_profile"] == photo.info["icc_profile"]
    assert image.get_format_mimetype() == "image/x-wlc"
    # Pillow's 16-byte probe, then the header, the metadata and the head of the first LATN chunk
    assert stream.read_bytes == 16 + photo_wlc.index(wlc.LATENT) + wlc.CHUNK_HEAD.size
    image.load()
    assert np.array_equal(np.asarray(image), wp.decompress(photo_wlc))


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_modes_load_like_the_core(photo, mode):
    source = photo.convert(mode)
    if "A" in mode:  # a real, varying alpha: the photo's own brightness
        source.putalpha(photo.convert("L"))
    out = io.BytesIO()
    source.save(out, "WLC")
    image = open_bytes(out.getvalue())
    assert image.mode == mode and image.size == source.size
    loaded = np.asarray(image)
    assert np.array_equal(loaded, wp.decompress(out.getvalue()))
    if "A" in mode:
        assert np.array_equal(loaded[..., -1], np.asarray(source)[..., -1])  # lossless alpha
    colour = "L" if mode.startswith("L") else "RGB"
    assert psnr(np.asarray(source.convert(colour)), np.asarray(image.convert(colour))) > 26


@pytest.mark.parametrize(
    ("mode", "stored"),
    [("1", "L"), ("P", "RGB"), ("PA", "RGBA"), ("CMYK", "RGB"), ("YCbCr", "RGB"), ("RGBX", "RGB")],
)
def test_other_modes_convert_by_the_rule(photo, mode, stored):
    out = io.BytesIO()
    photo.convert(mode).save(out, "WLC")
    assert open_bytes(out.getvalue()).mode == stored


def test_palette_transparency_becomes_alpha(photo):
    palette = photo.convert("P")
    palette.info["transparency"] = 0
    out = io.BytesIO()
    palette.save(out, "WLC")
    assert open_bytes(out.getvalue()).mode == "RGBA"


@pytest.mark.parametrize("mode", ["I", "I;16", "F"])
def test_deep_modes_are_refused_before_anything_is_written(photo, tmp_path, mode):
    target = tmp_path / "deep.wlc"
    with pytest.raises(OSError, match=f"cannot write mode {mode} as WLC"):
        photo.convert("L").convert(mode).save(target)
    assert list(tmp_path.iterdir()) == []


def test_round_trip_through_pillow(tmp_path):
    for path in sorted(DEV_IMAGES.glob("*.png"))[:4]:
        with Image.open(path) as source:
            source.save(tmp_path / "x.wlc")
            with Image.open(tmp_path / "x.wlc") as image:
                assert image.format == "WLC" and image.size == source.size
                assert psnr(np.asarray(source.convert("RGB")), np.asarray(image)) > 27


def test_save_options(photo, tmp_path):
    photo.save(tmp_path / "x.wlc", codec="rgb-4x-linear", entropy_coder="zlib")
    header = wp.read_header(tmp_path / "x.wlc")
    assert (header.codec, header.coder) == ("rgb-4x-linear", "zlib")
    with Image.open(tmp_path / "x.wlc") as image:
        assert psnr(np.asarray(photo), np.asarray(image)) > 33  # 4x keeps more than 16x


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"codec": "rgb-1000x"}, wp.UnknownCodecError),
        ({"entropy_coder": "brotli"}, wp.UnknownCoderError),
        ({"codec": "gray-16x-linear"}, wp.InputError),
        ({"exif": 42}, wp.InputError),
    ],
)
def test_bad_options_fail_before_any_file_is_written(photo, tmp_path, options, error):
    with pytest.raises(error) as caught:
        photo.save(tmp_path / "x.wlc", **options)
    assert isinstance(caught.value, ValueError)
    assert list(tmp_path.iterdir()) == []  # Pillow removes the file it created; we wrote nothing
    if "codec" in options:
        assert options["codec"] in str(caught.value)


def test_metadata_survives_round_trips_byte_for_byte(photo, tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "WaLLoC test camera"  # Make
    exif[0x0112] = 6  # Orientation
    exif_bytes = exif.tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    icc = photo.info["icc_profile"]
    photo.save(tmp_path / "a.wlc", exif=exif_bytes, icc_profile=icc, xmp=xmp)
    with Image.open(tmp_path / "a.wlc") as first:
        assert (first.info["exif"], first.info["icc_profile"], first.info["xmp"]) == (
            exif_bytes,
            icc,
            xmp,
        )
        assert first.getexif()[0x010F] == "WaLLoC test camera"
        first.save(tmp_path / "b.wlc")  # metadata defaults to the image's info
        first.save(tmp_path / "c.wlc", exif=b"", xmp=exif)  # drop EXIF; an Image.Exif serialised
    with Image.open(tmp_path / "b.wlc") as second:
        assert {k: second.info[k] for k in ("exif", "icc_profile", "xmp")} == {
            "exif": exif_bytes,
            "icc_profile": icc,
            "xmp": xmp,
        }
    with Image.open(tmp_path / "c.wlc") as third:
        assert "exif" not in third.info and third.info["xmp"] == exif_bytes


@pytest.mark.parametrize(
    ("request_size", "reduce"), [((384, 256), 1), ((192, 100), 2), ((96, 64), 3), ((8, 8), 3)]
)
def test_draft_decodes_at_a_reduced_size(photo_wlc, request_size, reduce):
    image = open_bytes(photo_wlc)
    mode, box = image.draft("RGB", request_size)
    step = 1 << reduce
    assert mode == "RGB" and image.size == (768 // step, 512 // step)
    offset = 0.5 - 0.5 / step  # reduced pixel i is centred on pixel i * step
    assert box == pytest.approx((offset, offset, image.width, image.height), abs=1e-9)
    assert np.array_equal(np.asarray(image), wp.decompress(photo_wlc, reduce=reduce))
    assert image.draft("RGB", (10, 10)) is None  # loaded: no effect


def test_draft_to_full_size_or_none(photo_wlc):
    image = open_bytes(photo_wlc)
    assert image.draft("RGB", (1000, 1000)) is None and image.size == (768, 512)
    assert image.draft(None, None) is None
    image.draft("RGB", (96, 64))
    assert image.draft("RGB", (768, 512)) is None and image.size == (768, 512)  # back to full


@pytest.mark.parametrize("size", [(192, 128), (96, 64), (48, 32)])  # drafts at 1/2, 1/4, 1/8
def test_thumbnail_matches_one_from_the_full_decode(photo_wlc, size):
    reference = open_bytes(photo_wlc)
    reference.load()
    reference.thumbnail(size)
    fast = open_bytes(photo_wlc)
    fast.thumbnail(size)
    assert fast.size == reference.size and np.asarray(fast).shape == np.asarray(reference).shape
    # The box draft returns (centred lowpass) is worth ~4 dB over (0, 0, W/s, H/s) here.
    assert psnr(np.asarray(reference), np.asarray(fast)) > 30


def test_not_a_wlc_file_is_not_identified(tmp_path):
    (tmp_path / "x.wlc").write_bytes(b"\x89WLC but not really a file" * 3)
    with pytest.raises(UnidentifiedImageError):
        Image.open(tmp_path / "x.wlc")
    (tmp_path / "y.wlc").write_bytes(b"plain text, nothing else")
    with pytest.raises(UnidentifiedImageError):
        Image.open(tmp_path / "y.wlc")


def test_damaged_headers_and_audio_are_not_identified_with_a_reason(photo_wlc):
    corrupt = bytearray(photo_wlc)
    corrupt[20] ^= 0x01  # inside the JSON header: its checksum fails
    with pytest.raises(UnidentifiedImageError, match="checksum"):
        open_bytes(bytes(corrupt))
    with pytest.raises(UnidentifiedImageError, match="format version 9"):
        open_bytes(photo_wlc[:8] + b"\x09" + photo_wlc[9:])
    audio = wp.compress(np.zeros((1000, 2), np.float32), "stereo-20x-linear", sample_rate=44100)
    with pytest.raises(UnidentifiedImageError, match="audio"):
        open_bytes(audio)


def test_truncated_body_raises_oserror_at_load_or_decodes_partially(photo_wlc):
    without_end = photo_wlc[:-24]  # the END chunk: head, 12-byte payload, checksum
    mid_tile = photo_wlc[: len(photo_wlc) // 2]
    for cut in (without_end, mid_tile):
        image = open_bytes(cut)  # the header is intact: open works
        with pytest.raises(OSError, match="truncated"):
            image.load()
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        whole_tile, half_tile = open_bytes(without_end), open_bytes(mid_tile)
        whole_tile.load()
        half_tile.load()  # its only tile is lost: a zero latent's grey texture
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    assert np.array_equal(np.asarray(whole_tile), wp.decompress(photo_wlc))
    grey = np.asarray(half_tile).astype(int)
    assert np.abs(grey[8:] - grey[:-8]).max() <= 1


def test_missing_codec_is_named_at_load(photo_wlc):
    data = with_header(photo_wlc, codec="rgb-1000x", weights="0" * 64)
    image = open_bytes(data)
    assert image.info["codec"] == "rgb-1000x"
    with pytest.raises(OSError, match="unknown codec 'rgb-1000x'"):
        image.load()


def test_verify_checks_every_chunk_without_decoding(photo_wlc):
    open_bytes(photo_wlc).verify()
    corrupt = bytearray(photo_wlc)
    corrupt[-30] ^= 0x10  # inside the last data chunk
    image = open_bytes(bytes(corrupt))
    with pytest.raises(OSError, match="checksum"):
        image.verify()


def test_incremental_parser_as_web_frameworks_use_it(photo_wlc):
    """ImageFile.Parser (Django reads image sizes with it): size early, pixels on close."""
    parser = ImageFile.Parser()
    sizes = []
    for start in range(0, len(photo_wlc), 500):
        parser.feed(photo_wlc[start : start + 500])
        sizes.append(parser.image.size if parser.image else None)
    assert sizes[0] is None and sizes[2] == (768, 512)  # known once the header has arrived
    assert np.array_equal(np.asarray(parser.close()), wp.decompress(photo_wlc))


def test_closed_image_cannot_load(photo_wlc, tmp_path):
    (tmp_path / "x.wlc").write_bytes(photo_wlc)
    with Image.open(tmp_path / "x.wlc") as image:
        pass
    with pytest.raises((OSError, ValueError)):
        image.load()


def test_threads_give_the_same_pixels_as_serial(tmp_path):
    paths = []
    for i, source in enumerate(sorted(DEV_IMAGES.glob("*.png"))[:4]):
        with Image.open(source) as image:
            (image.convert("L") if i % 2 else image).save(tmp_path / f"{i}.wlc")
        paths.append(tmp_path / f"{i}.wlc")
    jobs = [(path, size) for path in paths for size in (None, (96, 64))] * 3

    def decode(job):
        path, size = job
        with Image.open(path) as image:
            if size:
                image.thumbnail(size)
            return np.asarray(image).copy()

    serial = [decode(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=6) as pool:
        threaded = list(pool.map(decode, jobs))
    assert all(np.array_equal(a, b) for a, b in zip(serial, threaded))
