"""The authors' codec configuration (their ``NAME.json`` or a training log's pickled config).

Torch-free: ``$WALLOC_MODELS`` folders are scanned with it when the registry starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import CodecConfig, Modality
from ..errors import ConfigError
from ..registry import CodecEntry

__all__ = ["AUDIO_FRAME", "AUDIO_RATE", "ReferenceConfig", "folder_entry", "is_reference_card"]

AUDIO_RATE = 44100  # the published stereo codecs were trained on MUSDB18-HQ
AUDIO_FRAME = 1 << 19  # samples per independently normalised clip: the training crop length
GROUPS = 32  # GroupNorm groups in the image decoder, so its width must be a multiple
# Depth and kernel of the synthesis networks, as CodecConfig describes a decoder: the image
# decoder has five 3x3 ResNet blocks, the audio decoder six residual units of 7-tap convolutions.
DECODER_SHAPE = {"image": (5, 3), "audio": (6, 7)}


@dataclass(frozen=True)
class ReferenceConfig:
    """The fields of the authors' config that shape their network.

    Attributes:
        modality: ``"audio"`` when the config has ``post_filter`` (only the authors' 1D
            codec takes that argument), else ``"image"``.
        channels: signal channels (``channels``).
        levels: wavelet packet levels (``J``).
        latent_dim: latent channels (``latent_dim``).
        latent_bits: bits per latent value (``latent_bits``).
        width: ``Nd``, the decoder width asked for; see ``decoder_width``.
        post_filter: audio only: a 129-tap filter follows the inverse transform.
        sample_rate: audio only: Hz; ``sample_rate`` in the config (ours), else 44,100.
    """

    modality: Modality
    channels: int
    levels: int
    latent_dim: int
    latent_bits: int
    width: int
    post_filter: bool = False
    sample_rate: int | None = None

    @classmethod
    def from_mapping(cls, data: Any, source: str) -> ReferenceConfig:
        """Read the authors' config (training fields such as ``batch_size`` are ignored).

        Raises:
            ConfigError: a missing or invalid field, or an architecture the published
                checkpoints do not use (``lightweight_encode`` false), naming ``source``.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: a WaLLoC config must be a JSON object, got {type(data).__name__}")
        missing = [k for k in ("channels", "J", "Nd", "latent_dim", "latent_bits", "lightweight_encode") if k not in data]
        if missing:
            raise ConfigError(f"{source}: the authors' config lacks {missing}")
        if data["lightweight_encode"] is not True:
            raise ConfigError(
                f"{source}: lightweight_encode={data['lightweight_encode']!r}; only the one-layer "
                "encoder of the published checkpoints (lightweight_encode true) is supported"
            )
        for key in ("channels", "J", "Nd", "latent_dim", "latent_bits"):
            if not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] < 1:
                raise ConfigError(f"{source}: {key}={data[key]!r} is invalid; expected a positive integer")
        audio = "post_filter" in data
        post_filter = data.get("post_filter", False)
        if not isinstance(post_filter, bool):
            raise ConfigError(f"{source}: post_filter must be true or false, got {post_filter!r}")
        config = cls(
            modality="audio" if audio else "image",
            channels=data["channels"],
            levels=data["J"],
            latent_dim=data["latent_dim"],
            latent_bits=data["latent_bits"],
            width=data["Nd"],
            post_filter=post_filter,
            sample_rate=data.get("sample_rate", AUDIO_RATE) if audio else None,
        )
        try:
            config.codec_config()
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        return config

    @property
    def decoder_width(self) -> int:
        """Hidden width of the synthesis network: ``Nd`` for images; for audio the largest
        multiple of ``latent_dim`` up to ``Nd`` (756 for the published 108 and 27)."""
        if self.modality == "audio":
            return self.latent_dim * (self.width // self.latent_dim)
        return self.width

    def codec_config(self) -> CodecConfig:
        """The codec's shape as every door sees it (``architecture="reference"``).

        Raises:
            ConfigError: a field out of range, or an ``Nd`` the network cannot have.
        """
        if self.modality == "image" and self.width % GROUPS or self.decoder_width < 1:
            need = f"a multiple of {GROUPS}" if self.modality == "image" else "at least latent_dim"
            raise ConfigError(f"Nd={self.width} is invalid; expected {need}")
        depth, kernel = DECODER_SHAPE[self.modality]
        audio = self.modality == "audio"
        return CodecConfig(
            architecture="reference",
            modality=self.modality,
            channels=self.channels,
            levels=self.levels,
            latent_dim=self.latent_dim,
            latent_bits=self.latent_bits,
            decoder_width=self.decoder_width,
            decoder_depth=depth,
            decoder_kernel=kernel,
            sample_rate=self.sample_rate,
            frame_length=AUDIO_FRAME if audio else None,
        )


def is_reference_card(data: Any) -> bool:
    """Whether a JSON object is the authors' flat config (ours nest it under ``config``)."""
    return isinstance(data, Mapping) and "J" in data and "latent_dim" in data


def read_card(path: Path) -> ReferenceConfig:
    """The authors' ``NAME.json``.

    Raises:
        ConfigError: not readable, not JSON, or not a valid config of theirs.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the config {path}: {exc}") from None
    return ReferenceConfig.from_mapping(data, str(path))


def folder_entry(card: Path) -> CodecEntry:
    """The checkpoint ``NAME.pth`` beside the authors' ``card`` (``NAME.json``), named ``NAME``.

    Its weight hash is not declared (that would need torch and a full read): the registry
    checks it when the codec is loaded.
    """
    config = read_card(card).codec_config()
    return CodecEntry(
        name=card.stem,
        config=config,
        weights=card.with_suffix(".pth"),
        sha256="",
        description=f"the authors' checkpoint {card.with_suffix('.pth').name} (reference architecture)",
    )
