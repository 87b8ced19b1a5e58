"""The authors' checkpoints (walloc_plugins.reference): reading, layout, quirks and every door.

Checkpoints here are written in the authors' file layout by our own modules, with small
decoders so that the tests stay fast; ``test_reference_equality.py`` compares the published
shapes with the authors' implementation itself.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import DEV_AUDIO, DEV_IMAGES
from PIL import Image

import walloc_plugins as wp
from walloc_plugins import CodecMismatchError, ConfigError, registry
from walloc_plugins.codec import weights_sha256
from walloc_plugins.model import Compander, Decompander, Quantizer
from walloc_plugins.reference.audio_decoder import (
    Snake,
    WeightNormConv1d,
    WeightNormConvTranspose1d,
)
from walloc_plugins.reference.codec import ReferenceCodec, _filters, _mirror
from walloc_plugins.reference.config import ReferenceConfig

LISTINGS = Path(__file__).parent / "reference"
PUBLISHED = {  # name: (fields, parameters counted in the authors' notebooks)
    "RGB_16x": ({"channels": 3, "J": 3, "latent_dim": 12}, 56_885_964),
    "RGB_4x": ({"channels": 3, "J": 3, "latent_dim": 48}, 57_141_744),
    "stereo_5x": ({"channels": 2, "J": 8, "latent_dim": 108, "post_filter": True}, 16_346_074),
    "stereo_20x": ({"channels": 2, "J": 8, "latent_dim": 27, "post_filter": True}, 15_198_466),
}
SMALL = {  # decoders 24 to 32 wide: the published layout at a fraction of the cost
    "tiny_rgb": {"channels": 3, "J": 3, "latent_dim": 12, "Nd": 32},
    "tiny_stereo": {"channels": 2, "J": 8, "latent_dim": 12, "Nd": 30, "post_filter": True},
}


def authors_json(fields: dict) -> dict:
    """A config as the authors' notebooks write it: architecture plus training fields."""
    return {"batch_size": 32, "max_lr": 3e-5, "φ": 0.0, "Ne": None, "Nd": 768, "latent_bits": 8,
            "lightweight_encode": True, **fields}


@torch.no_grad()
def random_codec(fields: dict, seed: int) -> ReferenceCodec:
    """Random weights in which every parameter matters (Snake, norms and gains not at their
    initial values), the projection scaled so that latents spread over the 8-bit range."""
    torch.manual_seed(seed)
    codec = ReferenceCodec(ReferenceConfig.from_mapping(authors_json(fields), "test"))
    for name, p in codec.named_parameters():
        if name.endswith(("alpha", "beta")):
            p.normal_(0.0, 0.3)
        elif name.endswith("weight_g"):
            p.mul_(torch.empty_like(p).uniform_(0.5, 1.5))
        elif name.endswith("bias"):
            p.normal_(0.0, 0.05)
    codec.encoder[0].weight.mul_(60.0 if codec.config.modality == "image" else 100.0)
    return codec


def authors_state(codec: ReferenceCodec) -> dict[str, torch.Tensor]:
    """The state dict as the authors save it: with the wavelet filter buffers."""
    filters = {k: v.float() for k, v in _filters(codec.config.ndim).items()}
    return {**filters, **codec.state_dict()}


def write_checkpoint(folder: Path, name: str, fields: dict, seed: int = 0) -> ReferenceCodec:
    """``NAME.pth`` + ``NAME.json`` in the published layout; returns the codec written."""
    codec = random_codec(fields, seed)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model_state_dict": authors_state(codec)}, folder / f"{name}.pth")
    (folder / f"{name}.json").write_text(json.dumps(authors_json(fields), indent=4))
    return codec


class Config:  # the notebooks' bare config class; pickled as __main__.Config below
    pass


def write_training_log(path: Path, codec: ReferenceCodec, fields: dict, monkeypatch) -> None:
    """A training log as the notebooks write it: epoch, learning rates, numpy losses, Config."""
    config = Config()
    vars(config).update(authors_json(fields))
    monkeypatch.setattr(Config, "__module__", "__main__")
    monkeypatch.setattr(sys.modules["__main__"], "Config", Config, raising=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model_state_dict": authors_state(codec),
            "i_epoch": 149,
            "learning_rates": [1e-7, 3e-5],
            "dist_losses": [np.log10(0.01), np.log10(0.004)],
            "config": config,
        },
        path,
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """A folder of small checkpoints in the authors' layout, as ``$WALLOC_MODELS`` takes it."""
    folder = tmp_path_factory.mktemp("models")
    for seed, (name, fields) in enumerate(SMALL.items()):
        write_checkpoint(folder, name, fields, seed)
    return folder


@pytest.fixture
def registered(models, monkeypatch) -> Path:
    monkeypatch.setenv("WALLOC_MODELS", str(models))
    registry.clear_caches()
    yield models
    registry.clear_caches()


def music_excerpt(seconds: float = 2.0) -> np.ndarray:
    from walloc_plugins.audiofile import read_audio

    audio, rate = read_audio(DEV_AUDIO / "music-blues.flac")
    assert rate == 44100
    return audio[3 * rate : 3 * rate + int(seconds * rate)]


def photo(name: str = "lomiri-nuthatch.png") -> np.ndarray:
    with Image.open(DEV_IMAGES / name) as image:
        return np.array(image.convert("RGB"))


# -- the checkpoints' layout ------------------------------------------------------------------
@pytest.mark.parametrize("name", PUBLISHED)
def test_modules_have_the_published_names_shapes_and_sizes(name):
    fields, parameters = PUBLISHED[name]
    with torch.device("meta"):
        codec = ReferenceCodec(ReferenceConfig.from_mapping(authors_json(fields), name))
    ours = {k: tuple(v.shape) for k, v in authors_state(codec).items()}
    listing = {}
    for line in (LISTINGS / f"state_dict_{name}.txt").read_text().splitlines():
        key, shape, dtype = line.split("\t")
        listing[key] = tuple(json.loads(shape))
        assert dtype == "torch.float32"
    assert ours == listing
    assert sum(p.numel() for p in codec.parameters()) == parameters
    if codec.config.modality == "audio":
        assert codec.config.decoder_width == 756


def test_config_reads_the_authors_fields_and_refuses_what_they_never_published():
    audio = ReferenceConfig.from_mapping(authors_json(PUBLISHED["stereo_5x"][0]), "x")
    assert (audio.modality, audio.levels, audio.decoder_width, audio.sample_rate) == ("audio", 8, 756, 44100)
    image = ReferenceConfig.from_mapping(authors_json(PUBLISHED["RGB_16x"][0]), "x").codec_config()
    assert (image.architecture, image.modality, image.bands, image.latent_dim) == ("reference", "image", 192, 12)
    with pytest.raises(ConfigError, match="lightweight_encode"):
        ReferenceConfig.from_mapping({**authors_json(SMALL["tiny_rgb"]), "lightweight_encode": False}, "x")
    with pytest.raises(ConfigError, match="lacks"):
        ReferenceConfig.from_mapping({"J": 3}, "x")
    with pytest.raises(ConfigError, match="multiple of 32"):
        ReferenceConfig.from_mapping({**authors_json(SMALL["tiny_rgb"]), "Nd": 40}, "x")
    with pytest.raises(ConfigError, match="latent_dim"):
        ReferenceConfig.from_mapping({**authors_json(SMALL["tiny_rgb"]), "latent_dim": 500}, "x")


# -- reading checkpoints ---------------------------------------------------------------------
def test_load_with_the_json_beside_given_or_pickled_in_a_training_log(models, tmp_path, monkeypatch):
    beside = wp.load_codec(models / "tiny_rgb.pth")
    assert isinstance(beside, ReferenceCodec) and beside.name == "tiny_rgb"
    alone = tmp_path / "alone" / "run.pth"
    alone.parent.mkdir()
    alone.write_bytes((models / "tiny_rgb.pth").read_bytes())
    with pytest.raises(ConfigError, match="no config"):
        wp.load_codec(alone)
    given = wp.load_codec(alone, config=models / "tiny_rgb.json")
    mapping = wp.load_codec(alone, config=json.loads((models / "tiny_rgb.json").read_text()))
    log = tmp_path / "logs" / "log_cuda.pth"
    write_training_log(log, beside, SMALL["tiny_rgb"], monkeypatch)
    logged = wp.load_codec(log)
    assert logged.name == "log_cuda"
    for codec in (given, mapping, logged):
        assert codec.config == beside.config
        assert codec.weights_sha256() == beside.weights_sha256()
    assert beside.weights_sha256() == weights_sha256(beside.state_dict())


def test_the_reader_runs_no_code_from_the_file(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model_state_dict": {"a": torch.ones(1)}, "config": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(ConfigError, match="it holds .*system"):
        wp.load_codec(tmp_path / "evil.pth")
    assert not marker.exists()
    torch.save({"model_state_dict": {"a": torch.ones(1)}, "x": np.arange(3)}, tmp_path / "array.pth")
    with pytest.raises(ConfigError, match="not a checkpoint this reader accepts"):
        wp.load_codec(tmp_path / "array.pth")


def test_checkpoints_that_do_not_fit_are_refused(models, tmp_path):
    state = torch.load(models / "tiny_rgb.pth", weights_only=True)["model_state_dict"]
    (tmp_path / "x.json").write_text((models / "tiny_rgb.json").read_text())
    bad_filter = {**state, "wt.h0_row": state["wt.h0_row"].flip(-1) * 2}
    torch.save({"model_state_dict": bad_filter}, tmp_path / "x.pth")
    with pytest.raises(ConfigError, match="not bior4.4"):
        wp.load_codec(tmp_path / "x.pth")
    missing = {k: v for k, v in state.items() if k != "decoder.1.conv_out.bias"}
    torch.save({"model_state_dict": missing}, tmp_path / "x.pth")
    with pytest.raises(ConfigError, match="conv_out.bias"):
        wp.load_codec(tmp_path / "x.pth")
    torch.save({"model_state_dict": state}, tmp_path / "x.pth")
    (tmp_path / "x.json").write_text(json.dumps(authors_json({**SMALL["tiny_rgb"], "latent_dim": 48})))
    with pytest.raises(ConfigError, match="does not fit"):
        wp.load_codec(tmp_path / "x.pth")


# -- the authors' quirks, checked against independent computations ------------------------------
def test_bottleneck_constants_and_round_half_to_even():
    compand, expand = Compander(8), Decompander(8)
    u = compand(torch.tensor([10.0, -10.0, 100.0]))
    assert torch.allclose(u, torch.tensor([14.7666, -14.7666, 108.986]), atol=1e-3)  # the reference's values
    assert torch.allclose(expand(torch.tensor([127.0, -127.0])), torch.tensor([198.053, -198.053]), atol=1e-3)
    ties = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, 126.5])
    assert Quantizer().eval()(ties).tolist() == [0.0, 2.0, 2.0, -0.0, -2.0, 126.0]


def test_snake_and_weight_norm_follow_their_definitions():
    torch.manual_seed(0)
    snake = Snake(4)
    torch.nn.init.normal_(snake.alpha), torch.nn.init.normal_(snake.beta)
    x = torch.randn(2, 4, 9)
    a, b = snake.alpha.exp(), snake.beta.exp()
    assert torch.allclose(snake(x), x + torch.sin(a * x) ** 2 / (b + 1e-9))
    for conv in (WeightNormConv1d(5, 3, 7, padding=3), WeightNormConvTranspose1d(5, 3, 2, padding=1)):
        torch.nn.init.uniform_(conv.weight_g, 0.5, 2.0)
        weight = torch._weight_norm(conv.weight_v, conv.weight_g, 0)  # norm over all axes but 0
        plain = F.conv1d if isinstance(conv, torch.nn.Conv1d) else F.conv_transpose1d
        x = torch.randn(1, 5, 11)
        expected = plain(x, weight, conv.bias, padding=conv.padding)
        assert torch.allclose(conv(x), expected, atol=1e-6)
    assert WeightNormConvTranspose1d(5, 3, 2, padding=1)(x).shape[-1] == 10  # one frame shorter


def test_audio_latent_has_two_bias_frames_and_clips_padded_to_2_16(models):
    codec = wp.load_codec(models / "tiny_stereo.pth")
    audio = torch.from_numpy(music_excerpt(1.0).T.copy())
    latent = codec.encode(audio)
    assert latent.q.shape == (12, 256 * 1 + 2) == (12, *codec.config.latent_size((audio.shape[-1],)))
    bias_only = Quantizer().eval()(codec.encoder[1](codec.encoder[0].bias)).to(torch.int8)
    assert torch.equal(latent.q[:, 0], bias_only) and torch.equal(latent.q[:, -1], bias_only)
    decoded = codec.decode(latent)
    assert decoded.shape == audio.shape


def test_audio_is_normalised_per_clip_by_its_mean_and_peak(models):
    codec = wp.load_codec(models / "tiny_stereo.pth")
    audio = torch.from_numpy(music_excerpt(1.0).T.copy())
    latent = codec.encode(audio)
    centred = audio - audio.mean()
    assert float(latent.gain) == pytest.approx(float(centred.abs().max()), rel=1e-6)
    assert torch.equal(codec.encode(audio * 0.25).q, latent.q)  # exact: a power-of-two scale
    shifted = codec.analysis(audio + 0.01) - codec.analysis(audio)
    assert shifted.abs().max() < 1e-3  # the mean is removed
    batch = codec.encode(torch.stack([audio, audio * 0.25]))
    assert torch.equal(batch.q[1], latent.q) and batch.gain.shape == (2,)


def test_images_are_mirrored_on_both_sides_and_cropped_back(models):
    codec = wp.load_codec(models / "tiny_rgb.pth")
    image = torch.from_numpy(photo()[100:167, 200:301].copy()).permute(2, 0, 1)  # 67 x 101
    assert codec.config.padding((67, 101)) == ((2, 3), (1, 2))
    signal, size, _ = codec._prepare(image)
    expected = F.pad(image[None].float() / 255 - 0.5, (1, 2, 2, 3), mode="reflect")[0]
    assert size == (67, 101) and torch.equal(signal, expected)
    tiny = torch.arange(6.0).reshape(1, 1, 1, 6)  # mirroring a 1-pixel axis repeats it
    assert _mirror(tiny, ((3, 4), (0, 0))).shape == (1, 1, 8, 6)
    latent = codec.encode(image)
    assert latent.q.shape == (12, 9, 13)
    assert codec.decode(latent).shape == (3, 67, 101)
    small = codec.decode(latent, reduce=2)
    assert small.shape == (3, math.ceil(67 / 4), math.ceil(101 / 4))


# -- every door ----------------------------------------------------------------------------
def test_registered_checkpoint_through_the_api_and_pillow(registered, tmp_path):
    entry = registry.codec_entries()["tiny_rgb"]
    assert entry.config.architecture == "reference" and entry.sha256 == ""
    image = photo()[:200, :300]
    path = tmp_path / "x.wlc"
    wp.save(path, image, "tiny_rgb")
    header = wp.read_header(path)
    codec = wp.load_codec("tiny_rgb")
    assert (header.codec, header.weights) == ("tiny_rgb", codec.weights_sha256())
    expected = codec.decode(codec.encode(torch.from_numpy(image).permute(2, 0, 1)))
    expected = (expected * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    with Image.open(path) as opened:
        assert opened.size == (300, 200) and opened.info["codec"] == "tiny_rgb"
        assert np.array_equal(np.asarray(opened), expected)
    with Image.open(path) as opened:
        opened.draft("RGB", (75, 50))
        assert opened.size == (75, 50)
        assert np.asarray(opened).std() > 5
    assert np.array_equal(wp.decompress(path.read_bytes()), expected)
    stored = wp.read_latent(path)
    assert torch.equal(stored.q, codec.encode(torch.from_numpy(image).permute(2, 0, 1)).q)


def test_registered_checkpoint_codes_audio_through_the_api(registered):
    audio = music_excerpt(2.0)
    data = wp.compress(audio, "tiny_stereo", sample_rate=44100)
    codec = wp.load_codec("tiny_stereo")
    latent = codec.encode(torch.from_numpy(audio.T.copy()))
    stored = wp.read_latent(data)
    assert torch.equal(stored.q, latent.q)
    decoded = wp.decompress(data)
    assert decoded.shape == audio.shape
    assert np.allclose(decoded.T, codec.decode(latent).numpy(), atol=1e-6)


def test_a_file_decodes_only_with_the_checkpoint_that_wrote_it(registered, tmp_path):
    data = wp.compress(photo()[:64, :64], "tiny_rgb")
    write_checkpoint(registered, "tiny_rgb", SMALL["tiny_rgb"], seed=7)  # other weights, same name
    registry.clear_caches()
    try:
        with pytest.raises(CodecMismatchError, match="tiny_rgb"):
            wp.decompress(data)
    finally:
        write_checkpoint(registered, "tiny_rgb", SMALL["tiny_rgb"], seed=0)
        registry.clear_caches()
    assert wp.decompress(data).shape == (64, 64, 3)


def test_a_loaded_checkpoint_codes_through_compress_without_registering(models):
    codec = wp.load_codec(models / "tiny_rgb.pth")
    image = photo()[:64, :96]
    data = wp.compress(image, codec)
    assert wp.decompress(data, codec).shape == (64, 96, 3)
    assert wp.read_header(data).codec == "tiny_rgb"


def test_a_broken_card_in_a_models_folder_is_reported(tmp_path, monkeypatch):
    (tmp_path / "broken.pth").write_bytes(b"")
    (tmp_path / "broken.json").write_text(json.dumps({"J": 3, "latent_dim": 12}))
    monkeypatch.setenv("WALLOC_MODELS", str(tmp_path))
    registry.clear_caches()
    try:
        with pytest.warns(wp.WallocWarning, match="broken.json"):
            registry.codec_entries()
    finally:
        registry.clear_caches()


def test_registered_checkpoint_through_the_torchvision_transforms_and_io(registered):
    from torchvision.transforms import v2

    import torchvision_ext
    from torchvision_ext import io

    codec = wp.load_codec("tiny_rgb")
    image = torch.from_numpy(photo()[:64, :96].copy()).permute(2, 0, 1)
    latent = codec.encode(image)
    expected = (codec.decode(latent) * 255).round().to(torch.uint8)
    q = torchvision_ext.WallocEncode("tiny_rgb", dtype=torch.int8)(image)
    assert torch.equal(q, latent.q)
    decoded = torchvision_ext.WallocDecode("tiny_rgb", dtype=torch.uint8)(q)
    assert torch.equal(decoded, expected)
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    pipeline = v2.Compose([torchvision_ext.WallocRoundTrip("tiny_rgb"), v2.PILToTensor()])
    assert torch.equal(pipeline(pil), expected)
    data = io.encode_wlc(image, "tiny_rgb")
    assert torch.equal(io.decode_wlc(data), expected)


def test_registered_checkpoint_through_the_torchaudio_style_transforms_and_io(registered, tmp_path):
    import torchvision_ext
    from torchvision_ext import io

    codec = wp.load_codec("tiny_stereo")
    waveform = torch.from_numpy(music_excerpt(1.0).T.copy())
    expected = codec.decode(codec.encode(waveform))
    assert torch.allclose(torchvision_ext.WallocRoundTrip("tiny_stereo")(waveform), expected, atol=1e-6)
    q = torchvision_ext.WallocEncode("tiny_stereo", dtype=torch.int8)(waveform)
    assert q.shape == (12, *codec.config.latent_size((waveform.shape[-1],)))
    padded = codec.config.signal_size(tuple(q.shape[-1:]))  # latents carry no length: the padded one
    assert padded[0] >= waveform.shape[-1] and codec.config.latent_size(padded) == tuple(q.shape[-1:])
    assert torchvision_ext.WallocDecode("tiny_stereo")(q).shape == (2, *padded)
    io.save(tmp_path / "clip.wlc", waveform, 44100, "tiny_stereo")
    loaded, rate = io.load(tmp_path / "clip.wlc")
    assert rate == 44100 and torch.allclose(loaded, expected, atol=1e-6)
    assert torch.equal(io.read_latent(tmp_path / "clip.wlc"), q)


def test_audio_longer_than_a_frame_is_coded_frame_by_frame_as_clips(registered):
    from walloc_plugins.audiofile import read_audio

    pieces = [read_audio(DEV_AUDIO / name)[0] for name in ("music-blues.flac", "music-metal.flac")]
    audio = np.concatenate(pieces)[: (1 << 19) + 44100]  # one full frame and a second of the next
    codec = wp.load_codec("tiny_stereo")
    data = wp.compress(audio, "tiny_stereo", sample_rate=44100)
    header, decoded = wp.read_header(data), wp.decompress(data)
    assert decoded.shape == audio.shape and header.overlap == 512

    def clip(start: int, stop: int) -> np.ndarray:  # the codec on one clip, as the reference codes it
        return codec.decode(codec.encode(torch.from_numpy(audio[start:stop].T.copy()))).numpy().T

    hop = (1 << 19) - header.overlap  # the first frame's own samples, then the shared ones
    assert np.allclose(decoded[:hop], clip(0, 1 << 19)[:hop], atol=1e-6)
    assert np.allclose(decoded[1 << 19 :], clip(hop, len(audio))[header.overlap :], atol=1e-6)


@pytest.mark.ffmpeg
def test_registered_checkpoint_through_the_ffmpeg_filter(registered, tmp_path):
    import io
    import subprocess

    from ffmpeg_filter import decode_file, encode_file
    from walloc_plugins.audiofile import find_ffmpeg, read_audio
    from walloc_plugins.wav import read_wav

    source = DEV_AUDIO / "music-blues.flac"
    codec = wp.load_codec("tiny_stereo")
    music, _ = read_audio(source)
    expected = codec.decode(codec.encode(torch.from_numpy(music.T.copy()))).numpy().T
    pipeline = (
        f"{find_ffmpeg()} -v error -nostdin -i {source} -f wav - | "
        f"{sys.executable} -m ffmpeg_filter filter -q -c tiny_stereo - -"
    )
    heard = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, check=True, timeout=300)
    filtered, rate = read_wav(io.BytesIO(heard.stdout))
    assert rate == 44100 and filtered.shape == music.shape
    assert np.abs(filtered - expected).max() <= 1.5 / 32768  # 16-bit output
    encode_file(source, tmp_path / "song.wlc", "tiny_stereo")
    assert wp.read_header(tmp_path / "song.wlc").codec == "tiny_stereo"
    decode_file(tmp_path / "song.wlc", tmp_path / "song.flac")
    decoded, _ = read_audio(tmp_path / "song.flac")
    assert np.abs(decoded - expected).max() <= 1.5 / 32768
