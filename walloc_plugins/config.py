"""CodecConfig, the one dataclass that describes a WaLLoC codec completely, and TrainOptions."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ConfigError

__all__ = ["REFERENCE_AUDIO_BLOCK", "Architecture", "CodecConfig", "Modality", "TrainOptions"]

Modality = Literal["image", "audio"]
Architecture = Literal["walloc", "reference"]
ARCHITECTURES = ("walloc", "reference")
WAVELETS = ("bior4.4",)
MAX_CHANNELS = 4096
REFERENCE_AUDIO_BLOCK = 1 << 16  # the authors' pipeline zero-pads each audio clip to a multiple


@dataclass(frozen=True, kw_only=True)
class CodecConfig:
    """Shape of a codec: the wavelet packet transform, the latent and the synthesis network.

    Attributes:
        modality: ``"image"`` (signals ``[C, H, W]``) or ``"audio"`` (``[C, T]``).
        channels: signal channels (1 gray or mono, 3 RGB, 2 stereo, any count).
        levels: wavelet packet depth J; one latent position covers ``2**J`` samples per axis.
        latent_dim: latent channels produced by the 1x1 analysis projection.
        latent_bits: bits per latent value after companding (2 to 8; stored as int8).
        wavelet: the wavelet filter bank; only ``"bior4.4"`` (CDF 9/7) is implemented.
        decoder_width: hidden width of the synthesis network; 0 makes the decoder one
            convolution from the latent to the wavelet bands (a linear decoder).
        decoder_depth: residual blocks in the synthesis network (0 when ``decoder_width`` is 0).
        decoder_kernel: odd kernel size of the synthesis convolutions.
        sample_rate: audio only: the rate the codec was trained for, in Hz.
        frame_length: audio only: samples per independently decodable frame of a stream.
        architecture: ``"walloc"`` (``WallocCodec``) or ``"reference"`` (the authors'
            published networks, ``walloc_plugins.reference``). It also fixes the padding and
            the latent length (``padding``, ``latent_size``), so readers need no model.
    """

    modality: Modality
    channels: int
    levels: int
    latent_dim: int
    latent_bits: int = 8
    wavelet: str = "bior4.4"
    decoder_width: int = 0
    decoder_depth: int = 0
    decoder_kernel: int = 1
    sample_rate: int | None = None
    frame_length: int | None = None
    architecture: Architecture = "walloc"

    def __post_init__(self) -> None:
        _check(self.modality in ("image", "audio"), "modality", self.modality, "'image' or 'audio'")
        _check(self.architecture in ARCHITECTURES, "architecture", self.architecture, " or ".join(ARCHITECTURES))
        for name, low, high in (
            ("channels", 1, MAX_CHANNELS),
            ("levels", 1, 12),
            ("latent_bits", 2, 8),
            ("decoder_width", 0, 8192),
            ("decoder_depth", 0, 64),
            ("decoder_kernel", 1, 31),
        ):
            value = getattr(self, name)
            _check(
                isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
                name,
                value,
                f"an integer in [{low}, {high}]",
            )
        _check(
            isinstance(self.latent_dim, int) and 1 <= self.latent_dim <= self.bands,
            "latent_dim",
            self.latent_dim,
            f"an integer in [1, {self.bands}] (the wavelet bands)",
        )
        _check(self.wavelet in WAVELETS, "wavelet", self.wavelet, " or ".join(WAVELETS))
        _check(self.decoder_kernel % 2 == 1, "decoder_kernel", self.decoder_kernel, "an odd size")
        _check(
            (self.decoder_width == 0) == (self.decoder_depth == 0),
            "decoder_depth",
            self.decoder_depth,
            "0 exactly when decoder_width is 0",
        )
        if self.modality == "audio":
            _check(
                isinstance(self.sample_rate, int) and 1 <= self.sample_rate <= 1_000_000,
                "sample_rate",
                self.sample_rate,
                "an integer rate in Hz for an audio codec",
            )
            _check(
                isinstance(self.frame_length, int)
                and self.frame_length > 0
                and self.frame_length % self.stride == 0,
                "frame_length",
                self.frame_length,
                f"a positive multiple of 2**levels = {self.stride}",
            )
        else:
            _check(self.sample_rate is None, "sample_rate", self.sample_rate, "None for images")
            _check(self.frame_length is None, "frame_length", self.frame_length, "None for images")

    @property
    def ndim(self) -> int:
        """Spatial dimensions of the signal: 2 for images, 1 for audio."""
        return 2 if self.modality == "image" else 1

    @property
    def stride(self) -> int:
        """Samples per latent position along each axis (``2**levels``)."""
        return 1 << self.levels

    @property
    def bands(self) -> int:
        """Wavelet packet channels: ``channels * 2**(ndim * levels)``."""
        return self.channels << (self.ndim * self.levels)

    @property
    def dimensionality_reduction(self) -> float:
        """How many signal values one latent value stands for."""
        return self.bands / self.latent_dim

    def padding(self, size: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        """Samples added ``(before, after)`` on each axis of a signal of ``size`` before coding.

        Our codecs pad the end of each axis to a multiple of the stride. The reference
        architecture pads as the authors' pipeline does: images on both sides (the odd sample
        after), audio at the end to a multiple of ``REFERENCE_AUDIO_BLOCK`` samples.
        """
        if self.architecture == "reference" and self.modality == "audio":
            return ((0, -size[0] % REFERENCE_AUDIO_BLOCK),)
        pads = [-n % self.stride for n in size]
        if self.architecture == "reference":
            return tuple((p // 2, p - p // 2) for p in pads)
        return tuple((0, p) for p in pads)

    def latent_size(self, size: tuple[int, ...]) -> tuple[int, ...]:
        """Latent positions on each axis for a signal of ``size``: the padded size over the
        stride, plus one position at each end for reference audio (the authors' 1-tap
        projection has padding 1)."""
        grid = tuple((n + sum(pad)) // self.stride for n, pad in zip(size, self.padding(size)))
        if self.architecture == "reference" and self.modality == "audio":
            return (grid[0] + 2,)
        return grid

    def signal_size(self, grid: tuple[int, ...]) -> tuple[int, ...]:
        """The padded signal size a latent of ``grid`` positions decodes to (``latent_size``'s
        inverse, for a latent that comes without its signal's size)."""
        if self.architecture == "reference" and self.modality == "audio":
            grid = (grid[0] - 2,)
        return tuple(n * self.stride for n in grid)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict with sorted keys; ``from_dict`` inverts it exactly."""
        return dict(sorted(dataclasses.asdict(self).items()))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=4, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CodecConfig:
        """Build a config from a mapping; unknown keys and bad values raise ConfigError."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a codec config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown codec config keys {unknown}; known keys: {sorted(known)}")
        try:
            return cls(**data)
        except TypeError as exc:  # a required key is missing
            raise ConfigError(f"incomplete codec config: {exc}") from None


@dataclass(frozen=True)
class TrainOptions:
    """How to train (the config says what). Steps count optimiser updates.

    ``crop`` is in pixels for images and in latent frames (``2**levels`` samples each) for
    audio; ``pool`` is how many random crops have their bands computed before training.
    ``amp`` is bfloat16 autocast, on the CPU (fast where it has AMX or AVX-512 BF16) or CUDA.
    """

    steps: int = 3000
    batch: int = 32
    crop: int = 192
    pool: int = 6000
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.0
    seed: int = 0
    validate_every: int = 250
    checkpoint_every: int = 250
    linear_lr_ratio: float = 0.01
    amp: bool = False


def _check(ok: bool, name: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"codec config {name}={value!r} is invalid; expected {allowed}")
