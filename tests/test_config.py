from __future__ import annotations

import json

import pytest

from walloc_plugins import CodecConfig, ConfigError


def image_config(**changes):
    return CodecConfig(**{"modality": "image", "channels": 3, "levels": 3, "latent_dim": 12, **changes})


def test_round_trip_is_exact():
    config = image_config(decoder_width=64, decoder_depth=2, decoder_kernel=3)
    assert CodecConfig.from_dict(json.loads(config.to_json())) == config
    assert list(config.to_dict()) == sorted(config.to_dict())


def test_derived_shape():
    config = image_config()
    assert (config.ndim, config.stride, config.bands, config.dimensionality_reduction) == (2, 8, 192, 16)
    audio = CodecConfig(modality="audio", channels=2, levels=8, latent_dim=27, sample_rate=44100, frame_length=1 << 17)
    assert (audio.ndim, audio.bands) == (1, 512)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"modality": "video"}, "modality"),
        ({"channels": 0}, "channels"),
        ({"channels": True}, "channels"),
        ({"levels": 13}, "levels"),
        ({"latent_dim": 193}, "latent_dim"),
        ({"latent_bits": 9}, "latent_bits"),
        ({"wavelet": "haar"}, "wavelet"),
        ({"decoder_kernel": 2}, "decoder_kernel"),
        ({"decoder_width": 8}, "decoder_depth"),
        ({"sample_rate": 44100}, "sample_rate"),
    ],
)
def test_invalid_values_name_the_field(changes, message):
    with pytest.raises(ConfigError, match=message):
        image_config(**changes)


def test_audio_needs_rate_and_aligned_frames():
    with pytest.raises(ConfigError, match="sample_rate"):
        CodecConfig(modality="audio", channels=2, levels=8, latent_dim=27, frame_length=1 << 17)
    with pytest.raises(ConfigError, match="frame_length"):
        CodecConfig(modality="audio", channels=2, levels=8, latent_dim=27, sample_rate=44100, frame_length=1000)


def test_from_dict_rejects_unknown_and_missing_keys():
    with pytest.raises(ConfigError, match="unknown codec config keys"):
        CodecConfig.from_dict({**image_config().to_dict(), "colour": "blue"})
    with pytest.raises(ConfigError, match="incomplete"):
        CodecConfig.from_dict({"modality": "image"})
    with pytest.raises(ConfigError, match="JSON object"):
        CodecConfig.from_dict([1, 2])  # type: ignore[arg-type]
