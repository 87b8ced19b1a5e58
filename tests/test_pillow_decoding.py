"""The core's decoding pieces behind the Pillow door: seamless tiles, reduced sizes, read_image."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from test_container import IMAGE_FIELDS

import walloc_plugins as wp
from walloc_plugins import ContainerError, InputError, TruncatedError
from walloc_plugins import container as wlc
from walloc_plugins.api import read_image
from walloc_plugins.codec import WallocCodec, synthesis_reach
from walloc_plugins.wavelets import wpt_synthesis


@pytest.fixture(scope="module")
def crop(dev_image):
    """A 301x517 crop of a real photo: sizes that are not multiples of 8."""
    return np.ascontiguousarray(dev_image[100:401, 120:637])


@pytest.fixture(scope="module")
def deep_codec():
    """A codec with a residual synthesis network (random weights: shapes and seams only)."""
    torch.manual_seed(0)
    config = wp.CodecConfig(
        modality="image",
        channels=3,
        levels=3,
        latent_dim=12,
        decoder_width=8,
        decoder_depth=1,
        decoder_kernel=3,
    )
    codec = WallocCodec(config)
    with torch.no_grad():
        for parameter in codec.decoder.parameters():
            parameter.normal_(0, 0.05)  # the body's last convolution starts at zero
    return codec


def latent_of(codec, image):
    x = torch.from_numpy(image)
    return codec.encode((x.permute(2, 0, 1) if x.ndim == 3 else x[None]).contiguous())


def assemble(codec, latent, reduce, tile):
    whole = codec.decode(latent, reduce)
    out = torch.full_like(whole, -1.0)
    for (top, left), pixels in codec.decode_tiles(latent, reduce=reduce, tile=tile):
        out[:, top : top + pixels.shape[1], left : left + pixels.shape[2]] = pixels
    return out, whole


@pytest.mark.parametrize("codec_name", ["rgb-16x-linear", "gray-16x-linear", "deep"])
@pytest.mark.parametrize("reduce", [0, 1, 2, 3])
def test_tiles_equal_the_whole_decode(crop, deep_codec, codec_name, reduce):
    """Windows of 7 and 16 latent positions: margins, wrap-around at every border, no seams."""
    codec = deep_codec if codec_name == "deep" else wp.load_codec(codec_name)
    image = crop[:150, :259]
    latent = latent_of(
        codec, image.mean(axis=2).astype(np.uint8) if codec_name.startswith("gray") else image
    )
    for tile in (7, 16):
        tiled, whole = assemble(codec, latent, reduce, tile)
        assert (
            tiled.shape
            == whole.shape
            == (codec.config.channels, -(-150 >> reduce), -(-259 >> reduce))
        )
        assert (tiled >= 0).all()  # every pixel was written
        assert (tiled - whole).abs().max() < 1e-5
        flips = ((tiled * 255).round() != (whole * 255).round()).float().mean()
        assert flips < 1e-3  # identical uint8 but for rare rounding flips


@pytest.mark.parametrize("codec_name", ["rgb-16x-linear", "deep"])
def test_reduced_decode_is_the_lowpass_packet(crop, deep_codec, codec_name):
    """1/2**k size: the all-lowpass level-k packet of the full synthesis, divided by 2**k."""
    codec = deep_codec if codec_name == "deep" else wp.load_codec(codec_name)
    latent = latent_of(codec, crop)
    with torch.inference_mode():
        bands = codec.decoder(latent.q[None].float())
    levels = codec.config.levels
    for reduce in range(1, levels + 1):
        if reduce < levels:
            packets = wpt_synthesis(bands, levels, 2, stop_level=reduce)[0]
        else:
            packets = bands[0]
        lowpass = packets[:: 4**reduce] / 2**reduce  # the first band of each channel
        height, width = -(-301 >> reduce), -(-517 >> reduce)
        expected = (lowpass[:, :height, :width] + 0.5).clamp(0, 1)
        assert (codec.decode(latent, reduce) - expected).abs().max() < 1e-5


def test_reduced_sizes_and_bad_arguments(crop):
    data = wp.compress(crop)
    assert [wp.decompress(data, reduce=k).shape for k in range(4)] == [
        (301, 517, 3),
        (151, 259, 3),
        (76, 130, 3),
        (38, 65, 3),
    ]
    assert wp.read_header(data).reduced_size(3) == (38, 65)
    codec = wp.load_codec("rgb-16x-linear")
    latent = latent_of(codec, crop)
    for bad in (-1, 4, 1.5, True):
        with pytest.raises(InputError, match="reduce"):
            codec.decode(latent, bad)
    with pytest.raises(InputError, match="tile"):
        next(codec.decode_tiles(latent, tile=0))
    with pytest.raises(InputError, match="one image"):
        next(codec.decode_tiles(type(latent)(q=latent.q[None], size=latent.size)))
    audio = wp.compress(np.zeros((4000, 2), np.float32), "stereo-20x-linear", sample_rate=44100)
    with pytest.raises(InputError, match="only images"):
        wp.decompress(audio, reduce=1)


def test_synthesis_reach_covers_the_filters():
    """CDF 9/7: ~10 taps a level reach 2 latent positions at J=1 and 4 from J=3 on."""
    assert [synthesis_reach(levels) for levels in range(5)] == [0, 2, 3, 4, 4]


def test_read_image_and_its_tiles(small_image):
    rgba = np.dstack([small_image, np.tile(np.arange(61, dtype=np.uint8) * 4, (45, 1))])
    data = wp.compress(rgba, metadata={"icc_profile": b"icc"})
    coded = read_image(data)
    assert coded.header.mode == "RGBA" and coded.metadata == {"icc_profile": b"icc"}
    assert coded.damage is None and coded.codec.name == "rgb-16x-linear"
    assert np.array_equal(coded.decode(), wp.decompress(data))
    assert np.array_equal(coded.decode()[..., 3], rgba[..., 3])  # alpha stays lossless


def test_reduced_alpha_averages_blocks_centred_like_the_colour(small_image):
    """Pixel i of a 1/4 image stands for pixel 4i: the alpha mean over rows/columns 4i-2 .. 4i+1."""
    alpha = np.tile(np.arange(61, dtype=np.uint8) * 4, (45, 1))
    reduced = read_image(wp.compress(np.dstack([small_image, alpha]))).decode(2)[..., 3]
    assert reduced.shape == (12, 16)
    padded = np.pad(alpha.astype(float), 2, mode="edge")
    expected = [
        padded[4 * i : 4 * i + 4, 4 * j : 4 * j + 4].mean() for i in range(12) for j in range(16)
    ]
    assert np.abs(reduced.reshape(-1) - np.array(expected)).max() <= 0.5


def test_partial_reading_keeps_what_a_damaged_stream_holds(crop):
    """Tiles of 8x8 latent positions: a file cut after some LATN chunks still decodes them."""
    codec = wp.load_codec("rgb-16x-linear")
    latent = latent_of(codec, crop)
    out = io.BytesIO()
    header = wlc.WlcHeader(
        modality="image",
        codec=codec.name,
        weights=codec.weights_sha256(),
        coder="zlib",
        channels=3,
        levels=3,
        latent_channels=12,
        latent_bits=8,
        size=(301, 517),
        padding=((0, 3), (0, 3)),
        tile=(8, 8),
        mode="RGB",
    )
    writer = wlc.WlcWriter(out, header)
    q = latent.q.numpy()
    coder = wp.get_coder("zlib")
    ends = []
    for top in range(0, 38, 8):
        for left in range(0, 65, 8):
            writer.write_chunk(wlc.LATENT, coder.encode(q[:, top : top + 8, left : left + 8]))
            ends.append(out.tell())
    writer.close()
    data = out.getvalue()
    whole = read_image(data).decode()
    cut = data[: ends[17] + 5]  # two rows of 9 whole tiles and a few bytes of the next
    with pytest.raises(TruncatedError):
        read_image(cut)
    partial = read_image(cut, partial=True)
    assert "truncated" in partial.damage
    assert np.array_equal(partial.latent.q[:, :16], latent.q[:, :16])
    assert not partial.latent.q[:, 16:].any()
    decoded = partial.decode()
    # Rows 0-127 were read; margins of 5 latent positions (40 px) reach the missing rows and,
    # around the periodic border, the top rows.
    assert np.abs(decoded[40:88].astype(int) - whole[40:88]).max() <= 1
    block = decoded[176:256].astype(int)  # missing tiles: a zero latent, the same 8x8 texture
    assert (
        np.abs(block[8:] - block[:-8]).max() <= 1
        and np.abs(block[:, 8:] - block[:, :-8]).max() <= 1
    )


def test_reader_reads_no_data_payload_until_asked(small_image):
    data = wp.compress(small_image, metadata={"xmp": b"<x/>"})
    stream = io.BytesIO(data)
    reader = wlc.WlcReader(stream)
    assert reader.metadata == {"xmp": b"<x/>"}
    first_data_chunk = data.index(wlc.LATENT)
    assert stream.tell() == first_data_chunk + wlc.CHUNK_HEAD.size  # its head, not its payload
    assert [kind for kind, _ in reader.data_chunks()] == [wlc.LATENT]
    with pytest.raises(ContainerError, match="only once"):
        next(reader.data_chunks())


def test_header_mode_must_match_channels_and_alpha():
    fields = {k: v for k, v in IMAGE_FIELDS.items() if k not in ("mode", "alpha")}
    fields.update(size=(8, 8), padding=((0, 0), (0, 0)))
    assert wlc.WlcHeader(**fields, mode="RGB", alpha=False).mode == "RGB"
    assert wlc.WlcHeader(**fields, mode="RGBA", alpha=True).mode == "RGBA"
    for mode, alpha in (("L", False), ("RGB", True), ("RGBA", False)):
        with pytest.raises(ContainerError, match="invalid mode"):
            wlc.WlcHeader(**fields, mode=mode, alpha=alpha)
